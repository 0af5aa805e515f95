// The Redis client against a real redis-server: pipelining, reconnect, timeouts, AUTH, TLS.
#include "deepgate/redis/connection.hpp"
#include "redis_server.hpp"
#include "test_ca.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <functional>

using namespace deepgate;
using namespace deepgate::test;
namespace asio = boost::asio;

namespace {
redis::options opts_for(std::uint16_t port, std::string password = {}, std::string user = {}) {
  redis::options o;
  o.address.port = port;
  o.address.password = std::move(password);
  o.address.user = std::move(user);
  o.max_backoff = std::chrono::milliseconds(200);
  return o;
}

asio::awaitable<void> run_body(const std::function<asio::awaitable<void>(asio::io_context&)>& body,
                               asio::io_context& ioc, bool& finished) {
  co_await body(ioc);
  finished = true;
}

// Runs `body` as a coroutine on a fresh io_context until it finishes (bounded).
void run(const std::function<asio::awaitable<void>(asio::io_context&)>& body) {
  asio::io_context ioc;
  bool finished = false;
  asio::co_spawn(ioc, run_body(body, ioc, finished), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ioc.run_for(std::chrono::seconds(30));
  ASSERT_TRUE(finished) << "the test coroutine did not finish in 30 s";
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Retries a command until it succeeds or `tries` run out (for reconnects).
asio::awaitable<redis::result> until_ok(redis::connection& c, const std::vector<std::string>& args, int tries = 200) {
  redis::result r;
  for (int i = 0; i < tries; ++i) {
    auto copy = args;
    r = co_await c.command(std::move(copy));
    if (r.ok()) co_return r;
    const auto pause = std::chrono::milliseconds(25);
    co_await sleep_for(pause);
  }
  co_return r;
}
asio::awaitable<void> incr_and_echo(redis::connection& c, int i, int& matched, int& finished) {
  std::vector<std::string> cmd1{"INCRBY", "counter", std::to_string(i)};
  auto r = co_await c.command(std::move(cmd1));
  std::vector<std::string> cmd2{"ECHO", "v" + std::to_string(i)};
  auto echo = co_await c.command(std::move(cmd2));
  if (r.ok() && echo.ok() && echo.value.str == "v" + std::to_string(i)) ++matched;
  ++finished;
}
}  // namespace

TEST(redis_client, commands_are_binary_safe) {
  auto server = redis_server::start();
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection c(ioc.get_executor(), opts_for(server->port));
    std::string binary("a\0b\r\nc", 6);
    std::vector<std::string> cmd3{"SET", "k", binary, "PX", "60000"};
    auto set = co_await c.command(std::move(cmd3));
    EXPECT_TRUE(set.ok()) << redis::to_string(set.err);
    EXPECT_EQ(set.value.str, "OK");
    std::vector<std::string> cmd4{"GET", "k"};
    auto get = co_await c.command(std::move(cmd4));
    EXPECT_EQ(get.value.type, redis::reply::kind::string);
    EXPECT_EQ(get.value.str, binary);
    std::vector<std::string> cmd5{"GET", "nope"};
    auto missing = co_await c.command(std::move(cmd5));
    EXPECT_EQ(missing.value.type, redis::reply::kind::nil);
    std::vector<std::string> cmd6{"INCR", "k"};
    auto err = co_await c.command(std::move(cmd6));
    EXPECT_TRUE(err.ok());
    EXPECT_TRUE(err.value.is_error());
    std::vector<std::string> cmd7{"MGET", "k", "nope"};
    auto arr = co_await c.command(std::move(cmd7));
    EXPECT_EQ(arr.value.elements.size(), 2u);
  });
}

TEST(redis_client, concurrent_commands_are_pipelined_and_matched_in_order) {
  auto server = redis_server::start();
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection c(ioc.get_executor(), opts_for(server->port));
    std::vector<std::string> cmd8{"PING"};
    (void)co_await c.command(std::move(cmd8));
    constexpr int n = 500;
    int matched = 0, finished = 0;
    for (int i = 0; i < n; ++i) asio::co_spawn(ioc, incr_and_echo(c, i, matched, finished), asio::detached);
    const auto tick = std::chrono::milliseconds(5);
    while (finished < n) co_await sleep_for(tick);
    EXPECT_EQ(matched, n);
    std::vector<std::string> cmd9{"GET", "counter"};
    auto total = co_await c.command(std::move(cmd9));
    EXPECT_EQ(total.value.str, std::to_string(n * (n - 1) / 2));
  });
  auto stats = server->cli("INFO stats");
  // One connection carried all 1000 commands; the other one is this redis-cli.
  EXPECT_NE(stats.find("total_connections_received:2\r"), std::string::npos) << stats;
}

TEST(redis_client, reconnects_after_a_server_restart) {
  auto server = redis_server::start();
  auto port = server->port;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection c(ioc.get_executor(), opts_for(port));
    std::vector<std::string> cmd10{"SET", "a", "1"};
    auto res1 = co_await c.command(std::move(cmd10));
    EXPECT_TRUE(res1.ok());
    server.reset();  // SIGTERM: the server goes away
    std::vector<std::string> cmd11{"GET", "a"};
    auto during = co_await c.command(std::move(cmd11));
    EXPECT_FALSE(during.ok());
    EXPECT_FALSE(c.connected());
    auto fast = std::chrono::steady_clock::now();
    std::vector<std::string> cmd12{"PING"};
    auto res2 = co_await c.command(std::move(cmd12));
    EXPECT_EQ(res2.err, redis::error::unavailable);  // fails fast while down
    EXPECT_LT(std::chrono::steady_clock::now() - fast, std::chrono::milliseconds(50));
    server = redis_server::start({}, port);
    std::vector<std::string> ping{"PING"};
    auto after = co_await until_ok(c, ping);
    EXPECT_TRUE(after.ok());
    EXPECT_EQ(after.value.str, "PONG");
    EXPECT_TRUE(c.connected());
  });
}

TEST(redis_client, a_paused_server_times_out_within_the_deadline) {
  auto server = redis_server::start();
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection c(ioc.get_executor(), opts_for(server->port));
    std::vector<std::string> cmd13{"SET", "p", "1"};
    auto res3 = co_await c.command(std::move(cmd13));
    EXPECT_TRUE(res3.ok());
    server->cli("CLIENT PAUSE 1500 ALL");
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string> cmd14{"GET", "p"};
    auto r = co_await c.command(std::move(cmd14));
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.err, redis::error::timeout);
    EXPECT_LT(took, std::chrono::milliseconds(100 + 150));  // the 100 ms deadline, plus scheduling slack
    // After the pause the late reply is dropped in order and the next command gets its own.
    std::vector<std::string> echo_fresh{"ECHO", "fresh"};
    auto later = co_await until_ok(c, echo_fresh);
    EXPECT_EQ(later.value.str, "fresh");
  });
}

TEST(redis_client, authenticates_with_password_and_acl_user) {
  auto server = redis_server::start({"--requirepass", "s3cret-pw"});
  server->cli("ACL SETUSER app on '>app-pw' '~*' '+@all'", "s3cret-pw");
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection good(ioc.get_executor(), opts_for(server->port, "s3cret-pw"));
    std::vector<std::string> cmd15{"SET", "x", "1"};
    auto res4 = co_await good.command(std::move(cmd15));
    EXPECT_TRUE(res4.ok());
    redis::connection acl(ioc.get_executor(), opts_for(server->port, "app-pw", "app"));
    std::vector<std::string> cmd16{"GET", "x"};
    auto res5 = co_await acl.command(std::move(cmd16));
    EXPECT_EQ(res5.value.str, "1");
    redis::connection bad(ioc.get_executor(), opts_for(server->port, "wrong"));
    std::vector<std::string> cmd17{"GET", "x"};
    auto r = co_await bad.command(std::move(cmd17));
    EXPECT_FALSE(r.ok() && !r.value.is_error());
  });
}

TEST(redis_client, rediss_verifies_the_server_certificate) {
  auto dir = make_temp_dir("deepgate-redis-tls");
  auto ca = test_ca::create(dir);
  auto [cert, key] = ca.issue("redis", {"localhost"});
  auto server = redis_server::start({"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca.ca_cert,
                                     "--tls-auth-clients", "no"},
                                    0, true);
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    auto o = opts_for(server->port);
    o.address.tls = true;
    o.ca_file = ca.ca_cert;
    redis::connection trusted(ioc.get_executor(), o);
    std::vector<std::string> cmd18{"PING"};
    auto r = co_await trusted.command(std::move(cmd18));
    EXPECT_TRUE(r.ok()) << redis::to_string(r.err);
    EXPECT_EQ(r.value.str, "PONG");
    auto untrusted_opts = o;
    untrusted_opts.ca_file.clear();  // the system store does not know the test CA
    redis::connection untrusted(ioc.get_executor(), untrusted_opts);
    std::vector<std::string> cmd19{"PING"};
    auto res6 = co_await untrusted.command(std::move(cmd19));
    EXPECT_FALSE(res6.ok());
  });
}

// ---------------------------------------------------------------- Redis Cluster

namespace {
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}
}  // namespace

TEST(redis_client, cluster_mode_routes_by_slot_and_follows_ask_and_moved) {
  auto cluster = redis_cluster::start(3, 0);
  auto opts = opts_for(cluster->nodes.front()->port);
  opts.cluster = true;
  opts.command_timeout = std::chrono::milliseconds(500);
  // The key to move: its slot's owner and another primary.
  const std::string key = "moving-key";
  auto* from = cluster->primary_for(key);
  ASSERT_NE(from, nullptr);
  redis_server* to = nullptr;
  for (auto& n : cluster->nodes)
    if (n.get() != from) to = n.get();
  const auto slot = trimmed(from->cli("CLUSTER KEYSLOT " + key));
  const auto from_id = trimmed(from->cli("CLUSTER MYID")), to_id = trimmed(to->cli("CLUSTER MYID"));

  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection conn(ioc.get_executor(), opts);
    EXPECT_TRUE(conn.cluster());
    // Keys all over the slot space: each lands on its slot's primary.
    for (int i = 0; i < 60; ++i) {
      std::vector<std::string> set{"SET", "k" + std::to_string(i), "v" + std::to_string(i)};
      auto r = co_await conn.command(std::move(set));
      EXPECT_TRUE(r.ok() && r.value.str == "OK") << i << " " << r.value.str;
    }
    for (int i = 0; i < 60; ++i) {
      std::vector<std::string> get{"GET", "k" + std::to_string(i)};
      auto r = co_await conn.command(std::move(get));
      EXPECT_EQ(r.value.str, "v" + std::to_string(i));
    }
    std::vector<std::string> set{"SET", key, "payload"};
    auto stored = co_await conn.command(std::move(set));
    EXPECT_TRUE(stored.ok());

    // Mid-migration: the key has moved, the slot not yet: the old owner answers ASK.
    to->cli("CLUSTER SETSLOT " + slot + " IMPORTING " + from_id);
    from->cli("CLUSTER SETSLOT " + slot + " MIGRATING " + to_id);
    from->cli("MIGRATE 127.0.0.1 " + std::to_string(to->port) + " " + key + " 0 5000");
    EXPECT_NE(from->cli("GET " + key).find("ASK"), std::string::npos);
    std::vector<std::string> get{"GET", key};
    auto asked = co_await conn.command(std::move(get));
    EXPECT_TRUE(asked.ok());
    EXPECT_EQ(asked.value.str, "payload");

    // Migration done: the old owner answers MOVED, and the client's map follows.
    for (auto* n : {to, from}) n->cli("CLUSTER SETSLOT " + slot + " NODE " + to_id);
    for (auto& n : cluster->nodes)
      if (n.get() != to && n.get() != from) n->cli("CLUSTER SETSLOT " + slot + " NODE " + to_id);
    EXPECT_NE(from->cli("GET " + key).find("MOVED"), std::string::npos);
    std::vector<std::string> again{"GET", key};
    auto moved = co_await conn.command(std::move(again));
    EXPECT_EQ(moved.value.str, "payload");
    std::vector<std::string> write{"SET", key, "after"};
    auto written = co_await conn.command(std::move(write));
    EXPECT_TRUE(written.ok() && written.value.str == "OK");
    // A script whose keys share a hash tag runs on their slot's node.
    std::vector<std::string> eval{"EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[2])",
                                  "2", "{tag}:a", "{tag}:b", "x"};
    auto script = co_await conn.command(std::move(eval));
    EXPECT_TRUE(script.ok() && !script.value.is_error()) << script.value.str;
    conn.close();
  });
  EXPECT_EQ(trimmed(to->cli("GET " + key)), "after");
}
