// The front end's own limits: header size, body size, slow requests, HTTP/1.0, pipelining.
#include "fixture.hpp"

#include <gtest/gtest.h>

using namespace deepgate::test;
using json = nlohmann::json;

class server_limits : public shared_gateway<server_limits> {
 public:
  static std::vector<std::string> mock_args() { return {}; }
  static std::string config(std::uint16_t mock_port) { return gateway_yaml(mock_port, "  max_body_bytes: 65536\n  request_timeout: 500ms\n  idle_timeout: 2s\n"); }
};

TEST_F(server_limits, oversized_header_block_is_431) {
  auto r = http_call(gw_->port, "GET", "/healthz", {}, {{"X-Big", std::string(20000, 'a')}});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "request_header_fields_too_large");
}

TEST_F(server_limits, oversized_body_is_413_before_the_body_is_read) {
  http_connection c(gw_->port);
  // Only the head is sent: the answer must come without the gateway waiting for 10 MB.
  ASSERT_TRUE(c.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 10000000\r\n\r\n"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "request_too_large");
  EXPECT_TRUE(c.closed_by_peer(std::chrono::seconds(5)));
}

TEST_F(server_limits, oversized_chunked_body_is_413) {
  http_connection c(gw_->port);
  std::string chunk(70000, 'x');
  char size[16];
  std::snprintf(size, sizeof size, "%zx", chunk.size());
  c.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(test_key) +
             "\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) +
             "\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 413);
}

TEST_F(server_limits, a_request_that_arrives_too_slowly_is_408) {
  http_connection c(gw_->port);
  ASSERT_TRUE(c.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(test_key) +
                         "\r\nContent-Length: 100\r\n\r\n{\"model\":"));
  auto r = c.read_response();  // the rest never comes
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "request_timeout");
}

TEST_F(server_limits, malformed_http_is_400) {
  http_connection c(gw_->port);
  c.send_raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 400);
}

TEST_F(server_limits, idle_keep_alive_connection_is_closed_after_the_idle_timeout) {
  http_connection c(gw_->port);
  ASSERT_EQ(c.request("GET", "/healthz").status, 200);
  EXPECT_FALSE(c.closed_by_peer(std::chrono::milliseconds(500)));
  EXPECT_TRUE(c.closed_by_peer(std::chrono::seconds(5)));
}

// Issue 19: the keep-alive deadline is one lazily re-armed timer per connection. A connection used
// more often than its idle_timeout stays open through several periods; left alone, it closes.
TEST(keep_alive, a_busy_connection_outlives_many_idle_timeouts_and_then_closes) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  idle_timeout: 300ms\n"));
  http_connection c(gw->port);
  for (int i = 0; i < 12; ++i) {  // 12 x 100 ms: four idle timeouts
    ASSERT_EQ(c.request("GET", "/healthz").status, 200) << "request " << i;
    EXPECT_FALSE(c.closed_by_peer(std::chrono::milliseconds(100))) << "after request " << i;
  }
  EXPECT_TRUE(c.closed_by_peer(std::chrono::seconds(5)));
}

TEST_F(server_limits, expect_100_continue_is_honoured) {
  http_connection c(gw_->port);
  auto body = chat_body("continue");
  c.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\n" +
             std::string("Authorization: Bearer ") + test_key + "\r\n"
             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 100);
  c.send_raw(body);
  EXPECT_EQ(c.read_response().status, 200);
}

TEST_F(server_limits, http_1_0_stream_is_close_delimited) {
  http_connection c(gw_->port);
  auto body = chat_body("[mock tokens=2]", true);
  c.send_raw("POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer " + std::string(test_key) +
             "\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n\r\n" + body);
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("[DONE]"), std::string::npos);
}

// The hang-up watch on a request waiting for its backend must take a pipelined next request for
// what it is: not a hang-up (the first answer would be abandoned), and left in the socket (the
// second would be lost).
TEST_F(server_limits, a_request_pipelined_behind_a_slow_one_is_no_hangup_and_is_answered_next) {
  http_connection c(gw_->port);
  const auto post = [](const std::string& body) {
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(test_key) +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const auto before = mock_->chat_requests();
  ASSERT_TRUE(c.send_raw(post(chat_body("first [mock latency_ms=300]"))));
  ASSERT_TRUE(eventually([&] { return mock_->chat_requests() == before + 1; }));  // it waits on the backend
  ASSERT_TRUE(c.send_raw(post(chat_body("second"))));
  for (const char* which : {"first", "second"}) {
    auto r = c.read_response();
    ASSERT_EQ(r.status, 200) << which << ": " << r.body;
    EXPECT_EQ(json::parse(r.body)["object"], "chat.completion") << which;
  }
}

TEST_F(server_limits, pipelined_requests_are_answered_in_order) {
  http_connection c(gw_->port);
  c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 200);
  EXPECT_EQ(c.read_response().status, 404);
  EXPECT_EQ(c.read_response().status, 200);
}
