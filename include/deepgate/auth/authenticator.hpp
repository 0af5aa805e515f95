#pragma once
// The first stage of every API request: which key (and so which owner) is calling.
// Presented as "Authorization: Bearer <key>" (OpenAI SDKs), "api-key" (Azure OpenAI SDK) or
// "x-api-key". Missing, unknown, disabled and expired keys all get the same 401
// invalid_api_key, and the presented value is never echoed, logged or stored.
#include "deepgate/auth/key_table.hpp"
#include "deepgate/http/api_error.hpp"
#include "deepgate/http/header.hpp"

#include <atomic>
#include <mutex>
#include <memory>
#include <optional>
#include <string_view>

namespace deepgate::auth {

// The credential a request presents; empty when none.
std::string_view presented_key(const http::header_list& headers);

// Views into the key record, which the authentication result keeps alive (`table`).
struct identity {
  std::string_view key_id;               // "" when auth is off
  std::string_view owner = "anonymous";  // "anonymous" when auth is off
  const client_key* key = nullptr;
};

class authenticator {
 public:
  // `enabled` false is `auth.mode: none`: every request is "anonymous".
  authenticator(bool enabled, std::shared_ptr<const key_table> table);

  // Thread-safe; requests already holding the old table keep using it.
  void replace(std::shared_ptr<const key_table> table);
  // A shared store that cannot be reached: known keys keep working from the last table, but an
  // unknown key cannot be told from one created meanwhile, so it gets 503 auth_unavailable.
  void set_store_available(bool available) { store_available_.store(available); }
  bool store_available() const { return store_available_.load(); }
  std::shared_ptr<const key_table> table() const;
  bool enabled() const { return enabled_; }

  struct result {
    std::optional<http::api_error> error;
    identity who;
    std::shared_ptr<const key_table> table;  // keeps `who.key` alive for the request
  };
  result authenticate(const http::header_list& headers, std::int64_t now) const;

 private:
  bool enabled_;
  // A mutex, not std::atomic<std::shared_ptr>: libstdc++ 12's atomic shared_ptr unlocks with
  // relaxed order in load(), which ThreadSanitizer reports as a race. One uncontended lock per
  // request costs nothing measurable.
  mutable std::mutex table_mutex_;
  std::shared_ptr<const key_table> table_;
  std::atomic<bool> store_available_{true};
};

http::api_error invalid_api_key();
http::api_error auth_unavailable();

}  // namespace deepgate::auth
