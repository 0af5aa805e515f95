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
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <deque>
#include <map>
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

namespace {

// One TCP (or TLS) connection to one Redis server, pipelined.
struct node : std::enable_shared_from_this<node> {
  node(asio::any_io_executor e, options o) : ex(std::move(e)), opts(std::move(o)), retry(ex) {
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

  static asio::awaitable<void> connect(std::shared_ptr<node> self) { co_await self->do_connect(); }

  asio::awaitable<void> do_connect() {
    const auto gen = ++generation;
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(opts.address.host, std::to_string(opts.address.port), use_tuple);
    if (st == state::closed || gen != generation) co_return;
    if (rec) co_return lost("cannot resolve " + opts.address.host + ": " + rec.message());
    // Connected in this frame, then moved in: a close() meanwhile resets `stream`, never this one.
    auto fresh = tls ? net::flex_stream(tcp::socket(ex), *tls) : net::flex_stream(tcp::socket(ex));
    auto cec = co_await net::connect(fresh, endpoints, opts.connect_timeout);
    if (st == state::closed || gen != generation) co_return;
    if (cec) co_return lost("connect: " + cec.message());
    fresh.socket().set_option(tcp::no_delay(true), cec);
    if (tls) {  // a reconnect resumes the last session
      auto hec = co_await net::client_handshake(fresh, opts.address.host, opts.connect_timeout);
      if (st == state::closed || gen != generation) co_return;
      if (hec) co_return lost("TLS handshake: " + hec.message());
    }
    stream.emplace(std::move(fresh));
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

  static asio::awaitable<void> write_loop(std::shared_ptr<node> self, unsigned gen) {
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

  static asio::awaitable<void> read_loop(std::shared_ptr<node> self, unsigned gen) {
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

  // One command; with `asking`, an ASKING goes right before it on this connection (a Cluster
  // slot being migrated). Its deadline is the connection's command timeout. `args` is formatted
  // before the first suspension, so the caller's vector (which it awaits with) is all it reads.
  asio::awaitable<result> command(const std::vector<std::string>& args, bool asking = false) {
    auto self = shared_from_this();
    if (st == state::idle) start_connect();
    if (st != state::ready && st != state::connecting) {
      if (opts.on_error && st != state::closed) opts.on_error();
      co_return result{error::unavailable, {}};
    }
    if (asking) {
      auto a = std::make_shared<pending>(ex);
      a->abandoned = true;  // its +OK is dropped in order
      inflight.push_back(a);
      out += format_command({"ASKING"});
    }
    auto p = std::make_shared<pending>(ex);
    p->timer.expires_after(opts.command_timeout);
    inflight.push_back(p);
    out += format_command(args);
    start_writer();
    co_await p->timer.async_wait(use_tuple);
    if (!p->done) {
      p->abandoned = true;  // stays in line: its reply, if it ever comes, is dropped in order
      if (opts.on_error) opts.on_error();
      co_return result{error::timeout, {}};
    }
    if (!p->outcome.ok() && opts.on_error && st != state::closed) opts.on_error();
    co_return std::move(p->outcome);
  }
};


}  // namespace

script::script(std::string_view text) : text_(text) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d);
  static constexpr char hex[] = "0123456789abcdef";
  for (auto c : d) {
    sha_ += hex[c >> 4];
    sha_ += hex[c & 15];
  }
}

asio::awaitable<result> eval(connection& c, const script& s, std::vector<std::string> keys,
                             std::vector<std::string> args) {
  std::vector<std::string> cmd{"EVALSHA", s.sha(), std::to_string(keys.size())};
  cmd.insert(cmd.end(), std::make_move_iterator(keys.begin()), std::make_move_iterator(keys.end()));
  cmd.insert(cmd.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  auto r = co_await c.command(cmd);
  if (r.ok() && r.value.is_error() && r.value.str.starts_with("NOSCRIPT")) {
    cmd[0] = "EVAL";
    cmd[1] = std::string(s.text());
    r = co_await c.command(cmd);
  }
  co_return r;
}

std::uint16_t key_slot(std::string_view key) {
  // Only the part between the first '{' and the next '}' is hashed, when it is not empty.
  if (auto open = key.find('{'); open != std::string_view::npos)
    if (auto close = key.find('}', open + 1); close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  std::uint16_t crc = 0;  // CRC16-CCITT (XMODEM), as the Cluster specification gives it
  for (unsigned char c : key) {
    crc ^= static_cast<std::uint16_t>(c) << 8;
    for (int b = 0; b < 8; ++b) crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc & (slot_count - 1);
}

std::optional<std::string_view> command_key(const std::vector<std::string>& args) {
  if (args.size() < 2) return std::nullopt;
  std::string name(args[0]);
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name == "EVAL" || name == "EVALSHA" || name == "EVAL_RO" || name == "EVALSHA_RO" || name == "FCALL") {
    if (args.size() < 4 || args[2] == "0") return std::nullopt;
    return std::string_view(args[3]);
  }
  static constexpr std::string_view keyless[] = {"PING", "INFO", "TIME", "SCRIPT", "CLUSTER", "AUTH", "SELECT",
                                                 "ASKING", "MULTI", "EXEC", "DISCARD", "ECHO", "DBSIZE", "FLUSHALL",
                                                 "FLUSHDB", "CONFIG", "CLIENT", "COMMAND", "READONLY", "HELLO"};
  for (auto k : keyless)
    if (name == k) return std::nullopt;
  return std::string_view(args[1]);
}

std::optional<redirect> parse_redirect(const reply& r) {
  if (!r.is_error()) return std::nullopt;
  std::string_view s = r.str;
  redirect d;
  if (s.starts_with("MOVED ")) d.ask = false;
  else if (s.starts_with("ASK ")) d.ask = true;
  else return std::nullopt;
  s.remove_prefix(d.ask ? 4 : 6);
  auto sp = s.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  unsigned slot = 0;
  for (char c : s.substr(0, sp)) {
    if (c < '0' || c > '9') return std::nullopt;
    slot = slot * 10 + static_cast<unsigned>(c - '0');
    if (slot >= slot_count) return std::nullopt;
  }
  auto where = s.substr(sp + 1);
  auto colon = where.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= where.size()) return std::nullopt;
  unsigned port = 0;
  for (char c : where.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
    if (port > 65535) return std::nullopt;
  }
  if (port == 0) return std::nullopt;
  d.slot = static_cast<std::uint16_t>(slot);
  d.host = std::string(where.substr(0, colon));
  d.port = static_cast<std::uint16_t>(port);
  return d;
}

std::optional<std::vector<slot_range>> parse_cluster_slots(const reply& r, std::string_view asked_host) {
  if (r.type != reply::kind::array) return std::nullopt;
  std::vector<slot_range> out;
  for (auto& e : r.elements) {
    if (e.type != reply::kind::array || e.elements.size() < 3) return std::nullopt;
    auto& from = e.elements[0];
    auto& to = e.elements[1];
    auto& primary = e.elements[2];
    if (from.type != reply::kind::integer || to.type != reply::kind::integer || from.integer < 0 ||
        to.integer >= static_cast<long long>(slot_count) || from.integer > to.integer)
      return std::nullopt;
    if (primary.type != reply::kind::array || primary.elements.size() < 2 ||
        primary.elements[0].type != reply::kind::string || primary.elements[1].type != reply::kind::integer ||
        primary.elements[1].integer <= 0 || primary.elements[1].integer > 65535)
      return std::nullopt;
    slot_range s;
    s.from = static_cast<std::uint16_t>(from.integer);
    s.to = static_cast<std::uint16_t>(to.integer);
    // An empty or "?" address means the node that was asked (redis-server's documented convention).
    const auto& host = primary.elements[0].str;
    s.host = host.empty() || host == "?" ? std::string(asked_host) : host;
    s.port = static_cast<std::uint16_t>(primary.elements[1].integer);
    out.push_back(std::move(s));
  }
  return out;
}

// Redis Cluster: one node connection per primary (on this connection's executor), a slot table
// learned from CLUSTER SLOTS, MOVED and ASK followed. The table is refreshed on a MOVED, and on a
// failed command (a primary gone: its promoted replica is found at the next refresh), at most
// every `refresh_gap`; meanwhile commands to a lost primary fail as `unavailable` at once.
struct cluster_router : std::enable_shared_from_this<cluster_router> {
  cluster_router(asio::any_io_executor e, options o) : ex(std::move(e)), opts(std::move(o)) {}

  asio::any_io_executor ex;
  options opts;
  std::map<std::string, std::shared_ptr<node>> nodes;  // "host:port"
  std::vector<std::shared_ptr<node>> slots = std::vector<std::shared_ptr<node>>(slot_count);
  bool refreshing = false, closed = false, mapped = false;
  std::chrono::steady_clock::time_point last_refresh{};
  static constexpr std::chrono::milliseconds refresh_gap{250};
  static constexpr int max_redirects = 5;

  static std::string name_of(std::string_view host, std::uint16_t port) { return std::string(host) + ":" + std::to_string(port); }

  std::shared_ptr<node> node_at(const std::string& host, std::uint16_t port) {
    auto name = name_of(host, port);
    auto& n = nodes[name];
    if (!n) {
      auto o = opts;
      o.address.host = host;
      o.address.port = port;
      o.address.db = 0;  // a cluster has only database 0
      o.name = opts.name + " " + name;
      n = std::make_shared<node>(ex, std::move(o));
    }
    return n;
  }

  std::shared_ptr<node> seed() { return node_at(opts.address.host, opts.address.port); }

  std::shared_ptr<node> any_node() {
    for (auto& [_, n] : nodes)
      if (n->st == node::state::ready) return n;
    return seed();
  }

  void refresh_soon() {
    if (closed || refreshing) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_refresh < refresh_gap) return;
    refreshing = true;
    last_refresh = now;
    asio::co_spawn(ex, refresh(shared_from_this()), asio::detached);
  }

  // Asks the known nodes in turn (the seed last) for the slot table; the first answer wins.
  static asio::awaitable<void> refresh(std::shared_ptr<cluster_router> self) {
    std::vector<std::shared_ptr<node>> ask;
    for (auto& [_, n] : self->nodes)
      if (n->st == node::state::ready) ask.push_back(n);
    for (auto& [_, n] : self->nodes)
      if (n->st != node::state::ready) ask.push_back(n);
    if (self->nodes.find(name_of(self->opts.address.host, self->opts.address.port)) == self->nodes.end())
      ask.push_back(self->seed());
    for (auto& n : ask) {
      if (self->closed) break;
      const std::vector<std::string> cmd{"CLUSTER", "SLOTS"};
      auto r = co_await n->command(cmd);
      if (self->closed) break;
      if (!r.ok() || r.value.is_error()) continue;
      auto ranges = parse_cluster_slots(r.value, n->opts.address.host);
      if (!ranges || ranges->empty()) continue;
      self->install(*ranges);
      break;
    }
    self->refreshing = false;
  }

  void install(const std::vector<slot_range>& ranges) {
    std::vector<std::shared_ptr<node>> table(slot_count);
    std::map<std::string, std::shared_ptr<node>> used;
    for (auto& r : ranges) {
      auto n = node_at(r.host, r.port);
      used[name_of(r.host, r.port)] = n;
      for (unsigned s = r.from; s <= r.to; ++s) table[s] = n;
    }
    bool changed = !mapped;
    for (std::size_t s = 0; s < slot_count && !changed; ++s) changed = table[s] != slots[s];
    slots = std::move(table);
    mapped = true;
    // Nodes no longer serving a slot (a failed primary, a removed node) are closed.
    for (auto it = nodes.begin(); it != nodes.end();) {
      if (used.count(it->first) || it->first == name_of(opts.address.host, opts.address.port)) {
        ++it;
        continue;
      }
      it->second->close();
      it = nodes.erase(it);
    }
    if (changed) spdlog::info("{}: cluster slot map has {} ranges on {} primaries", opts.name, ranges.size(), used.size());
  }

  asio::awaitable<result> command(const std::vector<std::string>& args) {
    auto self = shared_from_this();
    if (!mapped) refresh_soon();
    auto key = command_key(args);
    std::shared_ptr<node> target;
    if (key) target = slots[key_slot(*key)];
    if (!target) target = any_node();
    bool asking = false;
    for (int hop = 0;; ++hop) {
      auto r = co_await target->command(args, asking);  // args stay whole for a redirect
      if (closed) co_return r;
      if (!r.ok()) {
        refresh_soon();  // a primary may be gone: its replica takes over
        co_return r;
      }
      auto d = parse_redirect(r.value);
      if (!d || hop >= max_redirects) co_return r;
      target = node_at(d->host, d->port);
      asking = d->ask;
      if (!d->ask) {
        slots[d->slot] = target;  // MOVED: the slot lives there now, and others may have moved too
        refresh_soon();
      }
    }
  }

  bool connected() const {
    for (auto& [_, n] : nodes)
      if (n->st == node::state::ready) return true;
    return false;
  }

  void close() {
    closed = true;
    for (auto& [_, n] : nodes) n->close();
  }
};

struct connection::impl {
  std::shared_ptr<node> single;
  std::shared_ptr<cluster_router> cluster;
};

connection::connection(asio::any_io_executor ex, options opts) : impl_(std::make_shared<impl>()) {
  if (opts.cluster) impl_->cluster = std::make_shared<cluster_router>(std::move(ex), std::move(opts));
  else impl_->single = std::make_shared<node>(std::move(ex), std::move(opts));
}

options options_from(const config::redis_config& rc, std::string name) {
  options o;
  std::string err;
  if (auto u = core::parse_redis_url(rc.url, err)) o.address = *u;
  o.name = std::move(name);
  o.ca_file = rc.ca_file;
  o.command_timeout = rc.command_timeout;
  o.connect_timeout = rc.connect_timeout;
  o.cluster = rc.cluster;
  return o;
}

connection::~connection() { close(); }

bool connection::connected() const { return impl_->cluster ? impl_->cluster->connected() : impl_->single->st == node::state::ready; }

bool connection::cluster() const { return impl_->cluster != nullptr; }

void connection::close() {
  if (impl_->cluster) impl_->cluster->close();
  else impl_->single->close();
}

asio::awaitable<result> connection::command(const std::vector<std::string>& args) {
  if (impl_->cluster) {
    auto c = impl_->cluster;
    co_return co_await c->command(args);
  }
  auto n = impl_->single;
  co_return co_await n->command(args);
}

}  // namespace deepgate::redis
