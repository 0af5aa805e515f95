#pragma once
// A circuit breaker for one backend, shared by every worker. Closed: requests pass, consecutive
// failures are counted; at `failures` in a row (or at once, for a failure retrying cannot fix,
// such as DeepSeek's 402 insufficient balance) it opens. Open: requests skip the backend (to a
// fallback, or a fast 503) until the cool-down ends; then one probe passes (half-open). The
// probe's success closes it; its failure opens it again with the cool-down doubled, up to
// `max_cool_down`.
// Sans-io: time is an argument; a mutex guards the few fields.
#include "deepgate/config/breaker_config.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace deepgate::upstream {

using config::breaker_settings;

class breaker {
 public:
  using clock = std::chrono::steady_clock;
  enum class state : std::uint8_t { closed = 0, half_open = 1, open = 2 };

  explicit breaker(breaker_settings s = {}) : s_(s), cool_down_(s.cool_down) {}

  // May a request go to this backend now? In half-open, true for one probe at a time.
  bool allow(clock::time_point now);
  void success();
  // `retry_after`: the backend's own advice; an opening breaker stays open at least that long.
  void failure(clock::time_point now, std::optional<std::chrono::seconds> retry_after = std::nullopt);
  void trip(clock::time_point now);  // open at once (402)
  // A probe that ended without an outcome (the client left): another may go.
  void release_probe();

  state current(clock::time_point now) const;
  // When the backend may be tried again (now, when it may be tried now).
  clock::time_point available_at(clock::time_point now) const;

 private:
  void open(clock::time_point now, std::chrono::milliseconds at_least = {});
  breaker_settings s_;
  mutable std::mutex mutex_;
  state state_ = state::closed;
  std::uint32_t consecutive_ = 0;
  std::chrono::milliseconds cool_down_;
  clock::time_point reopen_at_{};
  bool probing_ = false;
};

}  // namespace deepgate::upstream
