#pragma once
// A byte stream that is either plain TCP or TLS over TCP, chosen at run time, so one session
// coroutine and one upstream client serve both. It is a bare Asio socket (under TLS, Beast's
// ssl_stream over it), not Beast's tcp_stream: that one allocates a shared state of about a
// kilobyte with two timers per connection and wraps every read and write in an operation that
// checks them. Deadlines are one deadline_watch per stream, made when first asked for:
// expires_after() covers the operations started until expires_never() (cancelled when it passes,
// and timed_out() says so), over TLS records too.
// Heavy header: include it only from .cpp files that do network I/O.
#include "deepgate/net/deadline_watch.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

namespace deepgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

class flex_stream {
 public:
  using socket_type = asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  using tls_stream = beast::ssl_stream<socket_type>;

  explicit flex_stream(socket_type s) : tcp_(std::move(s)) {}
  flex_stream(socket_type s, asio::ssl::context& ctx) : tls_(std::in_place, std::move(s), ctx) {}
  flex_stream(flex_stream&&) noexcept = default;
  flex_stream& operator=(flex_stream&&) = delete;
  flex_stream(const flex_stream&) = delete;
  ~flex_stream() {
    if (watch_) watch_->close();
  }

  executor_type get_executor() { return socket().get_executor(); }
  socket_type& socket() { return tls_ ? tls_->next_layer() : *tcp_; }
  bool is_tls() const { return tls_.has_value(); }
  tls_stream& tls() { return *tls_; }

  // The operations started from now until expires_never() are cancelled once `d` has passed
  // (they complete with operation_aborted, and timed_out() is true).
  void expires_after(std::chrono::steady_clock::duration d) {
    watch().start(std::chrono::steady_clock::now() + d, socket());
  }
  void expires_never() {
    if (watch_) watch_->stop();
  }
  bool timed_out() const { return watch_ && watch_->fired; }
  // The stream's deadline, for a caller that keeps its own (an upstream connection's reads).
  deadline_watch& watch() {
    if (!watch_) watch_ = std::make_shared<deadline_watch>(get_executor());
    return *watch_;
  }
  // Lets go of the deadline without touching it, from a thread other than the stream's: its
  // pending wait, which holds it, ends on its own thread (at the latest when it is due).
  void abandon_watch() { watch_.reset(); }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    if (tls_) return tls_->async_read_some(b, std::forward<Token>(token));
    return tcp_->async_read_some(b, std::forward<Token>(token));
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    if (tls_) return tls_->async_write_some(b, std::forward<Token>(token));
    return tcp_->async_write_some(b, std::forward<Token>(token));
  }

  // Closes at once; with `reset`, the peer sees a TCP RST instead of a FIN.
  void close(bool reset = false) {
    auto& s = socket();
    boost::system::error_code ec;
    if (reset && s.is_open()) s.set_option(asio::socket_base::linger(true, 0), ec);
    s.close(ec);  // errors closing an already-broken socket are of no use
  }

 private:
  std::optional<socket_type> tcp_;
  std::optional<tls_stream> tls_;
  std::shared_ptr<deadline_watch> watch_;
};

// Connects the stream's socket to the first of `endpoints` that takes it, all of them within
// `timeout`: asio::error::timed_out when that passes. Resolver results, as Asio's range connect
// takes.
boost::asio::awaitable<boost::system::error_code> connect(flex_stream& stream,
                                                          const asio::ip::tcp::resolver::results_type& endpoints,
                                                          std::chrono::steady_clock::duration timeout);

// The client side of a TLS stream's handshake with `host` (SNI, the certificate's name, the
// peer's last session offered), within `timeout`: asio::error::timed_out when that passes.
boost::asio::awaitable<boost::system::error_code> client_handshake(flex_stream& stream, const std::string& host,
                                                                   std::chrono::steady_clock::duration timeout);

// Offers `buffers` to a plain-TCP socket at once: one non-blocking sendmsg, no asynchronous
// operation. Returns how many bytes went (all, usually, for a response or an event that fits the
// socket's send buffer) and an error other than would_block; over TLS nothing is sent here.
template <class Buffers>
std::size_t write_now(flex_stream& stream, const Buffers& buffers, boost::system::error_code& ec) {
  ec = {};
  if (stream.is_tls()) return 0;
  auto& socket = stream.socket();
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  std::size_t sent = ec ? 0 : socket.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
  return sent;
}

}  // namespace deepgate::net
