#pragma once
// Owns the running gateway: logging, the HTTP server and its workers, the per-worker backend
// pools, and signal handling (SIGTERM/SIGINT drain, a second signal exits at once; SIGHUP
// reloads the config).
#include "deepgate/config/config.hpp"

#include <functional>
#include <memory>

namespace deepgate::app {

void setup_logging(const config::log_config& log);

// Runs until a signal stops it; returns the process exit code. `reread` loads the config again
// from where it came from, for SIGHUP.
int run(std::shared_ptr<const config::gateway_config> config, std::function<config::load_result()> reread);

}  // namespace deepgate::app
