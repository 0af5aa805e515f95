#pragma once
// What `deepgate keys` and the admin API do to key records, whichever store holds them.
// Sans-io: callers load the records, apply one of these, and save the result.
#include "deepgate/auth/key.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace deepgate::auth {

struct create_params {
  std::string owner;
  std::vector<std::string> models;
  std::optional<std::chrono::seconds> expires_in;
  std::map<std::string, std::string> metadata;
  std::string limits;  // limits profile name; empty: limits.default
};

struct new_key {
  client_key record;
  std::string value;  // shown once, never stored
};

new_key create_key(const create_params& p, std::int64_t now);
// A new key like `old` (owner, models, metadata); `old` stays valid for `grace`, then expires.
new_key rotate_key(client_key& old, std::chrono::seconds grace, std::int64_t now);
void revoke_key(client_key& k);

}  // namespace deepgate::auth
