#pragma once
// Token usage as backends report it, and what it costs. DeepSeek splits the prompt into
// prompt_cache_hit_tokens / prompt_cache_miss_tokens; other OpenAI-compatible servers report
// prompt_tokens_details.cached_tokens (or nothing). Costs are integers in nano-USD so sums over
// many requests stay exact; prices (core/price.hpp) are USD per million tokens.
#include "deepgate/core/price.hpp"

#include <chrono>
#include <cstdint>
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

using core::nano_usd;
using core::price;
using core::price_schedule;
nano_usd cost(const usage& u, const price& p);

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
