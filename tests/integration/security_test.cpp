// The holes an adversarial review found (issue 22), each as the attack that showed it: a
// misbehaving backend (scripted_backend) and raw-socket clients. Every test here failed before
// its fix.
#include "fixture.hpp"
#include "scripted_backend.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <future>
#include <random>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {

constexpr const char* upstream_secret = "sk-upstream-secret-0123456789abcdef";

// One worker, so consecutive requests share the worker's pooled backend connection.
std::string one_worker_yaml(std::uint16_t backend_port, const std::string& server_extra = {},
                            const std::string& backend_extra = {}) {
  auto yaml = gateway_yaml(backend_port, server_extra,
                           "    api_key: " + std::string(upstream_secret) +
                               "\n    read_timeout: 5s\n    models_refresh_interval: 0\n" + backend_extra);
  yaml.replace(yaml.find("workers: 2"), 10, "workers: 1");
  return yaml;
}

std::string content_of(const http_response& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("choices")) return "<" + std::to_string(r.status) + " " + r.body + ">";
  return j["choices"][0]["message"]["content"].get<std::string>();
}

std::string error_code_of(const http_response& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"]["code"].is_string()) return "<" + r.body + ">";
  return j["error"]["code"].get<std::string>();
}

// The peak resident set of a process, from /proc (VmHWM), in bytes.
std::size_t peak_rss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmHWM:")) return std::stoul(line.substr(6)) * 1024;
  return 0;
}

std::string chat(const std::string& content) { return chat_body(content); }

const std::string chat_head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              std::string(test_key) + "\r\nContent-Type: application/json\r\n";

}  // namespace

// ------------------------------------------------------------------ F1: pooled connection desync

class backend_framing : public ::testing::Test {
 protected:
  void SetUp() override { gw_ = gateway_server::start(one_worker_yaml(backend_.port())); }
  http_response ask(const std::string& what) { return post_json(gw_->port, "/v1/chat/completions", chat(what)); }
  scripted_backend backend_;
  std::unique_ptr<gateway_server> gw_;
};

TEST_F(backend_framing, interim_1xx_heads_are_skipped_before_the_final_one) {
  backend_.push({"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" + completion_response("A")});
  backend_.push({"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n" + completion_response("B")});
  backend_.push({completion_response("C")});
  auto a = ask("tenant a");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(content_of(a), "A");
  EXPECT_EQ(content_of(ask("tenant b")), "B");
  EXPECT_EQ(content_of(ask("tenant c")), "C");
  EXPECT_EQ(backend_.connections(), 1u);  // all three on the one pooled connection
}

TEST_F(backend_framing, a_101_is_refused_and_its_connection_dropped) {
  backend_.push({"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
                 completion_response("A")});
  backend_.push({completion_response("B")});
  auto a = ask("tenant a");
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(error_code_of(a), "upstream_bad_response");
  EXPECT_EQ(content_of(ask("tenant b")), "B");
}

TEST_F(backend_framing, bytes_past_the_content_length_are_a_bad_response) {
  backend_.push({completion_response("A") + completion_response("A-leftover")});
  backend_.push({completion_response("B")});
  backend_.push({completion_response("C")});
  auto a = ask("tenant a");
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(error_code_of(a), "upstream_bad_response");
  EXPECT_EQ(content_of(ask("tenant b")), "B");
  EXPECT_EQ(content_of(ask("tenant c")), "C");
}

TEST_F(backend_framing, a_204_with_a_body_does_not_poison_the_pool) {
  backend_.push({"HTTP/1.1 204 No Content\r\n\r\n" + completion_response("A")});
  backend_.push({completion_response("B")});
  EXPECT_NE(ask("tenant a").status, 200);
  EXPECT_EQ(content_of(ask("tenant b")), "B");
}

TEST_F(backend_framing, late_bytes_on_an_idle_connection_are_found_before_reuse) {
  backend_.push({completion_response("A"), 0, std::chrono::milliseconds(20), completion_response("A-late")});
  backend_.push({completion_response("B")});
  EXPECT_EQ(content_of(ask("tenant a")), "A");
  ASSERT_TRUE(eventually([&] { return backend_.late_writes() == 1; }));
  EXPECT_EQ(content_of(ask("tenant b")), "B");  // not A's late bytes
}

// ------------------------------------------------------------------ F8: endless backend framing

TEST_F(backend_framing, an_endless_chunk_extension_is_a_bad_response_in_bounded_memory) {
  const std::size_t filler = 96u << 20;
  for (bool stream : {false, true}) {
    backend_.push({std::string("HTTP/1.1 200 OK\r\nContent-Type: ") + (stream ? "text/event-stream" : "application/json") +
                       "\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=",
                   filler});
    const auto before = peak_rss(gw_->process->pid());
    auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("endless", stream));
    EXPECT_EQ(r.status, 502) << stream;
    EXPECT_EQ(error_code_of(r), "upstream_bad_response") << stream;
    EXPECT_LT(peak_rss(gw_->process->pid()), before + (32u << 20)) << "the gateway buffered the chunk line";
  }
  EXPECT_LT(backend_.filler_written(), 2 * filler);  // the gateway stopped reading
  EXPECT_EQ(content_of(ask("after")), "default");
}

// ------------------------------------------------------------------ F6: upstream strings redacted

TEST_F(backend_framing, the_backend_key_never_reaches_a_client_through_any_error_field) {
  const std::string s = upstream_secret;
  auto body = R"({"error":{"message":"bad key )" + s + R"(","type":")" + s + R"(","code":"x-)" + s + R"(","param":")" + s +
              R"(","unknown":")" + s + R"("}})";
  for (unsigned status : {400u, 422u, 429u, 500u, 503u})
    backend_.push({"HTTP/1.1 " + std::to_string(status) + " Error\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body});
  for (unsigned status : {400u, 422u, 429u, 500u, 503u}) {
    auto r = ask("echo");
    EXPECT_EQ(r.status, static_cast<int>(status));
    EXPECT_EQ(r.body.find(s), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("[redacted]"), std::string::npos) << r.body;
  }
  // The same inside a stream: an error event, and a JSON answer's fields.
  const std::string event = "data: {\"error\":{\"message\":\"" + s + "\",\"code\":\"" + s + "\"}}\n\n";
  backend_.push({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + std::to_string(event.size()) +
                 "\r\n\r\n" + event});
  auto r = post_json(gw_->port, "/v1/chat/completions", chat_body("echo", true));
  EXPECT_EQ(r.body.find(s), std::string::npos) << r.body;
}

// ------------------------------------------------------------------ client-side framing

class client_framing : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    mock_ = mock_server::start().release();
    gw_ = gateway_server::start(gateway_yaml(mock_->port, "  request_timeout: 8s\n")).release();
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete mock_;
  }
  // Sends `bytes` on a fresh connection: the one answer, and whether the gateway then closed
  // without answering anything else (a smuggled request would get a second answer).
  static std::pair<http_response, bool> one_answer(const std::string& bytes) {
    http_connection c(gw_->port, std::chrono::seconds(5));
    c.send_raw(bytes);
    auto r = c.read_response();
    return {r, c.closed_by_peer(std::chrono::seconds(5))};
  }
  static inline mock_server* mock_ = nullptr;
  static inline gateway_server* gw_ = nullptr;
};

// F2
TEST_F(client_framing, an_endless_chunk_extension_is_refused_in_bounded_memory) {
  const auto before = peak_rss(gw_->process->pid());
  http_connection c(gw_->port, std::chrono::seconds(5));
  auto sent = c.flood(chat_head + "Transfer-Encoding: chunked\r\n\r\n5;ext=", 'a', 96u << 20);
  auto r = c.read_response();
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_LT(sent, 8u << 20);
  EXPECT_LT(peak_rss(gw_->process->pid()), before + (32u << 20));
}

TEST_F(client_framing, an_endless_trailer_section_is_refused_in_bounded_memory) {
  const auto before = peak_rss(gw_->process->pid());
  http_connection c(gw_->port, std::chrono::seconds(5));
  auto sent = c.flood(chat_head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: ", 'a', 96u << 20);
  auto r = c.read_response();
  EXPECT_TRUE(r.status == 400 || r.status == 431) << r.status << " " << r.body;
  EXPECT_LT(sent, 8u << 20);
  EXPECT_LT(peak_rss(gw_->process->pid()), before + (32u << 20));
}

// F11
TEST_F(client_framing, a_malformed_chunked_body_is_answered_400) {
  auto [r, closed] = one_answer(chat_head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_code_of(r), "bad_request");
  EXPECT_TRUE(closed);
}

// F3: TE.0 and friends. The body of each is a whole second request: it must never run.
TEST_F(client_framing, framing_headers_that_could_smuggle_a_request_are_refused) {
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::vector<std::string> heads{
      "Transfer-Encoding: gzip\r\n",
      "Transfer-Encoding: identity\r\n",
      "Transfer-Encoding: chunked, identity\r\n",
      "Transfer-Encoding: xchunked\r\n",
      "Transfer-Encoding: gzip, chunked\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding:\r\n chunked\r\n",
      "Content-Length:\r\n 0\r\n",
      "X-Note: a\r\n\tfolded line\r\nContent-Length: 0\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
  };
  for (auto& h : heads) {
    auto [r, closed] = one_answer(chat_head + h + "\r\n" + smuggled);
    EXPECT_EQ(r.status, 400) << h;
    EXPECT_TRUE(closed) << h;
  }
  auto [r10, closed10] = one_answer("POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer " +
                                    std::string(test_key) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled);
  EXPECT_EQ(r10.status, 400);
  EXPECT_TRUE(closed10);
  // A plain chunked request still works.
  auto body = chat("chunked ok");
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  auto [ok, _] = one_answer(chat_head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + size + "\r\n" + body +
                            "\r\n0\r\n\r\n");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// F10
TEST_F(client_framing, head_answers_carry_no_body) {
  for (const char* path : {"/healthz", "/v1/models", "/nowhere"}) {
    http_connection c(gw_->port);
    c.send_raw(std::string("HEAD ") + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + test_key +
               "\r\nConnection: close\r\n\r\n");
    auto raw = c.read_until_close();
    auto end = raw.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos) << raw;
    EXPECT_EQ(raw.substr(end + 4), "") << path;  // the head only
    EXPECT_NE(raw.find("Content-Length: "), std::string::npos) << raw;  // the length a GET would have
    EXPECT_EQ(raw.find("Content-Length: 0\r\n"), std::string::npos) << raw;
  }
}

// ------------------------------------------------------------------ F5: unauthenticated memory

TEST(unauthenticated, a_request_without_a_valid_key_is_refused_on_its_head) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  request_timeout: 20s\n"));
  for (const std::string auth : {"", "Authorization: Bearer dg-not-a-key-0000000000000000\r\n"}) {
    http_connection c(gw->port, std::chrono::seconds(5));
    c.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + auth +
               "Content-Type: application/json\r\nContent-Length: 4000000\r\n\r\n");
    auto r = c.read_response();  // the body was never sent
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_EQ(error_code_of(r), "invalid_api_key") << r.body;
  }
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat("with a key")).status, 200);
}

TEST(unauthenticated, connections_per_worker_are_capped) {
  auto mock = mock_server::start();
  auto yaml = gateway_yaml(mock->port, "  max_connections: 8\n");
  yaml.replace(yaml.find("workers: 2"), 10, "workers: 1");
  auto gw = gateway_server::start(yaml);
  std::vector<std::unique_ptr<http_connection>> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(std::make_unique<http_connection>(gw->port));
    ASSERT_TRUE(held.back()->ok());
  }
  ASSERT_TRUE(eventually([&] { return metric_value(gw->metrics(), "deepgate_open_connections") >= 8; }));
  http_connection extra(gw->port, std::chrono::seconds(5));
  auto r = extra.request("GET", "/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(error_code_of(r), "too_many_connections");
  EXPECT_FALSE(r.header("retry-after").empty());
  extra.close();
  held.pop_back();
  EXPECT_TRUE(eventually([&] { return http_call(gw->port, "GET", "/healthz").status == 200; }));
}

TEST(unauthenticated, body_bytes_in_flight_are_capped) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  max_body_bytes: 800000\n  max_body_bytes_in_flight: 1048576\n"));
  auto body = chat("in flight");
  body.insert(body.size() - 1, std::string(700'000 - body.size(), ' '));
  const auto head = chat_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  http_connection first(gw->port, std::chrono::seconds(10));
  ASSERT_TRUE(first.send_raw(head + body.substr(0, 1000)));
  // The first body is being read (its bytes are held) when the second arrives.
  ASSERT_TRUE(eventually([&] { return metric_value(gw->metrics(), "deepgate_request_body_bytes") == 700'000; }));
  http_connection probe(gw->port, std::chrono::seconds(10));
  probe.send_raw(head);
  auto r = probe.read_response();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(error_code_of(r), "server_busy");
  EXPECT_EQ(r.header("retry-after"), "1");
  ASSERT_TRUE(first.send_raw(body.substr(1000)));
  EXPECT_EQ(first.read_response().status, 200);
  // Its bytes are released with it (when its handler ends, which may be just after the client
  // has the answer): the next one is read.
  ASSERT_TRUE(eventually([&] { return metric_value(gw->metrics(), "deepgate_request_body_bytes") == 0; }));
  http_connection second(gw->port, std::chrono::seconds(10));
  ASSERT_TRUE(second.send_raw(head + body));
  EXPECT_EQ(second.read_response().status, 200);
}

// ------------------------------------------------------------------ F9: JSON amplification

TEST(json_amplification, a_body_of_many_tiny_values_is_refused_before_parsing) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port));
  std::string many = "[";
  for (int i = 0; i < 400'000; ++i) many += i ? ",{}" : "{}";
  many += "]";
  auto body = chat_body("x");
  body.insert(body.size() - 1, ",\"stop\":" + many);
  auto r = post_json(gw->port, "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(error_code_of(r), "json_too_large");
  EXPECT_EQ(mock->chat_requests(), 0u);
}

// ------------------------------------------------------------------ F13: /metrics off loopback

TEST(admin_exposure, metrics_need_the_token_when_the_admin_listener_is_not_on_loopback) {
  auto mock = mock_server::start();
  auto with_token = gateway_server::start(
      gateway_yaml(mock->port, "", "", test_auth_yaml() + "admin:\n  host: 0.0.0.0\n  port: 0\n  token: admin-token-0123456789abcdef\n"));
  EXPECT_EQ(http_call(with_token->admin_port, "GET", "/metrics").status, 401);
  auto ok = http_call(with_token->admin_port, "GET", "/metrics", {}, {{"Authorization", "Bearer admin-token-0123456789abcdef"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("deepgate_open_connections"), std::string::npos);

  auto no_token = gateway_server::start(gateway_yaml(mock->port, "", "", test_auth_yaml() + "admin:\n  host: 0.0.0.0\n  port: 0\n"));
  auto r = http_call(no_token->admin_port, "GET", "/metrics");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(no_token->process->log().find("/metrics refuses every scrape"), std::string::npos);

  // On loopback it stays open, as before.
  auto local = gateway_server::start(gateway_yaml(mock->port));
  EXPECT_EQ(http_call(local->admin_port, "GET", "/metrics").status, 200);
}

// ------------------------------------------------------------------ F4: hang-ups racing the drain deadline

// Clients hang up, spread around the drain deadline, while the backend is still thinking: a
// handler that returned must not be told to cut a response it no longer has. The ASan and TSan
// passes run this; a report fails the gateway's clean exit.
TEST(drain_race, hangups_around_the_drain_deadline_exit_clean) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  drain_timeout: 400ms\n"));
  constexpr int clients = 120;
  std::vector<std::unique_ptr<http_connection>> conns;
  for (int i = 0; i < clients; ++i) {
    conns.push_back(std::make_unique<http_connection>(gw->port, std::chrono::seconds(10)));
    auto body = chat_body("thinking " + std::to_string(i) + " [mock latency_ms=3000]", i % 2 == 0);
    conns.back()->send_raw(chat_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  ASSERT_TRUE(eventually([&] { return mock->stats()["active"].get<int>() == clients; }, std::chrono::seconds(20)));
  const auto signalled = std::chrono::steady_clock::now();
  gw->process->signal(SIGTERM);
  // Hang up from 300 ms to 500 ms after the signal: around the 400 ms deadline.
  std::mt19937 rng(22);
  std::vector<std::pair<std::chrono::microseconds, int>> order;
  for (int i = 0; i < clients; ++i) order.push_back({std::chrono::microseconds(300'000 + rng() % 200'000), i});
  std::sort(order.begin(), order.end());
  for (auto& [at, i] : order) {
    std::this_thread::sleep_until(signalled + at);  // the schedule of the race, not a wait for a condition
    conns[static_cast<std::size_t>(i)]->close();
  }
  EXPECT_EQ(gw->process->wait_exit(std::chrono::seconds(20)), 0) << gw->process->log().substr(0, 4000);
}
