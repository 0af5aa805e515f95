#include "deepgate/api/upstream_errors.hpp"

#include "deepgate/core/strings.hpp"

#include <nlohmann/json.hpp>

namespace deepgate::api {

using http::api_error;
using upstream::failure;

api_error error_from_failure(failure f, std::string_view backend) {
  const std::string b(backend);
  switch (f) {
    case failure::pool_exhausted:
      return http::server_error(503, "Every connection to backend '" + b + "' is busy. Retry shortly.",
                                "upstream_pool_exhausted");
    case failure::resolve:
    case failure::connect:
      return http::server_error(502, "The gateway could not connect to backend '" + b + "'.", "upstream_unavailable");
    case failure::tls:
      return http::server_error(502, "The TLS handshake with backend '" + b + "' failed (certificate not trusted?).",
                                "upstream_tls_error");
    case failure::connect_timeout:
    case failure::tls_timeout:
      return http::server_error(504, "Connecting to backend '" + b + "' timed out.", "upstream_timeout");
    case failure::header_timeout:
      return http::server_error(504, "Backend '" + b + "' did not answer in time.", "upstream_timeout");
    case failure::read_timeout:
      return http::server_error(504, "Backend '" + b + "' stopped sending its response.", "upstream_timeout");
    case failure::first_token_timeout:
      return http::server_error(504, "Backend '" + b + "' sent no token in time (it kept the connection alive but did not start answering).",
                                "upstream_first_token_timeout");
    case failure::stream_timeout:
      return http::server_error(504, "Backend '" + b + "' took longer than the gateway allows for one response.",
                                "upstream_stream_timeout");
    case failure::token_idle_timeout:
      return http::server_error(504, "Backend '" + b + "' stopped sending tokens in the middle of its answer (it kept "
                                "the connection alive but sent nothing else).",
                                "upstream_idle_timeout");
    case failure::reset_before_headers:
      return http::server_error(502, "Backend '" + b + "' closed the connection before answering.",
                                "upstream_reset");
    case failure::reset_mid_body:
      return http::server_error(502, "Backend '" + b + "' closed the connection in the middle of its response.",
                                "upstream_reset");
    case failure::too_large:
      return http::server_error(502, "Backend '" + b + "' sent a response larger than the gateway accepts.",
                                "upstream_response_too_large");
    case failure::abandoned:  // nobody reads this answer; 499 as nginx logs it
      return http::server_error(499, "The client closed the connection before the answer.", "client_closed_request");
    case failure::shutting_down: {
      auto e = http::server_error(503, "The gateway is shutting down and could not finish this response in time; "
                                  "retry the request.", "server_shutting_down");
      e.retry_after = std::chrono::seconds(1);
      return e;
    }
    case failure::bad_response:
    case failure::none:
      break;
  }
  return http::server_error(502, "Backend '" + b + "' sent a malformed response.", "upstream_bad_response");
}

bool redact(std::string& text, std::string_view secret) {
  if (secret.size() < 8) return false;
  bool found = false;
  for (auto pos = core::find(text, secret); pos != std::string::npos; pos = core::find(text, secret, pos)) {
    text.replace(pos, secret.size(), "[redacted]");
    found = true;
  }
  return found;
}

namespace {
std::string default_type(unsigned status) {
  switch (status) {
    case 400:
    case 404:
    case 409:
    case 413:
    case 422: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string string_field(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}
}  // namespace

api_error error_from_upstream_status(unsigned status, std::string_view body, std::string_view secret,
                                     std::optional<std::chrono::seconds> retry_after) {
  if (status == 401 || status == 403)
    return http::server_error(502, "The backend refused the gateway's credentials. This is a gateway configuration "
                                   "problem, not a problem with your request or your key.",
                              "upstream_authentication_failed");
  if (status == 402)
    return http::server_error(502, "The backend account behind this gateway has insufficient balance.",
                              "upstream_insufficient_balance");
  if (status >= 300 && status < 400)
    return http::server_error(502, "The backend answered with a redirect, which the gateway does not follow.",
                              "upstream_redirect");
  unsigned out_status = status >= 400 && status < 600 ? status : 502;
  api_error e{out_status, default_type(out_status), {}, "Backend returned HTTP " + std::to_string(status) + ".", {}, {}};
  auto j = nlohmann::json::parse(trim_leading_whitespace(body), nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const auto& err = j["error"];
    if (err.is_object()) {
      if (auto m = string_field(err, "message"); !m.empty()) e.message = m;
      if (auto t = string_field(err, "type"); !t.empty()) e.type = t;
      e.code = string_field(err, "code");
      e.param = string_field(err, "param");
    } else if (err.is_string()) {  // vLLM, TGI and friends: {"error": "text"}
      e.message = err.get<std::string>();
    }
  } else if (j.is_object() && j.contains("detail") && j["detail"].is_string()) {  // FastAPI-style servers
    e.message = j["detail"].get<std::string>();
  }
  for (auto* field : {&e.message, &e.type, &e.code, &e.param}) redact(*field, secret);
  if (status == 429 || status == 503) e.retry_after = retry_after;
  return e;
}

bool is_json_object(std::string_view body) {
  // Structural, not a full parse: the relay must not pay a second JSON parse per response. A
  // truncated or non-JSON body (an HTML error page, an empty 200) is still caught.
  auto t = trim_leading_whitespace(body);
  auto last = t.find_last_not_of(" \t\r\n");
  return !t.empty() && t.front() == '{' && t[last] == '}';
}

std::string_view trim_leading_whitespace(std::string_view body) {
  auto p = body.find_first_not_of(" \t\r\n");
  return p == std::string_view::npos ? std::string_view{} : body.substr(p);
}

}  // namespace deepgate::api
