#pragma once
// The DeepSeek balance check: every backends[].balance_check_interval, GET /user/balance on that
// backend (with the gateway's upstream key) into the deepgate_upstream_balance gauges, so an
// alert can fire before clients start getting 402s. Runs on the application's control thread.
#include "deepgate/app/background_jobs.hpp"
#include "deepgate/observability/metrics.hpp"
#include "deepgate/upstream/client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace deepgate::app {

class balance_check {
 public:
  balance_check(boost::asio::any_io_executor ex, const config::backend_config& backend, std::size_t index,
                std::shared_ptr<boost::asio::ssl::context> tls, observability::metrics& metrics);
  balance_check(const balance_check&) = delete;
  balance_check& operator=(const balance_check&) = delete;

  // Runs as one of `jobs` until they stop (its read in flight given up then).
  void start(background_jobs& jobs);

  struct state;

 private:
  std::shared_ptr<state> s_;
};

}  // namespace deepgate::app
