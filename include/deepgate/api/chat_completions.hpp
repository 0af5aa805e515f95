#pragma once
// POST /v1/chat/completions (and /chat/completions, as DeepSeek accepts both). One function
// that calls each stage in order: parse + validate, route, forward, relay.
#include "deepgate/api/services.hpp"
#include "deepgate/http/message.hpp"

namespace deepgate::api {

boost::asio::awaitable<void> chat_completions(http::request& req, http::response_writer& out,
                                              gateway_services& services, const std::string& request_id);

}  // namespace deepgate::api
