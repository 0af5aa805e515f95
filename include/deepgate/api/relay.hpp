#pragma once
// Stage 7 of a chat request: the backend's answer to the client. A JSON answer is read whole
// (bounded, its queue blank lines dropped), an event stream is relayed event by event as it
// arrives (keep-alive comments pass through), each under the backend's deadlines: first token,
// then between tokens, then the whole answer. On the way the relay reads the usage (removing the
// usage chunk the client did not ask for), assembles the answer for the prompt cache and the
// reasoning repair, and tells the settlement what was used before the client gets the end.
#include "deepgate/http/api_error.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/observability/request_record.hpp"

#include <boost/asio/awaitable.hpp>

namespace deepgate::api {

class cache_stage;
class settlement;
struct forwarded;
struct request_context;

// An error answer. Before any byte went out: a plain JSON error with its status.
// In the route's error dialect.
boost::asio::awaitable<void> fail(http::response_writer& out, const http::api_error& e, observability::request_record& rec,
                                  http::error_dialect dialect = http::error_dialect::openai);
// The same, but after HTTP 200 went out: one error event, then the connection closes without
// the stream's end ([DONE], message_stop...), so SDKs raise instead of returning half an answer.
boost::asio::awaitable<void> fail_stream(http::response_writer& out, const http::api_error& e,
                                         observability::request_record& rec,
                                         http::error_dialect dialect = http::error_dialect::openai);

// `f` holds a 200 head whose body is an event stream (relay_stream) or JSON (relay_json).
boost::asio::awaitable<void> relay_stream(request_context& ctx, forwarded& f, cache_stage& cached, settlement& settle);
boost::asio::awaitable<void> relay_json(request_context& ctx, forwarded& f, cache_stage& cached, settlement& settle);

}  // namespace deepgate::api
