#include "fixture.hpp"

#include <cstdlib>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <stdexcept>

namespace deepgate::test {

const char* gateway_bin() {
  const char* e = std::getenv("DEEPGATE_BIN");
  return e && *e ? e : DEEPGATE_BUILT_BIN;
}

const char* mock_bin() {
  const char* e = std::getenv("DEEPGATE_MOCK_BIN");
  return e && *e ? e : DEEPGATE_BUILT_MOCK_BIN;
}

namespace {
void expect_clean_exit(child_process* p, const char* what) {
  if (!p) return;
  if (p->running()) p->signal(SIGTERM);
  auto code = p->wait_exit(std::chrono::seconds(20));
  if (code && *code == 0) return;
  auto log = p->log();
  // A sanitizer's report is what explains the exit: show it, not only the log's last lines
  // (the access log written after it would push it out of the tail).
  auto from = std::string::npos;
  for (const char* mark : {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"})
    from = std::min(from, log.find(mark));
  std::string shown;
  if (from != std::string::npos) {
    const auto line = log.rfind('\n', from);  // from the start of the report's line
    shown = "sanitizer report:\n" + log.substr(line == std::string::npos ? 0 : line + 1, 12000) + "\n...\nlog tail:\n";
  }
  shown += log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  if (!code) ADD_FAILURE() << what << " did not exit within 20 s of SIGTERM; " << shown;
  else ADD_FAILURE() << what << " exited with " << *code << "; " << shown;
}

std::string log_dir(const std::string& dir) { return dir.empty() ? make_temp_dir("deepgate-test") : dir; }
}  // namespace

mock_server::~mock_server() { expect_clean_exit(process.get(), "deepgate-mock"); }
// After every gateway any test ran: each access-log line is JSON with every field, and the
// client key all tests use appears nowhere in the gateway's output.
gateway_server::~gateway_server() {
  expect_clean_exit(process.get(), "deepgate");
  if (!process) return;
  std::vector<nlohmann::json> lines;
  try {
    lines = access_lines();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "an access-log line is not JSON: " << e.what();
  }
  for (auto& l : lines)
    for (const char* f : {"time", "request_id", "route", "key_id", "owner", "model", "backend", "status", "cache",
                          "stream", "duration_ms", "upstream_ms", "ttft_ms", "queue_wait_ms", "overhead_ms", "tokens",
                          "cost_usd", "price_tier", "retries", "error_code", "upstream_error", "client", "prompt_sha256"})
      if (!l.contains(f)) ADD_FAILURE() << "access-log line without \"" << f << "\": " << l.dump();
  if (process->log().find(test_key) != std::string::npos) ADD_FAILURE() << "the client key appears in deepgate's log";
}

std::unique_ptr<mock_server> mock_server::start(std::vector<std::string> args, const std::string& dir) {
  auto m = std::make_unique<mock_server>();
  std::vector<std::string> argv{mock_bin(), "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  m->process = std::make_unique<child_process>(argv, std::vector<std::pair<std::string, std::string>>{},
                                               log_dir(dir) + "/mock.log");
  auto line = m->process->wait_for_log("listening on", std::chrono::seconds(10));
  if (!line) throw std::runtime_error("deepgate-mock did not start:\n" + m->process->log());
  m->port = port_from_line(*line);
  m->tls = std::find(args.begin(), args.end(), "--tls-cert") != args.end();
  return m;
}

std::string capture(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

namespace {
nlohmann::json mock_get(const mock_server& m, const std::string& path) {
  std::string body = m.tls ? capture("curl -sk --max-time 10 https://127.0.0.1:" + std::to_string(m.port) + path)
                           : http_call(m.port, "GET", path).body;
  return nlohmann::json::parse(body);
}
}  // namespace

nlohmann::json mock_server::stats() const { return mock_get(*this, "/mock/stats"); }

nlohmann::json mock_server::last_request() const { return mock_get(*this, "/mock/last_request"); }

std::unique_ptr<gateway_server> gateway_server::start(const std::string& yaml,
                                                      std::vector<std::pair<std::string, std::string>> env,
                                                      std::vector<std::string> extra_args) {
  auto g = std::make_unique<gateway_server>();
  g->dir = make_temp_dir("deepgate-test");
  // The admin listener (metrics) is on by default at 8081: tests give it a free port instead.
  bool has_admin = yaml.starts_with("admin:") || yaml.find("\nadmin:") != std::string::npos;
  write_file(g->dir + "/deepgate.yaml", has_admin ? yaml : yaml + "admin:\n  port: 0\n");
  std::vector<std::string> argv{gateway_bin(), "--config", g->dir + "/deepgate.yaml"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  g->process = std::make_unique<child_process>(argv, env, g->dir + "/deepgate.log");
  auto line = g->process->wait_for_log("listening on", std::chrono::seconds(10));
  if (!line) throw std::runtime_error("deepgate did not start:\n" + g->process->log());
  g->port = port_from_line(*line);
  if (auto admin = g->process->wait_for_log("admin API on ", std::chrono::seconds(1)))
    g->admin_port = port_from_line(*admin, "admin API on ");
  return g;
}

std::string gateway_server::metrics() const { return http_call(admin_port, "GET", "/metrics").body; }

std::vector<nlohmann::json> gateway_server::access_lines() const {
  std::vector<nlohmann::json> out;
  auto text = process->log();
  for (std::size_t pos = 0; pos < text.size();) {
    auto end = text.find('\n', pos);
    // A last line without its newline is still being written (the log's writer thread hands
    // out 32 KiB batches): it is read whole on a later call (callers await with eventually()).
    if (end == std::string::npos) break;
    auto line = text.substr(pos, end - pos);
    if (line.starts_with("{\"time\":")) out.push_back(nlohmann::json::parse(line));
    pos = end + 1;
  }
  return out;
}

double metric_value(const std::string& text, const std::string& series) {
  double sum = 0;
  bool found = false;
  for (std::size_t pos = 0; pos < text.size();) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string_view::npos) continue;
    auto name = line.substr(0, sp);
    // `series` is a name, optionally with some of its labels: every listed label must match.
    auto brace = series.find('{');
    auto want_name = series.substr(0, brace);
    if (name.substr(0, name.find('{')) != want_name) continue;
    bool match = true;
    if (brace != std::string::npos) {
      std::string labels = series.substr(brace + 1, series.size() - brace - 2);
      for (std::size_t lp = 0; lp < labels.size();) {
        auto comma = labels.find(',', lp);
        if (comma == std::string::npos) comma = labels.size();
        if (name.find(labels.substr(lp, comma - lp)) == std::string_view::npos) match = false;
        lp = comma + 1;
      }
    }
    if (!match) continue;
    found = true;
    sum += std::stod(std::string(line.substr(sp + 1)));
  }
  return found ? sum : 0;
}

std::string auth_yaml_with(const std::vector<key_entry>& more) {
  auto y = std::string("auth:\n  keys:\n    - {id: test, owner: tests, key: ") + test_key + "}\n";
  for (const auto& k : more)
    y += "    - {id: " + k.id + ", owner: " + k.owner + ", key: " + k.key + (k.extra.empty() ? "" : ", " + k.extra) + "}\n";
  return y;
}

std::string test_auth_yaml() { return auth_yaml_with({}); }

std::string gateway_yaml(std::uint16_t mock_port, const std::string& server_extra, const std::string& backend_extra,
                         const std::string& sections) {
  return "server:\n  host: 127.0.0.1\n  port: 0\n  workers: 2\n" + server_extra +
         "backends:\n  - name: mock\n    url: http://127.0.0.1:" + std::to_string(mock_port) + "\n" + backend_extra +
         // Suites share one gateway across many failure cases: its breaker would open between
         // them. The breaker's own tests turn it on.
         (backend_extra.find("breaker:") == std::string::npos ? "    breaker: {failures: 0}\n" : "") +
         "models:\n"
         // As the embedded defaults serve them: the pre-V4 names are DeepSeek's current Flash with
         // thinking off (chat) or on (reasoner); the mock serves only the current names.
         "  - name: deepseek-chat\n    backend: mock\n    upstream_model: deepseek-flash\n"
         "    set: {thinking: {type: disabled}}\n    aliases: [gpt-4o-mini]\n"
         "  - name: deepseek-reasoner\n    backend: mock\n    upstream_model: deepseek-flash\n"
         "    set: {thinking: {type: enabled}}\n"
         "  - name: deepseek-flash\n    backend: mock\n"
         "  - name: deepseek-v4-pro\n    backend: mock\n" +
         sections + (sections.find("admin:") == std::string::npos ? "admin:\n  port: 0\n" : "") +
         "log:\n  level: info\n";
}

std::string chat_body(const std::string& content, bool stream, const std::string& model, const std::string& extra) {
  nlohmann::json j = {{"model", model}, {"messages", {{{"role", "user"}, {"content", content}}}}};
  if (stream) j["stream"] = true;
  if (!extra.empty()) j.update(nlohmann::json::parse(extra));
  return j.dump();
}

}  // namespace deepgate::test
