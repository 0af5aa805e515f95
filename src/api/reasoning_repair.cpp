#include "deepgate/api/reasoning_repair.hpp"

#include "deepgate/auth/key.hpp"

#include <nlohmann/json.hpp>

namespace deepgate::api {

using json = nlohmann::json;

// The owner is hashed into the key with the id: one owner can never recall another's reasoning.
std::string reasoning_memory::key(std::string_view owner, std::string_view id) {
  std::string in(owner);
  in += '\0';
  in.append(id);
  return core::sha256_hex(in);
}

int reasoning_memory::remember(std::string_view owner, std::string_view completion_json, time_point now) {
  auto j = json::parse(completion_json, nullptr, false);
  if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array()) return 0;
  int n = 0;
  for (const auto& c : j["choices"]) {
    if (!c.is_object() || !c.contains("message")) continue;
    const auto& m = c["message"];
    auto r = m.find("reasoning_content");
    auto calls = m.find("tool_calls");
    if (r == m.end() || !r->is_string() || calls == m.end() || !calls->is_array()) continue;
    for (const auto& call : *calls)
      if (call.is_object() && call.contains("id") && call["id"].is_string() &&
          store_.put(key(owner, call["id"].get_ref<const std::string&>()), r->get<std::string>(), now, ttl_))
        ++n;
  }
  return n;
}

std::optional<std::string> reasoning_memory::recall(std::string_view owner, std::string_view tool_call_id,
                                                    time_point now) {
  auto e = store_.get(key(owner, tool_call_id), now);
  if (!e) return std::nullopt;
  return *e->value;
}

}  // namespace deepgate::api
