#include "mock_model.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace deepgate::mock;
using json = nlohmann::json;

TEST(mock_model, directives_override_defaults) {
  auto k = parse_directives("hello [mock status=503 tokens=3 tps=50 reset_after=2] there", knobs{});
  EXPECT_EQ(k.status, 503);
  EXPECT_EQ(k.tokens, 3);
  EXPECT_EQ(k.tps, 50);
  EXPECT_EQ(k.reset_after, 2);
  EXPECT_EQ(parse_directives("no directives", knobs{}).tokens, 12);
}

TEST(mock_model, replies_are_deterministic_and_deepseek_shaped) {
  options o;
  std::string req = R"({"model":"deepseek-flash","messages":[{"role":"user","content":"hi"}]})";
  auto a = plan_reply(req, "", o), b = plan_reply(req, "", o);
  EXPECT_EQ(a.body, b.body);
  auto j = nlohmann::json::parse(a.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["choices"][0]["message"]["reasoning_content"].is_string());
  auto& u = j["usage"];
  EXPECT_EQ(u["prompt_cache_hit_tokens"].get<int>() + u["prompt_cache_miss_tokens"].get<int>(), u["prompt_tokens"].get<int>());
  EXPECT_TRUE(u["completion_tokens_details"]["reasoning_tokens"].is_number());
}

TEST(mock_model, streamed_and_whole_answers_are_the_same_text) {
  options o;
  auto whole = plan_reply(R"({"model":"deepseek-flash","thinking":{"type":"disabled"},"messages":[{"role":"user","content":"q"}]})", "", o);
  auto streamed = plan_reply(R"({"messages":[{"role":"user","content":"q"}],"stream":true,"model":"deepseek-flash","thinking":{"type":"disabled"}})", "", o);
  std::string text;
  for (auto& e : streamed.events) {
    if (e == "data: [DONE]\n\n") continue;
    auto j = nlohmann::json::parse(e.substr(6));
    auto& d = j["choices"][0]["delta"];
    if (d.contains("content") && d["content"].is_string()) text += d["content"].get<std::string>();
  }
  EXPECT_EQ(text, nlohmann::json::parse(whole.body)["choices"][0]["message"]["content"]);
}

// Token chunks are assembled around a dumped shell; each must be exactly what dumping its own
// tree gives, with and without thinking, words needing escapes or not.
TEST(mock_model, every_stream_event_is_its_trees_dump) {
  options o;
  for (const char* thinking : {"enabled", "disabled"}) {
    auto r = plan_reply(std::string(R"({"model":"deepseek-flash","thinking":{"type":")") + thinking +
                            R"("},"stream":true,"messages":[{"role":"user","content":"x \"q\" [mock tokens=40]"}]})",
                        "", o);
    ASSERT_TRUE(r.stream);
    std::size_t tokens = 0;
    for (auto& e : r.events) {
      if (e == "data: [DONE]\n\n") continue;
      ASSERT_TRUE(e.starts_with("data: ") && e.ends_with("\n\n")) << e;
      const auto j = json::parse(e.substr(6, e.size() - 8));
      EXPECT_EQ("data: " + j.dump() + "\n\n", e);
      EXPECT_EQ(j["object"], "chat.completion.chunk");
      const auto& d = j["choices"][0]["delta"];
      tokens += d["content"].is_string() && !d["content"].get<std::string>().empty();
      tokens += d.contains("reasoning_content") && d["reasoning_content"].is_string() &&
                !d["reasoning_content"].get<std::string>().empty();
    }
    EXPECT_EQ(tokens, std::string(thinking) == "enabled" ? 60u : 40u) << thinking;
  }
}

TEST(mock_model, streams_end_with_done_and_usage_only_when_asked) {
  options o;
  auto r = plan_reply(R"({"model":"deepseek-flash","thinking":{"type":"disabled"},"stream":true,"messages":[{"role":"user","content":"x [mock tokens=2]"}]})", "", o);
  ASSERT_TRUE(r.stream);
  EXPECT_EQ(r.events.back(), "data: [DONE]\n\n");
  EXPECT_EQ(r.events.size(), 1u + 2u + 1u + 1u);  // role, 2 tokens, finish, [DONE]
  auto u = plan_reply(R"({"model":"deepseek-flash","thinking":{"type":"disabled"},"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x [mock tokens=2]"}]})", "", o);
  EXPECT_EQ(u.events.size(), r.events.size() + 1);
  EXPECT_NE(u.events[u.events.size() - 2].find("\"usage\""), std::string::npos);
}

TEST(mock_model, errors_look_like_deepseek) {
  options o;
  o.api_key = "sk-mock";
  EXPECT_EQ(plan_reply("{}", "Bearer wrong", o).status, 401u);
  o.api_key.clear();
  EXPECT_EQ(plan_reply(R"({"model":"nope","messages":[{"role":"user","content":"x"}]})", "", o).status, 400u);
  auto e = plan_reply(R"({"model":"deepseek-flash","thinking":{"type":"disabled"},"messages":[{"role":"user","content":"[mock status=402]"}]})", "", o);
  EXPECT_EQ(e.status, 402u);
  EXPECT_EQ(nlohmann::json::parse(e.body)["error"]["message"], "Insufficient Balance");
  // The pre-V4 names stopped being served on 2026-07-24: DeepSeek's 400, as for any unknown name.
  for (auto retired : {"deepseek-chat", "deepseek-reasoner"}) {
    auto r = plan_reply(std::string(R"({"model":")") + retired + R"(","messages":[{"role":"user","content":"x"}]})", "", o);
    EXPECT_EQ(r.status, 400u) << retired;
    EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["message"], "Model Not Exist") << retired;
  }
}

// tool_calls=N makes N calls; same_index=1 streams them all at index 0, each head with its id.
TEST(mock_model, several_tool_calls_at_one_index) {
  options o;
  const std::string req =
      R"({"model":"deepseek-flash","thinking":{"type":"disabled"},"stream":true,"messages":[{"role":"user","content":"x [mock tool_calls=3 same_index=1]"}],)"
      R"("tools":[{"type":"function","function":{"name":"a","parameters":{}}},{"type":"function","function":{"name":"b","parameters":{}}}]})";
  auto r = plan_reply(req, "", o);
  std::vector<std::string> ids, names;
  for (auto& e : r.events) {
    if (e == "data: [DONE]\n\n") continue;
    auto d = nlohmann::json::parse(e.substr(6))["choices"][0]["delta"];
    if (!d.contains("tool_calls")) continue;
    for (auto& tc : d["tool_calls"]) {
      EXPECT_EQ(tc["index"], 0);
      if (tc.contains("id")) ids.push_back(tc["id"]), names.push_back(tc["function"]["name"]);
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "a"}));
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  auto j = nlohmann::json::parse(req);
  j["stream"] = false;
  auto calls = nlohmann::json::parse(plan_reply(j.dump(), "", o).body)["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(calls[i]["id"], ids[i]);
}

// The mock's /embeddings: one unit vector per input, `dimensions` long, the same for the same
// text, as floats or base64 float32; usage counts the input.
TEST(mock_model, embeddings_as_openai_and_vllm_answer_them) {
  options o;
  o.models = {"bge-m3"};
  auto r = plan_embeddings(R"({"model":"bge-m3","input":["a b c","d"],"dimensions":6})", "", o);
  ASSERT_EQ(r.status, 200u);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  double norm = 0;
  for (double x : j["data"][0]["embedding"]) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(j["data"][0]["embedding"].size(), 6u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);  // three words and one
  EXPECT_EQ(j["usage"]["total_tokens"], 4);
  auto again = nlohmann::json::parse(plan_embeddings(R"({"model":"bge-m3","input":"a b c","dimensions":6})", "", o).body);
  EXPECT_EQ(again["data"][0]["embedding"], j["data"][0]["embedding"]);
  auto b64 = nlohmann::json::parse(plan_embeddings(R"({"model":"bge-m3","input":"a b c","dimensions":6,"encoding_format":"base64"})", "", o).body);
  EXPECT_EQ(b64["data"][0]["embedding"].get<std::string>().size(), 32u);  // 24 bytes
  EXPECT_EQ(plan_embeddings(R"({"model":"nope","input":"x"})", "", o).status, 400u);
  EXPECT_EQ(plan_embeddings(R"({"model":"bge-m3"})", "", o).status, 422u);
  EXPECT_EQ(plan_embeddings(R"({"model":"bge-m3","input":"x [mock status=503]"})", "", o).status, 503u);
  EXPECT_EQ(plan_embeddings(R"({"model":"bge-m3","input":[[1,2,3]]})", "", o).status, 200u);
}

TEST(mock_model, completions_responses_and_messages_in_their_upstream_shapes) {
  options o;
  auto c = plan_completion(R"({"model":"deepseek-flash","prompt":"def f(","suffix":"x","max_tokens":3})", "", o);
  ASSERT_EQ(c.status, 200u) << c.body;
  auto cj = json::parse(c.body);
  EXPECT_EQ(cj["object"], "text_completion");
  EXPECT_EQ(cj["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(cj["usage"]["completion_tokens"], 3);
  EXPECT_EQ(plan_completion(R"({"model":"deepseek-flash","prompt":"x","max_tokens":5000})", "", o).status, 422u);

  auto r = plan_response(R"({"model":"deepseek-flash","input":"hi [mock tokens=2]","stream":true})", "", o);
  ASSERT_TRUE(r.stream);
  EXPECT_TRUE(r.events.front().starts_with("event: response.created\n"));
  EXPECT_TRUE(r.events.back().starts_with("event: response.completed\n"));
  for (auto& e : r.events) EXPECT_EQ(e.find("[DONE]"), std::string::npos);
  EXPECT_EQ(plan_response(R"({"model":"deepseek-flash","input":"x","previous_response_id":"r"})", "", o).status, 400u);

  auto m = plan_message(R"({"model":"claude-opus-4","max_tokens":5,"messages":[{"role":"user","content":"hi [mock tokens=2]"}],"stream":true})",
                        "", o);
  ASSERT_TRUE(m.stream);
  EXPECT_TRUE(m.events.front().starts_with("event: message_start\n"));
  EXPECT_NE(m.events.front().find("deepseek-v4-pro"), std::string::npos);  // claude-opus* maps to V4 Pro, as DeepSeek does
  EXPECT_TRUE(m.events.back().starts_with("event: message_stop\n"));
  auto bad = plan_message(R"({"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"x"}]})", "", o);
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(json::parse(bad.body)["type"], "error");
  EXPECT_EQ(json::parse(plan_message(R"({"model":"deepseek-flash","messages":[{"role":"user","content":"x"}]})", "", o).body)["error"]["type"],
            "invalid_request_error");
  EXPECT_GT(json::parse(plan_count_tokens(R"({"model":"deepseek-flash","messages":[{"role":"user","content":"x"}]})", "", o).body)
                ["input_tokens"].get<int>(), 0);
  // Prefix completion and strict tools only at the beta endpoint.
  EXPECT_TRUE(beta_only(R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"a","prefix":true}]})"));
  EXPECT_FALSE(beta_only(R"({"model":"m","messages":[{"role":"user","content":"x"}]})"));
}
