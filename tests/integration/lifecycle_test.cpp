// Command line, configuration from the environment, and shutdown: drain, deadline, second signal.
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>

#include <unistd.h>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {
int run_cli(const std::string& args, std::string& out) {
  out = capture(std::string(gateway_bin()) + " " + args + " 2>&1; echo \"exit=$?\"");
  auto at = out.rfind("exit=");
  int code = std::stoi(out.substr(at + 5));
  out.erase(at);
  return code;
}
// Starts a streamed request in the background; the returned future completes with the response,
// and `first_bytes` is ready once the first body bytes arrived.
std::future<http_response> stream_in_background(std::uint16_t port, const std::string& content,
                                                std::promise<void>& first_bytes) {
  return std::async(std::launch::async, [port, content, &first_bytes] {
    bool signalled = false;
    http_connection c(port);
    return c.request("POST", "/v1/chat/completions", chat_body(content, true), {{"Content-Type", "application/json"}},
                     [&](std::string_view) {
                       if (!signalled) first_bytes.set_value();
                       signalled = true;
                       return true;
                     });
  });
}
}  // namespace

TEST(cli, version_and_check_config) {
  std::string out;
  EXPECT_EQ(run_cli("--version", out), 0);
  EXPECT_EQ(out.rfind("deepgate ", 0), 0u);
  auto dir = make_temp_dir("deepgate-cli");
  write_file(dir + "/good.yaml", gateway_yaml(9));
  EXPECT_EQ(run_cli("--check-config " + dir + "/good.yaml", out), 0) << out;
  write_file(dir + "/bad.yaml", gateway_yaml(9, "  limits: {}\n"));
  EXPECT_EQ(run_cli("--check-config " + dir + "/bad.yaml", out), 1);
  EXPECT_NE(out.find("server.limits: unknown key"), std::string::npos) << out;
  EXPECT_EQ(run_cli("--config " + dir + "/missing.yaml", out), 1);
  EXPECT_EQ(run_cli("--frobnicate", out), 2);
}

TEST(cli, the_example_config_is_valid) {
  std::string out;
  EXPECT_EQ(run_cli("--check-config " DEEPGATE_SOURCE_DIR "/config/deepgate.example.yaml", out), 0) << out;
}

TEST(environment, runs_without_a_config_file) {
  auto mock = mock_server::start();
  auto dir = make_temp_dir("deepgate-env");
  std::string out;
  ASSERT_EQ(run_cli("keys create --owner env-test --json --keys-file " + dir + "/keys.json", out), 0) << out;
  auto key = json::parse(out)["key"].get<std::string>();
  child_process gw({gateway_bin()},
                   {{"PORT", "0"}, {"DEEPGATE_HOST", "127.0.0.1"}, {"DEEPGATE_ADMIN_PORT", "0"},
                    {"DEEPGATE_UPSTREAM_URL", "http://127.0.0.1:" + std::to_string(mock->port)},
                    {"DEEPSEEK_API_KEY", "sk-env-canary-4410"}, {"DEEPGATE_KEYS_FILE", dir + "/keys.json"}},
                   dir + "/gw.log");
  auto line = gw.wait_for_log("listening on", std::chrono::seconds(10));
  ASSERT_TRUE(line) << gw.log();
  auto port = port_from_line(*line);
  auto r = post_json(port, "/v1/chat/completions", chat_body("from env"), {{"Authorization", "Bearer " + key}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(mock->last_request()["headers"]["authorization"], "Bearer sk-env-canary-4410");
  // The embedded defaults (issue 16): the legacy name reaches DeepSeek as deepseek-flash with
  // thinking disabled, the reasoner's with thinking enabled; the current names are served as
  // they are; a limits profile is present, so the answer carries x-ratelimit-*.
  EXPECT_EQ(mock->last_request()["body"]["model"], "deepseek-flash");
  EXPECT_EQ(mock->last_request()["body"]["thinking"]["type"], "disabled");
  EXPECT_FALSE(r.header("x-ratelimit-limit-requests").empty());
  auto reasoner = post_json(port, "/v1/chat/completions", chat_body("think", false, "deepseek-reasoner"),
                            {{"Authorization", "Bearer " + key}});
  EXPECT_EQ(reasoner.status, 200) << reasoner.body;
  EXPECT_EQ(mock->last_request()["body"]["thinking"]["type"], "enabled");
  EXPECT_TRUE(json::parse(reasoner.body)["choices"][0]["message"].contains("reasoning_content"));
  for (const char* name : {"deepseek-flash", "deepseek-v4-pro", "deepseek-v4-flash"}) {
    auto v4 = post_json(port, "/v1/chat/completions", chat_body("v4", false, name), {{"Authorization", "Bearer " + key}});
    EXPECT_EQ(v4.status, 200) << name << ": " << v4.body;
    EXPECT_EQ(mock->last_request()["body"]["model"], std::string(name) == "deepseek-v4-pro" ? "deepseek-v4-pro" : "deepseek-flash");
    EXPECT_FALSE(mock->last_request()["body"].contains("thinking")) << name;  // DeepSeek's default: thinking on
    EXPECT_TRUE(json::parse(v4.body)["choices"][0]["message"].contains("reasoning_content")) << name;
  }
  EXPECT_EQ(gw.log().find("sk-env-canary-4410"), std::string::npos);
}

TEST(environment, port_in_use_fails_fast) {
  // A listener without SO_REUSEPORT owns the port: deepgate must say so and exit 1.
  silent_listener taken;
  auto dir = make_temp_dir("deepgate-env");
  child_process gw({gateway_bin()}, {{"PORT", std::to_string(taken.port)}, {"DEEPGATE_HOST", "127.0.0.1"}, {"DEEPGATE_ADMIN_PORT", "0"}},
                   dir + "/gw.log");
  EXPECT_EQ(gw.wait_exit(std::chrono::seconds(10)), 1);
  EXPECT_NE(gw.log().find("cannot listen"), std::string::npos) << gw.log();
}

TEST(drain, sigterm_lets_streams_finish_then_exits_zero) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  drain_delay: 400ms\n  drain_timeout: 10s\n"));
  std::promise<void> first_bytes;
  auto done = stream_in_background(gw->port, "[mock tokens=20 tps=20]", first_bytes);
  ASSERT_EQ(first_bytes.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  gw->process->signal(SIGTERM);
  // Readiness fails at once, while the listener still accepts during the delay.
  EXPECT_TRUE(eventually([&] { return http_call(gw->port, "GET", "/readyz").status == 503; }, std::chrono::seconds(2)));
  auto r = done.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(sse_items(r.body).back(), "[DONE]");
  EXPECT_EQ(gw->process->wait_exit(std::chrono::seconds(10)), 0);
}

TEST(drain, deadline_ends_what_is_left_and_exits_zero) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  drain_timeout: 300ms\n"));
  std::promise<void> first_bytes;
  auto done = stream_in_background(gw->port, "[mock tokens=200 tps=20]", first_bytes);
  ASSERT_EQ(first_bytes.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto start = std::chrono::steady_clock::now();
  gw->process->signal(SIGTERM);
  EXPECT_EQ(gw->process->wait_exit(std::chrono::seconds(5)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The stream still running at the deadline ends with one error event and no [DONE].
  auto r = done.get();
  EXPECT_EQ(r.status, 200);
  auto items = sse_items(r.body);
  ASSERT_FALSE(items.empty());
  EXPECT_NE(items.back(), "[DONE]");
  auto last = json::parse(items.back(), nullptr, false);
  ASSERT_TRUE(last.contains("error")) << items.back();
  EXPECT_EQ(last["error"]["code"], "server_shutting_down");
  EXPECT_EQ(std::count_if(items.begin(), items.end(), [](auto& i) { return i.find("\"error\"") != std::string::npos; }), 1);
}

TEST(drain, two_hundred_streams_in_flight_finish_across_sigterm) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  drain_timeout: 60s\n"));
  constexpr int streams = 200;
  std::vector<std::future<http_response>> done;
  for (int i = 0; i < streams; ++i)
    done.push_back(std::async(std::launch::async, [port = gw->port, i] {
      http_connection c(port, std::chrono::seconds(60));
      return c.request("POST", "/v1/chat/completions",
                       chat_body("drain " + std::to_string(i) + " [mock tokens=30 tps=10]", true),
                       {{"Content-Type", "application/json"}});
    }));
  // Every one of them is being answered by the backend when the signal comes.
  ASSERT_TRUE(eventually([&] { return mock->stats()["active"].get<int>() == streams; }, std::chrono::seconds(30)))
      << mock->stats().dump();
  gw->process->signal(SIGTERM);
  int complete = 0;
  for (auto& f : done) {
    auto r = f.get();
    auto items = sse_items(r.body);
    complete += r.status == 200 && r.complete && !items.empty() && items.back() == "[DONE]";
  }
  EXPECT_EQ(complete, streams);
  EXPECT_EQ(gw->process->wait_exit(std::chrono::seconds(20)), 0);
  EXPECT_EQ(mock->chat_requests(), static_cast<std::uint64_t>(streams));  // none was sent twice
}

TEST(drain, second_signal_exits_at_once) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "  drain_delay: 30s\n"));
  gw->process->signal(SIGTERM);
  ASSERT_TRUE(gw->process->wait_for_log("draining", std::chrono::seconds(5)));
  gw->process->signal(SIGINT);
  EXPECT_EQ(gw->process->wait_exit(std::chrono::seconds(5)), 0);
}

TEST(drain, idle_keep_alive_connections_are_closed) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port));
  http_connection c(gw->port);
  ASSERT_EQ(c.request("GET", "/healthz").status, 200);
  gw->process->signal(SIGTERM);
  EXPECT_TRUE(c.closed_by_peer(std::chrono::seconds(5)));
  EXPECT_EQ(gw->process->wait_exit(std::chrono::seconds(5)), 0);
}

// Each thread of a process as the kernel sees it: state, where it sleeps, and its signal sets
// (pending for it, pending for the process, blocked, caught), for a process that did not stop.
static std::string thread_states(pid_t pid) {
  std::string out;
  const auto task_dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(task_dir, ec)) {
    std::ifstream status(t.path() / "status"), wchan(t.path() / "wchan");
    std::string line, sleeps;
    std::getline(wchan, sleeps);
    out += t.path().filename().string() + ":";
    while (std::getline(status, line))
      for (const char* f : {"Name:", "State:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigCgt:"})
        if (line.starts_with(f)) out += " " + line;
    out += " wchan: " + sleeps + "\n";
  }
  return out;
}

// The control thread's periodic jobs re-arm themselves (here the access-log flush, every
// millisecond). A stop that lands as one fires must still end the process: a cancelled timer
// that had already expired used to run its handler, re-arm, and keep the process alive forever
// (5 of 150 stops hung with this interval).
TEST(drain, every_stop_exits_whatever_the_periodic_jobs_are_doing) {
  auto dir = make_temp_dir("deepgate-stops");
  auto yaml = gateway_yaml(9);
  yaml.replace(yaml.find("log:\n  level: info\n"), 19, "log:\n  level: info\n  access:\n    flush_interval: 1ms\n");
  write_file(dir + "/deepgate.yaml", yaml);
  for (int i = 0; i < 60; ++i) {
    child_process gw({gateway_bin(), "--config", dir + "/deepgate.yaml"}, {}, dir + "/gw-" + std::to_string(i) + ".log");
    ASSERT_TRUE(gw.wait_for_log("listening on", std::chrono::seconds(10))) << gw.log();
    gw.signal(SIGTERM);
    // A hang is forever; 20 s (the fixture's bound for every clean exit) leaves room for a
    // sanitizer build on a loaded machine, where one stop in a CI run once took over 5 s.
    auto code = gw.wait_exit(std::chrono::seconds(20));
    ASSERT_TRUE(code.has_value()) << "stop " << i << " did not end the process:\n"
                                  << gw.log() << "\nits threads:\n" << thread_states(gw.pid());
    EXPECT_EQ(*code, 0) << gw.log();
  }
}
