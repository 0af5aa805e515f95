#include "deepgate/cache/prompt_cache.hpp"

#include "deepgate/cache/memory_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace deepgate::cache {

namespace asio = boost::asio;

struct prompt_cache::worker {
  asio::any_io_executor executor;
  std::unique_ptr<redis::connection> conn;
  std::unique_ptr<redis_store> store;
};

prompt_cache::prompt_cache(const config::gateway_config& cfg, std::vector<asio::any_io_executor> workers,
                           std::function<void()> on_redis_error)
    : cfg_(cfg.cache) {
  if (!cfg_.redis) {
    memory_ = std::make_unique<memory_store>(cfg_.max_bytes);
    return;
  }
  for (auto& ex : workers) {
    auto w = std::make_unique<worker>();
    w->executor = ex;
    auto opts = redis::options_from(cfg.redis, "redis (cache)");
    opts.on_error = on_redis_error;
    w->conn = std::make_unique<redis::connection>(ex, std::move(opts));
    w->store = std::make_unique<redis_store>(*w->conn, cfg_.max_entry_bytes + 64);  // + the value's header
    workers_.push_back(std::move(w));
  }
}

prompt_cache::~prompt_cache() = default;

asio::awaitable<std::optional<stored_answer>> prompt_cache::get(unsigned worker, std::string key) {
  if (memory_) {
    auto e = memory_->get(key, std::chrono::system_clock::now());
    if (!e) co_return std::nullopt;
    co_return stored_answer{std::move(e->value), e->stored};
  }
  auto& w = *workers_.at(worker);
  if (!w.store) co_return std::nullopt;  // shut down
  co_return co_await w.store->get(key);  // the caller checks the value's form
}

namespace {
// Owns what it stores: the request that produced it may be gone when Redis answers.
asio::awaitable<void> store_in_background(redis_store& store, std::string key, std::string answer,
                                          std::chrono::milliseconds ttl, std::atomic<std::uint64_t>& stored,
                                          std::atomic<std::uint64_t>& not_stored) {
  const auto now = std::chrono::system_clock::now();
  const bool ok = co_await store.put(key, answer, now, ttl);
  (ok ? stored : not_stored).fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

void prompt_cache::put(unsigned worker, std::string key, std::string answer, std::chrono::milliseconds ttl) {
  if (answer.size() > cfg_.max_entry_bytes || ttl.count() <= 0) {
    not_stored_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (memory_) {
    const bool ok = memory_->put(key, std::move(answer), std::chrono::system_clock::now(), ttl);
    (ok ? stored_ : not_stored_).fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto& w = *workers_.at(worker);
  if (!w.store) return;
  asio::co_spawn(w.executor, store_in_background(*w.store, std::move(key), std::move(answer), ttl, stored_, not_stored_),
                 asio::detached);
}

std::size_t prompt_cache::bytes() const { return memory_ ? memory_->bytes() : 0; }
std::size_t prompt_cache::entries() const { return memory_ ? memory_->entries() : 0; }
std::uint64_t prompt_cache::evictions() const { return memory_ ? memory_->evictions() : 0; }

void prompt_cache::shutdown() {
  for (auto& w : workers_) {
    if (w->conn) w->conn->close();
    w->store.reset();
    w->conn.reset();
  }
}

}  // namespace deepgate::cache
