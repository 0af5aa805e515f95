#include "deepgate/api/admin.hpp"
#include "deepgate/api/usage.hpp"
#include "deepgate/core/strings.hpp"

#include "deepgate/auth/key_admin.hpp"
#include "deepgate/redis/connection.hpp"

#include <boost/asio/this_coro.hpp>
#include "deepgate/auth/key_loader.hpp"
#include "deepgate/auth/keys_file.hpp"
#include "deepgate/auth/redis_key_store.hpp"
#include "deepgate/config/duration.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace deepgate::api {

using json = nlohmann::json;

struct admin_state {
  gateway_services* services = nullptr;
  core::digest token{};
  bool has_token = false;
  redis::options redis_options;
  std::unique_ptr<redis::connection> redis;  // the admin listener's own connection, made on first use
};

namespace {

http::response json_response(unsigned status, std::string body) {
  return http::response{status, "application/json", {}, std::move(body)};
}

http::response error(unsigned status, std::string message, std::string code) {
  auto e = status >= 500 ? http::server_error(status, std::move(message), std::move(code))
                         : http::invalid_request(std::move(message), {}, std::move(code), status);
  return http::error_response(e);
}

json public_record(const auth::client_key& k, const std::string& value = {}) {
  return json::parse(auth::record_json(k, value));
}

// Loads every record from the configured store; nullopt when it cannot be read.
// The admin listener's one worker makes the connection, so it lives on that worker's executor.
boost::asio::awaitable<redis::connection*> redis_of(admin_state& s) {
  if (!s.redis) {
    auto ex = co_await boost::asio::this_coro::executor;
    s.redis = std::make_unique<redis::connection>(ex, s.redis_options);
  }
  co_return s.redis.get();
}

boost::asio::awaitable<std::optional<std::vector<auth::client_key>>> load(admin_state& s) {
  const auto snap = s.services->snapshots.latest();
  const auto& cfg = *snap->config;
  if (cfg.auth.redis_store) {
    auto* redis = co_await redis_of(s);
    co_return co_await auth::redis_store::load_all(*redis);
  }
  auto r = auth::read_keys_file(cfg.auth.keys_file);
  if (!r.error.empty()) co_return std::nullopt;
  co_return std::move(r.keys);
}

// Saves; this replica sees the change at once (other replicas: file watch or Redis sync).
boost::asio::awaitable<bool> save(admin_state& s, std::vector<auth::client_key> all, std::vector<auth::client_key> changed) {
  const auto snap = s.services->snapshots.latest();
  const auto& cfg = *snap->config;
  if (cfg.auth.redis_store) {
    auto* redis = co_await redis_of(s);
    bool ok = co_await auth::redis_store::put(*redis, std::move(changed));
    if (ok) s.services->auth->replace(auth::make_key_table(std::move(all), cfg.auth));
    co_return ok;
  }
  if (!auth::write_keys_file(cfg.auth.keys_file, all).empty()) co_return false;
  s.services->auth->replace(auth::make_key_table(std::move(all), cfg.auth));
  co_return true;
}

bool token_ok(const admin_state& s, const http::request& req) {
  auto presented = auth::presented_key(req.headers);
  return s.has_token && !presented.empty() && core::constant_time_equal(core::sha256(presented), s.token);
}

http::response bad_token() {
  return error(401, "A valid admin token is required (Authorization: Bearer <admin token>).", "invalid_admin_token");
}

// GET /metrics: the Prometheus text format (version 0.0.4).
http::response metrics_page(admin_state& s, const http::request& req) {
  auto& svc = *s.services;
  if (!svc.metrics) return error(404, "Metrics are off (metrics.enabled: false).", "unknown_url");
  if (req.method != "GET" && req.method != "HEAD") return error(405, "Use GET.", "method_not_allowed");
  const auto snap = svc.snapshots.latest();
  if (snap->config->admin.metrics_need_token() && !token_ok(s, req)) return bad_token();
  if (svc.limits) svc.metrics->limits_fail_open(svc.limits->failing_open());
  for (const auto& b : snap->backends)
    if (b->label >= 0) {
      svc.metrics->breaker_state(static_cast<std::size_t>(b->label),
                                 static_cast<int>(b->state.health.current(upstream::breaker::clock::now())));
      if (b->settings.url.tls) {
        std::uint64_t full = 0, resumed = 0;
        for (const auto& pool : b->pools) {
          auto [f, r] = pool->tls_handshakes();
          full += f;
          resumed += r;
        }
        svc.metrics->tls_handshakes(static_cast<std::size_t>(b->label), full, resumed);
      }
    }
  if (svc.cache)
    svc.metrics->cache_state({svc.cache->bytes(), svc.cache->entries(), svc.cache->evictions(), svc.cache->stored(),
                              svc.cache->not_stored()});
  auto text = svc.metrics->render(svc.open_connections ? svc.open_connections() : 0,
                                  svc.body_bytes_in_flight ? svc.body_bytes_in_flight() : 0,
                                  svc.access_log ? svc.access_log->dropped() : 0);
  return http::response{200, "text/plain; version=0.0.4; charset=utf-8", {}, std::move(text)};
}

boost::asio::awaitable<http::response> handle(admin_state& s, const http::request& req) {
  if (req.path == "/metrics") co_return metrics_page(s, req);
  if (req.path == "/admin/usage") {
    if (!s.has_token)
      co_return error(404, "The admin API is off: set admin.token (or DEEPGATE_ADMIN_TOKEN) to turn it on.", "admin_api_off");
    if (!token_ok(s, req)) co_return bad_token();
    if (req.method != "GET" && req.method != "HEAD") co_return error(405, "Use GET.", "method_not_allowed");
    redis::connection* conn = nullptr;
    if (s.services->usage && s.services->usage->shared()) conn = co_await redis_of(s);
    co_return co_await admin_usage(*s.services, req, conn);
  }
  if (!req.path.starts_with("/admin/keys")) co_return error(404, "Unknown admin URL: " + req.path, "unknown_url");
  if (!s.has_token)
    co_return error(404, "The key admin API is off: set admin.token (or DEEPGATE_ADMIN_TOKEN) to turn it on.",
                    "admin_api_off");
  if (!token_ok(s, req)) co_return bad_token();

  auto keys = co_await load(s);
  if (!keys) co_return error(503, "The key store cannot be read right now.", "store_unavailable");
  std::string_view rest = std::string_view(req.path).substr(std::string_view("/admin/keys").size());

  if (rest.empty() || rest == "/") {
    if (req.method == "GET") {
      auto data = json::array();
      for (auto& k : *keys) data.push_back(public_record(k));
      co_return json_response(200, json{{"object", "list"}, {"data", data}}.dump());
    }
    if (req.method != "POST") co_return error(405, "Use GET or POST.", "method_not_allowed");
    auto body = json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
    if (!body.is_object() || !body.contains("owner") || !body["owner"].is_string() || body["owner"].get<std::string>().empty())
      co_return error(400, "A JSON body with a non-empty \"owner\" is required.", "invalid_request");
    auth::create_params p;
    p.owner = body["owner"].get<std::string>();
    if (auto m = body.find("models"); m != body.end() && m->is_array())
      for (auto& x : *m)
        if (x.is_string()) p.models.push_back(x.get<std::string>());
    if (auto e = body.find("expires_in"); e != body.end() && e->is_string()) {
      auto d = config::parse_duration(e->get<std::string>());
      if (!d) co_return error(400, "\"expires_in\" takes a duration such as 30d or 12h.", "invalid_request");
      p.expires_in = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    if (auto l = body.find("limits"); l != body.end() && !l->is_null()) {
      if (!l->is_string() || !s.services->snapshots.latest()->config->limits.profiles.contains(l->get<std::string>()))
        co_return error(400, "\"limits\" must name a profile under limits.profiles in the config.", "invalid_request");
      p.limits = l->get<std::string>();
    }
    if (auto md = body.find("metadata"); md != body.end() && md->is_object())
      for (auto it = md->begin(); it != md->end(); ++it)
        if (it->is_string()) p.metadata[it.key()] = it->get<std::string>();
    auto made = auth::create_key(p, core::unix_seconds());
    keys->push_back(made.record);
    std::vector<auth::client_key> changed{made.record};
    if (!co_await save(s, std::move(*keys), std::move(changed)))
      co_return error(503, "The key store cannot be written right now.", "store_unavailable");
    spdlog::info("admin: created key {} for owner {}", made.record.id, made.record.owner);
    co_return json_response(201, public_record(made.record, made.value).dump());
  }

  // /{id}[/revoke|/rotate]
  rest.remove_prefix(1);
  auto slash = rest.find('/');
  std::string id(rest.substr(0, slash));
  std::string action(slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1));
  auto it = std::find_if(keys->begin(), keys->end(), [&](auto& k) { return k.id == id; });
  if (it == keys->end()) co_return error(404, "No key with id " + id + ".", "key_not_found");
  if (action.empty()) {
    if (req.method != "GET") co_return error(405, "Use GET.", "method_not_allowed");
    co_return json_response(200, public_record(*it).dump());
  }
  if (req.method != "POST") co_return error(405, "Use POST.", "method_not_allowed");
  if (action == "revoke") {
    auth::revoke_key(*it);
    auto record = *it;
    std::vector<auth::client_key> changed{record};
    if (!co_await save(s, std::move(*keys), std::move(changed)))
      co_return error(503, "The key store cannot be written right now.", "store_unavailable");
    spdlog::info("admin: revoked key {}", record.id);
    co_return json_response(200, public_record(record).dump());
  }
  if (action == "rotate") {
    auto body = json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
    std::string grace = "24h";
    if (body.is_object() && body.contains("grace") && body["grace"].is_string()) grace = body["grace"].get<std::string>();
    auto g = config::parse_duration(grace);
    if (!g) co_return error(400, "\"grace\" takes a duration such as 24h.", "invalid_request");
    auto made = auth::rotate_key(*it, std::chrono::duration_cast<std::chrono::seconds>(*g), core::unix_seconds());
    std::vector<auth::client_key> changed{*it, made.record};
    keys->push_back(made.record);
    if (!co_await save(s, std::move(*keys), std::move(changed)))
      co_return error(503, "The key store cannot be written right now.", "store_unavailable");
    spdlog::info("admin: rotated key {} into {}", id, made.record.id);
    co_return json_response(201, public_record(made.record, made.value).dump());
  }
  co_return error(404, "Unknown admin URL: " + req.path, "unknown_url");
}

boost::asio::awaitable<void> serve(std::shared_ptr<admin_state> s, http::request& req, http::response_writer& out) {
  auto res = co_await handle(*s, req);
  co_await out.send(std::move(res));
}

}  // namespace

admin_api::admin_api(gateway_services& services) : state_(std::make_shared<admin_state>()) {
  state_->services = &services;
  state_->token = core::sha256(services.snapshots.latest()->config->admin.token);
  state_->has_token = services.snapshots.latest()->config->admin.keys_api();
  state_->redis_options = redis::options_from(services.snapshots.latest()->config->redis, "redis (admin)");
  state_->redis_options.command_timeout = std::max(state_->redis_options.command_timeout, std::chrono::milliseconds(1000));
  if (auto* m = services.metrics.get()) state_->redis_options.on_error = [m] { m->redis_error(observability::redis_client::admin); };
}

// Runs after the admin server stopped but before its io_context is destroyed; the handler (and
// with it `state_`) lives on inside the server until then, so the Redis connection, whose timers
// belong to that io_context, must go now.
admin_api::~admin_api() {
  if (state_->redis) state_->redis->close();
  state_->redis.reset();
}

http::handler admin_api::handler() {
  return [s = state_](http::request& req, http::response_writer& out) { return serve(s, req, out); };
}

}  // namespace deepgate::api
