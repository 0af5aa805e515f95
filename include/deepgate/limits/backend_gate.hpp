#pragma once
// A backend's concurrency budget on this replica: at most N requests in flight, the rest wait in
// a bounded FIFO queue until a slot frees or their deadline passes. Shared by all workers: a
// release on one worker hands the slot to the oldest waiter, whichever worker it runs on, by
// cancelling that waiter's timer on its own executor. With Redis the budget itself lives in
// Redis (limiter.cpp); this gate then bounds the local queue and wakes pollers early.
#include "deepgate/config/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>

namespace deepgate::limits {

class backend_gate {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  backend_gate(const config::backend_config& b, std::uint32_t replicas);

  // True with a slot (release() it), false when the queue is full or the deadline passed.
  // `share`: enforce limit ÷ replicas (Redis unreachable).
  boost::asio::awaitable<bool> acquire(boost::asio::any_io_executor ex, time_point deadline, bool share);
  void release();

  // Redis mode: a place in the bounded local queue while polling the shared budget.
  class queue_place {
   public:
    explicit queue_place(backend_gate* g) : g_(g) {}
    queue_place(queue_place&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
    queue_place& operator=(queue_place&&) = delete;
    ~queue_place();
    explicit operator bool() const { return g_ != nullptr; }

   private:
    backend_gate* g_;
  };
  queue_place join_queue();
  // Waits until notify_one() or `max_wait`, whichever is first (never past the deadline).
  boost::asio::awaitable<void> wait_for_release(boost::asio::any_io_executor ex, time_point deadline,
                                                std::chrono::milliseconds max_wait);
  void notify_one();

 private:
  struct waiter;
  std::uint32_t limit_, replicas_, queue_size_;
  std::mutex mutex_;
  std::uint32_t in_use_ = 0;
  std::uint32_t queued_ = 0;  // redis mode
  std::deque<std::shared_ptr<waiter>> waiters_, pollers_;
};

}  // namespace deepgate::limits
