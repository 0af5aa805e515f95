#include "deepgate/api/route_spec.hpp"

#include <array>
#include <utility>

namespace deepgate::api {

const route_spec* route_for_path(std::string_view path) {
  static constexpr std::array<std::pair<std::string_view, const route_spec*>, 10> paths{{
      {"/v1/chat/completions", &chat_route},
      {"/chat/completions", &chat_route},
      {"/v1/embeddings", &embeddings_route},
      {"/embeddings", &embeddings_route},
      {"/v1/completions", &completions_route},
      {"/completions", &completions_route},
      {"/v1/responses", &responses_route},
      {"/responses", &responses_route},
      {"/v1/messages", &messages_route},  // Anthropic's SDKs always say /v1
      {"/v1/messages/count_tokens", &count_tokens_route},
  }};
  for (const auto& [p, spec] : paths)
    if (p == path) return spec;
  return nullptr;
}

namespace {
// The event's name: its `event:` field, else the "type" its data starts with (both APIs send
// both; a server that sends only the data is still understood).
std::string_view event_name(const http::sse_event& e) {
  if (!e.event.empty()) return e.event;
  std::string_view d = e.data;
  const auto at = d.find("\"type\"");
  if (at == std::string_view::npos) return {};
  auto i = d.find('"', d.find(':', at + 6) + 1);
  if (i == std::string_view::npos) return {};
  const auto end = d.find('"', i + 1);
  return end == std::string_view::npos ? std::string_view{} : d.substr(i + 1, end - i - 1);
}
}  // namespace

bool ends_stream(stream_end how, const http::sse_event& e) {
  if (e.type != http::sse_event::kind::data) return false;
  switch (how) {
    case stream_end::done_marker: return e.is_done();
    case stream_end::responses_terminal: {
      const auto n = event_name(e);
      return n == "response.completed" || n == "response.incomplete" || n == "response.failed" || n == "error";
    }
    case stream_end::message_stop: {
      const auto n = event_name(e);
      return n == "message_stop" || n == "error";
    }
  }
  return false;
}

}  // namespace deepgate::api
