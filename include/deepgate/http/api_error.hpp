#pragma once
// One error value, produced by any stage and rendered once in the dialect of the route that
// answers it: OpenAI's {"error":{"message","type","param","code"}}, or Anthropic's
// {"type":"error","error":{"type","message"}} on /v1/messages. Client mistakes travel as values,
// not exceptions.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::http {

struct api_error {
  unsigned status = 500;
  std::string type = "api_error";  // OpenAI's error.type
  std::string code;                // empty renders as null
  std::string message;
  std::string param;               // empty renders as null
  std::optional<std::chrono::seconds> retry_after;
};

// How a route's clients expect errors. The body of OpenAI's Responses API errors is OpenAI's; its
// stream error event is its own ("event: error", {"type":"error","code","message","param"}).
// Anthropic's type follows the HTTP status as its errors page lists them (docs.claude.com/en/api/
// errors: 400 invalid_request_error, 401 authentication_error, 402 billing_error, 403
// permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 500
// api_error, 504 timeout_error, 529 overloaded_error).
enum class error_dialect : std::uint8_t { openai, openai_responses, anthropic };

// The dialect of a request path, for errors answered before its route runs (a bad key, a body
// too large): Anthropic's routes speak Anthropic's from their first byte.
error_dialect error_dialect_for_path(std::string_view path);

// The error as sent in a JSON response body.
std::string render_error_body(const api_error& e, error_dialect d = error_dialect::openai);
// The same as one SSE event, for failures after a stream has started.
std::string render_error_event(const api_error& e, error_dialect d = error_dialect::openai);
// Anthropic's error.type for an HTTP status.
std::string_view anthropic_error_type(unsigned status);

// Constructors for the common cases; `code` names the condition precisely.
api_error invalid_request(std::string message, std::string param = {},
                          std::string code = {}, unsigned status = 400);
api_error not_found(std::string message, std::string code);
api_error server_error(unsigned status, std::string message, std::string code);

}  // namespace deepgate::http
