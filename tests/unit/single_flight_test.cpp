// Single-flight across threads: followers on another event loop get the leader's answer, or
// nothing when the leader gives up, or nothing after their timeout.
#include "deepgate/cache/single_flight.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <future>
#include <thread>

using deepgate::cache::single_flight;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Runs `n` followers of `f` on a separate thread's io_context and calls `meanwhile` once all of
// them wait: a coroutine runs until its first suspension before the next queued handler, so the
// handler posted after the spawns runs when every follower is registered and suspended.
std::vector<std::optional<std::string>> follow(std::shared_ptr<single_flight::flight> f, int n,
                                               std::chrono::milliseconds timeout, const std::function<void()>& meanwhile) {
  asio::io_context ioc;
  std::vector<std::optional<std::string>> results(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    asio::co_spawn(
        ioc, [&, i]() -> asio::awaitable<void> { results[static_cast<std::size_t>(i)] = co_await single_flight::wait(f, timeout); },
        asio::detached);
  std::promise<void> all_waiting;
  asio::post(ioc, [&] { all_waiting.set_value(); });
  std::thread t([&] { ioc.run(); });
  all_waiting.get_future().wait();
  meanwhile();
  t.join();
  return results;
}

}  // namespace

TEST(single_flight, followers_on_another_thread_get_the_leaders_answer) {
  single_flight sf;
  auto a = sf.join("k");
  ASSERT_TRUE(a.leader);
  auto b = sf.join("k");
  ASSERT_FALSE(b.leader);
  ASSERT_TRUE(b.follow);
  EXPECT_TRUE(sf.join("other").leader);  // another key leads on its own
  auto results = follow(b.follow, 20, 10s, [&] { a.leader->publish("answer"); });
  for (auto& r : results) EXPECT_EQ(r, std::optional<std::string>("answer"));
  EXPECT_TRUE(sf.join("k").leader) << "a finished flight is gone: the next miss leads again";
}

TEST(single_flight, a_leader_that_gives_up_releases_its_followers_with_nothing) {
  single_flight sf;
  auto a = sf.join("k");
  auto b = sf.join("k");
  auto results = follow(b.follow, 3, 10s, [&] { a.leader.reset(); });
  for (auto& r : results) EXPECT_FALSE(r);
  EXPECT_EQ(sf.in_flight(), 0u);
}

TEST(single_flight, a_slow_leader_times_followers_out) {
  single_flight sf;
  auto a = sf.join("k");
  auto b = sf.join("k");
  auto results = follow(b.follow, 2, 20ms, [] {});
  for (auto& r : results) EXPECT_FALSE(r);
  a.leader->publish("late");  // nobody waits any more: nothing is posted anywhere
  // A follower that joins after the answer gets it at once.
  asio::io_context ioc;
  std::optional<std::string> got;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { got = co_await single_flight::wait(b.follow, 10s); }, asio::detached);
  ioc.run();
  EXPECT_EQ(got, std::optional<std::string>("late"));
}
