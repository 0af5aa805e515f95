#include "deepgate/redis/connection.hpp"

#include "deepgate/net/flex_stream.hpp"
#include "deepgate/net/tls_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <deque>
#include <optional>

namespace deepgate::redis {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct pending {
  explicit pending(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  result outcome{error::timeout, {}};
  bool done = false;
  bool abandoned = false;  // the caller timed out; the reply is discarded when it comes
  bool internal = false;   // AUTH / SELECT sent by the connection itself
};
}  // namespace

std::string_view to_string(error e) {
  switch (e) {
    case error::none: return "none";
    case error::timeout: return "timeout";
    case error::unavailable: return "unavailable";
    case error::protocol: return "protocol";
  }
  return "unknown";
}

struct connection::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor e, options o) : ex(std::move(e)), opts(std::move(o)), retry(ex) {
    if (opts.address.tls) tls = net::make_tls_client_context(true, opts.ca_file);
  }

  enum class state { idle, connecting, ready, down, closed };

  asio::any_io_executor ex;
  options opts;
  std::shared_ptr<asio::ssl::context> tls;
  std::optional<net::flex_stream> stream;
  state st = state::idle;
  bool ever_connected = false, logged_down = false;
  std::deque<std::shared_ptr<pending>> inflight;  // in the order their replies will come
  std::string out;                                // queued, not yet written
  bool writing = false;
  std::unique_ptr<reply_reader> reader;
  std::chrono::milliseconds backoff{100};
  asio::steady_timer retry;
  unsigned generation = 0;

  std::string where() const { return opts.address.host + ":" + std::to_string(opts.address.port); }

  void start_connect() {
    if (st != state::idle) return;
    st = state::connecting;
    asio::co_spawn(ex, connect(shared_from_this()), asio::detached);
  }

  static asio::awaitable<void> connect(std::shared_ptr<impl> self) { co_await self->do_connect(); }

  asio::awaitable<void> do_connect() {
    const auto gen = ++generation;
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(opts.address.host, std::to_string(opts.address.port), use_tuple);
    if (st == state::closed || gen != generation) co_return;
    if (rec) co_return lost("cannot resolve " + opts.address.host + ": " + rec.message());
    beast::tcp_stream tcp(ex);
    tcp.expires_after(opts.connect_timeout);
    auto [cec, ep] = co_await tcp.async_connect(endpoints, use_tuple);
    if (st == state::closed || gen != generation) co_return;
    if (cec) co_return lost("connect: " + cec.message());
    tcp.socket().set_option(tcp::no_delay(true), cec);
    if (tls) {
      stream.emplace(std::move(tcp), *tls);
      net::expect_peer(stream->tls().native_handle(), opts.address.host);
      stream->tcp().expires_after(opts.connect_timeout);
      auto [hec] = co_await stream->tls().async_handshake(asio::ssl::stream_base::client, use_tuple);
      if (st == state::closed || gen != generation) co_return;
      if (hec) co_return lost("TLS handshake: " + hec.message());
    } else {
      stream.emplace(std::move(tcp));
    }
    stream->tcp().expires_never();
    reader = std::make_unique<reply_reader>();

    // AUTH and SELECT go first, ahead of anything queued while connecting.
    std::string hello;
    std::vector<std::shared_ptr<pending>> setup;
    auto internal = [&](std::vector<std::string> args) {
      hello += format_command(args);
      auto p = std::make_shared<pending>(ex);
      p->internal = true;
      setup.push_back(p);
    };
    if (!opts.address.password.empty()) {
      if (opts.address.user.empty()) internal({"AUTH", opts.address.password});
      else internal({"AUTH", opts.address.user, opts.address.password});
    }
    if (opts.address.db != 0) internal({"SELECT", std::to_string(opts.address.db)});
    for (auto it = setup.rbegin(); it != setup.rend(); ++it) inflight.push_front(*it);
    out = hello + out;

    st = state::ready;
    backoff = std::chrono::milliseconds(100);
    if (!ever_connected || logged_down) spdlog::info("{}: connected to {}", opts.name, where());
    ever_connected = true;
    logged_down = false;
    asio::co_spawn(ex, read_loop(shared_from_this(), gen), asio::detached);
    if (!out.empty()) start_writer();
  }

  void start_writer() {
    if (writing || st != state::ready) return;
    writing = true;
    asio::co_spawn(ex, write_loop(shared_from_this(), generation), asio::detached);
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<impl> self, unsigned gen) {
    std::string buf;
    while (self->st == state::ready && gen == self->generation && !self->out.empty()) {
      buf.clear();
      buf.swap(self->out);
      auto [ec, n] = co_await asio::async_write(*self->stream, asio::buffer(buf), use_tuple);
      if (gen != self->generation) co_return;
      if (ec) {
        self->writing = false;
        co_return self->lost("write: " + ec.message());
      }
    }
    if (gen == self->generation) self->writing = false;
  }

  static asio::awaitable<void> read_loop(std::shared_ptr<impl> self, unsigned gen) {
    std::array<char, 16384> buf;
    for (;;) {
      auto [ec, n] = co_await self->stream->async_read_some(asio::buffer(buf), use_tuple);
      if (gen != self->generation || self->st != state::ready) co_return;
      if (ec) co_return self->lost(ec == asio::error::eof ? std::string("server closed the connection") : "read: " + ec.message());
      if (!self->reader->feed(std::string_view(buf.data(), n))) co_return self->lost("protocol error");
      for (;;) {
        bool bad = false;
        auto r = self->reader->next(bad);
        if (bad) co_return self->lost("protocol error");
        if (!r) break;
        if (self->inflight.empty()) co_return self->lost("reply without a command");
        auto p = self->inflight.front();
        self->inflight.pop_front();
        if (p->internal && r->is_error()) {
          spdlog::error("{}: setup command refused: {}", self->opts.name, r->str);
          co_return self->lost("authentication or SELECT failed");
        }
        if (p->abandoned || p->internal) continue;
        p->outcome = result{error::none, std::move(*r)};
        p->done = true;
        p->timer.cancel();
      }
    }
  }

  void fail_all(error e) {
    for (auto& p : inflight) {
      if (p->done) continue;
      p->outcome = result{e, {}};
      p->done = true;
      p->timer.cancel();
    }
    inflight.clear();
    out.clear();
  }

  void lost(const std::string& why) {
    if (st == state::closed) return;
    if (!logged_down) {
      spdlog::warn("{}: unavailable at {} ({}); retrying with backoff up to {} ms", opts.name, where(), why,
                   opts.max_backoff.count());
      logged_down = true;
    }
    ++generation;
    if (stream) stream->close();
    stream.reset();
    writing = false;
    st = state::down;
    fail_all(error::unavailable);
    retry.expires_after(backoff);
    backoff = std::min(backoff * 2, opts.max_backoff);
    retry.async_wait([weak = weak_from_this()](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->st != state::down) return;
      self->st = state::idle;
      self->start_connect();
    });
  }

  void close() {
    st = state::closed;
    ++generation;
    retry.cancel();
    if (stream) stream->close();
    fail_all(error::unavailable);
  }
};

connection::connection(asio::any_io_executor ex, options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(opts))) {}

options options_from(const config::redis_config& rc, std::string name) {
  options o;
  std::string err;
  if (auto u = core::parse_redis_url(rc.url, err)) o.address = *u;
  o.name = std::move(name);
  o.ca_file = rc.ca_file;
  o.command_timeout = rc.command_timeout;
  o.connect_timeout = rc.connect_timeout;
  return o;
}

connection::~connection() { impl_->close(); }

bool connection::connected() const { return impl_->st == impl::state::ready; }

void connection::close() { impl_->close(); }

asio::awaitable<result> connection::command(std::vector<std::string> args) {
  auto self = impl_;
  if (self->st == impl::state::idle) self->start_connect();
  if (self->st != impl::state::ready && self->st != impl::state::connecting) {
    if (self->opts.on_error && self->st != impl::state::closed) self->opts.on_error();
    co_return result{error::unavailable, {}};
  }
  auto p = std::make_shared<pending>(self->ex);
  p->timer.expires_after(self->opts.command_timeout);
  self->inflight.push_back(p);
  self->out += format_command(args);
  self->start_writer();
  co_await p->timer.async_wait(use_tuple);
  if (!p->done) {
    p->abandoned = true;  // stays in line: its reply, if it ever comes, is dropped in order
    if (self->opts.on_error) self->opts.on_error();
    co_return result{error::timeout, {}};
  }
  if (!p->outcome.ok() && self->opts.on_error && self->st != impl::state::closed) self->opts.on_error();
  co_return std::move(p->outcome);
}

}  // namespace deepgate::redis
