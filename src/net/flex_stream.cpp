#include "deepgate/net/flex_stream.hpp"

#include "deepgate/net/tls_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace deepgate::net {

// One endpoint after another (a name may resolve to ::1 and 127.0.0.1), under one deadline. The
// deadline cancels the attempt in progress; no further one starts after it (Asio's range connect
// would go on to the next endpoint after a cancel, with no deadline left).
asio::awaitable<boost::system::error_code> connect(flex_stream& stream, const asio::ip::tcp::resolver::results_type& endpoints,
                                                   std::chrono::steady_clock::duration timeout) {
  boost::system::error_code last = asio::error::host_not_found;
  auto& socket = stream.socket();
  stream.expires_after(timeout);
  for (const auto& entry : endpoints) {
    boost::system::error_code ignored;
    socket.close(ignored);
    const auto ep = entry.endpoint();
    auto [ec] = co_await socket.async_connect(ep, asio::as_tuple(asio::use_awaitable));
    last = ec;
    if (!ec || stream.timed_out()) break;
  }
  stream.expires_never();
  if (last) {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  co_return stream.timed_out() ? asio::error::timed_out : last;
}

asio::awaitable<boost::system::error_code> client_handshake(flex_stream& stream, const std::string& host,
                                                            std::chrono::steady_clock::duration timeout) {
  SSL* ssl = stream.tls().native_handle();
  expect_peer(ssl, host);
  offer_session(ssl);  // the peer's last session: a resumed handshake when it still takes it
  stream.expires_after(timeout);
  auto [ec] = co_await stream.tls().async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  stream.expires_never();
  co_return ec && stream.timed_out() ? asio::error::timed_out : ec;
}

}  // namespace deepgate::net
