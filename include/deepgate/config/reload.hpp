#pragma once
// What a reload may change. Backends, models, keys, limits (profiles, defaults, prices), the
// cache policy, retries and the reasoning repair switch follow a reload; the settings that shape
// the process itself (listeners, workers, TLS, admin, metrics, logging, Redis, the stores of
// limits and cache, the auth mode) take effect at the next restart.
#include "deepgate/config/config.hpp"

#include <string>
#include <vector>

namespace deepgate::config {

// Puts `running`'s restart-only settings into `next` and names the ones that differed, so the
// reloaded snapshot says what is really in force (e.g. "server", "limits.store").
std::vector<std::string> keep_restart_only(const gateway_config& running, gateway_config& next);

}  // namespace deepgate::config
