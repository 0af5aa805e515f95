#include "deepgate/http/api_error.hpp"

#include <nlohmann/json.hpp>

namespace deepgate::http {
namespace {
nlohmann::json error_object(const api_error& e) {
  auto null_if_empty = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", null_if_empty(e.param)},
            {"code", null_if_empty(e.code)}}}};
}
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
}  // namespace

error_dialect error_dialect_for_path(std::string_view path) {
  return path == "/v1/messages" || path.starts_with("/v1/messages/") ? error_dialect::anthropic : error_dialect::openai;
}

std::string_view anthropic_error_type(unsigned status) {
  switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

namespace {
// Anthropic's shape. The gateway's own code (model_not_found, rate_limit_exceeded...) rides along
// in error.code: Anthropic's objects may grow fields, and SDKs keep what they do not know.
nlohmann::json anthropic_object(const api_error& e) {
  nlohmann::json err = {{"type", anthropic_error_type(e.status)}, {"message", e.message}};
  if (!e.code.empty()) err["code"] = e.code;
  return {{"type", "error"}, {"error", std::move(err)}};
}
}  // namespace

std::string render_error_body(const api_error& e, error_dialect d) {
  return dump(d == error_dialect::anthropic ? anthropic_object(e) : error_object(e));
}

std::string render_error_event(const api_error& e, error_dialect d) {
  switch (d) {
    case error_dialect::anthropic: return "event: error\ndata: " + dump(anthropic_object(e)) + "\n\n";
    case error_dialect::openai_responses: {
      // The Responses API's error event; `error` as well, which the openai SDKs raise from.
      auto j = error_object(e);
      j["type"] = "error";
      j["message"] = e.message;
      j["code"] = e.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.code);
      j["param"] = e.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.param);
      return "event: error\ndata: " + dump(j) + "\n\n";
    }
    case error_dialect::openai: break;
  }
  return "data: " + dump(error_object(e)) + "\n\n";
}

api_error invalid_request(std::string message, std::string param, std::string code, unsigned status) {
  return api_error{status, "invalid_request_error", std::move(code), std::move(message), std::move(param), {}};
}

api_error not_found(std::string message, std::string code) {
  return api_error{404, "invalid_request_error", std::move(code), std::move(message), {}, {}};
}

api_error server_error(unsigned status, std::string message, std::string code) {
  return api_error{status, "api_error", std::move(code), std::move(message), {}, {}};
}

}  // namespace deepgate::http
