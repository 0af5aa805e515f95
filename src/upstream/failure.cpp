#include "deepgate/upstream/failure.hpp"

namespace deepgate::upstream {

std::string_view to_string(failure f) {
  switch (f) {
    case failure::none: return "none";
    case failure::pool_exhausted: return "pool_exhausted";
    case failure::resolve: return "resolve";
    case failure::connect: return "connect";
    case failure::connect_timeout: return "connect_timeout";
    case failure::tls: return "tls";
    case failure::tls_timeout: return "tls_timeout";
    case failure::header_timeout: return "header_timeout";
    case failure::reset_before_headers: return "reset_before_headers";
    case failure::bad_response: return "bad_response";
    case failure::read_timeout: return "read_timeout";
    case failure::reset_mid_body: return "reset_mid_body";
    case failure::too_large: return "too_large";
    case failure::first_token_timeout: return "first_token_timeout";
    case failure::stream_timeout: return "stream_timeout";
    case failure::token_idle_timeout: return "token_idle_timeout";
    case failure::abandoned: return "abandoned";
    case failure::shutting_down: return "shutting_down";
  }
  return "unknown";
}

}  // namespace deepgate::upstream
