#include "deepgate/api/chat_request.hpp"
#include "deepgate/api/reasoning_repair.hpp"
#include "deepgate/http/json_depth.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

using deepgate::api::chat_request;

namespace {
const std::string good = R"({"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]})";

deepgate::http::api_error error_of(const std::string& body) {
  auto r = chat_request::parse(body, 64);
  EXPECT_FALSE(r.has_value()) << body;
  return r.has_value() ? deepgate::http::api_error{} : r.error();
}

chat_request parse_ok(const std::string& body) {
  auto r = chat_request::parse(body, 64);
  if (!r) throw std::runtime_error("parse failed: " + r.error().message);
  return std::move(*r);
}

std::string with(const std::string& extra) {
  return R"({"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],)" + extra + "}";
}
}  // namespace

TEST(chat_request, accepts_a_minimal_request) {
  auto r = chat_request::parse(good, 64);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->model(), "deepseek-chat");
  EXPECT_FALSE(r->stream());
}

TEST(chat_request, reserialises_with_the_backend_model_and_keeps_unknown_fields) {
  auto r = chat_request::parse(with(R"("stream":true,"thinking":{"type":"enabled"},"temperature":0.7)"), 64);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->stream());
  auto j = nlohmann::json::parse(r->upstream_body("deepseek-v3"));
  EXPECT_EQ(j["model"], "deepseek-v3");
  EXPECT_EQ(j["thinking"]["type"], "enabled");
  EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), 0.7);
}

TEST(chat_request, malformed_json_is_400) {
  auto e = error_of("{\"model\": ");
  EXPECT_EQ(e.status, 400u);
  EXPECT_EQ(e.code, "invalid_json");
  EXPECT_EQ(error_of("[]").code, "invalid_body");
  EXPECT_EQ(error_of(good + std::string(1, '\0') + R"(,"model":"other"})").code, "invalid_json");  // read whole
  EXPECT_EQ(error_of("\"just a string\"").status, 400u);
}

TEST(chat_request, deep_nesting_is_refused_without_recursion) {
  std::string deep(1'000'000, '[');
  auto e = error_of(deep);
  EXPECT_EQ(e.status, 400u);
  EXPECT_EQ(e.code, "json_too_deep");
  // exactly at the limit is fine for the depth check
  EXPECT_EQ(deepgate::http::json_nesting_depth(std::string(64, '[') + std::string(64, ']'), 64), 64u);
  EXPECT_EQ(deepgate::http::json_nesting_depth(R"({"a":"[[[[[[[[[["})", 3), 1u);  // brackets in strings
}

TEST(chat_request, missing_and_mistyped_fields_name_the_param) {
  auto e = error_of(R"({"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.code, "missing_required_parameter");
  EXPECT_EQ(error_of(R"({"model":1,"messages":[]})").param, "model");
  EXPECT_EQ(error_of(R"({"model":"m"})").param, "messages");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[]})").param, "messages");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})").param, "messages[0].role");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"user"}]})").param, "messages[0].content");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})").param, "messages[0].tool_call_id");
  EXPECT_EQ(error_of(with(R"("stream":"yes")")).param, "stream");
  EXPECT_EQ(error_of(with(R"("n":1.5)")).param, "n");
  EXPECT_EQ(error_of(with(R"("max_tokens":"10")")).param, "max_tokens");
  EXPECT_EQ(error_of(with(R"("stop":[1])")).param, "stop");
  EXPECT_EQ(error_of(with(R"("stream_options":{"include_usage":true})")).param, "stream_options");
}

TEST(chat_request, out_of_range_values_are_422) {
  for (auto extra : {R"("temperature":2.5)", R"("top_p":-0.1)", R"("n":0)", R"("max_tokens":0)",
                     R"("presence_penalty":3)", R"("top_logprobs":21)"}) {
    auto e = error_of(with(extra));
    EXPECT_EQ(e.status, 422u) << extra;
    EXPECT_EQ(e.code, "invalid_value") << extra;
  }
}

TEST(chat_request, assistant_with_tool_calls_may_omit_content) {
  auto body = R"({"model":"m","messages":[{"role":"user","content":"x"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"c1","content":"42"}]})";
  EXPECT_TRUE(chat_request::parse(body, 64).has_value());
}

TEST(chat_request, redirecting_fields_are_refused_at_any_depth) {
  for (auto extra : {R"("api_base":"http://evil")", R"("base_url":"x")", R"("api_key":"x")",
                     R"("metadata":{"inner":[{"upstream_host":"x"}]})", R"("extra_body":{"api_base":"x"})"}) {
    auto e = error_of(with(extra));
    EXPECT_EQ(e.status, 400u) << extra;
    EXPECT_EQ(e.code, "forbidden_parameter") << extra;
  }
  EXPECT_EQ(error_of(with(R"("metadata":{"inner":[{"upstream_host":"x"}]})")).param, "metadata.inner[0].upstream_host");
  // A tool's JSON Schema may name its own properties freely.
  auto tools = with(R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"api_key":{"type":"string"}}}}}])");
  EXPECT_TRUE(chat_request::parse(tools, 64).has_value());
}

TEST(chat_request, include_usage_is_read) {
  auto r = chat_request::parse(with(R"("stream":true,"stream_options":{"include_usage":true})"), 64);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->include_usage());
}

TEST(chat_request, prompt_digest_correlates_identical_messages_without_their_text) {
  auto a = parse_ok(R"({"model":"deepseek-chat","messages":[{"role":"user","content":"secret plan"}]})");
  auto b = parse_ok(R"({"messages":[{"content":"secret plan","role":"user"}],"model":"deepseek-reasoner","temperature":1})");
  auto c = parse_ok(R"({"model":"deepseek-chat","messages":[{"role":"user","content":"secret plan!"}]})");
  EXPECT_EQ(a.prompt_sha256().size(), 64u);
  EXPECT_EQ(a.prompt_sha256(), b.prompt_sha256());  // same messages, whatever else differs
  EXPECT_NE(a.prompt_sha256(), c.prompt_sha256());
  EXPECT_EQ(a.prompt_sha256().find("secret"), std::string::npos);
}

TEST(reasoning_repair, remembers_by_tool_call_and_owner_and_restores_only_what_is_missing) {
  deepgate::api::reasoning_memory memory(1 << 20, std::chrono::minutes(5));
  const auto now = std::chrono::system_clock::now();
  const std::string answer =
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"","reasoning_content":"think first",)"
      R"("tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}},)"
      R"({"id":"call_2","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}]})";
  EXPECT_EQ(memory.remember("team-a", answer, now), 2);
  EXPECT_EQ(memory.remember("team-a", R"({"choices":[{"message":{"content":"no tools"}}]})", now), 0);
  EXPECT_EQ(memory.recall("team-a", "call_2", now), "think first");
  EXPECT_FALSE(memory.recall("team-b", "call_1", now));  // another owner

  auto r = chat_request::parse(
      R"({"model":"m","messages":[{"role":"user","content":"q"},)"
      R"({"role":"assistant","content":"","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"x"},)"
      R"({"role":"assistant","content":"","reasoning_content":"kept","tool_calls":[{"id":"call_2","type":"function","function":{"name":"g","arguments":"{}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_2","content":"y"}]})",
      64);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->restore_reasoning([&](std::string_view id) { return memory.recall("team-a", id, now); }), 1);
  auto body = nlohmann::json::parse(r->upstream_body("m"));
  EXPECT_EQ(body["messages"][1]["reasoning_content"], "think first");
  EXPECT_EQ(body["messages"][3]["reasoning_content"], "kept");  // the client's own is never replaced
  EXPECT_FALSE(memory.recall("team-a", "call_2", now + std::chrono::minutes(6)));  // expired
}

// The usage chunk the gateway asks for goes only to backends that take stream_options; each
// attempt may go to another backend, so the body follows the last call. A client's own
// stream_options are never removed.
TEST(chat_request, gateway_usage_follows_each_backends_stream_usage) {
  auto r = chat_request::parse(
      R"({"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1},"messages":[{"role":"user","content":"q"}]})", 64);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->include_usage());
  r->request_usage();
  auto to = [&](bool takes) { return nlohmann::json::parse(r->upstream_body("m", takes)); };
  EXPECT_EQ(to(true)["stream_options"]["include_usage"], true);
  EXPECT_EQ(to(false)["stream_options"], nlohmann::json::parse(R"({"x":1})"));
  EXPECT_EQ(to(true)["stream_options"]["include_usage"], true);

  auto plain = chat_request::parse(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"q"}]})", 64);
  ASSERT_TRUE(plain);
  plain->request_usage();
  EXPECT_FALSE(nlohmann::json::parse(plain->upstream_body("m", false)).contains("stream_options"));

  auto asked = chat_request::parse(
      R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"q"}]})", 64);
  ASSERT_TRUE(asked);
  asked->request_usage();  // nothing to add: the client asked
  EXPECT_EQ(nlohmann::json::parse(asked->upstream_body("m", false))["stream_options"]["include_usage"], true);
}

// Issue 22 (F12): the filter is not skipped under any member that happens to be called
// `parameters`, `schema` or `json_schema`, and it sees the names' other spellings.
TEST(chat_request, redirecting_fields_are_refused_in_every_spelling_and_outside_real_schemas) {
  for (auto extra : {R"("parameters":{"api_base":"x"})", R"("schema":{"base_url":"x"})",
                     R"("json_schema":{"api_key":"x"})", R"("metadata":{"schema":{"api_base":"x"}})",
                     R"("API_BASE":"x")", R"("baseURL":"x")", R"("apiKey":"x")", R"("Api-Base":"x")",
                     R"("azure_endpoint":"x")", R"("endpoint":"x")", R"("extra_body":{"upstreamHost":"x"})",
                     R"("tools":[{"type":"function","function":{"name":"f","base_url":"x","parameters":{}}}])",
                     R"("response_format":{"type":"json_schema","json_schema":{"name":"n","api_base":"x","schema":{}}})",
                     R"("a_rather_long_parameter_name_for_the_upstream_HOST":"x")", R"("x-Host":"x")"}) {
    auto e = error_of(with(extra));
    EXPECT_EQ(e.code, "forbidden_parameter") << extra;
  }
  // Names that only look alike are data.
  for (auto extra : {R"("hostname":"x")", R"("api_base_is_a_longer_name":"x")", R"("ost":"x")", R"("base":"x")"})
    EXPECT_TRUE(chat_request::parse(with(extra), 64).has_value()) << extra;
  // Real JSON-Schema positions hold the caller's own property names: data, not routing.
  for (auto extra :
       {R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"base_url":{"type":"string"},"endpoint":{"type":"string"}}}}}])",
        R"("response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object","properties":{"api_base":{"type":"string"}}}}})"}) {
    auto r = chat_request::parse(with(extra), 64);
    EXPECT_TRUE(r.has_value()) << extra << ": " << (r ? "" : r.error().message);
  }
}

// Issue 22 (F9): a body of many tiny values is refused by a pre-pass, before any DOM is built.
TEST(chat_request, bodies_with_too_many_json_values_are_refused_before_parsing) {
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += i ? ",{}" : "{}";
  many += "]";
  auto r = chat_request::parse(with("\"metadata\":{\"x\":" + many + "}"), 64, 500);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "json_too_large");
  EXPECT_EQ(r.error().status, 413u);
  EXPECT_TRUE(chat_request::parse(with("\"metadata\":{\"x\":" + many + "}"), 64, 5000).has_value());
  // Values are counted outside strings only.
  EXPECT_EQ(deepgate::http::json_shape(R"({"a":"[,,,,{}]","b":[1,2,3]})", 64, 100).values, 6u);
  EXPECT_EQ(deepgate::http::json_shape("[" + std::string(100, '[') , 1000, 10).values, 11u);  // stops past the limit
}

// Issue 16: user_id per owner replaces the client's on backends that set it, and a fallback that
// does not set it gets the client's own value back.
TEST(chat_request, user_id_is_set_per_attempt) {
  auto r = parse_ok(with(R"("user_id":"client-7")"));
  auto owner = deepgate::api::owner_user_id("acme");
  EXPECT_EQ(owner.size(), 35u);
  EXPECT_TRUE(owner.starts_with("dg-"));
  EXPECT_EQ(owner, deepgate::api::owner_user_id("acme"));
  EXPECT_NE(owner, deepgate::api::owner_user_id("acme2"));
  EXPECT_EQ(nlohmann::json::parse(r.upstream_body("m", true, owner))["user_id"], owner);
  EXPECT_EQ(nlohmann::json::parse(r.upstream_body("m", true))["user_id"], "client-7");
  auto none = parse_ok(good);
  EXPECT_EQ(nlohmann::json::parse(none.upstream_body("m", true, owner))["user_id"], owner);
  EXPECT_FALSE(nlohmann::json::parse(none.upstream_body("m", true)).contains("user_id"));
}

// Embeddings (issue 18): OpenAI's input forms, estimates without a completion, always
// deterministic, another route's fields never added.
TEST(embeddings_request, input_forms_estimates_and_what_goes_upstream) {
  using deepgate::api::request_kind;
  auto parse = [](const std::string& body) { return chat_request::parse(body, 64, 200'000, request_kind::embeddings); };
  for (const char* ok : {R"({"model":"m","input":"hello"})", R"({"model":"m","input":["a","b"]})",
                         R"({"model":"m","input":[1,2,3]})", R"({"model":"m","input":[[1,2],[3]]})",
                         R"({"model":"m","input":"x","encoding_format":"base64","dimensions":256,"user":"u"})"}) {
    auto r = parse(ok);
    ASSERT_TRUE(r) << ok << ": " << (r ? "" : r.error().message);
    EXPECT_EQ(r->kind(), request_kind::embeddings);
    EXPECT_FALSE(r->stream());
    EXPECT_TRUE(r->deterministic(true));  // thinking defaults mean nothing here
    EXPECT_EQ(r->completion_reserve(4096), 0);
    EXPECT_GT(r->prompt_token_estimate(), 0);
  }
  struct bad {
    const char* body;
    const char* param;
  };
  for (auto [body, param] : std::vector<bad>{{R"({"input":"x"})", "model"},
                                             {R"({"model":"m"})", "input"},
                                             {R"({"model":"m","input":""})", "input"},
                                             {R"({"model":"m","input":[]})", "input"},
                                             {R"({"model":"m","input":["a",""]})", "input[1]"},
                                             {R"({"model":"m","input":[1,"a"]})", "input[1]"},
                                             {R"({"model":"m","input":[[1],[]]})", "input[1]"},
                                             {R"({"model":"m","input":[-1]})", "input[0]"},
                                             {R"({"model":"m","input":true})", "input"},
                                             {R"({"model":"m","input":"x","encoding_format":"hex"})", "encoding_format"},
                                             {R"({"model":"m","input":"x","dimensions":-2})", "dimensions"},
                                             {R"({"model":"m","input":"x","stream":true})", "stream"},
                                             {R"({"model":"m","input":"x","user":5})", "user"},
                                             {R"({"model":"m","input":"x","extra":{"base_url":"http://x"}})", "extra.base_url"}}) {
    auto r = parse(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().param, param) << body << ": " << r.error().message;
  }
  std::string many = R"({"model":"m","input":[)";
  for (int i = 0; i < 2049; ++i) many += i ? ",\"a\"" : "\"a\"";
  EXPECT_FALSE(parse(many + "]}"));
  // The long input costs more than the short one, and a chat-only field is never added upstream.
  auto small = parse(R"({"model":"m","input":"hi"})"), large = parse(R"({"model":"m","input":")" + std::string(4000, 'x') + "\"}");
  EXPECT_GT(large->prompt_token_estimate(), small->prompt_token_estimate() + 1000);
  auto sent = nlohmann::json::parse(small->upstream_body("bge-m3", true, "dg-owner-digest"));
  EXPECT_EQ(sent["model"], "bge-m3");
  EXPECT_FALSE(sent.contains("user_id"));
  EXPECT_FALSE(sent.contains("stream_options"));
  // The same body is not a chat request.
  EXPECT_FALSE(chat_request::parse(R"({"model":"m","input":"hi"})", 64));
}

namespace {
using deepgate::api::request_kind;
chat_request::result parse_as(request_kind k, const std::string& body) { return chat_request::parse(body, 64, 200'000, k); }

// Each bad body is refused naming its param; each good one parses.
void refuses(request_kind k, const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [body, param] : cases) {
    auto r = parse_as(k, body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().param, param) << body << ": " << r.error().message;
  }
}
}  // namespace

TEST(completions_request, prompt_forms_suffix_stream_options_and_estimates) {
  for (const char* ok : {R"({"model":"m","prompt":"def f(","suffix":"return 1"})", R"({"model":"m","prompt":["a","b"]})",
                         R"({"model":"m","prompt":[1,2,3]})", R"({"model":"m","prompt":[[1,2],[3]]})",
                         R"({"model":"m","prompt":"","echo":false,"logprobs":3,"max_tokens":64,"stream":true,"stream_options":{"include_usage":true}})"}) {
    auto r = parse_as(request_kind::completions, ok);
    ASSERT_TRUE(r) << ok << ": " << (r ? "" : r.error().message);
    EXPECT_TRUE(r->takes_stream_options());
    EXPECT_FALSE(r->has_tools());
    EXPECT_FALSE(r->needs_beta());
  }
  refuses(request_kind::completions, {{R"({"model":"m"})", "prompt"},
                                      {R"({"model":"m","prompt":{"a":1}})", "prompt"},
                                      {R"({"model":"m","prompt":[]})", "prompt"},
                                      {R"({"model":"m","prompt":["a",{}]})", "prompt[1]"},
                                      {R"({"model":"m","prompt":"x","suffix":3})", "suffix"},
                                      {R"({"model":"m","prompt":"x","logprobs":21})", "logprobs"},
                                      {R"({"model":"m","prompt":"x","temperature":3})", "temperature"},
                                      {R"({"model":"m","prompt":"x","stream_options":{}})", "stream_options"},
                                      {R"({"model":"m","prompt":"x","echo":"yes"})", "echo"}});
  auto r = parse_as(request_kind::completions, R"({"model":"m","prompt":")" + std::string(1000, 'a') +
                                                   R"(","suffix":")" + std::string(1000, 'b') + R"(","max_tokens":50,"n":2})");
  EXPECT_GT(r->prompt_token_estimate(), 550);  // prompt and suffix both count
  EXPECT_EQ(r->completion_reserve(4096), 100);
  // The usage chunk is asked for on a stream, and logprobs (a count here) keep it out of the cache.
  auto s = parse_as(request_kind::completions, R"({"model":"m","prompt":"x","stream":true,"logprobs":2})");
  EXPECT_TRUE(s->logprobs());
  s->request_usage();
  EXPECT_EQ(nlohmann::json::parse(s->upstream_body("deepseek-flash"))["stream_options"]["include_usage"], true);
}

TEST(responses_request, input_forms_stateless_fields_and_estimates) {
  for (const char* ok : {R"({"model":"m","input":"hi"})",
                         R"({"model":"m","input":[{"role":"user","content":"hi"}],"instructions":"brief","stream":true})",
                         R"({"model":"m","input":"x","max_output_tokens":100,"store":false})"}) {
    auto r = parse_as(request_kind::responses, ok);
    ASSERT_TRUE(r) << ok << ": " << (r ? "" : r.error().message);
    EXPECT_FALSE(r->takes_stream_options());
    EXPECT_FALSE(r->deterministic());
  }
  refuses(request_kind::responses, {{R"({"model":"m"})", "input"},
                                    {R"({"model":"m","input":[]})", "input"},
                                    {R"({"model":"m","input":[3]})", "input[0]"},
                                    {R"({"model":"m","input":"x","previous_response_id":"resp_1"})", "previous_response_id"},
                                    {R"({"model":"m","input":"x","conversation":"conv_1"})", "conversation"},
                                    {R"({"model":"m","input":"x","background":true})", "background"},
                                    {R"({"model":"m","input":"x","max_output_tokens":0})", "max_output_tokens"},
                                    {R"({"model":"m","input":"x","stream":"yes"})", "stream"}});
  auto r = parse_as(request_kind::responses, R"({"model":"m","input":"hi","max_output_tokens":300})");
  EXPECT_EQ(r->completion_reserve(4096), 300);
  // The request's own schemas (a function's parameters, text.format.schema) hold property names,
  // not routing; the same name anywhere else is refused.
  EXPECT_TRUE(parse_as(request_kind::responses,
                       R"({"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":{"properties":{"api_host":{}}}}],)"
                       R"("text":{"format":{"type":"json_schema","schema":{"properties":{"base_url":{}}}}}})"));
  refuses(request_kind::responses, {{R"({"model":"m","input":"x","text":{"base_url":"http://x"}})", "text.base_url"}});
}

TEST(messages_request, anthropic_schema_estimates_and_metadata_user_id) {
  const std::string good_message = R"({"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]})";
  for (const std::string& ok :
       {good_message,
        std::string(R"({"model":"m","max_tokens":5,"system":"brief","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":"ok"}]})"),
        std::string(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"t","input_schema":{"properties":{"api_key":{}}}}]})")}) {
    auto r = parse_as(request_kind::messages, ok);
    ASSERT_TRUE(r) << ok << ": " << (r ? "" : r.error().message);
    EXPECT_FALSE(r->has_tools());  // the reasoning repair is chat's
  }
  refuses(request_kind::messages, {{R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}]})", "model"},
                                   {R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "max_tokens"},
                                   {R"({"model":"m","max_tokens":5})", "messages"},
                                   {R"({"model":"m","max_tokens":5,"messages":[]})", "messages"},
                                   {R"({"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]})", "messages.0.role"},
                                   {R"({"model":"m","max_tokens":5,"messages":[{"role":"user"}]})", "messages.0.content"},
                                   {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]})", "messages.0.content.0.type"},
                                   {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"temperature":1.5})", "temperature"},
                                   {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop_sequences":[1]})", "stop_sequences"},
                                   {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":{"base_url":"x"}})", "metadata.base_url"}});
  // The error text is Anthropic's wording.
  EXPECT_EQ(parse_as(request_kind::messages, R"({"model":"m","messages":[{"role":"user","content":"x"}]})").error().message,
            "max_tokens: Field required");
  auto r = parse_as(request_kind::messages, good_message);
  EXPECT_EQ(r->completion_reserve(4096), 100);
  EXPECT_GT(r->prompt_token_estimate(), 0);
  // DeepSeek reads metadata.user_id; each attempt sets it afresh and keeps the client's other fields.
  auto m = parse_as(request_kind::messages, R"({"model":"m","max_tokens":5,"metadata":{"x":1},"messages":[{"role":"user","content":"x"}]})");
  auto a = nlohmann::json::parse(m->upstream_body("deepseek-flash", true, "dg-abc"));
  EXPECT_EQ(a["metadata"]["user_id"], "dg-abc");
  EXPECT_EQ(a["metadata"]["x"], 1);
  auto b = nlohmann::json::parse(m->upstream_body("deepseek-flash", true, ""));
  EXPECT_FALSE(b["metadata"].contains("user_id"));
  EXPECT_FALSE(b.contains("user_id"));
  // count_tokens: no max_tokens, no stream, nothing reserved for output.
  auto c = parse_as(request_kind::count_tokens, R"({"model":"m","messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->completion_reserve(4096), 0);
  refuses(request_kind::count_tokens, {{R"({"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]})", "stream"}});
}

TEST(chat_request, needs_beta_for_prefix_completion_and_strict_tools) {
  EXPECT_FALSE(parse_ok(good).needs_beta());
  EXPECT_TRUE(parse_ok(R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"```","prefix":true}]})")
                  .needs_beta());
  // prefix only counts on the last message, and only when true
  EXPECT_FALSE(parse_ok(R"({"model":"m","messages":[{"role":"assistant","content":"a","prefix":true},{"role":"user","content":"x"}]})")
                   .needs_beta());
  EXPECT_FALSE(parse_ok(R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"a","prefix":false}]})")
                   .needs_beta());
  EXPECT_TRUE(parse_ok(with(R"("tools":[{"type":"function","function":{"name":"f","strict":true,"parameters":{}}}])")).needs_beta());
  EXPECT_FALSE(parse_ok(with(R"("tools":[{"type":"function","function":{"name":"f","parameters":{}}}])")).needs_beta());
}

#include "deepgate/api/route_spec.hpp"

TEST(route_spec, paths_and_stream_ends) {
  using namespace deepgate::api;
  EXPECT_EQ(route_for_path("/v1/chat/completions"), &chat_route);
  EXPECT_EQ(route_for_path("/completions"), &completions_route);
  EXPECT_EQ(route_for_path("/responses"), &responses_route);
  EXPECT_EQ(route_for_path("/v1/messages/count_tokens"), &count_tokens_route);
  EXPECT_EQ(route_for_path("/messages"), nullptr);  // Anthropic's clients always say /v1
  EXPECT_EQ(route_for_path("/v1/chat/completions/"), nullptr);
  deepgate::http::sse_event done{deepgate::http::sse_event::kind::data, "", "[DONE]", ""};
  deepgate::http::sse_event completed{deepgate::http::sse_event::kind::data, "response.completed", "{}", ""};
  deepgate::http::sse_event unnamed_stop{deepgate::http::sse_event::kind::data, "", R"({"type": "message_stop"})", ""};
  deepgate::http::sse_event delta{deepgate::http::sse_event::kind::data, "content_block_delta", R"({"type":"content_block_delta"})", ""};
  deepgate::http::sse_event comment{deepgate::http::sse_event::kind::comment, "", "message_stop", ""};
  EXPECT_TRUE(ends_stream(stream_end::done_marker, done));
  EXPECT_FALSE(ends_stream(stream_end::done_marker, completed));
  EXPECT_TRUE(ends_stream(stream_end::responses_terminal, completed));
  EXPECT_FALSE(ends_stream(stream_end::responses_terminal, done));
  EXPECT_TRUE(ends_stream(stream_end::message_stop, unnamed_stop));
  EXPECT_FALSE(ends_stream(stream_end::message_stop, delta));
  EXPECT_FALSE(ends_stream(stream_end::message_stop, comment));
}

// Issue 19: the backend gets the client's bytes with the gateway's members spliced in, so every
// byte the gateway does not set goes through as sent (whitespace, escapes, number spellings, key
// order), and a key written twice is refused.
TEST(splice_forwarding, untouched_members_go_as_the_client_wrote_them) {
  const std::string body =
      "\xEF\xBB\xBF {\n  \"messages\" : [ {\"role\":\"user\", \"content\":\"caf\\u00e9 \xC3\xA9 \\\"q\\\" \\\\ \\n \\ud83d\\ude00\"} ],"
      "\"model\":\"deepseek-chat\" , \"x-number\":1e2,\"temperature\":0.10, \"x-extra\":{\"b\":[1, 2],\"a\":null}\n}\n";
  auto r = parse_ok(body);
  EXPECT_EQ(r.upstream_body("deepseek-v4-flash"),
            "{\"messages\" : [ {\"role\":\"user\", \"content\":\"caf\\u00e9 \xC3\xA9 \\\"q\\\" \\\\ \\n \\ud83d\\ude00\"} ],"
            "\"model\":\"deepseek-v4-flash\",\"x-number\":1e2,\"temperature\":0.10,\"x-extra\":{\"b\":[1, 2],\"a\":null}}");
  // A model name that needs escapes is written escaped.
  auto q = parse_ok(good);
  EXPECT_EQ(nlohmann::json::parse(q.upstream_body("we\"ird\\name\x01"))["model"], "we\"ird\\name\x01");
}

TEST(splice_forwarding, an_escaped_key_is_the_key_it_spells) {
  // "\u006dodel" is "model" to every JSON parser: it is replaced, not kept beside a new one.
  auto r = parse_ok(R"({"\u006dodel":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"us\u0065r_id":"c1"})");
  EXPECT_EQ(r.model(), "deepseek-chat");
  EXPECT_EQ(r.upstream_body("up", true, "dg-o"), R"({"model":"up","messages":[{"role":"user","content":"hi"}],"user_id":"dg-o"})");
}

TEST(splice_forwarding, a_key_written_twice_is_refused_at_any_depth) {
  for (const std::string& body :
       {std::string(R"({"model":"cheap","messages":[{"role":"user","content":"hi"}],"model":"costly"})"),
        std::string(R"({"model":"m","\u006dodel":"m","messages":[{"role":"user","content":"hi"}]})"),
        std::string(R"({"model":"m","messages":[{"role":"user","content":"hi","role":"system"}]})"),
        std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false,"include_usage":true}})"),
        std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"x":[[{"a":{"k":1,"k":1}}]]})")}) {
    auto e = error_of(body);
    EXPECT_EQ(e.status, 400u) << body;
    EXPECT_EQ(e.code, "duplicate_key") << body;
  }
  EXPECT_EQ(error_of(R"({"model":"a","model":"b","messages":[]})").message,
            "The JSON body repeats the key 'model' in one object; each key may appear once.");
  EXPECT_NE(error_of(with(R"("x":{"role":1,"deep":{"role":2,"role":3}})")).message.find("'role'"), std::string::npos);
  // The same key in sibling objects, and "a:b" inside strings, are not repeats.
  EXPECT_TRUE(chat_request::parse(
      R"({"model":"m","messages":[{"role":"user","content":"a:b"},{"role":"assistant","content":"c"}],"x":{"model":"y"}})", 64));
}

TEST(splice_forwarding, the_gateways_members_are_rewritten_added_and_removed) {
  // user_id: the owner's replaces the client's in place; without an owner's the client's goes; a
  // route that has none leaves it.
  auto r = parse_ok(R"({"user_id":"client-7","model":"m","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.upstream_body("up", true, "dg-1"), R"({"user_id":"dg-1","model":"up","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.upstream_body("up", true), R"({"user_id":"client-7","model":"up","messages":[{"role":"user","content":"hi"}]})");
  auto plain = parse_ok(good);
  EXPECT_EQ(plain.upstream_body("up", true, "dg-1"),
            R"({"model":"up","messages":[{"role":"user","content":"hi"}],"user_id":"dg-1"})");
  EXPECT_EQ(plain.upstream_body("up", true), R"({"model":"up","messages":[{"role":"user","content":"hi"}]})");
  // stream_options: the usage chunk asked for where the backend takes it, the client's other
  // options kept, an object left empty dropped.
  auto s = parse_ok(with(R"("stream":true,"stream_options":{"x":1})"));
  s.request_usage();
  EXPECT_EQ(s.upstream_body("up", true),
            R"({"model":"up","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true,"x":1}})");
  EXPECT_EQ(s.upstream_body("up", false),
            R"({"model":"up","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"x":1}})");
  auto bare = parse_ok(with(R"("stream":true)"));
  bare.request_usage();
  EXPECT_EQ(bare.upstream_body("up", true),
            R"({"model":"up","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}})");
  EXPECT_EQ(bare.upstream_body("up", false), R"({"model":"up","messages":[{"role":"user","content":"hi"}],"stream":true})");
  // Anthropic's metadata.user_id.
  auto m = chat_request::parse(R"({"metadata":{"x":"\u00e9"},"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]})", 64,
                               200'000, deepgate::api::request_kind::messages);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->upstream_body("up", true, "dg-2"),
            "{\"metadata\":{\"user_id\":\"dg-2\",\"x\":\"\xC3\xA9\"},\"model\":\"up\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
}

TEST(splice_forwarding, a_models_set_fields_and_the_reasoning_repair_are_written_from_the_tree) {
  auto r = parse_ok(with(R"("temperature" : 0.5,"top_p":0.9,"thinking":{"type":"enabled"})"));
  deepgate::api::field_patch patch(R"({"thinking":{"type":"disabled"},"top_p":null,"seed":7})");
  r.apply_fields(patch);
  EXPECT_EQ(r.upstream_body("up"),
            R"({"model":"up","messages":[{"role":"user","content":"hi"}],"temperature" : 0.5,"thinking":{"type":"disabled"},"seed":7})");
  // The reasoning repair rewrites messages; the members around it are still the client's bytes.
  auto t = parse_ok(
      R"({"model":"m", "tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]})");
  EXPECT_EQ(t.restore_reasoning([](std::string_view id) -> std::optional<std::string> {
    return id == "c1" ? std::optional<std::string>("because") : std::nullopt;
  }), 1);
  const auto sent = t.upstream_body("up");
  EXPECT_TRUE(sent.starts_with(R"({"model":"up","tools":[{"type":"function","function":{"name":"f"}}],"messages":[)")) << sent;
  EXPECT_EQ(nlohmann::json::parse(sent)["messages"][1]["reasoning_content"], "because");
}

TEST(splice_forwarding, depth_limits_hold_and_a_body_at_the_limit_goes_through_whole) {
  std::string nested = "1";
  for (int i = 0; i < 60; ++i) nested = "[" + nested + "]";
  auto r = chat_request::parse(with("\"x\":" + nested), 61);
  ASSERT_TRUE(r);
  EXPECT_NE(r->upstream_body("up").find("\"x\":" + nested + "}"), std::string::npos);
  auto deeper = chat_request::parse(with("\"x\":[" + nested + "]"), 61);
  ASSERT_FALSE(deeper);
  EXPECT_EQ(deeper.error().code, "json_too_deep");
}
