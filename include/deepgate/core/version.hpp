#pragma once
// Build identity, shown by `deepgate --version` and sent as the upstream User-Agent.
#include <string_view>

namespace deepgate {
std::string_view version();
std::string_view user_agent();
}  // namespace deepgate
