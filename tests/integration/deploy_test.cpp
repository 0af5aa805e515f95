// The repo's deploy/nginx config, rendered with test ports, in front of two deepgate replicas
// that share a real Redis: streams pass through nginx event by event, a per-key limit holds
// across both replicas, and X-Forwarded-For is believed only from a trusted proxy. The repo's
// deploy/haproxy config, given test ports through its environment variables: streams pass event
// by event, the client address survives HAProxy's extra X-Forwarded-For line, and a replica that
// drains leaves the rotation (its /readyz check) while its stream finishes, with no client error.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <utility>

using namespace deepgate::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// envsubst, as the nginx image does it: ${NAME} for the names given, nothing else.
std::string render(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars)
    for (auto at = text.find("${" + name + "}"); at != std::string::npos; at = text.find("${" + name + "}"))
      text.replace(at, name.size() + 3, value);
  return text;
}

struct nginx_in_front {
  std::unique_ptr<redis_server> redis;
  std::unique_ptr<mock_server> mock;
  std::unique_ptr<gateway_server> replicas[2];
  std::unique_ptr<child_process> nginx;
  std::uint16_t port = 0;

  // `trusted`: the replicas believe X-Forwarded-For from nginx (127.0.0.1).
  explicit nginx_in_front(bool trusted) {
    redis = redis_server::start();
    mock = mock_server::start();
    const auto sections = test_auth_yaml() + "limits:\n  store: redis\n  default:\n    requests_per_minute: 6\n" +
                          "redis:\n  url: redis://127.0.0.1:" + std::to_string(redis->port) + "\n";
    const std::string server_extra = trusted ? "  trusted_proxies: [127.0.0.1/32]\n" : "";
    for (auto& r : replicas) r = gateway_server::start(gateway_yaml(mock->port, server_extra, "", sections));
    const auto dir = make_temp_dir("deepgate-nginx");
    port = free_port();
    write_file(dir + "/deepgate.conf",
               render(read_text(DEEPGATE_SOURCE_DIR "/deploy/nginx/templates/deepgate.conf.template"),
                      {{"DEEPGATE_REPLICA_1", "127.0.0.1:" + std::to_string(replicas[0]->port)},
                       {"DEEPGATE_REPLICA_2", "127.0.0.1:" + std::to_string(replicas[1]->port)},
                       {"NGINX_PORT", "127.0.0.1:" + std::to_string(port)}}));
    // The main file a distribution's nginx.conf would be, with paths an unprivileged test can use.
    write_file(dir + "/nginx.conf", "worker_processes 1;\ndaemon off;\npid " + dir + "/nginx.pid;\nerror_log " + dir +
                                        "/error.log warn;\nevents { worker_connections 1024; }\nhttp {\n  access_log " +
                                        dir + "/access.log;\n  client_body_temp_path " + dir + "/body;\n  proxy_temp_path " +
                                        dir + "/proxy;\n  fastcgi_temp_path " + dir + "/fastcgi;\n  uwsgi_temp_path " + dir +
                                        "/uwsgi;\n  scgi_temp_path " + dir + "/scgi;\n  include " + dir +
                                        "/deepgate.conf;\n}\n");
    nginx = std::make_unique<child_process>(
        std::vector<std::string>{"/usr/sbin/nginx", "-e", dir + "/error.log", "-p", dir, "-c", dir + "/nginx.conf"},
        std::vector<std::pair<std::string, std::string>>{}, dir + "/nginx.log");
    if (!eventually([&] { return http_call(port, "GET", "/nginx-health").status == 200; }, 10s))
      ADD_FAILURE() << "nginx did not start: " << nginx->log() << read_text(dir + "/error.log");
  }

  std::vector<json> access_lines() const {
    std::vector<json> all;
    for (auto& r : replicas)
      for (auto& line : r->access_lines())
        if (line.value("route", "") == "chat_completions") all.push_back(line);
    return all;
  }
};

}  // namespace

TEST(deploy_nginx, streams_arrive_event_by_event_and_limits_hold_across_replicas) {
  nginx_in_front stack(true);
  // Six tokens a quarter second apart: a buffering proxy would deliver them all at the end.
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  http_connection c(stack.port);
  auto r = c.request("POST", "/v1/chat/completions", chat_body("events [mock tokens=6 tps=4]", true),
                     {{"Content-Type", "application/json"}}, [&](std::string_view bytes) {
                       if (bytes.find("data: ") != std::string_view::npos) arrivals.push_back(std::chrono::steady_clock::now());
                       return true;
                     });
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sse_items(r.body).back(), "[DONE]");
  EXPECT_EQ(r.header("content-type").rfind("text/event-stream", 0), 0u);
  ASSERT_GE(arrivals.size(), 4u) << "the events came in " << arrivals.size() << " pieces";
  // The first event was in the client's hands well before the last was generated.
  EXPECT_GT(arrivals.back() - arrivals.front(), 750ms);

  // requests_per_minute: 6 per key, shared through Redis: round-robin over both replicas, the
  // key gets five more (one went above), then 429s, whichever replica answers.
  int ok = 0, limited = 0;
  for (int i = 0; i < 10; ++i) {
    auto a = post_json(stack.port, "/v1/chat/completions", chat_body("limited " + std::to_string(i)));
    ok += a.status == 200;
    limited += a.status == 429;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(limited, 5);
  ASSERT_TRUE(eventually([&] { return stack.access_lines().size() == 11; }, 5s));
  std::map<int, int> refused_by;  // replica → 429s it answered
  for (int i = 0; i < 2; ++i)
    for (auto& line : stack.replicas[i]->access_lines())
      if (line.value("status", 0) == 429) ++refused_by[i];
  EXPECT_GT(refused_by[0], 0);  // both replicas refused: the count is shared, not per replica
  EXPECT_GT(refused_by[1], 0);
}

TEST(deploy_nginx, the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy) {
  for (bool trusted : {true, false}) {
    nginx_in_front stack(trusted);
    auto r = post_json(stack.port, "/v1/chat/completions", chat_body("who"), {{"X-Forwarded-For", "203.0.113.7"}});
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(eventually([&] { return stack.access_lines().size() == 1; }, 5s));
    // nginx appends its peer (127.0.0.1): trusted, deepgate walks past it to the client nginx
    // was told about; not trusted, the header is ignored and nginx's own address is the client.
    EXPECT_EQ(stack.access_lines()[0]["client"], trusted ? "203.0.113.7" : "127.0.0.1") << (trusted ? "trusted" : "not");
  }
}

namespace {

// deploy/haproxy/haproxy.cfg as it is, in front of two replicas, each with its own mock so the
// mocks' counters say which replica served a request.
struct haproxy_in_front {
  std::unique_ptr<mock_server> mocks[2];
  std::unique_ptr<gateway_server> replicas[2];
  std::unique_ptr<child_process> haproxy;
  std::uint16_t port = 0;

  explicit haproxy_in_front(const std::string& server_extra) {
    for (int i = 0; i < 2; ++i) {
      mocks[i] = mock_server::start();
      replicas[i] = gateway_server::start(gateway_yaml(mocks[i]->port, "  trusted_proxies: [127.0.0.1/32]\n" + server_extra));
    }
    const auto dir = make_temp_dir("deepgate-haproxy");
    port = free_port();
    haproxy = std::make_unique<child_process>(
        std::vector<std::string>{"/usr/sbin/haproxy", "-db", "-f", DEEPGATE_SOURCE_DIR "/deploy/haproxy/haproxy.cfg"},
        std::vector<std::pair<std::string, std::string>>{
            {"DEEPGATE_REPLICA_1", "127.0.0.1:" + std::to_string(replicas[0]->port)},
            {"DEEPGATE_REPLICA_2", "127.0.0.1:" + std::to_string(replicas[1]->port)},
            {"HAPROXY_BIND", "127.0.0.1"},
            {"HAPROXY_PORT", std::to_string(port)}},
        dir + "/haproxy.log");
    if (!eventually([&] { return http_call(port, "GET", "/healthz").status == 200; }, 10s))
      ADD_FAILURE() << "haproxy did not start: " << haproxy->log();
  }
};

}  // namespace

TEST(deploy_haproxy, streams_pass_event_by_event_and_the_client_address_survives_its_forwardfor_line) {
  haproxy_in_front stack("");
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  http_connection c(stack.port, 30s, "127.0.0.2");  // a client that is not a trusted proxy
  ASSERT_TRUE(c.ok());
  // The client claims an address of its own; HAProxy adds a second line with the real one.
  auto r = c.request("POST", "/v1/chat/completions", chat_body("events [mock tokens=6 tps=4]", true),
                     {{"Content-Type", "application/json"}, {"X-Forwarded-For", "203.0.113.7"}},
                     [&](std::string_view bytes) {
                       if (bytes.find("data: ") != std::string_view::npos) arrivals.push_back(std::chrono::steady_clock::now());
                       return true;
                     });
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sse_items(r.body).back(), "[DONE]");
  ASSERT_GE(arrivals.size(), 4u) << "the events came in " << arrivals.size() << " pieces";
  EXPECT_GT(arrivals.back() - arrivals.front(), 750ms);
  std::vector<json> lines;
  ASSERT_TRUE(eventually([&] {
    lines.clear();
    for (auto& rep : stack.replicas)
      for (auto& l : rep->access_lines())
        if (l.value("route", "") == "chat_completions") lines.push_back(l);  // not HAProxy's checks
    return lines.size() == 1;
  }, 5s));
  // "203.0.113.7, 127.0.0.2" from trusted 127.0.0.1: the right-most address that is not a proxy
  // is the real client, not what it wrote.
  EXPECT_EQ(lines[0]["client"], "127.0.0.2") << lines[0];
}

TEST(deploy_haproxy, a_draining_replica_leaves_the_rotation_while_its_stream_finishes) {
  haproxy_in_front stack("  drain_delay: 5s\n  drain_timeout: 30s\n");
  // A long stream, then find which replica has it.
  std::promise<void> first_bytes;
  auto long_stream = std::async(std::launch::async, [&] {
    http_connection c(stack.port, 60s);
    bool told = false;
    return c.request("POST", "/v1/chat/completions", chat_body("long [mock tokens=40 tps=8]", true),
                     {{"Content-Type", "application/json"}}, [&](std::string_view) {
                       if (!std::exchange(told, true)) first_bytes.set_value();
                       return true;
                     });
  });
  ASSERT_EQ(first_bytes.get_future().wait_for(10s), std::future_status::ready);
  const int draining = stack.mocks[0]->stats()["active"].get<int>() == 1 ? 0 : 1;
  ASSERT_EQ(stack.mocks[draining]->stats()["active"].get<int>(), 1);
  stack.replicas[draining]->process->signal(SIGTERM);
  // Requests keep flowing, none fails; once HAProxy's /readyz check has seen the 503, a run of
  // requests in a row all reach the other replica (within drain_delay, before its listener closes).
  int failed = 0, in_a_row = 0;
  auto other_before = stack.mocks[1 - draining]->chat_requests();
  const bool left = eventually([&] {
    auto a = post_json(stack.port, "/v1/chat/completions", chat_body("during drain"));
    if (a.status != 200) ++failed;
    const auto other_now = stack.mocks[1 - draining]->chat_requests();
    in_a_row = other_now == other_before + 1 ? in_a_row + 1 : 0;
    other_before = other_now;
    return in_a_row >= 6;
  }, 20s);
  EXPECT_TRUE(left) << "HAProxy kept sending requests to the draining replica";
  EXPECT_EQ(failed, 0);
  auto r = long_stream.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(sse_items(r.body).back(), "[DONE]");
  EXPECT_EQ(stack.replicas[draining]->process->wait_exit(30s), 0);
}
