#include "redis_server.hpp"

#include "fixture.hpp"

#include <cstdlib>
#include <sstream>
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

std::unique_ptr<redis_cluster> redis_cluster::start(int primaries, int replicas) {
  auto c = std::make_unique<redis_cluster>();
  const int total = primaries * (1 + replicas);
  std::string addresses;
  for (int i = 0; i < total; ++i) {
    // The cluster bus port is its own free port (by default it is the data port + 10000, which
    // may be taken or above 65535).
    std::uint16_t port = free_port(), bus = free_port();
    while (bus == port) bus = free_port();
    c->nodes.push_back(redis_server::start({"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                            "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
                                            "--cluster-port", std::to_string(bus),
                                            // Replicas sync at once (no 5 s diskless delay), and
                                            // may always take over, however stale.
                                            "--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0"},
                                           port));
    addresses += " 127.0.0.1:" + std::to_string(c->nodes.back()->port);
  }
  auto out = capture("redis-cli --cluster create" + addresses + " --cluster-replicas " + std::to_string(replicas) +
                     " --cluster-yes 2>&1");
  if (out.find("All 16384 slots covered") == std::string::npos)
    throw std::runtime_error("redis-cli --cluster create failed:\n" + out);
  if (!eventually([&] { return c->healthy(); }, std::chrono::seconds(20)))
    throw std::runtime_error("the Redis Cluster did not become healthy:\n" + c->nodes.front()->cli("CLUSTER INFO"));
  return c;
}

std::string redis_cluster::url() const { return "redis://127.0.0.1:" + std::to_string(nodes.front()->port); }

namespace {
bool alive(const redis_server& n) { return n.process && n.process->running(); }
}  // namespace

redis_server* redis_cluster::primary_for(const std::string& key) const {
  for (auto& n : nodes) {
    if (!alive(*n)) continue;
    auto slot_text = n->cli("CLUSTER KEYSLOT '" + key + "'");
    const int slot = std::atoi(slot_text.c_str());
    // CLUSTER NODES: "<id> <ip:port@cport> <flags> <primary> <ping> <pong> <epoch> <link> <slot ranges>..."
    std::istringstream lines(n->cli("CLUSTER NODES"));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream f(line);
      std::vector<std::string> w;
      for (std::string t; f >> t;) w.push_back(t);
      if (w.size() < 9 || w[2].find("master") == std::string::npos || w[2].find("fail") != std::string::npos) continue;
      for (std::size_t i = 8; i < w.size(); ++i) {
        auto dash = w[i].find('-');
        const int from = std::atoi(w[i].c_str());
        const int to = dash == std::string::npos ? from : std::atoi(w[i].c_str() + dash + 1);
        if (slot < from || slot > to) continue;
        const int port = std::atoi(w[1].c_str() + w[1].find(':') + 1);
        for (auto& m : nodes)
          if (m->port == port && alive(*m)) return m.get();
      }
    }
    return nullptr;
  }
  return nullptr;
}

std::string redis_cluster::cli(const std::string& args) const {
  for (auto& n : nodes)
    if (alive(*n)) return capture("redis-cli -c -h 127.0.0.1 -p " + std::to_string(n->port) + " " + args + " 2>&1");
  return {};
}

bool redis_cluster::healthy() const {
  for (auto& n : nodes) {
    if (!alive(*n)) continue;
    if (n->cli("CLUSTER INFO").find("cluster_state:ok") == std::string::npos) return false;
    auto info = n->cli("INFO replication");
    if (info.find("role:slave") != std::string::npos && info.find("master_link_status:up") == std::string::npos) return false;
  }
  // Every slot's primary is a live node.
  for (const char* probe : {"a", "b", "c", "team-a", "deepgate:keys"})
    if (!primary_for(probe)) return false;
  return true;
}

}  // namespace deepgate::test
