#include "redis_server.hpp"

#include "fixture.hpp"

#include <stdexcept>


namespace deepgate::test {

std::unique_ptr<redis_server> redis_server::start(std::vector<std::string> extra, std::uint16_t port, bool tls_port) {
  auto r = std::make_unique<redis_server>();
  r->dir = make_temp_dir("deepgate-redis");
  r->port = port ? port : free_port();
  std::vector<std::string> argv{"/usr/bin/redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", r->dir};
  if (tls_port) {
    argv.insert(argv.end(), {"--port", "0", "--tls-port", std::to_string(r->port)});
  } else {
    argv.insert(argv.end(), {"--port", std::to_string(r->port)});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  r->process = std::make_unique<child_process>(argv, std::vector<std::pair<std::string, std::string>>{},
                                               r->dir + "/redis.log");
  if (!r->process->wait_for_log("Ready to accept connections", std::chrono::seconds(10)))
    throw std::runtime_error("redis-server did not start:\n" + r->process->log());
  return r;
}

std::string redis_server::cli(const std::string& args, const std::string& password) const {
  return capture("redis-cli -h 127.0.0.1 -p " + std::to_string(port) + (password.empty() ? "" : " --no-auth-warning -a " + password) +
                 " " + args + " 2>&1");
}

}  // namespace deepgate::test
