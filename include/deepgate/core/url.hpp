#pragma once
// The URLs deepgate is given, parsed by one set of rules: backend base URLs (http://, https://,
// with an optional base path such as "/v1") and Redis addresses as providers hand them out
// (redis://, rediss://, with user info and a database number). Hosts are names, IPv4 or
// bracketed IPv6 literals; a port is 1-65535. Sans-io.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::core {

// http://host[:port][/base/path]. No user info, query or fragment: those would be ambiguous.
struct http_url {
  bool tls = false;
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string base_path;  // "" or "/v1" (no trailing slash)

  std::string host_header() const;  // "host" or "host:port" when not the default port
  std::string path(std::string_view suffix) const { return base_path + std::string(suffix); }
  bool operator==(const http_url&) const = default;
};

// redis://[[user]:password@]host[:port][/db] and rediss:// (TLS). No host means 127.0.0.1.
struct redis_url {
  bool tls = false;
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string user;      // ACL user (Redis 6+); empty: the default user
  std::string password;  // secret
  int db = 0;
};

// Each returns nullopt and sets `error` (what is wrong, without the URL: it may hold a secret).
std::optional<http_url> parse_http_url(std::string_view text, std::string& error);
std::optional<redis_url> parse_redis_url(std::string_view text, std::string& error);

// The value of `name` in a query string ("a=1&b=x%20y"), percent- and '+'-decoded; the first
// occurrence wins. nullopt when absent or when its escapes are malformed.
std::optional<std::string> query_value(std::string_view query, std::string_view name);

}  // namespace deepgate::core
