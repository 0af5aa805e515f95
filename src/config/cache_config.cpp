#include "deepgate/config/cache_config.hpp"

#include "reader.hpp"

namespace deepgate::config {

std::optional<cache_mode> parse_cache_mode(std::string_view s) {
  if (s == "off") return cache_mode::off;
  if (s == "deterministic") return cache_mode::deterministic;
  if (s == "always") return cache_mode::always;
  return std::nullopt;
}

std::string_view to_string(cache_mode m) {
  switch (m) {
    case cache_mode::off: return "off";
    case cache_mode::always: return "always";
    case cache_mode::deterministic: break;
  }
  return "deterministic";
}

cache_mode cache_config::mode_for(std::string_view key_id, std::string_view owner, std::string_view model) const {
  if (auto k = keys.find(key_id); !key_id.empty() && k != keys.end()) return k->second;
  if (auto o = owners.find(owner); !owner.empty() && o != owners.end()) return o->second;
  if (auto m = models.find(model); m != models.end()) return m->second;
  return mode;
}

namespace {

bool read_mode(reader& r, section& s, std::string_view key, cache_mode& out) {
  std::string text;
  if (!s.string(key, text)) return false;
  if (text.empty()) return true;
  auto m = parse_cache_mode(text);
  if (!m) return r.fail(s.at(key), "must be off, deterministic or always, got '" + text + "'");
  out = *m;
  return true;
}

bool read_modes(reader& r, section& s, std::string_view key, std::map<std::string, cache_mode, std::less<>>& out) {
  auto m = s.child(key);
  if (!m || m.IsNull()) return true;
  if (!m.IsMap()) return r.fail(s.at(key), "must map names to off, deterministic or always");
  section names(r, m, s.at(key));
  for (const auto& kv : m) {
    auto& mode = out[kv.first.Scalar()];
    mode = cache_mode::deterministic;
    if (!read_mode(r, names, kv.first.Scalar(), mode)) return false;
  }
  return true;
}

}  // namespace

bool read_cache(reader& r, const YAML::Node& n, cache_config& c) {
  section sec(r, n, "cache");
  const std::string p = "cache";
  std::string store = "memory", scope = "owner";
  if (!(sec.string("store", store) && read_mode(r, sec, "policy", c.mode) && sec.string("scope", scope) &&
        sec.integer<std::size_t>("max_bytes", c.max_bytes, 0, std::size_t{1} << 40) &&
        sec.integer<std::size_t>("max_entry_bytes", c.max_entry_bytes, 1024, std::size_t{512} << 20) &&
        sec.duration("ttl", c.ttl) && sec.duration("max_ttl", c.max_ttl) && sec.boolean("hits_count_tokens", c.hits_count_tokens) &&
        sec.duration("follower_timeout", c.follower_timeout) && read_modes(r, sec, "keys", c.keys) &&
        read_modes(r, sec, "owners", c.owners) && read_modes(r, sec, "models", c.models)))
    return false;
  if (store != "memory" && store != "redis") return r.fail(p + ".store", "must be memory or redis");
  if (scope != "owner" && scope != "shared") return r.fail(p + ".scope", "must be owner or shared");
  c.redis = store == "redis";
  c.shared = scope == "shared";
  if (c.ttl.count() < 1000) return r.fail(p + ".ttl", "must be at least 1s");
  if (c.max_ttl < c.ttl) return r.fail(p + ".max_ttl", "must be at least cache.ttl");
  return true;
}

}  // namespace deepgate::config
