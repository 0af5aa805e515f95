#pragma once
// One OpenAI-shaped error value, produced by any stage and rendered once into
// {"error":{"message","type","param","code"}}. Client mistakes travel as values, not exceptions.
#include <chrono>
#include <optional>
#include <string>

namespace deepgate::http {

struct api_error {
  unsigned status = 500;
  std::string type = "api_error";  // OpenAI's error.type
  std::string code;                // empty renders as null
  std::string message;
  std::string param;               // empty renders as null
  std::optional<std::chrono::seconds> retry_after;
};

// {"error":{...}} as sent in a JSON response body.
std::string render_error_body(const api_error& e);
// The same object as one SSE event, for failures after a stream has started.
std::string render_error_event(const api_error& e);

// Constructors for the common cases; `code` names the condition precisely.
api_error invalid_request(std::string message, std::string param = {},
                          std::string code = {}, unsigned status = 400);
api_error not_found(std::string message, std::string code);
api_error server_error(unsigned status, std::string message, std::string code);

}  // namespace deepgate::http
