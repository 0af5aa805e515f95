// TLS to the backend (verification against a test CA made now) and on the listening side.
#include "fixture.hpp"
#include "test_ca.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

using namespace deepgate::test;
using json = nlohmann::json;

class tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(make_temp_dir("deepgate-tls"));
    ca_ = new test_ca(test_ca::create(*dir_));
    auto [cert, key] = ca_->issue("localhost", {"localhost"});
    good_mock_ = mock_server::start({"--tls-cert", cert, "--tls-key", key}, *dir_).release();
  }
  static void TearDownTestSuite() {
    delete good_mock_;
    delete ca_;
    delete dir_;
  }
  static std::string backend_yaml(const std::string& host, std::uint16_t port, const std::string& ca) {
    return "server: {host: 127.0.0.1, port: 0, workers: 1}\n"
           "backends:\n  - name: ds\n    url: https://" + host + ":" + std::to_string(port) + "\n" +
           (ca.empty() ? "" : "    tls: {ca_file: " + ca + "}\n") + "models: [{name: deepseek-chat, backend: ds, upstream_model: deepseek-flash}]\n" + test_auth_yaml();
  }
  static std::string* dir_;
  static test_ca* ca_;
  static mock_server* good_mock_;
};
std::string* tls::dir_ = nullptr;
test_ca* tls::ca_ = nullptr;
mock_server* tls::good_mock_ = nullptr;

TEST_F(tls, trusted_certificate_with_matching_name_is_accepted) {
  auto gw = gateway_server::start(backend_yaml("localhost", good_mock_->port, ca_->ca_cert));
  auto r = post_json(gw->port, "/v1/chat/completions", chat_body("over tls"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto s = post_json(gw->port, "/v1/chat/completions", chat_body("over tls [mock tokens=3]", true));
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(sse_items(s.body).back(), "[DONE]");
  // by IP address too: the certificate names 127.0.0.1
  auto ip = gateway_server::start(backend_yaml("127.0.0.1", good_mock_->port, ca_->ca_cert));
  EXPECT_EQ(post_json(ip->port, "/v1/chat/completions", chat_body("ip")).status, 200);
}

TEST_F(tls, unknown_ca_is_502_and_nothing_reaches_upstream) {
  auto before = good_mock_->chat_requests();
  auto gw = gateway_server::start(backend_yaml("localhost", good_mock_->port, ""));  // system CA store
  auto r = post_json(gw->port, "/v1/chat/completions", chat_body("untrusted"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_tls_error");
  EXPECT_EQ(good_mock_->chat_requests(), before);
}

TEST_F(tls, wrong_host_name_is_502_and_nothing_reaches_upstream) {
  auto [cert, key] = ca_->issue("wrong", {"wrong.example"}, /*include_loopback_ip=*/false);
  auto wrong = mock_server::start({"--tls-cert", cert, "--tls-key", key}, *dir_);
  auto gw = gateway_server::start(backend_yaml("localhost", wrong->port, ca_->ca_cert));
  auto r = post_json(gw->port, "/v1/chat/completions", chat_body("wrong name"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_tls_error");
  EXPECT_EQ(wrong->chat_requests(), 0u);
}

TEST_F(tls, listening_side_serves_https) {
  auto [cert, key] = ca_->issue("gateway", {"localhost"});
  auto plain_mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(plain_mock->port, "  tls: {cert_file: " + cert + ", key_file: " + key + "}\n"));
  std::string cmd = "curl -sS --max-time 10 --cacert " + ca_->ca_cert + " https://localhost:" + std::to_string(gw->port) +
                    "/v1/chat/completions -H 'Content-Type: application/json' -H 'Authorization: Bearer " + test_key + "' -d '" +
                    chat_body("https in") + "'";
  auto out = capture(cmd);
  auto j = json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["object"], "chat.completion");
  // plain HTTP to the TLS port gets nothing useful
  EXPECT_NE(http_call(gw->port, "GET", "/healthz").status, 200);
}

TEST_F(tls, new_connections_resume_the_backends_last_session) {
  // A backend that closes idle keep-alive connections after 150 ms, as real ones do after a while:
  // each request after a pause needs a new connection, and its handshake should be resumed.
  auto [cert, key] = ca_->issue("localhost", {"localhost"});
  auto mock = mock_server::start({"--tls-cert", cert, "--tls-key", key, "--idle-timeout-ms", "150"}, *dir_);
  auto gw = gateway_server::start(backend_yaml("localhost", mock->port, ca_->ca_cert) + "admin: {port: 0}\n");
  auto counts = [&] {
    auto text = gw->metrics();
    return std::pair{metric_value(text, "deepgate_upstream_tls_handshakes_total{backend=\"ds\",resumed=\"false\"}"),
                     metric_value(text, "deepgate_upstream_tls_handshakes_total{backend=\"ds\",resumed=\"true\"}")};
  };
  ASSERT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("first")).status, 200);
  const auto [full0, resumed0] = counts();
  EXPECT_EQ(full0 + resumed0, 1);  // resumed already when the model discovery's connection got a ticket first
  for (int round = 1; round <= 3; ++round) {
    // The pause is the scenario (an idle pooled connection the backend closes), not a wait for a
    // condition: 400 ms of idleness against the backend's 150 ms timeout.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    ASSERT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("again")).status, 200);
    auto [f, r] = counts();
    ASSERT_EQ(f + r, full0 + resumed0 + round) << "a new connection after the backend closed the idle one";
  }
  const auto [full, resumed] = counts();
  EXPECT_EQ(full, full0) << "every reconnection resumed the backend's last session";
  EXPECT_EQ(resumed, resumed0 + 3);
}

// A backend that takes the connection and never answers the ClientHello (a listening socket
// nobody accepts on: the kernel completes the TCP handshake into its backlog) is given up at
// tls_timeout: 504 upstream_timeout (a handshake nobody bounds would leave the client waiting).
TEST_F(tls, a_backend_silent_in_the_handshake_is_cut_at_tls_timeout) {
  silent_listener silent;
  auto yaml = backend_yaml("localhost", silent.port, ca_->ca_cert);
  yaml.replace(yaml.find("    tls: {"), 0, "    tls_timeout: 300ms\n");
  auto gw = gateway_server::start(yaml);
  auto r = post_json(gw->port, "/v1/chat/completions", chat_body("nobody answers"));  // the client waits 30 s
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_timeout");
}
