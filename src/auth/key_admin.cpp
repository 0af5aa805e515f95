#include "deepgate/auth/key_admin.hpp"


namespace deepgate::auth {

new_key create_key(const create_params& p, std::int64_t now) {
  new_key n;
  n.record.id = generate_key_id();
  n.record.owner = p.owner;
  n.record.created = now;
  n.record.models = p.models;
  n.record.limits = p.limits;
  n.record.metadata = p.metadata;
  if (p.expires_in) n.record.expires = now + p.expires_in->count();
  n.value = generate_key_value();
  n.record.sha256 = core::sha256(n.value);
  return n;
}

new_key rotate_key(client_key& old, std::chrono::seconds grace, std::int64_t now) {
  new_key n;
  n.record = old;
  n.record.id = generate_key_id();
  n.record.created = now;
  n.record.enabled = true;
  n.record.expires.reset();
  n.record.metadata["rotated_from"] = old.id;
  n.value = generate_key_value();
  n.record.sha256 = core::sha256(n.value);
  const auto until = now + grace.count();
  if (!old.expires || *old.expires > until) old.expires = until;  // the old key lives out its grace
  return n;
}

void revoke_key(client_key& k) { k.enabled = false; }

}  // namespace deepgate::auth
