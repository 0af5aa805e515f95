#pragma once
// The admin API, on its own listener (default 127.0.0.1:8081), for key management with the
// same operations as `deepgate keys`, against whichever store is configured:
//   GET  /admin/keys                  list (records: digests, never values)
//   POST /admin/keys                  {"owner", "models"?, "expires_in"?, "metadata"?} → 201, the key once
//   GET  /admin/keys/{id}
//   POST /admin/keys/{id}/revoke
//   POST /admin/keys/{id}/rotate      {"grace"?: "24h"} → 201, the new key once
// Every call needs "Authorization: Bearer <admin.token>" (compared by digest, constant time).
#include "deepgate/api/services.hpp"
#include "deepgate/http/server.hpp"

#include <memory>

namespace deepgate::api {

struct admin_state;

class admin_api {
 public:
  explicit admin_api(gateway_services& services);
  ~admin_api();
  http::handler handler();

 private:
  std::shared_ptr<admin_state> state_;
};

}  // namespace deepgate::api
