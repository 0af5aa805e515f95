#pragma once
// The `limits:` and `prices:` sections: per-owner request, token, concurrency and spend limits,
// grouped in named profiles a key refers to, and the price table budgets are charged from.
// 0 means unlimited everywhere. docs/limits.md explains the algorithms.
#include "deepgate/core/price.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace deepgate::config {

// The limits one bucket enforces.
struct limit_values {
  std::uint32_t requests_per_minute = 0;
  std::uint32_t request_burst = 0;  // requests that may arrive at once; 0: requests_per_minute
  std::uint64_t tokens_per_minute = 0;
  std::uint32_t concurrent_requests = 0;
  bool any() const { return requests_per_minute || tokens_per_minute || concurrent_requests; }
};

struct limits_profile {
  limit_values values;
  core::nano_usd daily_budget = 0;    // spend per UTC day, all models together
  core::nano_usd monthly_budget = 0;  // spend per UTC month
  // Client-facing model → limits with their own bucket for that model (budgets stay per owner).
  std::map<std::string, limit_values, std::less<>> models;  // looked up by string_view
  bool any() const;
};

struct limits_config {
  bool redis = false;      // store: memory (default) or redis (exact across replicas)
  bool fail_open = true;   // redis unreachable: local limits (limit ÷ replicas), or 503 when false
  std::uint32_t replicas = 1;
  std::chrono::milliseconds lease_ttl{60'000};  // a concurrency slot of a killed replica frees after this
  std::uint64_t default_max_tokens = 4096;  // the completion reserved when a request sets no max_tokens
  limits_profile defaults;                  // keys without a profile, and keys naming an unknown one
  std::map<std::string, limits_profile> profiles;
  // The profile a key names ("" or unknown: the defaults).
  const limits_profile& profile(const std::string& name) const;
  bool any() const;
};

// The `usage:` section: per-owner and per-key usage records by UTC day, kept in the limits store
// (memory, or Redis with limits.store: redis). docs/usage.md.
struct usage_config {
  bool enabled = true;
  std::chrono::seconds retention{90 * 86'400};         // a day's record is kept this long after its last write
  std::chrono::milliseconds flush_interval{1'000};     // Redis: how often each worker sends its batch
  std::uint32_t max_days = 366;                         // the longest range one query may ask for
};

// Upstream model name → its prices, with their time-of-day tiers. Budgets need a price for every
// model they can be charged for.
using price_table = std::map<std::string, core::price_schedule, std::less<>>;

}  // namespace deepgate::config
