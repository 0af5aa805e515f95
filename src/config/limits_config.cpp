#include "deepgate/config/limits_config.hpp"

#include "reader.hpp"

namespace deepgate::config {
namespace {

constexpr double max_usd = 1e9;

bool read_values(reader& r, const YAML::Node& n, const std::string& p, limit_values& v) {
  return r.integer<std::uint32_t>(n, "requests_per_minute", p, v.requests_per_minute, 0, 100'000'000) &&
         r.integer<std::uint32_t>(n, "request_burst", p, v.request_burst, 0, 100'000'000) &&
         r.integer<std::uint64_t>(n, "tokens_per_minute", p, v.tokens_per_minute, 0, 1'000'000'000'000) &&
         r.integer<std::uint32_t>(n, "concurrent_requests", p, v.concurrent_requests, 0, 1'000'000);
}

bool read_profile(reader& r, const YAML::Node& n, const std::string& p, limits_profile& out) {
  if (!r.mapping(n, p,
                 {"requests_per_minute", "request_burst", "tokens_per_minute", "concurrent_requests", "daily_budget_usd",
                  "monthly_budget_usd", "models"}))
    return false;
  double day = 0, month = 0;
  if (!read_values(r, n, p, out.values) || !r.number(n, "daily_budget_usd", p, day, 0, max_usd) ||
      !r.number(n, "monthly_budget_usd", p, month, 0, max_usd))
    return false;
  out.daily_budget = limits::to_nano(day);
  out.monthly_budget = limits::to_nano(month);
  auto models = n ? n["models"] : YAML::Node();
  if (!models || models.IsNull()) return true;
  if (!models.IsMap()) return r.fail(p + ".models", "must map model names to limits");
  for (const auto& kv : models) {
    auto mp = p + ".models." + kv.first.Scalar();
    if (!r.mapping(kv.second, mp, {"requests_per_minute", "request_burst", "tokens_per_minute", "concurrent_requests"}) ||
        !read_values(r, kv.second, mp, out.models[kv.first.Scalar()]))
      return false;
  }
  return true;
}

}  // namespace

bool limits_profile::any() const {
  if (values.any() || daily_budget || monthly_budget) return true;
  for (auto& [_, v] : models)
    if (v.any()) return true;
  return false;
}

const limits_profile& limits_config::profile(const std::string& name) const {
  if (name.empty()) return defaults;
  auto it = profiles.find(name);
  return it == profiles.end() ? defaults : it->second;
}

bool limits_config::any() const {
  if (defaults.any()) return true;
  for (auto& [_, p] : profiles)
    if (p.any()) return true;
  return false;
}

bool read_limits(reader& r, const YAML::Node& n, limits_config& out) {
  const std::string p = "limits";
  if (!r.mapping(n, p,
                 {"store", "on_redis_failure", "replicas", "lease_ttl", "default_max_tokens", "default", "profiles"}))
    return false;
  std::string store = "memory", on_failure = "open";
  if (!r.string(n, "store", p, store) || !r.string(n, "on_redis_failure", p, on_failure) ||
      !r.integer<std::uint32_t>(n, "replicas", p, out.replicas, 1, 10'000) || !r.duration(n, "lease_ttl", p, out.lease_ttl) ||
      !r.integer<std::uint64_t>(n, "default_max_tokens", p, out.default_max_tokens, 1, 10'000'000))
    return false;
  if (store != "memory" && store != "redis") return r.fail(p + ".store", "must be memory or redis");
  if (on_failure != "open" && on_failure != "closed") return r.fail(p + ".on_redis_failure", "must be open or closed");
  if (out.lease_ttl < std::chrono::seconds(1)) return r.fail(p + ".lease_ttl", "must be at least 1s");
  out.redis = store == "redis";
  out.fail_open = on_failure == "open";
  if (!read_profile(r, n ? n["default"] : YAML::Node(), p + ".default", out.defaults)) return false;
  auto profiles = n ? n["profiles"] : YAML::Node();
  if (!profiles || profiles.IsNull()) return true;
  if (!profiles.IsMap()) return r.fail(p + ".profiles", "must map profile names to limits");
  for (const auto& kv : profiles)
    if (!read_profile(r, kv.second, p + ".profiles." + kv.first.Scalar(), out.profiles[kv.first.Scalar()])) return false;
  return true;
}

bool read_prices(reader& r, const YAML::Node& n, price_table& out) {
  if (!n || n.IsNull()) return true;
  if (!n.IsMap()) return r.fail("prices", "must map model names to prices");
  for (const auto& kv : n) {
    auto p = "prices." + kv.first.Scalar();
    auto& price = out[kv.first.Scalar()];
    if (!r.mapping(kv.second, p, {"input_cache_hit", "input_cache_miss", "output"}) ||
        !r.number(kv.second, "input_cache_hit", p, price.input_cache_hit, 0, 1e6) ||
        !r.number(kv.second, "input_cache_miss", p, price.input_cache_miss, 0, 1e6) ||
        !r.number(kv.second, "output", p, price.output, 0, 1e6))
      return false;
  }
  return true;
}

}  // namespace deepgate::config
