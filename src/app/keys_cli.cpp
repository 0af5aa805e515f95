#include "deepgate/app/keys_cli.hpp"

#include "deepgate/auth/keys_file.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/config/duration.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace deepgate::app {
namespace {

constexpr const char* usage =
    "usage: deepgate keys create --owner NAME [--models a,b*] [--expires-in 30d] [--meta k=v]... [--json]\n"
    "       deepgate keys list [--json]\n"
    "       deepgate keys show ID\n"
    "       deepgate keys revoke ID\n"
    "       deepgate keys rotate ID [--grace 24h] [--json]\n"
    "Which keys file: --keys-file FILE, or auth.keys_file of --config FILE, or $DEEPGATE_KEYS_FILE,\n"
    "or ./deepgate-keys.json. A key's value is printed once, by create and rotate; only its\n"
    "SHA-256 digest is stored.\n";

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    auto part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

nlohmann::json record(const auth::client_key& k) {
  nlohmann::json j = {{"id", k.id},           {"owner", k.owner},         {"enabled", k.enabled},
                      {"created", k.created}, {"models", k.models},       {"metadata", k.metadata},
                      {"sha256", auth::to_hex(k.sha256)}};
  j["expires"] = k.expires ? nlohmann::json(*k.expires) : nlohmann::json(nullptr);
  return j;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "deepgate keys: %s\n", message.c_str());
  return 1;
}

// Prints a new key; its value appears here and nowhere else.
void announce(const auth::client_key& k, const std::string& value, bool json) {
  if (json) {
    auto j = record(k);
    j["key"] = value;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("id:    %s\nowner: %s\nkey:   %s\n(the key is shown once; store it now)\n", k.id.c_str(),
                k.owner.c_str(), value.c_str());
  }
}

}  // namespace

int keys_main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string command = argv[1], id, owner, models, expires_in, grace = "24h", keys_file, config_path;
  std::map<std::string, std::string> meta;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    if (a == "--owner") owner = value();
    else if (a == "--models") models = value();
    else if (a == "--expires-in") expires_in = value();
    else if (a == "--grace") grace = value();
    else if (a == "--keys-file") keys_file = value();
    else if (a == "--config") config_path = value();
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
  if (keys_file.empty() && !config_path.empty()) {
    auto loaded = config::load_file(config_path, config::process_environment());
    if (!loaded.config) return fail("invalid configuration: " + loaded.error);
    keys_file = loaded.config->auth.keys_file;
  }
  if (keys_file.empty()) {
    const char* env = std::getenv("DEEPGATE_KEYS_FILE");
    keys_file = env && *env ? env : "deepgate-keys.json";
  }

  auto store = auth::read_keys_file(keys_file);
  if (!store.error.empty()) return fail(store.error);
  auto& keys = store.keys;
  auto find = [&](const std::string& wanted) -> auth::client_key* {
    for (auto& k : keys)
      if (k.id == wanted) return &k;
    return nullptr;
  };
  auto save = [&]() { return auth::write_keys_file(keys_file, keys); };

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
    auth::client_key k;
    k.id = auth::generate_key_id();
    k.owner = owner;
    k.created = now_s();
    k.models = split(models);
    k.metadata = meta;
    if (!expires_in.empty()) {
      auto d = config::parse_duration(expires_in);
      if (!d) return fail("--expires-in takes a duration such as 30d or 12h");
      k.expires = k.created + std::chrono::duration_cast<std::chrono::seconds>(*d).count();
    }
    auto value = auth::generate_key_value();
    k.sha256 = auth::sha256(value);
    keys.push_back(k);
    if (auto err = save(); !err.empty()) return fail(err);
    announce(k, value, json);
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
    k->enabled = false;
    if (auto err = save(); !err.empty()) return fail(err);
    std::printf("revoked %s\n", id.c_str());
    return 0;
  }
  if (command == "rotate") {
    auto g = config::parse_duration(grace);
    if (!g) return fail("--grace takes a duration such as 24h");
    auth::client_key fresh = *k;
    fresh.id = auth::generate_key_id();
    fresh.created = now_s();
    fresh.metadata["rotated_from"] = k->id;
    auto value = auth::generate_key_value();
    fresh.sha256 = auth::sha256(value);
    auto old_until = fresh.created + std::chrono::duration_cast<std::chrono::seconds>(*g).count();
    if (!k->expires || *k->expires > old_until) k->expires = old_until;  // the old key lives out its grace
    fresh.expires.reset();
    keys.push_back(fresh);
    if (auto err = save(); !err.empty()) return fail(err);
    announce(fresh, value, json);
    return 0;
  }
  std::fprintf(stderr, "deepgate keys: unknown command '%s'\n%s", command.c_str(), usage);
  return 2;
}

}  // namespace deepgate::app
