#include "deepgate/auth/key_loader.hpp"

#include "deepgate/auth/keys_file.hpp"

namespace deepgate::auth {

std::shared_ptr<const key_table> load_key_table(const config::auth_config& auth, std::string& error) {
  std::vector<client_key> keys;
  if (!auth.keys_file.empty() && !auth.redis_store) {
    auto file = read_keys_file(auth.keys_file);
    if (!file.error.empty()) {
      error = file.error;
      return nullptr;
    }
    keys = std::move(file.keys);
  }
  return make_key_table(std::move(keys), auth);
}

std::shared_ptr<const key_table> make_key_table(std::vector<client_key> keys, const config::auth_config& auth) {
  for (auto& ck : auth.keys) {
    client_key k;
    k.id = ck.id;
    k.owner = ck.owner;
    k.sha256 = ck.sha256;
    k.models = ck.models;
    k.limits = ck.limits;
    k.metadata["source"] = "config";
    keys.push_back(std::move(k));
  }
  return std::make_shared<const key_table>(std::move(keys));
}

}  // namespace deepgate::auth
