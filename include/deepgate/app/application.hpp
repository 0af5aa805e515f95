#pragma once
// Runs the gateway: the HTTP server and its workers, the admin listener, the per-worker backend
// pools; on the main thread, as coroutines, the signal handler (SIGTERM/SIGINT drain, a second
// signal exits at once; SIGHUP reloads the config), the drain and the background jobs
// (app/background_jobs.hpp), which stop together when the drain begins.
#include "deepgate/app/logging.hpp"
#include "deepgate/config/config.hpp"

#include <functional>
#include <memory>

namespace deepgate::app {

// Runs until a signal stops it; returns the process exit code. `reread` loads the config again
// from where it came from, for SIGHUP.
int run(std::shared_ptr<const config::gateway_config> config, std::function<config::load_result()> reread);

}  // namespace deepgate::app
