#include "deepgate/config/config.hpp"
#include "deepgate/core/strings.hpp"

#include "deepgate/config/duration.hpp"
#include "reader.hpp"
#include "deepgate/core/cidr.hpp"
#include "deepgate/core/url.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>
#include <nlohmann/json.hpp>

#include <sstream>

namespace deepgate::config {

bool admin_config::on_loopback() const {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

namespace {

constexpr std::string_view embedded_defaults = R"(# deepgate embedded defaults
server:
  host: ${DEEPGATE_HOST:-0.0.0.0}
  port: ${PORT:-8080}
backends:
  - name: deepseek
    url: ${DEEPGATE_UPSTREAM_URL:-https://api.deepseek.com}
    api_key: ${DEEPSEEK_API_KEY:-}
    ca_file: ${DEEPGATE_UPSTREAM_CA_FILE:-}
    balance_check_interval: ${DEEPGATE_BALANCE_CHECK_INTERVAL:-5m}
# DeepSeek's models as its Models & Pricing page lists them (api-docs.deepseek.com/quick_start/
# pricing, read 2026-12-04): deepseek-flash (V4.1 Flash; the retired deepseek-v4-flash name is
# still accepted and served by it) and deepseek-v4-pro, thinking mode on by default. The
# pre-V4 names keep working for SDK code written for them: deepseek-chat is deepseek-flash with
# thinking disabled, deepseek-reasoner the same with thinking enabled.
# Any other model DeepSeek's GET /models lists is served under its own name too, so a model it
# adds works without a new release of this file.
serve_discovered: true
models:
  - name: deepseek-flash
    backend: deepseek
    aliases: [deepseek-v4-flash]
  - name: deepseek-v4-pro
    backend: deepseek
  - name: deepseek-chat
    backend: deepseek
    upstream_model: deepseek-flash
    set: {thinking: {type: disabled}}
  - name: deepseek-reasoner
    backend: deepseek
    upstream_model: deepseek-flash
    set: {thinking: {type: enabled}}
auth:
  store: ${DEEPGATE_AUTH_STORE:-file}
  keys_file: ${DEEPGATE_KEYS_FILE:-deepgate-keys.json}
admin:
  enabled: ${DEEPGATE_ADMIN_ENABLED:-true}
  host: ${DEEPGATE_ADMIN_HOST:-127.0.0.1}
  port: ${DEEPGATE_ADMIN_PORT:-8081}
  token: ${DEEPGATE_ADMIN_TOKEN:-}
redis:
  url: ${REDIS_URL:-}
limits:
  store: ${DEEPGATE_LIMITS_STORE:-memory}
  default:  # present, so every answer carries x-ratelimit-*; generous, so a demo never meets them
    requests_per_minute: ${DEEPGATE_REQUESTS_PER_MINUTE:-600}
    request_burst: 100
    concurrent_requests: ${DEEPGATE_MAX_CONCURRENT_PER_OWNER:-64}
cache:
  store: ${DEEPGATE_CACHE_STORE:-memory}
  policy: ${DEEPGATE_CACHE_POLICY:-deterministic}
log:
  level: ${DEEPGATE_LOG_LEVEL:-info}
  format: ${DEEPGATE_LOG_FORMAT:-text}
  access:
    enabled: ${DEEPGATE_ACCESS_LOG:-true}
    path: ${DEEPGATE_ACCESS_LOG_PATH:--}
# USD per 1M tokens as DeepSeek's Models & Pricing page listed them on 2026-12-04
# (api-docs.deepseek.com/quick_start/pricing): off-peak rates, and peak at twice them on weekdays
# 09:00-12:00 and 14:00-18:00 Beijing time (UTC+8). DeepSeek bills Chinese public holidays
# off-peak; no calendar is kept here, so those are charged as peak (an upper bound). Prices
# change: set your own before relying on budgets. Keyed by the name sent to the backend.
prices:
  deepseek-flash:
    name: off_peak
    input_cache_hit: 0.003
    input_cache_miss: 0.15
    output: 0.6
    tiers: &deepseek_peak
      - {name: peak, utc_offset: "+08:00", days: [mon, tue, wed, thu, fri], hours: ["09:00-12:00", "14:00-18:00"], multiplier: 2}
  deepseek-v4-pro:
    name: off_peak
    input_cache_hit: 0.022
    input_cache_miss: 0.66
    output: 1.98
    tiers: *deepseek_peak
)";


bool read_server(reader& r, const YAML::Node& n, server_config& s) {
  const std::string p = "server";
  if (!r.mapping(n, p,
                 {"host", "port", "workers", "tls", "max_header_bytes", "max_body_bytes", "max_json_depth",
                  "max_json_values", "max_connections", "max_body_bytes_in_flight", "request_timeout", "idle_timeout", "write_timeout", "drain_timeout", "drain_delay", "trusted_proxies"}))
    return false;
  if (auto proxies = n ? n["trusted_proxies"] : YAML::Node(); proxies && !proxies.IsNull()) {
    if (!proxies.IsSequence()) return r.fail(p + ".trusted_proxies", "must be a list of addresses or CIDRs");
    for (std::size_t i = 0; i < proxies.size(); ++i) {
      auto where = p + ".trusted_proxies[" + std::to_string(i) + "]";
      if (!proxies[i].IsScalar() || !core::parse_cidr(proxies[i].Scalar()))
        return r.fail(where, "must be an IPv4/IPv6 address or CIDR such as 10.0.0.0/8");
      s.trusted_proxies.push_back(proxies[i].Scalar());
    }
  }
  auto tls = n ? n["tls"] : YAML::Node();
  const bool ok = r.string(n, "host", p, s.host) && r.integer<std::uint16_t>(n, "port", p, s.port, 0, 65535) &&
         r.integer<unsigned>(n, "workers", p, s.workers, 0, 256) &&
         r.mapping(tls, "server.tls", {"cert_file", "key_file"}) &&
         r.string(tls, "cert_file", "server.tls", s.tls.cert_file) &&
         r.string(tls, "key_file", "server.tls", s.tls.key_file) &&
         r.integer<std::size_t>(n, "max_header_bytes", p, s.max_header_bytes, 1024, 1 << 20) &&
         r.integer<std::size_t>(n, "max_body_bytes", p, s.max_body_bytes, 1024, std::size_t{1} << 30) &&
         r.integer<std::size_t>(n, "max_json_depth", p, s.max_json_depth, 2, 1024) &&
         r.integer<std::size_t>(n, "max_json_values", p, s.max_json_values, 16, std::size_t{1} << 28) &&
         r.integer<std::size_t>(n, "max_connections", p, s.max_connections, 1, 1u << 22) &&
         r.integer<std::size_t>(n, "max_body_bytes_in_flight", p, s.max_body_bytes_in_flight, 1024, std::size_t{1} << 40) &&
         r.duration(n, "request_timeout", p, s.request_timeout) && r.duration(n, "idle_timeout", p, s.idle_timeout) &&
         r.duration(n, "write_timeout", p, s.write_timeout) && r.duration(n, "drain_timeout", p, s.drain_timeout) &&
         r.duration(n, "drain_delay", p, s.drain_delay);
  if (ok && s.max_body_bytes_in_flight < s.max_body_bytes)
    return r.fail(p + ".max_body_bytes_in_flight", "must be at least max_body_bytes (" + std::to_string(s.max_body_bytes) + ")");
  return ok;
}

bool read_backend(reader& r, const YAML::Node& n, const std::string& p, backend_config& b) {
  if (!n.IsMap()) return r.fail(p, "must be a mapping");
  if (!r.mapping(n, p,
                 {"name", "url", "api_key", "api_key_file", "tls", "connect_timeout", "tls_timeout",
                  "response_header_timeout", "read_timeout", "max_connections", "max_response_bytes", "ca_file",
                  "max_concurrent_requests", "queue_size", "queue_timeout", "balance_check_interval", "weight",
                  "breaker", "first_token_timeout", "stream_timeout", "token_idle_timeout", "stream_usage",
                  "user_id", "thinking_default", "models_refresh_interval"}))
    return false;
  auto tls = n["tls"];
  auto br = n["breaker"];
  if (!(r.integer<std::uint32_t>(n, "weight", p, b.weight, 1, 1'000'000) &&
        r.mapping(br, p + ".breaker", {"failures", "cool_down", "max_cool_down"}) &&
        r.integer<std::uint32_t>(br, "failures", p + ".breaker", b.breaker.failures, 0, 1'000'000) &&
        r.duration(br, "cool_down", p + ".breaker", b.breaker.cool_down) &&
        r.duration(br, "max_cool_down", p + ".breaker", b.breaker.max_cool_down)))
    return false;
  if (b.breaker.max_cool_down < b.breaker.cool_down)
    return r.fail(p + ".breaker.max_cool_down", "must be at least breaker.cool_down");
  std::string url_text;
  if (!(r.string(n, "name", p, b.name) && r.string(n, "url", p, url_text) && r.secret(n, "api_key", p, b.api_key) &&
        r.string(n, "ca_file", p, b.ca_file) && r.mapping(tls, p + ".tls", {"ca_file", "verify"}) &&
        r.boolean(tls, "verify", p + ".tls", b.verify_tls) && r.duration(n, "connect_timeout", p, b.connect_timeout) &&
        r.duration(n, "tls_timeout", p, b.tls_timeout) &&
        r.duration(n, "response_header_timeout", p, b.response_header_timeout) &&
        r.duration(n, "read_timeout", p, b.read_timeout) &&
        r.duration(n, "first_token_timeout", p, b.first_token_timeout) &&
        r.duration(n, "stream_timeout", p, b.stream_timeout) &&
        r.duration(n, "token_idle_timeout", p, b.token_idle_timeout) &&
        r.duration(n, "models_refresh_interval", p, b.models_refresh_interval) && r.boolean(n, "stream_usage", p, b.stream_usage) &&
        r.integer<std::size_t>(n, "max_connections", p, b.max_connections, 1, 100000) &&
        r.integer<std::size_t>(n, "max_response_bytes", p, b.max_response_bytes, 1024, std::size_t{1} << 32) &&
        r.integer<std::uint32_t>(n, "max_concurrent_requests", p, b.max_concurrent_requests, 0, 1'000'000) &&
        r.integer<std::uint32_t>(n, "queue_size", p, b.queue_size, 0, 1'000'000) &&
        r.duration(n, "queue_timeout", p, b.queue_timeout) &&
        r.duration(n, "balance_check_interval", p, b.balance_check_interval)))
    return false;
  std::string tls_ca, user_id = "client", thinking = "auto";
  if (!r.string(tls, "ca_file", p + ".tls", tls_ca) || !r.string(n, "user_id", p, user_id) ||
      !r.string(n, "thinking_default", p, thinking))
    return false;
  if (thinking != "auto" && thinking != "on" && thinking != "off") return r.fail(p + ".thinking_default", "must be auto, on or off");
  if (user_id != "client" && user_id != "owner") return r.fail(p + ".user_id", "must be client or owner");
  b.user_id_from_owner = user_id == "owner";
  if (!tls_ca.empty()) b.ca_file = tls_ca;
  if (b.name.empty()) return r.fail(p + ".name", "is required");
  if (url_text.empty()) return r.fail(p + ".url", "is required");
  std::string err;
  auto u = core::parse_http_url(url_text, err);
  if (!u) return r.fail(p + ".url", err);
  b.url = *u;
  b.thinking_by_default = thinking == "on" || (thinking == "auto" && b.url.host == "api.deepseek.com");
  if (!b.ca_file.empty() && !readable(b.ca_file)) return r.fail(p + ".tls.ca_file", "cannot read " + b.ca_file);
  return true;
}

bool read_targets(reader& r, const YAML::Node& n, const std::string& p, std::vector<model_target>& out) {
  if (!n || n.IsNull()) return true;
  if (!n.IsSequence()) return r.fail(p, "must be a list of {backend, upstream_model, weight}");
  for (std::size_t i = 0; i < n.size(); ++i) {
    auto tp = p + "[" + std::to_string(i) + "]";
    auto& t = out.emplace_back();
    if (n[i].IsScalar()) {  // just a backend name
      t.backend = n[i].Scalar();
      continue;
    }
    if (!n[i].IsMap()) return r.fail(tp, "must be a backend name or a mapping");
    if (!(r.mapping(n[i], tp, {"backend", "upstream_model", "weight"}) && r.string(n[i], "backend", tp, t.backend) &&
          r.string(n[i], "upstream_model", tp, t.upstream_model) &&
          r.integer<std::uint32_t>(n[i], "weight", tp, t.weight, 1, 1'000'000)))
      return false;
    if (t.backend.empty()) return r.fail(tp + ".backend", "is required");
  }
  return true;
}

// A `set:` mapping as JSON. An unquoted true/false, null or number becomes JSON's; any other
// scalar, and every quoted one ("true", "5"), a string.
nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    auto out = nlohmann::json::object();
    for (const auto& kv : n) out[kv.first.Scalar()] = yaml_to_json(kv.second);
    return out;
  }
  if (n.IsSequence()) {
    auto out = nlohmann::json::array();
    for (const auto& v : n) out.push_back(yaml_to_json(v));
    return out;
  }
  if (!n.IsScalar() || n.Tag() == "~" || n.Scalar() == "null" || n.Scalar() == "~") return nullptr;
  const auto& s = n.Scalar();
  if (n.Tag() != "!") {  // an unquoted scalar
    if (s == "true") return true;
    if (s == "false") return false;
    auto parsed = nlohmann::json::parse(s, nullptr, false);
    if (parsed.is_number()) return parsed;
  }
  return s;
}

bool read_model(reader& r, const YAML::Node& n, const std::string& p, model_config& m) {
  if (!n.IsMap()) return r.fail(p, "must be a mapping");
  if (!r.mapping(n, p, {"name", "aliases", "backend", "upstream_model", "backends", "fallback", "balance", "set"}))
    return false;
  if (auto set = n["set"]; set && !set.IsNull()) {
    if (!set.IsMap()) return r.fail(p + ".set", "must map request fields to the values they get");
    for (const char* fixed : {"model", "messages", "stream"})
      if (std::as_const(set)[fixed]) return r.fail(p + ".set." + fixed, "cannot be set (the model's name is upstream_model)");
    m.set_fields = yaml_to_json(set).dump();
  }
  std::string balance = "weighted";
  if (!(r.string(n, "name", p, m.name) && r.string(n, "backend", p, m.backend) &&
        r.string(n, "upstream_model", p, m.upstream_model) && r.string(n, "balance", p, balance) &&
        read_targets(r, n["backends"], p + ".backends", m.targets) &&
        read_targets(r, n["fallback"], p + ".fallback", m.fallback)))
    return false;
  if (auto aliases = n["aliases"]; aliases && !aliases.IsNull()) {
    if (!aliases.IsSequence()) return r.fail(p + ".aliases", "must be a list of names");
    for (std::size_t i = 0; i < aliases.size(); ++i) {
      if (!aliases[i].IsScalar() || aliases[i].Scalar().empty())
        return r.fail(p + ".aliases[" + std::to_string(i) + "]", "must be a name");
      m.aliases.push_back(aliases[i].Scalar());
    }
  }
  if (m.name.empty()) return r.fail(p + ".name", "is required");
  if (balance != "weighted" && balance != "least_in_flight") return r.fail(p + ".balance", "must be weighted or least_in_flight");
  m.balance = balance == "weighted" ? model_config::balance_mode::weighted : model_config::balance_mode::least_in_flight;
  if (!m.backend.empty() && !m.targets.empty()) return r.fail(p + ".backends", "give either backend or backends, not both");
  if (m.backend.empty() && m.targets.empty()) return r.fail(p + ".backend", "is required");
  if (m.upstream_model.empty()) m.upstream_model = m.name;
  if (m.targets.empty()) m.targets.push_back({m.backend, m.upstream_model, 0, 0});
  for (auto* list : {&m.targets, &m.fallback})
    for (auto& t : *list)
      if (t.upstream_model.empty()) t.upstream_model = m.upstream_model;
  m.backend = m.targets.front().backend;
  m.upstream_model = m.targets.front().upstream_model;
  return true;
}

bool read_auth(reader& r, const YAML::Node& n, auth_config& a) {
  if (!r.mapping(n, "auth", {"mode", "store", "keys_file", "keys", "sync_interval"})) return false;
  std::string mode = "keys", store = "file";
  if (!r.string(n, "mode", "auth", mode) || !r.string(n, "store", "auth", store) ||
      !r.string(n, "keys_file", "auth", a.keys_file) || !r.duration(n, "sync_interval", "auth", a.sync_interval))
    return false;
  if (mode != "keys" && mode != "none") return r.fail("auth.mode", "must be keys or none");
  if (store != "file" && store != "redis") return r.fail("auth.store", "must be file or redis");
  a.enabled = mode == "keys";
  a.redis_store = store == "redis";
  auto keys = n ? n["keys"] : YAML::Node();
  if (!keys || keys.IsNull()) return true;
  if (!keys.IsSequence()) return r.fail("auth.keys", "must be a list");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto p = "auth.keys[" + std::to_string(i) + "]";
    auto k = keys[i];
    if (!k.IsMap()) return r.fail(p, "must be a mapping");
    if (!r.mapping(k, p, {"id", "owner", "key", "key_file", "models", "limits"})) return false;
    config_key ck;
    std::string value;
    if (!r.string(k, "id", p, ck.id) || !r.string(k, "owner", p, ck.owner) || !r.secret(k, "key", p, value) ||
        !r.string(k, "limits", p, ck.limits))
      return false;
    if (ck.owner.empty()) return r.fail(p + ".owner", "is required");
    if (value.size() < 16) return r.fail(p + ".key", "is required and must be at least 16 characters");
    ck.sha256 = core::sha256(value);
    if (ck.id.empty()) ck.id = "cfg_" + core::to_hex(ck.sha256).substr(0, 12);
    if (auto models = k["models"]; models && !models.IsNull()) {
      if (!models.IsSequence()) return r.fail(p + ".models", "must be a list of model names or patterns");
      for (auto m : models) ck.models.push_back(m.Scalar());
    }
    a.keys.push_back(std::move(ck));
  }
  return true;
}

bool validate(reader& r, gateway_config& c) {
  auto& s = c.server;
  if (s.tls.cert_file.empty() != s.tls.key_file.empty())
    return r.fail("server.tls", "cert_file and key_file go together");
  if (s.tls.enabled() && !readable(s.tls.cert_file)) return r.fail("server.tls.cert_file", "cannot read " + s.tls.cert_file);
  if (s.tls.enabled() && !readable(s.tls.key_file)) return r.fail("server.tls.key_file", "cannot read " + s.tls.key_file);
  if (c.backends.empty()) return r.fail("backends", "at least one backend is required");
  std::set<std::string> names;
  for (std::size_t i = 0; i < c.backends.size(); ++i)
    if (!names.insert(c.backends[i].name).second)
      return r.fail("backends[" + std::to_string(i) + "].name", "duplicate backend '" + c.backends[i].name + "'");
  if (c.models.empty() && !c.serve_discovered)
    return r.fail("models", "at least one model is required (or serve_discovered: true)");
  if (c.serve_discovered &&
      std::none_of(c.backends.begin(), c.backends.end(), [](auto& b) { return b.models_refresh_interval.count() > 0; }))
    return r.fail("serve_discovered", "needs a backend with models_refresh_interval above 0");
  std::set<std::string> model_names;
  for (std::size_t i = 0; i < c.models.size(); ++i) {
    auto& m = c.models[i];
    auto p = "models[" + std::to_string(i) + "]";
    const bool listed = m.targets.size() > 1 || !m.fallback.empty();
    for (auto [list, what] : {std::pair{&m.targets, "backends"}, std::pair{&m.fallback, "fallback"}}) {
      for (std::size_t t = 0; t < list->size(); ++t) {
        auto& target = (*list)[t];
        auto it = std::find_if(c.backends.begin(), c.backends.end(), [&](auto& b) { return b.name == target.backend; });
        auto where = listed ? p + "." + what + "[" + std::to_string(t) + "]" : p + ".backend";
        if (it == c.backends.end()) return r.fail(where, "no backend named '" + target.backend + "'");
        target.backend_index = static_cast<std::size_t>(it - c.backends.begin());
        if (target.weight == 0) target.weight = it->weight;
      }
    }
    m.backend_index = m.targets.front().backend_index;
    if (!model_names.insert(m.name).second) return r.fail(p + ".name", "duplicate model name '" + m.name + "'");
    for (auto& a : m.aliases)
      if (!model_names.insert(a).second) return r.fail(p + ".aliases", "duplicate model name '" + a + "'");
  }
  if (c.auth.redis_store && c.redis.url.empty()) return r.fail("redis.url", "is required when auth.store is redis");
  if (!c.redis.url.empty()) {
    std::string err;
    if (!core::parse_redis_url(c.redis.url, err)) return r.fail("redis.url", err);
  }
  if (c.limits.redis && c.redis.url.empty()) return r.fail("redis.url", "is required when limits.store is redis");
  if (c.cache.redis && c.redis.url.empty()) return r.fail("redis.url", "is required when cache.store is redis");
  for (auto& [name, _] : c.cache.models)
    if (!c.find_model(name)) return r.fail("cache.models." + name, "no model or alias named '" + name + "'");
  for (std::size_t i = 0; i < c.auth.keys.size(); ++i)
    if (auto& l = c.auth.keys[i].limits; !l.empty() && !c.limits.profiles.contains(l))
      return r.fail("auth.keys[" + std::to_string(i) + "].limits", "no profile named '" + l + "' in limits.profiles");
  auto budgets = c.limits.defaults.daily_budget || c.limits.defaults.monthly_budget;
  for (auto& [_, prof] : c.limits.profiles) budgets = budgets || prof.daily_budget || prof.monthly_budget;
  if (budgets)
    for (auto& m : c.models)
      for (auto* list : {&m.targets, &m.fallback})
        for (auto& t : *list)
          if (!c.prices.contains(t.upstream_model))
            return r.fail("prices", "budgets are set but model '" + t.upstream_model + "' has no price");
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.contains(c.log.level)) return r.fail("log.level", "must be one of trace, debug, info, warn, error, off");
  if (c.log.format != "text" && c.log.format != "json") return r.fail("log.format", "must be text or json");
  return true;
}

}  // namespace

const model_config* gateway_config::find_model(std::string_view name) const {
  for (auto& m : models) {
    if (m.name == name) return &m;
    for (auto& a : m.aliases)
      if (a == name) return &m;
  }
  return nullptr;
}

load_result load_string(std::string_view yaml, const env_lookup& env, std::string origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return {nullptr, origin + ": not valid YAML: " + e.what()};
  }
  auto c = std::make_shared<gateway_config>();
  c->origin = std::move(origin);
  reader r(env);
  if (root && !root.IsNull() && !root.IsMap()) return {nullptr, "(root): must be a mapping"};
  if (!r.mapping(root, "", {"server", "backends", "models", "serve_discovered", "auth", "admin", "redis", "limits", "cache", "retries", "reasoning_repair", "prices", "metrics", "log"})) return {nullptr, r.error()};
  if (root) {
    c->serve_discovered = !root["models"] || root["models"].IsNull();
    r.boolean(root, "serve_discovered", "", c->serve_discovered);
    read_server(r, root["server"], c->server);
    if (auto backends = root["backends"]; r.ok() && backends && !backends.IsNull()) {
      if (!backends.IsSequence()) r.fail("backends", "must be a list");
      for (std::size_t i = 0; r.ok() && i < backends.size(); ++i)
        read_backend(r, backends[i], "backends[" + std::to_string(i) + "]", c->backends.emplace_back());
    }
    if (auto models = root["models"]; r.ok() && models && !models.IsNull()) {
      if (!models.IsSequence()) r.fail("models", "must be a list");
      for (std::size_t i = 0; r.ok() && i < models.size(); ++i)
        read_model(r, models[i], "models[" + std::to_string(i) + "]", c->models.emplace_back());
    }
    if (r.ok()) read_auth(r, root["auth"], c->auth);
    if (auto admin = root["admin"]; r.ok() && r.mapping(admin, "admin", {"enabled", "host", "port", "token", "token_file", "metrics_require_token"})) {
      r.boolean(admin, "enabled", "admin", c->admin.enabled) && r.string(admin, "host", "admin", c->admin.host) &&
          r.boolean(admin, "metrics_require_token", "admin", c->admin.metrics_require_token) &&
          r.integer<std::uint16_t>(admin, "port", "admin", c->admin.port, 0, 65535) &&
          r.secret(admin, "token", "admin", c->admin.token);
      if (r.ok() && !c->admin.token.empty() && c->admin.token.size() < 16)
        r.fail("admin.token", "must be at least 16 characters");
      if (r.ok() && c->admin.metrics_require_token && c->admin.token.empty())
        r.fail("admin.metrics_require_token", "needs admin.token");
    }
    if (auto m = root["metrics"]; r.ok() && r.mapping(m, "metrics", {"enabled", "max_owner_labels"})) {
      r.boolean(m, "enabled", "metrics", c->metrics.enabled) &&
          r.integer<std::size_t>(m, "max_owner_labels", "metrics", c->metrics.max_owner_labels, 0, 100'000);
    }
    if (auto redis = root["redis"]; r.ok() && r.mapping(redis, "redis", {"url", "url_file", "ca_file", "command_timeout", "connect_timeout"})) {
      r.secret(redis, "url", "redis", c->redis.url) && r.string(redis, "ca_file", "redis", c->redis.ca_file) &&
          r.duration(redis, "command_timeout", "redis", c->redis.command_timeout) &&
          r.duration(redis, "connect_timeout", "redis", c->redis.connect_timeout);
    }
    if (r.ok()) read_limits(r, root["limits"], c->limits);
    if (r.ok()) read_cache(r, root["cache"], c->cache);
    if (auto rr = root["reasoning_repair"]; r.ok() && r.mapping(rr, "reasoning_repair", {"enabled", "ttl", "max_bytes"})) {
      r.boolean(rr, "enabled", "reasoning_repair", c->reasoning_repair.enabled) &&
          r.duration(rr, "ttl", "reasoning_repair", c->reasoning_repair.ttl) &&
          r.integer<std::size_t>(rr, "max_bytes", "reasoning_repair", c->reasoning_repair.max_bytes, 4096,
                                 std::size_t{1} << 36);
    }
    if (auto rt = root["retries"];
        r.ok() && r.mapping(rt, "retries", {"max_attempts", "budget_percent", "min_budget", "backoff", "max_backoff"})) {
      double percent = c->retries.budget_ratio * 100;
      r.integer<std::uint32_t>(rt, "max_attempts", "retries", c->retries.max_attempts, 1, 10) &&
          r.number(rt, "budget_percent", "retries", percent, 0, 100) &&
          r.integer<std::uint32_t>(rt, "min_budget", "retries", c->retries.min_budget, 0, 1'000'000) &&
          r.duration(rt, "backoff", "retries", c->retries.backoff) &&
          r.duration(rt, "max_backoff", "retries", c->retries.max_backoff);
      c->retries.budget_ratio = percent / 100;
      if (r.ok() && c->retries.max_backoff < c->retries.backoff) r.fail("retries.max_backoff", "must be at least retries.backoff");
    }
    if (r.ok()) read_prices(r, root["prices"], c->prices);
    auto log = root["log"];
    if (r.ok() && r.mapping(log, "log", {"level", "format", "access"})) {
      r.string(log, "level", "log", c->log.level);
      r.string(log, "format", "log", c->log.format);
      auto access = log ? log["access"] : YAML::Node();
      const std::string ap = "log.access";
      r.ok() && r.mapping(access, ap, {"enabled", "path", "prompt_sha256", "flush_interval"}) &&
          r.boolean(access, "enabled", ap, c->log.access.enabled) && r.string(access, "path", ap, c->log.access.path) &&
          r.boolean(access, "prompt_sha256", ap, c->log.access.prompt_sha256) &&
          r.duration(access, "flush_interval", ap, c->log.access.flush_interval);
      if (r.ok() && c->log.access.path.empty()) r.fail("log.access.path", "must be a file or - for stdout");
      if (r.ok() && (c->log.access.flush_interval.count() < 1 || c->log.access.flush_interval > std::chrono::seconds(10)))
        r.fail("log.access.flush_interval", "must be between 1ms and 10s");
    }
  }
  if (r.ok()) validate(r, *c);
  if (!r.ok()) return {nullptr, r.error()};
  return {std::move(c), {}};
}

load_result load_file(const std::string& path, const env_lookup& env) {
  auto text = core::read_file(path);
  if (!text) return {nullptr, path + ": cannot open the file"};
  auto r = load_string(*text, env, path);
  if (!r.config && !r.error.starts_with(path)) r.error = path + ": " + r.error;
  if (r.config) {
    // The key store sits next to the config unless told otherwise.
    auto c = std::const_pointer_cast<gateway_config>(r.config);
    auto dir = std::filesystem::path(path).parent_path();
    if (c->auth.keys_file.empty()) c->auth.keys_file = "deepgate-keys.json";
    if (std::filesystem::path(c->auth.keys_file).is_relative()) c->auth.keys_file = (dir / c->auth.keys_file).string();
  }
  return r;
}

load_result load_defaults(const env_lookup& env) { return load_string(embedded_defaults, env, "defaults"); }

}  // namespace deepgate::config
