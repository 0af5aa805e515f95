#pragma once
// Owns the running gateway: logging, the HTTP server and its workers, the per-worker backend
// pools, and signal handling (SIGTERM/SIGINT drain, a second signal exits at once).
#include "deepgate/config/config.hpp"

#include <memory>

namespace deepgate::app {

void setup_logging(const config::log_config& log);

// Runs until a signal stops it; returns the process exit code.
int run(std::shared_ptr<const config::gateway_config> config);

}  // namespace deepgate::app
