// What clients see when the backend refuses, fails, stalls or disappears.
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>


using namespace deepgate::test;
using json = nlohmann::json;


class upstream_failures : public shared_gateway<upstream_failures> {
 public:
  static std::vector<std::string> mock_args() { return {}; }
  static std::string config(std::uint16_t mock_port) { return gateway_yaml(mock_port, "", "    response_header_timeout: 400ms\n"); }
};

TEST_F(upstream_failures, deepseek_errors_pass_through_with_status_and_message) {
  const std::vector<std::pair<int, std::string>> cases{{400, "Invalid format"},
                                                       {422, "Invalid Parameters"},
                                                       {429, "Rate Limit Reached"},
                                                       {500, "Server Error"},
                                                       {503, "Server Overloaded"}};
  for (auto& [status, text] : cases) {
    auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock status=" + std::to_string(status) + "]"));
    EXPECT_EQ(r.status, status);
    auto message = json::parse(r.body)["error"]["message"].get<std::string>();
    EXPECT_NE(message.find(text), std::string::npos) << status << ": " << message;
    if (status == 429 || status == 503) {
      EXPECT_EQ(r.header("retry-after"), "1") << status;
    }
  }
}

TEST_F(upstream_failures, operator_errors_become_502_with_distinct_codes) {
  auto a = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock status=401]"));
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(json::parse(a.body)["error"]["code"], "upstream_authentication_failed");
  EXPECT_EQ(a.body.find("****"), std::string::npos);  // DeepSeek's text quotes the key: not relayed
  auto b = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock status=402]"));
  EXPECT_EQ(b.status, 502);
  EXPECT_EQ(json::parse(b.body)["error"]["code"], "upstream_insufficient_balance");
}

TEST_F(upstream_failures, slow_response_headers_are_504) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock latency_ms=1500]"));
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_timeout");
  // the gateway stays healthy for the next request
  EXPECT_EQ(post_json(gw_->port, "/v1/chat/completions", chat_body("after timeout")).status, 200);
}

TEST_F(upstream_failures, reset_mid_stream_is_one_error_event_and_no_done) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock tokens=6 reset_after=3]", true));
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);  // connection closed without the terminating chunk
  auto items = sse_items(r.body);
  ASSERT_EQ(items.size(), 4u);  // three events relayed, then the error
  auto err = json::parse(items.back());
  EXPECT_EQ(err["error"]["code"], "upstream_reset");
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
}

TEST_F(upstream_failures, stream_that_fails_before_its_first_byte_gets_a_real_status) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock tokens=3 reset_after=0]", true));
  EXPECT_EQ(r.status, 502);  // nothing was committed, so no 200 + error event
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_reset");
}

TEST_F(upstream_failures, stream_without_done_is_an_error_event) {
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("[mock tokens=2 no_done=1]", true));
  ASSERT_EQ(r.status, 200);
  auto items = sse_items(r.body);
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(json::parse(items.back())["error"]["code"], "upstream_reset");
}

TEST_F(upstream_failures, client_disconnect_abandons_the_upstream_request) {
  ASSERT_TRUE(eventually([&] { return mock_->stats()["active"] == 0; }));
  {
    http_connection c(gw_->port);
    int pieces = 0;
    c.request("POST", "/v1/chat/completions", chat_body("[mock tokens=200 tps=50]", true),
              {{"Content-Type", "application/json"}}, [&](std::string_view) { return ++pieces < 3; });
    EXPECT_EQ(pieces, 3);
  }
  // Streaming 200 tokens at 50/s takes 4 s; the abandoned upstream request ends long before.
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return mock_->stats()["active"] == 0; }, std::chrono::seconds(3)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(post_json(gw_->port, "/v1/chat/completions", chat_body("next")).status, 200);
}

TEST(upstream_unreachable, refused_connection_is_502_and_gateway_stays_up) {
  auto gw = gateway_server::start(gateway_yaml(free_port()));
  auto r = post_json(gw->port, "/v1/chat/completions", chat_body("x"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_unavailable");
  auto s = post_json(gw->port, "/v1/chat/completions", chat_body("x", true));
  EXPECT_EQ(s.status, 502);  // nothing was streamed yet: a plain JSON error
  EXPECT_EQ(http_call(gw->port, "GET", "/healthz").status, 200);
}

TEST(upstream_unreachable, backend_that_dies_between_requests) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port));
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("x")).status, 200);
  mock.reset();  // the pooled connection is now dead
  auto r = post_json(gw->port, "/v1/chat/completions", chat_body("x"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_unavailable");
}

// Issue 16: after the first token, keep-alive comments do not keep a stalled stream alive until
// stream_timeout; the next real event must come within token_idle_timeout.
// Issue 19: body reads keep one lazily re-armed deadline instead of a timer per read. A stream
// lasting several read_timeouts completes (the deadline moves on with every read), a backend
// that falls silent mid-body is cut at read_timeout, and a response read after a cut stream on
// the same gateway is whole.
TEST(upstream_stall, the_read_deadline_moves_with_each_read_and_cuts_a_silent_backend) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "    read_timeout: 300ms\n"));
  const auto started = std::chrono::steady_clock::now();
  auto healthy = post_json(gw->port, "/v1/chat/completions", chat_body("[mock tokens=24 tps=20]", true));
  EXPECT_GT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(900));  // three read_timeouts and more
  ASSERT_EQ(healthy.status, 200);
  EXPECT_TRUE(healthy.complete);
  EXPECT_EQ(sse_items(healthy.body).back(), "[DONE]");
  // Silent after three tokens (its keep-alives come only every 2 s): cut, with the error event.
  auto silent = post_json(gw->port, "/v1/chat/completions",
                          chat_body("[mock tokens=10 tps=50 stall_after=3 keepalive_ms=2000]", true));
  ASSERT_EQ(silent.status, 200);
  EXPECT_FALSE(silent.complete);
  auto items = sse_items(silent.body);
  ASSERT_GE(items.size(), 4u);
  EXPECT_EQ(json::parse(items.back())["error"]["code"], "upstream_timeout");
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), "deepgate_upstream_errors_total{reason=\"read_timeout\"}") == 1;
  }));
  auto after = post_json(gw->port, "/v1/chat/completions", chat_body("after the cut [mock tokens=40]", true));
  EXPECT_TRUE(after.complete);
  EXPECT_EQ(sse_items(after.body).back(), "[DONE]");
  auto json_answer = post_json(gw->port, "/v1/chat/completions", chat_body("a long one [mock tokens=3000]"));
  ASSERT_EQ(json_answer.status, 200);
  EXPECT_GT(json::parse(json_answer.body)["choices"][0]["message"]["content"].get<std::string>().size(), 3000u);
}

TEST(upstream_stall, a_stream_that_stalls_after_its_first_tokens_ends_with_the_idle_error_event) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "    token_idle_timeout: 400ms\n"));
  auto r = post_json(gw->port, "/v1/chat/completions",
                     chat_body("[mock tokens=10 tps=50 stall_after=3 keepalive_ms=50]", true));
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  auto items = sse_items(r.body);
  ASSERT_GE(items.size(), 5u);
  EXPECT_EQ(std::count_if(items.begin(), items.end(), [](auto& i) { return i.starts_with(":"); }) > 2, true)
      << "the keep-alives reach the client meanwhile";
  auto err = json::parse(items.back());
  EXPECT_EQ(err["error"]["code"], "upstream_idle_timeout");
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  // Counted when the request's record settles, which may come just after the client saw the close.
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), "deepgate_upstream_errors_total{reason=\"token_idle_timeout\"}") == 1;
  }));
  // Before the first token keep-alives are DeepSeek's queue: the idle deadline does not apply.
  auto queued = post_json(gw->port, "/v1/chat/completions", chat_body("[mock queue_ms=700 keepalive_ms=50]", true));
  EXPECT_EQ(queued.status, 200);
  EXPECT_TRUE(queued.complete);
  EXPECT_NE(queued.body.find("[DONE]"), std::string::npos);
}
