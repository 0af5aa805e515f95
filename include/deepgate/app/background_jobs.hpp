#pragma once
// The control thread's periodic jobs (keys-file watch, Redis key sync, balance checks, model
// lists, access-log flush) as coroutines that stop together, as in Beast's awaitable examples:
// each is spawned with its own cancellation slot, and stop() marks the group stopped and emits
// terminal cancellation to every job at once, so a job waiting in pause() returns at once.
// pause() also answers false whenever stop() has been called, even when its timer had already
// expired with success: no job can re-arm after the stop, and the control io_context runs out of
// work once the last job returns (the shutdown hang of 91a1d83 was a timer handler that re-armed).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>

namespace deepgate::app {

class background_jobs {
 public:
  explicit background_jobs(boost::asio::any_io_executor ex);
  ~background_jobs();
  background_jobs(const background_jobs&) = delete;
  background_jobs& operator=(const background_jobs&) = delete;

  // Starts `job` now (on the group's executor). `on_stop`, if given, gives up work in flight that
  // cancellation cannot reach (an upstream exchange, a Redis connection). After stop(), a new
  // job is not started.
  void spawn(std::string name, std::function<boost::asio::awaitable<void>()> job, std::function<void()> on_stop = {});
  // Idempotent. Call on the group's executor's thread.
  void stop();
  bool stopping() const { return stopping_; }
  // Waits `d`: true; false at once, or as soon as stop() is called.
  boost::asio::awaitable<bool> pause(std::chrono::nanoseconds d);
  // Jobs started and not yet returned.
  std::size_t running() const;

 private:
  struct entry;
  boost::asio::any_io_executor ex_;
  std::list<std::shared_ptr<entry>> jobs_;
  bool stopping_ = false;
};

}  // namespace deepgate::app
