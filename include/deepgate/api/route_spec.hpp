#pragma once
// The routes that send a model request to a backend, described once: what their body is
// (request_kind: validation, token estimate, cache determinism), which backend capability they
// need and where they go under a backend's base URL, how their errors and streams look, and how
// metrics and the access log name them. The stages (authenticate, parse, route, cache, admit,
// forward, relay, settle) are the same for all of them; adding a route is one more spec and its
// request_kind. docs/api.md lists them with the upstream pages their shapes come from.
#include "deepgate/api/chat_request.hpp"
#include "deepgate/http/api_error.hpp"
#include "deepgate/http/sse_parser.hpp"
#include "deepgate/observability/request_record.hpp"

#include <cstdint>
#include <string_view>

namespace deepgate::api {

// How a backend's event stream says it is complete: OpenAI's chat and completions end with
// `data: [DONE]`; the Responses API with its terminal event (response.completed, .incomplete or
// .failed); Anthropic's Messages API with message_stop. An `error` event ends the last two.
enum class stream_end : std::uint8_t { done_marker, responses_terminal, message_stop };

struct route_spec {
  std::string_view name;  // the capability, as backends[].routes names it
  request_kind kind;
  std::string_view upstream_path;  // appended to the backend's base URL unless it declares its own
  std::string_view path_suffix;    // after the backend's path for `name` (count_tokens under messages)
  observability::route label;
  http::error_dialect dialect = http::error_dialect::openai;
  stream_end ends = stream_end::done_marker;
  bool cached = false;  // the prompt cache answers this route (the others always go to a backend)
};

inline constexpr route_spec chat_route{"chat", request_kind::chat, "/chat/completions", {},
                                       observability::route::chat_completions, http::error_dialect::openai,
                                       stream_end::done_marker, true};
inline constexpr route_spec embeddings_route{"embeddings", request_kind::embeddings, "/embeddings", {},
                                             observability::route::embeddings, http::error_dialect::openai,
                                             stream_end::done_marker, true};
inline constexpr route_spec completions_route{"completions", request_kind::completions, "/completions", {},
                                              observability::route::completions};
inline constexpr route_spec responses_route{"responses", request_kind::responses, "/responses", {},
                                            observability::route::responses, http::error_dialect::openai_responses,
                                            stream_end::responses_terminal};
inline constexpr route_spec messages_route{"messages", request_kind::messages, "/messages", {},
                                           observability::route::messages, http::error_dialect::anthropic,
                                           stream_end::message_stop};
inline constexpr route_spec count_tokens_route{"messages", request_kind::count_tokens, "/messages", "/count_tokens",
                                               observability::route::count_tokens, http::error_dialect::anthropic,
                                               stream_end::message_stop};

// The route a request path names (with or without /v1 where clients use both); nullptr for none.
const route_spec* route_for_path(std::string_view path);

// True when `e` is the last event of a complete stream on a route that ends this way.
bool ends_stream(stream_end how, const http::sse_event& e);

}  // namespace deepgate::api
