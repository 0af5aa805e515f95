#pragma once
// GET /v1/models and /v1/models/{id}: the configured client-facing names the caller's key may
// use (all of them when `key` is null), in OpenAI's shape.
#include "deepgate/auth/key.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/http/message.hpp"

namespace deepgate::api {

http::response list_models(const config::gateway_config& cfg, const auth::client_key* key);
http::response retrieve_model(const config::gateway_config& cfg, const auth::client_key* key, std::string_view id);

}  // namespace deepgate::api
