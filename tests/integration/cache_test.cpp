// The prompt cache end to end: the real gateway in front of the mock, whose request counter
// proves what reached upstream. In memory (one shared gateway), then Redis shared by two
// gateways, a stopped Redis, and the memory budget under ten times its size of answers.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {

constexpr const char* other_key = "dg-other-owner-key-for-cache-0002";
constexpr const char* always_key = "dg-always-cached-key-for-cache-03";

std::string keys_yaml() {
  return auth_yaml_with({{"other", "others", other_key, ""}, {"always", "eager", always_key, ""}});
}

headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

// A deterministic request (temperature 0) with `content` as the user message.
std::string det(const std::string& content, bool stream = false, const std::string& model = "deepseek-chat",
                const std::string& extra = {}) {
  auto j = json::parse(chat_body(content, stream, model, extra));
  if (!j.contains("temperature")) j["temperature"] = 0;
  return j.dump();
}

http_response chat(std::uint16_t port, const std::string& body, headers extra = {}) {
  return post_json(port, "/v1/chat/completions", body, extra);
}

// What a stream or a JSON answer said, choice 0.
struct said {
  std::string content, reasoning, finish;
  json tool_calls = json::array();
  json usage;
  bool done = false;
};

said from_json(const std::string& body) {
  said s;
  auto j = json::parse(body);
  const auto& m = j["choices"][0]["message"];
  s.content = m.value("content", json("")).is_string() ? m["content"].get<std::string>() : "";
  if (m.contains("reasoning_content") && m["reasoning_content"].is_string())
    s.reasoning = m["reasoning_content"].get<std::string>();
  if (m.contains("tool_calls")) s.tool_calls = m["tool_calls"];
  s.finish = j["choices"][0]["finish_reason"].get<std::string>();
  s.usage = j["usage"];
  return s;
}

said from_stream(const std::string& body) {
  said s;
  for (auto& item : sse_items(body)) {
    if (item == "[DONE]") {
      s.done = true;
      continue;
    }
    if (item.starts_with(":")) continue;
    auto j = json::parse(item, nullptr, false);
    if (!j.is_object() || !j.contains("choices")) continue;  // an error event, or a malformed one
    if (j.contains("usage") && j["usage"].is_object()) s.usage = j["usage"];
    for (auto& c : j["choices"]) {
      const auto& d = c["delta"];
      if (d.contains("content") && d["content"].is_string()) s.content += d["content"].get<std::string>();
      if (d.contains("reasoning_content") && d["reasoning_content"].is_string())
        s.reasoning += d["reasoning_content"].get<std::string>();
      if (d.contains("tool_calls"))
        for (auto& tc : d["tool_calls"]) {
          auto i = tc["index"].get<std::size_t>();
          while (s.tool_calls.size() <= i) s.tool_calls.push_back({{"function", {{"name", ""}, {"arguments", ""}}}});
          auto& call = s.tool_calls[i];
          if (tc.contains("id")) call["id"] = tc["id"];
          if (tc.contains("type")) call["type"] = tc["type"];
          if (tc.contains("function")) {
            auto& f = tc["function"];
            if (f.contains("name")) call["function"]["name"] = call["function"]["name"].get<std::string>() + f["name"].get<std::string>();
            if (f.contains("arguments"))
              call["function"]["arguments"] =
                  call["function"]["arguments"].get<std::string>() + f["arguments"].get<std::string>();
          }
        }
      if (c.contains("finish_reason") && c["finish_reason"].is_string()) s.finish = c["finish_reason"].get<std::string>();
    }
  }
  return s;
}

}  // namespace

class cache_memory : public shared_gateway<cache_memory> {
 public:
  static std::vector<std::string> mock_args() { return {}; }
  static std::string config(std::uint16_t mock_port) {
    return gateway_yaml(mock_port, "", "", keys_yaml() +
                                               "cache:\n  ttl: 1h\n  owners:\n    eager: always\n"
                                               "  models:\n    deepseek-reasoner: deterministic\n");
  }
  std::uint64_t upstream() const { return mock_->chat_requests(); }
};

TEST_F(cache_memory, two_identical_requests_make_one_upstream_call) {
  const auto before = upstream();
  auto a = chat(gw_->port, det("identical twice"));
  auto b = chat(gw_->port, det("identical twice"));
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(upstream() - before, 1u);
  EXPECT_EQ(a.header("x-deepgate-cache"), "miss");
  EXPECT_EQ(b.header("x-deepgate-cache"), "hit");
  EXPECT_TRUE(a.header("age").empty());
  EXPECT_FALSE(b.header("age").empty());
  auto first = from_json(a.body), second = from_json(b.body);
  EXPECT_EQ(first.content, second.content);
  // The hit reports the original usage with every prompt token marked cached.
  EXPECT_EQ(second.usage["prompt_tokens"], first.usage["prompt_tokens"]);
  EXPECT_EQ(second.usage["completion_tokens"], first.usage["completion_tokens"]);
  EXPECT_EQ(second.usage["prompt_tokens_details"]["cached_tokens"], first.usage["prompt_tokens"]);
  EXPECT_EQ(second.usage["prompt_cache_hit_tokens"], first.usage["prompt_tokens"]);
  EXPECT_EQ(second.usage["prompt_cache_miss_tokens"], 0);
  // The access log and the metrics say what happened.
  EXPECT_TRUE(eventually([&] {
    auto lines = gw_->access_lines();
    return std::any_of(lines.begin(), lines.end(), [](auto& l) { return l["cache"] == "hit"; });
  }));
  EXPECT_GE(metric_value(gw_->metrics(), "deepgate_cache_lookups_total{result=\"hit\"}"), 1);
}

TEST_F(cache_memory, another_owner_does_not_get_the_answer) {
  const auto before = upstream();
  ASSERT_EQ(chat(gw_->port, det("owner scoped")).status, 200);
  auto other = chat(gw_->port, det("owner scoped"), bearer(other_key));
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.header("x-deepgate-cache"), "miss");
  EXPECT_EQ(upstream() - before, 2u);
  EXPECT_EQ(chat(gw_->port, det("owner scoped"), bearer(other_key)).header("x-deepgate-cache"), "hit");
  EXPECT_EQ(upstream() - before, 2u);
}

TEST_F(cache_memory, changing_any_generation_field_is_a_miss) {
  // As the owner whose policy is "always", so sampled temperatures are cached (and compared) too.
  const std::string prompt = "generation fields";
  const auto key = bearer(always_key);
  ASSERT_EQ(chat(gw_->port, det(prompt), key).status, 200);
  ASSERT_EQ(chat(gw_->port, det(prompt), key).header("x-deepgate-cache"), "hit");
  const std::vector<std::string> variants{
      R"({"max_tokens":5})", R"({"top_p":0.5})", R"({"stop":["x"]})", R"({"seed":7})", R"({"n":2})",
      R"({"frequency_penalty":0.5})", R"({"presence_penalty":0.5})", R"({"response_format":{"type":"json_object"}})",
      R"({"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"none"})",
      R"({"reasoning_effort":"high"})", R"({"temperature":0.0001})", R"({"temperature":1})",
      R"({"max_completion_tokens":9})", R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"generation fields"}]})"};
  for (auto& v : variants) {
    const auto before = upstream();
    auto r = chat(gw_->port, det(prompt, false, "deepseek-chat", v), key);
    ASSERT_EQ(r.status, 200) << v << ": " << r.body;
    EXPECT_EQ(r.header("x-deepgate-cache"), "miss") << v;
    EXPECT_EQ(upstream() - before, 1u) << v;
  }
  // The same upstream model with thinking on (deepseek-reasoner: deepseek-flash with thinking
  // enabled) is another answer too.
  EXPECT_EQ(chat(gw_->port, det(prompt, false, "deepseek-reasoner"), key).header("x-deepgate-cache"), "miss");
  // deepseek-chat fixes thinking off: a client's own thinking field is overridden, so the
  // forwarded request, and the answer, are the same.
  EXPECT_EQ(chat(gw_->port, det(prompt, false, "deepseek-chat", R"({"thinking":{"type":"enabled"}})"), key)
                .header("x-deepgate-cache"),
            "hit");
  // The key is made from the request as forwarded: deepseek-flash with thinking disabled is the
  // request deepseek-chat sends, with thinking enabled the one deepseek-reasoner sends, and with
  // no thinking field (the backend decides) another.
  EXPECT_EQ(chat(gw_->port, det(prompt, false, "deepseek-flash", R"({"thinking":{"type":"disabled"}})"), key)
                .header("x-deepgate-cache"),
            "hit");
  EXPECT_EQ(chat(gw_->port, det(prompt, false, "deepseek-flash", R"({"thinking":{"type":"enabled"}})"), key)
                .header("x-deepgate-cache"),
            "hit");
  EXPECT_EQ(chat(gw_->port, det(prompt, false, "deepseek-flash"), key).header("x-deepgate-cache"), "miss");
}

TEST_F(cache_memory, key_order_whitespace_numbers_aliases_and_output_neutral_fields_still_hit) {
  ASSERT_EQ(chat(gw_->port, det("canonical form")).header("x-deepgate-cache"), "miss");
  const auto before = upstream();
  for (const std::string& body : {
           std::string(R"({ "temperature" : 0.0 ,
                "messages" : [ { "content" : "canonical form", "role" : "user" } ], "model":"deepseek-chat" })"),
           std::string(R"({"messages":[{"role":"user","content":"canonical form"}],"model":"gpt-4o-mini","temperature":0})"),
           std::string(R"({"model":"deepseek-chat","temperature":-0.0,"user":"someone","messages":[{"role":"user","content":"canonical form"}]})")}) {
    auto r = chat(gw_->port, body);
    ASSERT_EQ(r.status, 200) << body << r.body;
    EXPECT_EQ(r.header("x-deepgate-cache"), "hit") << body;
  }
  EXPECT_EQ(upstream(), before);
}

TEST_F(cache_memory, a_streamed_miss_serves_a_json_hit_with_the_same_content_and_reasoning) {
  // Thinking-mode answers are not deterministic: cached only for the owner whose policy is "always".
  const auto key = bearer(always_key);
  const auto before = upstream();
  auto streamed = chat(gw_->port, det("stream first [mock tokens=9]", true, "deepseek-reasoner"), key);
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.header("x-deepgate-cache"), "miss");
  auto plain = chat(gw_->port, det("stream first [mock tokens=9]", false, "deepseek-reasoner"), key);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.header("x-deepgate-cache"), "hit");
  EXPECT_EQ(upstream() - before, 1u);
  auto s = from_stream(streamed.body), j = from_json(plain.body);
  EXPECT_TRUE(s.done);
  EXPECT_FALSE(s.content.empty());
  EXPECT_FALSE(s.reasoning.empty());
  EXPECT_EQ(j.content, s.content);
  EXPECT_EQ(j.reasoning, s.reasoning);
  EXPECT_EQ(j.finish, "stop");
  // The usage the gateway asked for behind the client's back is in the stored answer.
  EXPECT_EQ(j.usage["completion_tokens_details"]["reasoning_tokens"].get<int>(), 4);
  EXPECT_EQ(j.usage["prompt_tokens_details"]["cached_tokens"], j.usage["prompt_tokens"]);
}

TEST_F(cache_memory, a_json_miss_is_replayed_as_a_well_formed_stream) {
  const auto key = bearer(always_key);
  const auto before = upstream();
  auto plain = chat(gw_->port, det("json first [mock tokens=7]", false, "deepseek-reasoner"), key);
  ASSERT_EQ(plain.status, 200);
  auto streamed = chat(gw_->port, det("json first [mock tokens=7]", true, "deepseek-reasoner",
                                      R"({"stream_options":{"include_usage":true}})"),
                       key);
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.header("x-deepgate-cache"), "hit");
  EXPECT_EQ(streamed.header("content-type").rfind("text/event-stream", 0), 0u);
  EXPECT_TRUE(streamed.complete);
  EXPECT_EQ(upstream() - before, 1u);
  auto j = from_json(plain.body), s = from_stream(streamed.body);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.content, j.content);
  EXPECT_EQ(s.reasoning, j.reasoning);
  EXPECT_EQ(s.finish, "stop");
  ASSERT_TRUE(s.usage.is_object());  // asked for: the usage chunk before [DONE]
  EXPECT_EQ(s.usage["prompt_tokens_details"]["cached_tokens"], j.usage["prompt_tokens"]);
  // Not asked for: no usage chunk.
  auto quiet = from_stream(chat(gw_->port, det("json first [mock tokens=7]", true, "deepseek-reasoner"), key).body);
  EXPECT_TRUE(quiet.usage.is_null());
  EXPECT_EQ(quiet.content, j.content);
}

TEST_F(cache_memory, tool_calls_are_stored_and_replayed) {
  const std::string tools =
      R"({"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]})";
  const auto before = upstream();
  auto streamed = from_stream(chat(gw_->port, det("use a tool", true, "deepseek-chat", tools)).body);
  auto plain = chat(gw_->port, det("use a tool", false, "deepseek-chat", tools));
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.header("x-deepgate-cache"), "hit");
  auto replay = from_stream(chat(gw_->port, det("use a tool", true, "deepseek-chat", tools)).body);
  EXPECT_EQ(upstream() - before, 1u);
  auto j = from_json(plain.body);
  EXPECT_EQ(streamed.finish, "tool_calls");
  EXPECT_EQ(j.finish, "tool_calls");
  EXPECT_EQ(replay.finish, "tool_calls");
  ASSERT_EQ(j.tool_calls.size(), 1u);
  EXPECT_EQ(j.tool_calls[0]["function"]["name"], "lookup");
  EXPECT_EQ(j.tool_calls[0]["function"]["arguments"], streamed.tool_calls[0]["function"]["arguments"]);
  EXPECT_EQ(j.tool_calls[0]["id"], streamed.tool_calls[0]["id"]);
  ASSERT_EQ(replay.tool_calls.size(), 1u);
  EXPECT_EQ(replay.tool_calls[0]["function"]["arguments"], j.tool_calls[0]["function"]["arguments"]);
}

// Issue 16: DeepSeek's V4 and Ollama stream several tool calls at one index, each opening with
// its own id. The gateway's assembler keeps them apart: the answer it stores from the stream is
// the backend's own JSON answer to the same request, two calls with their own ids and arguments.
TEST_F(cache_memory, tool_calls_streamed_at_one_index_are_stored_as_separate_calls) {
  const std::string tools =
      R"({"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}},)"
      R"({"type":"function","function":{"name":"fetch","parameters":{"type":"object"}}}]})";
  const std::string prompt = "two tools at once [mock tool_calls=2 same_index=1]";
  const auto before = upstream();
  auto streamed = chat(gw_->port, det(prompt, true, "deepseek-chat", tools));
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.header("x-deepgate-cache"), "miss");
  std::set<int> indices;
  for (auto& item : sse_items(streamed.body)) {
    if (item == "[DONE]") continue;
    auto c = json::parse(item);
    if (!c["choices"].empty() && c["choices"][0]["delta"].contains("tool_calls"))
      for (auto& tc : c["choices"][0]["delta"]["tool_calls"]) indices.insert(tc["index"].get<int>());
  }
  EXPECT_EQ(indices, std::set<int>{0});  // the mock really sent both calls at index 0
  auto plain = chat(gw_->port, det(prompt, false, "deepseek-chat", tools));
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.header("x-deepgate-cache"), "hit");
  EXPECT_EQ(upstream() - before, 1u);
  // The backend's own JSON answer (deepseek-chat is deepseek-flash with thinking disabled).
  auto direct_body = json::parse(det(prompt, false, "deepseek-flash", tools));
  direct_body["thinking"] = {{"type", "disabled"}};
  auto direct = post_json(mock_->port, "/chat/completions", direct_body.dump());
  ASSERT_EQ(direct.status, 200) << direct.body;
  auto want = json::parse(direct.body)["choices"][0]["message"]["tool_calls"];
  auto got = json::parse(plain.body)["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(want.size(), 2u);
  ASSERT_EQ(got.size(), 2u) << plain.body;
  EXPECT_NE(got[0]["id"], got[1]["id"]);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i]["id"], want[i]["id"]) << i;
    EXPECT_EQ(got[i]["function"]["name"], want[i]["function"]["name"]) << i;
    EXPECT_EQ(got[i]["function"]["arguments"], want[i]["function"]["arguments"]) << i;
    EXPECT_TRUE(json::accept(got[i]["function"]["arguments"].get<std::string>())) << got[i];
  }
}

TEST_F(cache_memory, errors_and_broken_streams_are_not_cached) {
  for (const std::string prompt : {"fails [mock status=500]", "fails [mock status=429]"}) {
    const auto before = upstream();
    auto a = chat(gw_->port, det(prompt));
    auto b = chat(gw_->port, det(prompt));
    EXPECT_GE(a.status, 400);
    EXPECT_EQ(b.status, a.status);
    EXPECT_EQ(b.header("x-deepgate-cache"), "miss");
    EXPECT_EQ(upstream() - before, 2u) << prompt;
  }
  // A reset and a stream without [DONE] reach the client cut short; a malformed event is relayed
  // as it came. None of them is a complete answer.
  for (const std::string prompt : {"cut [mock reset_after=3]", "cut [mock no_done=1]", "cut [mock malformed_after=2]"}) {
    const auto before = upstream();
    auto a = chat(gw_->port, det(prompt, true));
    auto b = chat(gw_->port, det(prompt, true));
    if (prompt.find("malformed") == std::string::npos) {
      EXPECT_FALSE(from_stream(a.body).done) << prompt;
      EXPECT_FALSE(from_stream(b.body).done) << prompt;
    }
    EXPECT_EQ(b.header("x-deepgate-cache"), "miss") << prompt;
    EXPECT_EQ(upstream() - before, 2u) << prompt;
    // Nor does the JSON form of the same request find anything.
    EXPECT_EQ(chat(gw_->port, det(prompt)).header("x-deepgate-cache"), "miss") << prompt;
  }
}

TEST_F(cache_memory, policy_and_request_directives) {
  // Sampled requests (no temperature 0, no seed) bypass the deterministic policy...
  auto before = upstream();
  auto sampled = chat_body("sampled");
  EXPECT_EQ(chat(gw_->port, sampled).header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(chat(gw_->port, sampled).header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(upstream() - before, 2u);
  // ...unless the owner's policy is "always".
  EXPECT_EQ(chat(gw_->port, sampled, bearer(always_key)).header("x-deepgate-cache"), "miss");
  EXPECT_EQ(chat(gw_->port, sampled, bearer(always_key)).header("x-deepgate-cache"), "hit");
  // A seed is deterministic too; logprobs are not kept, so such requests bypass.
  EXPECT_EQ(chat(gw_->port, chat_body("seeded", false, "deepseek-chat", R"({"seed":3})")).header("x-deepgate-cache"), "miss");
  EXPECT_EQ(chat(gw_->port, chat_body("seeded", false, "deepseek-chat", R"({"seed":3})")).header("x-deepgate-cache"), "hit");
  EXPECT_EQ(chat(gw_->port, det("with logprobs", false, "deepseek-chat", R"({"logprobs":true})")).header("x-deepgate-cache"),
            "bypass");

  // no-store: neither looked up nor stored (the request goes upstream).
  before = upstream();
  EXPECT_EQ(chat(gw_->port, det("directives"), {{"Cache-Control", "no-store"}}).header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(chat(gw_->port, det("directives")).header("x-deepgate-cache"), "miss");
  // no-cache: a fresh answer, stored for the next request.
  EXPECT_EQ(chat(gw_->port, det("directives"), {{"Cache-Control", "max-age=0, No-Cache"}}).header("x-deepgate-cache"), "miss");
  EXPECT_EQ(upstream() - before, 3u);
  EXPECT_EQ(chat(gw_->port, det("directives")).header("x-deepgate-cache"), "hit");
  EXPECT_EQ(upstream() - before, 3u);
  EXPECT_EQ(chat(gw_->port, det("directives"), {{"Cache-Control", "no-store"}}).header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(upstream() - before, 4u);

  // x-deepgate-cache-ttl: 0 does not store; a bad value is the client's mistake.
  EXPECT_EQ(chat(gw_->port, det("ttl zero"), {{"x-deepgate-cache-ttl", "0"}}).status, 200);
  EXPECT_EQ(chat(gw_->port, det("ttl zero")).header("x-deepgate-cache"), "miss");
  for (const char* bad : {"soon", "-1", "1.5", "99999999"}) {
    auto r = chat(gw_->port, det("ttl bad"), {{"x-deepgate-cache-ttl", bad}});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(json::parse(r.body)["error"]["param"], "x-deepgate-cache-ttl") << bad;
  }
  // A one-second TTL expires: the answer is fetched again (awaited, not slept).
  ASSERT_EQ(chat(gw_->port, det("ttl one"), {{"x-deepgate-cache-ttl", "1"}}).header("x-deepgate-cache"), "miss");
  EXPECT_TRUE(eventually([&] { return chat(gw_->port, det("ttl one")).header("x-deepgate-cache") == "miss"; },
                         std::chrono::seconds(5)));
}

TEST_F(cache_memory, twenty_concurrent_identical_misses_make_one_upstream_call) {
  const auto before = upstream();
  const auto served = metric_value(gw_->metrics(), "deepgate_cache_coalesced_total{result=\"served\"}");
  const std::string prompt = "all at once [mock latency_ms=1500 tokens=6]";
  std::vector<http_response> answers(20);
  std::vector<std::thread> clients;
  for (int i = 0; i < 20; ++i)
    clients.emplace_back([&, i] { answers[i] = chat(gw_->port, det(prompt, i % 2 == 1)); });
  for (auto& t : clients) t.join();
  EXPECT_EQ(upstream() - before, 1u);
  std::string content;
  int misses = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(answers[i].status, 200) << answers[i].body;
    auto s = i % 2 ? from_stream(answers[i].body) : from_json(answers[i].body);
    if (i % 2) {
      EXPECT_TRUE(s.done);
    }
    if (content.empty()) content = s.content;
    EXPECT_EQ(s.content, content);
    misses += answers[i].header("x-deepgate-cache") == "miss";
  }
  EXPECT_EQ(misses, 1);
  EXPECT_EQ(metric_value(gw_->metrics(), "deepgate_cache_coalesced_total{result=\"served\"}") - served, 19);
}

TEST(cache_budget, memory_stays_within_its_budget_under_ten_times_its_size) {
  auto mock = mock_server::start();
  const std::size_t budget = 64 * 1024;
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "", test_auth_yaml() + "cache:\n  max_bytes: " +
                                                                       std::to_string(budget) + "\n"));
  std::size_t sent = 0;
  int n = 0;
  while (sent < 10 * budget) {
    auto r = chat(gw->port, det("distinct answer " + std::to_string(n++) + " [mock tokens=120]"));
    ASSERT_EQ(r.status, 200);
    sent += r.body.size();
  }
  auto m = gw->metrics();
  EXPECT_LE(metric_value(m, "deepgate_cache_bytes"), static_cast<double>(budget));
  EXPECT_GT(metric_value(m, "deepgate_cache_bytes"), budget / 2.0);
  EXPECT_GT(metric_value(m, "deepgate_cache_evictions_total"), 0);
  EXPECT_EQ(metric_value(m, "deepgate_cache_stores_total{result=\"stored\"}"), n);
  EXPECT_EQ(metric_value(m, "deepgate_cache_entries") + metric_value(m, "deepgate_cache_evictions_total"), n);
  // The newest answer is still there, the oldest is gone.
  EXPECT_EQ(chat(gw->port, det("distinct answer " + std::to_string(n - 1) + " [mock tokens=120]")).header("x-deepgate-cache"), "hit");
  EXPECT_EQ(chat(gw->port, det("distinct answer 0 [mock tokens=120]")).header("x-deepgate-cache"), "miss");
}

namespace {
std::string redis_cache_yaml(std::uint16_t mock_port, std::uint16_t redis_port) {
  return gateway_yaml(mock_port, "", "",
                      test_auth_yaml() + "redis:\n  url: redis://127.0.0.1:" + std::to_string(redis_port) +
                          "\n  command_timeout: 200ms\n  connect_timeout: 200ms\ncache:\n  store: redis\n");
}
}  // namespace

TEST(cache_redis_store, two_gateways_share_answers_through_redis) {
  auto redis = redis_server::start();
  auto mock = mock_server::start();
  auto a = gateway_server::start(redis_cache_yaml(mock->port, redis->port));
  auto b = gateway_server::start(redis_cache_yaml(mock->port, redis->port));
  auto first = chat(a->port, det("shared through redis", true, "deepseek-chat"));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-deepgate-cache"), "miss");
  // The store is in the background: wait until the value is in Redis, not for a fixed time.
  ASSERT_TRUE(eventually([&] { return redis->cli("DBSIZE").substr(0, 1) == "1"; }));
  auto second = chat(b->port, det("shared through redis", false, "deepseek-chat"));
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.header("x-deepgate-cache"), "hit");
  EXPECT_EQ(mock->chat_requests(), 1u);
  EXPECT_EQ(from_json(second.body).reasoning, from_stream(first.body).reasoning);
  // Neither the client key nor the prompt is in Redis: keys are digests, values are answers.
  auto keys = redis->cli("--scan");
  EXPECT_EQ(keys.find(test_key), std::string::npos);
  EXPECT_EQ(keys.find("tests"), std::string::npos);
  EXPECT_NE(keys.find("deepgate:cache:"), std::string::npos);
}

TEST(cache_redis_store, a_stopped_redis_means_misses_not_errors) {
  auto redis = redis_server::start();
  auto mock = mock_server::start();
  auto gw = gateway_server::start(redis_cache_yaml(mock->port, redis->port));
  ASSERT_EQ(chat(gw->port, det("before the outage")).header("x-deepgate-cache"), "miss");
  ASSERT_TRUE(eventually([&] { return chat(gw->port, det("before the outage")).header("x-deepgate-cache") == "hit"; }));
  redis.reset();  // stopped
  const auto before = mock->chat_requests();
  for (int i = 0; i < 4; ++i) {
    auto r = chat(gw->port, det("before the outage"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-deepgate-cache"), "miss");
  }
  EXPECT_EQ(mock->chat_requests() - before, 4u);
  // Streams too (not checked for "miss": the next request may still join a stream that has just
  // ended, and be served its answer).
  auto s = chat(gw->port, det("before the outage", true));
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(from_stream(s.body).done);
  EXPECT_GT(metric_value(gw->metrics(), "deepgate_redis_errors_total{client=\"cache\"}"), 0);
}

// A hit counts as a request; its tokens count only with cache.hits_count_tokens.
class cache_limits : public ::testing::TestWithParam<bool> {};

TEST_P(cache_limits, hits_count_as_requests_and_their_tokens_only_when_configured) {
  const bool count_tokens = GetParam();
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(
      mock->port, "", "",
      test_auth_yaml() + "limits:\n  default: {requests_per_minute: 3, request_burst: 3, tokens_per_minute: 6000}\n" +
          "cache:\n  hits_count_tokens: " + (count_tokens ? "true" : "false") + "\n"));
  const auto body = det("limited hits", false, "deepseek-chat", R"({"max_tokens":50})");
  auto remaining = [](const http_response& r) { return std::stoll(r.header("x-ratelimit-remaining-tokens")); };
  auto miss = chat(gw->port, body);
  ASSERT_EQ(miss.status, 200) << miss.body;
  ASSERT_EQ(miss.header("x-deepgate-cache"), "miss");
  const auto used = from_json(miss.body).usage["total_tokens"].get<long long>();
  // The second request's headers show the first one settled to its real usage.
  auto hit = chat(gw->port, body);
  ASSERT_EQ(hit.header("x-deepgate-cache"), "hit");
  auto hit2 = chat(gw->port, body);
  ASSERT_EQ(hit2.header("x-deepgate-cache"), "hit");
  if (count_tokens) {
    EXPECT_LE(remaining(hit2), remaining(hit) - used + 5);  // the bucket refills 100 tokens/s
  } else {
    EXPECT_GE(remaining(hit2), remaining(hit));
  }
  // The fourth request is over 3 per minute, hit or not.
  auto refused = chat(gw->port, body);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "rate_limit_exceeded") << refused.body;
  EXPECT_TRUE(refused.header("x-deepgate-cache").empty());  // the limiter answered, not the cache
  EXPECT_EQ(mock->chat_requests(), 1u);
}

INSTANTIATE_TEST_SUITE_P(hits_count_tokens, cache_limits, ::testing::Values(false, true));

// Issue 16: a backend that thinks by default (DeepSeek's V4) ignores temperature, so a
// temperature-0 request is not deterministic there unless it turns thinking off.
TEST(cache_thinking, thinking_mode_answers_are_not_cached_at_temperature_zero) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "    thinking_default: on\n"));
  auto ask = [&](const std::string& extra, const std::string& model = "deepseek-flash") {
    return post_json(gw->port, "/v1/chat/completions", chat_body("think about it", false, model, extra));
  };
  EXPECT_EQ(ask(R"({"temperature":0})").header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(ask(R"({"temperature":0})").header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(ask(R"({"temperature":0,"thinking":{"type":"enabled"}})").header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(mock->chat_requests(), 3u);
  EXPECT_EQ(ask(R"({"temperature":0,"thinking":{"type":"disabled"}})").header("x-deepgate-cache"), "miss");
  EXPECT_EQ(ask(R"({"temperature":0,"thinking":{"type":"disabled"}})").header("x-deepgate-cache"), "hit");
  EXPECT_EQ(mock->chat_requests(), 4u);
  // The legacy names fix thinking: deepseek-reasoner (on) is never deterministic, deepseek-chat
  // (off, the same request as the one above) is.
  EXPECT_EQ(ask(R"({"temperature":0})", "deepseek-reasoner").header("x-deepgate-cache"), "bypass");
  EXPECT_EQ(ask(R"({"temperature":0})", "deepseek-chat").header("x-deepgate-cache"), "hit");
  EXPECT_EQ(mock->chat_requests(), 5u);
}
