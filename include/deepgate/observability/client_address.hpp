#pragma once
// Who the client is, for the access log. Behind a load balancer the TCP peer is the balancer; its
// X-Forwarded-For names the client. That header is believed only when the peer is a configured
// trusted proxy, and then read from the right: the first address that is not itself a trusted
// proxy is the client (anything further left was written by the client and may be forged).
#include "deepgate/core/cidr.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace deepgate::observability {

class trusted_proxies {
 public:
  trusted_proxies() = default;
  explicit trusted_proxies(const std::vector<std::string>& cidrs);  // entries already validated
  bool empty() const { return nets_.empty(); }
  bool contains(std::string_view address) const;

 private:
  std::vector<core::cidr> nets_;
};

// The client address for `peer` given its X-Forwarded-For value (may be empty).
std::string client_address(std::string_view peer, std::string_view forwarded_for, const trusted_proxies& proxies);

}  // namespace deepgate::observability
