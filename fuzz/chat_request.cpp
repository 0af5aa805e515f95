// A model request's body as the gateway handles it: parse → validate (each route's schema, the
// first byte picks the route) → canonical cache key → forwarded body. Invariants: a refusal is a
// 4xx with a message; an accepted body's forwarded form always parses, names the backend's
// model and keeps the client's other fields with their values and no key twice; canonicalising twice changes nothing; the owner is part of
// the key; depth and size limits refuse before any recursion. And the gateway's own JSON parser
// (core/json_doc) accepts exactly what nlohmann accepts (but for a NUL byte), reads the same values with the same
// number types, and refuses a key written twice exactly when there is one.
#include "fuzz_check.hpp"

#include "deepgate/api/chat_request.hpp"
#include "deepgate/cache/policy.hpp"
#include "deepgate/core/json_doc.hpp"
#include "deepgate/http/json_depth.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string_view>

using deepgate::api::chat_request;
using deepgate::api::request_kind;
using json = nlohmann::json;

namespace {
json to_tree(const deepgate::core::json_value& v) {
  using deepgate::core::json_type;
  switch (v.type()) {
    case json_type::null: return nullptr;
    case json_type::boolean: return v.get<bool>();
    case json_type::number_integer: return v.get<std::int64_t>();
    case json_type::number_unsigned: return v.get<std::uint64_t>();
    case json_type::number_float: return v.get<double>();
    case json_type::string: return std::string(v.str());
    case json_type::array: {
      auto a = json::array();
      for (const auto& x : v) a.push_back(to_tree(x));
      return a;
    }
    case json_type::object: {
      auto o = json::object();
      for (auto it = v.begin(); it != v.end(); ++it) o[std::string(it.key())] = to_tree(*it);
      return o;
    }
  }
  return nullptr;
}

std::size_t count_members(const json& v) {
  std::size_t n = v.is_object() ? v.size() : 0;
  if (v.is_structured())
    for (const auto& x : v) n += count_members(x);
  return n;
}

void same_as_nlohmann(std::string_view body) {
  const auto shape = deepgate::http::json_shape(body, 64, 1'000'000);
  if (shape.depth > 64) return;  // nlohmann's recursion is unbounded: not fed deep input
  deepgate::core::json_doc doc;
  const auto status = doc.parse(body, 64, shape.values);
  const auto tree = json::parse(body, nullptr, false);
  // nlohmann takes a NUL byte for the end of its input and ignores what follows it; a NUL is
  // never valid JSON, and the gateway refuses the body (the backend would read the rest).
  if (body.find('\0') != std::string_view::npos) {
    FUZZ_CHECK(status == deepgate::core::json_doc::status::invalid);
    return;
  }
  FUZZ_CHECK((status == deepgate::core::json_doc::status::invalid) == tree.is_discarded());
  if (status == deepgate::core::json_doc::status::ok) {
    const auto mine = to_tree(doc.root());
    // dump() tells the number types apart (1, 1.0) where == would not.
    FUZZ_CHECK(mine.dump(-1, ' ', false, json::error_handler_t::replace) ==
               tree.dump(-1, ' ', false, json::error_handler_t::replace));
    FUZZ_CHECK(count_members(tree) == shape.members);  // no key was written twice
    FUZZ_CHECK(doc.root().raw().size() <= body.size());
  } else if (status == deepgate::core::json_doc::status::duplicate_key) {
    FUZZ_CHECK(count_members(tree) < shape.members);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto kind = static_cast<request_kind>(data[0] % 6);
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  same_as_nlohmann(body);
  auto parsed = chat_request::parse(std::string(body), 16, 5000, kind);
  if (!parsed) {
    const auto& e = parsed.error();
    FUZZ_CHECK(e.status >= 400 && e.status < 500);
    FUZZ_CHECK(!e.message.empty());
    return 0;
  }
  auto& r = *parsed;
  FUZZ_CHECK(!r.model().empty());
  FUZZ_CHECK(r.prompt_token_estimate() >= 0);
  FUZZ_CHECK(r.completion_reserve(4096) >= 0);
  (void)r.prompt_sha256();
  (void)r.deterministic(true);
  (void)r.needs_beta();

  // The cache key's material is canonical: parsing it again as the same route gives itself back.
  const auto material = r.cache_material("m");
  FUZZ_CHECK(json::parse(material, nullptr, false).is_object());
  auto again = chat_request::parse(material, 64, 1'000'000, kind);
  if (again) FUZZ_CHECK(again->cache_material("m") == material);
  FUZZ_CHECK(deepgate::cache::make_key("b", "owner-a", material) != deepgate::cache::make_key("b", "owner-b", material));

  // The forwarded body parses, names the backend's model, and is the same on a second attempt.
  r.request_usage();
  const auto first = r.upstream_body("upstream-model", true, "dg-user");
  const auto sent = json::parse(first, nullptr, false);
  FUZZ_CHECK(sent.is_object());
  FUZZ_CHECK(sent["model"] == "upstream-model");
  const auto other = r.upstream_body("upstream-model", false, "");
  FUZZ_CHECK(json::parse(other, nullptr, false).is_object());
  FUZZ_CHECK(r.upstream_body("upstream-model", true, "dg-user") == first);
  // Spliced from the client's bytes: every other member has the client's value, and no key twice.
  const auto client = json::parse(body, nullptr, false);
  for (const auto& [key, value] : client.items())
    if (key != "model" && key != "user_id" && key != "metadata" && key != "stream_options")
      FUZZ_CHECK(sent.contains(key) && sent[key] == value);
  auto resent = chat_request::parse(first, 64, 1'000'000, kind);
  FUZZ_CHECK(resent || resent.error().code != "duplicate_key");
  return 0;
}
