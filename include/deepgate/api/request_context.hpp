#pragma once
// One chat request as its stages see it: what every stage reads (the services, the request's
// config snapshot, the HTTP request and response, the record of what it did) and what the stages
// fill in as they go (the caller, the parsed request, its model). It lives in the handler's
// coroutine frame and is passed by reference, so a stage takes one argument instead of nine.
#include "deepgate/api/chat_request.hpp"
#include "deepgate/api/route_spec.hpp"
#include "deepgate/api/services.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/observability/request_record.hpp"

#include <optional>

namespace deepgate::api {

struct request_context {
  request_context(gateway_services& s, http::request& r, http::response_writer& o, observability::request_record& record,
                  const route_spec& spec = chat_route)
      : services(s), route_of(spec), snap(s.snapshots.current(r.worker)), config(*snap->config), req(r), out(o), rec(record) {}
  request_context(const request_context&) = delete;
  request_context& operator=(const request_context&) = delete;

  gateway_services& services;
  const route_spec& route_of;  // the API this request speaks
  const held_snapshot snap;  // this request's, to its last byte
  const config::gateway_config& config;
  http::request& req;
  http::response_writer& out;
  observability::request_record& rec;

  // Filled in by the stages, in order.
  auth::authenticator::result caller;                // 1. authenticate
  std::optional<chat_request> chat;                  // 2. parse + validate
  const config::model_config* model = nullptr;       // 3. route
  const config::backend_config* primary = nullptr;   //    the model's first backend
  bool repairing = false;                            //    the reasoning repair applies (tools offered)
  bool strip_usage = false;  // a stream whose usage chunk the gateway asked for, not the client

  // 1. The caller's key (401 / 403 / 503 when it has none that works).
  std::optional<http::api_error> authenticate();
  // 2. The body as a chat request (400 / 413 / 422).
  std::optional<http::api_error> parse();
  // 3. The model, as the key may use it (404 model_not_found, the same as a name nobody serves);
  //    then the operator's fields for that name, and the reasoning a client dropped put back.
  std::optional<http::api_error> route();
};

}  // namespace deepgate::api
