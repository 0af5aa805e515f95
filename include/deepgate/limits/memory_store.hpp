#pragma once
// The in-memory limits store: the embedded default, and every replica's own fallback while Redis
// is unreachable. Shared by all workers, sharded (a shard is a mutex and a map) so workers rarely
// meet on a lock. Every decision checks all of a request's limits and commits all or nothing, as
// the Redis script does. Clock-free: callers pass `now` (steady microseconds) and the periods.
#include "deepgate/limits/decision.hpp"

#include <array>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace deepgate::limits {

struct admit_request {
  std::string_view bucket;  // the owner, or owner + model when the model has its own limits
  std::string_view owner;   // budgets are per owner
  const bucket_limits* limits = nullptr;
  std::int64_t tokens = 0;  // reserved: prompt estimate + completion allowance
  periods when;
};

struct settle_request {
  std::string_view bucket;
  std::string_view owner;
  const bucket_limits* limits = nullptr;
  std::int64_t token_delta = 0;  // real use − reservation
  bool release_lease = false;
  nano_usd cost = 0;
  periods when;
};

class memory_store {
 public:
  decision admit(const admit_request& r, micros now);
  void settle(const settle_request& r, micros now);

  // The bucket's and the owner's state now, changing nothing.
  peek_state peek(std::string_view bucket, std::string_view owner, const bucket_limits& l, const periods& when, micros now);
  // Concurrency slots a bucket holds now.
  std::uint32_t in_flight(std::string_view bucket);

 private:
  struct bucket_state {
    micros request_tat = 0;
    micros token_tat = 0;
    std::uint32_t in_flight = 0;
  };
  struct spend_state {
    std::int64_t day = -1, month = -1;
    nano_usd day_spent = 0, month_spent = 0;
  };
  // Looked up by string_view: no allocation per request once a bucket exists.
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class T>
  using by_name = std::unordered_map<std::string, T, name_hash, std::equal_to<>>;
  struct shard {
    std::mutex mutex;
    by_name<bucket_state> buckets;
    by_name<spend_state> spend;
  };
  template <class T>
  static T& at(by_name<T>& map, std::string_view name) {
    auto it = map.find(name);
    return it != map.end() ? it->second : map.emplace(std::string(name), T{}).first->second;
  }
  static constexpr std::size_t shard_count = 16;
  shard& shard_for(std::string_view name);
  std::array<shard, shard_count> shards_;
};

}  // namespace deepgate::limits
