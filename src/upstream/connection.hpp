#pragma once
// Private to src/upstream: one backend connection and the pool's internals.
#include "deepgate/net/flex_stream.hpp"
#include "deepgate/upstream/client.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <atomic>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <utility>

namespace deepgate::upstream {

// What a response may leave unparsed in a connection's buffer: a head (64 KiB at most) plus one
// read. Body bytes leave the buffer as they are parsed, so only a line that never ends (a chunk
// extension, a trailer) could grow it: past this it is a bad response instead of unbounded memory.
inline constexpr std::size_t max_unparsed_bytes = 128 * 1024;

// The deadline of a connection's reads (and of the request's write), re-armed lazily: a read sets when it would time out (`due`), and
// the timer is only moved when that comes earlier than it is set for. Otherwise it fires where
// it is, finds the read's deadline later, and re-arms once for it. So a stream's reads arm no
// timer each (Beast's per-operation expiry did: a timer-queue insert and cancel per event), only
// one per timeout period, across the requests the connection carries. When it fires with a read outstanding and past its deadline, it
// cancels the socket's operations; the read then sees `fired`.
struct read_watch : std::enable_shared_from_this<read_watch> {
  explicit read_watch(const boost::asio::any_io_executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  std::chrono::steady_clock::time_point due{}, armed_for = std::chrono::steady_clock::time_point::max();  // max: not armed
  boost::asio::ip::tcp::socket* socket = nullptr;                         // set while a read is outstanding
  bool fired = false;

  void start(std::chrono::steady_clock::time_point at, boost::asio::ip::tcp::socket& s) {
    due = at;
    socket = &s;
    fired = false;
    if (armed_for > due) arm(due);
  }
  void stop() { socket = nullptr; }
  void arm(std::chrono::steady_clock::time_point at) {
    armed_for = at;
    timer.expires_at(at);  // a wait already set completes with operation_aborted
    timer.async_wait([self = shared_from_this(), at](boost::system::error_code ec) {
      if (ec || self->armed_for != at) return;
      self->armed_for = std::chrono::steady_clock::time_point::max();
      if (!self->socket) return;                             // no read outstanding: the next one arms
      if (std::chrono::steady_clock::now() < self->due) return self->arm(self->due);  // pushed on since it was set
      self->fired = true;
      boost::system::error_code ignored;
      self->socket->cancel(ignored);
    });
  }
};

struct connection {
  explicit connection(net::flex_stream s)
      : stream(std::move(s)), watch(std::make_shared<read_watch>(stream.get_executor())) {
    stream.tcp().expires_never();  // the watch keeps the deadlines from here on
  }
  ~connection() {
    watch->socket = nullptr;
    watch->timer.cancel();
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  net::flex_stream stream;
  std::shared_ptr<read_watch> watch;
  // Bytes read and not yet parsed. A plain-TCP connection waits for the backend's next bytes
  // with no buffer at all (it is freed whenever it is empty); it is reserved `read_size` bytes
  // when they come. read_size starts small (a stream's events are a few hundred bytes a read and
  // thousands of streams wait at once) and doubles each time a read fills it, up to 64 KiB (a
  // large JSON answer in few reads).
  boost::beast::flat_buffer buffer{max_unparsed_bytes};
  std::size_t read_size = 4 * 1024;
  bool reused = false;
};

struct acquired {
  failure error = failure::none;
  std::unique_ptr<connection> conn;
};

struct connection_pool::impl {
  impl(boost::asio::any_io_executor e, const config::backend_config& b, std::shared_ptr<boost::asio::ssl::context> t)
      : ex(std::move(e)), backend(b), tls(std::move(t)) {}

  // An idle connection that is still open, or a new one, within max_connections; waits up to
  // the connect timeout for a slot when the pool is full.
  boost::asio::awaitable<acquired> acquire();
  // Returns a leased connection; only a connection whose last response was read to the end
  // may be reused.
  void release(std::unique_ptr<connection> c, bool reusable);

  boost::asio::awaitable<acquired> connect();
  void wake_one();

  boost::asio::any_io_executor ex;
  config::backend_config backend;
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::atomic<std::uint64_t> handshakes_full{0}, handshakes_resumed{0};  // TLS; read by /metrics
  std::vector<std::unique_ptr<connection>> idle;
  std::size_t open = 0;  // leased + idle + connecting
  bool closed = false;
  std::deque<boost::asio::steady_timer*> waiters;
};

}  // namespace deepgate::upstream
