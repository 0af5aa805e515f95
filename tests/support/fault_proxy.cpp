#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace deepgate::test {

namespace {
int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void reset(int fd) {  // close with RST: SO_LINGER 0
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}
}  // namespace

fault_proxy::fault_proxy(std::uint16_t backend_port) : backend_port_(backend_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("fault_proxy: cannot listen");
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

fault_proxy::~fault_proxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
}

void fault_proxy::accept_loop() {
  for (;;) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) < 0 || stopping_) return;
    if (!(p.revents & POLLIN)) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    ++connections_;
    std::lock_guard lock(mutex_);
    fds_.push_back(client);
    threads_.emplace_back([this, client] { serve(client); });
  }
}

// The fault in force when a request's first bytes arrive applies to that request's response, so
// a keep-alive connection the gateway pooled earlier gets the new fault too.
void fault_proxy::serve(int client) {
  auto forget = [&] {
    std::lock_guard lock(mutex_);
    fds_.erase(std::remove(fds_.begin(), fds_.end(), client), fds_.end());
  };
  int backend = -1;
  fault f = fault::none;
  std::size_t amount = 0, to_client = 0;
  bool delayed = false, silent = false, sinking = false;
  char buf[16384];
  while (!stopping_) {
    pollfd p[2] = {{client, POLLIN, 0}, {backend, short(silent || backend < 0 ? 0 : POLLIN), 0}};
    if (::poll(p, 2, 100) < 0) break;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      auto n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (!sinking) {  // a request begins (or goes on): the fault now in force
        f = fault_.load();
        amount = amount_.load();
        to_client = 0;
        delayed = silent = false;
      }
      if (f == fault::close_at_once) {
        forget();
        reset(client);
        if (backend >= 0) ::close(backend);
        return;
      }
      if (f == fault::blackhole) {  // read whatever comes, answer nothing, until the peer leaves
        sinking = true;
        continue;
      }
      if (backend < 0 && (backend = connect_to(backend_port_)) < 0) break;
      if (::send(backend, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    if (backend >= 0 && !silent && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      auto n = ::recv(backend, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (f == fault::latency && !delayed) {
        delayed = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(amount));
      }
      std::size_t give = static_cast<std::size_t>(n);
      if ((f == fault::reset_after || f == fault::half_open_after) && to_client + give >= amount) give = amount - to_client;
      if (give && ::send(client, buf, give, MSG_NOSIGNAL) != static_cast<ssize_t>(give)) break;
      to_client += give;
      if (f == fault::reset_after && to_client >= amount) {
        forget();
        reset(client);
        ::close(backend);
        return;
      }
      if (f == fault::half_open_after && to_client >= amount) silent = true;  // up, but nothing more comes
    }
  }
  forget();
  ::close(client);
  if (backend >= 0) ::close(backend);
}

}  // namespace deepgate::test
