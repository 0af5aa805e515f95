// Metrics, access log, request ids and the balance gauge, end to end: known traffic through the
// mock, then exact values read back from /metrics (checked by promtool) and from the access log.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

using namespace deepgate::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* canary_key = "dg-canary-key-5f1e9c0a7b3d42";
constexpr const char* canary_prompt = "canary-prompt-8d0b6e2f4a1c";
constexpr const char* chat_path = "/v1/chat/completions";

std::string keys_yaml(const std::string& extra_keys = {}) {
  return std::string("auth:\n  keys:\n    - {id: test, owner: tests, key: ") + test_key +
         "}\n    - {id: canary, owner: canaries, key: " + canary_key + "}\n" + extra_keys;
}

headers bearer(const std::string& key) { return {{"authorization", "Bearer " + key}}; }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// promtool's verdict on a scrape; empty when it passes.
std::string promtool_check(const std::string& dir, const std::string& text) {
  write_file(dir + "/scrape.txt", text);
  auto out = capture("promtool check metrics < " + dir + "/scrape.txt 2>&1; echo \"exit=$?\"");
  return out.ends_with("exit=0\n") ? std::string() : out;
}

// The usage object of a non-stream answer, or of the usage chunk of a stream.
json usage_of(const http_response& r, bool stream) {
  if (!stream) return json::parse(r.body)["usage"];
  for (auto& d : sse_items(r.body))
    if (d != "[DONE]" && !d.starts_with(":")) {
      auto j = json::parse(d);
      if (j.contains("usage") && !j["usage"].is_null()) return j["usage"];
    }
  return nullptr;
}

class observability : public shared_gateway<observability> {
 public:
  static std::vector<std::string> mock_args() { return {}; }
  static std::string config(std::uint16_t mock_port) {
    return gateway_yaml(mock_port, "  trusted_proxies: [127.0.0.1/32]\n", "    balance_check_interval: 1s\n",
                        keys_yaml() + "prices:\n  deepseek-flash: {input_cache_hit: 0.07, input_cache_miss: 0.27, output: 1.10}\n");
  }
  static double value(const std::string& series) { return metric_value(gw_->metrics(), series); }
  // Waits until `series` reaches `want` (the record is written just after the answer goes out).
  static bool reaches(const std::string& series, double want) {
    return eventually([&] { return value(series) == want; }, 5s);
  }
  static std::vector<json> lines_for(const std::string& request_id) {
    std::vector<json> out;
    for (auto& l : gw_->access_lines())
      if (l["request_id"] == request_id) out.push_back(l);
    return out;
  }
};

TEST_F(observability, known_traffic_gives_exact_counts_and_token_sums) {
  const std::string chat_ok =
      R"(deepgate_requests_total{route="chat_completions",model="deepseek-chat",backend="mock",status_class="2xx"})";
  const std::string prompt_s = R"(deepgate_tokens_total{model="deepseek-chat",owner="tests",type="prompt"})";
  const std::string completion_s = R"(deepgate_tokens_total{model="deepseek-chat",owner="tests",type="completion"})";
  const std::string miss_s = R"(deepgate_tokens_total{model="deepseek-chat",owner="tests",type="prompt_cache_miss"})";
  const double before = value(chat_ok), prompt0 = value(prompt_s), completion0 = value(completion_s), miss0 = value(miss_s);
  double prompt = 0, completion = 0, miss = 0;
  for (int i = 0; i < 10; ++i) {
    const bool stream = i % 2 == 1;
    auto body = chat_body("count me " + std::to_string(i) + " [mock tokens=" + std::to_string(3 + i) + "]", stream,
                          "deepseek-chat", stream ? R"({"stream_options":{"include_usage":true}})" : "");
    auto r = post_json(gw_->port, chat_path, body);
    ASSERT_EQ(r.status, 200) << r.body;
    auto u = usage_of(r, stream);
    ASSERT_TRUE(u.is_object()) << r.body;
    prompt += u["prompt_tokens"].get<double>();
    completion += u["completion_tokens"].get<double>();
    miss += u["prompt_cache_miss_tokens"].get<double>();
  }
  ASSERT_TRUE(reaches(chat_ok, before + 10)) << value(chat_ok) - before;
  EXPECT_EQ(value(prompt_s) - prompt0, prompt);
  EXPECT_EQ(value(completion_s) - completion0, completion);
  EXPECT_EQ(value(miss_s) - miss0, miss);
  EXPECT_GT(value(R"(deepgate_cost_usd_total{model="deepseek-chat",owner="tests"})"), 0);
  EXPECT_EQ(value("deepgate_requests_in_flight"), 0);
  EXPECT_EQ(value("deepgate_active_streams"), 0);
  EXPECT_GE(value(R"(deepgate_time_to_first_token_seconds_count{model="deepseek-chat"})"), 5);
}

TEST_F(observability, a_stream_without_usage_for_the_client_still_counts_its_tokens) {
  const std::string completion_s = R"(deepgate_tokens_total{model="deepseek-chat",owner="tests",type="completion"})";
  const std::string chat_ok =
      R"(deepgate_requests_total{route="chat_completions",model="deepseek-chat",status_class="2xx"})";
  const auto text = std::string("hidden usage [mock tokens=17]");
  const double n0 = value(chat_ok);
  // The same request with usage asked for tells what the backend reports (the mock is deterministic).
  auto with = post_json(gw_->port, chat_path, chat_body(text, true, "deepseek-chat", R"({"stream_options":{"include_usage":true}})"));
  auto u = usage_of(with, true);
  ASSERT_TRUE(u.is_object());
  ASSERT_TRUE(reaches(chat_ok, n0 + 1));
  const double c0 = value(completion_s);
  auto r = post_json(gw_->port, chat_path, chat_body(text, true));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("\"usage\""), std::string::npos) << "the gateway's own usage request leaked to the client";
  ASSERT_TRUE(reaches(chat_ok, n0 + 2));
  EXPECT_EQ(value(completion_s) - c0, u["completion_tokens"].get<double>());
}

TEST_F(observability, reasoning_tokens_and_prompt_cache_hits_are_counted_by_type) {
  const std::string r_type = R"(deepgate_tokens_total{model="deepseek-reasoner",owner="tests",type="reasoning"})";
  const double before = value(r_type);
  auto r = post_json(gw_->port, chat_path, chat_body("think [mock tokens=9]", false, "deepseek-reasoner"));
  ASSERT_EQ(r.status, 200);
  auto u = json::parse(r.body)["usage"];
  const auto reasoning = u["completion_tokens_details"]["reasoning_tokens"].get<double>();
  ASSERT_GT(reasoning, 0);
  EXPECT_TRUE(reaches(r_type, before + reasoning)) << value(r_type) - before;
  // Prices are by the model sent upstream: deepseek-reasoner is deepseek-flash, which has one.
  EXPECT_GT(value(R"(deepgate_cost_usd_total{model="deepseek-reasoner",owner="tests"})"), 0);
  // deepseek-v4-pro has no price in this config: no cost series for it.
  ASSERT_EQ(post_json(gw_->port, chat_path, chat_body("unpriced", false, "deepseek-v4-pro")).status, 200);
  EXPECT_EQ(value(R"(deepgate_cost_usd_total{model="deepseek-v4-pro"})"), 0);
}

TEST_F(observability, errors_are_counted_by_status_class_kind_and_reason) {
  const std::string e503 = R"(deepgate_upstream_errors_total{backend="mock",reason="http_503"})";
  const std::string five = R"(deepgate_requests_total{route="chat_completions",model="deepseek-chat",status_class="5xx"})";
  const std::string unknown = R"(deepgate_requests_total{route="chat_completions",model="other",status_class="4xx"})";
  const std::string unauth = R"(deepgate_requests_total{route="chat_completions",model="none",status_class="4xx"})";
  const double e503_0 = value(e503), five_0 = value(five), unknown_0 = value(unknown), unauth_0 = value(unauth);
  EXPECT_EQ(post_json(gw_->port, chat_path, chat_body("fail [mock status=503]")).status, 503);
  EXPECT_EQ(post_json(gw_->port, chat_path, chat_body("x", false, "no-such-model")).status, 404);
  EXPECT_EQ(post_json(gw_->port, chat_path, chat_body("x"), bearer("dg-wrong-key-000000000000")).status, 401);
  EXPECT_TRUE(reaches(e503, e503_0 + 1));
  EXPECT_TRUE(reaches(five, five_0 + 1));
  EXPECT_TRUE(reaches(unknown, unknown_0 + 1));
  EXPECT_TRUE(reaches(unauth, unauth_0 + 1));
}

TEST_F(observability, access_log_has_one_json_line_per_request_with_every_field) {
  auto id = "obs-test-" + std::to_string(::getpid());
  auto r = post_json(gw_->port, chat_path, chat_body("log me", true),
                     {{"x-request-id", id}, {"x-forwarded-for", "203.0.113.9, 127.0.0.1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-request-id"), id);
  ASSERT_TRUE(eventually([&] { return lines_for(id).size() == 1; }, 5s));
  auto l = lines_for(id)[0];
  for (const char* f : {"time", "request_id", "route", "key_id", "owner", "model", "backend", "status", "cache", "stream",
                        "duration_ms", "upstream_ms", "ttft_ms", "queue_wait_ms", "overhead_ms", "tokens", "cost_usd",
                        "retries", "error_code", "upstream_error", "client", "prompt_sha256"})
    EXPECT_TRUE(l.contains(f)) << f << " missing in " << l.dump();
  EXPECT_EQ(l["key_id"], "test");
  EXPECT_EQ(l["owner"], "tests");
  EXPECT_EQ(l["model"], "deepseek-chat");
  EXPECT_EQ(l["backend"], "mock");
  EXPECT_EQ(l["status"], 200);
  EXPECT_EQ(l["stream"], true);
  EXPECT_EQ(l["client"], "203.0.113.9");  // the peer 127.0.0.1 is a trusted proxy
  EXPECT_TRUE(l["ttft_ms"].is_number());
  EXPECT_GE(l["duration_ms"].get<double>(), l["ttft_ms"].get<double>());
  EXPECT_GT(l["tokens"]["completion"].get<int>(), 0);
  EXPECT_TRUE(std::regex_match(l["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  // The request id went upstream too.
  EXPECT_EQ(mock_->last_request()["headers"]["x-request-id"], id);
}

TEST_F(observability, every_request_of_this_suite_has_a_parseable_access_line) {
  // Requests of any kind, including refused and unknown ones, each give one line.
  std::vector<std::string> ids;
  for (auto [path, method] : {std::pair{"/v1/models", "GET"}, {"/healthz", "GET"}, {"/nope", "GET"}, {chat_path, "GET"}}) {
    auto r = http_call(gw_->port, method, path);
    ids.push_back(r.header("x-request-id"));
  }
  for (auto& id : ids) {
    ASSERT_FALSE(id.empty());
    EXPECT_TRUE(eventually([&] { return lines_for(id).size() == 1; }, 5s)) << id;
  }
  EXPECT_EQ(lines_for(ids[2])[0]["status"], 404);
  EXPECT_EQ(lines_for(ids[2])[0]["error_code"], "unknown_url");
  EXPECT_EQ(lines_for(ids[3])[0]["error_code"], "method_not_allowed");
}

TEST_F(observability, malformed_request_ids_are_replaced_and_trace_context_reaches_upstream) {
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto r = post_json(gw_->port, chat_path, chat_body("trace"),
                     {{"x-request-id", "bad id with spaces"}, {"traceparent", tp}, {"tracestate", "vendor=1"}});
  ASSERT_EQ(r.status, 200);
  auto id = r.header("x-request-id");
  EXPECT_TRUE(id.starts_with("req_")) << id;
  EXPECT_EQ(id.size(), 36u) << id;  // "req_" and 32 lowercase hex digits
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
  auto up = mock_->last_request()["headers"];
  EXPECT_EQ(up["x-request-id"], id);
  EXPECT_EQ(up["traceparent"], tp);
  EXPECT_EQ(up["tracestate"], "vendor=1");
  ASSERT_TRUE(eventually([&] { return lines_for(id).size() == 1; }, 5s));
}

TEST_F(observability, queue_wait_is_the_keep_alive_time_before_the_first_byte) {
  const std::string count = R"(deepgate_queue_wait_seconds_count{backend="mock"})";
  const std::string sum = R"(deepgate_queue_wait_seconds_sum{backend="mock"})";
  const double n0 = value(count), s0 = value(sum);
  for (bool stream : {true, false}) {
    auto r = post_json(gw_->port, chat_path, chat_body("queued [mock queue_ms=400 keepalive_ms=50]", stream),
                       {{"x-request-id", std::string("queued-") + (stream ? "s" : "j")}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_TRUE(reaches(count, n0 + 2));
  // Both waited 400 ms behind keep-alives; the first one is sent at once, so at least 350 ms
  // each separates it from the first real byte.
  EXPECT_GE(value(sum) - s0, 0.7);
  for (const char* id : {"queued-s", "queued-j"}) {
    ASSERT_TRUE(eventually([&] { return lines_for(id).size() == 1; }, 5s));
    auto l = lines_for(id)[0];
    EXPECT_GE(l["queue_wait_ms"].get<double>(), 350) << l.dump();
    EXPECT_LE(l["queue_wait_ms"].get<double>(), l["duration_ms"].get<double>());
    // The wait is the backend's, not the gateway's.
    EXPECT_LT(l["overhead_ms"].get<double>(), l["queue_wait_ms"].get<double>());
  }
  EXPECT_GE(lines_for("queued-s")[0]["ttft_ms"].get<double>(), lines_for("queued-s")[0]["queue_wait_ms"].get<double>());
}

TEST_F(observability, a_canary_key_and_prompt_never_reach_logs_or_metrics) {
  auto r = post_json(gw_->port, chat_path, chat_body(canary_prompt), bearer(canary_key));
  ASSERT_EQ(r.status, 200);
  auto rs = post_json(gw_->port, chat_path, chat_body(canary_prompt, true), bearer(canary_key));
  ASSERT_EQ(rs.status, 200);
  auto bad = post_json(gw_->port, chat_path, chat_body(canary_prompt, false, canary_prompt), bearer(canary_key));
  EXPECT_EQ(bad.status, 404);
  const std::string owner_tokens = R"(deepgate_tokens_total{owner="canaries",type="prompt"})";
  ASSERT_TRUE(eventually([&] { return value(owner_tokens) > 0; }, 5s));
  ASSERT_TRUE(eventually([&] { return lines_for(bad.header("x-request-id")).size() == 1; }, 5s));
  auto metrics = gw_->metrics();
  auto log = gw_->process->log();
  for (const char* secret : {canary_key, canary_prompt}) {
    EXPECT_EQ(metrics.find(secret), std::string::npos) << secret;
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
  }
}

TEST_F(observability, scrape_passes_promtool_and_names_every_metric_the_deploy_files_use) {
  // Series made on first use appear once something used them: a stream, a refusal.
  post_json(gw_->port, chat_path, chat_body("scrape me", true));
  post_json(gw_->port, chat_path, chat_body("refused [mock status=429]"));
  ASSERT_TRUE(eventually([&] {
    auto m = gw_->metrics();
    return m.find("deepgate_upstream_balance{") != std::string::npos && m.find("reason=\"http_429\"") != std::string::npos;
  }, 5s));
  auto text = gw_->metrics();
  EXPECT_EQ(promtool_check(gw_->dir, text), "");
  // Every metric the dashboard and the alert rules query exists.
  std::set<std::string> exported;
  std::regex help(R"(# HELP (deepgate_\w+) )");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), help); it != std::sregex_iterator(); ++it)
    exported.insert((*it)[1]);
  for (const char* file : {"/deploy/grafana/deepgate.json", "/deploy/prometheus/alerts.yml"}) {
    auto content = read_file(std::string(DEEPGATE_SOURCE_DIR) + file);
    ASSERT_FALSE(content.empty()) << file;
    std::regex used(R"(deepgate_[a-z_]+)");
    int n = 0;
    for (auto it = std::sregex_iterator(content.begin(), content.end(), used); it != std::sregex_iterator(); ++it) {
      std::string name = (*it)[0];
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (name.ends_with(suffix) && !exported.contains(name)) name.resize(name.size() - std::strlen(suffix));
      EXPECT_TRUE(exported.contains(name)) << file << " uses " << name << ", which /metrics does not export";
      ++n;
    }
    EXPECT_GT(n, 5) << file;
  }
  // And docs/metrics.md documents each one.
  auto doc = read_file(std::string(DEEPGATE_SOURCE_DIR) + "/docs/metrics.md");
  for (auto& name : exported) EXPECT_NE(doc.find("`" + name), std::string::npos) << name << " is not in docs/metrics.md";
}

TEST(observability_config, refusals_by_the_gateways_limits_are_counted_by_kind) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(
      mock->port, "", "", test_auth_yaml() + "limits:\n  default:\n    requests_per_minute: 2\n    request_burst: 2\n"));
  int refused = 0;
  for (int i = 0; i < 5; ++i) refused += post_json(gw->port, chat_path, chat_body("limit me")).status == 429;
  EXPECT_EQ(refused, 3);
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), R"(deepgate_rate_limit_rejections_total{kind="requests"})") == 3;
  }, 5s));
  EXPECT_EQ(metric_value(gw->metrics(), R"(deepgate_rate_limit_rejections_total{kind="tokens"})"), 0);
  EXPECT_EQ(metric_value(gw->metrics(), R"(deepgate_upstream_errors_total)"), 0);
}

TEST(observability_config, owner_labels_are_capped_and_the_rest_are_other) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "", keys_yaml() + "metrics:\n  max_owner_labels: 1\n"));
  ASSERT_EQ(post_json(gw->port, chat_path, chat_body("first owner")).status, 200);
  ASSERT_EQ(post_json(gw->port, chat_path, chat_body("second owner"), bearer(canary_key)).status, 200);
  EXPECT_TRUE(eventually([&] {
    auto m = gw->metrics();
    return metric_value(m, R"(deepgate_tokens_total{owner="tests",type="prompt"})") > 0 &&
           metric_value(m, R"(deepgate_tokens_total{owner="other",type="prompt"})") > 0;
  }, 5s));
  EXPECT_EQ(gw->metrics().find("owner=\"canaries\""), std::string::npos);
}

TEST(observability_config, the_deepseek_balance_becomes_a_gauge) {
  auto mock = mock_server::start({"--api-key", "sk-upstream-balance-test", "--balance", "42.50"});
  auto gw = gateway_server::start(gateway_yaml(
      mock->port, "", "    api_key: sk-upstream-balance-test\n    balance_check_interval: 100ms\n", test_auth_yaml()));
  EXPECT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), R"(deepgate_upstream_balance{backend="mock",currency="CNY"})") == 42.5;
  }, 10s)) << gw->metrics();
  EXPECT_EQ(metric_value(gw->metrics(), R"(deepgate_upstream_balance_available{backend="mock"})"), 1);
  EXPECT_EQ(metric_value(gw->metrics(), R"(deepgate_balance_check_errors_total{backend="mock"})"), 0);
  // It keeps checking.
  auto seen = mock->stats()["balance_requests"].get<int>();
  EXPECT_TRUE(eventually([&] { return mock->stats()["balance_requests"].get<int>() > seen; }, 5s));
}

TEST(observability_config, metrics_can_require_the_admin_token) {
  auto mock = mock_server::start();
  const std::string token = "admin-token-for-metrics-test-01";
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "",
                                               test_auth_yaml() + "admin:\n  port: 0\n  token: " + token +
                                                   "\n  metrics_require_token: true\n"));
  EXPECT_EQ(http_call(gw->admin_port, "GET", "/metrics").status, 401);
  auto ok = http_call(gw->admin_port, "GET", "/metrics", "", bearer(token));
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("deepgate_build_info"), std::string::npos);
  // Never on the public port.
  EXPECT_EQ(http_call(gw->port, "GET", "/metrics").status, 404);
}

TEST(observability_config, redis_errors_and_failing_open_show_in_metrics) {
  auto mock = mock_server::start();
  auto dead = free_port();  // nothing listens: every limits command fails
  auto gw = gateway_server::start(gateway_yaml(
      mock->port, "", "",
      test_auth_yaml() + "redis:\n  url: redis://127.0.0.1:" + std::to_string(dead) +
          "\n  command_timeout: 50ms\n  connect_timeout: 50ms\nlimits:\n  store: redis\n  default:\n    requests_per_minute: 1000\n"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post_json(gw->port, chat_path, chat_body("redis down")).status, 200);
  EXPECT_TRUE(eventually([&] {
    auto m = gw->metrics();
    return metric_value(m, R"(deepgate_redis_errors_total{client="limits"})") > 0 &&
           metric_value(m, "deepgate_limits_fail_open") == 1;
  }, 5s)) << gw->metrics();
}

TEST(observability_config, a_real_prometheus_scrapes_the_example_config) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port));
  ASSERT_EQ(post_json(gw->port, chat_path, chat_body("for prometheus")).status, 200);
  // The example scrape config, pointed at this gateway and scraping every second.
  auto cfg = read_file(std::string(DEEPGATE_SOURCE_DIR) + "/deploy/prometheus/prometheus.yml");
  ASSERT_NE(cfg.find("localhost:8081"), std::string::npos);
  cfg.replace(cfg.find("localhost:8081"), 14, "127.0.0.1:" + std::to_string(gw->admin_port));
  cfg = std::regex_replace(cfg, std::regex("scrape_interval: 15s"), "scrape_interval: 1s");
  auto dir = make_temp_dir("deepgate-prometheus");
  write_file(dir + "/prometheus.yml", cfg);
  write_file(dir + "/alerts.yml", read_file(std::string(DEEPGATE_SOURCE_DIR) + "/deploy/prometheus/alerts.yml"));
  auto port = free_port();
  auto binary = capture("command -v prometheus");
  while (!binary.empty() && binary.back() == '\n') binary.pop_back();
  ASSERT_FALSE(binary.empty()) << "prometheus is not installed (scripts/install-deps.sh installs it)";
  child_process prom({binary, "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
                      "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                     {}, dir + "/prometheus.log");
  std::string found;
  bool ok = eventually([&] {
    auto r = http_call(port, "GET", "/api/v1/query?query=deepgate_requests_total");
    if (r.status != 200) return false;
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || j["status"] != "success" || j["data"]["result"].empty()) return false;
    found = j["data"]["result"][0]["metric"]["__name__"];
    return true;
  }, 30s);
  EXPECT_TRUE(ok) << prom.log();
  EXPECT_EQ(found, "deepgate_requests_total");
  // The alert rules loaded too.
  auto rules = json::parse(http_call(port, "GET", "/api/v1/rules").body);
  EXPECT_EQ(rules["data"]["groups"][0]["name"], "deepgate");
  prom.signal(SIGTERM);
  EXPECT_TRUE(prom.wait_exit(20s));
}

}  // namespace
