#include "deepgate/app/application.hpp"

#include "deepgate/api/admin.hpp"
#include "deepgate/api/router.hpp"
#include "deepgate/app/balance_check.hpp"
#include "deepgate/app/model_discovery.hpp"
#include "deepgate/auth/key_loader.hpp"
#include "deepgate/auth/redis_key_store.hpp"
#include "deepgate/redis/connection.hpp"
#include "deepgate/api/services.hpp"
#include "deepgate/config/reload.hpp"
#include "deepgate/core/version.hpp"
#include "deepgate/http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <functional>

namespace deepgate::app {

namespace asio = boost::asio;

namespace {
// %v escaped for a JSON string value, so log lines stay parseable whatever the message says.
class json_message_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            int n = std::snprintf(buf, sizeof buf, "\\u%04x", c);
            dest.append(std::string_view(buf, static_cast<std::size_t>(n)));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message_flag>(); }
};
// Keeps this replica's key table in step with the shared Redis store: checks the store's version
// every sync_interval and reloads all records when it moved. While Redis is unreachable the last
// table keeps serving known keys and unknown keys get 503. One log line per state change.
asio::awaitable<void> sync_keys_from_redis(redis::connection& redis, auth::authenticator& auth,
                                           const config::auth_config& cfg, asio::steady_timer& pause, bool& first_done,
                                           const bool& stopping, observability::metrics* metrics) {
  std::optional<std::string> synced;
  std::optional<bool> reachable;
  while (!stopping) {
    auto v = co_await auth::redis_store::version(redis);
    bool ok = v.has_value();
    if (ok && (!synced || *synced != *v)) {
      auto keys = co_await auth::redis_store::load_all(redis);
      ok = keys.has_value();
      if (metrics) metrics->config_reload(ok);
      if (ok) {
        auth.replace(auth::make_key_table(std::move(*keys), cfg));
        synced = v;
        spdlog::info("keys synced from redis: {} keys (epoch:version {})", auth.table()->keys().size(), *v);
      }
    }
    if (reachable != ok) {
      if (ok) spdlog::info("key store (redis) reachable");
      else spdlog::warn("key store (redis) unreachable: known keys keep working, unknown keys get 503");
      reachable = ok;
      auth.set_store_available(ok);
    }
    first_done = true;
    if (stopping) break;
    pause.expires_after(cfg.sync_interval);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

void setup_logging(const config::log_config& log) {
  auto logger = spdlog::stderr_logger_mt("deepgate");
  if (log.format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<json_message_flag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%*"})");
    logger->set_formatter(std::move(f));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(log.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int run(std::shared_ptr<const config::gateway_config> config, std::function<config::load_result()> reread) {
  std::signal(SIGPIPE, SIG_IGN);
  for (auto& b : config->backends) {
    if (b.url.tls && b.api_key.empty())
      spdlog::warn("backend {}: no API key configured (set DEEPSEEK_API_KEY or backends[].api_key)", b.name);
    if (b.url.tls && !b.verify_tls) spdlog::warn("backend {}: TLS certificate verification is OFF", b.name);
  }

  api::gateway_services services;
  // The startup names are numbered in config order (so a backend's label is its index), before
  // the metrics make their first series.
  services.labels = std::make_unique<observability::label_table>(config->models.size(), config->backends.size());
  for (const auto& b : config->backends) services.labels->backend(b.name);
  for (const auto& m : config->models) services.labels->model(m.name);
  if (config->metrics.enabled)
    services.metrics = std::make_unique<observability::metrics>(*config, version(), *services.labels);
  services.proxies = observability::trusted_proxies(config->server.trusted_proxies);
  auto* metrics = services.metrics.get();
  auto redis_errors = [metrics](observability::redis_client c) -> std::function<void()> {
    if (!metrics) return {};
    return [metrics, c] { metrics->redis_error(c); };
  };
  std::string key_error;
  auto keys = auth::load_key_table(config->auth, key_error);
  if (!keys) {
    spdlog::error("cannot load keys: {}", key_error);
    return 1;
  }
  services.auth = std::make_unique<auth::authenticator>(config->auth.enabled, keys);
  if (config->auth.enabled && config->auth.redis_store)
    spdlog::info("auth: keys from redis (synced every {} ms) and {} from the config", config->auth.sync_interval.count(),
                 config->auth.keys.size());
  else if (config->auth.enabled)
    spdlog::info("auth: {} keys ({} from {})", keys->keys().size(), keys->keys().size() - config->auth.keys.size(),
                 config->auth.keys_file);
  else
    spdlog::warn("auth.mode is none: every request is anonymous. For local experiments only.");
  http::server server(config->server, api::make_router(services), api::make_head_check(services));
  services.open_connections = [&server] { return server.open_connections(); };
  services.body_bytes_in_flight = [&server] { return server.body_bytes_in_flight(); };
  if (config->log.access.enabled) {
    try {
      services.access_log = std::make_unique<observability::access_log>(*config, server.workers(), *services.labels);
    } catch (const std::exception& e) {
      spdlog::error("cannot open the access log {}: {}", config->log.access.path, e.what());
      return 1;
    }
  }

  std::vector<asio::any_io_executor> worker_executors;
  for (unsigned w = 0; w < server.workers(); ++w) worker_executors.push_back(server.worker_executor(w));
  services.snapshots.bind(worker_executors);
  auto first = api::build_snapshot(config, nullptr, worker_executors, *services.labels);
  if (!first.snap) {
    spdlog::error("{}", first.error);
    return 1;
  }
  services.snapshots.publish(first.snap, false);
  services.limits = std::make_unique<limits::limiter>(config, worker_executors, redis_errors(observability::redis_client::limits));
  if (first.snap->limits_apply)
    spdlog::info("limits: {} store{}", config->limits.redis ? "redis" : "memory",
                 config->limits.redis ? (config->limits.fail_open ? " (fail open)" : " (fail closed)") : "");
  const auto& cc = config->cache;
  bool caching = cc.mode != config::cache_mode::off;
  for (auto* modes : {&cc.keys, &cc.owners, &cc.models})
    for (auto& [_, m] : *modes) caching = caching || m != config::cache_mode::off;
  // The memory store is made even when the policy is off, so a reload can turn caching on; the
  // Redis store (connections per worker) only when something caches at startup.
  if (caching || !cc.redis)
    services.cache = std::make_unique<cache::prompt_cache>(*config, worker_executors, redis_errors(observability::redis_client::cache));
  if (caching)
    spdlog::info("cache: {} store, policy {}, scope {}, ttl {} s", cc.redis ? "redis" : "memory", config::to_string(cc.mode),
                 cc.shared ? "shared" : "owner", cc.ttl.count() / 1000);
  // Likewise the reasoning memory: empty and unused while reasoning_repair.enabled is false.
  services.reasoning =
      std::make_unique<api::reasoning_memory>(config->reasoning_repair.max_bytes, config->reasoning_repair.ttl);
  if (config->reasoning_repair.enabled)
    spdlog::info("reasoning repair: on (reasoning kept {} s for tool results)", config->reasoning_repair.ttl.count() / 1000);

  // The shared key store: this replica's table follows Redis from the control thread.
  asio::io_context control;
  asio::steady_timer sync_pause(control);
  bool sync_stopping = false, first_sync_done = false;
  std::unique_ptr<redis::connection> key_redis;
  if (config->auth.enabled && config->auth.redis_store) {
    auto options = redis::options_from(config->redis, "redis (keys)");
    options.on_error = redis_errors(observability::redis_client::keys);
    key_redis = std::make_unique<redis::connection>(control.get_executor(), std::move(options));
    asio::co_spawn(control,
                   sync_keys_from_redis(*key_redis, *services.auth, config->auth, sync_pause, first_sync_done,
                                        sync_stopping, metrics),
                   asio::detached);
    // Give the first sync a moment so known keys work from the first request.
    for (int i = 0; i < 60 && !first_sync_done; ++i) control.run_for(std::chrono::milliseconds(50));
  }
  // DeepSeek's balance into the metrics, from the control thread.
  std::vector<std::unique_ptr<balance_check>> balance_checks;
  if (metrics)
    for (std::size_t b = 0; b < config->backends.size(); ++b)
      if (config->backends[b].balance_check_interval.count() > 0)
        balance_checks.push_back(std::make_unique<balance_check>(control.get_executor(), config->backends[b], b,
                                                                 first.snap->backends[b]->tls, *metrics));
  // Each backend's GET /models, from the control thread: its models' metadata and, with
  // serve_discovered, the models it serves. A list that changed is published as a new snapshot
  // built from the file's config (`file_config`, replaced by a reload) plus the latest lists.
  std::shared_ptr<const config::gateway_config> file_config = config;
  api::model_listings listings;
  auto publish_listings = [&] {
    const auto running = services.snapshots.latest();
    auto built = api::build_snapshot(api::with_listings(file_config, listings), running.get(), worker_executors,
                                     *services.labels);
    if (!built.snap) {
      spdlog::error("models from the backends' lists not applied: {}", built.error);
      return;
    }
    services.snapshots.publish(built.snap, true);
  };
  std::vector<std::unique_ptr<model_discovery>> discoveries;
  for (std::size_t b = 0; b < config->backends.size(); ++b)
    if (config->backends[b].models_refresh_interval.count() > 0)
      discoveries.push_back(std::make_unique<model_discovery>(
          control.get_executor(), config->backends[b], first.snap->backends[b]->label, first.snap->backends[b]->tls,
          metrics, [&](const std::string& backend, std::vector<api::listed_model> models) {
            listings[backend] = std::move(models);
            publish_listings();
          }));
  // Models only a backend's list names are not served until it is read: wait for the first
  // round (bounded) before listening, as for the first key sync.
  if (config->serve_discovered) {
    for (auto& d : discoveries) d->start();
    const auto all_tried = [&] { return std::all_of(discoveries.begin(), discoveries.end(), [](auto& d) { return d->tried(); }); };
    for (int i = 0; i < 200 && !all_tried(); ++i) control.run_for(std::chrono::milliseconds(50));
  }
  // The periodic jobs on the control thread (access-log flush, keys-file watch) re-arm themselves;
  // once `winding_down` is set they stop. A cancel alone is not enough: a timer that has already
  // expired runs its handler with success, and a handler that re-armed would keep control.run()
  // (and the process) alive forever.
  bool winding_down = false;
  // Access-log batches go to the writer thread at least every log.access.flush_interval.
  asio::steady_timer log_flush(control);
  std::function<void()> flush_access_log = [&] {
    log_flush.expires_after(config->log.access.flush_interval);
    log_flush.async_wait([&](boost::system::error_code ec) {
      if (ec || winding_down) return;
      services.access_log->flush_batches();
      flush_access_log();
    });
  };
  auto stop_background = [&] {
    sync_stopping = true;
    sync_pause.cancel();
    if (key_redis) key_redis->close();
    for (auto& c : balance_checks) c->stop();
    for (auto& d : discoveries) d->stop();
  };

  // The admin listener (/metrics, and /admin/keys when admin.token is set): its own
  // single-threaded server, never on the public port.
  std::unique_ptr<http::server> admin_server;
  std::unique_ptr<api::admin_api> admin;
  if (config->admin.enabled) {
    config::server_config admin_options = config->server;
    admin_options.host = config->admin.host;
    admin_options.port = config->admin.port;
    admin_options.workers = 1;
    admin_options.tls = {};
    admin = std::make_unique<api::admin_api>(services);
    admin_server = std::make_unique<http::server>(admin_options, admin->handler());
  }

  try {
    server.start();
    if (admin_server) admin_server->start();
  } catch (const std::exception& e) {
    spdlog::error("cannot listen on {}:{} (or the admin port {}): {}", config->server.host, config->server.port,
                  config->admin.port, e.what());
    stop_background();
    services.limits->shutdown();  // its Redis connections go before the io_contexts
    if (services.cache) services.cache->shutdown();
    return 1;
  }
  if (admin_server)
    spdlog::info("admin API on {}:{} (metrics {}, key admin {})", config->admin.host, admin_server->port(),
                 metrics ? "at /metrics" : "off", config->admin.keys_api() ? "on" : "off: no admin.token");
  else spdlog::info("admin listener off (admin.enabled: false): no /metrics, no key admin API");
  if (admin_server && metrics && !config->admin.on_loopback() && !config->admin.keys_api())
    spdlog::warn("the admin listener is on {}, not loopback, and has no admin.token: /metrics refuses every scrape "
                 "until DEEPGATE_ADMIN_TOKEN (admin.token) is set; keep the port on a private network or behind TLS",
                 config->admin.host);
  for (auto& c : balance_checks) c->start();
  if (!config->serve_discovered)
    for (auto& d : discoveries) d->start();
  if (services.access_log) flush_access_log();

  // The main thread only waits for signals, keeps keys in step and runs the drain sequence.
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer timer(control);
  int signals_seen = 0;
  std::chrono::steady_clock::time_point drain_deadline;

  // At the drain deadline the handlers still running end their responses with one error event
  // (server_shutting_down); what is left a few seconds later is closed.
  constexpr auto cut_grace = std::chrono::seconds(5);
  bool cut = false;
  std::function<void()> wait_for_drain = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (!cut && server.open_connections() != 0 && now >= drain_deadline) {
      spdlog::warn("drain deadline reached with {} connections open; ending their responses", server.open_connections());
      server.cut_in_flight();
      cut = true;
      drain_deadline = now + cut_grace;
    }
    if (server.open_connections() == 0 || now >= drain_deadline) {
      if (server.open_connections() != 0)
        spdlog::warn("{} connections still open {} s after the drain deadline; closing them", server.open_connections(),
                     cut_grace.count());
      winding_down = true;
      signals.cancel();
      log_flush.cancel();  // what is still batched is written when the access log closes
      return;
    }
    timer.expires_after(std::chrono::milliseconds(20));
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec && !winding_down) wait_for_drain();
    });
  };

  // The keys file is reloaded on SIGHUP and when it changes on disk (checked every second), so
  // `deepgate keys create|revoke|rotate` take effect without a restart. A bad file keeps the old
  // table and logs one line.
  namespace fs = std::filesystem;
  auto file_stamp = [&] {
    std::error_code fec;
    const auto path = services.snapshots.latest()->config->auth.keys_file;
    auto t = fs::last_write_time(path, fec);
    auto n = fs::file_size(path, fec);
    return fec ? std::pair<fs::file_time_type, std::uintmax_t>{} : std::pair{t, n};
  };
  auto stamp = file_stamp();
  auto reload_keys = [&](const char* why) {
    stamp = file_stamp();
    std::string err;
    auto table = auth::load_key_table(services.snapshots.latest()->config->auth, err);
    if (metrics) metrics->config_reload(table != nullptr);
    if (!table) {
      spdlog::error("keys reload ({}) failed, keeping the previous keys: {}", why, err);
      return;
    }
    services.auth->replace(table);
    spdlog::info("keys reloaded ({}): {} keys", why, table->keys().size());
  };
  asio::steady_timer key_watch(control);
  std::function<void()> watch_keys = [&] {
    key_watch.expires_after(std::chrono::seconds(1));
    key_watch.async_wait([&](boost::system::error_code ec) {
      if (ec || winding_down) return;
      if (file_stamp() != stamp) reload_keys("file changed");
      watch_keys();
    });
  };
  if (config->auth.enabled && !config->auth.redis_store && !config->auth.keys_file.empty()) watch_keys();

  // SIGHUP: the whole config file again. Built beside the running snapshot and published only
  // when all of it is good (config, keys, backend TLS); otherwise the old one keeps serving and
  // one line says why.
  auto reload_config = [&] {
    auto failed = [&](const std::string& why) {
      if (metrics) metrics->config_reload(false);
      spdlog::error("config reload (SIGHUP) failed, keeping the running config: {}", why);
    };
    auto loaded = reread();
    if (!loaded.config) return failed(loaded.error);
    const auto running = services.snapshots.latest();
    auto next = std::make_shared<config::gateway_config>(*loaded.config);
    const auto restart_only = config::keep_restart_only(*running->config, *next);
    std::shared_ptr<const auth::key_table> table;
    if (next->auth.enabled && !next->auth.redis_store) {
      std::string err;
      table = auth::load_key_table(next->auth, err);
      if (!table) return failed("keys: " + err);
    }
    auto built = api::build_snapshot(api::with_listings(next, listings), running.get(), worker_executors,
                                     *services.labels);
    if (!built.snap) return failed(built.error);
    std::size_t kept = 0;
    for (const auto& b : built.snap->backends)
      kept += std::count(running->backends.begin(), running->backends.end(), b) > 0;
    if (table) services.auth->replace(table);
    services.snapshots.publish(built.snap, true);
    file_config = next;
    stamp = file_stamp();
    if (metrics) metrics->config_reload(true);
    spdlog::info("config reloaded (SIGHUP) from {}: {} backends ({} unchanged), {} models{}", next->origin,
                 next->backends.size(), kept, next->models.size(),
                 table ? ", " + std::to_string(table->keys().size()) + " keys" : std::string());
    if (!restart_only.empty()) {
      std::string names;
      for (const auto& n : restart_only) names += (names.empty() ? "" : ", ") + n;
      spdlog::warn("config reload: {} changed but take effect at the next restart", names);
    }
    if (!services.cache && next->cache.mode != config::cache_mode::off)
      spdlog::warn("config reload: caching with the Redis store starts at the next restart");
  };

  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec || winding_down) return;
    if (sig == SIGHUP) {
      if (signals_seen == 0) reload_config();  // not while draining
      signals.async_wait(on_signal);
      return;
    }
    if (++signals_seen > 1) {
      spdlog::warn("second signal: exiting now");
      winding_down = true;
      timer.cancel();
      log_flush.cancel();
      key_watch.cancel();
      stop_background();
      return;  // nothing left waiting on `control`: run() returns
    }
    services.ready = false;  // /readyz fails at once so load balancers stop sending
    key_watch.cancel();
    stop_background();
    spdlog::info("signal {}: draining (delay {} ms, deadline {} ms)", sig, config->server.drain_delay.count(),
                 config->server.drain_timeout.count());
    if (admin_server) admin_server->begin_drain();
    signals.async_wait(on_signal);
    timer.expires_after(config->server.drain_delay);
    timer.async_wait([&](boost::system::error_code tec) {
      if (tec) return;
      server.begin_drain();
      drain_deadline = std::chrono::steady_clock::now() + config->server.drain_timeout;
      wait_for_drain();
    });
  };
  signals.async_wait(on_signal);
  // Ready, and said so, only now that a signal starts the drain (announced any earlier, a
  // SIGTERM right after "listening on" could find no handler and end the process undrained).
  services.ready = true;
  spdlog::info("deepgate {} listening on {}:{} (workers={}, tls={}, config={})", version(), config->server.host,
               server.port(), server.workers(), config->server.tls.enabled() ? "on" : "off", config->origin);
  control.run();
  if (admin_server) admin_server->stop();
  admin.reset();
  server.stop();
  // Order matters: idle backend sockets must close while their io_context still exists; the
  // server (and with it every io_context and parked coroutine) goes before `services`.
  for (const auto& b : services.snapshots.latest()->backends)
    for (auto& pool : b->pools) pool->shutdown();
  services.limits->shutdown();
  if (services.cache) services.cache->shutdown();
  spdlog::info("deepgate stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace deepgate::app
