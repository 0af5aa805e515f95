// The prompt cache's Redis store against a real redis-server: binary-safe round trips, TTL,
// the size cap, and a stopped Redis as a miss.
#include "deepgate/cache/redis_store.hpp"
#include "redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <functional>

using namespace deepgate;
using namespace deepgate::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

redis::options opts_for(std::uint16_t port) {
  redis::options o;
  o.address.port = port;
  o.command_timeout = 200ms;
  o.connect_timeout = 200ms;
  return o;
}

void run(const std::function<asio::awaitable<void>(asio::io_context&)>& body) {
  asio::io_context ioc;
  bool finished = false;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> {
        co_await body(ioc);
        finished = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run_for(std::chrono::seconds(30));
  ASSERT_TRUE(finished) << "the test coroutine did not finish in 30 s";
}

}  // namespace

TEST(cache_value, encodes_and_decodes_with_the_store_time) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  auto v = cache::encode_stored(std::string("a\0b\n{}", 6), t);
  auto d = cache::decode_stored(v);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d->value, std::string("a\0b\n{}", 6));
  EXPECT_EQ(d->stored, t);
  EXPECT_FALSE(cache::decode_stored("{\"old\":\"format\"}"));
  EXPECT_FALSE(cache::decode_stored("dg1 x\n{}"));
}

TEST(cache_redis, round_trips_binary_values_with_a_ttl_and_caps_their_size) {
  auto server = redis_server::start();
  using namespace std::string_literals;
  const std::string answer = "{\"content\":\"\xe4\xbd\xa0\\u0000\"}\0tail"s;  // UTF-8 and a NUL byte
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection conn(ioc.get_executor(), opts_for(server->port));
    cache::redis_store store(conn, 1024);
    auto now = std::chrono::system_clock::now();
    EXPECT_TRUE(co_await store.put("k1", answer, now, 60s));
    auto got = co_await store.get("k1");
    EXPECT_TRUE(got && *got->value == answer);
    EXPECT_FALSE(co_await store.get("missing"));
    const std::string big(2000, 'x');
    EXPECT_FALSE(co_await store.put("big", big, now, 60s));  // over the cap: not stored
    conn.close();
  });
  auto pttl = std::stoll(server->cli("PTTL deepgate:cache:k1"));
  EXPECT_GT(pttl, 50'000);
  EXPECT_LE(pttl, 60'000);
  EXPECT_EQ(server->cli("EXISTS deepgate:cache:big").substr(0, 1), "0");
}

TEST(cache_redis, a_stopped_redis_is_a_miss_not_an_error) {
  auto server = redis_server::start();
  auto port = server->port;
  server.reset();  // stopped
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redis::connection conn(ioc.get_executor(), opts_for(port));
    cache::redis_store store(conn, 1024);
    // Both answer (run() bounds the whole test): a miss and "not stored", no exception.
    EXPECT_FALSE(co_await store.get("k"));
    EXPECT_FALSE(co_await store.put("k", "v", std::chrono::system_clock::now(), 60s));
    conn.close();
  });
}
