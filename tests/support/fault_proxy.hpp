#pragma once
// A TCP proxy between the gateway and a backend that breaks the backend in the ways networks
// do (docs/reliability.md): latency before the response, a reset after N response bytes, a
// blackhole (the request is read and never answered), a connection closed at once, a half-open
// one (the response stops and the connection stays up). Loopback only; one thread per
// connection, all joined when the object goes away. The fault can change between requests.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace deepgate::test {

class fault_proxy {
 public:
  enum class fault { none, latency, reset_after, blackhole, close_at_once, half_open_after };

  explicit fault_proxy(std::uint16_t backend_port);
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  // latency: `amount` ms before the first response byte; reset_after / half_open_after: after
  // `amount` response bytes, a TCP reset / silence with the connection kept open.
  void set(fault f, std::size_t amount = 0) {
    amount_ = amount;
    fault_ = f;
  }
  std::uint16_t port() const { return port_; }
  std::size_t connections() const { return connections_.load(); }

 private:
  void accept_loop();
  void serve(int client);

  std::uint16_t backend_port_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<fault> fault_{fault::none};
  std::atomic<std::size_t> amount_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::vector<int> fds_;  // open client-side fds, shut down when stopping
  std::thread acceptor_;
};

}  // namespace deepgate::test
