#pragma once
// Client keys: what a key carries, and the crypto around it. A key's value exists only in the
// client's hands and, once, in the output of `deepgate keys create`; the gateway stores its
// SHA-256 digest and finds keys by digest. Sans-io and clock-free (callers pass `now`).
#include "deepgate/core/digest.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::auth {

using core::digest;

struct client_key {
  std::string id;     // public identifier ("key_…"), what logs and metrics show
  std::string owner;  // the "user" limits, metrics and logs refer to
  digest sha256{};
  bool enabled = true;
  std::int64_t created = 0;               // unix seconds
  std::optional<std::int64_t> expires;    // unix seconds; rotation sets it to now + grace
  std::vector<std::string> models;        // allowed client-facing models; empty = all; '*' wildcards
  std::map<std::string, std::string> metadata;
  std::string limits;                     // named limits profile (the limits issue fills this in)
};

constexpr std::string_view key_prefix = "dg-";

// A new key value: "dg-" + 43 base62 characters from OpenSSL's CSPRNG (≈256 bits).
std::string generate_key_value();
// A new public id: "key_" + 16 hex characters.
std::string generate_key_id();

// '*' matches any run of characters: "deepseek-*" allows deepseek-chat and deepseek-reasoner.
bool glob_match(std::string_view pattern, std::string_view text);
bool model_allowed(const client_key& key, std::string_view model);

enum class key_state { valid, disabled, expired };
key_state state_at(const client_key& key, std::int64_t now);

}  // namespace deepgate::auth
