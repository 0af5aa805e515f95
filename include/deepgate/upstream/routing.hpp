#pragma once
// Which backend a request goes to, and whether a failed attempt may go to another. Sans-io.
// - Smooth weighted round-robin (nginx's): per worker and model, deterministic, so weights hold
//   exactly over any run of requests, with picks interleaved rather than bunched.
// - A retry only when nothing reached the client and the request either never reached the
//   backend (connect refused, TLS failure, reset before response headers) or the backend
//   refused it with 429/500/502/503/504 before any byte was relayed; never after a deadline that
//   may have let the model run (header timeout) and never once a stream has begun.
// - Backoff: capped exponential with jitter.
// - A retry budget shared by the workers: retries in progress at most a share of the requests
//   in flight (at least a minimum), so a failing backend cannot multiply the load.
#include "deepgate/upstream/breaker.hpp"
#include "deepgate/upstream/failure.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace deepgate::upstream {

// What the workers share about one backend: its breaker and the requests it has in flight
// (for least_in_flight balancing).
struct backend_state {
  explicit backend_state(breaker_settings s) : health(s) {}
  breaker health;
  std::atomic<std::int64_t> in_flight{0};
};

class weighted_rr {
 public:
  // The next pick among the eligible entries (index into `weights`), or -1 when none is.
  int pick(std::span<const std::uint32_t> weights, std::span<const char> eligible);

 private:
  std::vector<std::int64_t> current_;
};

bool retryable(failure f);
bool retryable_status(unsigned status);
// The wait before retry number `retry` (1 for the first retry): base × 2^(retry-1), capped,
// scaled by `jitter` in [0, 1) to between half and all of it.
std::chrono::milliseconds backoff(unsigned retry, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                  double jitter);

class retry_budget {
 public:
  // Counts a request in flight for its lifetime.
  class request {
   public:
    explicit request(retry_budget& b) : b_(&b) { b_->in_flight_.fetch_add(1, std::memory_order_relaxed); }
    ~request() { b_->in_flight_.fetch_sub(1, std::memory_order_relaxed); }
    request(const request&) = delete;
    request& operator=(const request&) = delete;

   private:
    retry_budget* b_;
  };
  // A retry in progress, released when destroyed; `granted` is false when the budget is spent.
  class retry {
   public:
    retry() = default;
    explicit retry(retry_budget* b) : b_(b) {}
    retry(retry&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
    retry& operator=(retry&& o) noexcept {
      std::swap(b_, o.b_);
      return *this;
    }
    ~retry() {
      if (b_) b_->retrying_.fetch_sub(1, std::memory_order_relaxed);
    }
    bool granted() const { return b_ != nullptr; }

   private:
    retry_budget* b_ = nullptr;
  };

  retry try_retry(double ratio, std::uint32_t minimum);
  std::int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> in_flight_{0}, retrying_{0};
};

}  // namespace deepgate::upstream
