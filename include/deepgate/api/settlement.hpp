#pragma once
// Stage 5 of a chat request and its other end: admit it against the caller's limits and settle
// them exactly once, on every path. What a request used is known at different moments (a cache
// hit at once, a JSON answer when it is read, a stream before its [DONE] or never, a refusal
// before anything was sent): each path says what it learned, the first word wins, and the
// limiter's ticket is released when the settlement is closed (before the answer goes out, so the
// caller's next request sees this one's spend) or, at the latest, destroyed.
#include "deepgate/limits/limiter.hpp"
#include "deepgate/observability/request_record.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string_view>

namespace deepgate::api {

class cache_stage;
struct request_context;

class settlement {
 public:
  settlement(observability::request_record& rec, const config::gateway_config& config) : rec_(rec), config_(config) {}
  ~settlement() { close(); }
  settlement(const settlement&) = delete;
  settlement& operator=(const settlement&) = delete;

  void hold(limits::ticket t) { ticket_ = std::move(t); }

  // The backend did no work (refused, never reached): the token reservation goes back.
  void refund();
  // A cache hit: its tokens when hits count them (cache.hits_count_tokens), else a refund.
  void hit(const std::optional<limits::usage>& u);
  // The backend's report: recorded for the limits, and with its cost at the request's time (the
  // price tier in force then) for the metrics and the access log.
  void used(const limits::usage& u, std::string_view upstream_model);
  // No report (a stream without a usage chunk, or cut short): the prompt estimate and one token
  // per relayed event, flagged as estimated.
  void estimate(std::int64_t prompt_tokens, std::int64_t relayed_events, std::string_view upstream_model);
  // Releases the ticket now. Without a word from any path (the client left after the request
  // reached the backend), the ticket charges what it reserved.
  void close() { auto released = std::move(ticket_); }

  bool settled() const { return settled_; }

 private:
  bool first() { return !std::exchange(settled_, true); }
  observability::request_record& rec_;
  const config::gateway_config& config_;
  limits::ticket ticket_;
  bool settled_ = false;
};

// Stage 5: the caller's limits (requests, tokens with this request's estimate or the hit's
// tokens, concurrency, spend). The x-ratelimit-* headers go on the response whatever the
// outcome; the ticket goes to `settle`. An error is what the client gets (429, 402, 503).
boost::asio::awaitable<std::optional<http::api_error>> admit(request_context& ctx, const cache_stage& cached,
                                                            const std::optional<limits::usage>& hit_usage,
                                                            settlement& settle);

}  // namespace deepgate::api
