#pragma once
// Builds the key table from its sources: the keys file and the keys given in the config.
#include "deepgate/auth/key_table.hpp"
#include "deepgate/config/config.hpp"

#include <memory>
#include <string>

namespace deepgate::auth {

// Null and `error` set when the keys file cannot be read or parsed.
std::shared_ptr<const key_table> load_key_table(const config::auth_config& auth, std::string& error);
// The keys of a shared store plus the config's keys.
std::shared_ptr<const key_table> make_key_table(std::vector<client_key> stored, const config::auth_config& auth);

}  // namespace deepgate::auth
