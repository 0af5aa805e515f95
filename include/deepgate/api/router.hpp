#pragma once
// Maps method + path to a handler; unknown paths are 404 and wrong methods 405, both in
// OpenAI's error shape. Every response carries x-request-id.
#include "deepgate/api/services.hpp"
#include "deepgate/http/server.hpp"

namespace deepgate::api {

http::handler make_router(gateway_services& services);
// The check on a request's head: a request with a body and no valid key is refused (401) before
// its body is read, and recorded (metrics, access log) like any other answer.
http::head_check make_head_check(gateway_services& services);

}  // namespace deepgate::api
