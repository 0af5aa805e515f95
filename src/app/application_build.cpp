#include "application_impl.hpp"

#include "deepgate/auth/key_loader.hpp"
#include "deepgate/core/version.hpp"

#include <spdlog/spdlog.h>

namespace deepgate::app {

std::function<void()> count_redis_errors(observability::metrics* metrics, observability::redis_client c) {
  if (!metrics) return {};
  return [metrics, c] { metrics->redis_error(c); };
}

bool application::build() {
  const auto& config = *config_;
  for (auto& b : config.backends) {
    if (b.url.tls && b.api_key.empty())
      spdlog::warn("backend {}: no API key configured (set DEEPSEEK_API_KEY or backends[].api_key)", b.name);
    if (b.url.tls && !b.verify_tls) spdlog::warn("backend {}: TLS certificate verification is OFF", b.name);
  }
  // The startup names are numbered in config order (so a backend's label is its index), before
  // the metrics make their first series.
  services_.labels = std::make_unique<observability::label_table>(config.models.size(), config.backends.size());
  for (const auto& b : config.backends) services_.labels->backend(b.name);
  for (const auto& m : config.models) services_.labels->model(m.name);
  if (config.metrics.enabled)
    services_.metrics = std::make_unique<observability::metrics>(config, version(), *services_.labels);
  metrics_ = services_.metrics.get();
  services_.proxies = observability::trusted_proxies(config.server.trusted_proxies);
  std::string key_error;
  auto keys = auth::load_key_table(config.auth, key_error);
  if (!keys) {
    spdlog::error("cannot load keys: {}", key_error);
    return false;
  }
  services_.auth = std::make_unique<auth::authenticator>(config.auth.enabled, keys);
  if (config.auth.enabled && config.auth.redis_store)
    spdlog::info("auth: keys from redis (synced every {} ms) and {} from the config", config.auth.sync_interval.count(),
                 config.auth.keys.size());
  else if (config.auth.enabled)
    spdlog::info("auth: {} keys ({} from {})", keys->keys().size(), keys->keys().size() - config.auth.keys.size(),
                 config.auth.keys_file);
  else
    spdlog::warn("auth.mode is none: every request is anonymous. For local experiments only.");
  server_ = std::make_unique<http::server>(config.server, api::make_router(services_), api::make_head_check(services_));
  services_.open_connections = [s = server_.get()] { return s->open_connections(); };
  services_.body_bytes_in_flight = [s = server_.get()] { return s->body_bytes_in_flight(); };
  if (config.log.access.enabled) {
    try {
      services_.access_log = std::make_unique<observability::access_log>(config, server_->workers(), *services_.labels);
    } catch (const std::exception& e) {
      spdlog::error("cannot open the access log {}: {}", config.log.access.path, e.what());
      return false;
    }
  }
  for (unsigned w = 0; w < server_->workers(); ++w) workers_.push_back(server_->worker_executor(w));
  services_.load.resize(server_->workers());
  services_.snapshots.bind(workers_);
  auto first = api::build_snapshot(config_, nullptr, workers_, *services_.labels);
  if (!first.snap) {
    spdlog::error("{}", first.error);
    return false;
  }
  services_.snapshots.publish(first.snap, false);
  services_.limits = std::make_unique<limits::limiter>(config_, workers_,
                                                       count_redis_errors(metrics_, observability::redis_client::limits));
  if (first.snap->limits_apply)
    spdlog::info("limits: {} store{}", config.limits.redis ? "redis" : "memory",
                 config.limits.redis ? (config.limits.fail_open ? " (fail open)" : " (fail closed)") : "");
  if (config.usage.enabled)
    services_.usage = std::make_unique<limits::usage_ledger>(config_, workers_,
                                                             count_redis_errors(metrics_, observability::redis_client::usage));
  const auto& cc = config.cache;
  bool caching = cc.mode != config::cache_mode::off;
  for (auto* modes : {&cc.keys, &cc.owners, &cc.models})
    for (auto& [_, m] : *modes) caching = caching || m != config::cache_mode::off;
  // The memory store is made even when the policy is off, so a reload can turn caching on; the
  // Redis store (connections per worker) only when something caches at startup.
  if (caching || !cc.redis)
    services_.cache = std::make_unique<cache::prompt_cache>(config, workers_,
                                                            count_redis_errors(metrics_, observability::redis_client::cache));
  if (caching)
    spdlog::info("cache: {} store, policy {}, scope {}, ttl {} s", cc.redis ? "redis" : "memory", config::to_string(cc.mode),
                 cc.shared ? "shared" : "owner", cc.ttl.count() / 1000);
  // Likewise the reasoning memory: empty and unused while reasoning_repair.enabled is false.
  services_.reasoning = std::make_unique<api::reasoning_memory>(config.reasoning_repair.max_bytes, config.reasoning_repair.ttl);
  if (config.reasoning_repair.enabled)
    spdlog::info("reasoning repair: on (reasoning kept {} s for tool results)", config.reasoning_repair.ttl.count() / 1000);
  // DeepSeek's balance into the metrics, and each backend's GET /models (its models' metadata
  // and, with serve_discovered, the models it serves), from the control thread.
  for (std::size_t b = 0; b < config.backends.size(); ++b) {
    const auto& backend = config.backends[b];
    const auto& runtime = *first.snap->backends[b];
    if (metrics_ && backend.balance_check_interval.count() > 0)
      balance_checks_.push_back(std::make_unique<balance_check>(control_.get_executor(), backend, b, runtime.tls, *metrics_));
    if (backend.models_refresh_interval.count() > 0)
      discoveries_.push_back(std::make_unique<model_discovery>(
          control_.get_executor(), backend, runtime.label, runtime.tls, metrics_,
          [this](const std::string& name, std::vector<api::listed_model> models) {
            listings_[name] = std::move(models);
            publish_listings();
          }));
  }
  // The admin listener (/metrics, and /admin/keys when admin.token is set): its own
  // single-threaded server, never on the public port.
  if (config.admin.enabled) {
    config::server_config admin_options = config.server;
    admin_options.host = config.admin.host;
    admin_options.port = config.admin.port;
    admin_options.workers = 1;
    admin_options.tls = {};
    admin_ = std::make_unique<api::admin_api>(services_);
    admin_server_ = std::make_unique<http::server>(admin_options, admin_->handler());
  }
  return true;
}

// A list that changed is published as a new snapshot built from the file's config (replaced by
// a reload) plus the latest lists.
void application::publish_listings() {
  const auto running = services_.snapshots.latest();
  auto built = api::build_snapshot(api::with_listings(file_config_, listings_), running.get(), workers_, *services_.labels);
  if (!built.snap) {
    spdlog::error("models from the backends' lists not applied: {}", built.error);
    return;
  }
  services_.snapshots.publish(built.snap, true);
}

}  // namespace deepgate::app
