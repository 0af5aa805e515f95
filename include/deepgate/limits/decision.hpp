#pragma once
// What a limits store is asked and what it answers. Shared by the in-memory store and the Redis
// scripts, so both give the same answers and the same headers. Sans-io.
#include "deepgate/config/limits_config.hpp"
#include "deepgate/http/api_error.hpp"
#include "deepgate/http/header.hpp"
#include "deepgate/limits/gcra.hpp"
#include "deepgate/limits/usage.hpp"

#include <cstdint>
#include <string>

namespace deepgate::limits {

// One request's limits, resolved from the key's profile and the model.
struct bucket_limits {
  gcra_rate requests;  // interval 0: no request limit
  gcra_rate tokens;    // interval 0: no token limit
  std::uint32_t concurrency = 0;
  nano_usd daily_budget = 0;
  nano_usd monthly_budget = 0;
  bool any() const { return requests.interval > 0 || tokens.interval > 0 || concurrency || daily_budget || monthly_budget; }
};

bucket_limits resolve(const config::limit_values& v, const config::limits_profile& p);
// The share of a limit one replica enforces on its own while Redis is unreachable.
bucket_limits divided(const bucket_limits& l, std::uint32_t replicas);

// UTC calendar periods budgets are counted in.
struct periods {
  std::int64_t day = 0;    // days since 1970-01-01
  std::int64_t month = 0;  // months since 1970-01
  std::int64_t seconds_to_day_end = 0;
  std::int64_t seconds_to_month_end = 0;
};
periods periods_at(std::int64_t unix_seconds);

enum class refusal : std::uint8_t {
  none,
  requests,          // 429 rate_limit_exceeded
  tokens,            // 429 tokens_limit_exceeded
  tokens_too_large,  // 429 tokens_limit_exceeded, can never pass: no Retry-After
  concurrency,       // 429 concurrency_limit_exceeded
  daily_budget,      // 402 insufficient_quota
  monthly_budget,    // 402 insufficient_quota
  unavailable,       // 503: Redis unreachable and limits.on_redis_failure is closed
};

struct decision {
  refusal refused = refusal::none;
  micros retry_after = 0;
  // For the x-ratelimit-* headers (after this decision).
  std::int64_t requests_remaining = 0;
  micros requests_reset = 0;
  std::int64_t tokens_remaining = 0;
  micros tokens_reset = 0;
  bool allowed() const { return refused == refusal::none; }
};

// A bucket's state as it is now, without admitting anything (GET /v1/usage).
struct peek_state {
  std::int64_t requests_remaining = 0;
  micros requests_reset = 0;
  std::int64_t tokens_remaining = 0;
  micros tokens_reset = 0;
  std::uint32_t in_flight = 0;
  nano_usd day_spent = 0, month_spent = 0;  // the owner's budget spend in this UTC day / month
};

// The x-ratelimit-* headers after decision `d`, for the limits it was checked against (`limits`,
// from the configured `values`): on every answer, allowed or not, as OpenAI sends them.
http::header_list rate_limit_headers(const decision& d, const bucket_limits& limits, const config::limit_values& values);
// What a refused request is answered with: 429 rate_limit_error with Retry-After (requests,
// tokens, concurrency; no Retry-After for a request larger than the token limit itself), 402
// insufficient_quota for budgets, 503 rate_limiter_unavailable when the store cannot be reached.
// `reserved`: the tokens the request asked to reserve.
http::api_error refusal_error(const decision& d, const config::limit_values& values, std::int64_t reserved);
// A backend's concurrency budget and queue are full, or the wait timed out: 429 backend_busy.
http::api_error backend_busy_error(std::string_view backend);
// OpenAI's duration format for x-ratelimit-reset-*: "250ms", "1.5s", "6m0s".
std::string reset_text(micros us);

}  // namespace deepgate::limits
