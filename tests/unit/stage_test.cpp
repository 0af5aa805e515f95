// In-process tests of a chat request's stages (docs/architecture.md, the journey): the request
// context's authenticate, parse and route, and the settlement with a real in-memory limiter,
// over a real config snapshot and a fake response writer. No process, no socket.
#include "deepgate/api/cache_stage.hpp"
#include "deepgate/api/chat_completions.hpp"
#include "deepgate/api/request_context.hpp"
#include "deepgate/api/router.hpp"
#include "deepgate/api/settlement.hpp"
#include "deepgate/auth/key_loader.hpp"
#include "deepgate/core/strings.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/observability/labels.hpp"

#include "fake_writer.hpp"
#include "mock_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>

namespace asio = boost::asio;
using namespace deepgate;

namespace {

constexpr const char* key = "dg-stage-test-key-0123456789abcdefghijklmnopq";

std::string yaml(const std::string& extra = {}) {
  return std::string("server: {host: 127.0.0.1, port: 0, workers: 1}\n"
                     "backends: [{name: mock, url: 'http://127.0.0.1:9'}]\n"
                     "models:\n"
                     "  - {name: deepseek-flash, backend: mock}\n"
                     "  - {name: deepseek-chat, backend: mock, upstream_model: deepseek-flash, set: {thinking: {type: disabled}}}\n"
                     "  - {name: deepseek-v4-pro, backend: mock}\n"
                     "auth:\n  keys:\n    - {id: stage, owner: team-a, key: ") +
         key + ", models: ['deepseek-flash', 'deepseek-chat']}\n" + extra;
}

// What the handler has: services over one worker, the snapshot published.
struct stage_env {
  asio::io_context ioc;
  api::gateway_services services;
  std::shared_ptr<const config::gateway_config> cfg;
  std::unique_ptr<observability::label_table> labels;

  explicit stage_env(const std::string& text) {
    auto r = config::load_string(text, [](std::string_view) { return std::optional<std::string>(); }, "stage");
    if (!r.config) throw std::runtime_error(r.error);
    cfg = r.config;
    std::vector<asio::any_io_executor> workers{ioc.get_executor()};
    labels = std::make_unique<observability::label_table>(cfg->models.size(), cfg->backends.size());
    services.snapshots.bind(workers);
    auto snap = api::build_snapshot(cfg, nullptr, workers, *labels);
    if (!snap.snap) throw std::runtime_error(snap.error);
    services.snapshots.publish(snap.snap, false);
    std::string error;
    services.auth = std::make_unique<auth::authenticator>(true, auth::load_key_table(cfg->auth, error));
    services.limits = std::make_unique<limits::limiter>(cfg, workers);
  }
  ~stage_env() { services.limits->shutdown(); }

  template <class T>
  T run(asio::awaitable<T> a) {
    auto f = asio::co_spawn(ioc, std::move(a), asio::use_future);
    ioc.restart();
    // Until the handler is done, then whatever is ready; not until the loop runs dry: a pooled
    // backend connection's deadline watch keeps its timer set for up to its read_timeout.
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      if (ioc.run_one() == 0) break;  // nothing left to run: f.get() reports what became of it
    ioc.poll();
    return f.get();
  }
};

http::request chat(const std::string& body, const std::string& bearer = key) {
  http::request r;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.body = body;
  if (!bearer.empty()) r.headers.push_back({"authorization", "Bearer " + bearer});
  return r;
}

}  // namespace

// A reload or a refreshed model list builds a new snapshot; a model whose targets did not change
// goes on with its rotation where it was (it restarted at the first target before, so a snapshot
// swap sent one request too many to it), and a changed one starts afresh.
TEST(snapshot, an_unchanged_models_rotation_survives_a_new_snapshot) {
  const auto load = [](const std::string& weight_b) {
    auto r = config::load_string("server: {host: 127.0.0.1, port: 0, workers: 1}\n"
                                 "backends: [{name: a, url: 'http://127.0.0.1:9'}, {name: b, url: 'http://127.0.0.1:9'}]\n"
                                 "models:\n"
                                 "  - {name: kept, backends: [{backend: a, weight: 1}, {backend: b, weight: 1}]}\n"
                                 "  - {name: changed, backends: [{backend: a, weight: 1}, {backend: b, weight: " + weight_b + "}]}\n",
                                 [](std::string_view) { return std::optional<std::string>(); }, "snapshot");
    if (!r.config) throw std::runtime_error(r.error);
    return r.config;
  };
  asio::io_context ioc;
  std::vector<asio::any_io_executor> workers{ioc.get_executor()};
  observability::label_table labels(2, 2);
  const auto first = api::build_snapshot(load("1"), nullptr, workers, labels).snap;
  ASSERT_TRUE(first);
  const std::vector<std::uint32_t> even{1, 1};
  const std::vector<char> both{1, 1};
  EXPECT_EQ(first->balancers[0][0]->pick(even, both), 0);
  EXPECT_EQ(first->balancers[0][1]->pick(even, both), 0);
  const auto second = api::build_snapshot(load("2"), first.get(), workers, labels).snap;
  ASSERT_TRUE(second);
  EXPECT_EQ(second->balancers[0][0], first->balancers[0][0]);
  EXPECT_EQ(second->balancers[0][0]->pick(even, both), 1);  // the rotation goes on
  EXPECT_NE(second->balancers[0][1], first->balancers[0][1]);
  const std::vector<std::uint32_t> one_two{1, 2};
  EXPECT_EQ(second->balancers[0][1]->pick(one_two, both), 1);  // afresh: the heavier target first
}

TEST(request_context, authenticate_parse_and_route_fill_the_context_in_order) {
  stage_env env(yaml());
  test::fake_writer out;
  observability::request_record rec;
  auto req = chat(R"({"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  api::request_context ctx(env.services, req, out, rec);
  ASSERT_FALSE(ctx.authenticate());
  EXPECT_EQ(rec.owner, "team-a");
  EXPECT_EQ(rec.key_id, "stage");
  ASSERT_FALSE(ctx.parse());
  EXPECT_TRUE(rec.stream);
  ASSERT_FALSE(ctx.route());
  ASSERT_NE(ctx.model, nullptr);
  EXPECT_EQ(ctx.model->upstream_model, "deepseek-flash");
  EXPECT_EQ(ctx.primary->name, "mock");
  EXPECT_GE(rec.model, 0);
  // The alias's fields are applied, and a stream asks for usage the client did not.
  EXPECT_TRUE(ctx.strip_usage);
  auto sent = nlohmann::json::parse(ctx.chat->upstream_body("deepseek-flash", true, {}));
  EXPECT_EQ(sent["thinking"]["type"], "disabled");
  EXPECT_EQ(sent["stream_options"]["include_usage"], true);
}

// A request with a body is authenticated on its head (before its body is read); the handler uses
// that answer rather than hashing the key again, unless the key table was replaced or the key
// expired while the body came in.
TEST(request_context, the_head_checks_authentication_is_used_unless_the_keys_changed_since) {
  stage_env env(yaml());
  test::fake_writer out;
  auto check = api::make_head_check(env.services);
  auto req = chat(R"({"model":"deepseek-flash","messages":[{"role":"user","content":"hi"}]})");
  req.headers.push_back({"content-length", std::to_string(req.body.size())});
  ASSERT_FALSE(check(req));
  ASSERT_TRUE(req.head_state);
  req.headers.erase(req.headers.begin());  // the key's header: the handler does not read it again
  {
    observability::request_record rec;
    api::request_context ctx(env.services, req, out, rec);
    ASSERT_FALSE(ctx.authenticate());
    EXPECT_EQ(rec.owner, "team-a");
    EXPECT_EQ(rec.key_id, "stage");
  }
  // A key table replaced since the head was read (a revocation, a reload): authenticated again
  // (here: no key header, refused).
  {
    auto again = chat(R"({"model":"deepseek-flash","messages":[{"role":"user","content":"hi"}]})");
    again.headers.push_back({"content-length", std::to_string(again.body.size())});
    ASSERT_FALSE(check(again));
    again.headers.erase(again.headers.begin());
    env.services.auth->replace(std::make_shared<const auth::key_table>(*env.services.auth->table()));
    observability::request_record rec;
    api::request_context ctx(env.services, again, out, rec);
    const auto e = ctx.authenticate();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, 401u);
  }
  // A key that expired since the head was read: authenticated again (here: no key, refused).
  auth::client_key expired{.id = "gone", .owner = "team-b"};
  expired.expires = core::unix_seconds() - 1;
  auth::authenticator::result earlier;
  earlier.who = auth::identity{expired.id, expired.owner, &expired};
  earlier.table = env.services.auth->table();  // the current table: only the expiry differs
  req.head_state = std::make_shared<const auth::authenticator::result>(earlier);
  observability::request_record rec;
  api::request_context ctx(env.services, req, out, rec);
  const auto e = ctx.authenticate();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 401u);
  EXPECT_NE(rec.owner, "team-b");
}

TEST(request_context, each_stage_refuses_in_the_openai_shape) {
  stage_env env(yaml());
  test::fake_writer out;
  struct refusal {
    std::string bearer, body;
    unsigned status;
    std::string code;
  };
  for (const auto& c : std::vector<refusal>{
           {"", R"({"model":"deepseek-flash","messages":[{"role":"user","content":"x"}]})", 401, "invalid_api_key"},
           {"dg-wrong", R"({"model":"deepseek-flash","messages":[{"role":"user","content":"x"}]})", 401, "invalid_api_key"},
           {key, R"({"model":"deepseek-flash"})", 400, "invalid_request_error"},
           {key, R"({"model":"nope","messages":[{"role":"user","content":"x"}]})", 404, "model_not_found"},
           // Served, but not to this key: the same answer as a model nobody serves.
           {key, R"({"model":"deepseek-v4-pro","messages":[{"role":"user","content":"x"}]})", 404, "model_not_found"}}) {
    observability::request_record rec;
    auto req = chat(c.body, c.bearer);
    api::request_context ctx(env.services, req, out, rec);
    std::optional<http::api_error> e = ctx.authenticate();
    if (!e) e = ctx.parse();
    if (!e) e = ctx.route();
    ASSERT_TRUE(e) << c.body;
    EXPECT_EQ(e->status, c.status) << c.body;
    if (c.code != "invalid_request_error") {
      EXPECT_EQ(e->code, c.code) << c.body;
    }
  }
}

// Whatever the paths say, and however often, the limits are settled once: the first word wins.
TEST(settlement, the_first_word_wins_and_the_ticket_is_settled_once) {
  // 6000 tokens a minute refill 100 a second: the margin below is 200 ms of refill between probes.
  stage_env env(yaml("limits:\n  default: {tokens_per_minute: 6000}\n"
                     "prices:\n  deepseek-flash: {input_cache_hit: 0, input_cache_miss: 1000, output: 2000}\n"));
  auto remaining_after = [&](auto&& use) {
    test::fake_writer out;
    observability::request_record rec;
    rec.time = std::chrono::system_clock::now();
    auto req = chat(R"({"model":"deepseek-flash","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})");
    api::request_context ctx(env.services, req, out, rec);
    EXPECT_FALSE(ctx.authenticate() || ctx.parse() || ctx.route());
    api::cache_stage nothing;
    {
      api::settlement settle(rec, ctx.config);
      auto refused = env.run(api::admit(ctx, nothing, std::nullopt, settle));
      EXPECT_FALSE(refused);
      use(settle, rec);
    }
    // The next request's view of the bucket: what this one left.
    test::fake_writer probe_out;
    observability::request_record probe_rec;
    auto probe = chat(R"({"model":"deepseek-flash","max_tokens":1,"messages":[{"role":"user","content":"p"}]})");
    api::request_context probe_ctx(env.services, probe, probe_out, probe_rec);
    EXPECT_FALSE(probe_ctx.authenticate() || probe_ctx.parse() || probe_ctx.route());
    api::settlement probe_settle(probe_rec, probe_ctx.config);
    EXPECT_FALSE(env.run(api::admit(probe_ctx, nothing, std::nullopt, probe_settle)));
    probe_settle.refund();
    return std::stoll(probe_out.header("x-ratelimit-remaining-tokens"));
  };
  limits::usage u;
  u.prompt = u.cache_miss = 100;
  u.completion = 50;
  const auto before = remaining_after([](api::settlement& s, auto&) { s.refund(); });
  const auto after = remaining_after([&](api::settlement& s, observability::request_record& rec) {
    s.used(u, "deepseek-flash");
    s.used(u, "deepseek-flash");  // said twice: counted once
    s.estimate(1000, 1000, "deepseek-flash");
    s.refund();
    s.close();
    s.close();
    EXPECT_TRUE(s.settled());
    ASSERT_TRUE(rec.usage && rec.cost_usd);
    EXPECT_EQ(rec.usage->total(), 150);
    EXPECT_FALSE(rec.usage->estimated);
    EXPECT_NEAR(*rec.cost_usd, (100 * 1000.0 + 50 * 2000.0) / 1e6, 1e-12);
    EXPECT_EQ(rec.price_tier, "standard");
  });
  // The bucket refills while the test runs: compare with a margin far below the 150 tokens used.
  EXPECT_NEAR(static_cast<double>(before - after), 150, 20);
}

TEST(settlement, an_estimate_is_flagged_and_a_refund_records_nothing) {
  stage_env env(yaml());
  observability::request_record rec;
  {
    api::settlement s(rec, *env.cfg);
    s.estimate(40, 7, "deepseek-flash");
    ASSERT_TRUE(rec.usage);
    EXPECT_TRUE(rec.usage->estimated);
    EXPECT_EQ(rec.usage->prompt, 40);
    EXPECT_EQ(rec.usage->cache_miss, 40);
    EXPECT_EQ(rec.usage->completion, 7);
    EXPECT_FALSE(rec.cost_usd);  // no price for it in this config
  }
  observability::request_record refunded;
  {
    api::settlement s(refunded, *env.cfg);
    s.refund();
    s.used(limits::usage{1, 1, 0, 0, 1, false}, "deepseek-flash");
  }
  EXPECT_FALSE(refunded.usage);
}

// ------------------------------------------------------------------ the relay and the handler

namespace {

// deepgate-mock's server on its own thread in this process, on a free loopback port.
struct in_process_mock {
  mock::mock_service service{mock::options{}};
  std::unique_ptr<http::server> server;
  in_process_mock() {
    config::server_config c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.workers = 1;
    server = std::make_unique<http::server>(c, service.handler());
    server->start();
  }
  ~in_process_mock() { server->stop(); }
  std::string yaml(const std::string& extra = {}) const {
    auto text = ::yaml(extra);
    auto at = text.find("127.0.0.1:9'");
    return text.replace(at, 12, "127.0.0.1:" + std::to_string(server->port()) + "'");
  }
};

struct answered {
  test::fake_writer out;
  observability::request_record rec;
};

answered handle(stage_env& env, const std::string& body) {
  answered a;
  a.rec.time = std::chrono::system_clock::now();
  auto req = chat(body);
  env.run(api::chat_completions(req, a.out, env.services, a.rec));
  return a;
}

std::vector<std::string> data_of(const std::string& sse) {
  std::vector<std::string> out;
  for (std::size_t at = 0; (at = sse.find("data: ", at)) != std::string::npos;) {
    auto end = sse.find("\n\n", at);
    out.push_back(sse.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

}  // namespace

TEST(relay, a_json_answer_is_relayed_and_its_usage_settled_with_its_cost) {
  in_process_mock mock;
  stage_env env(mock.yaml("prices:\n  deepseek-flash: {input_cache_hit: 1, input_cache_miss: 1, output: 1}\n"));
  auto a = handle(env, R"({"model":"deepseek-chat","messages":[{"role":"user","content":"hello [mock tokens=5]"}]})");
  EXPECT_EQ(a.out.status_code, 200u);
  EXPECT_FALSE(a.out.streamed);
  auto j = nlohmann::json::parse(a.out.body);
  EXPECT_EQ(j["model"], "deepseek-flash");
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_FALSE(j["choices"][0]["message"].contains("reasoning_content"));  // the alias turned thinking off
  ASSERT_TRUE(a.rec.usage);
  EXPECT_EQ(a.rec.usage->completion, 5);
  EXPECT_FALSE(a.rec.usage->estimated);
  ASSERT_TRUE(a.rec.cost_usd);
  EXPECT_NEAR(*a.rec.cost_usd, static_cast<double>(a.rec.usage->total()) / 1e6, 1e-12);
  EXPECT_GE(a.rec.upstream.count(), 0);
}

TEST(relay, a_stream_is_relayed_event_by_event_and_the_usage_chunk_only_when_asked) {
  in_process_mock mock;
  stage_env env(mock.yaml());
  for (bool asked : {false, true}) {
    auto a = handle(env, std::string(R"({"model":"deepseek-flash","stream":true,)") +
                             (asked ? R"("stream_options":{"include_usage":true},)" : "") +
                             R"("messages":[{"role":"user","content":"stream [mock tokens=4]"}]})");
    EXPECT_EQ(a.out.status_code, 200u);
    EXPECT_TRUE(a.out.streamed && a.out.ended);
    auto events = data_of(a.out.body);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]");
    int usage_chunks = 0, reasoning = 0;
    for (auto& e : events) {
      if (e == "[DONE]") continue;
      auto j = nlohmann::json::parse(e);
      if (j.contains("usage") && !j["usage"].is_null()) ++usage_chunks;
      if (!j["choices"].empty() && j["choices"][0]["delta"].contains("reasoning_content") &&
          j["choices"][0]["delta"]["reasoning_content"].is_string())
        ++reasoning;
    }
    EXPECT_EQ(usage_chunks, asked ? 1 : 0) << asked;  // asked by the gateway, then removed
    EXPECT_GT(reasoning, 0);                          // deepseek-flash thinks by default
    ASSERT_TRUE(a.rec.usage) << asked;
    EXPECT_FALSE(a.rec.usage->estimated);              // read from the chunk either way
    EXPECT_GT(a.rec.usage->reasoning, 0);
  }
}

TEST(relay, a_stream_cut_short_ends_with_one_error_event_and_an_estimate) {
  in_process_mock mock;
  stage_env env(mock.yaml());
  auto a = handle(env, R"({"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"cut [mock tokens=8 reset_after=3]"}]})");
  EXPECT_EQ(a.out.status_code, 200u);
  auto events = data_of(a.out.body);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back(), "[DONE]");
  EXPECT_NE(events.back().find("\"error\""), std::string::npos) << events.back();
  EXPECT_TRUE(a.out.aborted);
  ASSERT_TRUE(a.rec.usage);
  EXPECT_TRUE(a.rec.usage->estimated);
  EXPECT_GE(a.rec.usage->completion, 3);
  EXPECT_FALSE(a.rec.upstream_error.empty());
}

TEST(relay, a_backend_refusal_is_the_clients_error_and_nothing_is_charged) {
  in_process_mock mock;
  stage_env env(mock.yaml("limits:\n  default: {tokens_per_minute: 100000}\n"));
  auto a = handle(env, R"({"model":"deepseek-flash","messages":[{"role":"user","content":"no [mock status=422]"}]})");
  EXPECT_EQ(a.out.status_code, 422u);
  EXPECT_EQ(nlohmann::json::parse(a.out.body)["error"]["type"], "invalid_request_error");
  EXPECT_FALSE(a.rec.usage);
  // Refunded: the next request sees the whole bucket but for its own reservation.
  auto b = handle(env, R"({"model":"deepseek-flash","max_tokens":1,"messages":[{"role":"user","content":"ok [mock tokens=1]"}]})");
  EXPECT_EQ(b.out.status_code, 200u);
  EXPECT_GT(std::stoll(b.out.header("x-ratelimit-remaining-tokens")), 100000 - 50);
}
