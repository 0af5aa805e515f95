#include "deepgate/api/model_catalog.hpp"

#include <nlohmann/json.hpp>

#include <set>

namespace deepgate::api {

using json = nlohmann::json;

std::optional<std::vector<listed_model>> parse_model_list(std::string_view body) {
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const json* items = nullptr;
  if (auto d = j.find("data"); d != j.end() && d->is_array()) items = &*d;
  else if (auto m = j.find("models"); m != j.end() && m->is_array()) items = &*m;
  if (!items) return std::nullopt;
  std::vector<listed_model> out;
  std::set<std::string> seen;
  for (const auto& item : *items) {
    if (!item.is_object()) continue;
    std::string id;
    for (const char* key : {"id", "name", "model"})
      if (auto v = item.find(key); v != item.end() && v->is_string() && !v->get_ref<const std::string&>().empty()) {
        id = v->get<std::string>();
        break;
      }
    if (id.empty() || id.size() > 256 || !seen.insert(id).second) continue;
    listed_model m;
    m.id = std::move(id);
    if (auto o = item.find("owned_by"); o != item.end() && o->is_string()) m.owned_by = o->get<std::string>();
    if (auto c = item.find("created"); c != item.end() && c->is_number_integer()) m.created = c->get<std::int64_t>();
    json meta = json::object();
    for (auto it = item.begin(); it != item.end(); ++it)
      if (it.key() != "id" && it.key() != "object") meta[it.key()] = *it;
    m.metadata = meta.dump(-1, ' ', false, json::error_handler_t::replace);
    out.push_back(std::move(m));
  }
  return out;
}

std::shared_ptr<const config::gateway_config> with_listings(std::shared_ptr<const config::gateway_config> base,
                                                           const model_listings& listings) {
  if (listings.empty()) return base;
  auto next = std::make_shared<config::gateway_config>(*base);
  auto listing_of = [&](std::size_t backend_index) -> const std::vector<listed_model>* {
    auto it = listings.find(next->backends[backend_index].name);
    return it == listings.end() ? nullptr : &it->second;
  };
  for (auto& m : next->models) {
    const auto* list = listing_of(m.backend_index);
    if (!list) continue;
    for (const auto& l : *list)
      if (l.id == m.upstream_model) m.metadata = l.metadata;
  }
  if (next->serve_discovered) {
    for (std::size_t b = 0; b < next->backends.size(); ++b) {
      const auto* list = listing_of(b);
      if (!list) continue;
      for (const auto& l : *list) {
        if (next->find_model(l.id)) continue;  // configured (or listed by an earlier backend): that one serves it
        config::model_config m;
        m.name = m.upstream_model = l.id;
        m.backend = next->backends[b].name;
        m.backend_index = b;
        m.targets.push_back({m.backend, l.id, next->backends[b].weight, b});
        m.discovered = true;
        m.metadata = l.metadata;
        next->models.push_back(std::move(m));
      }
    }
  }
  return next;
}

}  // namespace deepgate::api
