#pragma once
// Starts the real binaries for integration tests: deepgate-mock on a free port, deepgate on a
// free port with a generated config pointing at it. Both are stopped when the objects go away.
#include "http_client.hpp"
#include "process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace deepgate::test {

// The binaries under test: this build's, unless DEEPGATE_BIN / DEEPGATE_MOCK_BIN name others (the
// sanitizer passes of scripts/test.sh run these tests against their instrumented builds).
const char* gateway_bin();
const char* mock_bin();

// Both servers must exit 0 on SIGTERM when the object goes away: a crash, a sanitizer report or
// a hang at shutdown fails the test that owned them.
struct mock_server {
  ~mock_server();
  static std::unique_ptr<mock_server> start(std::vector<std::string> args = {}, const std::string& dir = {});
  std::uint16_t port = 0;
  bool tls = false;  // started with --tls-cert: the test endpoints are queried with curl
  std::unique_ptr<child_process> process;

  nlohmann::json stats() const;
  nlohmann::json last_request() const;
  std::uint64_t chat_requests() const { return stats()["chat_requests"].get<std::uint64_t>(); }
};

struct gateway_server {
  ~gateway_server();
  // Starts deepgate with `yaml` as its config file.
  static std::unique_ptr<gateway_server> start(const std::string& yaml,
                                               std::vector<std::pair<std::string, std::string>> env = {},
                                               std::vector<std::string> extra_args = {});
  std::uint16_t port = 0;
  std::uint16_t admin_port = 0;  // the admin listener (a test config without admin: gets port 0)
  std::string dir;
  std::unique_ptr<child_process> process;

  std::string metrics() const;  // GET /metrics on the admin listener
  // The access-log lines so far (JSON lines on stdout, which shares the log file with stderr).
  std::vector<nlohmann::json> access_lines() const;
};

// The sum of every sample of `series` in a /metrics text, e.g.
// metric_value(text, "deepgate_tokens_total{model=\"deepseek-chat\",type=\"prompt\"}"): listed
// labels must match, others are summed over. 0 when absent.
double metric_value(const std::string& text, const std::string& series);

// Runs a shell command and returns what it printed.
std::string capture(const std::string& command);

// A test suite sharing one mock and one gateway across its tests. `Derived` provides
// `static std::vector<std::string> mock_args()` and `static std::string config(std::uint16_t mock_port)`.
template <class Derived>
class shared_gateway : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    mock_ = mock_server::start(Derived::mock_args()).release();
    gw_ = gateway_server::start(Derived::config(mock_->port)).release();
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete mock_;
    gw_ = nullptr;
    mock_ = nullptr;
  }
  static inline mock_server* mock_ = nullptr;
  static inline gateway_server* gw_ = nullptr;
};

// The auth: section accepting `test_key` (owner "tests").
std::string test_auth_yaml();
// An auth: section accepting `test_key` (owner "tests") and these keys; `extra` are more fields
// of a key's entry, e.g. "models: [deepseek-flash]".
struct key_entry {
  std::string id, owner, key, extra;
};
std::string auth_yaml_with(const std::vector<key_entry>& more);

// A config with one plain-HTTP backend "mock" at 127.0.0.1:<mock_port> serving deepseek-flash and
// the legacy names as the embedded defaults do (deepseek-chat: deepseek-flash with thinking
// disabled, alias gpt-4o-mini; deepseek-reasoner: thinking enabled), its breaker off unless
// `backend_extra` configures one. `server_extra` and
// `backend_extra` are YAML lines added under server: and the backend; `sections` are the top-level
// sections after models: (auth:, admin:, redis:), by default the test key's auth: section.
std::string gateway_yaml(std::uint16_t mock_port, const std::string& server_extra = {},
                         const std::string& backend_extra = {}, const std::string& sections = test_auth_yaml());

// A chat request body with `content` as the user message.
std::string chat_body(const std::string& content, bool stream = false, const std::string& model = "deepseek-chat",
                      const std::string& extra = {});

}  // namespace deepgate::test
