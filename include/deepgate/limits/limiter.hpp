#pragma once
// Stage 3 of a chat request: admit it against the caller's limits (requests, tokens, concurrency,
// spend) and the backend's concurrency budget, and settle when it ends. The store is in memory
// (the default) or Redis (exact across replicas); while Redis is unreachable each replica falls
// back to its own memory store with every limit divided by `limits.replicas` (or answers 503 when
// `on_redis_failure: closed`), logging one line per change of state.
//
// Settling is RAII: a `ticket` releases its concurrency slot, reconciles the token reservation to
// the real usage and charges the spend when it is destroyed, on every path (success, error,
// client gone, upstream reset).
#include "deepgate/auth/key.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/http/api_error.hpp"
#include "deepgate/http/header.hpp"
#include "deepgate/limits/decision.hpp"
#include "deepgate/limits/usage.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace deepgate::limits {

class limiter;
class backend_gate;

// Whether a limits config has anything for admit() to check, and whether it needs the real
// usage of every answer (token limits, budgets). Computed once per config snapshot.
bool limits_apply(const config::limits_config& cfg);
bool tracks_usage(const config::limits_config& cfg);
// A backend's concurrency gate on this replica; null when it has no budget (max_concurrent_requests: 0).
std::unique_ptr<backend_gate> make_backend_gate(const config::backend_config& b, const config::limits_config& cfg);

class ticket {
 public:
  ticket();
  ticket(ticket&&) noexcept;
  ticket& operator=(ticket&&) noexcept;
  ~ticket();

  // The backend reported what the request used.
  void record(const usage& u);
  // No usage came back (the client left mid-stream): charge the prompt estimate plus the
  // completion tokens relayed so far, flagged as estimated.
  void record_estimate(std::int64_t completion_tokens);
  // The backend did no work (it refused the request): give the token reservation back.
  void refund();

  struct state;

 private:
  friend class limiter;
  explicit ticket(std::unique_ptr<state> s);
  std::unique_ptr<state> s_;
};

struct admission {
  std::optional<http::api_error> error;
  refusal refused = refusal::none;  // what `error` is, for the metrics
  http::header_list headers;  // x-ratelimit-*: on every response, not only on 429
  ticket held;
};

// A backend concurrency slot, released when destroyed.
class backend_slot {
 public:
  backend_slot();
  backend_slot(backend_slot&&) noexcept;
  backend_slot& operator=(backend_slot&&) noexcept;
  ~backend_slot();
  struct state;

 private:
  friend class limiter;
  explicit backend_slot(std::unique_ptr<state> s);
  std::unique_ptr<state> s_;
};

struct request_info {
  std::string_view owner;
  const auth::client_key* key = nullptr;  // null when auth is off
  std::string_view model;                 // client-facing
  std::string_view upstream_model;        // what the price table is keyed by
  std::int64_t prompt_estimate = 0;
  std::int64_t completion_reserve = 0;    // max_tokens × n, or limits.default_max_tokens
};

// What GET /v1/usage shows of an owner's limits: each bucket's configured values and its state
// now, and the budgets with what was spent against them.
struct bucket_view {
  std::string model;  // empty: the owner's own bucket; else a model with limits of its own
  config::limit_values values;
  peek_state now;
};
struct limits_view {
  std::vector<bucket_view> buckets;
  nano_usd daily_budget = 0, monthly_budget = 0;
  nano_usd day_spent = 0, month_spent = 0;
  periods when;
  bool local_share = false;  // Redis unreachable: this replica's own share (limit / replicas)
  bool unavailable = false;  // Redis unreachable and on_redis_failure: closed
};

class limiter {
 public:
  // `on_redis_error` counts failed Redis commands (the metrics); it may be empty. The store's
  // settings (memory or Redis, replicas, lease TTL, on_redis_failure) are this config's for the
  // process's life; the limits themselves come with each request's config snapshot.
  limiter(std::shared_ptr<const config::gateway_config> config, std::vector<boost::asio::any_io_executor> workers,
          std::function<void()> on_redis_error = {});
  ~limiter();
  limiter(const limiter&) = delete;
  limiter& operator=(const limiter&) = delete;

  // Against the limits of `now` (the request's config snapshot).
  boost::asio::awaitable<admission> admit(unsigned worker, request_info r, const config::gateway_config& now);
  // The owner's limits as `key` (null when auth is off) sees them now; admits nothing.
  boost::asio::awaitable<limits_view> peek(unsigned worker, std::string owner, const auth::client_key* key,
                                           const config::gateway_config& now);
  // Waits (bounded queue, deadline) for a slot of the backend's concurrency budget; `gate` must
  // outlive the slot.
  boost::asio::awaitable<std::optional<http::api_error>> enter_backend(unsigned worker, backend_gate& gate,
                                                                       const config::backend_config& b,
                                                                       backend_slot& slot);

  // Closes and destroys the Redis connections and timers. Call after the worker threads stopped
  // and before their io_contexts are destroyed; keep the limiter itself until after that, since
  // parked coroutines refer to it.
  void shutdown();
  // True while limits.store is redis, Redis is unreachable and the local fallback answers.
  bool failing_open() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace deepgate::limits
