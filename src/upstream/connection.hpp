#pragma once
// Private to src/upstream: one backend connection and the pool's internals.
#include "deepgate/net/flex_stream.hpp"
#include "deepgate/upstream/client.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <atomic>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <thread>
#include <utility>

namespace deepgate::upstream {

// What a response may leave unparsed in a connection's buffer: a head (64 KiB at most) plus one
// read. Body bytes leave the buffer as they are parsed, so only a line that never ends (a chunk
// extension, a trailer) could grow it: past this it is a bad response instead of unbounded memory.
inline constexpr std::size_t max_unparsed_bytes = 128 * 1024;

struct connection {
  explicit connection(net::flex_stream s) : stream(std::move(s)) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  // Its deadline (stream.watch()) covers the connect, the TLS handshake, then each exchange's
  // write, head and reads.
  net::flex_stream stream;
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
  std::thread::id idle_thread;  // the thread the idle connections' watches wait on (the pool's)
  std::size_t open = 0;  // leased + idle + connecting
  bool closed = false;
  std::deque<boost::asio::steady_timer*> waiters;
};

}  // namespace deepgate::upstream
