#pragma once
// The HTTP/1.1 front end: `workers` threads, each running its own io_context with its own
// SO_REUSEPORT acceptor, one coroutine per connection. A connection lives its whole life on
// one thread, so nothing on the per-connection path takes a lock.
//
// The server knows HTTP (limits, deadlines, keep-alive, TLS, draining); what a request means
// is the handler's business. deepgate and deepgate-mock share it.
#include "deepgate/config/config.hpp"
#include "deepgate/http/message.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace deepgate::http {

using handler = std::function<boost::asio::awaitable<void>(request&, response_writer&)>;
// Runs on a request's head (the body not read yet; `request::body` empty) for a request that has
// a body: an error is answered at once and the connection closed, so a client the handler would
// refuse anyway (no valid key) costs no body memory. Runs on the connection's thread. It may
// leave what it learned in `request::head_state` for the handler.
using head_check = std::function<std::optional<api_error>(request&)>;

class server {
 public:
  server(config::server_config options, handler h, head_check check = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Number of event loops (resolved from options.workers).
  unsigned workers() const;
  boost::asio::any_io_executor worker_executor(unsigned i) const;

  // Binds every worker's acceptor (port 0 picks a free port, shared by all workers) and starts
  // the worker threads. Throws std::system_error when the address cannot be bound.
  void start();
  std::uint16_t port() const;

  // Thread-safe. Stops accepting and closes idle keep-alive connections; requests in flight
  // finish and their connections then close.
  void begin_drain();
  bool draining() const;
  // The drain deadline: every handler still running that asked (on_drain_deadline) is told to
  // end its response now.
  void cut_in_flight();
  std::size_t open_connections() const;
  // Request body bytes held now (declared by requests being read, or read and being handled).
  std::size_t body_bytes_in_flight() const;

  // Thread-safe. Stops every event loop and joins the threads; connections still open are dropped.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace deepgate::http
