#include "deepgate/core/price.hpp"

#include <cmath>

namespace deepgate::core {

nano_usd to_nano(double usd) { return static_cast<nano_usd>(std::llround(usd * nano_per_usd)); }

price_schedule::applied price_schedule::at(std::chrono::system_clock::time_point t) const {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  for (const auto& tier : tiers) {
    const auto offset_seconds = tier.zone ? tier.zone->offset_seconds(seconds) : tier.utc_offset_minutes * 60;
    const auto local_seconds = seconds + offset_seconds;
    auto days = local_seconds / 86400;
    auto minute = (local_seconds % 86400) / 60;
    if (local_seconds % 86400 < 0) {
      minute = (local_seconds % 86400 + 86400) / 60;
      --days;
    }
    // 1970-01-01 was a Thursday: day 0 is weekday 3 when Monday is 0.
    const auto weekday = ((days + 3) % 7 + 7) % 7;
    if (!(tier.weekdays & (1u << weekday))) continue;
    for (auto [from, to] : tier.windows)
      if (minute >= from && minute < to) return {&tier.rates, tier.name};
  }
  return {&base, base_name};
}

}  // namespace deepgate::core
