#pragma once
// The admin listener (default 127.0.0.1:8081, never the public port):
//   GET  /metrics                     Prometheus text format (a token only with admin.metrics_require_token)
// and, when admin.token is set, key management with the same operations as `deepgate keys`,
// against whichever store is configured:
//   GET  /admin/keys                  list (records: digests, never values)
//   POST /admin/keys                  {"owner", "models"?, "expires_in"?, "metadata"?} → 201, the key once
//   GET  /admin/keys/{id}
//   POST /admin/keys/{id}/revoke
//   POST /admin/keys/{id}/rotate      {"grace"?: "24h"} → 201, the new key once
//   GET  /admin/usage?owner=&key=&from=&to=   usage records (api/usage.hpp, docs/usage.md)
// Every /admin call needs "Authorization: Bearer <admin.token>" (compared by digest, constant time).
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
