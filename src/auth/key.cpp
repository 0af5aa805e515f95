#include "deepgate/auth/key.hpp"

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
