#include "deepgate/auth/key_table.hpp"

#include <cstring>

namespace deepgate::auth {
std::size_t key_table::digest_hash::operator()(const digest& d) const noexcept {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

key_table::key_table(std::vector<client_key> keys) : keys_(std::move(keys)) {
  by_digest_.reserve(keys_.size());
  for (std::size_t i = 0; i < keys_.size(); ++i) by_digest_.emplace(keys_[i].sha256, i);
}

key_table::lookup key_table::find(std::string_view presented, std::int64_t now) const {
  const auto d = core::sha256(presented);
  auto it = by_digest_.find(d);
  if (it == by_digest_.end()) return {};
  const auto& k = keys_[it->second];
  if (!core::constant_time_equal(k.sha256, d)) return {};  // the map compared bytes; this is the one that counts
  return {&k, state_at(k, now)};
}

const client_key* key_table::by_id(std::string_view id) const {
  for (auto& k : keys_)
    if (k.id == id) return &k;
  return nullptr;
}

}  // namespace deepgate::auth
