#include "deepgate/limits/backend_gate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace deepgate::limits {

namespace asio = boost::asio;

struct backend_gate::waiter {
  explicit waiter(asio::any_io_executor e) : ex(e), timer(e) {}
  asio::any_io_executor ex;
  asio::steady_timer timer;
  bool granted = false;  // guarded by the gate's mutex
};

namespace {
// Wakes a waiter on its own executor (its timer belongs to that thread).
void wake(const std::shared_ptr<auto>& w) {
  asio::post(w->ex, [w] { w->timer.cancel(); });
}
}  // namespace

backend_gate::backend_gate(const config::backend_config& b, std::uint32_t replicas)
    : limit_(b.max_concurrent_requests), replicas_(std::max<std::uint32_t>(1, replicas)), queue_size_(b.queue_size) {}

asio::awaitable<bool> backend_gate::acquire(asio::any_io_executor ex, time_point deadline, bool share) {
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock(mutex_);
    const auto cap = share ? std::max<std::uint32_t>(1, limit_ / replicas_) : limit_;
    if (in_use_ < cap && waiters_.empty()) {
      ++in_use_;
      co_return true;
    }
    if (waiters_.size() >= queue_size_) co_return false;
    w = std::make_shared<waiter>(ex);
    waiters_.push_back(w);
  }
  w->timer.expires_at(deadline);
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(mutex_);
  if (w->granted) co_return true;  // release() handed its slot over
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), w));
  co_return false;
}

void backend_gate::release() {
  std::lock_guard lock(mutex_);
  if (waiters_.empty()) {
    if (in_use_ > 0) --in_use_;
    return;
  }
  auto w = waiters_.front();
  waiters_.pop_front();
  w->granted = true;  // the slot passes on: in_use_ stays
  wake(w);
}

backend_gate::queue_place backend_gate::join_queue() {
  std::lock_guard lock(mutex_);
  if (queued_ >= queue_size_ + limit_) return queue_place(nullptr);
  ++queued_;
  return queue_place(this);
}

backend_gate::queue_place::~queue_place() {
  if (!g_) return;
  std::lock_guard lock(g_->mutex_);
  --g_->queued_;
}

asio::awaitable<void> backend_gate::wait_for_release(asio::any_io_executor ex, time_point deadline,
                                                     std::chrono::milliseconds max_wait) {
  auto w = std::make_shared<waiter>(ex);
  {
    std::lock_guard lock(mutex_);
    pollers_.push_back(w);
  }
  w->timer.expires_at(std::min(deadline, std::chrono::steady_clock::now() + max_wait));
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(mutex_);
  if (auto it = std::find(pollers_.begin(), pollers_.end(), w); it != pollers_.end()) pollers_.erase(it);
}

void backend_gate::notify_one() {
  std::lock_guard lock(mutex_);
  if (pollers_.empty()) return;
  wake(pollers_.front());
  pollers_.pop_front();
}

}  // namespace deepgate::limits
