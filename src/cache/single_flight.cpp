#include "deepgate/cache/single_flight.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vector>

namespace deepgate::cache {

namespace asio = boost::asio;

namespace {
struct waiter {
  explicit waiter(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
};
}  // namespace

struct single_flight::flight {
  std::mutex mutex;
  bool done = false;
  std::optional<std::string> answer;
  std::vector<std::shared_ptr<waiter>> waiters;
};

single_flight::lead::lead(single_flight& owner, std::string key, std::shared_ptr<flight> f)
    : owner_(&owner), key_(std::move(key)), f_(std::move(f)) {}

single_flight::lead::lead(lead&& o) noexcept : owner_(o.owner_), key_(std::move(o.key_)), f_(std::move(o.f_)) {}

single_flight::lead::~lead() {
  if (f_) owner_->finish(key_, f_, std::nullopt);
}

void single_flight::lead::publish(std::string answer) {
  if (!f_) return;
  auto f = std::move(f_);
  owner_->finish(key_, f, std::move(answer));
}

single_flight::joined single_flight::join(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto it = flights_.find(key); it != flights_.end()) return {std::nullopt, it->second};
  auto f = std::make_shared<flight>();
  flights_.emplace(key, f);
  joined j;
  j.leader.emplace(*this, key, std::move(f));
  return j;
}

void single_flight::finish(const std::string& key, const std::shared_ptr<flight>& f, std::optional<std::string> answer) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = flights_.find(key); it != flights_.end() && it->second == f) flights_.erase(it);
  }
  std::vector<std::shared_ptr<waiter>> wake;
  {
    std::lock_guard lock(f->mutex);
    f->done = true;
    f->answer = std::move(answer);
    wake.swap(f->waiters);
  }
  // Each follower's timer is cancelled on the follower's own executor: a timer is not thread-safe.
  for (auto& w : wake) asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

asio::awaitable<std::optional<std::string>> single_flight::wait(std::shared_ptr<flight> f,
                                                                std::chrono::milliseconds timeout) {
  auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
  w->timer.expires_after(timeout);
  {
    std::lock_guard lock(f->mutex);
    if (f->done) co_return f->answer;
    f->waiters.push_back(w);
  }
  // However this wait ends (answer, timeout, or the coroutine destroyed at shutdown), the leader
  // must not post to it afterwards.
  struct deregister {
    flight& f;
    const std::shared_ptr<waiter>& w;
    ~deregister() {
      std::lock_guard lock(f.mutex);
      std::erase(f.waiters, w);
    }
  } guard{*f, w};
  // A publish between here and the wait posts its cancel to this thread, so it runs only once
  // this coroutine is suspended in the wait.
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(f->mutex);
  if (f->done) co_return f->answer;
  co_return std::nullopt;  // timed out: the leader is too slow
}

std::size_t single_flight::in_flight() const {
  std::lock_guard lock(mutex_);
  return flights_.size();
}

}  // namespace deepgate::cache
