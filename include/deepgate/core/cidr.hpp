#pragma once
// IP addresses and networks as the config names them ("10.0.0.0/8", "192.168.1.7", "fd00::/8",
// "::1"): for the trusted proxies of X-Forwarded-For. IPv4 is held IPv4-mapped, so one
// comparison serves both families. Sans-io.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace deepgate::core {

using ip_bytes = std::array<std::uint8_t, 16>;  // IPv4 as IPv4-mapped IPv6

// An address, optionally in brackets, with surrounding blanks; nullopt when malformed.
std::optional<ip_bytes> parse_ip(std::string_view text);

struct cidr {
  ip_bytes bytes{};
  unsigned prefix = 128;
  bool contains(const ip_bytes& address) const;
};

// "10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"; nullopt when malformed.
std::optional<cidr> parse_cidr(std::string_view text);

}  // namespace deepgate::core
