#include "connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include "deepgate/net/tls_client.hpp"
#include <spdlog/spdlog.h>

#include <sys/socket.h>

namespace deepgate::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;
namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// An idle keep-alive connection the backend has closed (or written to unasked) is useless. Over
// TLS, bytes may also wait inside OpenSSL (a record read ahead, or still in its input BIO).
bool still_open(connection& c) {
  auto& s = c.stream.socket();
  if (!s.is_open()) return false;
  if (c.stream.is_tls()) {
    SSL* ssl = c.stream.tls().native_handle();
    if (SSL_has_pending(ssl) || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) return false;
  }
  char byte;
  auto n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_client_tls(const config::backend_config& backend) {
  if (!backend.url.tls) return nullptr;
  return net::make_tls_client_context(backend.verify_tls, backend.ca_file);
}

connection_pool::connection_pool(asio::any_io_executor ex, const config::backend_config& backend,
                                 std::shared_ptr<asio::ssl::context> tls)
    : impl_(std::make_unique<impl>(std::move(ex), backend, std::move(tls))) {}
// A pool goes with the last request that holds its config snapshot, which may run on another
// worker's thread. Its idle connections have no operation outstanding, but their deadline watch
// may still have a wait pending on this pool's thread (it is re-armed lazily, not cancelled per
// request). On its own thread the pool cancels those waits as its connections close. From
// another thread it must not touch them: each connection lets go of its watch, and the pending
// wait, which holds it, frees it on its own thread when it ends (at the latest at its timeout).
connection_pool::~connection_pool() {
  if (impl_->idle_thread == std::this_thread::get_id()) return;
  for (auto& c : impl_->idle) c->stream.abandon_watch();
}
const config::backend_config& connection_pool::backend() const { return impl_->backend; }
void connection_pool::shutdown() {
  impl_->closed = true;
  impl_->open -= impl_->idle.size();
  impl_->idle.clear();
}

asio::awaitable<acquired> connection_pool::impl::acquire() {
  const auto deadline = std::chrono::steady_clock::now() + backend.connect_timeout;
  for (;;) {
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      // Every reuse is probed (one non-blocking recv): bytes a backend sent after its response
      // ended would otherwise be read as the next tenant's answer.
      if (c->buffer.size() == 0 && still_open(*c)) {
        c->reused = true;
        co_return acquired{failure::none, std::move(c)};
      }
      --open;
    }
    if (open < backend.max_connections) {
      ++open;
      auto r = co_await connect();
      if (r.error != failure::none) {
        --open;
        wake_one();
      }
      co_return r;
    }
    if (std::chrono::steady_clock::now() >= deadline) co_return acquired{failure::pool_exhausted, nullptr};
    asio::steady_timer timer(ex, deadline);
    waiters.push_back(&timer);
    co_await timer.async_wait(use_tuple);  // cancelled by wake_one when a slot frees up
    std::erase(waiters, &timer);
  }
}

void connection_pool::impl::wake_one() {
  if (waiters.empty()) return;
  auto* t = waiters.front();
  waiters.pop_front();
  t->cancel();
}

void connection_pool::impl::release(std::unique_ptr<connection> c, bool reusable) {
  if (!c) return;
  if (reusable && !closed && c->buffer.size() == 0 && c->stream.socket().is_open()) {
    c->stream.expires_never();
    idle.push_back(std::move(c));
    idle_thread = std::this_thread::get_id();
  } else {
    c->stream.close();
    --open;
  }
  wake_one();
}

std::pair<std::uint64_t, std::uint64_t> connection_pool::tls_handshakes() const {
  return {impl_->handshakes_full.load(std::memory_order_relaxed), impl_->handshakes_resumed.load(std::memory_order_relaxed)};
}

asio::awaitable<acquired> connection_pool::impl::connect() {
  const auto& u = backend.url;
  tcp::resolver resolver(ex);
  // An address needs no lookup: resolved on the spot (getaddrinfo with AI_NUMERICHOST asks no
  // one), not on the resolver's thread with an operation and a hand-off for every new connection.
  error_code rec;
  tcp::resolver::results_type endpoints;
  if (error_code aec; asio::ip::make_address(u.host, aec), !aec) {
    endpoints = resolver.resolve(u.host, std::to_string(u.port),
                                 tcp::resolver::numeric_host | tcp::resolver::numeric_service, rec);
  } else {
    auto [lec, found] = co_await resolver.async_resolve(u.host, std::to_string(u.port), use_tuple);
    rec = lec;
    endpoints = std::move(found);
  }
  if (rec) {
    spdlog::warn("backend {}: cannot resolve {}: {}", backend.name, u.host, rec.message());
    co_return acquired{failure::resolve, nullptr};
  }
  auto c = tls ? std::make_unique<connection>(net::flex_stream(tcp::socket(ex), *tls))
               : std::make_unique<connection>(net::flex_stream(tcp::socket(ex)));
  auto cec = co_await net::connect(c->stream, endpoints, backend.connect_timeout);
  if (cec) {
    spdlog::warn("backend {}: connect to {}:{} failed: {}", backend.name, u.host, u.port, cec.message());
    co_return acquired{cec == asio::error::timed_out ? failure::connect_timeout : failure::connect, nullptr};
  }
  c->stream.socket().set_option(tcp::no_delay(true), cec);
  if (!tls) co_return acquired{failure::none, std::move(c)};

  auto hec = co_await net::client_handshake(c->stream, u.host, backend.tls_timeout);
  if (hec) {
    spdlog::warn("backend {}: TLS handshake with {} failed: {}", backend.name, u.host, hec.message());
    co_return acquired{hec == asio::error::timed_out ? failure::tls_timeout : failure::tls, nullptr};
  }
  (net::session_resumed(c->stream.tls().native_handle()) ? handshakes_resumed : handshakes_full).fetch_add(1, std::memory_order_relaxed);
  co_return acquired{failure::none, std::move(c)};
}

}  // namespace deepgate::upstream
