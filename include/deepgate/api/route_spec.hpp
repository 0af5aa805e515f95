#pragma once
// The routes that send a model request to a backend, described once: what their body is
// (request_kind: validation, token estimate, cache determinism), where it goes under a backend's
// base URL, and how metrics and the access log name it. The stages (authenticate, parse, route,
// cache, admit, forward, relay, settle) are the same for all of them; adding a route is one more
// spec and its request_kind.
#include "deepgate/api/chat_request.hpp"
#include "deepgate/observability/request_record.hpp"

#include <string_view>

namespace deepgate::api {

struct route_spec {
  std::string_view name;  // as backends[].routes names it
  request_kind kind;
  std::string_view upstream_path;  // appended to the backend's base URL
  observability::route label;
};

inline constexpr route_spec chat_route{"chat", request_kind::chat, "/chat/completions", observability::route::chat_completions};
inline constexpr route_spec embeddings_route{"embeddings", request_kind::embeddings, "/embeddings",
                                             observability::route::embeddings};

}  // namespace deepgate::api
