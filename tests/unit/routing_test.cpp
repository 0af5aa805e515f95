// The sans-io parts of failover: the circuit breaker's states, weighted round-robin, backoff,
// which failures may be retried, and the retry budget.
#include "deepgate/upstream/breaker.hpp"
#include "deepgate/upstream/routing.hpp"

#include <gtest/gtest.h>

#include <array>

using namespace deepgate::upstream;
using namespace std::chrono_literals;

TEST(breaker, opens_after_consecutive_failures_half_opens_once_and_closes_on_success) {
  breaker b({3, 10s, 40s});
  const auto t0 = breaker::clock::time_point{} + 1h;
  b.failure(t0);
  b.failure(t0);
  b.success();  // not consecutive any more
  b.failure(t0);
  b.failure(t0);
  EXPECT_TRUE(b.allow(t0));
  b.failure(t0);
  EXPECT_EQ(b.current(t0), breaker::state::open);
  EXPECT_FALSE(b.allow(t0 + 9s));
  EXPECT_EQ(b.available_at(t0), t0 + 10s);
  // The cool-down is over: one probe, not two.
  EXPECT_TRUE(b.allow(t0 + 10s));
  EXPECT_FALSE(b.allow(t0 + 10s));
  b.success();
  EXPECT_EQ(b.current(t0 + 10s), breaker::state::closed);
  EXPECT_TRUE(b.allow(t0 + 10s));
}

TEST(breaker, a_failed_probe_reopens_for_longer_up_to_the_maximum) {
  breaker b({1, 10s, 25s});
  auto t = breaker::clock::time_point{} + 1h;
  b.failure(t);
  EXPECT_EQ(b.available_at(t), t + 10s);
  for (auto expected : {20s, 25s, 25s}) {
    t = b.available_at(t);
    ASSERT_TRUE(b.allow(t));  // the probe
    b.failure(t);
    EXPECT_EQ(b.available_at(t), t + expected);
  }
  // A probe that ends without an outcome lets the next one go.
  t = b.available_at(t);
  ASSERT_TRUE(b.allow(t));
  EXPECT_FALSE(b.allow(t));
  b.release_probe();
  EXPECT_TRUE(b.allow(t));
}

TEST(breaker, trips_at_once_honours_retry_after_and_can_be_off) {
  const auto t = breaker::clock::time_point{} + 1h;
  breaker b({5, 10s, 60s});
  b.trip(t);
  EXPECT_FALSE(b.allow(t));
  breaker slow({1, 1s, 60s});
  slow.failure(t, 30s);
  EXPECT_EQ(slow.available_at(t), t + 30s);
  breaker off({0, 1s, 1s});
  for (int i = 0; i < 100; ++i) off.failure(t);
  off.trip(t);
  EXPECT_TRUE(off.allow(t));
}

TEST(weighted_rr, exact_and_interleaved) {
  weighted_rr rr;
  const std::array<std::uint32_t, 3> w{5, 1, 1};
  const std::array<char, 3> all{1, 1, 1};
  std::array<int, 3> count{};
  std::string order;
  for (int i = 0; i < 7; ++i) {
    auto p = rr.pick(w, all);
    ++count[static_cast<std::size_t>(p)];
    order += static_cast<char>('a' + p);
  }
  EXPECT_EQ(count, (std::array<int, 3>{5, 1, 1}));
  EXPECT_EQ(order, "aabacaa");  // nginx's smooth sequence: not aaaaabc
  const std::array<char, 3> only_c{0, 0, 1};
  EXPECT_EQ(rr.pick(w, only_c), 2);
  const std::array<char, 3> none{0, 0, 0};
  EXPECT_EQ(rr.pick(w, none), -1);
}

TEST(retry_policy, what_may_be_retried_and_how_long_to_wait) {
  for (auto f : {failure::connect, failure::tls, failure::reset_before_headers, failure::pool_exhausted})
    EXPECT_TRUE(retryable(f)) << to_string(f);
  for (auto f : {failure::header_timeout, failure::reset_mid_body, failure::read_timeout, failure::bad_response,
                 failure::abandoned})
    EXPECT_FALSE(retryable(f)) << to_string(f);
  for (unsigned s : {429u, 500u, 502u, 503u, 504u}) EXPECT_TRUE(retryable_status(s));
  for (unsigned s : {400u, 401u, 402u, 404u, 422u}) EXPECT_FALSE(retryable_status(s));
  EXPECT_EQ(backoff(1, 50ms, 1s, 0.999999), 50ms);
  EXPECT_EQ(backoff(1, 50ms, 1s, 0), 25ms);
  EXPECT_EQ(backoff(3, 50ms, 1s, 0.999999), 200ms);
  EXPECT_EQ(backoff(30, 50ms, 1s, 0.999999), 1s);
}

TEST(retry_policy, the_budget_is_a_share_of_requests_in_flight_with_a_minimum) {
  retry_budget b;
  std::vector<std::unique_ptr<retry_budget::request>> flying;
  for (int i = 0; i < 20; ++i) flying.push_back(std::make_unique<retry_budget::request>(b));
  // 20 % of 20 is 4, more than the minimum of 3.
  std::vector<retry_budget::retry> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(b.try_retry(0.2, 3));
    EXPECT_TRUE(held.back().granted());
  }
  EXPECT_FALSE(b.try_retry(0.2, 3).granted());
  held.pop_back();  // one retry ended
  EXPECT_TRUE(b.try_retry(0.2, 3).granted());
  flying.clear();
  held.clear();
  for (int i = 0; i < 3; ++i) held.push_back(b.try_retry(0.2, 3));  // the minimum with nothing in flight
  EXPECT_TRUE(held.back().granted());
  EXPECT_FALSE(b.try_retry(0.2, 3).granted());
}
