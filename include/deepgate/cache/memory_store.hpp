#pragma once
// The prompt cache in memory: an LRU with a byte budget and a TTL per entry, split into shards
// (a mutex and a map each) so workers rarely meet. An entry costs its key, its value and a fixed
// overhead against the budget; a shard over its share evicts from its cold end. A value larger
// than a shard's share is not stored. A value is immutable once stored: get() hands out a share of
// it, which stays valid after the entry is evicted or replaced. Sans-io: time is an argument.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::cache {

class memory_store {
 public:
  using time_point = std::chrono::system_clock::time_point;
  static constexpr std::size_t entry_overhead = 128;  // list node, map slot, bookkeeping

  struct entry {
    std::shared_ptr<const std::string> value;  // shared with the store: a hit copies nothing
    time_point stored;
  };

  explicit memory_store(std::size_t max_bytes, unsigned shards = 16);
  ~memory_store();

  std::optional<entry> get(std::string_view key, time_point now);
  // False when the value does not fit a shard's share.
  bool put(const std::string& key, std::string value, time_point now, std::chrono::milliseconds ttl);

  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::size_t entries() const;
  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  struct shard;

 private:
  std::vector<std::unique_ptr<shard>> shards_;
  std::size_t shard_budget_;
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace deepgate::cache
