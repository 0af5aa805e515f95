#pragma once
// ${VAR} and ${VAR:-default} expansion of config strings. `$$` is a literal dollar.
// A referenced variable that is unset and has no default is an error, so a typo in a
// secret's name fails at startup instead of sending an empty key upstream.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::config {

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

env_lookup process_environment();

struct expand_result {
  std::string value;
  std::string error;  // non-empty on failure: names the variable
};

expand_result expand_env(std::string_view text, const env_lookup& env);

}  // namespace deepgate::config
