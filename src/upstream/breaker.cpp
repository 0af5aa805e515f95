#include "deepgate/upstream/breaker.hpp"

#include <algorithm>

namespace deepgate::upstream {

bool breaker::allow(clock::time_point now) {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case state::closed: return true;
    case state::open:
      if (now < reopen_at_) return false;
      state_ = state::half_open;
      probing_ = true;
      return true;
    case state::half_open:
      if (probing_) return false;
      probing_ = true;
      return true;
  }
  return false;
}

void breaker::success() {
  std::lock_guard lock(mutex_);
  state_ = state::closed;
  consecutive_ = 0;
  probing_ = false;
  cool_down_ = s_.cool_down;
}

void breaker::open(clock::time_point now, std::chrono::milliseconds at_least) {
  if (state_ == state::half_open) cool_down_ = std::min(cool_down_ * 2, s_.max_cool_down);  // it failed again
  state_ = state::open;
  probing_ = false;
  reopen_at_ = now + std::max(cool_down_, at_least);
}

void breaker::failure(clock::time_point now, std::optional<std::chrono::seconds> retry_after) {
  std::lock_guard lock(mutex_);
  ++consecutive_;
  if (s_.failures == 0) return;  // the breaker is off
  if (state_ == state::half_open || consecutive_ >= s_.failures)
    open(now, retry_after ? std::chrono::milliseconds(*retry_after) : std::chrono::milliseconds{});
}

void breaker::trip(clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (s_.failures == 0) return;  // the breaker is off
  ++consecutive_;
  open(now);
}

void breaker::release_probe() {
  std::lock_guard lock(mutex_);
  probing_ = false;
}

breaker::state breaker::current(clock::time_point now) const {
  std::lock_guard lock(mutex_);
  if (state_ == state::open && now >= reopen_at_) return state::half_open;
  return state_;
}

breaker::clock::time_point breaker::available_at(clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return state_ == state::open ? std::max(now, reopen_at_) : now;
}

}  // namespace deepgate::upstream
