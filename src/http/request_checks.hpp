#pragma once
// Internal to src/http: what the session checks on a request's head before a handler sees it,
// apart from the I/O, so the fuzz target (fuzz/http_request.cpp) runs exactly these checks on
// Beast's parser. Beast types in the signatures: include only where Beast is already included.
#include "deepgate/http/api_error.hpp"
#include "deepgate/http/message.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace deepgate::http::detail {

// RFC 9112 5.2: obs-fold (a field line continued on the next one) is refused, not unfolded, so
// no framing header can mean one thing here and another to a proxy in front of the gateway.
// `head`: the raw bytes of the head, up to its blank line.
bool has_obs_fold(std::string_view head);

// RFC 9112 6.1 and 6.3: the only transfer coding a request may carry here is `chunked`, once,
// and not with HTTP/1.0. Beast ignores a Transfer-Encoding whose last coding is not chunked and
// reads the body as empty, so the body would run as the next request (TE.0 smuggling).
std::optional<api_error> framing_error(const boost::beast::http::request<boost::beast::http::string_body>& msg);

// The request as handlers see it, from its head (names lower-cased, the query split off); the
// body is moved in once it has been read.
request to_request(const boost::beast::http::request<boost::beast::http::string_body>& msg, const std::string& peer,
                   unsigned worker);

}  // namespace deepgate::http::detail
