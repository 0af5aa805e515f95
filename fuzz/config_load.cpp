// The config loader as deepgate runs it at start and on reload: YAML, ${VAR} expansion, every
// section's keys and values checked. Invariant: it answers with a config or an error naming
// where, never a crash or an exception; a config it accepts loads again the same way.
#include "fuzz_check.hpp"

#include "deepgate/config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {
std::optional<std::string> env(const std::string& name) {
  if (name == "PORT") return std::string("8080");
  if (name == "DEEPSEEK_API_KEY") return std::string("sk-fuzz-000000000000");
  if (name == "EMPTY") return std::string();
  return std::nullopt;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;  // configs are small; YAML's own cost on huge inputs is not ours
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto r = deepgate::config::load_string(yaml, env, "fuzz.yaml");
  FUZZ_CHECK(r.config || !r.error.empty());
  if (r.config) {
    auto again = deepgate::config::load_string(yaml, env, "fuzz.yaml");
    FUZZ_CHECK(again.config && again.config->backends == r.config->backends && again.config->server == r.config->server);
  }
  return 0;
}
