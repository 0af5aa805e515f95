// The sans-io parts of observability: client addresses behind proxies, the access-log line, the
// balance answer, the metrics a request record produces, and their config.
#include "deepgate/config/config.hpp"
#include "deepgate/observability/access_log.hpp"
#include "deepgate/observability/balance.hpp"
#include "deepgate/observability/client_address.hpp"
#include "deepgate/observability/metrics.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace deepgate;
using namespace deepgate::observability;
using json = nlohmann::json;

namespace {

const char* base_yaml = R"(
backends:
  - {name: ds, url: "http://127.0.0.1:9000"}
models:
  - {name: deepseek-chat, backend: ds, aliases: [gpt-4o-mini]}
  - {name: deepseek-reasoner, backend: ds}
prices:
  deepseek-chat: {input_cache_hit: 0.07, input_cache_miss: 0.27, output: 1.10}
)";

std::shared_ptr<const config::gateway_config> load(const std::string& extra = {}) {
  auto r = config::load_string(std::string(base_yaml) + extra, [](const std::string&) { return std::nullopt; }, "t");
  if (!r.config) ADD_FAILURE() << r.error;
  return r.config;
}

std::string load_error(const std::string& extra) {
  return config::load_string(std::string(base_yaml) + extra, [](const std::string&) { return std::nullopt; }, "t").error;
}

double sample(const std::string& text, const std::string& line_prefix) {
  auto pos = text.find("\n" + line_prefix + " ");
  if (pos == std::string::npos) return -1;
  auto start = pos + line_prefix.size() + 2;
  return std::stod(text.substr(start, text.find('\n', start) - start));
}

request_record chat_record() {
  request_record r;
  r.path = route::chat_completions;
  r.model = 0;
  r.backend = 0;
  r.owner = "team-a";
  r.status = 200;
  r.total = std::chrono::milliseconds(120);
  r.waited = std::chrono::milliseconds(100);
  r.upstream = std::chrono::milliseconds(99);
  limits::usage u;
  u.prompt = 10;
  u.completion = 20;
  u.cache_hit = 4;
  u.cache_miss = 6;
  r.usage = u;
  r.cost_usd = 0.5;
  return r;
}

}  // namespace

TEST(client_address, parses_cidrs_and_rejects_nonsense) {
  EXPECT_TRUE(deepgate::core::parse_cidr("10.0.0.0/8"));
  EXPECT_TRUE(deepgate::core::parse_cidr("192.168.1.7"));
  EXPECT_TRUE(deepgate::core::parse_cidr("fd00::/8"));
  EXPECT_TRUE(deepgate::core::parse_cidr("::1"));
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0/8", "fd00::/129", "example.com", "10.0.0.0/", "1.2.3.4/x"})
    EXPECT_FALSE(deepgate::core::parse_cidr(bad)) << bad;
}

TEST(client_address, forwarded_for_is_believed_only_from_trusted_proxies) {
  trusted_proxies proxies({"10.0.0.0/8", "127.0.0.1"});
  EXPECT_TRUE(proxies.contains("10.20.30.40"));
  EXPECT_FALSE(proxies.contains("11.0.0.1"));
  // An untrusted peer: its header is ignored.
  EXPECT_EQ(client_address("198.51.100.1", "203.0.113.9", proxies), "198.51.100.1");
  // A trusted peer: the right-most address that is not a proxy is the client; what the client
  // wrote further left is not believed.
  EXPECT_EQ(client_address("10.0.0.2", "1.1.1.1, 203.0.113.9, 10.0.0.7", proxies), "203.0.113.9");
  EXPECT_EQ(client_address("127.0.0.1", "2001:db8::5", proxies), "2001:db8::5");
  // Every hop a proxy, or a malformed hop: the peer.
  EXPECT_EQ(client_address("10.0.0.2", "10.0.0.3", proxies), "10.0.0.2");
  EXPECT_EQ(client_address("10.0.0.2", "not-an-ip", proxies), "10.0.0.2");
  EXPECT_EQ(client_address("10.0.0.2", "", proxies), "10.0.0.2");
  // No proxies configured: always the peer.
  EXPECT_EQ(client_address("10.0.0.2", "203.0.113.9", trusted_proxies{}), "10.0.0.2");
}

TEST(access_log, a_line_is_json_with_nulls_for_what_did_not_happen) {
  request_record r = chat_record();
  r.request_id = "req_1";
  r.key_id = "key_\"quoted\"\n";
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  auto line = format_access_line(r, "deepseek-chat", "ds");
  auto j = json::parse(line);
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["key_id"], "key_\"quoted\"\n");
  EXPECT_EQ(j["status"], 200);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 120.0);
  EXPECT_DOUBLE_EQ(j["overhead_ms"].get<double>(), 20.0);
  EXPECT_TRUE(j["ttft_ms"].is_null());
  EXPECT_TRUE(j["queue_wait_ms"].is_null());
  EXPECT_TRUE(j["error_code"].is_null());
  EXPECT_EQ(j["tokens"]["prompt_cache_hit"], 4);
  EXPECT_DOUBLE_EQ(j["cost_usd"].get<double>(), 0.5);
  EXPECT_EQ(line.find('\n'), std::string::npos);

  request_record refused;
  refused.status = 401;
  refused.error_code = "invalid_api_key";
  auto k = json::parse(format_access_line(refused, "", ""));
  EXPECT_TRUE(k["model"].is_null());
  EXPECT_TRUE(k["tokens"].is_null());
  EXPECT_TRUE(k["upstream_ms"].is_null());
  EXPECT_EQ(k["error_code"], "invalid_api_key");
}

// Milliseconds are printed from integers, to the nearest microsecond: the text printing them as
// a double to three places gives.
TEST(access_log, milliseconds_are_printed_to_the_microsecond) {
  using std::chrono::nanoseconds;
  const auto text_of = [](nanoseconds total) {
    request_record r;
    r.total = total;
    const auto line = format_access_line(r, "", "");
    const auto at = line.find("\"duration_ms\":") + 14;
    return line.substr(at, line.find(',', at) - at);
  };
  EXPECT_EQ(text_of(nanoseconds(0)), "0.000");
  EXPECT_EQ(text_of(nanoseconds(499)), "0.000");
  EXPECT_EQ(text_of(nanoseconds(500)), "0.001");
  EXPECT_EQ(text_of(nanoseconds(1'234'567)), "1.235");
  EXPECT_EQ(text_of(nanoseconds(120'000'000)), "120.000");
  EXPECT_EQ(text_of(nanoseconds(86'400'123'456'789)), "86400123.457");
  EXPECT_EQ(text_of(nanoseconds(-2'500'000)), "-2.500");
  for (long long ns : {0LL, 1'234'567LL, 987'654'321LL, 5'000'000'001LL}) {
    char expected[64];
    std::snprintf(expected, sizeof expected, "%.3f", static_cast<double>(ns) / 1e6);
    EXPECT_EQ(text_of(nanoseconds(ns)), expected) << ns;
  }
}

TEST(balance, parses_deepseeks_answer) {
  auto b = parse_balance(R"({"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00",
      "granted_balance":"10.00","topped_up_balance":"100.00"},{"currency":"USD","total_balance":"3.5"}]})");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->available);
  ASSERT_EQ(b->totals.size(), 2u);
  EXPECT_EQ(b->totals[0].first, "CNY");
  EXPECT_DOUBLE_EQ(b->totals[0].second, 110.0);
  EXPECT_DOUBLE_EQ(b->totals[1].second, 3.5);
  EXPECT_FALSE(b = parse_balance(R"({"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"lots"}]})"));
  EXPECT_FALSE(parse_balance("<html>"));
  EXPECT_FALSE(parse_balance(R"({"balance_infos":[]})"));
}

// The numbers the first snapshot gives: config order.
label_table numbered(const deepgate::config::gateway_config& cfg) {
  label_table t(cfg.models.size(), cfg.backends.size());
  for (auto& b : cfg.backends) t.backend(b.name);
  for (auto& m : cfg.models) t.model(m.name);
  return t;
}

TEST(label_table, names_keep_their_numbers_and_the_capacity_bounds_them) {
  label_table t(2, 1);
  EXPECT_EQ(t.model("a"), 0u);
  EXPECT_EQ(t.model("b"), 1u);
  EXPECT_EQ(t.backend("ds"), 0u);
  // A reload that drops "a" and adds "c": "b" keeps 1, "c" takes the next number.
  EXPECT_EQ(t.model("b"), 1u);
  EXPECT_EQ(t.model("c"), 2u);
  EXPECT_EQ(t.model_name(2), "c");
  for (std::size_t i = 3; i < t.model_capacity(); ++i) EXPECT_TRUE(t.model("m" + std::to_string(i)));
  EXPECT_FALSE(t.model("one-too-many"));  // counted as "other"
  EXPECT_EQ(t.model("a"), 0u);             // known names still have theirs
}

TEST(metrics, a_record_becomes_exact_series) {
  auto cfg = load();
  auto labels = numbered(*cfg);
  metrics m(*cfg, "1.2.3", labels);
  m.request_started();
  m.request_finished(chat_record());
  auto a = chat_record();
  a.owner = "team-b";
  a.status = 429;
  a.error_code = "rate_limit_exceeded";
  a.refused = refusal_kind::requests;
  a.usage.reset();
  m.request_started();
  m.request_finished(a);
  // DeepSeek's own 429 passed through may carry the same code: it is not the gateway's refusal.
  auto theirs = chat_record();
  theirs.status = 429;
  theirs.error_code = "rate_limit_exceeded";
  theirs.upstream_error = upstream_status_reason(429);
  theirs.usage.reset();
  m.request_started();
  m.request_finished(theirs);
  auto up = chat_record();
  up.status = 503;
  up.usage.reset();
  up.error_code = "server_overloaded";
  up.upstream_error = upstream_status_reason(503);
  m.request_started();
  m.request_finished(up);
  auto text = m.render(7, 0, 0);
  EXPECT_EQ(sample(text, R"(deepgate_build_info{version="1.2.3"})"), 1);
  EXPECT_EQ(sample(text, R"(deepgate_requests_total{backend="ds",cache="none",model="deepseek-chat",route="chat_completions",status_class="2xx"})"), 1);
  EXPECT_EQ(sample(text, R"(deepgate_requests_total{backend="ds",cache="none",model="deepseek-chat",route="chat_completions",status_class="4xx"})"), 2);
  EXPECT_EQ(sample(text, R"(deepgate_tokens_total{model="deepseek-chat",owner="team-a",type="prompt_cache_hit"})"), 4);
  EXPECT_EQ(sample(text, R"(deepgate_tokens_total{model="deepseek-chat",owner="team-a",type="completion"})"), 20);
  EXPECT_EQ(sample(text, R"(deepgate_cost_usd_total{model="deepseek-chat",owner="team-a"})"), 0.5);
  EXPECT_EQ(sample(text, R"(deepgate_rate_limit_rejections_total{kind="requests"})"), 1);
  // The backend's own 503 is an upstream error, not a refusal by the gateway's limits.
  EXPECT_EQ(sample(text, R"(deepgate_upstream_errors_total{backend="ds",reason="http_503"})"), 1);
  EXPECT_EQ(sample(text, "deepgate_requests_in_flight"), 0);
  EXPECT_EQ(sample(text, "deepgate_open_connections"), 7);
  EXPECT_EQ(sample(text, R"(deepgate_upstream_errors_total{backend="ds",reason="http_429"})"), 1);
  EXPECT_EQ(sample(text, R"(deepgate_gateway_overhead_seconds_count{route="chat_completions"})"), 4);
  EXPECT_NEAR(sample(text, R"(deepgate_gateway_overhead_seconds_sum{route="chat_completions"})"), 0.08, 1e-9);
  EXPECT_EQ(text.find("team-b"), std::string::npos);  // no usage, no token series
}

TEST(metrics, unknown_models_and_capped_owners_keep_labels_bounded) {
  auto cfg = load("metrics: {max_owner_labels: 2}\n");
  auto labels = numbered(*cfg);
  metrics m(*cfg, "x", labels);
  for (int i = 0; i < 50; ++i) {
    auto r = chat_record();
    r.owner = "owner-" + std::to_string(i);
    r.model = i % 2 ? request_record::other_model : 1;
    if (i % 2) r.backend = -1;  // an unknown model never reaches a backend
    m.request_started();
    m.request_finished(r);
  }
  auto text = m.render(0, 0, 0);
  EXPECT_NE(text.find("owner=\"owner-0\""), std::string::npos);
  EXPECT_NE(text.find("owner=\"owner-1\""), std::string::npos);
  EXPECT_EQ(text.find("owner=\"owner-2\""), std::string::npos);
  EXPECT_EQ(sample(text, R"(deepgate_tokens_total{model="other",owner="other",type="prompt"})"), 24 * 10);
  EXPECT_EQ(sample(text, R"(deepgate_requests_total{backend="none",cache="none",model="other",route="chat_completions",status_class="2xx"})"), 25);
}

TEST(observability_config, keys_are_read_and_checked) {
  auto cfg = load("server: {trusted_proxies: [10.0.0.0/8, '::1']}\nmetrics: {enabled: false}\n"
                  "log: {access: {path: /tmp/x.log, prompt_sha256: true}}\nadmin: {enabled: false}\n");
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->server.trusted_proxies.size(), 2u);
  EXPECT_FALSE(cfg->metrics.enabled);
  EXPECT_EQ(cfg->log.access.path, "/tmp/x.log");
  EXPECT_TRUE(cfg->log.access.prompt_sha256);
  EXPECT_FALSE(cfg->admin.enabled);
  EXPECT_EQ(load()->metrics.max_owner_labels, 1000u);
  EXPECT_TRUE(load()->log.access.enabled);
  EXPECT_EQ(load()->log.access.path, "-");
  EXPECT_NE(load_error("server: {trusted_proxies: [everyone]}\n").find("server.trusted_proxies[0]"), std::string::npos);
  EXPECT_NE(load_error("admin: {metrics_require_token: true}\n").find("admin.metrics_require_token"), std::string::npos);
  EXPECT_NE(load_error("log: {access: {path: ''}}\n").find("log.access.path"), std::string::npos);
  EXPECT_NE(load_error("metrics: {labels: 3}\n").find("metrics"), std::string::npos);
}
