#pragma once
// The `cache:` section: the prompt/response cache's store, budget, TTLs, policy and scope.
// docs/cache.md explains each choice; config/deepgate.example.yaml documents every key.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::config {

// off: never cached. deterministic: cached when temperature is 0 or a seed is set (the default;
// a sampled answer is one of many, and replaying it would hide that). always: every request.
enum class cache_mode : std::uint8_t { off, deterministic, always };
std::optional<cache_mode> parse_cache_mode(std::string_view s);
std::string_view to_string(cache_mode m);

struct cache_config {
  bool redis = false;  // store: memory (default, per replica) or redis (shared by replicas)
  cache_mode mode = cache_mode::deterministic;
  bool shared = false;  // scope: owner (default: one owner's answers serve only that owner) or shared
  std::size_t max_bytes = 64 * 1024 * 1024;  // the memory store's budget, keys and overhead included
  std::size_t max_entry_bytes = 1024 * 1024;  // larger answers are not stored (either store)
  std::chrono::milliseconds ttl{3'600'000};
  std::chrono::milliseconds max_ttl{86'400'000};  // the most x-deepgate-cache-ttl may ask for
  // Whether a hit is charged against tokens-per-minute and budgets (it always counts as a request
  // and holds a concurrency slot while it is answered).
  bool hits_count_tokens = false;
  // Identical misses in flight: how long a follower waits for the leader's answer before it goes
  // upstream itself.
  std::chrono::milliseconds follower_timeout{120'000};
  // Per route and per key, most specific first: key id, then owner, then client-facing model.
  std::map<std::string, cache_mode, std::less<>> keys;
  std::map<std::string, cache_mode, std::less<>> owners;
  std::map<std::string, cache_mode, std::less<>> models;

  cache_mode mode_for(std::string_view key_id, std::string_view owner, std::string_view model) const;
};

}  // namespace deepgate::config
