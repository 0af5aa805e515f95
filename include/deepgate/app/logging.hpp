#pragma once
// The process's log: spdlog to stderr, as text or one JSON object a line (log.format), at
// log.level. The access log is separate (observability/access_log.hpp).
#include "deepgate/config/config.hpp"

namespace deepgate::app {

void setup_logging(const config::log_config& log);

}  // namespace deepgate::app
