#pragma once
// The gateway's Prometheus metrics (prometheus-cpp core), made once at startup from the config
// and rendered in the text format at GET /metrics on the admin listener. docs/metrics.md lists
// every series.
//
// Labels are bounded: models and backends are the configured ones, numbered by a label_table
// that a reload can add to up to its fixed capacity (a model not in the config is "other"), key owners are capped at metrics.max_owner_labels (the rest share "other"), and
// everything else is a fixed enum. Labelled children are created on first use and then kept as
// pointers, so the per-request path does no Family::Add (which locks) after warm-up.
#include "deepgate/config/config.hpp"
#include "deepgate/observability/labels.hpp"
#include "deepgate/observability/request_record.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::observability {

enum class redis_client : std::uint8_t { keys, limits, admin, cache, usage };

class metrics {
 public:
  // `labels` outlives the metrics; its numbers are the request records' model and backend.
  metrics(const config::gateway_config& cfg, std::string_view version, const label_table& labels);
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  void request_started();
  // Everything a finished request says: counts, durations, tokens, cost, refusals, upstream errors.
  void request_finished(const request_record& r);
  // A failed attempt of a request that went on to another backend (the last attempt's failure
  // is counted by request_finished, under the backend the request ended on).
  void upstream_error(int backend, std::string_view reason);
  void stream_started();
  void stream_finished();

  void redis_error(redis_client c);
  void config_reload(bool ok);
  // DeepSeek's GET /user/balance: one gauge per (backend, currency); `available` is its is_available.
  void balance(std::size_t backend, std::string_view currency, double amount, bool available);
  void balance_check_failed(std::size_t backend);
  // A backend's GET /models (by its label number): how many it listed, or nullopt when the read failed.
  void model_list(std::size_t backend, std::optional<std::size_t> listed);
  // The limiter answers from its local fallback because Redis is unreachable.
  void limits_fail_open(bool on);

  // A backend's circuit breaker, read at scrape time: 0 closed, 1 half-open, 2 open.
  void breaker_state(std::size_t backend, int state);
  // A backend's TLS handshakes so far (its pools' counts, read at scrape time): full and resumed.
  void tls_handshakes(std::size_t backend, std::uint64_t full, std::uint64_t resumed);
  // The prompt cache's state, read at scrape time (monotonic counts; the gauges are 0 with Redis).
  struct cache_snapshot {
    std::size_t bytes = 0, entries = 0;
    std::uint64_t evictions = 0, stored = 0, not_stored = 0;
  };
  void cache_state(const cache_snapshot& s);
  // An identical miss waited for another request's answer: `served` when it got one, otherwise
  // the leader failed or was too slow and the follower went upstream itself.
  void cache_follower(bool served);

  // The text exposition format. `open_connections`, `body_bytes` and `access_log_dropped` are read
  // at scrape time.
  std::string render(std::size_t open_connections, std::size_t body_bytes, std::uint64_t access_log_dropped);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace deepgate::observability
