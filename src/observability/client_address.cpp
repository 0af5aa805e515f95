#include "deepgate/observability/client_address.hpp"
#include "deepgate/core/strings.hpp"

namespace deepgate::observability {

trusted_proxies::trusted_proxies(const std::vector<std::string>& cidrs) {
  for (auto& c : cidrs)
    if (auto n = core::parse_cidr(c)) nets_.push_back(*n);
}

bool trusted_proxies::contains(std::string_view address) const {
  auto a = core::parse_ip(address);
  if (!a) return false;
  for (auto& n : nets_)
    if (n.contains(*a)) return true;
  return false;
}

std::string client_address(std::string_view peer, std::string_view forwarded_for, const trusted_proxies& proxies) {
  if (forwarded_for.empty() || proxies.empty() || !proxies.contains(peer)) return std::string(peer);
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    auto comma = rest.rfind(',');
    auto hop = core::trim_blanks(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    if (!core::parse_ip(hop)) return std::string(peer);  // a malformed hop: trust nothing to its left
    if (!proxies.contains(hop)) return std::string(hop);
  }
  return std::string(peer);  // every hop was a proxy
}

}  // namespace deepgate::observability
