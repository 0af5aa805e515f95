#pragma once
// What the handlers share: the config snapshot (with its backends, swapped on reload), the
// authenticator (its key table swaps on reload), the limiter, the prompt cache, the metrics and
// access log. Built once by the application before the server starts.
#include "deepgate/api/reasoning_repair.hpp"
#include "deepgate/api/snapshot.hpp"
#include "deepgate/auth/authenticator.hpp"
#include "deepgate/cache/prompt_cache.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/limits/ledger.hpp"
#include "deepgate/limits/limiter.hpp"
#include "deepgate/observability/access_log.hpp"
#include "deepgate/observability/client_address.hpp"
#include "deepgate/observability/metrics.hpp"
#include "deepgate/upstream/client.hpp"
#include "deepgate/upstream/routing.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace deepgate::api {

// What a request holds for its whole life: its worker's reference to a snapshot. The count it
// bumps belongs to that worker alone, so taking it costs no atomic shared between cores.
class held_snapshot {
 public:
  explicit held_snapshot(std::shared_ptr<const std::shared_ptr<const snapshot>> ref) : ref_(std::move(ref)) {}
  const snapshot& operator*() const { return **ref_; }
  const snapshot* operator->() const { return ref_->get(); }

 private:
  std::shared_ptr<const std::shared_ptr<const snapshot>> ref_;
};

// The published snapshot: one reference per worker (read and replaced only on that worker's
// thread) and the latest for the other threads (admin listener, control thread).
class snapshot_board {
 public:
  // The workers' executors, once the server that owns them exists (before any publish).
  void bind(std::vector<boost::asio::any_io_executor> workers);
  // Before the workers run: in place. While they run: posted to each worker, which switches
  // between two requests.
  void publish(std::shared_ptr<const snapshot> s, bool running);
  held_snapshot current(unsigned worker) const { return held_snapshot(per_worker_[worker]); }
  std::shared_ptr<const snapshot> latest() const;
  const std::vector<boost::asio::any_io_executor>& workers() const { return workers_; }

 private:
  std::vector<boost::asio::any_io_executor> workers_;
  std::vector<std::shared_ptr<const std::shared_ptr<const snapshot>>> per_worker_;
  mutable std::mutex mutex_;
  std::shared_ptr<const snapshot> latest_;
};

struct gateway_services {
  snapshot_board snapshots;
  std::unique_ptr<observability::label_table> labels;  // numbers for the snapshots' models and backends
  upstream::retry_budget retry_budget;
  std::unique_ptr<auth::authenticator> auth;
  std::unique_ptr<limits::limiter> limits;
  std::unique_ptr<limits::usage_ledger> usage;  // null: usage.enabled is false
  std::unique_ptr<cache::prompt_cache> cache;  // null: off everywhere at startup with the Redis store
  std::unique_ptr<reasoning_memory> reasoning;  // used while the snapshot's reasoning_repair.enabled
  std::unique_ptr<observability::metrics> metrics;        // null: metrics.enabled is false
  std::unique_ptr<observability::access_log> access_log;  // null: log.access.enabled is false
  observability::trusted_proxies proxies;
  std::function<std::size_t()> open_connections;  // the public listener's, for /metrics
  std::function<std::size_t()> body_bytes_in_flight;  // the same
  std::atomic<bool> ready{false};
  // Model requests each worker is handling (server.max_requests_in_flight), each counted on its
  // own worker's thread only; its own cache line, so workers never share one.
  struct alignas(64) worker_load {
    std::size_t model_requests = 0;
  };
  std::vector<worker_load> load;  // one per worker (empty: not counted)
};

}  // namespace deepgate::api
