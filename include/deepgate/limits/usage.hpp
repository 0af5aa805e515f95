#pragma once
// Token usage as backends report it, and what it costs. DeepSeek splits the prompt into
// prompt_cache_hit_tokens / prompt_cache_miss_tokens; other OpenAI-compatible servers report
// prompt_tokens_details.cached_tokens (or nothing). Costs are integers in nano-USD so sums over
// many requests stay exact; prices are USD per million tokens, from the config's price table.
#include "deepgate/core/time_zone.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deepgate::limits {

struct usage {
  std::int64_t prompt = 0;
  std::int64_t completion = 0;  // includes reasoning tokens, as DeepSeek bills them
  std::int64_t reasoning = 0;
  std::int64_t cache_hit = 0;
  std::int64_t cache_miss = 0;
  bool estimated = false;  // the answer did not report usage (client left, backend silent)
  std::int64_t total() const { return prompt + completion; }
};

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
nano_usd cost(const usage& u, const price& p);
nano_usd to_nano(double usd);

// The "usage" object of a chat completion or of a stream chunk, found in the JSON text without
// parsing the whole answer: only the object itself is parsed. nullopt when absent, null or bad.
std::optional<usage> find_usage(std::string_view json_text);

// One stream chunk's data when the gateway asked for usage the client did not: the usage is read
// and removed. Returns what the client should get instead: nullopt to drop the event (the
// dedicated usage chunk, whose choices are empty), or the chunk rewritten without "usage".
struct chunk_usage {
  std::optional<usage> found;
  bool drop = false;
  std::optional<std::string> rewritten;
};
chunk_usage take_chunk_usage(std::string_view data, bool strip);

}  // namespace deepgate::limits
