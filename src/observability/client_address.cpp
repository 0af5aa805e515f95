#include "deepgate/observability/client_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace deepgate::observability {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An address as 16 bytes (IPv4 mapped into IPv6) and its natural prefix length.
std::optional<std::pair<std::array<std::uint8_t, 16>, unsigned>> parse_address(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  std::array<std::uint8_t, 16> out{};
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return std::pair{out, 32u};
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return std::pair{out, 128u};
  }
  return std::nullopt;
}

bool matches(const cidr& net, const std::array<std::uint8_t, 16>& a) {
  unsigned bits = net.prefix;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
    std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (net.bytes[i] & mask)) return false;
  }
  return true;
}

}  // namespace

std::optional<cidr> parse_cidr(std::string_view text) {
  text = trim(text);
  auto slash = text.find('/');
  auto addr = parse_address(text.substr(0, slash));
  if (!addr) return std::nullopt;
  cidr c{addr->first, 128};
  if (slash == std::string_view::npos) return c;
  auto len = text.substr(slash + 1);
  unsigned prefix = 0;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (ec != std::errc{} || end != len.data() + len.size() || prefix > addr->second) return std::nullopt;
  c.prefix = prefix + (128 - addr->second);  // an IPv4 prefix counts after the 96 mapped bits
  return c;
}

trusted_proxies::trusted_proxies(const std::vector<std::string>& cidrs) {
  for (auto& c : cidrs)
    if (auto n = parse_cidr(c)) nets_.push_back(*n);
}

bool trusted_proxies::contains(std::string_view address) const {
  auto a = parse_address(trim(address));
  if (!a) return false;
  for (auto& n : nets_)
    if (matches(n, a->first)) return true;
  return false;
}

std::string client_address(std::string_view peer, std::string_view forwarded_for, const trusted_proxies& proxies) {
  if (forwarded_for.empty() || proxies.empty() || !proxies.contains(peer)) return std::string(peer);
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    auto comma = rest.rfind(',');
    auto hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    if (!parse_address(hop)) return std::string(peer);  // a malformed hop: trust nothing to its left
    if (!proxies.contains(hop)) return std::string(hop);
  }
  return std::string(peer);  // every hop was a proxy
}

}  // namespace deepgate::observability
