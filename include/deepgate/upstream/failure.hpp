#pragma once
// Why an exchange with a backend failed, before or during the response.
#include <string_view>

namespace deepgate::upstream {

enum class failure {
  none,
  pool_exhausted,        // every connection busy for longer than the connect timeout
  resolve,               // DNS
  connect,               // refused, unreachable
  connect_timeout,
  tls,                   // handshake or certificate verification failed
  tls_timeout,
  header_timeout,        // no response head within response_header_timeout
  reset_before_headers,  // the connection closed before a response head
  bad_response,          // not HTTP, or malformed
  read_timeout,          // no body byte within read_timeout
  reset_mid_body,
  too_large,
  first_token_timeout,   // only keep-alives (or blank lines) for backend.first_token_timeout
  stream_timeout,        // the whole response took longer than backend.stream_timeout
  token_idle_timeout,    // after the first token, no real event for backend.token_idle_timeout
  abandoned,  // the client left and the gateway gave the request up (exchange::abort)
  shutting_down,  // the drain deadline passed while the request was in progress
};

std::string_view to_string(failure f);

}  // namespace deepgate::upstream
