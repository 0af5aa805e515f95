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

bool read_mode(reader& r, const YAML::Node& n, std::string_view key, const std::string& p, cache_mode& out) {
  std::string text;
  if (!r.string(n, key, p, text)) return false;
  if (text.empty()) return true;
  auto m = parse_cache_mode(text);
  if (!m) return r.fail(reader::join(p, key), "must be off, deterministic or always, got '" + text + "'");
  out = *m;
  return true;
}

bool read_modes(reader& r, const YAML::Node& n, std::string_view key, const std::string& p,
                std::map<std::string, cache_mode, std::less<>>& out) {
  auto m = n ? n[std::string(key)] : YAML::Node();
  if (!m || m.IsNull()) return true;
  auto mp = reader::join(p, key);
  if (!m.IsMap()) return r.fail(mp, "must map names to off, deterministic or always");
  for (const auto& kv : m) {
    auto& mode = out[kv.first.Scalar()];
    mode = cache_mode::deterministic;
    if (!read_mode(r, m, kv.first.Scalar(), mp, mode)) return false;
  }
  return true;
}

}  // namespace

bool read_cache(reader& r, const YAML::Node& n, cache_config& c) {
  const std::string p = "cache";
  if (!r.mapping(n, p,
                 {"store", "policy", "scope", "max_bytes", "max_entry_bytes", "ttl", "max_ttl", "hits_count_tokens",
                  "follower_timeout", "keys", "owners", "models"}))
    return false;
  std::string store = "memory", scope = "owner";
  if (!(r.string(n, "store", p, store) && read_mode(r, n, "policy", p, c.mode) && r.string(n, "scope", p, scope) &&
        r.integer<std::size_t>(n, "max_bytes", p, c.max_bytes, 0, std::size_t{1} << 40) &&
        r.integer<std::size_t>(n, "max_entry_bytes", p, c.max_entry_bytes, 1024, std::size_t{512} << 20) &&
        r.duration(n, "ttl", p, c.ttl) && r.duration(n, "max_ttl", p, c.max_ttl) &&
        r.boolean(n, "hits_count_tokens", p, c.hits_count_tokens) &&
        r.duration(n, "follower_timeout", p, c.follower_timeout) && read_modes(r, n, "keys", p, c.keys) &&
        read_modes(r, n, "owners", p, c.owners) && read_modes(r, n, "models", p, c.models)))
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
