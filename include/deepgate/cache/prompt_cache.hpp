#pragma once
// Stage 4 of a chat request: the prompt/response cache. One object for the process, built at
// startup from `cache:`: the in-memory LRU (shared by the workers, sharded) or, with
// `store: redis`, one Redis connection per worker (a Redis failure is a miss, bounded by
// redis.command_timeout); and the single-flight table that makes concurrent identical misses one
// upstream call. Stores never delay a client: memory stores are immediate, Redis stores run in
// the background on the worker's loop.
#include "deepgate/cache/redis_store.hpp"
#include "deepgate/cache/single_flight.hpp"
#include "deepgate/config/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace deepgate::cache {

class memory_store;

class prompt_cache {
 public:
  prompt_cache(const config::gateway_config& cfg, std::vector<boost::asio::any_io_executor> workers,
               std::function<void()> on_redis_error = {});
  ~prompt_cache();
  prompt_cache(const prompt_cache&) = delete;
  prompt_cache& operator=(const prompt_cache&) = delete;

  boost::asio::awaitable<std::optional<stored_answer>> get(unsigned worker, std::string key);
  // Stores a complete answer (larger than cache.max_entry_bytes: skipped). Returns at once.
  void put(unsigned worker, std::string key, std::string answer, std::chrono::milliseconds ttl);

  single_flight& flights() { return flights_; }

  // For /metrics. The memory store's numbers are 0 with the Redis store.
  std::size_t bytes() const;
  std::size_t entries() const;
  std::uint64_t evictions() const;
  std::uint64_t stored() const { return stored_.load(std::memory_order_relaxed); }
  std::uint64_t not_stored() const { return not_stored_.load(std::memory_order_relaxed); }

  // Closes the Redis connections. Call after the workers stopped, before their io_contexts go.
  void shutdown();

 private:
  struct worker;
  const config::cache_config cfg_;
  std::unique_ptr<memory_store> memory_;
  std::vector<std::unique_ptr<worker>> workers_;
  single_flight flights_;
  std::atomic<std::uint64_t> stored_{0}, not_stored_{0};
};

}  // namespace deepgate::cache
