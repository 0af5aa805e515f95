#pragma once
// A socket's deadline, re-armed lazily. An operation sets when it would time out (`due`); the
// timer is only moved when that comes earlier than it is set for. Otherwise it fires where it is,
// finds the operation's deadline later, and re-arms once for it. So a connection's reads and
// writes arm no timer each (Beast's per-operation expiry did: a timer-queue insert and a cancel
// per operation), about one per timeout period. When it fires with an operation outstanding
// (between start() and stop()) past its deadline, it cancels the socket's operations, which then
// complete with operation_aborted and `fired` set. Used on one executor's thread; the owner
// resets `socket` and cancels the timer when the socket goes (the pending wait holds the watch).
// Heavy header: include it only from .cpp files that do network I/O.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace deepgate::net {

struct deadline_watch : std::enable_shared_from_this<deadline_watch> {
  using clock = std::chrono::steady_clock;
  explicit deadline_watch(const boost::asio::any_io_executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  clock::time_point due{}, armed_for = clock::time_point::max();  // max: not armed
  boost::asio::ip::tcp::socket* socket = nullptr;                 // set while an operation is outstanding
  bool fired = false;

  void start(clock::time_point at, boost::asio::ip::tcp::socket& s) {
    due = at;
    socket = &s;
    fired = false;
    if (armed_for > due) arm(due);
  }
  void stop() { socket = nullptr; }
  void close() {  // the socket goes
    socket = nullptr;
    timer.cancel();
  }

 private:
  void arm(clock::time_point at) {
    armed_for = at;
    timer.expires_at(at);  // a wait already set completes with operation_aborted
    timer.async_wait([self = shared_from_this(), at](boost::system::error_code ec) {
      if (ec || self->armed_for != at) return;
      self->armed_for = clock::time_point::max();
      if (!self->socket) return;                                     // nothing outstanding: the next start arms
      if (clock::now() < self->due) return self->arm(self->due);  // pushed on since it was set
      self->fired = true;
      boost::system::error_code ignored;
      self->socket->cancel(ignored);
    });
  }
};

}  // namespace deepgate::net
