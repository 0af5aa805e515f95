#pragma once
// What the handlers share: the config snapshot, the authenticator (its key table swaps on
// reload), the limiter, the prompt cache, the metrics and access log and, per worker, one
// connection pool per backend. Built once by the application before the server starts.
#include "deepgate/api/reasoning_repair.hpp"
#include "deepgate/auth/authenticator.hpp"
#include "deepgate/cache/prompt_cache.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/limits/limiter.hpp"
#include "deepgate/observability/access_log.hpp"
#include "deepgate/observability/client_address.hpp"
#include "deepgate/observability/metrics.hpp"
#include "deepgate/upstream/client.hpp"
#include "deepgate/upstream/routing.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace deepgate::api {

struct gateway_services {
  std::shared_ptr<const config::gateway_config> config;
  // pools[worker][backend index]
  std::vector<std::vector<std::unique_ptr<upstream::connection_pool>>> pools;
  std::vector<std::unique_ptr<upstream::backend_state>> backends;  // [backend index]
  std::vector<std::vector<upstream::weighted_rr>> balancers;        // [worker][model index]
  upstream::retry_budget retry_budget;
  std::unique_ptr<auth::authenticator> auth;
  std::unique_ptr<limits::limiter> limits;
  std::unique_ptr<cache::prompt_cache> cache;  // null: cache.policy is off everywhere
  std::unique_ptr<reasoning_memory> reasoning;  // null: reasoning_repair.enabled is false
  std::unique_ptr<observability::metrics> metrics;        // null: metrics.enabled is false
  std::unique_ptr<observability::access_log> access_log;  // null: log.access.enabled is false
  observability::trusted_proxies proxies;
  std::function<std::size_t()> open_connections;  // the public listener's, for /metrics
  std::atomic<bool> ready{false};
};

// Unix seconds now, for key expiry.
std::int64_t unix_now();

}  // namespace deepgate::api
