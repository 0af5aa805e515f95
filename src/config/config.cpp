#include "deepgate/config/config.hpp"
#include "deepgate/core/strings.hpp"

#include "deepgate/config/duration.hpp"
#include "reader.hpp"
#include "deepgate/core/cidr.hpp"
#include "deepgate/core/url.hpp"

#include <yaml-cpp/yaml.h>

#include <array>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>
#include <utility>
#include <nlohmann/json.hpp>


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
    # What DeepSeek serves and where (api-docs.deepseek.com: FIM and chat prefix completion under
    # /beta, the Anthropic API under /anthropic, the Responses API; no embeddings).
    routes:
      chat: /chat/completions
      chat_beta: /beta/chat/completions
      completions: /beta/completions
      responses: /responses
      messages: /anthropic/v1/messages
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
  cluster: ${DEEPGATE_REDIS_CLUSTER:-false}
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
  section sec(r, n, "server");
  if (auto proxies = sec.child("trusted_proxies"); proxies && !proxies.IsNull()) {
    if (!proxies.IsSequence()) return r.fail(sec.at("trusted_proxies"), "must be a list of addresses or CIDRs");
    for (std::size_t i = 0; i < proxies.size(); ++i) {
      auto where = sec.at("trusted_proxies") + "[" + std::to_string(i) + "]";
      if (!proxies[i].IsScalar() || !core::parse_cidr(proxies[i].Scalar()))
        return r.fail(where, "must be an IPv4/IPv6 address or CIDR such as 10.0.0.0/8");
      s.trusted_proxies.push_back(proxies[i].Scalar());
    }
  }
  section tls(r, sec.child("tls"), sec.at("tls"));
  const bool ok = sec.string("host", s.host) && sec.integer<std::uint16_t>("port", s.port, 0, 65535) &&
                  sec.integer<unsigned>("workers", s.workers, 0, 256) && tls.string("cert_file", s.tls.cert_file) &&
                  tls.string("key_file", s.tls.key_file) &&
                  sec.integer<std::size_t>("max_header_bytes", s.max_header_bytes, 1024, 1 << 20) &&
                  sec.integer<std::size_t>("max_body_bytes", s.max_body_bytes, 1024, std::size_t{1} << 30) &&
                  sec.integer<std::size_t>("max_json_depth", s.max_json_depth, 2, 1024) &&
                  sec.integer<std::size_t>("max_json_values", s.max_json_values, 16, std::size_t{1} << 28) &&
                  sec.integer<std::size_t>("max_connections", s.max_connections, 1, 1u << 22) &&
                  sec.integer<std::size_t>("max_body_bytes_in_flight", s.max_body_bytes_in_flight, 1024, std::size_t{1} << 40) &&
                  sec.integer<std::size_t>("max_requests_in_flight", s.max_requests_in_flight, 1, 1u << 22) &&
                  sec.duration("request_timeout", s.request_timeout) && sec.duration("idle_timeout", s.idle_timeout) &&
                  sec.duration("write_timeout", s.write_timeout) && sec.duration("drain_timeout", s.drain_timeout) &&
                  sec.duration("drain_delay", s.drain_delay);
  if (ok && s.max_body_bytes_in_flight < s.max_body_bytes)
    return r.fail(sec.at("max_body_bytes_in_flight"), "must be at least max_body_bytes (" + std::to_string(s.max_body_bytes) + ")");
  return ok;
}

bool read_backend(reader& r, const YAML::Node& n, const std::string& p, backend_config& b) {
  if (!n.IsMap()) return r.fail(p, "must be a mapping");
  section sec(r, n, p);
  section br(r, sec.child("breaker"), sec.at("breaker"));
  if (!(sec.integer<std::uint32_t>("weight", b.weight, 1, 1'000'000) &&
        br.integer<std::uint32_t>("failures", b.breaker.failures, 0, 1'000'000) && br.duration("cool_down", b.breaker.cool_down) &&
        br.duration("max_cool_down", b.breaker.max_cool_down)))
    return false;
  if (b.breaker.max_cool_down < b.breaker.cool_down)
    return r.fail(br.at("max_cool_down"), "must be at least breaker.cool_down");
  section tls(r, sec.child("tls"), sec.at("tls"));
  std::string url_text, tls_ca, user_id = "client", thinking = "auto";
  if (!(sec.string("name", b.name) && sec.string("url", url_text) && sec.secret("api_key", b.api_key) &&
        sec.string("ca_file", b.ca_file) && tls.string("ca_file", tls_ca) && tls.boolean("verify", b.verify_tls) &&
        sec.duration("connect_timeout", b.connect_timeout) && sec.duration("tls_timeout", b.tls_timeout) &&
        sec.duration("response_header_timeout", b.response_header_timeout) && sec.duration("read_timeout", b.read_timeout) &&
        sec.duration("first_token_timeout", b.first_token_timeout) && sec.duration("stream_timeout", b.stream_timeout) &&
        sec.duration("token_idle_timeout", b.token_idle_timeout) &&
        sec.duration("models_refresh_interval", b.models_refresh_interval) && sec.boolean("stream_usage", b.stream_usage) &&
        sec.integer<std::size_t>("max_connections", b.max_connections, 1, 100000) &&
        sec.integer<std::size_t>("max_response_bytes", b.max_response_bytes, 1024, std::size_t{1} << 32) &&
        sec.integer<std::uint32_t>("max_concurrent_requests", b.max_concurrent_requests, 0, 1'000'000) &&
        sec.integer<std::uint32_t>("queue_size", b.queue_size, 0, 1'000'000) && sec.duration("queue_timeout", b.queue_timeout) &&
        sec.duration("balance_check_interval", b.balance_check_interval) && sec.string("user_id", user_id) &&
        sec.string("thinking_default", thinking)))
    return false;
  if (thinking != "auto" && thinking != "on" && thinking != "off") return r.fail(sec.at("thinking_default"), "must be auto, on or off");
  if (auto routes = sec.child("routes"); routes && !routes.IsNull()) {
    static constexpr std::array<std::string_view, 6> known{"chat", "chat_beta", "embeddings", "completions", "responses",
                                                           "messages"};
    constexpr std::string_view names = "chat, chat_beta, embeddings, completions, responses or messages";
    const auto where = sec.at("routes");
    auto add = [&](const std::string& name, const std::string& path, const std::string& at) {
      if (std::find(known.begin(), known.end(), name) == known.end()) return r.fail(at, "must be one of " + std::string(names));
      if (!path.empty() && (path.front() != '/' || path.find_first_of("?# \t") != std::string::npos))
        return r.fail(at, "must be a path starting with '/', like /beta/completions");
      if (b.declared(name)) return r.fail(at, "names " + name + " twice");
      b.routes.push_back({name, path});
      return true;
    };
    if (routes.IsSequence() && routes.size() > 0) {
      for (std::size_t i = 0; i < routes.size(); ++i)
        if (!add(routes[i].IsScalar() ? routes[i].Scalar() : std::string(), {}, where + "[" + std::to_string(i) + "]"))
          return false;
    } else if (routes.IsMap() && routes.size() > 0) {
      for (const auto& kv : routes) {
        const auto name = kv.first.Scalar();
        if (!kv.second.IsScalar() && !kv.second.IsNull()) return r.fail(where + "." + name, "must be a path");
        if (!add(name, kv.second.IsNull() ? std::string() : kv.second.Scalar(), where + "." + name)) return false;
      }
    } else {
      return r.fail(where, "must list routes, like [chat, embeddings], or map them to paths, like {completions: /beta/completions}");
    }
  }
  if (user_id != "client" && user_id != "owner") return r.fail(sec.at("user_id"), "must be client or owner");
  b.user_id_from_owner = user_id == "owner";
  if (!tls_ca.empty()) b.ca_file = tls_ca;
  if (b.name.empty()) return r.fail(sec.at("name"), "is required");
  if (url_text.empty()) return r.fail(sec.at("url"), "is required");
  std::string err;
  auto u = core::parse_http_url(url_text, err);
  if (!u) return r.fail(sec.at("url"), err);
  b.url = *u;
  b.thinking_by_default = thinking == "on" || (thinking == "auto" && b.url.host == "api.deepseek.com");
  if (!b.ca_file.empty() && !readable(b.ca_file)) return r.fail(tls.at("ca_file"), "cannot read " + b.ca_file);
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
    section entry(r, n[i], tp);
    if (!(entry.string("backend", t.backend) && entry.string("upstream_model", t.upstream_model) &&
          entry.integer<std::uint32_t>("weight", t.weight, 1, 1'000'000)))
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
  section sec(r, n, p);
  if (auto set = sec.child("set"); set && !set.IsNull()) {
    if (!set.IsMap()) return r.fail(p + ".set", "must map request fields to the values they get");
    for (const char* fixed : {"model", "messages", "stream"})
      if (std::as_const(set)[fixed]) return r.fail(p + ".set." + fixed, "cannot be set (the model's name is upstream_model)");
    try {
      m.set_fields = yaml_to_json(set).dump();
    } catch (const nlohmann::json::exception&) {  // found by fuzz/config_load: bytes that are not UTF-8
      return r.fail(p + ".set", "must be valid UTF-8 text");
    }
  }
  std::string balance = "weighted";
  if (!(sec.string("name", m.name) && sec.string("backend", m.backend) && sec.string("upstream_model", m.upstream_model) &&
        sec.string("balance", balance) && read_targets(r, sec.child("backends"), sec.at("backends"), m.targets) &&
        read_targets(r, sec.child("fallback"), sec.at("fallback"), m.fallback)))
    return false;
  if (auto aliases = sec.child("aliases"); aliases && !aliases.IsNull()) {
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
  section sec(r, n, "auth");
  std::string mode = "keys", store = "file";
  if (!sec.string("mode", mode) || !sec.string("store", store) || !sec.string("keys_file", a.keys_file) ||
      !sec.duration("sync_interval", a.sync_interval))
    return false;
  if (mode != "keys" && mode != "none") return r.fail("auth.mode", "must be keys or none");
  if (store != "file" && store != "redis") return r.fail("auth.store", "must be file or redis");
  a.enabled = mode == "keys";
  a.redis_store = store == "redis";
  auto keys = sec.child("keys");
  if (!keys || keys.IsNull()) return true;
  if (!keys.IsSequence()) return r.fail("auth.keys", "must be a list");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto p = "auth.keys[" + std::to_string(i) + "]";
    auto k = keys[i];
    if (!k.IsMap()) return r.fail(p, "must be a mapping");
    section entry(r, k, p);
    config_key ck;
    std::string value;
    if (!entry.string("id", ck.id) || !entry.string("owner", ck.owner) || !entry.secret("key", value) ||
        !entry.string("limits", ck.limits))
      return false;
    if (ck.owner.empty()) return r.fail(p + ".owner", "is required");
    if (value.size() < 16) return r.fail(p + ".key", "is required and must be at least 16 characters");
    ck.sha256 = core::sha256(value);
    if (ck.id.empty()) ck.id = "cfg_" + core::to_hex(ck.sha256).substr(0, 12);
    if (auto models = entry.child("models"); models && !models.IsNull()) {
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
    auto u = core::parse_redis_url(c.redis.url, err);
    if (!u) return r.fail("redis.url", err);
    if (c.redis.cluster && u->db != 0) return r.fail("redis.url", "a Redis Cluster has only database 0 (redis.cluster is true)");
  }
  if (c.redis.cluster && c.redis.url.empty()) return r.fail("redis.url", "is required when redis.cluster is true");
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
  if (root) {
    section top(r, root, "");
    c->serve_discovered = !root["models"] || root["models"].IsNull();
    top.boolean("serve_discovered", c->serve_discovered);
    read_server(r, top.child("server"), c->server);
    if (auto backends = top.child("backends"); r.ok() && backends && !backends.IsNull()) {
      if (!backends.IsSequence()) r.fail("backends", "must be a list");
      for (std::size_t i = 0; r.ok() && i < backends.size(); ++i)
        read_backend(r, backends[i], "backends[" + std::to_string(i) + "]", c->backends.emplace_back());
    }
    if (auto models = top.child("models"); r.ok() && models && !models.IsNull()) {
      if (!models.IsSequence()) r.fail("models", "must be a list");
      for (std::size_t i = 0; r.ok() && i < models.size(); ++i)
        read_model(r, models[i], "models[" + std::to_string(i) + "]", c->models.emplace_back());
    }
    if (r.ok()) read_auth(r, top.child("auth"), c->auth);
    if (r.ok()) {
      section admin(r, top.child("admin"), "admin");
      admin.boolean("enabled", c->admin.enabled) && admin.string("host", c->admin.host) &&
          admin.boolean("metrics_require_token", c->admin.metrics_require_token) &&
          admin.integer<std::uint16_t>("port", c->admin.port, 0, 65535) && admin.secret("token", c->admin.token);
      if (r.ok() && !c->admin.token.empty() && c->admin.token.size() < 16)
        r.fail("admin.token", "must be at least 16 characters");
      if (r.ok() && c->admin.metrics_require_token && c->admin.token.empty())
        r.fail("admin.metrics_require_token", "needs admin.token");
    }
    if (r.ok()) {
      section metrics(r, top.child("metrics"), "metrics");
      metrics.boolean("enabled", c->metrics.enabled) &&
          metrics.integer<std::size_t>("max_owner_labels", c->metrics.max_owner_labels, 0, 100'000);
    }
    if (r.ok()) {
      section redis(r, top.child("redis"), "redis");
      redis.secret("url", c->redis.url) && redis.string("ca_file", c->redis.ca_file) &&
          redis.duration("command_timeout", c->redis.command_timeout) &&
          redis.duration("connect_timeout", c->redis.connect_timeout) && redis.boolean("cluster", c->redis.cluster);
    }
    if (r.ok()) read_limits(r, top.child("limits"), c->limits);
    if (r.ok()) {
      section us(r, top.child("usage"), "usage");
      std::chrono::milliseconds retention = c->usage.retention;
      if (us.boolean("enabled", c->usage.enabled) && us.duration("retention", retention) &&
          us.duration("flush_interval", c->usage.flush_interval) &&
          us.integer<std::uint32_t>("max_days", c->usage.max_days, 1, 3660)) {
        if (retention < std::chrono::hours(24)) r.fail("usage.retention", "must be at least 1d");
        else if (c->usage.flush_interval < std::chrono::milliseconds(10) || c->usage.flush_interval > std::chrono::minutes(1))
          r.fail("usage.flush_interval", "must be between 10ms and 1m");
        c->usage.retention = std::chrono::duration_cast<std::chrono::seconds>(retention);
      }
    }
    if (r.ok()) read_cache(r, top.child("cache"), c->cache);
    if (r.ok()) {
      section rr(r, top.child("reasoning_repair"), "reasoning_repair");
      rr.boolean("enabled", c->reasoning_repair.enabled) && rr.duration("ttl", c->reasoning_repair.ttl) &&
          rr.integer<std::size_t>("max_bytes", c->reasoning_repair.max_bytes, 4096, std::size_t{1} << 36);
    }
    if (r.ok()) {
      section rt(r, top.child("retries"), "retries");
      double percent = c->retries.budget_ratio * 100;
      rt.integer<std::uint32_t>("max_attempts", c->retries.max_attempts, 1, 10) &&
          rt.number("budget_percent", percent, 0, 100) &&
          rt.integer<std::uint32_t>("min_budget", c->retries.min_budget, 0, 1'000'000) &&
          rt.duration("backoff", c->retries.backoff) && rt.duration("max_backoff", c->retries.max_backoff);
      c->retries.budget_ratio = percent / 100;
      if (r.ok() && c->retries.max_backoff < c->retries.backoff) r.fail("retries.max_backoff", "must be at least retries.backoff");
    }
    if (r.ok()) read_prices(r, top.child("prices"), c->prices);
    if (r.ok()) {
      section log(r, top.child("log"), "log");
      log.string("level", c->log.level) && log.string("format", c->log.format);
      section access(r, log.child("access"), "log.access");
      access.boolean("enabled", c->log.access.enabled) && access.string("path", c->log.access.path) &&
          access.boolean("prompt_sha256", c->log.access.prompt_sha256) &&
          access.duration("flush_interval", c->log.access.flush_interval);
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
