#include "server_internal.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <mutex>
#include <system_error>
#include <thread>

namespace deepgate::http {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// Member order matters: coroutine frames still parked in `ioc` are destroyed with it and
// unregister themselves from `state`, so `state` must outlive `ioc`.
struct worker {
  detail::worker_state state;
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
};

asio::ip::address listen_address(const std::string& host) {
  if (host == "localhost") return asio::ip::make_address("127.0.0.1");
  error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (ec) throw std::system_error(ec, "server.host '" + host + "' is not an IP address");
  return a;
}

std::shared_ptr<asio::ssl::context> make_server_tls(const config::tls_files& files) {
  if (!files.enabled()) return nullptr;
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  ctx->use_certificate_chain_file(files.cert_file);
  ctx->use_private_key_file(files.key_file, asio::ssl::context::pem);
  return ctx;
}

asio::awaitable<void> accept_loop(worker& w, unsigned index, detail::server_state& s) {
  asio::steady_timer backoff(w.ioc);
  for (;;) {
    auto [ec, socket] = co_await w.acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (!w.acceptor.is_open() || ec == asio::error::operation_aborted) co_return;  // draining
      // Out of descriptors or a transient network error: back off instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto stream = s.tls ? net::flex_stream(std::move(socket), *s.tls) : net::flex_stream(std::move(socket));
    asio::co_spawn(w.ioc, detail::run_session(std::move(stream), index, s, w.state), asio::detached);
  }
}

}  // namespace

struct server::impl {
  detail::server_state state;
  std::vector<std::unique_ptr<worker>> workers;
  std::uint16_t port = 0;
  std::once_flag stop_once;
};

server::server(config::server_config options, handler h, head_check check) : impl_(std::make_unique<impl>()) {
  unsigned n = options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  impl_->state.options = std::move(options);
  impl_->state.on_request = std::move(h);
  impl_->state.check_head = std::move(check);
  for (unsigned i = 0; i < n; ++i) impl_->workers.push_back(std::make_unique<worker>());
}

server::~server() { stop(); }

unsigned server::workers() const { return static_cast<unsigned>(impl_->workers.size()); }

asio::any_io_executor server::worker_executor(unsigned i) const { return impl_->workers.at(i)->ioc.get_executor(); }

void server::start() {
  auto& s = impl_->state;
  s.tls = make_server_tls(s.options.tls);
  tcp::endpoint endpoint(listen_address(s.options.host), s.options.port);
  for (auto& w : impl_->workers) {
    w->acceptor.open(endpoint.protocol());
    w->acceptor.set_option(asio::socket_base::reuse_address(true));
    w->acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    w->acceptor.bind(endpoint);  // throws system_error (address in use, ...)
    w->acceptor.listen(asio::socket_base::max_listen_connections);
    endpoint.port(w->acceptor.local_endpoint().port());  // port 0: every worker joins the first one's port
  }
  impl_->port = endpoint.port();
  for (unsigned i = 0; i < impl_->workers.size(); ++i) {
    auto& w = *impl_->workers[i];
    asio::co_spawn(w.ioc, accept_loop(w, i, s), asio::detached);
    w.thread = std::thread([&w] { w.ioc.run(); });
  }
}

std::uint16_t server::port() const { return impl_->port; }

void server::begin_drain() {
  if (impl_->state.draining.exchange(true)) return;
  for (auto& wp : impl_->workers) {
    auto* w = wp.get();
    asio::post(w->ioc, [w] {
      error_code ec;
      w->acceptor.close(ec);
      for (auto* c : w->state.connections)
        if (c->idle) {
          error_code ignored;
          c->stream->socket().cancel(ignored);
        }
    });
  }
}

void server::cut_in_flight() {
  for (auto& wp : impl_->workers) {
    auto* w = wp.get();
    asio::post(w->ioc, [w] {
      std::vector<std::function<void()>> cuts;
      for (auto* c : w->state.connections)
        if (c->cut) cuts.push_back(std::exchange(c->cut, nullptr));
      for (auto& cut : cuts) cut();  // a cut may end its connection: not while iterating the set
    });
  }
}

bool server::draining() const { return impl_->state.draining.load(); }

std::size_t server::open_connections() const { return impl_->state.open_connections.load(); }

std::size_t server::body_bytes_in_flight() const { return impl_->state.body_bytes.load(); }

void server::stop() {
  std::call_once(impl_->stop_once, [this] {
    for (auto& w : impl_->workers) {
      w->guard.reset();
      w->ioc.stop();
    }
    for (auto& w : impl_->workers)
      if (w->thread.joinable()) w->thread.join();
  });
}

}  // namespace deepgate::http
