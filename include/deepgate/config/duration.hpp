#pragma once
// Durations in config: "250ms", "30s", "5m", "1h", "30d", or a bare number of seconds.
#include <chrono>
#include <optional>
#include <string_view>

namespace deepgate::config {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace deepgate::config
