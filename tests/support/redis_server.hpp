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

// A real Redis Cluster on loopback: `primaries` primaries with `replicas` replicas each
// (redis-server --cluster-enabled yes, joined by redis-cli --cluster create), cluster-node-timeout
// 1 s so a replica takes over a killed primary within a few seconds. Stopped with the object.
struct redis_cluster {
  static std::unique_ptr<redis_cluster> start(int primaries = 3, int replicas = 1);
  std::vector<std::unique_ptr<redis_server>> nodes;
  std::string url() const;  // redis://127.0.0.1:<first node>
  // The node serving `key`'s slot as its primary now (nullptr if none is up).
  redis_server* primary_for(const std::string& key) const;
  // redis-cli -c (follows redirections) against a live node.
  std::string cli(const std::string& args) const;
  // True once every live node reports cluster_state:ok and each slot has a live primary.
  bool healthy() const;
};

}  // namespace deepgate::test
