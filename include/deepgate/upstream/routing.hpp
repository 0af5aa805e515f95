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

// What one attempt's outcome means: for the request (relay the answer, try the next backend in
// line, or answer the error now) and for the backend's breaker.
struct attempt_verdict {
  enum class next : std::uint8_t { relay, try_next, stop };
  enum class health : std::uint8_t { success, failure, trip };  // trip: open at once
  next then;
  health breaker;
  bool operator==(const attempt_verdict&) const = default;
};
// `f`: how the exchange went (failure::none when a response head came); `status`: that head's.
// A transport failure goes to the next backend only when it never reached the model; a 200 is
// relayed; the gateway's own credentials or account refused (401/402/403) trip the breaker and
// go on; another refusal that a retry may fix (429, 5xx) goes on; the request's own fault (400,
// 404, 422, ...) is the client's answer, and the backend counts as working.
attempt_verdict judge_attempt(failure f, unsigned status);
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
