#pragma once
// A real redis-server for tests, on a free loopback port, stopped with the object.
#include "process.hpp"

#include <memory>
#include <string>
#include <vector>

namespace deepgate::test {

struct redis_server {
  // `extra` are redis-server arguments (e.g. {"--requirepass", "pw"}). With `tls_port`, the
  // server listens with TLS on `port` (cert/key/ca files must be in `extra`).
  static std::unique_ptr<redis_server> start(std::vector<std::string> extra = {}, std::uint16_t port = 0,
                                             bool tls_port = false);
  std::uint16_t port = 0;
  std::string dir;
  std::unique_ptr<child_process> process;
  // redis-cli against this server (plain TCP only); returns its output.
  std::string cli(const std::string& args, const std::string& password = {}) const;
};

}  // namespace deepgate::test
