#pragma once
// The Generic Cell Rate Algorithm, the arithmetic behind the request and token limits. State is
// one number, the theoretical arrival time (TAT): when the bucket would be empty again if nothing
// more arrived. A request of `cost` units is allowed when, after adding cost × interval, the TAT
// is no further than `capacity` × interval ahead of now. Sans-io and clock-free: times are
// microseconds on whatever clock the caller uses (steady in memory, Redis TIME in the scripts,
// which implement the same formulas in Lua).
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace deepgate::limits {

using micros = std::int64_t;

struct gcra_rate {
  double interval = 0;  // microseconds per unit (60e6 / per-minute limit)
  double capacity = 0;  // units that may pass at once (the burst)
};

// A limit of `per_minute` units with a burst of `burst` units (0: one minute's worth).
inline gcra_rate per_minute(double per_minute, double burst = 0) {
  return {60e6 / per_minute, burst > 0 ? burst : per_minute};
}

struct gcra_result {
  bool allowed = false;
  micros tat = 0;          // the new state (unchanged when refused)
  micros retry_after = 0;  // refused: how long until the same request would pass
  std::int64_t remaining = 0;  // units that could still pass at once after this decision
  micros reset = 0;        // how long until the bucket is full again
};

// Refuses outright (retry_after < 0) a cost larger than the capacity: it can never pass.
inline gcra_result gcra_check(micros tat, micros now, gcra_rate rate, double cost) {
  gcra_result r;
  const micros base = std::max(tat, now);
  const double window = rate.capacity * rate.interval;
  const micros next = base + static_cast<micros>(std::llround(cost * rate.interval));
  const double allow_at = static_cast<double>(next) - window;
  if (cost > rate.capacity) {
    r.tat = tat;
    r.retry_after = -1;
  } else if (allow_at > static_cast<double>(now)) {
    r.tat = tat;
    r.retry_after = static_cast<micros>(std::ceil(allow_at - static_cast<double>(now)));
  } else {
    r.allowed = true;
    r.tat = next;
  }
  const double ahead = static_cast<double>(r.tat > now ? r.tat - now : 0);
  r.remaining = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor((window - ahead) / rate.interval + 1e-9)));
  r.reset = static_cast<micros>(ahead);
  return r;
}

// Settles a reservation once the real cost is known: a positive delta charges more, a negative
// one gives units back. A refund never moves the TAT below min(tat, now): it cannot bank
// capacity beyond a full bucket.
inline micros gcra_adjust(micros tat, micros now, gcra_rate rate, double delta) {
  const micros moved = tat + static_cast<micros>(std::llround(delta * rate.interval));
  return std::max(moved, std::min(tat, now));
}

}  // namespace deepgate::limits
