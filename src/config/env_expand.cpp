#include "deepgate/config/env_expand.hpp"

#include <cstdlib>

namespace deepgate::config {

env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
}

expand_result expand_env(std::string_view text, const env_lookup& env) {
  expand_result r;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      r.value.push_back(c);
      continue;
    }
    if (text[i + 1] == '$') {
      r.value.push_back('$');
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      r.value.push_back(c);
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      r.error = "unterminated ${ in value";
      return r;
    }
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::optional<std::string_view> fallback;
    if (auto sep = inner.find(":-"); sep != std::string_view::npos) {
      fallback = inner.substr(sep + 2);
      inner = inner.substr(0, sep);
    }
    std::string name(inner);
    if (name.empty()) {
      r.error = "empty variable name in ${}";
      return r;
    }
    auto value = env(name);
    if (value && (!value->empty() || !fallback)) r.value += *value;
    else if (fallback) r.value += *fallback;
    else {
      r.error = "environment variable " + name + " is not set";
      return r;
    }
    i = close;
  }
  return r;
}

}  // namespace deepgate::config
