#include "deepgate/config/reload.hpp"

namespace deepgate::config {

std::vector<std::string> keep_restart_only(const gateway_config& running, gateway_config& next) {
  std::vector<std::string> kept;
  auto keep = [&](auto& field, const auto& value, const char* name) {
    if (field == value) return;
    field = value;
    kept.emplace_back(name);
  };
  keep(next.server, running.server, "server");
  keep(next.admin, running.admin, "admin");
  keep(next.metrics, running.metrics, "metrics");
  keep(next.log, running.log, "log");
  keep(next.redis, running.redis, "redis");
  keep(next.auth.enabled, running.auth.enabled, "auth.mode");
  keep(next.auth.redis_store, running.auth.redis_store, "auth.store");
  keep(next.auth.sync_interval, running.auth.sync_interval, "auth.sync_interval");
  keep(next.limits.redis, running.limits.redis, "limits.store");
  keep(next.limits.fail_open, running.limits.fail_open, "limits.on_redis_failure");
  keep(next.limits.replicas, running.limits.replicas, "limits.replicas");
  keep(next.limits.lease_ttl, running.limits.lease_ttl, "limits.lease_ttl");
  keep(next.cache.redis, running.cache.redis, "cache.store");
  keep(next.cache.max_bytes, running.cache.max_bytes, "cache.max_bytes");
  keep(next.cache.max_entry_bytes, running.cache.max_entry_bytes, "cache.max_entry_bytes");
  keep(next.reasoning_repair.ttl, running.reasoning_repair.ttl, "reasoning_repair.ttl");
  keep(next.reasoning_repair.max_bytes, running.reasoning_repair.max_bytes, "reasoning_repair.max_bytes");
  return kept;
}

}  // namespace deepgate::config
