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

std::string render_error_body(const api_error& e) { return dump(error_object(e)); }

std::string render_error_event(const api_error& e) { return "data: " + dump(error_object(e)) + "\n\n"; }

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
