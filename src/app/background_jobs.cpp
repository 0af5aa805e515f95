#include "deepgate/app/background_jobs.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace deepgate::app {

namespace asio = boost::asio;

struct background_jobs::entry {
  std::string name;
  asio::cancellation_signal signal;
  std::function<void()> on_stop;
  bool done = false;
};

namespace {

// The job's whole stack answers a cancellation with operation_aborted from the operation it
// waits on, not with an exception at its next co_await: the job decides how to end.
asio::awaitable<void> guarded(std::function<asio::awaitable<void>()> job) {
  co_await asio::this_coro::throw_if_cancelled(false);
  co_await job();
}

}  // namespace

background_jobs::background_jobs(asio::any_io_executor ex) : ex_(std::move(ex)) {}

background_jobs::~background_jobs() { stop(); }

void background_jobs::spawn(std::string name, std::function<asio::awaitable<void>()> job, std::function<void()> on_stop) {
  if (stopping_) return;
  auto e = std::make_shared<entry>();
  e->name = std::move(name);
  e->on_stop = std::move(on_stop);
  jobs_.push_back(e);
  asio::co_spawn(ex_, guarded(std::move(job)),
                 asio::bind_cancellation_slot(e->signal.slot(), [e](std::exception_ptr ep) {
                   e->done = true;
                   if (!ep) return;
                   try {
                     std::rethrow_exception(ep);
                   } catch (const std::exception& x) {
                     spdlog::error("background job {} ended with an error: {}", e->name, x.what());
                   }
                 }));
}

void background_jobs::stop() {
  if (std::exchange(stopping_, true)) return;
  for (auto& e : jobs_) {
    if (e->done) continue;
    if (e->on_stop) e->on_stop();
    e->signal.emit(asio::cancellation_type::terminal);
  }
}

asio::awaitable<bool> background_jobs::pause(std::chrono::nanoseconds d) {
  if (stopping_) co_return false;
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));  // stop() cancels it through the job's slot
  co_return !stopping_;
}

std::size_t background_jobs::running() const {
  return static_cast<std::size_t>(std::count_if(jobs_.begin(), jobs_.end(), [](auto& e) { return !e->done; }));
}

}  // namespace deepgate::app
