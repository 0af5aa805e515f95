#pragma once
// What one request did, filled in by the router and the handler as the request goes, and read
// once when it ends: by the metrics and by the access log. Plain data with no I/O; the labels it
// yields come from bounded sets (configured model and backend indexes, fixed enums), and it
// holds no prompt, no answer and no key.
#include "deepgate/limits/decision.hpp"
#include "deepgate/limits/usage.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::observability {

enum class route : std::uint8_t {
  chat_completions, models, health, other, embeddings, completions, responses, messages, count_tokens
};
constexpr std::size_t route_count = 9;
std::string_view to_string(route r);

// The prompt cache's verdict; `none` when the cache was not consulted (no cache on the route, or
// the request was answered before the cache stage).
enum class cache_result : std::uint8_t { none, hit, miss, bypass };
constexpr std::size_t cache_result_count = 4;
std::string_view to_string(cache_result c);

// A refusal by the gateway's own limits (deepgate_rate_limit_rejections_total{kind}); `none` for
// every other answer, errors included.
enum class refusal_kind : std::uint8_t { none, requests, tokens, concurrency, budget, backend_busy, limiter_unavailable };
constexpr std::size_t refusal_kind_count = 7;
std::string_view to_string(refusal_kind k);  // "requests", ..., "limiter_unavailable"
refusal_kind kind_of(limits::refusal r);

struct request_record {
  using clock = std::chrono::steady_clock;
  static constexpr clock::duration absent{-1};

  clock::time_point start;
  std::chrono::system_clock::time_point time;  // wall clock at arrival
  std::string request_id;
  route path = route::other;
  std::string client;  // address (X-Forwarded-For only from trusted proxies)
  std::string key_id, owner;
  // The configured model (its label_table number), or one of these.
  static constexpr int no_model = -1;     // the request named none (or never got that far)
  static constexpr int other_model = -2;  // it named one that is not configured
  int model = no_model;
  int backend = -1;  // the backend's label_table number; -1: none was involved
  bool stream = false;
  unsigned status = 0;     // what the client was sent; 499 when it left before any answer
  std::string error_code;  // the OpenAI-shaped error's code, when the answer was one
  refusal_kind refused = refusal_kind::none;
  std::string_view upstream_error;  // bounded reason (see upstream_error_reason), empty if none
  cache_result cache = cache_result::none;
  std::optional<limits::usage> usage;  // as the backend reported it (or estimated)
  std::optional<double> cost_usd;      // from the price table, when the model has a price
  std::int64_t cost_nano_usd = 0;      // the same, exact (usage records add these up)
  std::string price_tier;              // which of its tiers applied ("peak", "standard", ...)
  int retries = 0;
  std::string prompt_sha256;  // only with log.access.prompt_sha256

  clock::duration total{0};
  clock::duration upstream = absent;    // from forwarding until the backend's last byte
  clock::duration ttft = absent;        // streams: arrival until the first data event went out
  clock::duration queue_wait = absent;  // backend sent only keep-alives / blank lines for this long
  clock::duration waited{0};            // awaiting the backend, its queue or the client
  clock::duration overhead() const { return total > waited ? total - waited : clock::duration{0}; }
};

// "http_429" etc. for a refused request, so the upstream error label stays bounded.
std::string_view upstream_status_reason(unsigned status);

// Measures a wait that is not the gateway's own work, into `into`.
class wait_timer {
 public:
  explicit wait_timer(request_record::clock::duration& into) : into_(into), from_(request_record::clock::now()) {}
  ~wait_timer() { into_ += request_record::clock::now() - from_; }
  wait_timer(const wait_timer&) = delete;
  wait_timer& operator=(const wait_timer&) = delete;

 private:
  request_record::clock::duration& into_;
  request_record::clock::time_point from_;
};

}  // namespace deepgate::observability
