#pragma once
// Backend base URLs: http:// or https://, host, optional port, optional base path
// ("http://vllm:8000/v1"). No user-info, query or fragment: those would be ambiguous.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::upstream {

struct url {
  bool tls = false;
  std::string host;       // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string base_path;  // "" or "/v1" (no trailing slash)

  std::string host_header() const;  // "host" or "host:port" when not the default port
  std::string path(std::string_view suffix) const { return base_path + std::string(suffix); }
  bool operator==(const url&) const = default;
};

// Returns nullopt and sets `error` on failure.
std::optional<url> parse_url(std::string_view text, std::string& error);

}  // namespace deepgate::upstream
