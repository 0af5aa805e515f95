#pragma once
// The keys a gateway accepts, indexed by SHA-256 digest. Immutable once built; a new table
// replaces the old one on reload. Lookup hashes the presented value and probes a hash map, so an
// unknown key and a wrong key take the same path and the same time.
#include "deepgate/auth/key.hpp"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace deepgate::auth {

class key_table {
 public:
  key_table() = default;
  explicit key_table(std::vector<client_key> keys);

  struct lookup {
    const client_key* key = nullptr;  // null: no such key
    key_state state = key_state::disabled;
  };
  lookup find(std::string_view presented, std::int64_t now) const;
  const client_key* by_id(std::string_view id) const;
  const std::vector<client_key>& keys() const { return keys_; }

 private:
  // A SHA-256 digest is already uniformly distributed: its first 8 bytes are a good hash.
  struct digest_hash {
    std::size_t operator()(const digest& d) const noexcept;
  };
  std::vector<client_key> keys_;
  std::unordered_map<digest, std::size_t, digest_hash> by_digest_;  // no allocation per lookup
};

}  // namespace deepgate::auth
