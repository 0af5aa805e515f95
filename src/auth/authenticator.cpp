#include "deepgate/auth/authenticator.hpp"

#include <strings.h>

namespace deepgate::auth {

std::string_view presented_key(const http::header_list& headers) {
  for (auto& h : headers) {
    if (h.name == "authorization") {
      std::string_view v = h.value;
      if (v.size() > 7 && strncasecmp(v.data(), "bearer ", 7) == 0) {
        v.remove_prefix(7);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        return v;
      }
    }
  }
  for (auto name : {"api-key", "x-api-key"})
    for (auto& h : headers)
      if (h.name == name && !h.value.empty()) return h.value;
  return {};
}

http::api_error invalid_api_key() {
  return http::api_error{401, "invalid_request_error", "invalid_api_key",
                         "Incorrect API key provided. Pass a deepgate key as \"Authorization: Bearer <key>\".", {},
                         {}};
}

http::api_error auth_unavailable() {
  return http::api_error{503, "api_error", "auth_unavailable",
                         "The key store is unreachable and this key is not known yet. Retry shortly.", {},
                         std::chrono::seconds(2)};
}

authenticator::authenticator(bool enabled, std::shared_ptr<const key_table> table)
    : enabled_(enabled), table_(table ? std::move(table) : std::make_shared<const key_table>()) {}

void authenticator::replace(std::shared_ptr<const key_table> table) {
  std::lock_guard lock(table_mutex_);
  table_.swap(table);
}  // the old table is released here, after the lock (the parameter now holds it)

std::shared_ptr<const key_table> authenticator::table() const {
  std::lock_guard lock(table_mutex_);
  return table_;
}

authenticator::result authenticator::authenticate(const http::header_list& headers, std::int64_t now) const {
  result r;
  if (!enabled_) return r;  // identity defaults to "anonymous"
  auto presented = presented_key(headers);
  if (presented.empty()) {
    auto e = invalid_api_key();
    e.message = "You didn't provide an API key. Pass a deepgate key as \"Authorization: Bearer <key>\".";
    r.error = std::move(e);
    return r;
  }
  r.table = table();
  auto found = r.table->find(presented, now);
  if (!found.key && !store_available_.load(std::memory_order_relaxed)) {
    r.error = auth_unavailable();
    return r;
  }
  if (!found.key || found.state != key_state::valid) {
    r.error = invalid_api_key();
    return r;
  }
  r.who = identity{found.key->id, found.key->owner, found.key};
  return r;
}

}  // namespace deepgate::auth
