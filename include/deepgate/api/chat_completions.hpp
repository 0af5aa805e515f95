#pragma once
// POST /v1/chat/completions (and /chat/completions, as DeepSeek accepts both). One function
// that calls each stage in order: authenticate, parse + validate, route, admit, forward, relay.
// What the request did goes into `rec` (the router writes the metrics and access log from it).
#include "deepgate/api/services.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/observability/request_record.hpp"

namespace deepgate::api {

boost::asio::awaitable<void> chat_completions(http::request& req, http::response_writer& out,
                                              gateway_services& services, observability::request_record& rec);

}  // namespace deepgate::api
