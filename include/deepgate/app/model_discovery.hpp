#pragma once
// Reads a backend's GET /models at start and every backends[].models_refresh_interval, on the
// application's control thread, and hands each list it reads to `on_list` (same thread). A read
// that fails keeps the last list: `on_list` is not called, the failure is counted, and one log
// line marks each change between working and failing.
#include "deepgate/api/model_catalog.hpp"
#include "deepgate/app/background_jobs.hpp"
#include "deepgate/observability/metrics.hpp"
#include "deepgate/upstream/client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <vector>

namespace deepgate::app {

class model_discovery {
 public:
  using listener = std::function<void(const std::string& backend, std::vector<api::listed_model> models)>;
  // `label`: the backend's metrics label number (-1: none).
  model_discovery(boost::asio::any_io_executor ex, const config::backend_config& backend, int label,
                  std::shared_ptr<boost::asio::ssl::context> tls, observability::metrics* metrics, listener on_list);
  model_discovery(const model_discovery&) = delete;
  model_discovery& operator=(const model_discovery&) = delete;

  // Runs as one of `jobs` until they stop (its read in flight given up then).
  void start(background_jobs& jobs);
  // The first read has ended (either way).
  bool tried() const;

  struct state;

 private:
  std::shared_ptr<state> s_;
};

}  // namespace deepgate::app
