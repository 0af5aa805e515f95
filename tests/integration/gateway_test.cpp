// The happy path and request validation, through the real gateway to the real mock.
#include "fixture.hpp"

#include <gtest/gtest.h>

using namespace deepgate::test;
using json = nlohmann::json;

class gateway : public shared_gateway<gateway> {
 public:
  static std::vector<std::string> mock_args() { return {"--api-key", "sk-upstream-canary-7731"}; }
  static std::string config(std::uint16_t mock_port) { return gateway_yaml(mock_port, "", "    api_key: sk-upstream-canary-7731\n"); }
};

TEST_F(gateway, non_stream_completion_matches_the_backend) {
  auto body = chat_body("hello there");
  auto r = post_json(gw_->port, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_FALSE(j["choices"][0]["message"]["content"].get<std::string>().empty());
  EXPECT_TRUE(j["usage"].contains("prompt_cache_hit_tokens"));
  EXPECT_FALSE(r.header("x-request-id").empty());
  // The backend saw a re-serialised body with the same content.
  auto seen = mock_->last_request();
  EXPECT_EQ(seen["body"]["messages"][0]["content"], "hello there");
}

TEST_F(gateway, both_chat_paths_work) {
  EXPECT_EQ(post_json(gw_->port, "/chat/completions", chat_body("a")).status, 200);
  EXPECT_EQ(post_json(gw_->port, "/v1/chat/completions", chat_body("a")).status, 200);
}

TEST_F(gateway, stream_relays_events_and_ends_with_done) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("stream me [mock tokens=5]", true));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("text/event-stream", 0), 0u);
  EXPECT_TRUE(r.complete);
  auto items = sse_items(r.body);
  ASSERT_GE(items.size(), 7u);
  EXPECT_EQ(items.back(), "[DONE]");
  std::string text;
  for (std::size_t i = 0; i + 1 < items.size(); ++i) {
    auto j = json::parse(items[i]);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    if (j["choices"][0]["delta"].contains("content") && j["choices"][0]["delta"]["content"].is_string())
      text += j["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_FALSE(text.empty());
}

TEST_F(gateway, reasoner_stream_carries_reasoning_content) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("think [mock tokens=4]", true, "deepseek-reasoner"));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"reasoning_content\":\""), std::string::npos);
}

TEST_F(gateway, events_reach_the_client_as_they_arrive) {
  // 6 tokens at 20 tokens/s: the first event must arrive long before the last one is sent.
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  http_connection c(gw_->port);
  auto r = c.request("POST", "/v1/chat/completions", chat_body("pace [mock tokens=6 tps=20]", true),
                     {{"Content-Type", "application/json"}}, [&](std::string_view) {
                       arrivals.push_back(std::chrono::steady_clock::now());
                       return true;
                     });
  ASSERT_EQ(r.status, 200);
  ASSERT_GE(arrivals.size(), 5u);  // not one buffered blob
  EXPECT_GE(arrivals.back() - arrivals.front(), std::chrono::milliseconds(150));
}

TEST_F(gateway, keep_alive_comments_pass_through_and_blank_lines_are_tolerated) {
  auto s = post_json(gw_->port, "/v1/chat/completions", chat_body("wait [mock queue_ms=120 keepalive_ms=30 tokens=2]", true));
  ASSERT_EQ(s.status, 200);
  auto items = sse_items(s.body);
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items.front(), ": keep-alive");
  EXPECT_EQ(items.back(), "[DONE]");
  auto n = post_json(gw_->port, "/v1/chat/completions", chat_body("wait [mock queue_ms=120 keepalive_ms=30]"));
  ASSERT_EQ(n.status, 200) << n.body;
  EXPECT_EQ(n.body.front(), '{');
  EXPECT_TRUE(json::accept(n.body));
}

TEST_F(gateway, upstream_key_replaces_client_credentials_and_hop_headers_stay) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("creds"),
                     {{"Connection", "keep-alive, X-Hop"},
                      {"X-Hop", "1"},
                      {"Proxy-Authorization", "Basic abc"},
                      {"TE", "trailers"},
                      {"Upgrade", "websocket"},
                      {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto seen = mock_->last_request()["headers"];
  EXPECT_EQ(seen["authorization"], "Bearer sk-upstream-canary-7731");
  EXPECT_EQ(mock_->last_request().dump().find(test_key), std::string::npos);  // the client's key stays here
  for (auto h : {"x-hop", "proxy-authorization", "te", "upgrade"}) EXPECT_FALSE(seen.contains(h)) << h;
  EXPECT_EQ(seen["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(seen["x-request-id"], r.header("x-request-id"));
}

TEST_F(gateway, aliases_map_to_the_backend_model) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("alias", false, "gpt-4o-mini"));
  ASSERT_EQ(r.status, 200) << r.body;
  // gpt-4o-mini is an alias of deepseek-chat, itself DeepSeek's current Flash with thinking off.
  EXPECT_EQ(mock_->last_request()["body"]["model"], "deepseek-flash");
  EXPECT_EQ(mock_->last_request()["body"]["thinking"]["type"], "disabled");
}

TEST_F(gateway, request_id_is_kept_when_well_formed) {
  auto r = http_call(gw_->port, "GET", "/healthz", {}, {{"x-request-id", "abc-123"}});
  EXPECT_EQ(r.header("x-request-id"), "abc-123");
  auto bad = http_call(gw_->port, "GET", "/healthz", {}, {{"x-request-id", "bad id with spaces"}});
  EXPECT_NE(bad.header("x-request-id"), "bad id with spaces");
  EXPECT_FALSE(bad.header("x-request-id").empty());
}

TEST_F(gateway, models_health_and_readiness) {
  auto m = http_call(gw_->port, "GET", "/v1/models");
  ASSERT_EQ(m.status, 200);
  auto j = json::parse(m.body);
  EXPECT_EQ(j["object"], "list");
  std::vector<std::string> ids;
  for (auto& d : j["data"]) ids.push_back(d["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"deepseek-chat", "gpt-4o-mini", "deepseek-reasoner", "deepseek-flash", "deepseek-v4-pro"}));
  EXPECT_EQ(http_call(gw_->port, "GET", "/v1/models/deepseek-reasoner").status, 200);
  EXPECT_EQ(json::parse(http_call(gw_->port, "GET", "/v1/models/nope").body)["error"]["code"], "model_not_found");
  EXPECT_EQ(http_call(gw_->port, "GET", "/healthz").status, 200);
  EXPECT_EQ(http_call(gw_->port, "GET", "/readyz").status, 200);
}

TEST_F(gateway, unknown_path_is_404_and_wrong_method_405_in_openai_shape) {
  auto nf = http_call(gw_->port, "GET", "/v1/embeddings/x");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(json::parse(nf.body)["error"]["code"], "unknown_url");
  auto na = http_call(gw_->port, "GET", "/v1/chat/completions");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.header("allow"), "POST");
  EXPECT_EQ(json::parse(na.body)["error"]["type"], "invalid_request_error");
}

TEST_F(gateway, invalid_requests_are_refused_before_the_backend) {
  auto before = mock_->chat_requests();
  struct bad_case {
    std::string body;
    int status;
    std::string param;
  };
  std::vector<bad_case> cases{
      {"{not json", 400, ""},
      {std::string(100000, '[') + std::string(100000, ']'), 400, ""},
      {R"({"messages":[{"role":"user","content":"x"}]})", 400, "model"},
      {R"({"model":"deepseek-chat"})", 400, "messages"},
      {chat_body("x", false, "deepseek-chat", R"({"n":"two"})"), 400, "n"},
      {chat_body("x", false, "deepseek-chat", R"({"max_tokens":-5})"), 422, "max_tokens"},
      {chat_body("x", false, "deepseek-chat", R"({"stream":"true"})"), 400, "stream"},
      {chat_body("x", false, "deepseek-chat", R"({"temperature":9})"), 422, "temperature"},
      {chat_body("x", false, "deepseek-chat", R"({"api_base":"http://169.254.169.254"})"), 400, "api_base"},
      {chat_body("x", false, "deepseek-chat", R"({"extra":{"deep":[{"x_host":"evil"}]}})"), 400, "extra.deep[0].x_host"},
  };
  for (auto& c : cases) {
    auto r = post_json(gw_->port, "/v1/chat/completions", c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80);
    auto j = json::parse(r.body);
    ASSERT_TRUE(j["error"].is_object());
    EXPECT_TRUE(j["error"]["message"].is_string());
    if (!c.param.empty()) {
      EXPECT_EQ(j["error"]["param"], c.param);
    }
  }
  auto unknown = post_json(gw_->port, "/v1/chat/completions", chat_body("x", false, "gpt-5"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(mock_->chat_requests(), before);  // none of them reached upstream
}

TEST_F(gateway, keep_alive_serves_many_requests_on_one_connection) {
  http_connection c(gw_->port);
  for (int i = 0; i < 20; ++i) {
    auto r = c.request("POST", "/v1/chat/completions", chat_body("ka " + std::to_string(i), i % 2 == 0),
                       {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << i;
    ASSERT_TRUE(r.complete) << i;
  }
}

TEST_F(gateway, upstream_key_never_appears_in_responses_or_logs) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock status=401]"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_authentication_failed");
  EXPECT_EQ(r.body.find("canary"), std::string::npos);
  EXPECT_EQ(gw_->process->log().find("sk-upstream-canary-7731"), std::string::npos);
}
