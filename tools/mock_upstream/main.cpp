// deepgate-mock: a DeepSeek-compatible fake backend for demos, tests and benchmarks.
#include "mock_server.hpp"

#include "deepgate/core/strings.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {
constexpr const char* usage =
    "usage: deepgate-mock [--host H] [--port P] [--workers N] [--tls-cert F --tls-key F] [--api-key K]\n"
    "                     [--models a,b] [--models-meta JSON] [--tokens N] [--latency-ms N] [--ttft-ms N] [--tps X]\n"
    "                     [--queue-ms N] [--keepalive-ms N] [--balance CNY_AMOUNT] [--status N]\n"
    "                     [--reject-fields a,b] [--idle-timeout-ms N]\n"
    "Per request, directives in the last user message override these: \"[mock status=503 tokens=3]\".\n";
}

int main(int argc, char** argv) {
  using namespace deepgate;
  config::server_config server;
  server.host = "127.0.0.1";
  server.port = 0;
  server.workers = 1;
  server.idle_timeout = std::chrono::minutes(5);
  mock::options opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "deepgate-mock: %s needs a value\n%s", argv[i], usage);
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--host") server.host = v;
    else if (a == "--port") server.port = static_cast<std::uint16_t>(std::stoi(v));
    else if (a == "--workers") server.workers = static_cast<unsigned>(std::stoi(v));
    else if (a == "--tls-cert") server.tls.cert_file = v;
    else if (a == "--tls-key") server.tls.key_file = v;
    else if (a == "--api-key") opts.api_key = v;
    else if (a == "--tokens") opts.defaults.tokens = std::stoi(v);
    else if (a == "--status") opts.defaults.status = std::stoi(v);
    else if (a == "--latency-ms") opts.defaults.latency_ms = std::stoi(v);
    else if (a == "--ttft-ms") opts.defaults.ttft_ms = std::stoi(v);
    else if (a == "--tps") opts.defaults.tps = std::stod(v);
    else if (a == "--queue-ms") opts.defaults.queue_ms = std::stoi(v);
    else if (a == "--balance") opts.balance = v;
    else if (a == "--keepalive-ms") opts.defaults.keepalive_ms = std::max(1, std::stoi(v));
    else if (a == "--models") opts.models = split_list(v);
    else if (a == "--reject-fields") opts.reject_fields = split_list(v);
    else if (a == "--idle-timeout-ms") server.idle_timeout = std::chrono::milliseconds(std::max(1, std::stoi(v)));
    else if (a == "--models-meta") opts.models_meta = v;
    else {
      std::fprintf(stderr, "deepgate-mock: unknown argument '%s'\n%s", argv[i - 1], usage);
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  spdlog::flush_on(spdlog::level::info);
  mock::mock_service service(std::move(opts));
  http::server srv(server, service.handler());
  try {
    srv.start();
  } catch (const std::exception& e) {
    spdlog::error("deepgate-mock: cannot listen: {}", e.what());
    return 1;
  }
  spdlog::info("deepgate-mock listening on {}:{} (workers={}, tls={})", server.host, srv.port(), srv.workers(),
               server.tls.enabled() ? "on" : "off");
  boost::asio::io_context control;
  boost::asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([](auto, int) {});
  control.run();
  srv.stop();
  return 0;
}
