#pragma once
// Prices as the config gives them: USD per million tokens, by kind of token, with time-of-day
// tiers (DeepSeek bills peak and off-peak rates since V4). Costs are integers in nano-USD so
// sums over many requests stay exact. Sans-io: the moment is an argument.
#include "deepgate/core/time_zone.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deepgate::core {

struct price {
  double input_cache_hit = 0;   // USD per 1M prompt tokens served from the backend's prefix cache
  double input_cache_miss = 0;  // USD per 1M other prompt tokens
  double output = 0;            // USD per 1M completion tokens (reasoning included)
};

// Time-of-day prices (DeepSeek bills peak and off-peak rates since V4). A tier applies on its
// weekdays within its windows, on the clock of a named time zone (daylight saving included) or
// of a fixed offset from UTC; the first tier that holds a moment wins, and outside every tier the
// base rates apply.
struct price_tier {
  std::string name;  // as the access log records it, e.g. "peak"
  int utc_offset_minutes = 0;                     // when no zone is named
  std::shared_ptr<const core::time_zone> zone;  // e.g. Asia/Shanghai
  std::uint8_t weekdays = 0x7f;  // bit 0 Monday ... bit 6 Sunday
  std::vector<std::pair<int, int>> windows;  // [from, to) in minutes of that clock's day
  price rates;
};

struct price_schedule {
  price base;
  std::string base_name = "standard";
  std::vector<price_tier> tiers;

  struct applied {
    const price* rates;
    std::string_view tier;
  };
  applied at(std::chrono::system_clock::time_point t) const;
};

using nano_usd = std::int64_t;
constexpr nano_usd nano_per_usd = 1'000'000'000;
nano_usd to_nano(double usd);

}  // namespace deepgate::core
