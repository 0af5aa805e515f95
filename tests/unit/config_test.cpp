#include "deepgate/config/config.hpp"
#include "deepgate/config/reload.hpp"
#include "deepgate/config/duration.hpp"
#include "deepgate/config/env_expand.hpp"
#include "deepgate/core/url.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

using namespace deepgate::config;

namespace {
env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const char* minimal = R"(
backends:
  - name: local
    url: http://127.0.0.1:9000/v1
models:
  - name: deepseek-chat
    backend: local
)";
}  // namespace

TEST(duration, parses_units) {
  EXPECT_EQ(parse_duration("250ms")->count(), 250);
  EXPECT_EQ(parse_duration("30s")->count(), 30'000);
  EXPECT_EQ(parse_duration("5m")->count(), 300'000);
  EXPECT_EQ(parse_duration("2d")->count(), 172'800'000);
  EXPECT_EQ(parse_duration("1.5")->count(), 1'500);
  EXPECT_FALSE(parse_duration("5 minutes"));
  EXPECT_FALSE(parse_duration("-1s"));
}

TEST(env_expand, expands_defaults_and_reports_missing) {
  auto env = env_of({{"A", "x"}, {"EMPTY", ""}});
  EXPECT_EQ(expand_env("${A}-${B:-dflt}-$$", env).value, "x-dflt-$");
  EXPECT_EQ(expand_env("${EMPTY:-fallback}", env).value, "fallback");
  EXPECT_EQ(expand_env("${EMPTY}", env).value, "");
  auto r = expand_env("key ${MISSING}", env);
  EXPECT_NE(r.error.find("MISSING"), std::string::npos);
  EXPECT_FALSE(expand_env("${A", env).error.empty());
}

TEST(url, parses_backends) {
  std::string err;
  auto u = deepgate::core::parse_http_url("https://api.deepseek.com", err);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path("/chat/completions"), "/chat/completions");
  EXPECT_EQ(u->host_header(), "api.deepseek.com");
  u = deepgate::core::parse_http_url("http://vllm:8000/v1/", err);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path("/chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(u->host_header(), "vllm:8000");
  u = deepgate::core::parse_http_url("http://[::1]:81", err);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->host_header(), "[::1]:81");
  EXPECT_FALSE(deepgate::core::parse_http_url("ftp://x", err));
  EXPECT_FALSE(deepgate::core::parse_http_url("http://user:pw@x", err));
  EXPECT_FALSE(deepgate::core::parse_http_url("http://x:99999", err));
  EXPECT_FALSE(deepgate::core::parse_http_url("http://x:", err));
  EXPECT_FALSE(deepgate::core::parse_http_url("http://::1:81", err));  // IPv6 needs brackets
  EXPECT_NE(err.find("brackets"), std::string::npos) << err;
  EXPECT_FALSE(deepgate::core::parse_http_url("http://[::1]x", err));
}

// Redis URLs follow the same host and port rules as backend URLs (one parser; there were two,
// and the Redis one took "[::1]x" and "::1" as hosts).
TEST(url, parses_redis_addresses_by_the_same_host_rules) {
  using deepgate::core::parse_redis_url;
  std::string err;
  auto u = parse_redis_url("rediss://app:s3cret@[2001:db8::7]:6380/3", err);
  ASSERT_TRUE(u) << err;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "2001:db8::7");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->user, "app");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->db, 3);
  u = parse_redis_url("redis://:only-password@h:1", err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->password, "only-password");
  EXPECT_TRUE(u->user.empty());
  u = parse_redis_url("redis://bare-password@h", err);  // as some providers write it
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->password, "bare-password");
  EXPECT_FALSE(u->tls);
  u = parse_redis_url("redis://[::1]", err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 6379);
  u = parse_redis_url("redis://", err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->host, "127.0.0.1");
  for (auto bad : {"redis://::1", "redis://[::1]x", "redis://[::1", "redis://h:0", "redis://h:", "redis://h/x", "http://h"}) {
    EXPECT_FALSE(parse_redis_url(bad, err)) << bad;
    EXPECT_EQ(err.find("s3cret"), std::string::npos);
  }
}

TEST(config, defaults_work_from_the_environment_alone) {
  auto r = load_defaults(env_of({{"PORT", "9999"}, {"DEEPSEEK_API_KEY", "sk-test"}}));
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->server.port, 9999);
  ASSERT_EQ(r.config->backends.size(), 1u);
  EXPECT_EQ(r.config->backends[0].api_key, "sk-test");
  EXPECT_EQ(r.config->backends[0].url.host, "api.deepseek.com");
  EXPECT_TRUE(r.config->find_model("deepseek-reasoner"));
  auto over = load_defaults(env_of({{"DEEPGATE_UPSTREAM_URL", "http://127.0.0.1:1234"}}));
  ASSERT_TRUE(over.config) << over.error;
  EXPECT_EQ(over.config->backends[0].url.port, 1234);
  EXPECT_EQ(over.config->server.port, 8080);
  // Issue 22 (F9): with no config file one owner cannot hold every event loop at once.
  EXPECT_EQ(r.config->limits.defaults.values.concurrent_requests, 64u);
  auto more = load_defaults(env_of({{"DEEPGATE_MAX_CONCURRENT_PER_OWNER", "0"}}));
  ASSERT_TRUE(more.config) << more.error;
  EXPECT_EQ(more.config->limits.defaults.values.concurrent_requests, 0u);
}

TEST(config, server_caps_have_defaults_and_bounds) {
  auto r = load_string(minimal, env_of({}), "t");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->server.max_json_values, 200'000u);
  EXPECT_EQ(r.config->server.max_connections, 16'384u);
  EXPECT_EQ(r.config->server.max_body_bytes_in_flight, 256u << 20);
  auto small = load_string(std::string(minimal) + "server:\n  max_body_bytes_in_flight: 4096\n", env_of({}), "t");
  EXPECT_FALSE(small.config);
  EXPECT_NE(small.error.find("server.max_body_bytes_in_flight"), std::string::npos) << small.error;
}

TEST(config, metrics_need_the_token_off_loopback) {
  deepgate::config::admin_config a;
  EXPECT_FALSE(a.metrics_need_token());  // 127.0.0.1
  for (const char* host : {"0.0.0.0", "10.0.0.5", "::"}) {
    a.host = host;
    EXPECT_TRUE(a.metrics_need_token()) << host;
  }
  for (const char* host : {"localhost", "::1", "127.0.0.2"}) {
    a.host = host;
    EXPECT_FALSE(a.metrics_need_token()) << host;
  }
}

TEST(config, minimal_file_gets_documented_defaults) {
  auto r = load_string(minimal, env_of({}), "t");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->server.max_body_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(r.config->server.max_header_bytes, 16u * 1024);
  EXPECT_EQ(r.config->models[0].upstream_model, "deepseek-chat");
  EXPECT_EQ(r.config->models[0].backend_index, 0u);
}

TEST(config, unknown_keys_are_rejected_with_their_path) {
  auto r = load_string(std::string(minimal) + "server:\n  limits:\n    x: 1\n", env_of({}), "t");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.error, "server.limits: unknown key");
  r = load_string(R"(
backends:
  - name: a
    url: http://x
    tls: {verfy: false}
models: [{name: m, backend: a}]
)", env_of({}), "t");
  EXPECT_EQ(r.error, "backends[0].tls.verfy: unknown key");
  r = load_string("sever: {}\n", env_of({}), "t");
  EXPECT_EQ(r.error, "sever: unknown key");
  // Every section at every depth: each key is named once, where it is read, and anything else
  // in the mapping is refused with its path.
  for (auto [extra, path] : std::vector<std::pair<std::string, std::string>>{
           {"server: {tls: {cert_filez: x}}", "server.tls.cert_filez"},
           {"log: {access: {enabledd: true}}", "log.access.enabledd"},
           {"log: {levl: info}", "log.levl"},
           {"limits: {default: {models: {m: {rpm: 1}}}}", "limits.default.models.m.rpm"},
           {"limits: {profiles: {gold: {rpm: 1}}}", "limits.profiles.gold.rpm"},
           {"prices: {m: {output: 1, tiers: [{name: p, hours: ['09:00-10:00'], hourz: 1}]}}", "prices.m.tiers[0].hourz"},
           {"prices: {m: {outptu: 1}}", "prices.m.outptu"},
           {"admin: {tokn: x}", "admin.tokn"},
           {"metrics: {enable: true}", "metrics.enable"},
           {"redis: {uri: x}", "redis.uri"},
           {"retries: {max_attemps: 2}", "retries.max_attemps"},
           {"reasoning_repair: {enable: true}", "reasoning_repair.enable"},
           {"cache: {polcy: always}", "cache.polcy"},
           {"auth: {keys: [{owner: a, key: 0123456789abcdef0123, modls: []}]}", "auth.keys[0].modls"},
       }) {
    auto e = load_string(std::string(minimal) + extra + "\n", env_of({}), "t");
    EXPECT_EQ(e.error, path + ": unknown key") << extra;
  }
  r = load_string("backends: [{name: m, url: 'http://x', breaker: {failurs: 1}}]\nmodels: [{name: m, backend: m}]\n",
                  env_of({}), "t");
  EXPECT_EQ(r.error, "backends[0].breaker.failurs: unknown key");
  r = load_string("backends: [{name: m, url: 'http://x'}]\nmodels: [{name: m, backends: [{backend: m, wieght: 1}]}]\n",
                  env_of({}), "t");
  EXPECT_EQ(r.error, "models[0].backends[0].wieght: unknown key");
  r = load_string(std::string(minimal) + "server: [1, 2]\n", env_of({}), "t");
  EXPECT_EQ(r.error, "server: must be a mapping");
}

TEST(config, backends_name_the_routes_they_serve) {
  auto r = load_string("backends: [{name: a, url: 'http://x', routes: [chat]}, {name: b, url: 'http://y'}]\n"
                       "models: [{name: m, backend: a}]\n", env_of({}), "t");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_TRUE(r.config->backends[0].serves("chat"));
  EXPECT_FALSE(r.config->backends[0].serves("embeddings"));
  EXPECT_TRUE(r.config->backends[1].serves("embeddings"));  // none listed: all
  for (auto bad : {"routes: [chat, images]", "routes: []", "routes: chat"}) {
    auto e = load_string(std::string("backends: [{name: a, url: 'http://x', ") + bad + "}]\nmodels: [{name: m, backend: a}]\n",
                         env_of({}), "t");
    EXPECT_FALSE(e.config) << bad;
    EXPECT_NE(e.error.find("backends[0].routes"), std::string::npos) << e.error;
  }
  // Or mapped to the paths the backend serves them at.
  auto m = load_string("backends: [{name: a, url: 'http://x/api', routes: {chat: /chat/completions, completions: /beta/completions, "
                       "messages: /anthropic/v1/messages, responses: }}]\nmodels: [{name: m, backend: a}]\n",
                       env_of({}), "t");
  ASSERT_TRUE(m.config) << m.error;
  const auto& b = m.config->backends[0];
  EXPECT_TRUE(b.serves("completions"));
  EXPECT_TRUE(b.serves("responses"));
  EXPECT_FALSE(b.serves("embeddings"));
  EXPECT_EQ(b.path_for("completions"), "/beta/completions");
  EXPECT_EQ(b.path_for("responses"), "");  // declared without a path: the usual one
  EXPECT_FALSE(b.declared("chat_beta"));
  for (auto bad : {"routes: {chat: beta/completions}", "routes: {images: /images}", "routes: {chat: [a]}", "routes: {}",
                   "routes: [chat, chat]", "routes: {chat: '/a?b'}"}) {
    auto e = load_string(std::string("backends: [{name: a, url: 'http://x', ") + bad + "}]\nmodels: [{name: m, backend: a}]\n",
                         env_of({}), "t");
    EXPECT_FALSE(e.config) << bad;
    EXPECT_NE(e.error.find("backends[0].routes"), std::string::npos) << e.error;
  }
  // DeepSeek has no embeddings API, and serves FIM and prefix completion under /beta and the
  // Anthropic API under /anthropic: the embedded defaults say so.
  auto d = load_defaults(env_of({}));
  ASSERT_TRUE(d.config) << d.error;
  const auto& ds = d.config->backends[0];
  EXPECT_FALSE(ds.serves("embeddings"));
  EXPECT_EQ(ds.path_for("completions"), "/beta/completions");
  EXPECT_EQ(ds.path_for("chat_beta"), "/beta/chat/completions");
  EXPECT_EQ(ds.path_for("messages"), "/anthropic/v1/messages");
  EXPECT_TRUE(ds.serves("responses"));
}

TEST(config, values_are_validated) {
  auto bad = [](const std::string& yaml) { return load_string(yaml, env_of({}), "t").error; };
  EXPECT_NE(bad(std::string(minimal) + "server: {port: 70000}\n").find("server.port"), std::string::npos);
  EXPECT_NE(bad(std::string(minimal) + "server: {idle_timeout: soon}\n").find("server.idle_timeout"), std::string::npos);
  EXPECT_NE(bad("backends: [{name: a, url: 'gopher://x'}]\nmodels: [{name: m, backend: a}]").find("backends[0].url"),
            std::string::npos);
  EXPECT_NE(bad("backends: [{name: a, url: 'http://x'}]\nmodels: [{name: m, backend: b}]").find("models[0].backend"),
            std::string::npos);
  EXPECT_NE(bad("backends: [{name: a, url: 'http://x'}, {name: a, url: 'http://y'}]\nmodels: [{name: m, backend: a}]")
                .find("duplicate"),
            std::string::npos);
  EXPECT_NE(bad(std::string(minimal) + "log: {level: loud}\n").find("log.level"), std::string::npos);
  EXPECT_NE(bad(std::string(minimal) + "server: {tls: {cert_file: /nonexistent}}\n").find("server.tls"),
            std::string::npos);
  EXPECT_NE(bad("{ this is not yaml").find("not valid YAML"), std::string::npos);
}

TEST(config, env_expansion_and_secret_files) {
  std::string secret_path = ::testing::TempDir() + "deepgate_secret_test";
  std::ofstream(secret_path) << "sk-from-file\n";
  auto r = load_string(R"(
server: {port: "${GW_PORT}"}
backends:
  - name: a
    url: ${URL:-http://127.0.0.1:1}
    api_key_file: )" + secret_path + R"(
models: [{name: m, backend: a, aliases: [gpt-4o], upstream_model: deepseek-chat}]
)",
                       env_of({{"GW_PORT", "1234"}}), "t");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->server.port, 1234);
  EXPECT_EQ(r.config->backends[0].api_key, "sk-from-file");
  ASSERT_TRUE(r.config->find_model("gpt-4o"));
  EXPECT_EQ(r.config->find_model("gpt-4o")->upstream_model, "deepseek-chat");
  EXPECT_FALSE(r.config->find_model("gpt-5"));
  auto missing = load_string("server: {port: '${NOPE}'}\n", env_of({}), "t");
  EXPECT_NE(missing.error.find("NOPE"), std::string::npos);
  std::remove(secret_path.c_str());
}

TEST(config, limits_profiles_prices_and_their_checks) {
  auto ok = load_string(std::string(minimal) + R"(
limits:
  default: {requests_per_minute: 60, request_burst: 10, daily_budget_usd: 0.5}
  profiles:
    gold:
      tokens_per_minute: 100000
      models:
        deepseek-chat: {concurrent_requests: 3}
prices:
  deepseek-chat: {input_cache_hit: 0.07, input_cache_miss: 0.27, output: 1.10}
)",
                        env_of({}), "t");
  ASSERT_TRUE(ok.config) << ok.error;
  const auto& l = ok.config->limits;
  EXPECT_EQ(l.defaults.values.request_burst, 10u);
  EXPECT_EQ(l.defaults.daily_budget, 500'000'000);  // nano-USD
  EXPECT_EQ(l.profile("gold").models.at("deepseek-chat").concurrent_requests, 3u);
  EXPECT_EQ(&l.profile("no-such-profile"), &l.defaults);  // an unknown name gets the defaults
  EXPECT_DOUBLE_EQ(ok.config->prices.at("deepseek-chat").base.output, 1.10);

  auto error_of = [&](const std::string& extra) { return load_string(std::string(minimal) + extra, env_of({}), "t").error; };
  EXPECT_EQ(error_of("limits:\n  default: {daily_budget_usd: 1}\n"),
            "prices: budgets are set but model 'deepseek-chat' has no price");
  EXPECT_EQ(error_of("auth:\n  keys:\n    - {owner: o, limits: silver, key: dg-0123456789abcdef0123}\n"),
            "auth.keys[0].limits: no profile named 'silver' in limits.profiles");
  EXPECT_EQ(error_of("limits:\n  store: redis\n"), "redis.url: is required when limits.store is redis");
  EXPECT_EQ(error_of("limits:\n  default: {requests_per_day: 5}\n"), "limits.default.requests_per_day: unknown key");
  EXPECT_EQ(error_of("prices:\n  m: {output: -1}\n").rfind("prices.m.output: must be a number", 0), 0u);
}

TEST(config, cache_section_defaults_policies_and_checks) {
  auto defaults = load_string(minimal, env_of({}), "t");
  ASSERT_TRUE(defaults.config) << defaults.error;
  const auto& d = defaults.config->cache;
  EXPECT_FALSE(d.redis);
  EXPECT_EQ(d.mode, cache_mode::deterministic);
  EXPECT_FALSE(d.shared);
  EXPECT_FALSE(d.hits_count_tokens);
  EXPECT_EQ(d.ttl, std::chrono::hours(1));

  auto ok = load_string(std::string(minimal) + R"(
cache:
  policy: off
  scope: shared
  ttl: 10m
  max_ttl: 1h
  max_bytes: 1048576
  keys: {key_1: always}
  owners: {team-a: deterministic}
  models: {deepseek-chat: always}
)",
                        env_of({}), "t");
  ASSERT_TRUE(ok.config) << ok.error;
  const auto& c = ok.config->cache;
  EXPECT_TRUE(c.shared);
  EXPECT_EQ(c.max_bytes, 1048576u);
  // Most specific first: key id, then owner, then model, then the default policy.
  EXPECT_EQ(c.mode_for("key_1", "team-a", "deepseek-chat"), cache_mode::always);
  EXPECT_EQ(c.mode_for("key_2", "team-a", "deepseek-chat"), cache_mode::deterministic);
  EXPECT_EQ(c.mode_for("key_2", "team-b", "deepseek-chat"), cache_mode::always);
  EXPECT_EQ(c.mode_for("key_2", "team-b", "other"), cache_mode::off);

  auto error_of = [&](const std::string& extra) { return load_string(std::string(minimal) + extra, env_of({}), "t").error; };
  EXPECT_EQ(error_of("cache:\n  store: redis\n"), "redis.url: is required when cache.store is redis");
  EXPECT_EQ(error_of("cache:\n  policy: sometimes\n"),
            "cache.policy: must be off, deterministic or always, got 'sometimes'");
  EXPECT_EQ(error_of("cache:\n  owners: {x: maybe}\n"), "cache.owners.x: must be off, deterministic or always, got 'maybe'");
  EXPECT_EQ(error_of("cache:\n  models: {gpt-9: always}\n"), "cache.models.gpt-9: no model or alias named 'gpt-9'");
  EXPECT_EQ(error_of("cache:\n  scope: global\n"), "cache.scope: must be owner or shared");
  EXPECT_EQ(error_of("cache:\n  ttl: 2h\n  max_ttl: 1h\n"), "cache.max_ttl: must be at least cache.ttl");
  EXPECT_EQ(error_of("cache:\n  size: 5\n"), "cache.size: unknown key");
}

TEST(config, models_with_several_backends_fallbacks_and_retries) {
  auto ok = load_string(R"(
backends:
  - {name: deepseek, url: "https://api.deepseek.com", weight: 3, breaker: {failures: 4, cool_down: 5s, max_cool_down: 1m}}
  - {name: vllm, url: "http://vllm:8000/v1"}
  - {name: ollama, url: "http://ollama:11434/v1"}
models:
  - name: deepseek-chat
    backends:
      - deepseek
      - {backend: vllm, upstream_model: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B, weight: 2}
    balance: least_in_flight
    fallback: [{backend: ollama, upstream_model: "qwen2.5:7b"}]
  - {name: solo, backend: vllm, upstream_model: solo-7b}
retries: {max_attempts: 4, budget_percent: 10, min_budget: 1, backoff: 20ms, max_backoff: 500ms}
)",
                        env_of({}), "t");
  ASSERT_TRUE(ok.config) << ok.error;
  const auto& m = ok.config->models[0];
  ASSERT_EQ(m.targets.size(), 2u);
  EXPECT_EQ(m.targets[0].weight, 3u);  // the backend's weight
  EXPECT_EQ(m.targets[0].upstream_model, "deepseek-chat");
  EXPECT_EQ(m.targets[1].backend_index, 1u);
  EXPECT_EQ(m.targets[1].weight, 2u);
  EXPECT_EQ(m.balance, model_config::balance_mode::least_in_flight);
  ASSERT_EQ(m.fallback.size(), 1u);
  EXPECT_EQ(m.fallback[0].backend_index, 2u);
  EXPECT_EQ(m.fallback[0].upstream_model, "qwen2.5:7b");
  EXPECT_EQ(m.backend, "deepseek");  // the primary
  const auto& solo = ok.config->models[1];
  ASSERT_EQ(solo.targets.size(), 1u);
  EXPECT_EQ(solo.targets[0].upstream_model, "solo-7b");
  EXPECT_EQ(ok.config->backends[0].breaker.failures, 4u);
  EXPECT_EQ(ok.config->retries.max_attempts, 4u);
  EXPECT_DOUBLE_EQ(ok.config->retries.budget_ratio, 0.1);

  auto error_of = [&](const std::string& yaml) { return load_string(yaml, env_of({}), "t").error; };
  const std::string two = "backends: [{name: a, url: 'http://a'}, {name: b, url: 'http://b'}]\n";
  EXPECT_EQ(error_of(two + "models: [{name: m, backends: [a, c]}]\n"), "models[0].backends[1]: no backend named 'c'");
  EXPECT_EQ(error_of(two + "models: [{name: m, backend: a, fallback: [z]}]\n"), "models[0].fallback[0]: no backend named 'z'");
  EXPECT_EQ(error_of(two + "models: [{name: m, backend: a, backends: [b]}]\n"),
            "models[0].backends: give either backend or backends, not both");
  EXPECT_EQ(error_of(two + "models: [{name: m, backends: [a], balance: random}]\n"),
            "models[0].balance: must be weighted or least_in_flight");
  EXPECT_EQ(error_of(two + "models: [{name: m, backend: a}]\nretries: {max_attempts: 0}\n").rfind("retries.max_attempts", 0), 0u);
  EXPECT_EQ(error_of("backends: [{name: a, url: 'http://a', breaker: {cool_down: 5m, max_cool_down: 1m}}]\nmodels: [{name: m, backend: a}]\n"),
            "backends[0].breaker.max_cool_down: must be at least breaker.cool_down");
}

TEST(config, a_reload_keeps_the_restart_only_settings_and_names_them) {
  auto running = load_string(std::string(minimal) + "server: {port: 9000}\nlimits: {store: memory}\n", env_of({}), "t");
  auto changed = load_string(std::string(minimal) +
                                 "server: {port: 9100, workers: 3}\nretries: {max_attempts: 1}\n"
                                 "cache: {max_bytes: 1000, ttl: 5s}\nadmin: {port: 0}\n",
                             env_of({}), "t");
  ASSERT_TRUE(running.config && changed.config) << running.error << changed.error;
  auto next = *changed.config;
  auto kept = deepgate::config::keep_restart_only(*running.config, next);
  EXPECT_EQ(kept, (std::vector<std::string>{"server", "admin", "cache.max_bytes"}));
  EXPECT_EQ(next.server.port, 9000);  // what is really in force
  EXPECT_EQ(next.admin.port, running.config->admin.port);
  EXPECT_EQ(next.cache.max_bytes, running.config->cache.max_bytes);
  // What a reload may change, changed.
  EXPECT_EQ(next.retries.max_attempts, 1u);
  EXPECT_EQ(next.cache.ttl, std::chrono::seconds(5));
  auto same = *running.config;
  EXPECT_TRUE(deepgate::config::keep_restart_only(*running.config, same).empty());
}

// Issue 16: a model name can fix request fields (the legacy DeepSeek names as deepseek-flash with
// thinking off or on); YAML scalars become JSON's types.
TEST(config, models_can_set_request_fields) {
  auto r = load_string(R"(
backends:
  - name: ds
    url: http://127.0.0.1:9000
models:
  - name: legacy
    backend: ds
    upstream_model: deepseek-flash
    set: {thinking: {type: disabled}, temperature: 0.5, n: 1, logprobs: false, stop: ["a", "5"], user_id: null, tag: "true"}
)", env_of({}), "t");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->models[0].set_fields,
            R"({"logprobs":false,"n":1,"stop":["a","5"],"tag":"true","temperature":0.5,"thinking":{"type":"disabled"},"user_id":null})");
  auto bad = load_string("backends: [{name: ds, url: 'http://127.0.0.1:9000'}]\nmodels: [{name: m, backend: ds, set: {model: x}}]\n",
                         env_of({}), "t");
  EXPECT_FALSE(bad.config);
  EXPECT_NE(bad.error.find("models[0].set.model"), std::string::npos) << bad.error;
  auto d = load_defaults(env_of({}));
  ASSERT_TRUE(d.config) << d.error;
  for (const char* name : {"deepseek-flash", "deepseek-v4-flash", "deepseek-v4-pro", "deepseek-chat", "deepseek-reasoner"})
    EXPECT_TRUE(d.config->find_model(name)) << name;
  EXPECT_EQ(d.config->find_model("deepseek-chat")->upstream_model, "deepseek-flash");
  EXPECT_EQ(d.config->find_model("deepseek-chat")->set_fields, R"({"thinking":{"type":"disabled"}})");
  EXPECT_EQ(d.config->find_model("deepseek-reasoner")->set_fields, R"({"thinking":{"type":"enabled"}})");
  EXPECT_EQ(d.config->find_model("deepseek-v4-flash")->upstream_model, "deepseek-flash");
  EXPECT_GT(d.config->limits.defaults.values.requests_per_minute, 0u);
  EXPECT_TRUE(d.config->prices.contains("deepseek-flash"));
  EXPECT_TRUE(d.config->prices.contains("deepseek-v4-pro"));
}

// The rates a schedule applies at a UTC date and time.
auto at_utc(const deepgate::core::price_schedule& s) {
  return [&s](int y, unsigned mo, unsigned d, int h, int mi) {
    using namespace std::chrono;
    return s.at(sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi});
  };
}

// The error for a price whose only tier is `tier` (empty when the config loads).
std::string tier_error(const std::string& tier) {
  auto e = load_string(std::string(minimal) + "prices:\n  m:\n    output: 1\n    tiers: [" + tier + "]\n", env_of({}), "t");
  return e.config ? std::string() : e.error;
}

// Issue 16: prices as a schedule. DeepSeek's peak (weekdays 09:00-12:00 and 14:00-18:00 Beijing
// time, UTC+8) at twice the off-peak rates.
TEST(config, prices_have_time_of_day_tiers) {
  auto r = load_string(std::string(minimal) + R"(
prices:
  deepseek-chat:
    name: off_peak
    input_cache_hit: 0.003
    input_cache_miss: 0.15
    output: 0.6
    tiers:
      - {name: peak, utc_offset: "+08:00", days: [mon, tue, wed, thu, fri], hours: ["09:00-12:00", "14:00-18:00"], multiplier: 2}
      - {name: weekend_night, days: [sat], hours: ["00:00-24:00"], output: 0.1}
)", env_of({}), "t");
  ASSERT_TRUE(r.config) << r.error;
  auto at = at_utc(r.config->prices.at("deepseek-chat"));
  // 2026-12-04 is a Friday. 01:00 UTC is 09:00 in Beijing: peak; 04:00 UTC is 12:00: off-peak.
  EXPECT_EQ(at(2026, 12, 4, 1, 0).tier, "peak");
  EXPECT_DOUBLE_EQ(at(2026, 12, 4, 1, 0).rates->output, 1.2);
  EXPECT_DOUBLE_EQ(at(2026, 12, 4, 1, 0).rates->input_cache_miss, 0.3);
  EXPECT_EQ(at(2026, 12, 4, 3, 59).tier, "peak");
  EXPECT_EQ(at(2026, 12, 4, 4, 0).tier, "off_peak");
  EXPECT_DOUBLE_EQ(at(2026, 12, 4, 4, 0).rates->output, 0.6);
  EXPECT_EQ(at(2026, 12, 4, 6, 0).tier, "peak");
  EXPECT_EQ(at(2026, 12, 4, 9, 59).tier, "peak");
  EXPECT_EQ(at(2026, 12, 4, 10, 0).tier, "off_peak");
  EXPECT_EQ(at(2026, 12, 3, 23, 0).tier, "off_peak");  // Friday 07:00 in Beijing
  // Saturday 2026-12-05 02:00 UTC is Saturday 10:00 in Beijing: not a weekday; the UTC tier.
  EXPECT_EQ(at(2026, 12, 5, 2, 0).tier, "weekend_night");
  EXPECT_DOUBLE_EQ(at(2026, 12, 5, 2, 0).rates->output, 0.1);
  EXPECT_DOUBLE_EQ(at(2026, 12, 5, 2, 0).rates->input_cache_miss, 0.15);  // multiplier 1 for the rest
  // Monday 2026-12-07 01:30 UTC (09:30 Monday in Beijing): peak; Sunday 2026-12-06 17:30 UTC
  // (01:30 Monday in Beijing): off-peak.
  EXPECT_EQ(at(2026, 12, 7, 1, 30).tier, "peak");
  EXPECT_EQ(at(2026, 12, 6, 17, 30).tier, "off_peak");
  for (auto bad : {R"({name: x, hours: ["12:00-09:00"]})", R"({name: x, hours: ["09:00"]})", R"({hours: ["09:00-10:00"]})",
                   R"({name: x, utc_offset: "Asia/Shanghai", hours: ["09:00-10:00"]})", R"({name: x, days: [monday], hours: ["09:00-10:00"]})"}) {
    EXPECT_NE(tier_error(bad).find("prices.m.tiers[0]"), std::string::npos) << bad;
  }
}

// A tier on a named zone follows its daylight saving: Berlin's 09:00 is 08:00 UTC in winter and
// 07:00 UTC in summer.
TEST(config, price_tiers_in_a_named_time_zone) {
  auto r = load_string(std::string(minimal) + R"(
prices:
  m:
    output: 1
    tiers:
      - {name: peak, time_zone: Europe/Berlin, hours: ["09:00-10:00"], multiplier: 3}
      - {name: beijing, time_zone: Asia/Shanghai, days: [sun], hours: ["09:00-10:00"]}
)", env_of({}), "t");
  ASSERT_TRUE(r.config) << r.error;
  auto at = at_utc(r.config->prices.at("m"));
  EXPECT_EQ(at(2026, 12, 4, 8, 30).tier, "peak");
  EXPECT_DOUBLE_EQ(at(2026, 12, 4, 8, 30).rates->output, 3);
  EXPECT_EQ(at(2026, 12, 4, 7, 30).tier, "standard");
  EXPECT_EQ(at(2026, 7, 3, 7, 30).tier, "peak");
  EXPECT_EQ(at(2026, 7, 3, 8, 30).tier, "standard");
  EXPECT_EQ(at(2026, 12, 6, 1, 30).tier, "beijing");  // Sunday 09:30 in Beijing
  for (auto [bad, where] : {std::pair{R"({name: x, time_zone: Mars/Base, hours: ["09:00-10:00"]})", "time_zone"},
                            std::pair{R"({name: x, time_zone: "../../etc/passwd", hours: ["09:00-10:00"]})", "time_zone"},
                            std::pair{R"({name: x, time_zone: UTC, utc_offset: "+01:00", hours: ["09:00-10:00"]})", "utc_offset"}}) {
    EXPECT_NE(tier_error(bad).find(std::string("prices.m.tiers[0].") + where), std::string::npos) << bad;
  }
}

// Found by fuzz/config_load: a `set:` value that is not UTF-8 threw from the JSON serialiser and
// took the process down at start (or at a reload). Now it is a config error naming the place.
TEST(config, set_fields_that_are_not_utf8_are_an_error_not_a_crash) {
  auto r = load_string("backends: [{name: a, url: 'http://x'}]\nmodels: [{name: m, backend: a, set: {x: \"\xff\xfe\"}}]\n",
                       env_of({}), "t");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.error, "models[0].set: must be valid UTF-8 text");
}

TEST(config, usage_records_and_redis_cluster_settings) {
  auto r = load_string(minimal, env_of({}), "t");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_TRUE(r.config->usage.enabled);
  EXPECT_EQ(r.config->usage.retention, std::chrono::hours(24 * 90));
  EXPECT_EQ(r.config->usage.flush_interval, std::chrono::seconds(1));
  EXPECT_FALSE(r.config->redis.cluster);
  auto set = load_string(std::string(minimal) + "usage:\n  retention: 30d\n  flush_interval: 250ms\n  max_days: 31\n"
                                                "redis:\n  url: redis://cfg.example:6379\n  cluster: true\n",
                         env_of({}), "t");
  ASSERT_TRUE(set.config) << set.error;
  EXPECT_EQ(set.config->usage.retention, std::chrono::hours(24 * 30));
  EXPECT_EQ(set.config->usage.flush_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(set.config->usage.max_days, 31u);
  EXPECT_TRUE(set.config->redis.cluster);
  for (auto [yaml, where] : std::vector<std::pair<std::string, std::string>>{
           {"usage:\n  retention: 1h\n", "usage.retention"},
           {"usage:\n  flush_interval: 5m\n", "usage.flush_interval"},
           {"usage:\n  max_days: 0\n", "usage.max_days"},
           {"usage:\n  colour: blue\n", "usage.colour"},
           {"redis:\n  url: redis://h:6379/2\n  cluster: true\n", "redis.url"},
           {"redis:\n  cluster: true\n", "redis.url"}}) {
    auto bad = load_string(std::string(minimal) + yaml, env_of({}), "t");
    EXPECT_FALSE(bad.config) << yaml;
    EXPECT_NE(bad.error.find(where), std::string::npos) << bad.error;
  }
  auto env = load_defaults(env_of({{"REDIS_URL", "redis://cfg.example:6379"}, {"DEEPGATE_REDIS_CLUSTER", "true"}}));
  ASSERT_TRUE(env.config) << env.error;
  EXPECT_TRUE(env.config->redis.cluster);
}
