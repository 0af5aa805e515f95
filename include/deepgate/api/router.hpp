#pragma once
// Maps method + path to a handler; unknown paths are 404 and wrong methods 405, both in
// OpenAI's error shape. Every response carries x-request-id.
#include "deepgate/api/services.hpp"
#include "deepgate/http/server.hpp"

namespace deepgate::api {

http::handler make_router(gateway_services& services);

}  // namespace deepgate::api
