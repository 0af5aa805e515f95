#include "deepgate/core/cidr.hpp"
#include "deepgate/core/strings.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string>
#include <utility>

namespace deepgate::core {
namespace {

// An address as 16 bytes and its natural prefix length (32 for IPv4, 128 for IPv6).
std::optional<std::pair<ip_bytes, unsigned>> parse_address(std::string_view text) {
  text = trim_blanks(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  ip_bytes out{};
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

}  // namespace

std::optional<ip_bytes> parse_ip(std::string_view text) {
  auto a = parse_address(text);
  if (!a) return std::nullopt;
  return a->first;
}

bool cidr::contains(const ip_bytes& a) const {
  unsigned bits = prefix;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
    std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (bytes[i] & mask)) return false;
  }
  return true;
}

std::optional<cidr> parse_cidr(std::string_view text) {
  text = trim_blanks(text);
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

}  // namespace deepgate::core
