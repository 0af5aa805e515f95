#include "deepgate/api/models.hpp"

#include <nlohmann/json.hpp>

namespace deepgate::api {
namespace {
// What the backend listed for it (created, owned_by, context length, ...), under the client-facing
// id; a model the backend does not list has only the basics.
nlohmann::json model_object(const std::string& id, const config::model_config& m) {
  auto o = m.metadata.empty() ? nlohmann::json::object() : nlohmann::json::parse(m.metadata, nullptr, false);
  if (!o.is_object()) o = nlohmann::json::object();
  o["id"] = id;
  o["object"] = "model";
  if (!o.contains("created")) o["created"] = 0;
  if (!o.contains("owned_by")) o["owned_by"] = m.backend;
  return o;
}
}  // namespace

http::response list_models(const config::gateway_config& cfg, const auth::client_key* key) {
  auto data = nlohmann::json::array();
  for (auto& m : cfg.models) {
    if (!key || auth::model_allowed(*key, m.name)) data.push_back(model_object(m.name, m));
    for (auto& a : m.aliases)
      if (!key || auth::model_allowed(*key, a)) data.push_back(model_object(a, m));
  }
  return http::response{200, "application/json", {}, nlohmann::json{{"object", "list"}, {"data", data}}.dump()};
}

http::response retrieve_model(const config::gateway_config& cfg, const auth::client_key* key, std::string_view id) {
  const auto* m = cfg.find_model(id);
  if (m && (!key || auth::model_allowed(*key, id)))
    return http::response{200, "application/json", {}, model_object(std::string(id), *m).dump()};
  return http::error_response(http::not_found(
      "The model '" + std::string(id) + "' does not exist or you do not have access to it.", "model_not_found"));
}

}  // namespace deepgate::api
