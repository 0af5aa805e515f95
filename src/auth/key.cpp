#include "deepgate/auth/key.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace deepgate::auth {
namespace {
void random_bytes(unsigned char* out, int n) {
  if (RAND_bytes(out, n) != 1) throw std::runtime_error("the OpenSSL random generator failed");
}
}  // namespace

std::string generate_key_value() {
  static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string key(key_prefix);
  while (key.size() < key_prefix.size() + 43) {
    unsigned char buf[64];
    random_bytes(buf, sizeof buf);
    for (unsigned char b : buf)
      if (b < 248 && key.size() < key_prefix.size() + 43) key.push_back(alphabet[b % 62]);  // 248 = 4*62: no bias
  }
  return key;
}

std::string generate_key_id() {
  unsigned char buf[8];
  random_bytes(buf, sizeof buf);
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "key_";
  for (unsigned char b : buf) {
    id.push_back(hex[b >> 4]);
    id.push_back(hex[b & 15]);
  }
  return id;
}

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

std::string to_hex(const digest& d) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (auto b : d) {
    s.push_back(hex[b >> 4]);
    s.push_back(hex[b & 15]);
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

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative with one backtrack point: linear in practice, no recursion.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool model_allowed(const client_key& key, std::string_view model) {
  if (key.models.empty()) return true;
  for (auto& m : key.models)
    if (glob_match(m, model)) return true;
  return false;
}

key_state state_at(const client_key& key, std::int64_t now) {
  if (!key.enabled) return key_state::disabled;
  if (key.expires && now >= *key.expires) return key_state::expired;
  return key_state::valid;
}

}  // namespace deepgate::auth
