// The repo's deploy/nginx config, rendered with test ports, in front of two deepgate replicas
// that share a real Redis: streams pass through nginx event by event, a per-key limit holds
// across both replicas, and X-Forwarded-For is believed only from a trusted proxy.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

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
