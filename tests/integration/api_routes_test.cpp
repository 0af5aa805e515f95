// The rest of the API surface (issue 18): completions and FIM, the Responses API, and Anthropic's
// Messages API with count_tokens, through the same stages as chat: keys and model allow-lists,
// limits, metrics, the access log, backends with per-route paths and capabilities, fallbacks.
// The backend is deepgate-mock declaring DeepSeek's paths (FIM and prefix completion under
// /beta, the Anthropic API under /anthropic) unless a test says otherwise.
#include "fixture.hpp"

#include <gtest/gtest.h>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {

constexpr const char* narrow_key = "dg-test-key-for-integration-0003";

// `narrow` may use deepseek-v4-pro only, two requests at once at most (its profile `tight`).
std::string keys_yaml() {
  return auth_yaml_with({{"narrow", "narrow", narrow_key, "models: [deepseek-v4-pro], limits: tight"}});
}
std::string limits_yaml(const std::string& default_limits = {}) {
  return "limits:\n" + (default_limits.empty() ? std::string() : "  default: " + default_limits + "\n") +
         "  profiles:\n    tight: {requests_per_minute: 60, request_burst: 2}\n";
}

constexpr const char* deepseek_routes =
    "routes: {chat: /chat/completions, chat_beta: /beta/chat/completions, completions: /beta/completions, "
    "responses: /responses, messages: /anthropic/v1/messages}";

// deepseek-flash on `primary` (DeepSeek's paths), with `fallback` (a self-hosted server at the
// usual paths) behind it when given.
std::string yaml(std::uint16_t primary, std::uint16_t fallback = 0, const std::string& extra = {}) {
  std::string y = "server: {host: 127.0.0.1, port: 0, workers: 2}\nbackends:\n"
                  "  - {name: deepseek, url: 'http://127.0.0.1:" + std::to_string(primary) + "', breaker: {failures: 0}, " +
                  deepseek_routes + "}\n";
  if (fallback) y += "  - {name: vllm, url: 'http://127.0.0.1:" + std::to_string(fallback) + "/v1', breaker: {failures: 0}}\n";
  y += "models:\n  - {name: deepseek-flash, backend: deepseek";
  if (fallback) y += ", fallback: [vllm]";
  y += "}\n  - {name: deepseek-v4-pro, backend: deepseek}\n";
  return y + keys_yaml() + "admin: {port: 0}\n" + (extra.empty() ? limits_yaml() : extra);
}

headers bearer(const char* key = test_key) { return {{"Authorization", std::string("Bearer ") + key}}; }
headers anthropic(const char* key = test_key) {
  return {{"x-api-key", key}, {"anthropic-version", "2023-06-01"}, {"anthropic-beta", "test-beta-2026-01-01"}};
}

std::string fim(const std::string& prompt, const std::string& extra = {}) {
  json j = {{"model", "deepseek-flash"}, {"prompt", prompt}, {"suffix", "\n    return x"}, {"max_tokens", 64}};
  if (!extra.empty()) j.update(json::parse(extra));
  return j.dump();
}
std::string response_body(const std::string& input, const std::string& extra = {}) {
  json j = {{"model", "deepseek-flash"}, {"input", input}};
  if (!extra.empty()) j.update(json::parse(extra));
  return j.dump();
}
std::string message_body(const std::string& text, const std::string& extra = {}, const std::string& model = "deepseek-flash") {
  json j = {{"model", model}, {"max_tokens", 256}, {"messages", {{{"role", "user"}, {"content", text}}}}};
  if (!extra.empty()) j.update(json::parse(extra));
  return j.dump();
}

// The events of an SSE body: (event name or "", data).
std::vector<std::pair<std::string, std::string>> events(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    std::string name, data;
    std::size_t line = pos;
    while (line < end) {
      auto eol = body.find('\n', line);
      if (eol == std::string::npos || eol > end) eol = end;
      std::string_view l(body.data() + line, eol - line);
      if (l.starts_with("event: ")) name = l.substr(7);
      else if (l.starts_with("data: ")) data = l.substr(6);
      line = eol + 1;
    }
    if (!name.empty() || !data.empty()) out.emplace_back(name, data);
    pos = end + 2;
  }
  return out;
}

std::uint64_t path_count(const mock_server& m, const std::string& path) {
  auto p = m.stats()["paths"];
  return p.contains(path) ? p[path].get<std::uint64_t>() : 0;
}

double tokens(const gateway_server& gw, const std::string& type) {
  return metric_value(gw.metrics(), R"(deepgate_tokens_total{model="deepseek-flash",owner="tests",type=")" + type + "\"}");
}

}  // namespace

TEST(api_routes, fim_reaches_the_beta_path_streamed_or_not_with_its_usage_counted) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(yaml(mock->port));
  auto r = post_json(gw->port, "/v1/completions", fim("def fib(a):"), bearer());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_FALSE(j["choices"][0]["text"].get<std::string>().empty());
  EXPECT_EQ(path_count(*mock, "/beta/completions"), 1u);
  EXPECT_EQ(mock->last_request()["body"]["suffix"], "\n    return x");
  const auto prompt = j["usage"]["prompt_tokens"].get<double>(), completion = j["usage"]["completion_tokens"].get<double>();
  ASSERT_TRUE(eventually([&] { return tokens(*gw, "prompt") == prompt && tokens(*gw, "completion") == completion; }));

  // Streamed without include_usage: the gateway asks for the usage chunk, counts it, and the
  // client never sees it; the stream ends with [DONE].
  auto s = post_json(gw->port, "/completions", fim("def fib(b):", R"({"stream":true})"), bearer());
  ASSERT_EQ(s.status, 200) << s.body;
  auto items = sse_items(s.body);
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items.back(), "[DONE]");
  std::string text;
  for (std::size_t i = 0; i + 1 < items.size(); ++i) {
    auto c = json::parse(items[i]);
    EXPECT_FALSE(c.contains("usage")) << items[i];
    text += c["choices"][0]["text"].get<std::string>();
  }
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(mock->last_request()["body"]["stream_options"]["include_usage"], true);
  EXPECT_EQ(path_count(*mock, "/beta/completions"), 2u);
  ASSERT_TRUE(eventually([&] { return tokens(*gw, "completion") > completion; }));
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), R"(deepgate_requests_total{route="completions",status_class="2xx"})") == 2;
  }));
  ASSERT_TRUE(eventually([&] { return gw->access_lines().size() >= 2; }));
  EXPECT_EQ(gw->access_lines().back()["route"], "completions");

  // DeepSeek's FIM limit is the backend's to enforce: its 422 comes back as it said it.
  auto big = post_json(gw->port, "/v1/completions", fim("x", R"({"max_tokens":8000})"), bearer());
  EXPECT_EQ(big.status, 422) << big.body;
  EXPECT_NE(json::parse(big.body)["error"]["message"].get<std::string>().find("max_tokens"), std::string::npos);
}

TEST(api_routes, chat_that_needs_the_beta_goes_to_the_beta_path) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(yaml(mock->port));
  const json prefix = {{"model", "deepseek-flash"},
                       {"messages", {{{"role", "user"}, {"content", "Write quicksort"}},
                                     {{"role", "assistant"}, {"content", "```python\n"}, {"prefix", true}}}}};
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", prefix.dump(), bearer()).status, 200);
  EXPECT_EQ(path_count(*mock, "/beta/chat/completions"), 1u);
  json strict = json::parse(chat_body("weather?", false, "deepseek-flash"));
  strict["tools"] = {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"strict", true},
                                                          {"parameters", {{"type", "object"}, {"properties", json::object()}}}}}}};
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", strict.dump(), bearer()).status, 200);
  EXPECT_EQ(path_count(*mock, "/beta/chat/completions"), 2u);
  // Everything else stays on the plain path.
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("plain", false, "deepseek-flash"), bearer()).status, 200);
  EXPECT_EQ(path_count(*mock, "/chat/completions"), 1u);
  EXPECT_EQ(path_count(*mock, "/beta/chat/completions"), 2u);
}

TEST(api_routes, responses_streamed_and_not_with_usage_and_no_stored_state) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(yaml(mock->port));
  auto r = post_json(gw->port, "/v1/responses", response_body("Say hello", R"({"instructions":"Be brief."})"), bearer());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "response");
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["output"][0]["content"][0]["type"], "output_text");
  EXPECT_EQ(path_count(*mock, "/responses"), 1u);
  const auto in = j["usage"]["input_tokens"].get<double>(), out = j["usage"]["output_tokens"].get<double>();
  ASSERT_TRUE(eventually([&] { return tokens(*gw, "prompt") == in && tokens(*gw, "completion") == out; }));

  auto s = post_json(gw->port, "/responses", response_body("Stream it [mock tokens=4]", R"({"stream":true})"), bearer());
  ASSERT_EQ(s.status, 200) << s.body;
  auto ev = events(s.body);
  ASSERT_GE(ev.size(), 9u) << s.body;
  EXPECT_EQ(ev.front().first, "response.created");
  EXPECT_EQ(ev.back().first, "response.completed");
  int deltas = 0;
  for (auto& [name, data] : ev) {
    EXPECT_EQ(json::parse(data)["type"], name);  // relayed as they came, names and data together
    deltas += name == "response.output_text.delta";
  }
  EXPECT_EQ(deltas, 4);
  const auto usage = json::parse(ev.back().second)["response"]["usage"];
  ASSERT_TRUE(eventually([&] { return tokens(*gw, "completion") == out + usage["output_tokens"].get<double>(); }));
  EXPECT_EQ(tokens(*gw, "prompt"), in + usage["input_tokens"].get<double>());
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), R"(deepgate_requests_total{route="responses",status_class="2xx"})") == 2;
  }));

  // The gateway keeps no responses: a follow-up by id is refused before any backend sees it.
  auto follow = post_json(gw->port, "/v1/responses", response_body("and then?", R"({"previous_response_id":"resp_1"})"), bearer());
  EXPECT_EQ(follow.status, 400);
  auto e = json::parse(follow.body)["error"];
  EXPECT_EQ(e["param"], "previous_response_id");
  EXPECT_EQ(e["code"], "unsupported_parameter");
  EXPECT_EQ(post_json(gw->port, "/v1/responses", R"({"model":"deepseek-flash"})", bearer()).status, 400);
  EXPECT_EQ(path_count(*mock, "/responses"), 2u);

  // A stream that stops before its terminal event ends in the Responses API's error event.
  auto cut = post_json(gw->port, "/v1/responses", response_body("cut [mock no_done=1]", R"({"stream":true})"), bearer());
  auto cut_ev = events(cut.body);
  ASSERT_FALSE(cut_ev.empty());
  EXPECT_EQ(cut_ev.back().first, "error");
  auto err = json::parse(cut_ev.back().second);
  EXPECT_EQ(err["type"], "error");
  EXPECT_EQ(err["code"], "upstream_reset");
}

TEST(api_routes, anthropic_messages_streamed_and_not_with_usage_headers_and_count_tokens) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(yaml(mock->port));
  auto r = post_json(gw->port, "/v1/messages", message_body("Hi, how are you?", R"({"system":"Be brief."})"), anthropic());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["content"][0]["type"], "text");
  EXPECT_EQ(j["stop_reason"], "end_turn");
  EXPECT_EQ(path_count(*mock, "/anthropic/v1/messages"), 1u);
  auto sent = mock->last_request();
  EXPECT_EQ(sent["headers"]["anthropic-version"], "2023-06-01");
  EXPECT_EQ(sent["headers"]["anthropic-beta"], "test-beta-2026-01-01");
  EXPECT_FALSE(sent["headers"].contains("x-api-key"));  // the client's key never goes upstream
  // Anthropic's input_tokens leave out the cached part: the prompt is both.
  const auto prompt = j["usage"]["input_tokens"].get<double>() + j["usage"]["cache_read_input_tokens"].get<double>();
  const auto out = j["usage"]["output_tokens"].get<double>();
  ASSERT_TRUE(eventually([&] { return tokens(*gw, "prompt") == prompt && tokens(*gw, "completion") == out; }));

  // Streamed, with Bearer: Anthropic's events in order, the usage from message_start (input) and
  // message_delta (output) added up.
  auto s = post_json(gw->port, "/v1/messages", message_body("Stream [mock tokens=5]", R"({"stream":true})"), bearer());
  ASSERT_EQ(s.status, 200) << s.body;
  auto ev = events(s.body);
  std::vector<std::string> names;
  for (auto& e : ev) names.push_back(e.first);
  const std::vector<std::string> expected{"message_start", "content_block_start", "ping", "content_block_delta",
                                          "content_block_delta", "content_block_delta", "content_block_delta",
                                          "content_block_delta", "content_block_stop", "message_delta", "message_stop"};
  EXPECT_EQ(names, expected);
  auto start_usage = json::parse(ev.front().second)["message"]["usage"];
  const auto stream_prompt = start_usage["input_tokens"].get<double>() + start_usage["cache_read_input_tokens"].get<double>();
  ASSERT_TRUE(eventually([&] { return tokens(*gw, "completion") == out + 5; }));
  EXPECT_EQ(tokens(*gw, "prompt"), prompt + stream_prompt);
  // A request is counted when it ends, just after its answer went out: awaited.
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), R"(deepgate_requests_total{route="messages",status_class="2xx"})") == 2;
  }));

  auto count = post_json(gw->port, "/v1/messages/count_tokens",
                         R"({"model":"deepseek-flash","messages":[{"role":"user","content":"count me"}]})", anthropic());
  ASSERT_EQ(count.status, 200) << count.body;
  EXPECT_GT(json::parse(count.body)["input_tokens"].get<int>(), 0);
  EXPECT_EQ(path_count(*mock, "/anthropic/v1/messages/count_tokens"), 1u);
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), R"(deepgate_requests_total{route="count_tokens",status_class="2xx"})") == 1;
  }));
  EXPECT_EQ(tokens(*gw, "completion"), out + 5);  // counting generates nothing
}

// Every refusal on /v1/messages is in Anthropic's shape with Anthropic's type for its status, and
// the model check runs before DeepSeek's own mapping of claude-* names could widen what a key
// may use.
TEST(api_routes, anthropic_errors_come_in_anthropic_shape) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(yaml(mock->port));
  auto check = [&](const http_response& r, unsigned status, const std::string& type) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = json::parse(r.body);
    EXPECT_EQ(j["type"], "error") << r.body;
    EXPECT_EQ(j["error"]["type"], type) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
    EXPECT_FALSE(j["error"].contains("param")) << r.body;
  };
  check(post_json(gw->port, "/v1/messages", message_body("hi"), anthropic("dg-not-a-key-0000000000000000")), 401,
        "authentication_error");
  check(post_json(gw->port, "/v1/messages", message_body("hi", {}, "claude-opus-4-1"), anthropic()), 404, "not_found_error");
  check(post_json(gw->port, "/v1/messages", message_body("hi"), anthropic(narrow_key)), 404, "not_found_error");
  check(post_json(gw->port, "/v1/messages", R"({"model":"deepseek-flash","messages":[{"role":"user","content":"x"}]})",
                  anthropic()),
        400, "invalid_request_error");
  check(post_json(gw->port, "/v1/messages", R"({"model":"deepseek-flash","max_tokens":5,"messages":[{"role":"system","content":"x"}]})",
                  anthropic()),
        400, "invalid_request_error");
  check(http_call(gw->port, "GET", "/v1/messages", {}, anthropic()), 405, "invalid_request_error");
  // The limits answer in the route's dialect too, with Retry-After.
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(post_json(gw->port, "/v1/messages", message_body("ok", {}, "deepseek-v4-pro"), anthropic(narrow_key)).status, 200);
  auto limited = post_json(gw->port, "/v1/messages", message_body("ok", {}, "deepseek-v4-pro"), anthropic(narrow_key));
  check(limited, 429, "rate_limit_error");
  EXPECT_FALSE(limited.header("retry-after").empty());
  // The backend's own errors, whatever their shape, reach the client in Anthropic's.
  check(post_json(gw->port, "/v1/messages", message_body("[mock status=429]"), anthropic()), 429, "rate_limit_error");
  check(post_json(gw->port, "/v1/messages", message_body("[mock status=500]"), anthropic()), 500, "api_error");
  EXPECT_EQ(path_count(*mock, "/anthropic/v1/messages"), 4u);
  // A stream the backend cuts short ends in Anthropic's error event.
  auto cut = post_json(gw->port, "/v1/messages", message_body("cut [mock no_done=1]", R"({"stream":true})"), anthropic());
  auto ev = events(cut.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().first, "error");
  EXPECT_EQ(json::parse(ev.back().second)["error"]["type"], "api_error");
}

TEST(api_routes, token_limits_settle_on_each_routes_usage) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(yaml(mock->port, 0, limits_yaml("{tokens_per_minute: 400}")));
  // Each answer settles its real usage; the budget runs out after a bounded number of requests,
  // and the refusal is in each route's own shape.
  auto exhaust = [&](const std::string& path, const std::string& body, const headers& h) {
    for (int i = 0; i < 40; ++i) {
      auto r = post_json(gw->port, path, body, h);
      if (r.status == 429) return r;
      EXPECT_EQ(r.status, 200) << path << " " << r.body;
    }
    return http_response{};
  };
  auto m = exhaust("/v1/messages", message_body("spend [mock tokens=40]", R"({"max_tokens":50})"), anthropic());
  ASSERT_EQ(m.status, 429);
  EXPECT_EQ(json::parse(m.body)["error"]["type"], "rate_limit_error");
  auto o = post_json(gw->port, "/v1/responses", response_body("more", R"({"max_output_tokens":50})"), bearer());
  ASSERT_EQ(o.status, 429) << o.body;
  EXPECT_EQ(json::parse(o.body)["error"]["code"], "tokens_limit_exceeded");
  // What was settled is what the backend reported: the 400-token budget minus real usage.
  const auto used = tokens(*gw, "prompt") + tokens(*gw, "completion");
  EXPECT_GT(used, 0);
  EXPECT_LE(used, 400);
}

// A route goes to the next backend in line when the first answers 503, on the fallback's own
// (usual) paths; a backend that does not serve a route is never sent it.
TEST(api_routes, each_route_falls_back_on_503_and_capabilities_are_respected) {
  auto failing = mock_server::start({"--status", "503"});
  auto spare = mock_server::start();
  auto gw = gateway_server::start(yaml(failing->port, spare->port));
  struct call {
    std::string path, body, spare_path;
    headers h;
  };
  const std::vector<call> calls{
      {"/v1/chat/completions", chat_body("fall back", false, "deepseek-flash"), "/v1/chat/completions", bearer()},
      {"/v1/completions", fim("def f():"), "/v1/completions", bearer()},
      {"/v1/responses", response_body("fall back"), "/v1/responses", bearer()},
      {"/v1/messages", message_body("fall back"), "/v1/messages", anthropic()},
      {"/v1/messages/count_tokens", R"({"model":"deepseek-flash","messages":[{"role":"user","content":"x"}]})",
       "/v1/messages/count_tokens", anthropic()},
  };
  for (const auto& c : calls) {
    auto r = post_json(gw->port, c.path, c.body, c.h);
    EXPECT_EQ(r.status, 200) << c.path << " " << r.body;
    EXPECT_EQ(path_count(*spare, c.spare_path), 1u) << c.path;
  }
  EXPECT_EQ(failing->chat_requests(), 5u);  // model requests (the mock counts every route's here)

  // A chat-only backend: the other routes are refused with 400 naming the route, in their own
  // dialect, before anything is sent.
  auto chat_only = mock_server::start();
  auto gw2 = gateway_server::start("server: {host: 127.0.0.1, port: 0, workers: 1}\nbackends:\n"
                                   "  - {name: chatonly, url: 'http://127.0.0.1:" + std::to_string(chat_only->port) +
                                   "', routes: [chat]}\nmodels:\n  - {name: deepseek-flash, backend: chatonly}\n" +
                                   keys_yaml() + "admin: {port: 0}\n" + limits_yaml());
  auto fr = post_json(gw2->port, "/v1/completions", fim("x"), bearer());
  EXPECT_EQ(fr.status, 400);
  EXPECT_EQ(json::parse(fr.body)["error"]["code"], "model_not_supported");
  EXPECT_NE(json::parse(fr.body)["error"]["message"].get<std::string>().find("completions"), std::string::npos);
  EXPECT_EQ(json::parse(post_json(gw2->port, "/v1/responses", response_body("x"), bearer()).body)["error"]["code"],
            "model_not_supported");
  auto mr = post_json(gw2->port, "/v1/messages", message_body("x"), anthropic());
  EXPECT_EQ(mr.status, 400);
  EXPECT_EQ(json::parse(mr.body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(chat_only->chat_requests(), 0u);
}
