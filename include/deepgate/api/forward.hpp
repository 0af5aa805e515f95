#pragma once
// Stage 6 of a chat request: send it to a backend of its model and come back with a response
// head worth relaying (HTTP 200), or with the error to answer. Backends are tried in line: the
// balanced pick among the model's `backends` (weighted round-robin or least in flight), the
// other ones, then its `fallback` list; a backend whose circuit breaker is open is skipped. An
// attempt that failed goes to the next backend only when it is safe (upstream/routing.hpp),
// after a backoff, within the retry budget. Each attempt's outcome feeds its backend's breaker.
#include "deepgate/api/services.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/observability/request_record.hpp"

#include <memory>
#include <optional>

namespace deepgate::api {

struct request_context;

struct forwarded {
  const config::model_target* target = nullptr;  // the backend that answered (or was tried last)
  std::unique_ptr<upstream::exchange> ex;        // its exchange: a 200 head read, the body to relay
  upstream::response_head head;
  limits::backend_slot slot;
  std::optional<http::api_error> error;  // no answer to relay: this is what the client gets
  bool abandoned = false;                // the client left while an attempt was in progress
  observability::request_record::clock::time_point sent_at;  // when the answering attempt went out

  // The client hung up (the session's hang-up watch): the attempt in progress is given up.
  void client_gone() {
    gone_ = true;
    if (current_) current_->abort();
  }
  // The drain deadline passed: the attempt in progress ends with failure::shutting_down, and no
  // further attempt starts (the client gets a 503, or one error event once streaming).
  void shutting_down() {
    cut_ = true;
    if (current_) current_->abort(upstream::failure::shutting_down);
  }

  // Counts the request in its backend's in-flight number (least_in_flight) while it lasts.
  struct lease {
    upstream::backend_state* s = nullptr;
    lease() = default;
    explicit lease(upstream::backend_state* st) : s(st) { s->in_flight.fetch_add(1, std::memory_order_relaxed); }
    lease(lease&& o) noexcept : s(o.s) { o.s = nullptr; }
    lease& operator=(lease&& o) noexcept {
      std::swap(s, o.s);
      return *this;
    }
    ~lease() {
      if (s) s->in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
  } in_flight;

 private:
  friend boost::asio::awaitable<void> forward(request_context& ctx, forwarded& f);
  bool stop_here();  // true when gone_ or cut_, with abandoned or error set for the caller
  bool gone_ = false, cut_ = false;
  upstream::exchange* current_ = nullptr;
};

// With the request's snapshot: its backends, balancers and settings. The backend concurrency
// gates are entered here and nowhere else; `f.slot` holds the answering backend's.
boost::asio::awaitable<void> forward(request_context& ctx, forwarded& f);

}  // namespace deepgate::api
