#pragma once
// A byte stream that is either plain TCP or TLS over TCP, chosen at run time, so one session
// coroutine and one upstream client serve both. Deadlines live on the TCP layer
// (beast::tcp_stream::expires_after) and therefore cover TLS records too.
// Heavy header: include it only from .cpp files that do network I/O.
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <optional>
#include <utility>

namespace deepgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

class flex_stream {
 public:
  using executor_type = beast::tcp_stream::executor_type;
  using tls_stream = beast::ssl_stream<beast::tcp_stream>;

  explicit flex_stream(beast::tcp_stream tcp) : tcp_(std::move(tcp)) {}
  flex_stream(beast::tcp_stream tcp, asio::ssl::context& ctx) : tls_(std::in_place, std::move(tcp), ctx) {}

  executor_type get_executor() { return tcp().get_executor(); }
  beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *tcp_; }
  bool is_tls() const { return tls_.has_value(); }
  tls_stream& tls() { return *tls_; }

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
    auto& s = tcp().socket();
    boost::system::error_code ec;
    if (reset && s.is_open()) s.set_option(asio::socket_base::linger(true, 0), ec);
    s.close(ec);  // errors closing an already-broken socket are of no use
  }

 private:
  std::optional<beast::tcp_stream> tcp_;
  std::optional<tls_stream> tls_;
};

// Offers `buffers` to a plain-TCP socket at once: one non-blocking sendmsg, no asynchronous
// operation. Returns how many bytes went (all, usually, for a response or an event that fits the
// socket's send buffer) and an error other than would_block; over TLS nothing is sent here.
template <class Buffers>
std::size_t write_now(flex_stream& stream, const Buffers& buffers, boost::system::error_code& ec) {
  ec = {};
  if (stream.is_tls()) return 0;
  auto& socket = stream.tcp().socket();
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  std::size_t sent = ec ? 0 : socket.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
  return sent;
}

}  // namespace deepgate::net
