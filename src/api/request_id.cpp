#include "deepgate/api/request_id.hpp"

#include <openssl/rand.h>

#include <array>
#include <random>

namespace deepgate::api {

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':')) return false;
  return true;
}

std::string new_request_id() {
  // Seeded once per thread from the OS; ids need uniqueness, not secrecy.
  thread_local std::mt19937_64 rng = [] {
    std::array<unsigned char, 8> seed{};
    if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) seed = {};
    std::uint64_t s = std::random_device{}();
    for (auto b : seed) s = (s << 8) ^ b;
    return std::mt19937_64(s);
  }();
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "req_";
  id.resize(4 + 32);  // the hex digits are written in place
  char* at = id.data() + 4;
  for (int i = 0; i < 2; ++i) {
    auto v = rng();
    for (int k = 0; k < 16; ++k) *at++ = hex[(v >> (k * 4)) & 0xf];
  }
  return id;
}

}  // namespace deepgate::api
