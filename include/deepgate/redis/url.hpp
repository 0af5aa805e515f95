#pragma once
// Redis addresses as providers hand them out. Sans-io; used by the config validator and the client.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::redis {

struct url {
  bool tls = false;
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string user;      // ACL user (Redis 6+); empty: the default user
  std::string password;  // secret
  int db = 0;
};

// redis://[[user]:password@]host[:port][/db] and rediss://... (TLS).
std::optional<url> parse_url(std::string_view text, std::string& error);

}  // namespace deepgate::redis
