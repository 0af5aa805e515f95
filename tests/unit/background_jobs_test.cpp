// The control thread's background jobs stop together and for good (app/background_jobs.hpp): the
// shutdown hang of 91a1d83 was a job whose timer had already fired when it was cancelled, whose
// handler then re-armed it and kept the io_context (and the process) alive forever.
#include "deepgate/app/background_jobs.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>

namespace asio = boost::asio;
using deepgate::app::background_jobs;
using namespace std::chrono_literals;

namespace {

// A job that counts a tick every millisecond until the jobs stop.
void spawn_ticker(background_jobs& jobs, int& ticks) {
  jobs.spawn("tick", [&]() -> asio::awaitable<void> {
    const std::chrono::nanoseconds every = 1ms;
    for (;;) {
      const bool go_on = co_await jobs.pause(every);
      if (!go_on) break;
      ++ticks;
    }
  });
}

}  // namespace

TEST(background_jobs, stop_ends_every_job_even_one_whose_timer_already_fired) {
  asio::io_context ioc;
  background_jobs jobs(ioc.get_executor());
  int ticks = 0, long_waits_ended = 0, stopped_in_flight = 0;
  spawn_ticker(jobs, ticks);
  jobs.spawn(
      "long", [&]() -> asio::awaitable<void> {
        const std::chrono::nanoseconds hour = 1h;
        const bool go_on = co_await jobs.pause(hour);
        EXPECT_FALSE(go_on);
        ++long_waits_ended;
      },
      [&] { ++stopped_in_flight; });
  while (ticks < 3) ioc.run_one();
  EXPECT_EQ(jobs.running(), 2u);
  // The tick job's 1 ms timer expires now, its handler not yet run: then the stop comes.
  const auto expired = std::chrono::steady_clock::now() + 2ms;
  while (std::chrono::steady_clock::now() < expired) {
  }
  jobs.stop();
  jobs.stop();  // idempotent
  ioc.run_for(10s);
  EXPECT_TRUE(ioc.stopped()) << "a job kept the io_context alive after stop()";
  EXPECT_EQ(jobs.running(), 0u);
  EXPECT_EQ(long_waits_ended, 1);
  EXPECT_EQ(stopped_in_flight, 1);
  const int after = ticks;
  bool started = false;
  jobs.spawn("late", [&]() -> asio::awaitable<void> {
    started = true;
    co_return;
  });
  ioc.restart();
  ioc.run_for(100ms);
  EXPECT_FALSE(started);  // nothing starts after the stop
  EXPECT_EQ(ticks, after);
}

TEST(background_jobs, a_job_that_throws_ends_alone) {
  asio::io_context ioc;
  background_jobs jobs(ioc.get_executor());
  int ticks = 0;
  jobs.spawn("throws", []() -> asio::awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  });
  spawn_ticker(jobs, ticks);
  while (ticks < 2) ioc.run_one();
  EXPECT_EQ(jobs.running(), 1u);
  jobs.stop();
  ioc.run_for(10s);
  EXPECT_TRUE(ioc.stopped());
}
