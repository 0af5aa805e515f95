#pragma once
// The embedded key store: one JSON file of key records (digests, never values), written
// atomically (temp file + fsync + rename) so a reader never sees half a file.
#include "deepgate/auth/key.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::auth {

struct keys_file_result {
  std::vector<client_key> keys;
  std::string error;  // empty on success; a missing file is an empty store, not an error
};

keys_file_result read_keys_file(const std::string& path);
// Returns an error message, or empty on success.
std::string write_keys_file(const std::string& path, const std::vector<client_key>& keys);

std::string serialize_keys(const std::vector<client_key>& keys);
keys_file_result parse_keys(std::string_view text);

// One record as JSON text (the Redis store, the admin API, `deepgate keys --json`): the digest,
// never a key value, unless `value` is given (shown once, at creation or rotation).
std::string record_json(const client_key& k, const std::string& value = {});
std::optional<client_key> parse_record(std::string_view json_text);

}  // namespace deepgate::auth
