// The prompt cache's sans-io parts: what the key covers, assembling a streamed answer, answering
// a hit (JSON or replayed stream), and the in-memory LRU.
#include "deepgate/api/chat_request.hpp"
#include "deepgate/cache/answer.hpp"
#include "deepgate/cache/memory_store.hpp"
#include "deepgate/cache/policy.hpp"

#include <gtest/gtest.h>

#include <set>
#include <nlohmann/json.hpp>

using namespace deepgate;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string material(const std::string& body, const std::string& model = "deepseek-chat") {
  auto r = api::chat_request::parse(body, 64);
  EXPECT_TRUE(r.has_value()) << body;
  return r ? r->cache_material(model) : std::string();
}

const std::string base = R"({"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"temperature":0})";

std::string with(const std::string& field) {
  return R"({"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"temperature":0,)" + field + "}";
}

std::vector<std::string> data_events(const std::string& sse) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; (pos = sse.find("data: ", pos)) != std::string::npos;) {
    auto end = sse.find("\n\n", pos);
    out.push_back(sse.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

}  // namespace

TEST(cache_key, key_order_whitespace_numbers_and_neutral_fields_do_not_matter) {
  const auto m = material(base);
  EXPECT_EQ(material(R"({ "temperature" : 0.0, "messages":[{"content":"hi","role":"user"}], "model":"deepseek-chat" })"), m);
  EXPECT_EQ(material(with(R"("stream":true,"stream_options":{"include_usage":true},"user":"u1")")), m);
  // The resolved model, not the name (or alias) the client used.
  EXPECT_EQ(material(R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0})"), m);
  EXPECT_EQ(material(with(R"("top_p":1)")), material(with(R"("top_p":1.0)")));
}

TEST(cache_key, every_generation_field_changes_it) {
  const auto m = material(base);
  for (const char* f : {R"("max_tokens":5)", R"("top_p":0.5)", R"("stop":["x"])", R"("seed":7)", R"("n":2)",
                        R"("presence_penalty":0.1)", R"("frequency_penalty":0.1)", R"("logprobs":true)",
                        R"("response_format":{"type":"json_object"})", R"("thinking":{"type":"enabled"})",
                        R"("reasoning_effort":"high")", R"("tool_choice":"none")",
                        R"("tools":[{"type":"function","function":{"name":"f","parameters":{}}}])",
                        R"("some_new_backend_field":1)"})
    EXPECT_NE(material(with(f)), m) << f;
  EXPECT_NE(material(base, "deepseek-reasoner"), m);
  EXPECT_NE(material(R"({"model":"deepseek-chat","messages":[{"role":"user","content":"hi!"}],"temperature":0})"), m);
  EXPECT_NE(material(R"({"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"temperature":0.7})"), m);
}

TEST(cache_key, deterministic_means_temperature_zero_or_a_seed) {
  auto p = [](const std::string& b) { return api::chat_request::parse(b, 64)->deterministic(); };
  EXPECT_TRUE(p(base));
  EXPECT_TRUE(p(R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":1})"));
  EXPECT_FALSE(p(R"({"model":"m","messages":[{"role":"user","content":"x"}]})"));
  EXPECT_FALSE(p(R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0.2})"));
  // Issue 16: thinking mode ignores temperature, so it is never deterministic.
  auto t = [](const std::string& b, bool by_default) {
    return api::chat_request::parse(b, 64)->deterministic(by_default);
  };
  EXPECT_FALSE(t(base, true));
  EXPECT_FALSE(t(with(R"("thinking":{"type":"enabled"})"), false));
  EXPECT_TRUE(t(with(R"("thinking":{"type":"disabled"})"), true));
  EXPECT_FALSE(t(R"({"model":"m","messages":[{"role":"user","content":"x"}],"thinking":{"type":"disabled"}})", true));
}

TEST(cache_answer, a_stream_assembles_into_the_completion_and_replays_back) {
  cache::stream_assembler a;
  const std::string head = R"("id":"c1","object":"chat.completion.chunk","created":5,"model":"deepseek-reasoner","system_fingerprint":"fp")";
  a.add("{" + head + R"(,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"finish_reason":null}]})");
  a.add("{" + head + R"(,"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"think "},"finish_reason":null}]})");
  a.add("{" + head + R"(,"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"more"},"finish_reason":null}]})");
  a.add("{" + head + R"(,"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})");
  EXPECT_FALSE(a.finish()) << "no finish_reason yet: a cut stream is not an answer";
  a.add("{" + head + R"(,"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]})");
  a.add("{" + head + R"(,"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":9}})");
  auto done = a.finish();
  ASSERT_TRUE(done);
  auto j = json::parse(*done);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(j["choices"][0]["message"]["reasoning_content"], "think more");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
  EXPECT_TRUE(cache::storable_answer(*done));

  auto hit = json::parse(cache::hit_body(*done));
  EXPECT_EQ(hit["usage"]["prompt_tokens_details"]["cached_tokens"], 9);
  EXPECT_EQ(hit["usage"]["prompt_cache_hit_tokens"], 9);
  EXPECT_EQ(hit["usage"]["prompt_cache_miss_tokens"], 0);

  // Replayed and assembled again: the same answer.
  auto sse = cache::replay_stream(*done, true);
  EXPECT_TRUE(sse.ends_with("data: [DONE]\n\n"));
  cache::stream_assembler again;
  for (auto& e : data_events(sse))
    if (e != "[DONE]") again.add(e);
  auto round = json::parse(*again.finish());
  EXPECT_EQ(round["choices"], j["choices"]);
  EXPECT_EQ(round["usage"]["prompt_tokens_details"]["cached_tokens"], 9);
  EXPECT_EQ(cache::replay_stream(*done, false).find("usage"), std::string::npos);

  // The stored form holds the hit body and the replay, so a hit parses nothing.
  auto stored = cache::make_stored(*done);
  auto parts = cache::split_stored(stored);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->body, cache::hit_body(*done));
  EXPECT_EQ(std::string(parts->events) + std::string(parts->usage_event) + "data: [DONE]\n\n", sse);
  EXPECT_FALSE(cache::split_stored(*done));  // a bare answer is not the stored form
  EXPECT_FALSE(cache::split_stored(std::string("{}\0x\0", 5)));
}

TEST(cache_answer, tool_calls_assemble_by_index) {
  cache::stream_assembler a;
  a.add(R"({"id":"c","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":""}}]}}]})");
  a.add(R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]})");
  a.add(R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]})");
  auto j = json::parse(*a.finish());
  auto call = j["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_1");
  EXPECT_EQ(call["function"]["name"], "get");
  EXPECT_EQ(call["function"]["arguments"], "{\"a\":1}");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_null());
}

TEST(cache_answer, errors_and_garbage_are_not_answers) {
  cache::stream_assembler a;
  a.add(R"({"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]})");
  a.add(R"({"error":{"message":"boom"}})");
  EXPECT_FALSE(a.finish());
  EXPECT_FALSE(cache::storable_answer(R"({"error":{"message":"x"}})"));
  EXPECT_FALSE(cache::storable_answer(R"({"choices":[{"message":{"content":"x"},"finish_reason":null}]})"));
  EXPECT_FALSE(cache::storable_answer("not json"));
}

TEST(cache_memory, hits_expire_and_the_byte_budget_holds_with_evictions_counted) {
  auto t0 = std::chrono::system_clock::time_point{} + std::chrono::hours(1000);
  cache::memory_store m(64 * 1024, 4);
  ASSERT_TRUE(m.put("k", "v", t0, 10s));
  ASSERT_TRUE(m.get("k", t0 + 5s));
  EXPECT_EQ(m.get("k", t0 + 5s)->stored, t0);
  // A hit shares the stored value, and keeps it when the entry is replaced.
  const auto held = m.get("k", t0 + 5s)->value;
  EXPECT_EQ(m.get("k", t0 + 5s)->value.get(), held.get());
  ASSERT_TRUE(m.put("k", "w", t0, 10s));
  EXPECT_EQ(*held, "v");
  EXPECT_EQ(*m.get("k", t0 + 5s)->value, "w");
  EXPECT_FALSE(m.get("k", t0 + 10s));  // expired, and gone
  EXPECT_EQ(m.bytes(), 0u);
  // 10× the budget of distinct answers: the budget holds and the overflow is evicted.
  const std::string value(1000, 'x');
  for (int i = 0; i < 640; ++i) m.put("key" + std::to_string(i), value, t0, 60s);
  EXPECT_LE(m.bytes(), 64u * 1024);
  EXPECT_GT(m.evictions(), 500u);
  EXPECT_GT(m.entries(), 30u);
  EXPECT_TRUE(m.get("key639", t0));  // the most recent survive
  EXPECT_FALSE(m.put("huge", std::string(20 * 1024, 'y'), t0, 60s));  // larger than a shard's share
}

TEST(cache_policy, request_directives) {
  auto d = cache::read_directives("max-age=0, No-Cache", "", 24h);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->no_cache);
  EXPECT_FALSE(d->no_store);
  EXPECT_FALSE(d->ttl);
  d = cache::read_directives("no-store", " 30 ", 24h);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->no_store);
  EXPECT_EQ(d->ttl, 30s);
  EXPECT_FALSE(cache::read_directives("no-cache-please", "", 24h)->no_cache);  // another directive
  for (const char* bad : {"x", "-1", "1.5", "86401", "9999999999999999999999"}) {
    auto e = cache::read_directives("", bad, 24h);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().status, 400u);
    EXPECT_EQ(e.error().param, "x-deepgate-cache-ttl");
  }
}

TEST(cache_policy, decide) {
  using config::cache_mode;
  const cache::directives none;
  auto p = cache::decide(cache_mode::deterministic, true, false, none, 60s);
  EXPECT_TRUE(p.lookup && p.store);
  EXPECT_EQ(p.ttl, 60s);
  EXPECT_TRUE(cache::decide(cache_mode::deterministic, false, false, none, 60s).bypass());
  EXPECT_FALSE(cache::decide(cache_mode::always, false, false, none, 60s).bypass());
  EXPECT_TRUE(cache::decide(cache_mode::off, true, false, none, 60s).bypass());
  EXPECT_TRUE(cache::decide(cache_mode::always, true, true, none, 60s).bypass());  // logprobs
  cache::directives no_cache;
  no_cache.no_cache = true;
  p = cache::decide(cache_mode::always, true, false, no_cache, 60s);
  EXPECT_FALSE(p.lookup);
  EXPECT_TRUE(p.store);
  cache::directives no_store;
  no_store.no_store = true;
  EXPECT_TRUE(cache::decide(cache_mode::always, true, false, no_store, 60s).bypass());
  cache::directives ttl0;
  ttl0.ttl = 0s;
  p = cache::decide(cache_mode::always, true, false, ttl0, 60s);
  EXPECT_TRUE(p.lookup);
  EXPECT_FALSE(p.store);
}

TEST(cache_policy, keys_separate_backends_scopes_and_requests_unambiguously) {
  auto k = cache::make_key("mock", "tests", "{}");
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k, cache::make_key("mock", "tests", "{}"));
  EXPECT_NE(k, cache::make_key("other", "tests", "{}"));
  EXPECT_NE(k, cache::make_key("mock", "others", "{}"));
  EXPECT_NE(k, cache::make_key("mock", "tests", "{ }"));
  // Length-prefixed parts: moving bytes from one part to the next is another key.
  EXPECT_NE(cache::make_key("ab", "c", "{}"), cache::make_key("a", "bc", "{}"));
}

TEST(cache_answer, interrupted_answers_are_not_stored) {
  EXPECT_FALSE(cache::storable_answer(
      R"({"choices":[{"index":0,"message":{"content":"par"},"finish_reason":"insufficient_system_resource"}]})"));
  EXPECT_TRUE(cache::storable_answer(R"({"choices":[{"index":0,"message":{"content":"ok"},"finish_reason":"length"}]})"));
  cache::stream_assembler a;
  a.add(R"({"choices":[{"index":0,"delta":{"content":"par"},"finish_reason":"insufficient_system_resource"}]})");
  EXPECT_FALSE(a.finish());
}

TEST(cache_key, material_is_canonical_json_of_the_request) {
  const std::string body =
      R"({"user":"u","model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"temperature":1.0,)"
      R"("top_p":0.25,"presence_penalty":-0.0,"seed":-3,"big":18446744073709551615,"stop":["\"q\"","a\\b","\n\t\u0001"],)"
      R"("messages":[{"role":"user","content":"h\u00e9llo \ud83d\ude00"}],"tools":[],"response_format":{"type":"text"},"x":null,"y":false})";
  auto m = material(body, "deepseek-chat");
  EXPECT_EQ(m,
            R"({"big":18446744073709551615,"messages":[{"content":"h)"
            "\xc3\xa9llo \xf0\x9f\x98\x80"
            R"(","role":"user"}],"model":"deepseek-chat","presence_penalty":0,"response_format":{"type":"text"},"seed":-3,)"
            R"("stop":["\"q\"","a\\b","\u000a\u0009\u0001"],"temperature":1,"tools":[],"top_p":0.25,"x":null,"y":false})");
  // It is JSON, and reading it back gives the request without the output-neutral fields.
  auto back = json::parse(m);
  EXPECT_EQ(back["stop"][2], "\n\t\x01");
  EXPECT_FALSE(back.contains("stream"));
  EXPECT_FALSE(back.contains("user"));
}

// Issue 22 (F7): deltas are appended in place, and assembly stops once the answer has grown past
// what the cache could store (it would be skipped at store time anyway).
TEST(cache_answer, assembly_stops_past_the_entry_limit) {
  auto chunk = [](const std::string& text, const char* finish = nullptr) {
    json c = {{"id", "x"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "m"},
              {"choices", {{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", finish ? json(finish) : json()}}}}};
    return c.dump();
  };
  cache::stream_assembler small(4096);
  for (int i = 0; i < 40'000; ++i) small.add(chunk("tok "));
  small.add(chunk("", "stop"));
  EXPECT_TRUE(small.given_up());
  EXPECT_FALSE(small.finish().has_value());

  cache::stream_assembler big(1 << 20);
  for (int i = 0; i < 40'000; ++i) big.add(chunk("t"));
  big.add(chunk("", "stop"));
  EXPECT_FALSE(big.given_up());
  auto answer = big.finish();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(json::parse(*answer)["choices"][0]["message"]["content"].get<std::string>(), std::string(40'000, 't'));
}

// Issue 16: DeepSeek's V4 and Ollama stream several tool calls at one index, each opening with its
// own id: they are several calls, not one with their arguments run together.
TEST(cache_answer, tool_calls_at_one_index_with_their_own_ids_are_separate_calls) {
  cache::stream_assembler a;
  a.add(R"({"id":"c","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"a\":"}}]}}]})");
  a.add(R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]})");
  a.add(R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_2","type":"function","function":{"name":"put","arguments":"{}"}}]}}]})");
  a.add(R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_3","type":"function","function":{"name":"del","arguments":"{\"b\":2}"}}]},"finish_reason":"tool_calls"}]})");
  auto j = json::parse(*a.finish());
  const auto& calls = j["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 3u) << j.dump();
  EXPECT_EQ(calls[0]["id"], "call_1");
  EXPECT_EQ(calls[0]["function"]["arguments"], "{\"a\":1}");
  EXPECT_EQ(calls[1]["id"], "call_2");
  EXPECT_EQ(calls[1]["function"]["name"], "put");
  EXPECT_EQ(calls[2]["id"], "call_3");
  // Replayed, each gets its own index, so a client assembles the same three.
  auto events = data_events(cache::replay_stream(*a.finish(), false));
  std::set<std::string> ids;
  for (auto& e : events) {
    auto c = json::parse(e, nullptr, false);
    if (!c.is_object() || !c.contains("choices")) continue;
    auto& d = c["choices"][0]["delta"];
    if (d.contains("tool_calls"))
      for (auto& tc : d["tool_calls"]) ids.insert(std::to_string(tc["index"].get<int>()) + tc["id"].get<std::string>());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"0call_1", "1call_2", "2call_3"}));
}

// Found by fuzz/sse_stream: a chunk whose fields have other types (an object for "index") threw
// from the assembler and ended the client's stream. Such a stream is simply not cacheable.
TEST(stream_assembler, chunks_of_unexpected_types_give_up_instead_of_throwing) {
  cache::stream_assembler a;
  a.add(R"({"id":"x","choices":[{"index":{"role":"assistant"},"delta":{"content":"a"}}]})");
  EXPECT_TRUE(a.given_up());
  EXPECT_FALSE(a.finish());
  cache::stream_assembler b;
  b.add(R"({"id":"x","choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"index":"0","id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":"3","prompt_tokens_details":"x"}})");
  auto done = b.finish();
  ASSERT_TRUE(done);
  // Stored and replayed without trusting the usage's types either.
  auto stored = cache::make_stored(*done);
  EXPECT_NE(stored.find("data: "), std::string::npos);
  EXPECT_NO_THROW(cache::replay_stream(R"({"choices":[{"index":"0","message":{"role":5,"content":"a"},"finish_reason":"stop"},7]})", true));
}
