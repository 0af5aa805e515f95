#pragma once
// Usage records: what each owner, and each of its keys, used per UTC day (requests, tokens, spend,
// cache hits served, refusals by kind). Kept where the limits are (limits.store): in this
// process's memory, or in Redis shared by every replica, with a retention TTL.
//
// record() is called once per settled model request on its worker's thread and does no I/O:
//   - memory: it adds to a sharded map at once (one short lock);
//   - redis: it adds to the worker's pending batch; every usage.flush_interval the worker sends
//     one script per (owner, day) with the increments, never on a request's path. A batch Redis
//     did not confirm is sent again with the same id, and the script applies an id once, so a
//     timeout neither loses nor double-counts. The drain flushes what is pending before exit.
//
// Redis layout (the owner in a hash tag, so a day's hash and its applied-batch set share a slot):
//   deepgate:usage:{owner}:d:<YYYY-MM-DD>   hash: field → count ("requests", "key:<id>:requests", ...)
//   deepgate:usage:{owner}:batches          sorted set of applied batch ids (kept one hour)
//   deepgate:usage:owners:<YYYY-MM-DD>      set of the owners with usage that day (admin listing)
#include "deepgate/config/config.hpp"
#include "deepgate/core/price.hpp"
#include "deepgate/limits/usage.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::redis {
class connection;
}

namespace deepgate::limits {

// The counters of one day, in a fixed order; names are the JSON and Redis field names.
enum class counter : std::uint8_t {
  requests,
  prompt_tokens,
  completion_tokens,
  reasoning_tokens,
  cache_hit_tokens,   // the backend's prompt cache (DeepSeek's prompt_cache_hit_tokens)
  cache_miss_tokens,
  spend_nano_usd,
  cache_hits,         // answered from the gateway's own prompt cache
  estimated_requests, // usage not reported by the backend: estimated (stream cut, client gone)
  errors,             // answered with an error other than a refusal by the limits
  refused_requests,
  refused_tokens,
  refused_concurrency,
  refused_budget,
  refused_backend_busy,
  refused_limiter_unavailable,
};
constexpr std::size_t counter_count = 16;
std::string_view to_string(counter c);
std::optional<counter> counter_named(std::string_view name);

struct counters {
  std::array<std::int64_t, counter_count> v{};
  std::int64_t& operator[](counter c) { return v[static_cast<std::size_t>(c)]; }
  std::int64_t operator[](counter c) const { return v[static_cast<std::size_t>(c)]; }
  counters& operator+=(const counters& o);
  bool empty() const;
};

// One settled request, as the router saw it end.
struct usage_event {
  std::string_view owner;
  std::string_view key_id;  // empty when auth is off
  std::int64_t day = 0;     // days since 1970-01-01 (UTC), at arrival
  std::optional<usage> used;
  nano_usd spend = 0;
  bool cache_hit = false;
  bool error = false;
  std::optional<counter> refused;  // one of the refused_* counters
};
counters counters_of(const usage_event& e);

// One owner's day: its totals and each key's.
struct owner_day {
  counters total;
  std::map<std::string, counters, std::less<>> keys;
};

struct usage_query {
  std::string owner;  // empty: every owner with usage in the range (admin only)
  std::string key;    // empty: every key
  std::int64_t from_day = 0, to_day = 0;  // inclusive
};

// Per owner (sorted), per day (sorted, days without usage left out).
using usage_report = std::map<std::string, std::map<std::int64_t, owner_day>, std::less<>>;

class usage_ledger {
 public:
  // The store is the limits'; `on_redis_error` counts failed Redis commands (may be empty).
  usage_ledger(std::shared_ptr<const config::gateway_config> config, std::vector<boost::asio::any_io_executor> workers,
               std::function<void()> on_redis_error = {});
  ~usage_ledger();
  usage_ledger(const usage_ledger&) = delete;
  usage_ledger& operator=(const usage_ledger&) = delete;

  void record(unsigned worker, const usage_event& e);
  // Reads through the worker's own Redis connection (memory: the map); nullopt when Redis failed.
  boost::asio::awaitable<std::optional<usage_report>> read(unsigned worker, usage_query q);
  // The same through a connection of the caller's executor (the admin listener's).
  boost::asio::awaitable<std::optional<usage_report>> read(redis::connection& conn, usage_query q);

  // Sends every worker's pending batch now and waits (bounded by `deadline`) until Redis took
  // them or refused; call from a thread that is not a worker's, while the workers still run.
  void flush_all(std::chrono::milliseconds deadline);
  // Stops the flush loops and closes the connections (after the workers stopped; see limiter).
  void shutdown();
  bool shared() const;  // kept in Redis

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace deepgate::limits
