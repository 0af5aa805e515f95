#include "deepgate/app/cli.hpp"

#include "deepgate/app/application.hpp"
#include "deepgate/app/keys_cli.hpp"
#include "deepgate/app/usage_cli.hpp"
#include "deepgate/config/config.hpp"
#include "deepgate/core/version.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace deepgate::app {
namespace {
constexpr const char* usage =
    "usage: deepgate [--config FILE]     run the gateway (default: embedded defaults + environment)\n"
    "       deepgate --check-config FILE validate a config file and exit\n"
    "       deepgate --version\n"
    "       deepgate keys create|list|show|revoke|rotate ...   manage client keys (deepgate keys for help)\n"
    "       deepgate usage [--owner X] [--from D --to D] [--json]   usage records (deepgate usage --help)\n"
    "Environment without a file: PORT, DEEPGATE_HOST, DEEPSEEK_API_KEY, DEEPGATE_UPSTREAM_URL,\n"
    "DEEPGATE_UPSTREAM_CA_FILE, DEEPGATE_KEYS_FILE, DEEPGATE_AUTH_STORE (file|redis), DEEPGATE_LIMITS_STORE (memory|redis),\n"
    "REDIS_URL, "
    "DEEPGATE_ADMIN_TOKEN, DEEPGATE_ADMIN_HOST, DEEPGATE_ADMIN_PORT. DEEPGATE_CONFIG names a config\n"
    "file when --config is not given.\n";
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "keys") return keys_main(argc - 1, argv + 1);
  if (argc >= 2 && std::string_view(argv[1]) == "usage") return usage_main(argc - 1, argv + 1);
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--version") {
      std::printf("deepgate %s\n", std::string(version()).c_str());
      return 0;
    }
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if ((a == "--config" || a == "--check-config" || a == "-c") && i + 1 < argc) {
      check_only = check_only || a == "--check-config";
      config_path = argv[++i];
      continue;
    }
    std::fprintf(stderr, "deepgate: unknown argument '%s'\n%s", argv[i], usage);
    return 2;
  }
  if (config_path.empty())
    if (const char* env = std::getenv("DEEPGATE_CONFIG"); env && *env) config_path = env;

  auto env = config::process_environment();
  auto loaded = config_path.empty() ? config::load_defaults(env) : config::load_file(config_path, env);
  if (!loaded.config) {
    std::fprintf(stderr, "deepgate: invalid configuration: %s\n", loaded.error.c_str());
    return 1;
  }
  if (check_only) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  setup_logging(loaded.config->log);
  return run(loaded.config, [config_path] {
    auto now = config::process_environment();
    return config_path.empty() ? config::load_defaults(now) : config::load_file(config_path, now);
  });
}

}  // namespace deepgate::app
