#pragma once
// Talking to one backend: a per-worker pool of keep-alive connections (plain or TLS with SNI
// and certificate + host-name verification) and one request/response exchange on a leased
// connection. The exchange reads the response head, then the body either whole or piece by
// piece for relaying. A connection goes back to the pool only when its response was read to
// the end; anything else (client left, deadline, reset) discards it.
#include "deepgate/config/config.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/upstream/failure.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace deepgate::upstream {



struct response_head {
  unsigned status = 0;
  std::string content_type;
  std::optional<std::chrono::seconds> retry_after;
  bool event_stream() const { return content_type.starts_with("text/event-stream"); }
};

struct outgoing_request {
  std::string method = "POST";
  std::string path;  // already including the backend's base path
  std::string body;
  http::header_list headers;  // extra headers (request id, ...), never hop-by-hop ones
};

// Per backend, shared by all workers: the TLS client context (verification settings).
std::shared_ptr<boost::asio::ssl::context> make_client_tls(const config::backend_config& backend);

// A pool per (worker, backend); used only from that worker's thread.
class connection_pool {
 public:
  connection_pool(boost::asio::any_io_executor ex, const config::backend_config& backend,
                  std::shared_ptr<boost::asio::ssl::context> tls);
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  const config::backend_config& backend() const;
  // TLS handshakes this pool made: full, and resumed with the peer's last session.
  std::pair<std::uint64_t, std::uint64_t> tls_handshakes() const;
  // At exit, after the worker stopped but before its io_context is destroyed: closes idle
  // connections; connections released later are closed instead of kept.
  void shutdown();

  struct impl;
  impl& get() { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

class exchange {
 public:
  explicit exchange(connection_pool& pool);
  ~exchange();  // returns the connection to the pool if the response was read completely
  exchange(const exchange&) = delete;
  exchange& operator=(const exchange&) = delete;

  // Leases a connection, sends the request and reads the response head.
  boost::asio::awaitable<failure> start(const outgoing_request& req, response_head& head);
  // Appends the next body bytes to `out`; after the last ones done() is true.
  boost::asio::awaitable<failure> read_some(std::string& out);
  // Reads the rest of the body into `out`, failing with too_large past `limit` bytes.
  boost::asio::awaitable<failure> read_all(std::string& out, std::size_t limit);
  // From now on, reads end at `at` too (whichever comes first with read_timeout), failing with
  // `reason`: the first-token and whole-stream deadlines.
  void deadline(std::chrono::steady_clock::time_point at, failure reason);
  bool done() const;
  // True once the request may have reached the backend (for retry decisions).
  bool sent() const;
  // Gives the request up: closes the backend connection, so a pending start/read completes at
  // once with `reason` (abandoned: the client left; shutting_down: the drain deadline passed).
  // Call on the exchange's own thread.
  void abort(failure reason = failure::abandoned);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// A GET of `path` (the backend's base path included) read whole, up to `limit` bytes: the
// gateway's own calls to a backend (balance, model list). `current` points at the exchange while
// it runs, so a stop can abort it.
struct fetched {
  failure error = failure::none;
  unsigned status = 0;
  std::string body;
};
boost::asio::awaitable<fetched> get(connection_pool& pool, std::string path, std::size_t limit, exchange*& current);

}  // namespace deepgate::upstream
