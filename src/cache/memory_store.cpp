#include "deepgate/cache/memory_store.hpp"

#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>

namespace deepgate::cache {

struct memory_store::shard {
  struct node {
    std::string key;
    entry e;
    time_point expires;
    std::size_t cost;
  };
  std::mutex mutex;
  std::list<node> lru;  // front: most recently used
  std::unordered_map<std::string_view, std::list<node>::iterator> index;  // views into the nodes' keys
  std::size_t bytes = 0;
};

memory_store::memory_store(std::size_t max_bytes, unsigned shards)
    : shard_budget_(max_bytes / std::max(1u, shards)) {
  for (unsigned i = 0; i < std::max(1u, shards); ++i) shards_.push_back(std::make_unique<shard>());
}

memory_store::~memory_store() = default;

std::optional<memory_store::entry> memory_store::get(std::string_view key, time_point now) {
  auto& s = *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
  std::lock_guard lock(s.mutex);
  auto it = s.index.find(key);
  if (it == s.index.end()) return std::nullopt;
  auto node = it->second;
  if (node->expires <= now) {
    s.bytes -= node->cost;
    bytes_.fetch_sub(node->cost, std::memory_order_relaxed);
    s.index.erase(it);
    s.lru.erase(node);
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, node);
  return node->e;
}

bool memory_store::put(const std::string& key, std::string value, time_point now, std::chrono::milliseconds ttl) {
  const std::size_t cost = key.size() + value.size() + entry_overhead;
  if (cost > shard_budget_ || ttl.count() <= 0) return false;
  auto& s = *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
  std::lock_guard lock(s.mutex);
  if (auto it = s.index.find(key); it != s.index.end()) {
    auto node = it->second;
    s.bytes -= node->cost;
    bytes_.fetch_sub(node->cost, std::memory_order_relaxed);
    s.index.erase(it);
    s.lru.erase(node);
  }
  while (s.bytes + cost > shard_budget_ && !s.lru.empty()) {
    auto& cold = s.lru.back();
    s.bytes -= cold.cost;
    bytes_.fetch_sub(cold.cost, std::memory_order_relaxed);
    s.index.erase(cold.key);
    s.lru.pop_back();
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  s.lru.push_front(shard::node{key, entry{std::make_shared<const std::string>(std::move(value)), now}, now + ttl, cost});
  s.index.emplace(s.lru.front().key, s.lru.begin());
  s.bytes += cost;
  bytes_.fetch_add(cost, std::memory_order_relaxed);
  return true;
}

std::size_t memory_store::entries() const {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    n += s->lru.size();
  }
  return n;
}

}  // namespace deepgate::cache
