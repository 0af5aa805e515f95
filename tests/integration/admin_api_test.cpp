// The admin API: its own listener and token, the same key operations as the CLI.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {
const std::string admin_token = "admin-token-canary-55121-xyz";

std::string admin_yaml() { return "admin:\n  port: 0\n  token: " + admin_token + "\n"; }

std::uint16_t admin_port(gateway_server& gw) {
  auto line = gw.process->wait_for_log("admin API on", std::chrono::seconds(5));
  return line ? port_from_line(*line, "admin API on ") : 0;
}

http_response admin(std::uint16_t port, const std::string& method, const std::string& path, const std::string& body = {},
                    const std::string& token = admin_token) {
  headers h{{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  return http_call(port, method, path, body, h);
}

int chat_with(std::uint16_t port, const std::string& key) {
  return post_json(port, "/v1/chat/completions", chat_body("hi"), {{"Authorization", "Bearer " + key}}).status;
}
}  // namespace

TEST(admin_api, manages_keys_in_the_keys_file) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "", "auth: {keys_file: keys.json}\n" + admin_yaml()));
  auto port = admin_port(*gw);
  ASSERT_NE(port, 0);
  EXPECT_NE(gw->process->log().find("admin API on 127.0.0.1:"), std::string::npos);  // loopback by default

  EXPECT_EQ(admin(port, "GET", "/admin/keys", {}, "wrong-token-000000000").status, 401);
  EXPECT_EQ(http_call(port, "GET", "/admin/keys", {}, {{"x-api-key", "nope"}}).status, 401);
  EXPECT_EQ(admin(port, "POST", "/admin/keys", R"({"models":["x"]})").status, 400);  // owner missing
  EXPECT_EQ(admin(port, "POST", "/admin/keys", R"({"owner":"o","limits":"no-such-profile"})").status, 400);

  auto created = admin(port, "POST", "/admin/keys", R"({"owner":"team-admin","models":["deepseek-*"],"metadata":{"env":"test"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto record = json::parse(created.body);
  auto key = record["key"].get<std::string>();
  auto id = record["id"].get<std::string>();
  EXPECT_EQ(chat_with(gw->port, key), 200);  // this replica sees it at once

  auto list = json::parse(admin(port, "GET", "/admin/keys").body);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_FALSE(list["data"][0].contains("key"));  // the value is shown once, at creation
  EXPECT_EQ(json::parse(admin(port, "GET", "/admin/keys/" + id).body)["owner"], "team-admin");
  EXPECT_EQ(admin(port, "GET", "/admin/keys/key_nope").status, 404);

  auto rotated = admin(port, "POST", "/admin/keys/" + id + "/rotate", R"({"grace":"1h"})");
  ASSERT_EQ(rotated.status, 201);
  auto new_key = json::parse(rotated.body)["key"].get<std::string>();
  EXPECT_EQ(chat_with(gw->port, new_key), 200);
  EXPECT_EQ(chat_with(gw->port, key), 200);  // inside its grace period

  EXPECT_EQ(admin(port, "POST", "/admin/keys/" + json::parse(rotated.body)["id"].get<std::string>() + "/revoke").status, 200);
  EXPECT_EQ(chat_with(gw->port, new_key), 401);
  EXPECT_EQ(gw->process->log().find(admin_token), std::string::npos);
  EXPECT_EQ(gw->process->log().find(key), std::string::npos);
}

TEST(admin_api, key_admin_is_off_without_a_token_but_metrics_are_served) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port));
  ASSERT_NE(gw->admin_port, 0);
  auto r = http_call(gw->admin_port, "GET", "/admin/keys", "", {{"authorization", "Bearer anything-at-all-1234"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "admin_api_off");
  auto m = http_call(gw->admin_port, "GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("deepgate_build_info"), std::string::npos);
}

TEST(admin_api, admin_listener_can_be_turned_off) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "", test_auth_yaml() + "admin: {enabled: false}\n"));
  EXPECT_TRUE(gw->process->wait_for_log("admin listener off", std::chrono::seconds(5)));
  EXPECT_EQ(gw->admin_port, 0);
}

TEST(admin_api, create_and_revoke_on_one_replica_reach_the_other_through_redis) {
  auto redis = redis_server::start();
  auto mock = mock_server::start();
  auto yaml = gateway_yaml(mock->port, "", "",
                           "auth: {store: redis}\nredis: {url: 'redis://127.0.0.1:" + std::to_string(redis->port) +
                               "'}\n" + admin_yaml());
  auto a = gateway_server::start(yaml);
  auto b = gateway_server::start(yaml);
  auto a_admin = admin_port(*a);
  auto created = admin(a_admin, "POST", "/admin/keys", R"({"owner":"team-shared"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto key = json::parse(created.body)["key"].get<std::string>();
  auto id = json::parse(created.body)["id"].get<std::string>();
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return chat_with(b->port, key) == 200; }, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  EXPECT_EQ(admin(admin_port(*b), "POST", "/admin/keys/" + id + "/revoke").status, 200);  // revoke on the other one
  start = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return chat_with(a->port, key) == 401; }, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(redis->cli("--scan").find(key), std::string::npos);
}
