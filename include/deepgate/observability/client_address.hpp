#pragma once
// Who the client is, for the access log. Behind a load balancer the TCP peer is the balancer; its
// X-Forwarded-For names the client. That header is believed only when the peer is a configured
// trusted proxy, and then read from the right: the first address that is not itself a trusted
// proxy is the client (anything further left was written by the client and may be forged).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::observability {

struct cidr {
  std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
  unsigned prefix = 128;
};

// "10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"; nullopt when malformed.
std::optional<cidr> parse_cidr(std::string_view text);

class trusted_proxies {
 public:
  trusted_proxies() = default;
  explicit trusted_proxies(const std::vector<std::string>& cidrs);  // entries already validated
  bool empty() const { return nets_.empty(); }
  bool contains(std::string_view address) const;

 private:
  std::vector<cidr> nets_;
};

// The client address for `peer` given its X-Forwarded-For value (may be empty).
std::string client_address(std::string_view peer, std::string_view forwarded_for, const trusted_proxies& proxies);

}  // namespace deepgate::observability
