// SIGHUP reloads the whole config: backends, models, limits, keys. A reload under load drops
// nothing (requests in flight finish on the snapshot they started with); an invalid file changes
// nothing and says so in one line. The mocks' request counters prove where requests went.
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>

using namespace deepgate::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string backend(const std::string& name, std::uint16_t port) {
  return "  - name: " + name + "\n    url: http://127.0.0.1:" + std::to_string(port) + "\n    breaker: {failures: 0}\n";
}

// One model, deepseek-chat, over `route` (a `backend:` or `backends:` line); `extra` are more
// top-level sections.
std::string yaml(const std::string& backends, const std::string& route, const std::string& extra = "") {
  return "server:\n  host: 127.0.0.1\n  port: 0\n  workers: 2\nbackends:\n" + backends +
         "models:\n  - name: deepseek-chat\n    upstream_model: deepseek-flash\n" + route + test_auth_yaml() + extra + "admin:\n  port: 0\nlog:\n  level: info\n";
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Rewrites the gateway's config file and sends SIGHUP; true once the reload was logged (the
// `nth` success line, so a test can reload several times).
bool reload(gateway_server& gw, const std::string& config, std::size_t nth) {
  write_file(gw.dir + "/deepgate.yaml", config);
  gw.process->signal(SIGHUP);
  return eventually([&] { return count(gw.process->log(), "config reloaded (SIGHUP)") >= nth; }, 10s);
}

// Clients sending a mix of JSON and streamed requests until stopped; every answer that is not a
// complete 200 (with [DONE] for streams) is a failure.
struct load {
  explicit load(std::uint16_t port, int threads = 4) {
    for (int t = 0; t < threads; ++t)
      clients.emplace_back([this, port, t] {
        for (int i = 0; !stop; ++i) {
          const bool stream = (i + t) % 2 == 1;
          auto r = post_json(port, "/v1/chat/completions",
                             chat_body("load " + std::to_string(t) + "-" + std::to_string(i) + " [mock tokens=8 tps=200]", stream));
          ++sent;
          if (r.status != 200 || !r.complete || (stream && sse_items(r.body).back() != "[DONE]")) {
            ++failed;
            std::lock_guard lock(mutex);
            if (first_failure.empty()) first_failure = std::to_string(r.status) + " " + r.body;
          }
        }
      });
  }
  void finish() {
    stop = true;
    for (auto& c : clients) c.join();
    clients.clear();
  }
  ~load() {
    if (!clients.empty()) finish();
  }
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::mutex mutex;
  std::string first_failure;
  std::vector<std::thread> clients;
};

}  // namespace

TEST(reload, sighup_under_load_adds_a_backend_and_drops_nothing) {
  auto a = mock_server::start();
  auto b = mock_server::start();
  const auto only_a = yaml(backend("a", a->port), "    backend: a\n");
  auto gw = gateway_server::start(only_a);
  // A slow stream that starts on the old snapshot and ends after the reload.
  std::atomic<bool> slow_ok{false};
  std::thread slow([&] {
    auto r = post_json(gw->port, "/v1/chat/completions", chat_body("slow [mock tokens=30 tps=20]", true));
    slow_ok = r.status == 200 && r.complete && sse_items(r.body).back() == "[DONE]";
  });
  load traffic(gw->port);
  ASSERT_TRUE(eventually([&] { return a->stats()["active"].get<int>() >= 2 && traffic.sent > 20; }, 10s));
  EXPECT_EQ(b->chat_requests(), 0u);

  ASSERT_TRUE(reload(*gw, yaml(backend("a", a->port) + backend("b", b->port), "    backends: [a, b]\n"), 1));
  // New requests now reach b as well.
  EXPECT_TRUE(eventually([&] { return b->chat_requests() >= 20; }, 10s));
  // And a reload that drops a: only b is used from then on.
  ASSERT_TRUE(reload(*gw, yaml(backend("b", b->port), "    backend: b\n"), 2));
  const auto a_after = a->chat_requests();
  const auto b_after = b->chat_requests();
  EXPECT_TRUE(eventually([&] { return b->chat_requests() >= b_after + 20; }, 10s));
  traffic.finish();
  slow.join();
  EXPECT_EQ(traffic.failed.load(), 0) << traffic.first_failure;
  EXPECT_TRUE(slow_ok);
  // Requests already in flight at the second reload may still have reached a; none after.
  EXPECT_LE(a->chat_requests() - a_after, 8u);
  const auto settled = a->chat_requests();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("after")).status, 200);
  EXPECT_EQ(a->chat_requests(), settled);
  // The backend added by the reload has its own series in /metrics.
  auto m = gw->metrics();
  EXPECT_GT(metric_value(m, R"(deepgate_requests_total{backend="b",status_class="2xx"})"), 0) << m;
  EXPECT_EQ(metric_value(m, R"(deepgate_config_reloads_total{result="ok"})"), 2);
  EXPECT_EQ(count(gw->process->log(), "take effect at the next restart"), 0u);
}

TEST(reload, an_invalid_config_changes_nothing_and_says_so_once) {
  auto a = mock_server::start();
  auto b = mock_server::start();
  const auto good = yaml(backend("a", a->port), "    backend: a\n",
                         "limits:\n  default:\n    requests_per_minute: 100000\n");
  auto gw = gateway_server::start(good);
  load traffic(gw->port, 2);
  ASSERT_TRUE(eventually([&] { return traffic.sent > 10; }, 10s));
  const std::vector<std::string> broken{
      // not YAML
      "backends: [\n",
      // an unknown key
      yaml(backend("b", b->port), "    backend: b\n", "limits:\n  defualt: {}\n"),
      // a model on a backend that does not exist
      yaml(backend("b", b->port), "    backend: nowhere\n"),
      // a CA file that cannot be read (found while building the backends, after parsing)
      yaml("  - name: b\n    url: https://127.0.0.1:" + std::to_string(b->port) + "\n    ca_file: /nonexistent/ca.pem\n",
           "    backend: b\n"),
  };
  for (std::size_t i = 0; i < broken.size(); ++i) {
    write_file(gw->dir + "/deepgate.yaml", broken[i]);
    gw->process->signal(SIGHUP);
    ASSERT_TRUE(eventually([&] { return count(gw->process->log(), "config reload (SIGHUP) failed") == i + 1; }, 10s))
        << "case " << i;
  }
  const auto before = traffic.sent.load();
  ASSERT_TRUE(eventually([&] { return traffic.sent > before + 10; }, 10s));
  traffic.finish();
  EXPECT_EQ(traffic.failed.load(), 0) << traffic.first_failure;
  EXPECT_EQ(b->chat_requests(), 0u);  // the running config still routes to a
  auto log = gw->process->log();
  EXPECT_EQ(count(log, "config reload (SIGHUP) failed"), broken.size()) << log;  // one line each
  EXPECT_EQ(count(log, "config reloaded (SIGHUP)"), 0u);
  auto m = gw->metrics();
  EXPECT_EQ(metric_value(m, R"(deepgate_config_reloads_total{result="failed"})"), 4);
  // The limits are still the running ones: x-ratelimit-limit-requests says 100000.
  auto r = post_json(gw->port, "/v1/chat/completions", chat_body("still"));
  EXPECT_EQ(r.header("x-ratelimit-limit-requests"), "100000");
}

TEST(reload, models_limits_and_restart_only_settings) {
  auto a = mock_server::start();
  auto gw = gateway_server::start(yaml(backend("a", a->port), "    backend: a\n"));
  auto models = json::parse(http_call(gw->port, "GET", "/v1/models").body);
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_TRUE(post_json(gw->port, "/v1/chat/completions", chat_body("x")).header("x-ratelimit-limit-requests").empty());

  // A second model, a request limit, and a server setting that only a restart can change.
  auto next = yaml(backend("a", a->port), "    backend: a\n  - name: deepseek-reasoner\n    backend: a\n    upstream_model: deepseek-flash\n",
                   "limits:\n  default:\n    requests_per_minute: 3\n");
  next.replace(next.find("workers: 2"), 10, "workers: 1");
  ASSERT_TRUE(reload(*gw, next, 1));
  EXPECT_TRUE(gw->process->wait_for_log("server changed but take effect at the next restart", 5s));
  models = json::parse(http_call(gw->port, "GET", "/v1/models").body);
  EXPECT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("r", false, "deepseek-reasoner")).status, 200);
  int refused = 0;
  for (int i = 0; i < 5; ++i) refused += post_json(gw->port, "/v1/chat/completions", chat_body("y")).status == 429;
  EXPECT_EQ(refused, 3);  // 3 per minute: the reasoner's request and two of these were admitted
  // Requests served by the new model are counted under its own name.
  EXPECT_EQ(metric_value(gw->metrics(), R"(deepgate_requests_total{model="deepseek-reasoner",status_class="2xx"})"), 1);
}
