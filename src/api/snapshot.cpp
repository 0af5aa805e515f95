#include "deepgate/api/snapshot.hpp"

#include "deepgate/api/services.hpp"

#include "deepgate/limits/backend_gate.hpp"
#include "deepgate/limits/limiter.hpp"

#include <boost/asio/post.hpp>

#include <optional>
#include <stdexcept>

namespace deepgate::api {

backend_runtime::backend_runtime(std::shared_ptr<const config::gateway_config> from, std::size_t index,
                                 const std::vector<boost::asio::any_io_executor>& workers, int number)
    : origin(std::move(from)),
      settings(origin->backends.at(index)),
      tls(upstream::make_client_tls(settings)),
      state(settings.breaker),
      gate(limits::make_backend_gate(settings, origin->limits)),
      label(number) {
  for (const auto& ex : workers) pools.push_back(std::make_unique<upstream::connection_pool>(ex, settings, tls));
}

// The pools go with their last request. Their idle connections have no socket operation pending
// (a pooled connection is only probed synchronously), so closing them from whichever thread drops
// the last reference is safe; their deadline watches are left to their own threads
// (connection_pool's destructor).
backend_runtime::~backend_runtime() = default;

snapshot_result build_snapshot(std::shared_ptr<const config::gateway_config> config, const snapshot* previous,
                               const std::vector<boost::asio::any_io_executor>& workers,
                               observability::label_table& labels) {
  auto snap = std::make_shared<snapshot>();
  snap->config = config;
  const auto number = [](std::optional<std::size_t> n) { return n ? static_cast<int>(*n) : -1; };
  try {
    for (std::size_t b = 0; b < config->backends.size(); ++b) {
      const auto& wanted = config->backends[b];
      std::shared_ptr<backend_runtime> kept;
      if (previous)
        for (const auto& old : previous->backends)
          if (old->settings == wanted && old->origin->limits.replicas == config->limits.replicas) kept = old;
      if (!kept) kept = std::make_shared<backend_runtime>(config, b, workers, number(labels.backend(wanted.name)));
      snap->backends.push_back(std::move(kept));
    }
  } catch (const std::exception& e) {
    return {nullptr, std::string("backend TLS setup failed: ") + e.what()};
  }
  for (const auto& m : config->models) {
    snap->model_labels.push_back(number(labels.model(m.name)));
    snap->model_patches.push_back(m.set_fields.empty() ? nullptr : std::make_shared<const field_patch>(m.set_fields));
  }
  snap->balancers.assign(workers.size(), {});
  for (std::size_t m = 0; m < config->models.size(); ++m) {
    const auto& model = config->models[m];
    std::optional<std::size_t> same;  // the previous snapshot's index of this model, unchanged
    if (previous && previous->balancers.size() == workers.size())
      for (std::size_t o = 0; o < previous->config->models.size(); ++o)
        if (const auto& old = previous->config->models[o]; old.name == model.name && old.targets == model.targets &&
                                                            old.balance == model.balance)
          same = o;
    for (std::size_t w = 0; w < workers.size(); ++w)
      snap->balancers[w].push_back(same ? previous->balancers[w][*same] : std::make_shared<upstream::weighted_rr>());
  }
  snap->limits_apply = limits::limits_apply(config->limits);
  snap->tracks_usage = limits::tracks_usage(config->limits);
  return {std::move(snap), {}};
}

void snapshot_board::bind(std::vector<boost::asio::any_io_executor> workers) {
  workers_ = std::move(workers);
  per_worker_.resize(workers_.size());
}

void snapshot_board::publish(std::shared_ptr<const snapshot> s, bool running) {
  {
    std::lock_guard lock(mutex_);
    latest_ = s;
  }
  for (std::size_t w = 0; w < workers_.size(); ++w) {
    auto ref = std::make_shared<const std::shared_ptr<const snapshot>>(s);
    if (!running) per_worker_[w] = std::move(ref);
    else boost::asio::post(workers_[w], [this, w, ref = std::move(ref)]() mutable { per_worker_[w] = std::move(ref); });
  }
}

std::shared_ptr<const snapshot> snapshot_board::latest() const {
  std::lock_guard lock(mutex_);
  return latest_;
}

}  // namespace deepgate::api
