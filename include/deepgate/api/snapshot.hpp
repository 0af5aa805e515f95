#pragma once
// One generation of the config and what is built from it. A request takes its worker's snapshot
// when it starts and keeps it to its last byte, so a reload (SIGHUP) never changes a request
// half-way: the new snapshot serves the requests that start after it is published.
//
// A backend whose settings did not change carries over to the next snapshot whole (its breaker,
// in-flight count, concurrency gate, TLS context and warm connections); a changed or new backend
// starts fresh; a removed one goes when the last request that uses it ends.
#include "deepgate/api/chat_request.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/observability/labels.hpp"
#include "deepgate/upstream/client.hpp"
#include "deepgate/upstream/routing.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace deepgate::limits {
class backend_gate;
}

namespace deepgate::api {

struct backend_runtime {
  // Throws std::runtime_error when its TLS context cannot be made (an unreadable CA file).
  backend_runtime(std::shared_ptr<const config::gateway_config> origin, std::size_t index,
                  const std::vector<boost::asio::any_io_executor>& workers, int label);
  ~backend_runtime();
  backend_runtime(const backend_runtime&) = delete;
  backend_runtime& operator=(const backend_runtime&) = delete;

  const std::shared_ptr<const config::gateway_config> origin;  // the pools refer to its settings
  const config::backend_config& settings;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
  upstream::backend_state state;
  std::unique_ptr<limits::backend_gate> gate;  // null: no concurrency budget
  std::vector<std::unique_ptr<upstream::connection_pool>> pools;  // [worker]
  const int label;  // its label_table number (-1: beyond the table's capacity)
};

struct snapshot {
  std::shared_ptr<const config::gateway_config> config;
  std::vector<std::shared_ptr<backend_runtime>> backends;  // [index in config->backends]
  std::vector<int> model_labels;                           // [index in config->models]
  std::vector<std::shared_ptr<const field_patch>> model_patches;  // [index in config->models]; null: no set:
  // Balancing state per worker, touched only on that worker's thread. A model whose name and
  // targets are unchanged keeps its state across snapshots (a reload, a refreshed model list):
  // the rotation goes on where it was instead of starting again at the first target.
  std::vector<std::vector<std::shared_ptr<upstream::weighted_rr>>> balancers;  // [worker][model index]
  bool limits_apply = false;  // limits::limits_apply(config->limits)
  bool tracks_usage = false;  // limits::tracks_usage(config->limits)
};

struct snapshot_result {
  std::shared_ptr<const snapshot> snap;
  std::string error;  // why it could not be built (the previous snapshot stays)
};

// `previous` (null at startup) lends the backends that did not change. Call on one thread at a
// time (the control thread): it numbers new names in `labels`.
snapshot_result build_snapshot(std::shared_ptr<const config::gateway_config> config, const snapshot* previous,
                               const std::vector<boost::asio::any_io_executor>& workers,
                               observability::label_table& labels);

}  // namespace deepgate::api
