#pragma once
// GET /v1/models and /v1/models/{id}: the configured client-facing names, in OpenAI's shape.
#include "deepgate/config/config.hpp"
#include "deepgate/http/message.hpp"

namespace deepgate::api {

http::response list_models(const config::gateway_config& cfg);
http::response retrieve_model(const config::gateway_config& cfg, std::string_view id);

}  // namespace deepgate::api
