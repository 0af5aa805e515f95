#include "deepgate/core/version.hpp"

namespace deepgate {
std::string_view version() { return DEEPGATE_VERSION; }
std::string_view user_agent() { return "deepgate/" DEEPGATE_VERSION; }
}  // namespace deepgate
