// deepgate on a real Redis Cluster (3 primaries, 3 replicas, redis-cli --cluster create): the
// shared key store, limits exact across two replicas, the prompt cache and usage records; then a
// primary killed: limits fail open on each replica's share, and resume on the promoted replica.
#include "fixture.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

using namespace deepgate::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string admin_token = "cluster-admin-token-canary-40213";

std::string replica_yaml(std::uint16_t mock_port, const std::string& redis_url) {
  return gateway_yaml(mock_port, "", "",
                      "auth:\n  store: redis\n  sync_interval: 200ms\n"
                      "admin:\n  port: 0\n  token: " + admin_token + "\n"
                      "redis:\n  url: " + redis_url + "\n  cluster: true\n  command_timeout: 200ms\n"
                      "limits:\n  store: redis\n  replicas: 2\n  default: {requests_per_minute: 20, request_burst: 20}\n"
                      "cache:\n  store: redis\n  policy: deterministic\n"
                      "usage:\n  flush_interval: 50ms\n");
}

headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

int chat(std::uint16_t port, const std::string& key, const std::string& content, const std::string& extra = "{}") {
  return post_json(port, "/v1/chat/completions", chat_body(content, false, "deepseek-chat", extra), bearer(key)).status;
}

json usage_of(std::uint16_t port, const std::string& key) {
  auto r = http_call(port, "GET", "/v1/usage?days=1", {}, bearer(key));
  return json::parse(r.body, nullptr, false);
}

}  // namespace

TEST(redis_cluster, keys_limits_cache_and_usage_run_on_a_cluster_and_survive_a_failover) {
  auto cluster = redis_cluster::start(3, 1);
  auto mock = mock_server::start();
  auto a = gateway_server::start(replica_yaml(mock->port, cluster->url()));
  auto b = gateway_server::start(replica_yaml(mock->port, cluster->url()));

  // Keys: created through one replica's admin API, stored in the cluster under one hash tag,
  // seen by the other replica.
  auto created = http_call(a->admin_port, "POST", "/admin/keys", R"({"owner":"team-c"})",
                           {{"Authorization", "Bearer " + admin_token}, {"Content-Type", "application/json"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const auto key = json::parse(created.body)["key"].get<std::string>();
  ASSERT_TRUE(eventually([&] { return chat(b->port, key, "hello b", R"({"temperature":0.7})") == 200; }, 5s));
  EXPECT_NE(cluster->cli("GET '{deepgate:keys}:version'"), "\n");
  EXPECT_NE(cluster->cli("SMEMBERS '{deepgate:keys}:ids'").find(json::parse(created.body)["id"].get<std::string>()),
            std::string::npos);

  // Limits: 20 a minute for team-c, one limit across both replicas. One request was spent above.
  int ok = 0, refused = 0;
  for (int i = 0; i < 40; ++i) {
    const int s = chat(i % 2 ? b->port : a->port, key, "n " + std::to_string(i), R"({"temperature":0.7})");
    (s == 200 ? ok : refused) += 1;
    EXPECT_TRUE(s == 200 || s == 429) << s;
  }
  EXPECT_EQ(ok, 19);
  EXPECT_EQ(refused, 21);

  // Usage: both replicas' batches in the cluster, the same totals from either.
  auto done = [](const json& j) { return j.is_object() && j["usage"]["totals"]["requests"] == 41; };
  json ua, ub;
  EXPECT_TRUE(eventually([&] { return done(ua = usage_of(a->port, key)); }, 10s)) << ua.dump();
  EXPECT_TRUE(eventually([&] { return done(ub = usage_of(b->port, key)); }, 10s)) << ub.dump();
  EXPECT_EQ(ua["usage"]["totals"], ub["usage"]["totals"]);
  EXPECT_EQ(ua["usage"]["totals"]["refused_requests"], 21);
  EXPECT_EQ(ua["store"], "redis");
  EXPECT_EQ(ua["limits"]["state"], "shared");
  EXPECT_EQ(ua["limits"]["buckets"][0]["requests_per_minute"]["remaining"], 0);

  // The cache in the cluster: a deterministic answer stored by one replica is the other's hit.
  // (A fresh owner's key, so the limit above does not refuse it.)
  auto other = http_call(a->admin_port, "POST", "/admin/keys", R"({"owner":"team-d"})",
                         {{"Authorization", "Bearer " + admin_token}, {"Content-Type", "application/json"}});
  const auto key_d = json::parse(other.body)["key"].get<std::string>();
  ASSERT_TRUE(eventually([&] { return usage_of(b->port, key_d).is_object() && usage_of(b->port, key_d).contains("owner"); }, 5s));
  auto first = post_json(a->port, "/v1/chat/completions", chat_body("cached in the cluster", false, "deepseek-chat", R"({"temperature":0})"), bearer(key_d));
  EXPECT_EQ(first.header("x-deepgate-cache"), "miss");
  auto second = post_json(b->port, "/v1/chat/completions", chat_body("cached in the cluster", false, "deepseek-chat", R"({"temperature":0})"), bearer(key_d));
  EXPECT_EQ(second.header("x-deepgate-cache"), "hit");
  EXPECT_EQ(json::parse(second.body)["choices"], json::parse(first.body)["choices"]);

  // Failover: kill the primary holding team-c's limits; requests go on (each replica its share),
  // then the promoted replica is found and the shared limit resumes.
  auto* victim = cluster->primary_for("deepgate:lim:{team-c}:req");
  ASSERT_NE(victim, nullptr);
  victim->process->signal(SIGKILL);
  victim->process->wait_exit(5s);
  int served = 0;
  for (int i = 0; i < 6; ++i) served += chat(i % 2 ? b->port : a->port, key, "during " + std::to_string(i), R"({"temperature":0.7})") == 200;
  EXPECT_GT(served, 0) << "limits fail open while the slot has no primary";
  const auto t0 = std::chrono::steady_clock::now();
  json after;
  ASSERT_TRUE(eventually([&] {
    chat(a->port, key, "probe", R"({"temperature":0.7})");  // commands find the new primary
    chat(b->port, key, "probe", R"({"temperature":0.7})");
    after = usage_of(a->port, key);
    auto bb = usage_of(b->port, key);
    return after.is_object() && after["limits"]["state"] == "shared" && bb.is_object() && bb["limits"]["state"] == "shared";
  }, 30s)) << after.dump() << "\n" << a->process->log().substr(a->process->log().size() > 4000 ? a->process->log().size() - 4000 : 0)
           << cluster->cli("CLUSTER NODES");
  std::printf("figure: shared limits resumed %.1f s after the primary was killed\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  // Shared again: one limit for both replicas, on the promoted node.
  const auto remaining = after["limits"]["buckets"][0]["requests_per_minute"]["remaining"].get<int>();
  int again = 0;
  for (int i = 0; i < remaining + 6; ++i) again += chat(i % 2 ? b->port : a->port, key, "after " + std::to_string(i), R"({"temperature":0.7})") == 200;
  EXPECT_GE(again, remaining);
  EXPECT_LE(again, remaining + 1);  // a request's worth may refill while these run (one every 3 s)
  EXPECT_NE(a->process->log().find("cluster slot map"), std::string::npos);
}
