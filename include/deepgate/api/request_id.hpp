#pragma once
// Request ids: an incoming x-request-id is kept when well-formed (1-128 of [A-Za-z0-9._:-]),
// otherwise a random one is made. It is returned to the client and sent upstream.
#include <string>
#include <string_view>

namespace deepgate::api {

bool valid_request_id(std::string_view id);
std::string new_request_id();

}  // namespace deepgate::api
