#pragma once
// Internal to src/app: the running gateway as application.cpp (run, signals, drain, background
// jobs, reloads) and application_build.cpp (what it is made of) share it.
#include "deepgate/api/admin.hpp"
#include "deepgate/api/router.hpp"
#include "deepgate/api/services.hpp"
#include "deepgate/app/background_jobs.hpp"
#include "deepgate/app/balance_check.hpp"
#include "deepgate/app/model_discovery.hpp"
#include "deepgate/http/server.hpp"
#include "deepgate/redis/connection.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>

namespace deepgate::app {

namespace asio = boost::asio;

// The running gateway. The workers serve requests on the server's threads; everything else runs
// as coroutines on the main thread's `control_` io_context: the signal handler, the drain, and
// the background jobs, which stop together (background_jobs) when the drain begins. run()
// returns when `control_` has no work left.
class application {
 public:
  application(std::shared_ptr<const config::gateway_config> config, std::function<config::load_result()> reread)
      : config_(std::move(config)), file_config_(config_), reread_(std::move(reread)) {}
  int run();

 private:
  bool build();  // services, listeners, first snapshot; false (logged) when the gateway cannot start
  void start_jobs();
  boost::asio::awaitable<void> sync_keys_from_redis();
  boost::asio::awaitable<void> watch_keys_file();
  boost::asio::awaitable<void> flush_access_log();
  boost::asio::awaitable<void> handle_signals();
  boost::asio::awaitable<void> drain();
  void reload_config();
  void reload_keys(const char* why);
  void publish_listings();
  std::pair<std::filesystem::file_time_type, std::uintmax_t> keys_file_stamp() const;
  void shutdown();

  std::shared_ptr<const config::gateway_config> config_;       // as started
  std::shared_ptr<const config::gateway_config> file_config_;  // the file's, replaced by a reload
  std::function<config::load_result()> reread_;
  asio::io_context control_;
  background_jobs jobs_{control_.get_executor()};       // stopped when the drain begins
  background_jobs until_exit_{control_.get_executor()};  // stopped when it ends (the access-log flush)
  asio::signal_set signals_{control_, SIGINT, SIGTERM, SIGHUP};
  asio::steady_timer drain_timer_{control_};

  api::gateway_services services_;
  observability::metrics* metrics_ = nullptr;
  std::unique_ptr<http::server> server_;
  std::unique_ptr<http::server> admin_server_;
  std::unique_ptr<api::admin_api> admin_;
  std::vector<asio::any_io_executor> workers_;
  std::unique_ptr<redis::connection> key_redis_;
  bool first_key_sync_done_ = false;
  std::vector<std::unique_ptr<balance_check>> balance_checks_;
  std::vector<std::unique_ptr<model_discovery>> discoveries_;
  api::model_listings listings_;
  std::pair<std::filesystem::file_time_type, std::uintmax_t> keys_stamp_;
  bool draining_ = false, exit_now_ = false;
};

std::function<void()> count_redis_errors(observability::metrics* metrics, observability::redis_client c);

}  // namespace deepgate::app
