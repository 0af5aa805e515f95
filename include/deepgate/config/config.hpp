#pragma once
// The gateway's configuration: a tree of plain structs with documented defaults, parsed from
// one YAML file (or the embedded defaults plus the environment), validated once, then shared
// read-only as std::shared_ptr<const gateway_config>. Every key is documented in
// config/deepgate.example.yaml; unknown keys are rejected with their path.
#include "deepgate/config/breaker_config.hpp"
#include "deepgate/config/cache_config.hpp"
#include "deepgate/config/env_expand.hpp"
#include "deepgate/config/limits_config.hpp"
#include "deepgate/core/digest.hpp"
#include "deepgate/core/url.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::config {

using std::chrono::milliseconds;

struct tls_files {
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !cert_file.empty(); }

  bool operator==(const tls_files&) const = default;
};

struct server_config {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8080;
  unsigned workers = 0;  // 0: one per core
  tls_files tls;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  std::size_t max_json_depth = 64;
  // JSON values (objects, arrays, scalars) in one body, counted by a pre-pass before any parse:
  // "[{},{},...]" would otherwise cost ~70 bytes of DOM per 3 bytes sent.
  std::size_t max_json_values = 200'000;
  std::size_t max_connections = 16'384;                  // per worker; beyond: 503 and close
  std::size_t max_body_bytes_in_flight = 256u << 20;     // request bodies held at once, all workers; beyond: 503
  // Model requests (chat, embeddings, completions, responses, messages) one worker handles at
  // once; beyond: 503 server_overloaded + Retry-After at once. Health checks, /v1/models and the
  // admin listener are not counted, so they answer whatever the load.
  std::size_t max_requests_in_flight = 4096;
  milliseconds request_timeout{30'000};  // reading one whole request
  milliseconds idle_timeout{75'000};     // keep-alive wait for the next request
  milliseconds write_timeout{60'000};    // one write to a slow client
  milliseconds drain_timeout{30'000};    // SIGTERM: how long in-flight work may finish
  milliseconds drain_delay{0};           // SIGTERM: readiness fails this long before closing
  // Peers (CIDRs) whose X-Forwarded-For is believed for the client address in the access log.
  std::vector<std::string> trusted_proxies;

  bool operator==(const server_config&) const = default;
};

struct backend_config {
  std::string name;
  core::http_url url;
  std::string api_key;  // secret: never logged, never rendered
  std::string ca_file;  // empty: the system CA store
  bool verify_tls = true;
  milliseconds connect_timeout{5'000};
  milliseconds tls_timeout{5'000};
  milliseconds response_header_timeout{60'000};
  milliseconds read_timeout{300'000};  // idle time between body bytes (keep-alives count)
  // From the response head to the first real byte (a data event; a non-blank JSON byte):
  // DeepSeek's keep-alives and blank lines while it queues a request do not count. Generous by
  // default, since DeepSeek may queue for up to 10 minutes.
  milliseconds first_token_timeout{600'000};
  milliseconds stream_timeout{1'800'000};  // a whole response, from forwarding to its last byte; 0: none
  // After the first token: the longest gap between real events (keep-alive comments do not
  // count), so a stream that stalls mid-answer ends with an error event instead of lasting until
  // stream_timeout. 0: none.
  milliseconds token_idle_timeout{180'000};
  std::size_t max_connections = 512;   // per worker
  std::size_t max_response_bytes = 32 * 1024 * 1024;
  // The backend's own concurrency budget (DeepSeek limits concurrency per account, whatever the
  // key): requests beyond it wait in a bounded queue, then get 429. 0: unlimited.
  std::uint32_t max_concurrent_requests = 0;
  std::uint32_t queue_size = 256;
  milliseconds queue_timeout{30'000};
  // DeepSeek's GET /user/balance into a gauge this often; 0: off.
  milliseconds balance_check_interval{0};
  std::uint32_t weight = 1;  // share of a model's traffic among its balanced backends
  // Quirk: the gateway adds stream_options.include_usage to streams the client did not ask usage
  // for (the token limits and metrics want it). Some OpenAI-compatible servers refuse that field
  // (422 "extra inputs are not permitted"): false leaves it out, and such a stream's tokens are
  // estimated. A client's own include_usage is always passed on.
  bool stream_usage = true;
  // DeepSeek isolates KV cache, scheduling and content-safety attribution by a top-level
  // `user_id` (api-docs.deepseek.com, Rate Limit & Isolation). true: every request to this backend
  // carries a stable digest of the key owner there, replacing whatever the client sent.
  bool user_id_from_owner = false;
  // Whether a request that does not say ({"thinking":{"type":...}}) is answered in thinking mode,
  // where temperature is ignored (DeepSeek's V4 models: on). thinking_default: auto (on for
  // api.deepseek.com, off elsewhere), on or off; resolved at load.
  bool thinking_by_default = false;
  // GET /models on this backend at start and then this often: its models and their metadata
  // (api-docs.deepseek.com/api/list-models; vLLM, Ollama, llama.cpp server and TGI serve it too).
  // A failed read keeps the last list. 0: never read.
  milliseconds models_refresh_interval{600'000};
  breaker_settings breaker;
  // The API routes this backend serves (chat, embeddings, completions, responses, messages) and,
  // where it says, under which path of its URL; empty: all of them at their usual paths. A
  // request on a route is never sent to a backend that does not serve it (DeepSeek has no
  // embeddings). `chat_beta` is not a route but where chat requests that need a beta endpoint go
  // (DeepSeek's /beta/chat/completions for prefix completion and strict tools).
  struct route_path {
    std::string name;
    std::string path;  // empty: the route's usual one
    bool operator==(const route_path&) const = default;
  };
  std::vector<route_path> routes;
  bool serves(std::string_view route) const { return routes.empty() || declared(route); }
  bool declared(std::string_view route) const {
    return std::any_of(routes.begin(), routes.end(), [&](const route_path& r) { return r.name == route; });
  }
  // The path declared for `route`; empty when none is (use the route's usual one).
  std::string_view path_for(std::string_view route) const {
    for (const auto& r : routes)
      if (r.name == route) return r.path;
    return {};
  }

  bool operator==(const backend_config&) const = default;
};

// One backend a model can be served by, with the model's name there.
struct model_target {
  std::string backend;
  std::string upstream_model;  // default: the model's upstream_model, else its name
  std::uint32_t weight = 0;    // 0: the backend's weight
  std::size_t backend_index = 0;  // resolved at load
  bool operator==(const model_target&) const = default;
};

struct model_config {
  std::string name;                  // client-facing
  std::vector<std::string> aliases;  // further client-facing names
  // The primary target (the first of `targets`): what prices, the cache key and the metrics'
  // backend label for a request that never reached a backend refer to.
  std::string backend;
  std::string upstream_model;        // name sent to the backend (default: `name`)
  std::size_t backend_index = 0;     // resolved at load
  // `backend:` alone is one target; `backends:` lists several, balanced by `balance`; `fallback:`
  // is tried in order once they are unavailable or have failed.
  std::vector<model_target> targets;
  std::vector<model_target> fallback;
  enum class balance_mode : std::uint8_t { weighted, least_in_flight } balance = balance_mode::weighted;
  // `set:` request fields the operator fixes for this name, as a JSON object merged over the
  // client's request (RFC 7386: the operator's value wins, null removes a field), e.g. the
  // legacy deepseek-chat as deepseek-flash with {"thinking":{"type":"disabled"}}. Empty: none.
  std::string set_fields;
  // Learned from the backend's GET /models rather than configured (see serve_discovered), and
  // what the backend says of it beyond its id (context length, output limit, modalities, ...) as a
  // JSON object, shown by /v1/models. Both empty for a configured model the backend does not list.
  bool discovered = false;
  std::string metadata;
};

// The opt-in reasoning_content repair for tool calls in DeepSeek's thinking mode
// (api/reasoning_repair.hpp).
struct reasoning_repair_config {
  bool enabled = false;
  milliseconds ttl{900'000};  // how long an answer's reasoning is kept for its tool results
  std::size_t max_bytes = 16 * 1024 * 1024;
};

// Retries of a request that failed before any byte reached the client (upstream/retry.hpp).
struct retry_config {
  std::uint32_t max_attempts = 3;  // including the first; 1: never retry
  double budget_ratio = 0.2;       // retries in progress at most this share of requests in flight...
  std::uint32_t min_budget = 3;    // ...or this many, whichever is more
  milliseconds backoff{50};        // before the second attempt; doubles, with jitter, up to:
  milliseconds max_backoff{1'000};
};

// A key given in the config (inline, ${ENV} or key_file); only its digest is kept.
struct config_key {
  std::string id;
  std::string owner;
  core::digest sha256{};
  std::vector<std::string> models;
  std::string limits;  // profile name
};

struct auth_config {
  bool enabled = true;        // mode: keys (default) or none (local experiments only)
  bool redis_store = false;   // store: file (default) or redis (shared by replicas)
  milliseconds sync_interval{1'000};  // redis store: how often replicas check for changes
  std::string keys_file;      // the embedded key store; relative paths resolve against the config's directory
  std::vector<config_key> keys;
};

// The admin listener: /metrics, and key management when a token is configured.
struct admin_config {
  bool enabled = true;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8081;  // 0 picks a free port
  std::string token;          // secret; empty: /admin/keys is off
  bool metrics_require_token = false;  // /metrics needs "Authorization: Bearer <token>" too
  bool keys_api() const { return !token.empty(); }
  // Off loopback (a container's 0.0.0.0, a pod IP) /metrics lists owners and spend to whoever
  // reaches the port, so it needs the token whatever metrics_require_token says.
  bool on_loopback() const;
  bool metrics_need_token() const { return metrics_require_token || !on_loopback(); }

  bool operator==(const admin_config&) const = default;
};

struct metrics_config {
  bool enabled = true;
  std::size_t max_owner_labels = 1000;  // key owners with their own label value; the rest are "other"

  bool operator==(const metrics_config&) const = default;
};

// The Redis server shared by replicas (the key store, limits, the prompt cache).
struct redis_config {
  std::string url;  // redis://[[user]:password@]host[:port][/db] or rediss://...; secret (may hold a password)
  std::string ca_file;
  milliseconds command_timeout{100};
  milliseconds connect_timeout{1'000};
  bool cluster = false;  // the URL is one node of a Redis Cluster (cloud "cluster mode")

  bool operator==(const redis_config&) const = default;
};

// One JSON line per request, written by a background thread (never blocks an event loop).
struct access_log_config {
  bool enabled = true;
  std::string path = "-";      // "-": stdout (application logs go to stderr)
  bool prompt_sha256 = false;  // a digest of the messages, to correlate identical prompts
  // Lines are batched per worker and handed to the writer at 32 KiB or this often, whichever
  // comes first: the most a line waits before it is written.
  std::chrono::milliseconds flush_interval{250};

  bool operator==(const access_log_config&) const = default;
};

struct log_config {
  std::string level = "info";  // trace, debug, info, warn, error, off
  std::string format = "text"; // text or json
  access_log_config access;

  bool operator==(const log_config&) const = default;
};

struct gateway_config {
  server_config server;
  std::vector<backend_config> backends;
  std::vector<model_config> models;
  auth_config auth;
  admin_config admin;
  redis_config redis;
  retry_config retries;
  reasoning_repair_config reasoning_repair;
  limits_config limits;
  usage_config usage;
  cache_config cache;
  price_table prices;
  // Serve every model a backend lists under its own name, beside the configured ones (a
  // configured name wins). Default: on when the file has no models: section.
  bool serve_discovered = false;
  metrics_config metrics;
  log_config log;
  std::string origin;  // the file it came from, or "defaults"

  // Looks a client-facing name (or alias) up; nullptr when unknown.
  const model_config* find_model(std::string_view name) const;
};

struct load_result {
  std::shared_ptr<const gateway_config> config;
  std::string error;  // "<path>: <what is wrong>" when config is null
};

load_result load_file(const std::string& path, const env_lookup& env);
load_result load_string(std::string_view yaml, const env_lookup& env, std::string origin);
// The embedded defaults: DeepSeek from the environment alone (PORT, DEEPSEEK_API_KEY, ...).
load_result load_defaults(const env_lookup& env);

}  // namespace deepgate::config
