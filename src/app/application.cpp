#include "deepgate/app/application.hpp"
#include "application_impl.hpp"

#include "deepgate/auth/key_loader.hpp"
#include "deepgate/auth/redis_key_store.hpp"
#include "deepgate/config/reload.hpp"
#include "deepgate/core/version.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <pthread.h>
#include <signal.h>
#include <filesystem>
#include <functional>

namespace deepgate::app {

namespace asio = boost::asio;

// Keeps this replica's key table in step with the shared Redis store: checks the store's version
// every sync_interval and reloads all records when it moved. While Redis is unreachable the last
// table keeps serving known keys and unknown keys get 503. One log line per state change.
asio::awaitable<void> application::sync_keys_from_redis() {
  const auto& cfg = config_->auth;
  std::optional<std::string> synced;
  std::optional<bool> reachable;
  do {
    auto v = co_await auth::redis_store::version(*key_redis_);
    bool ok = v.has_value();
    if (ok && (!synced || *synced != *v)) {
      auto keys = co_await auth::redis_store::load_all(*key_redis_);
      ok = keys.has_value();
      if (metrics_) metrics_->config_reload(ok);
      if (ok) {
        services_.auth->replace(auth::make_key_table(std::move(*keys), cfg));
        synced = v;
        spdlog::info("keys synced from redis: {} keys (epoch:version {})", services_.auth->table()->keys().size(), *v);
      }
    }
    if (jobs_.stopping()) break;
    if (reachable != ok) {
      if (ok) spdlog::info("key store (redis) reachable");
      else spdlog::warn("key store (redis) unreachable: known keys keep working, unknown keys get 503");
      reachable = ok;
      services_.auth->set_store_available(ok);
    }
    first_key_sync_done_ = true;
    const std::chrono::nanoseconds next = cfg.sync_interval;  // no temporaries in co_await (GCC 12)
    const bool go_on = co_await jobs_.pause(next);
    if (!go_on) break;
  } while (true);
}

std::pair<std::filesystem::file_time_type, std::uintmax_t> application::keys_file_stamp() const {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto path = services_.snapshots.latest()->config->auth.keys_file;
  auto t = fs::last_write_time(path, ec);
  auto n = fs::file_size(path, ec);
  return ec ? std::pair<fs::file_time_type, std::uintmax_t>{} : std::pair{t, n};
}

// A bad file keeps the old table and logs one line.
void application::reload_keys(const char* why) {
  keys_stamp_ = keys_file_stamp();
  std::string err;
  auto table = auth::load_key_table(services_.snapshots.latest()->config->auth, err);
  if (metrics_) metrics_->config_reload(table != nullptr);
  if (!table) {
    spdlog::error("keys reload ({}) failed, keeping the previous keys: {}", why, err);
    return;
  }
  services_.auth->replace(table);
  spdlog::info("keys reloaded ({}): {} keys", why, table->keys().size());
}

// The keys file is reloaded when it changes on disk (checked every second) and on SIGHUP, so
// `deepgate keys create|revoke|rotate` take effect without a restart.
asio::awaitable<void> application::watch_keys_file() {
  keys_stamp_ = keys_file_stamp();
  const std::chrono::nanoseconds every = std::chrono::seconds(1);
  for (;;) {
    const bool go_on = co_await jobs_.pause(every);  // a statement of its own: see docs/development.md
    if (!go_on) break;
    if (keys_file_stamp() != keys_stamp_) reload_keys("file changed");
  }
}

// Access-log batches go to the writer thread at least every log.access.flush_interval; what is
// still batched at the stop is written when the access log closes.
asio::awaitable<void> application::flush_access_log() {
  const std::chrono::nanoseconds every = config_->log.access.flush_interval;
  for (;;) {
    const bool go_on = co_await until_exit_.pause(every);
    if (!go_on) break;
    services_.access_log->flush_batches();
  }
}

// SIGHUP: the whole config file again. Built beside the running snapshot and published only
// when all of it is good (config, keys, backend TLS); otherwise the old one keeps serving and
// one line says why.
void application::reload_config() {
  auto failed = [&](const std::string& why) {
    if (metrics_) metrics_->config_reload(false);
    spdlog::error("config reload (SIGHUP) failed, keeping the running config: {}", why);
  };
  auto loaded = reread_();
  if (!loaded.config) return failed(loaded.error);
  const auto running = services_.snapshots.latest();
  auto next = std::make_shared<config::gateway_config>(*loaded.config);
  const auto restart_only = config::keep_restart_only(*running->config, *next);
  std::shared_ptr<const auth::key_table> table;
  if (next->auth.enabled && !next->auth.redis_store) {
    std::string err;
    table = auth::load_key_table(next->auth, err);
    if (!table) return failed("keys: " + err);
  }
  auto built = api::build_snapshot(api::with_listings(next, listings_), running.get(), workers_, *services_.labels);
  if (!built.snap) return failed(built.error);
  std::size_t kept = 0;
  for (const auto& b : built.snap->backends) kept += std::count(running->backends.begin(), running->backends.end(), b) > 0;
  if (table) services_.auth->replace(table);
  services_.snapshots.publish(built.snap, true);
  file_config_ = next;
  keys_stamp_ = keys_file_stamp();
  if (metrics_) metrics_->config_reload(true);
  spdlog::info("config reloaded (SIGHUP) from {}: {} backends ({} unchanged), {} models{}", next->origin,
               next->backends.size(), kept, next->models.size(),
               table ? ", " + std::to_string(table->keys().size()) + " keys" : std::string());
  if (!restart_only.empty()) {
    std::string names;
    for (const auto& n : restart_only) names += (names.empty() ? "" : ", ") + n;
    spdlog::warn("config reload: {} changed but take effect at the next restart", names);
  }
  if (!services_.cache && next->cache.mode != config::cache_mode::off)
    spdlog::warn("config reload: caching with the Redis store starts at the next restart");
}

// SIGHUP reloads (not while draining). The first SIGTERM/SIGINT drains: /readyz fails at once so
// load balancers stop sending, the background jobs stop (all but the access-log flush, which
// stops with the drain), and after drain_delay the listener closes and the requests in flight
// get until drain_timeout. A second signal exits at once.
asio::awaitable<void> application::handle_signals() {
  for (;;) {
    auto [ec, sig] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // cancelled: the drain is over
    if (sig == SIGHUP) {
      if (!draining_) reload_config();
      continue;
    }
    if (draining_) {
      spdlog::warn("second signal: exiting now");
      exit_now_ = true;
      drain_timer_.cancel();
      until_exit_.stop();
      co_return;
    }
    draining_ = true;
    services_.ready = false;
    jobs_.stop();
    if (key_redis_) key_redis_->close();
    spdlog::info("signal {}: draining (delay {} ms, deadline {} ms)", sig, config_->server.drain_delay.count(),
                 config_->server.drain_timeout.count());
    if (admin_server_) admin_server_->begin_drain();
    asio::co_spawn(control_, drain(), asio::detached);
  }
}

// At the drain deadline the handlers still running end their responses with one error event
// (server_shutting_down); what is left a few seconds later is closed.
asio::awaitable<void> application::drain() {
  constexpr auto cut_grace = std::chrono::seconds(5);
  auto wait = [this](std::chrono::steady_clock::duration d) -> asio::awaitable<bool> {
    drain_timer_.expires_after(d);
    co_await drain_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !exit_now_;
  };
  const std::chrono::steady_clock::duration delay = config_->server.drain_delay, tick = std::chrono::milliseconds(20);
  const bool go_on = co_await wait(delay);
  if (!go_on) co_return;
  server_->begin_drain();
  auto deadline = std::chrono::steady_clock::now() + config_->server.drain_timeout;
  bool cut = false;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const auto open = server_->open_connections();
    if (!cut && open != 0 && now >= deadline) {
      spdlog::warn("drain deadline reached with {} connections open; ending their responses", open);
      server_->cut_in_flight();
      cut = true;
      deadline = now + cut_grace;
    }
    if (open == 0 || now >= deadline) {
      if (open != 0) spdlog::warn("{} connections still open {} s after the drain deadline; closing them", open, cut_grace.count());
      break;
    }
    const bool again = co_await wait(tick);
    if (!again) co_return;
  }
  // Every request has ended and recorded its usage: what the workers still batch goes to Redis.
  if (services_.usage) services_.usage->flush_all(std::chrono::seconds(2));
  until_exit_.stop();
  signals_.cancel();  // the signal handler returns: nothing is left on the control thread
}

void application::start_jobs() {
  const auto& config = *config_;
  for (auto& c : balance_checks_) c->start(jobs_);
  if (!config.serve_discovered)
    for (auto& d : discoveries_) d->start(jobs_);
  if (services_.access_log) until_exit_.spawn("access-log flush", [this] { return flush_access_log(); });
  if (config.auth.enabled && !config.auth.redis_store && !config.auth.keys_file.empty())
    jobs_.spawn("keys-file watch", [this] { return watch_keys_file(); });
}

// Order matters: idle backend sockets must close while their io_context still exists; the
// server (and with it every io_context and parked coroutine) goes before the services.
void application::shutdown() {
  jobs_.stop();
  until_exit_.stop();
  if (key_redis_) key_redis_->close();
  if (admin_server_) admin_server_->stop();
  admin_.reset();
  if (server_) server_->stop();
  if (auto latest = services_.snapshots.latest())
    for (const auto& b : latest->backends)
      for (auto& pool : b->pools) pool->shutdown();
  if (services_.limits) services_.limits->shutdown();
  if (services_.usage) services_.usage->shutdown();
  if (services_.cache) services_.cache->shutdown();
  // What the background jobs were doing when they were told to stop ends here.
  control_.restart();
  control_.run_for(std::chrono::seconds(1));
}

int application::run() {
  std::signal(SIGPIPE, SIG_IGN);
  // The stop and reload signals go to this (the control) thread only: they are blocked here
  // until the handler is in place, and every thread started meanwhile (workers, the admin
  // listener, the access log's writer, libraries' threads) inherits the block for good. A
  // signal sent meanwhile waits in the kernel, not in a thread that may not handle it soon
  // (under TSan one given to a worker was sometimes never handled: a drain test hung).
  sigset_t stops;
  sigemptyset(&stops);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stops, sig);
  pthread_sigmask(SIG_BLOCK, &stops, nullptr);
  if (!build()) {
    shutdown();
    return 1;
  }
  const auto& config = *config_;
  // The shared key store: known keys should work from the first request, so the first sync gets
  // a moment before the listener opens.
  if (config.auth.enabled && config.auth.redis_store) {
    auto options = redis::options_from(config.redis, "redis (keys)");
    options.on_error = count_redis_errors(metrics_, observability::redis_client::keys);
    key_redis_ = std::make_unique<redis::connection>(control_.get_executor(), std::move(options));
    jobs_.spawn("redis key sync", [this] { return sync_keys_from_redis(); });
    for (int i = 0; i < 60 && !first_key_sync_done_; ++i) control_.run_for(std::chrono::milliseconds(50));
  }
  // Models only a backend's list names are not served until it is read: wait for the first
  // round (bounded) before listening, as for the first key sync.
  if (config.serve_discovered) {
    for (auto& d : discoveries_) d->start(jobs_);
    const auto all_tried = [&] { return std::all_of(discoveries_.begin(), discoveries_.end(), [](auto& d) { return d->tried(); }); };
    for (int i = 0; i < 200 && !all_tried(); ++i) control_.run_for(std::chrono::milliseconds(50));
  }
  try {
    server_->start();
    if (admin_server_) admin_server_->start();
  } catch (const std::exception& e) {
    spdlog::error("cannot listen on {}:{} (or the admin port {}): {}", config.server.host, config.server.port,
                  config.admin.port, e.what());
    shutdown();
    return 1;
  }
  if (admin_server_)
    spdlog::info("admin API on {}:{} (metrics {}, key admin {})", config.admin.host, admin_server_->port(),
                 metrics_ ? "at /metrics" : "off", config.admin.keys_api() ? "on" : "off: no admin.token");
  else spdlog::info("admin listener off (admin.enabled: false): no /metrics, no key admin API");
  if (admin_server_ && metrics_ && !config.admin.on_loopback() && !config.admin.keys_api())
    spdlog::warn("the admin listener is on {}, not loopback, and has no admin.token: /metrics refuses every scrape "
                 "until DEEPGATE_ADMIN_TOKEN (admin.token) is set; keep the port on a private network or behind TLS",
                 config.admin.host);
  start_jobs();
  asio::co_spawn(control_, handle_signals(), asio::detached);
  pthread_sigmask(SIG_UNBLOCK, &stops, nullptr);  // a signal already sent is delivered now, to the set
  // Ready, and said so, only now that a signal starts the drain (announced any earlier, a
  // SIGTERM right after "listening on" could find no handler and end the process undrained).
  services_.ready = true;
  spdlog::info("deepgate {} listening on {}:{} (workers={}, tls={}, config={})", version(), config.server.host,
               server_->port(), server_->workers(), config.server.tls.enabled() ? "on" : "off", config.origin);
  control_.restart();
  control_.run();
  shutdown();
  spdlog::info("deepgate stopped");
  spdlog::shutdown();
  return 0;
}

int run(std::shared_ptr<const config::gateway_config> config, std::function<config::load_result()> reread) {
  application app(std::move(config), std::move(reread));
  return app.run();
}

}  // namespace deepgate::app
