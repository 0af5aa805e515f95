#include "deepgate/api/upstream_errors.hpp"
#include "deepgate/core/strings.hpp"
#include "deepgate/http/api_error.hpp"
#include "deepgate/http/head_writer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace deepgate;
using upstream::failure;

// core::find (memmem) answers as std::string_view::find does, at every start and edge.
TEST(core_find, agrees_with_string_view_find) {
  const std::string_view text = R"({"a":"\"usage\"","usage":{"x":1},"usage")";
  for (std::string_view needle : {"\"usage\"", "\"", "usage", "{", "absent", "\"usage\")", ""})
    for (std::size_t from = 0; from <= text.size() + 1; ++from)
      EXPECT_EQ(core::find(text, needle, from), text.find(needle, from)) << needle << " from " << from;
  EXPECT_EQ(core::find("", "x"), std::string_view::npos);
  std::string secret_twice = "sk-0123456789 and sk-0123456789";
  EXPECT_TRUE(api::redact(secret_twice, "sk-0123456789"));
  EXPECT_EQ(secret_twice, "[redacted] and [redacted]");
}

TEST(api_error, renders_openai_shape_with_nulls) {
  auto j = nlohmann::json::parse(http::render_error_body(http::invalid_request("bad \"x\"", {}, {})));
  ASSERT_TRUE(j["error"].is_object());
  EXPECT_EQ(j["error"]["message"], "bad \"x\"");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_TRUE(j["error"]["code"].is_null());
  auto ev = http::render_error_event(http::server_error(502, "m", "upstream_reset"));
  EXPECT_TRUE(ev.starts_with("data: {\"error\":"));
  EXPECT_TRUE(ev.ends_with("}\n\n"));
}

TEST(upstream_errors, transport_failures_map_to_502_and_deadlines_to_504) {
  EXPECT_EQ(api::error_from_failure(failure::connect, "ds").status, 502u);
  EXPECT_EQ(api::error_from_failure(failure::tls, "ds").code, "upstream_tls_error");
  EXPECT_EQ(api::error_from_failure(failure::reset_before_headers, "ds").status, 502u);
  EXPECT_EQ(api::error_from_failure(failure::header_timeout, "ds").status, 504u);
  EXPECT_EQ(api::error_from_failure(failure::connect_timeout, "ds").status, 504u);
  EXPECT_EQ(api::error_from_failure(failure::pool_exhausted, "ds").status, 503u);
}

TEST(upstream_errors, deepseek_errors_pass_through) {
  auto body = R"({"error":{"message":"Invalid Parameters: top_p","type":"invalid_request_error","param":null,"code":"invalid_request_error"}})";
  auto e = api::error_from_upstream_status(422, body, "sk-secret", std::nullopt);
  EXPECT_EQ(e.status, 422u);
  EXPECT_EQ(e.message, "Invalid Parameters: top_p");
  auto rl = api::error_from_upstream_status(429, "{}", "", std::chrono::seconds(7));
  EXPECT_EQ(rl.status, 429u);
  EXPECT_EQ(rl.type, "rate_limit_error");
  EXPECT_EQ(rl.retry_after, std::chrono::seconds(7));
  for (unsigned s : {400u, 500u, 503u}) EXPECT_EQ(api::error_from_upstream_status(s, "", "", {}).status, s);
  // self-hosted servers: {"error": "text"} and FastAPI's {"detail": "text"}
  EXPECT_EQ(api::error_from_upstream_status(400, R"({"error":"bad prompt"})", "", {}).message, "bad prompt");
  EXPECT_EQ(api::error_from_upstream_status(400, R"({"detail":"nope"})", "", {}).message, "nope");
}

TEST(upstream_errors, operator_problems_become_502_without_backend_text) {
  auto body = R"({"error":{"message":"Authentication Fails, Your api key: sk-secret-123 is invalid"}})";
  auto e = api::error_from_upstream_status(401, body, "sk-secret-123", {});
  EXPECT_EQ(e.status, 502u);
  EXPECT_EQ(e.code, "upstream_authentication_failed");
  EXPECT_EQ(e.message.find("sk-secret"), std::string::npos);
  EXPECT_EQ(api::error_from_upstream_status(402, "{}", "", {}).code, "upstream_insufficient_balance");
  EXPECT_EQ(api::error_from_upstream_status(302, "", "", {}).code, "upstream_redirect");
}

TEST(upstream_errors, the_upstream_key_is_redacted_from_passed_messages) {
  auto e = api::error_from_upstream_status(400, R"({"error":{"message":"key sk-secret-123 bad"}})", "sk-secret-123", {});
  EXPECT_EQ(e.message, "key [redacted] bad");
  // Issue 22 (F6): every field the client sees, not only the message.
  auto all = api::error_from_upstream_status(
      422, R"({"error":{"message":"m","type":"t sk-secret-123","code":"sk-secret-123","param":"p:sk-secret-123","extra":"sk-secret-123"}})",
      "sk-secret-123", {});
  EXPECT_EQ(all.type, "t [redacted]");
  EXPECT_EQ(all.code, "[redacted]");
  EXPECT_EQ(all.param, "p:[redacted]");
  EXPECT_EQ(http::render_error_body(all).find("sk-secret"), std::string::npos);
}

TEST(upstream_errors, bodies) {
  EXPECT_TRUE(api::is_json_object("\n\n\n{\"a\":1}"));
  EXPECT_FALSE(api::is_json_object("\n\n"));
  EXPECT_FALSE(api::is_json_object("{\"a\":"));
  EXPECT_FALSE(api::is_json_object("<html>502</html>"));
  EXPECT_TRUE(api::is_json_object("{\"a\":1}\n"));
  EXPECT_EQ(api::trim_leading_whitespace("\n \r\n{}"), "{}");
}

TEST(api_error, dialects_render_anthropic_and_responses_shapes) {
  auto e = http::invalid_request("max_tokens: Field required", "max_tokens", "missing_required_parameter");
  auto a = nlohmann::json::parse(http::render_error_body(e, http::error_dialect::anthropic));
  EXPECT_EQ(a["type"], "error");
  EXPECT_EQ(a["error"]["type"], "invalid_request_error");
  EXPECT_EQ(a["error"]["message"], "max_tokens: Field required");
  EXPECT_FALSE(a["error"].contains("param"));
  // The type follows the status, as Anthropic's errors page lists them.
  for (auto [status, type] : std::vector<std::pair<unsigned, const char*>>{
           {401, "authentication_error"}, {402, "billing_error"}, {403, "permission_error"}, {404, "not_found_error"},
           {413, "request_too_large"}, {422, "invalid_request_error"}, {429, "rate_limit_error"}, {500, "api_error"},
           {502, "api_error"}, {503, "overloaded_error"}, {504, "timeout_error"}, {529, "overloaded_error"}})
    EXPECT_EQ(http::anthropic_error_type(status), type) << status;
  auto ev = http::render_error_event(http::server_error(502, "cut", "upstream_reset"), http::error_dialect::anthropic);
  EXPECT_TRUE(ev.starts_with("event: error\ndata: {")) << ev;
  EXPECT_TRUE(ev.ends_with("}\n\n"));
  auto r = http::render_error_event(http::server_error(502, "cut", "upstream_reset"), http::error_dialect::openai_responses);
  ASSERT_TRUE(r.starts_with("event: error\ndata: ")) << r;
  auto j = nlohmann::json::parse(r.substr(19));
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["code"], "upstream_reset");
  EXPECT_EQ(j["message"], "cut");
  EXPECT_EQ(j["error"]["message"], "cut");  // what the openai SDKs raise from
  // The Responses API's JSON errors are OpenAI's.
  EXPECT_EQ(http::render_error_body(e, http::error_dialect::openai_responses), http::render_error_body(e));
  EXPECT_EQ(http::error_dialect_for_path("/v1/messages"), http::error_dialect::anthropic);
  EXPECT_EQ(http::error_dialect_for_path("/v1/messages/count_tokens"), http::error_dialect::anthropic);
  EXPECT_EQ(http::error_dialect_for_path("/v1/messagesx"), http::error_dialect::openai);
  EXPECT_EQ(http::error_dialect_for_path("/v1/chat/completions"), http::error_dialect::openai);
}

// No value can split a header: a CR, LF or NUL anywhere in a name or value (or a colon in a
// name) writes nothing, wherever it sits.
TEST(head_writer, a_field_with_a_line_break_or_nul_is_refused_and_writes_nothing) {
  std::string head;
  http::head_writer w(head);
  EXPECT_TRUE(w.field("X-Request-Id", "req_0123456789abcdef"));
  const auto written = head;
  EXPECT_EQ(written, "X-Request-Id: req_0123456789abcdef\r\n");
  for (const std::string& bad : {std::string("a\rb"), std::string("a\nb"), std::string("a\0b", 3), std::string("\r"),
                                std::string("ab\n"), std::string("\0ab", 3)}) {
    EXPECT_FALSE(w.field("X-Test", bad)) << bad.size();
    EXPECT_FALSE(w.field(bad, "v")) << bad.size();
  }
  EXPECT_FALSE(w.field("X:Test", "v"));
  EXPECT_EQ(head, written);
  EXPECT_TRUE(http::safe_header_text(""));
  EXPECT_TRUE(http::safe_header_text("text/event-stream; charset=utf-8"));
}
