// Usage records end to end: known traffic through the real gateway in front of the mock, whose
// own count of the usage it answered is the reference. In memory; in Redis shared by two
// replicas; flushed at the drain; seen by a key (its owner only), by the admin API and the CLI.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>

using namespace deepgate::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string admin_token = "usage-admin-token-canary-83172";
constexpr const char* key_a1 = "dg-usage-team-a-key-one-000000001";
constexpr const char* key_a2 = "dg-usage-team-a-key-two-000000002";
constexpr const char* key_b = "dg-usage-team-b-key-000000000003";

headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

// USD per 1M tokens: a token costs 1000, 2000 or 4000 nano-USD.
constexpr const char* prices =
    "prices:\n  deepseek-flash: {input_cache_hit: 1, input_cache_miss: 2, output: 4}\n"
    "  deepseek-v4-pro: {input_cache_hit: 1, input_cache_miss: 2, output: 4}\n";

std::string sections(const std::string& more) {
  return auth_yaml_with({{"a1", "team-a", key_a1, "limits: funded"},
                         {"a2", "team-a", key_a2, "limits: funded"},
                         {"b1", "team-b", key_b, "limits: tight"}}) +
         "admin:\n  port: 0\n  token: " + admin_token + "\n" +
         "limits:\n  default: {requests_per_minute: 1000}\n  profiles:\n"
         "    funded: {requests_per_minute: 1000, daily_budget_usd: 50, monthly_budget_usd: 500}\n"
         "    tight: {requests_per_minute: 3, request_burst: 3, concurrent_requests: 2}\n" +
         prices + "cache:\n  policy: deterministic\n" + more;
}

json get_json(std::uint16_t port, const std::string& path, const headers& h) {
  auto r = http_call(port, "GET", path, {}, h);
  EXPECT_EQ(r.status, 200) << path << ": " << r.body;
  return json::parse(r.body, nullptr, false);
}

json self_usage(std::uint16_t port, const std::string& key, const std::string& query = "") {
  return get_json(port, "/v1/usage" + query, bearer(key));
}

json admin_usage(std::uint16_t admin_port, const std::string& query) {
  return get_json(admin_port, "/admin/usage" + query, bearer(admin_token));
}

int chat(std::uint16_t port, const std::string& key, const std::string& body) {
  return post_json(port, "/v1/chat/completions", body, bearer(key)).status;
}

std::string with(const std::string& content, const std::string& extra, bool stream = false,
                 const std::string& model = "deepseek-chat") {
  return chat_body(content, stream, model, extra);
}

// The traffic of team-a: what its usage must add up to. Returns the requests sent.
int team_a_traffic(const std::vector<std::uint16_t>& ports) {
  int sent = 0;
  auto port = [&] { return ports[static_cast<std::size_t>(sent) % ports.size()]; };
  auto expect = [&](int status, int want) {
    EXPECT_EQ(status, want);
    ++sent;
  };
  for (int i = 0; i < 3; ++i)
    expect(chat(port(), i % 2 ? key_a2 : key_a1, with("plain " + std::to_string(i), R"({"temperature":0.7})")), 200);
  expect(chat(port(), key_a1, with("streamed with usage", R"({"stream_options":{"include_usage":true}})", true)), 200);
  expect(chat(port(), key_a2, with("streamed without usage", "{}", true)), 200);
  expect(chat(port(), key_a1, with("thinking hard", "{}", false, "deepseek-reasoner")), 200);
  // A long prompt: the backend's own prompt cache reports hit tokens for it.
  std::string longer;
  for (int i = 0; i < 200; ++i) longer += "a shared system prefix ";
  expect(chat(port(), key_a2, with(longer, R"({"temperature":0.7})")), 200);
  // The same deterministic prompt twice: the second is the gateway cache's, no backend usage.
  expect(chat(ports[0], key_a1, with("cache me", R"({"temperature":0})")), 200);
  expect(chat(ports[0], key_a1, with("cache me", R"({"temperature":0})")), 200);
  // Errors: one the gateway refuses (bad body), one the backend refuses.
  expect(post_json(port(), "/v1/chat/completions", R"({"model":"deepseek-chat"})", bearer(key_a2)).status, 400);
  expect(chat(port(), key_a2, with("refused upstream [mock status=400]", R"({"temperature":0.7})")), 400);
  return sent;
}

void expect_tokens_equal(const json& totals, const json& mock_usage) {
  for (auto name : {"prompt_tokens", "completion_tokens", "reasoning_tokens", "cache_hit_tokens", "cache_miss_tokens"})
    EXPECT_EQ(totals[name], mock_usage[name]) << name << "\ngateway: " << totals.dump() << "\nmock: " << mock_usage.dump();
  const auto spend = mock_usage["cache_hit_tokens"].get<long long>() * 1000 +
                     mock_usage["cache_miss_tokens"].get<long long>() * 2000 +
                     mock_usage["completion_tokens"].get<long long>() * 4000;
  EXPECT_EQ(totals["spend_nano_usd"].get<long long>(), spend);
}

}  // namespace

TEST(usage, memory_records_equal_the_backends_usage_per_owner_and_per_key) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "", sections("")));
  http_call(mock->port, "POST", "/mock/reset");
  const int sent = team_a_traffic({gw->port});
  const auto mock_usage = mock->stats()["usage"];
  ASSERT_GT(mock_usage["prompt_tokens"].get<int>(), 0);
  ASSERT_GT(mock_usage["reasoning_tokens"].get<int>(), 0);
  ASSERT_GT(mock_usage["cache_hit_tokens"].get<int>(), 0);

  // A request's record is written when it ends, just after its answer went out: awaited.
  json a;
  ASSERT_TRUE(eventually([&] { return (a = self_usage(gw->port, key_a1, "?days=3"))["usage"]["totals"]["requests"] == sent; }))
      << a.dump();
  EXPECT_EQ(a["owner"], "team-a");
  EXPECT_EQ(a["key_id"], "a1");
  EXPECT_EQ(a["store"], "memory");
  const auto& t = a["usage"]["totals"];
  EXPECT_EQ(t["requests"], sent);
  EXPECT_EQ(t["cache_hits"], 1);
  EXPECT_EQ(t["errors"], 2);
  EXPECT_EQ(t["estimated_requests"], 0);
  expect_tokens_equal(t, mock_usage);
  ASSERT_EQ(a["usage"]["days"].size(), 1u);
  EXPECT_EQ(a["usage"]["days"][0]["date"], a["usage"]["to"]);
  // Per key: a1 and a2 add up to the owner's totals.
  ASSERT_EQ(a["usage"]["keys"].size(), 2u);
  EXPECT_EQ(a["usage"]["keys"][0]["key_id"], "a1");
  EXPECT_EQ(a["usage"]["keys"][0]["requests"].get<int>() + a["usage"]["keys"][1]["requests"].get<int>(), sent);
  EXPECT_EQ(a["usage"]["keys"][0]["cache_hits"], 1);
  // Limits and budget: configured, remaining now, and the spend against the budget.
  const auto& bucket = a["limits"]["buckets"][0];
  EXPECT_EQ(a["limits"]["state"], "shared");
  EXPECT_EQ(bucket["requests_per_minute"]["limit"], 1000);
  EXPECT_GT(bucket["requests_per_minute"]["remaining"].get<int>(), 900);
  EXPECT_TRUE(bucket["tokens_per_minute"].is_null());
  EXPECT_DOUBLE_EQ(a["budget"]["daily"]["limit_usd"].get<double>(), 50.0);
  const double spent = t["spend_nano_usd"].get<double>() / 1e9;
  EXPECT_NEAR(a["budget"]["daily"]["spent_usd"].get<double>(), spent, 1e-9);
  EXPECT_NEAR(a["budget"]["daily"]["remaining_usd"].get<double>(), 50.0 - spent, 1e-9);
  EXPECT_NEAR(a["budget"]["monthly"]["spent_usd"].get<double>(), spent, 1e-9);

  // team-b: refusals by kind and an estimated stream, and never team-a's numbers.
  for (int i = 0; i < 4; ++i) chat(gw->port, key_b, with("b " + std::to_string(i), R"({"temperature":0.7})"));
  json b;  // owner= is not honoured
  ASSERT_TRUE(eventually([&] { return (b = self_usage(gw->port, key_b, "?owner=team-a&days=1"))["usage"]["totals"]["requests"] == 4; }))
      << b.dump();
  EXPECT_EQ(b["owner"], "team-b");
  EXPECT_EQ(b["usage"]["totals"]["requests"], 4);
  EXPECT_EQ(b["usage"]["totals"]["refused_requests"], 1);
  EXPECT_EQ(b["usage"]["totals"]["errors"], 0);
  EXPECT_EQ(b["limits"]["buckets"][0]["requests_per_minute"]["remaining"], 0);
  EXPECT_EQ(b["limits"]["buckets"][0]["concurrent_requests"]["limit"], 2);
  EXPECT_TRUE(b["budget"]["daily"]["limit_usd"].is_null());
  EXPECT_EQ(b.dump().find("a1"), std::string::npos) << b.dump();

  // Bad input, in OpenAI's shape; no key at all.
  auto bad = http_call(gw->port, "GET", "/v1/usage?days=0", {}, bearer(key_a1));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["param"], "days");
  EXPECT_EQ(http_call(gw->port, "GET", "/v1/usage", {}, {{"Authorization", "Bearer dg-wrong"}}).status, 401);
  EXPECT_EQ(http_call(gw->port, "POST", "/v1/usage", "{}", bearer(key_a1)).status, 405);

  // The admin API: the token, every owner, one owner, one key, and bad ranges.
  EXPECT_EQ(http_call(gw->admin_port, "GET", "/admin/usage").status, 401);
  EXPECT_EQ(http_call(gw->admin_port, "GET", "/admin/usage", {}, bearer(key_a1)).status, 401);
  auto all = admin_usage(gw->admin_port, "");
  ASSERT_EQ(all["owners"].size(), 2u);
  EXPECT_EQ(all["owners"][0]["owner"], "team-a");
  EXPECT_EQ(all["owners"][1]["owner"], "team-b");
  EXPECT_EQ(all["totals"]["requests"], sent + 4);
  const auto today = a["usage"]["to"].get<std::string>();
  auto one = admin_usage(gw->admin_port, "?owner=team-a&from=" + today + "&to=" + today);
  ASSERT_EQ(one["owners"].size(), 1u);
  EXPECT_EQ(one["owners"][0]["totals"], a["usage"]["totals"]);
  auto key = admin_usage(gw->admin_port, "?owner=team-a&key=a2");
  EXPECT_EQ(key["totals"]["requests"], a["usage"]["keys"][1]["requests"]);
  EXPECT_EQ(http_call(gw->admin_port, "GET", "/admin/usage?from=2026-02-30", {}, bearer(admin_token)).status, 400);
  EXPECT_EQ(http_call(gw->admin_port, "GET", "/admin/usage?from=2020-01-01&to=2026-01-01", {}, bearer(admin_token)).status, 400);
  EXPECT_EQ(admin_usage(gw->admin_port, "?to=2001-01-01")["owners"].size(), 0u);

  // The CLI: a table a person reads, and the API's JSON.
  const std::string cli = std::string(gateway_bin()) + " usage --admin http://127.0.0.1:" + std::to_string(gw->admin_port);
  auto table = capture(cli + " --token " + admin_token + " --owner team-a 2>&1");
  EXPECT_NE(table.find("OWNER"), std::string::npos) << table;
  EXPECT_NE(table.find("team-a"), std::string::npos) << table;
  EXPECT_NE(table.find("a2"), std::string::npos) << table;
  EXPECT_NE(table.find(today), std::string::npos) << table;
  EXPECT_NE(table.find(" " + std::to_string(sent) + " "), std::string::npos) << table;
  auto as_json = json::parse(capture("DEEPGATE_ADMIN_TOKEN=" + admin_token + " " + cli + " --json"), nullptr, false);
  ASSERT_TRUE(as_json.is_object());
  EXPECT_EQ(as_json["totals"], all["totals"]);
  auto refused = capture(cli + " --token wrong-token-0000000 2>&1; echo exit=$?");
  EXPECT_NE(refused.find("HTTP 401"), std::string::npos) << refused;
  EXPECT_NE(refused.find("exit=1"), std::string::npos) << refused;
  EXPECT_EQ(gw->process->log().find(admin_token), std::string::npos);
}

TEST(usage, a_client_that_leaves_mid_stream_is_recorded_as_estimated) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "", sections("")));
  http_connection c(gw->port);
  int seen = 0;
  c.request("POST", "/v1/chat/completions", with("slow [mock tps=20 tokens=200]", "{}", true),
            {{"Authorization", std::string("Bearer ") + key_a1}, {"Content-Type", "application/json"}},
            [&](std::string_view) { return ++seen < 3; });
  c.close();
  json a;
  ASSERT_TRUE(eventually([&] { return (a = self_usage(gw->port, key_a1, "?days=1"))["usage"]["totals"]["requests"] == 1; }))
      << a.dump();
  EXPECT_EQ(a["usage"]["totals"]["estimated_requests"], 1);
  EXPECT_GT(a["usage"]["totals"]["prompt_tokens"].get<int>(), 0);
}

TEST(usage, two_replicas_sharing_redis_report_the_same_totals) {
  auto redis = redis_server::start();
  auto mock = mock_server::start();
  const auto more = "redis:\n  url: redis://127.0.0.1:" + std::to_string(redis->port) +
                    "\n  command_timeout: 500ms\nusage:\n  flush_interval: 50ms\n  retention: 3d\n";
  auto yaml = gateway_yaml(mock->port, "", "", sections(more));
  yaml.replace(yaml.find("limits:\n"), 8, "limits:\n  store: redis\n  replicas: 2\n");
  auto gw1 = gateway_server::start(yaml);
  auto gw2 = gateway_server::start(yaml);
  http_call(mock->port, "POST", "/mock/reset");
  const int sent = team_a_traffic({gw1->port, gw2->port});
  const auto mock_usage = mock->stats()["usage"];
  auto done = [&](const json& j) { return j.is_object() && j["usage"]["totals"]["requests"] == sent; };
  json one, two;
  ASSERT_TRUE(eventually([&] { return done(one = self_usage(gw1->port, key_a1)); })) << one.dump();
  ASSERT_TRUE(eventually([&] { return done(two = self_usage(gw2->port, key_a2)); })) << two.dump();
  EXPECT_EQ(one["store"], "redis");
  EXPECT_EQ(one["usage"]["totals"], two["usage"]["totals"]);
  EXPECT_EQ(one["usage"]["totals"]["cache_hits"], 1);
  expect_tokens_equal(one["usage"]["totals"], mock_usage);
  // The budget's spend is the limits' own count in Redis: the same on both replicas.
  EXPECT_EQ(one["budget"], two["budget"]);
  EXPECT_NEAR(one["budget"]["daily"]["spent_usd"].get<double>(),
              one["usage"]["totals"]["spend_nano_usd"].get<double>() / 1e9, 1e-9);
  // Kept with a TTL (retention + a day), and no key value or admin token in Redis.
  const auto today = one["usage"]["to"].get<std::string>();
  auto pttl = std::stoll(redis->cli("PTTL 'deepgate:usage:{team-a}:d:" + today + "'"));
  EXPECT_GT(pttl, 3LL * 86'400'000);
  EXPECT_LE(pttl, 4LL * 86'400'000);
  auto dump = redis->cli("--scan") + redis->cli("HGETALL 'deepgate:usage:{team-a}:d:" + today + "'");
  for (auto secret : {key_a1, key_a2, key_b}) EXPECT_EQ(dump.find(secret), std::string::npos);
  EXPECT_EQ(dump.find(admin_token), std::string::npos);
  // The admin API of either replica lists the same.
  EXPECT_EQ(admin_usage(gw1->admin_port, "?owner=team-a")["totals"], admin_usage(gw2->admin_port, "?owner=team-a")["totals"]);
}

TEST(usage, the_drain_writes_what_is_still_batched) {
  auto redis = redis_server::start();
  auto mock = mock_server::start();
  // A flush interval far longer than the test: only the drain can write these records.
  const auto more = "redis:\n  url: redis://127.0.0.1:" + std::to_string(redis->port) + "\nusage:\n  flush_interval: 1m\n";
  auto yaml = gateway_yaml(mock->port, "  drain_delay: 0s\n", "", sections(more));
  yaml.replace(yaml.find("limits:\n"), 8, "limits:\n  store: redis\n");
  auto gw = gateway_server::start(yaml);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(chat(gw->port, key_b, with("b " + std::to_string(i), R"({"temperature":0.7})")), i < 3 ? 200 : 429);
  const auto today = self_usage(gw->port, key_b, "?days=1")["usage"]["to"].get<std::string>();
  EXPECT_EQ(redis->cli("HGET 'deepgate:usage:{team-b}:d:" + today + "' requests").substr(0, 1), "\n");
  gw.reset();  // SIGTERM: drain, flush, exit 0
  EXPECT_EQ(std::stoi(redis->cli("HGET 'deepgate:usage:{team-b}:d:" + today + "' requests")), 5);
  EXPECT_EQ(std::stoi(redis->cli("HGET 'deepgate:usage:{team-b}:d:" + today + "' refused_requests")), 2);
  EXPECT_EQ(std::stoi(redis->cli("HGET 'deepgate:usage:{team-b}:d:" + today + "' key:b1:requests")), 5);
  EXPECT_NE(redis->cli("SMEMBERS deepgate:usage:owners:" + today).find("team-b"), std::string::npos);
}
