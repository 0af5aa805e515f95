#include "deepgate/core/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace deepgate::core {

digest sha256(std::string_view data) {
  // OpenSSL 3 looks an algorithm up (locks, a property query) each time EVP_sha256() is used
  // implicitly; this runs on every request, so the algorithm is fetched once and each thread
  // keeps its own context.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  digest d{};
  unsigned int len = 0;
  if (!md || !ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1)
    throw std::runtime_error("SHA-256 failed");
  return d;
}

std::string to_hex(const digest& d) {  // written in place: push_back checks capacity per byte
  static constexpr char hex[] = "0123456789abcdef";
  std::string s(2 * d.size(), '\0');
  for (std::size_t i = 0; i < d.size(); ++i) {
    s[2 * i] = hex[d[i] >> 4];
    s[2 * i + 1] = hex[d[i] & 15];
  }
  return s;
}

std::optional<digest> from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  digest d{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return d;
}

bool constant_time_equal(const digest& a, const digest& b) { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

}  // namespace deepgate::core
