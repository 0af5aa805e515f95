// Two gateway replicas sharing keys through a real redis-server.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {
std::string replica_yaml(std::uint16_t mock_port, std::uint16_t redis_port) {
  return gateway_yaml(mock_port, "", "",
                      "auth:\n  store: redis\n  sync_interval: 200ms\nredis:\n  url: redis://127.0.0.1:" +
                          std::to_string(redis_port) + "\n  command_timeout: 100ms\n");
}

json keys_cli(std::uint16_t redis_port, const std::string& args) {
  auto out = capture(std::string(gateway_bin()) + " keys " + args + " --redis redis://127.0.0.1:" +
                     std::to_string(redis_port) + " --json 2>&1");
  auto j = json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j;
}

int status_with(std::uint16_t port, const std::string& key) {
  return post_json(port, "/v1/chat/completions", chat_body("hi"), {{"Authorization", "Bearer " + key}}).status;
}
}  // namespace

TEST(redis_keys, replicas_see_new_and_revoked_keys_within_five_seconds) {
  auto redis = redis_server::start();
  auto mock = mock_server::start();
  auto a = gateway_server::start(replica_yaml(mock->port, redis->port));
  auto b = gateway_server::start(replica_yaml(mock->port, redis->port));
  auto created = keys_cli(redis->port, "create --owner team-r --models deepseek-*");
  auto key = created["key"].get<std::string>();
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return status_with(a->port, key) == 200 && status_with(b->port, key) == 200; },
                         std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  keys_cli(redis->port, "revoke " + created["id"].get<std::string>());
  start = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return status_with(a->port, key) == 401 && status_with(b->port, key) == 401; },
                         std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(redis_keys, an_outage_keeps_known_keys_and_refuses_unknown_ones_with_503) {
  auto redis = redis_server::start();
  auto redis_port = redis->port;
  auto mock = mock_server::start();
  auto known = keys_cli(redis_port, "create --owner team-o")["key"].get<std::string>();
  auto gw = gateway_server::start(replica_yaml(mock->port, redis_port));
  ASSERT_TRUE(eventually([&] { return status_with(gw->port, known) == 200; }));

  redis.reset();  // Redis goes away
  ASSERT_TRUE(gw->process->wait_for_log("key store (redis) unreachable", std::chrono::seconds(5)));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(status_with(gw->port, known), 200);  // known keys keep working
  auto unknown = post_json(gw->port, "/v1/chat/completions", chat_body("hi"),
                           {{"Authorization", "Bearer dg-never-seen-key-00000000000"}});
  EXPECT_EQ(unknown.status, 503);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "auth_unavailable");
  EXPECT_FALSE(unknown.header("retry-after").empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));  // nothing hangs on the dead Redis

  redis = redis_server::start({}, redis_port);  // back, empty: the old records are gone with it
  auto fresh = keys_cli(redis_port, "create --owner team-o")["key"].get<std::string>();
  EXPECT_TRUE(eventually([&] { return status_with(gw->port, fresh) == 200; }, std::chrono::seconds(5)));
  EXPECT_EQ(status_with(gw->port, "dg-never-seen-key-00000000000"), 401);  // reachable again: a plain 401
}

TEST(redis_keys, redis_holds_digests_never_key_values) {
  auto redis = redis_server::start();
  auto created = keys_cli(redis->port, "create --owner canary");
  auto key = created["key"].get<std::string>();
  auto dump = redis->cli("--scan") + redis->cli("GET deepgate:key:" + created["id"].get<std::string>());
  EXPECT_NE(dump.find("deepgate:keys:version"), std::string::npos) << dump;
  EXPECT_EQ(dump.find(key), std::string::npos);
  EXPECT_NE(dump.find(created["sha256"].get<std::string>()), std::string::npos);
}
