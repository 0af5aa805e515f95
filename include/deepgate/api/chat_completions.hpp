#pragma once
// The model routes (route_spec.hpp: chat, embeddings, completions, responses, messages and
// count_tokens): one function that calls each stage in order for any route_spec: authenticate, parse + validate,
// route, cache, admit, forward, relay, settle. What the request did goes into `rec` (the router
// writes the metrics and access log from it).
#include "deepgate/api/route_spec.hpp"
#include "deepgate/api/services.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/observability/request_record.hpp"

namespace deepgate::api {

boost::asio::awaitable<void> model_request(http::request& req, http::response_writer& out, gateway_services& services,
                                           observability::request_record& rec, const route_spec& spec);
// The chat route.
inline boost::asio::awaitable<void> chat_completions(http::request& req, http::response_writer& out,
                                                     gateway_services& services, observability::request_record& rec) {
  return model_request(req, out, services, rec, chat_route);
}

}  // namespace deepgate::api
