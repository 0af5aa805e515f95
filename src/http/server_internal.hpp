#pragma once
// Shared between server.cpp (listeners, workers) and session.cpp (one connection).
#include "deepgate/http/server.hpp"
#include "deepgate/net/flex_stream.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

namespace deepgate::http::detail {

// One open connection, registered with its worker so draining can close it while it is idle
// and, at the drain deadline, tell the handler still running on it to finish.
struct connection_entry {
  net::flex_stream* stream = nullptr;
  bool idle = false;
  std::function<void()> cut;  // set by the handler (response_writer::on_drain_deadline)
};

// Per worker; touched only from that worker's thread.
struct worker_state {
  std::unordered_set<connection_entry*> connections;
};

struct server_state {
  config::server_config options;
  handler on_request;
  head_check check_head;  // may be empty
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> open_connections{0};
  std::atomic<std::size_t> body_bytes{0};  // request body bytes held now (server.max_body_bytes_in_flight)
};

boost::asio::awaitable<void> run_session(net::flex_stream stream, unsigned worker, server_state& server,
                                         worker_state& state);

}  // namespace deepgate::http::detail
