#include "deepgate/app/keys_cli.hpp"

#include "deepgate/api/services.hpp"
#include "deepgate/auth/key_admin.hpp"
#include "deepgate/auth/keys_file.hpp"
#include "deepgate/auth/redis_key_store.hpp"
#include "deepgate/redis/connection.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/config/duration.hpp"
#include "deepgate/core/strings.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <functional>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace deepgate::app {
namespace {

constexpr const char* usage =
    "usage: deepgate keys create --owner NAME [--models a,b*] [--limits PROFILE] [--expires-in 30d] [--meta k=v]... [--json]\n"
    "       deepgate keys list [--json]\n"
    "       deepgate keys show ID\n"
    "       deepgate keys revoke ID\n"
    "       deepgate keys rotate ID [--grace 24h] [--json]\n"
    "Which store: --redis URL (with --redis-cluster for a Redis Cluster), or --keys-file FILE, or what --config FILE says (auth.store, redis.url,\n"
    "auth.keys_file), or $REDIS_URL when $DEEPGATE_AUTH_STORE=redis, or $DEEPGATE_KEYS_FILE, or\n"
    "./deepgate-keys.json. A key's value is printed once, by create and rotate; only its SHA-256\n"
    "digest is stored.\n";

nlohmann::json record(const auth::client_key& k, const std::string& value = {}) {
  return nlohmann::json::parse(auth::record_json(k, value));
}

int fail(const std::string& message) {
  std::fprintf(stderr, "deepgate keys: %s\n", message.c_str());
  return 1;
}

// Prints a new key; its value appears here and nowhere else.
void announce(const auth::client_key& k, const std::string& value, bool json) {
  if (json) {
    std::printf("%s\n", auth::record_json(k, value).c_str());
  } else {
    std::printf("id:    %s\nowner: %s\nkey:   %s\n(the key is shown once; store it now)\n", k.id.c_str(),
                k.owner.c_str(), value.c_str());
  }
}

// Where the records live: load them all, save the ones a command changed.
struct store {
  std::function<std::optional<std::vector<auth::client_key>>(std::string&)> load;
  std::function<std::string(const std::vector<auth::client_key>& all, const std::vector<auth::client_key>& changed)> save;
};

store file_store(const std::string& path) {
  return {[path](std::string& err) -> std::optional<std::vector<auth::client_key>> {
            auto r = auth::read_keys_file(path);
            if (!r.error.empty()) {
              err = r.error;
              return std::nullopt;
            }
            return std::move(r.keys);
          },
          [path](const std::vector<auth::client_key>& all, const std::vector<auth::client_key>&) {
            return auth::write_keys_file(path, all);
          }};
}

// Runs one coroutine to completion on a private io_context.
template <class T>
T run_sync(const std::function<boost::asio::awaitable<T>()>& f) {
  boost::asio::io_context ioc;
  T out{};
  boost::asio::co_spawn(ioc, [&]() -> boost::asio::awaitable<void> { out = co_await f(); }, boost::asio::detached);
  ioc.run();
  return out;
}

store redis_key_store(const config::redis_config& rc) {
  auto opts = redis::options_from(rc, "redis");
  opts.command_timeout = std::max(opts.command_timeout, std::chrono::milliseconds(2000));  // a CLI can wait
  return {[opts](std::string& err) -> std::optional<std::vector<auth::client_key>> {
            auto r = run_sync<std::optional<std::vector<auth::client_key>>>(
                [&]() -> boost::asio::awaitable<std::optional<std::vector<auth::client_key>>> {
                  boost::asio::any_io_executor ex = co_await boost::asio::this_coro::executor;
                  redis::connection c(ex, opts);
                  auto keys = co_await auth::redis_store::load_all(c);
                  c.close();
                  co_return keys;
                });
            if (!r) err = "cannot read keys from redis at " + opts.address.host + ":" + std::to_string(opts.address.port);
            return r;
          },
          [opts](const std::vector<auth::client_key>&, const std::vector<auth::client_key>& changed) -> std::string {
            bool ok = run_sync<bool>([&]() -> boost::asio::awaitable<bool> {
              boost::asio::any_io_executor ex = co_await boost::asio::this_coro::executor;
              redis::connection c(ex, opts);
              auto records = changed;
              bool done = co_await auth::redis_store::put(c, std::move(records));
              c.close();
              co_return done;
            });
            return ok ? std::string() : "cannot write keys to redis";
          }};
}

}  // namespace

int keys_main(int argc, char** argv) {
  // stdout is for the command's output (often --json); diagnostics go to stderr.
  auto logger = spdlog::stderr_logger_mt("deepgate-keys");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  if (argc < 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string command = argv[1], id, owner, models, limits_profile, expires_in, grace = "24h", keys_file, config_path, redis_url;
  std::map<std::string, std::string> meta;
  bool json = false, redis_cluster = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    if (a == "--owner") owner = value();
    else if (a == "--models") models = value();
    else if (a == "--limits") limits_profile = value();
    else if (a == "--expires-in") expires_in = value();
    else if (a == "--grace") grace = value();
    else if (a == "--keys-file") keys_file = value();
    else if (a == "--config") config_path = value();
    else if (a == "--redis") redis_url = value();
    else if (a == "--redis-cluster") redis_cluster = true;
    else if (a == "--json") json = true;
    else if (a == "--meta") {
      auto kv = value();
      auto eq = kv.find('=');
      if (eq == std::string::npos) return fail("--meta takes key=value");
      meta[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (!a.starts_with("--") && id.empty()) id = a;
    else {
      std::fprintf(stderr, "deepgate keys: unknown argument '%s'\n%s", a.c_str(), usage);
      return 2;
    }
  }
  config::redis_config redis_cfg;
  redis_cfg.url = redis_url;
  redis_cfg.cluster = redis_cluster || std::string_view(std::getenv("DEEPGATE_REDIS_CLUSTER") ? std::getenv("DEEPGATE_REDIS_CLUSTER") : "") == "true";
  if (keys_file.empty() && redis_url.empty()) {
    auto loaded = config_path.empty() ? config::load_defaults(config::process_environment())
                                      : config::load_file(config_path, config::process_environment());
    if (!loaded.config) return fail("invalid configuration: " + loaded.error);
    if (loaded.config->auth.redis_store) redis_cfg = loaded.config->redis;
    else keys_file = loaded.config->auth.keys_file;
  }
  if (!redis_cfg.url.empty()) {
    std::string err;
    if (!core::parse_redis_url(redis_cfg.url, err)) return fail("redis URL " + err);
  }
  auto backend = redis_cfg.url.empty() ? file_store(keys_file) : redis_key_store(redis_cfg);

  std::string load_error;
  auto loaded_keys = backend.load(load_error);
  if (!loaded_keys) return fail(load_error);
  auto& keys = *loaded_keys;
  auto find = [&](const std::string& wanted) -> auth::client_key* {
    for (auto& k : keys)
      if (k.id == wanted) return &k;
    return nullptr;
  };
  auto save = [&](std::vector<auth::client_key> changed) { return backend.save(keys, changed); };

  if (command == "list") {
    if (json) {
      auto arr = nlohmann::json::array();
      for (auto& k : keys) arr.push_back(record(k));
      std::printf("%s\n", arr.dump().c_str());
      return 0;
    }
    std::printf("%-22s %-20s %-8s %-12s %s\n", "ID", "OWNER", "ENABLED", "EXPIRES", "MODELS");
    for (auto& k : keys) {
      std::string m;
      for (auto& x : k.models) m += (m.empty() ? "" : ",") + x;
      std::printf("%-22s %-20s %-8s %-12s %s\n", k.id.c_str(), k.owner.c_str(), k.enabled ? "yes" : "no",
                  k.expires ? std::to_string(*k.expires).c_str() : "-", m.empty() ? "*" : m.c_str());
    }
    return 0;
  }
  if (command == "create") {
    if (owner.empty()) return fail("create needs --owner");
    auth::create_params p{owner, split_list(models), std::nullopt, meta, limits_profile};
    if (!expires_in.empty()) {
      auto d = config::parse_duration(expires_in);
      if (!d) return fail("--expires-in takes a duration such as 30d or 12h");
      p.expires_in = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    auto made = auth::create_key(p, core::unix_seconds());
    keys.push_back(made.record);
    if (auto err = save({made.record}); !err.empty()) return fail(err);
    announce(made.record, made.value, json);
    return 0;
  }
  if (id.empty()) return fail(command + " needs a key id (see: deepgate keys list)");
  auto* k = find(id);
  if (!k) return fail("no key with id " + id);
  if (command == "show") {
    std::printf("%s\n", record(*k).dump(2).c_str());
    return 0;
  }
  if (command == "revoke") {
    auth::revoke_key(*k);
    if (auto err = save({*k}); !err.empty()) return fail(err);
    if (json) std::printf("%s\n", record(*k).dump().c_str());
    else std::printf("revoked %s\n", id.c_str());
    return 0;
  }
  if (command == "rotate") {
    auto g = config::parse_duration(grace);
    if (!g) return fail("--grace takes a duration such as 24h");
    auto made = auth::rotate_key(*k, std::chrono::duration_cast<std::chrono::seconds>(*g), core::unix_seconds());
    auto old_record = *k;
    keys.push_back(made.record);
    if (auto err = save({old_record, made.record}); !err.empty()) return fail(err);
    announce(made.record, made.value, json);
    return 0;
  }
  std::fprintf(stderr, "deepgate keys: unknown command '%s'\n%s", command.c_str(), usage);
  return 2;
}

}  // namespace deepgate::app
