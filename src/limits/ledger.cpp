#include "deepgate/limits/ledger.hpp"

#include "deepgate/auth/key.hpp"
#include "deepgate/core/calendar.hpp"
#include "deepgate/core/strings.hpp"
#include "deepgate/redis/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>

namespace deepgate::limits {

namespace asio = boost::asio;

namespace {

constexpr std::array<std::string_view, counter_count> counter_names{
    "requests",         "prompt_tokens",       "completion_tokens",     "reasoning_tokens",
    "cache_hit_tokens", "cache_miss_tokens",   "spend_nano_usd",        "cache_hits",
    "estimated_requests", "errors",            "refused_requests",      "refused_tokens",
    "refused_concurrency", "refused_budget",   "refused_backend_busy",  "refused_limiter_unavailable"};

// Applies one batch of one owner's day once: a batch sent again (its first try timed out after
// Redis ran it) finds its id and changes nothing.
constexpr std::string_view flush_lua = R"lua(
local now = tonumber(redis.call('TIME')[1])
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600)
redis.call('EXPIRE', KEYS[2], 7200)
for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

std::string day_key(std::string_view owner, std::int64_t day) {
  return "deepgate:usage:{" + std::string(owner) + "}:d:" + core::day_string(day);
}
std::string batches_key(std::string_view owner) { return "deepgate:usage:{" + std::string(owner) + "}:batches"; }
std::string owners_key(std::int64_t day) { return "deepgate:usage:owners:" + core::day_string(day); }

// HGETALL's fields back into a day: "requests" or "key:<id>:requests".
void add_field(owner_day& d, std::string_view field, std::int64_t value) {
  std::string_view key;
  if (field.starts_with("key:")) {
    auto colon = field.rfind(':');
    if (colon <= 4) return;
    key = field.substr(4, colon - 4);
    field = field.substr(colon + 1);
  }
  auto c = counter_named(field);
  if (!c) return;  // a field of a newer version: ignored
  if (key.empty()) d.total[*c] += value;
  else {
    auto it = d.keys.find(key);
    if (it == d.keys.end()) it = d.keys.emplace(std::string(key), counters{}).first;
    it->second[*c] += value;
  }
}

// Keeps only what the query asks of a day.
void keep_key(owner_day& d, std::string_view key) {
  if (key.empty()) return;
  auto it = d.keys.find(key);
  counters only = it == d.keys.end() ? counters{} : it->second;
  d.keys.clear();
  if (!only.empty()) d.keys.emplace(std::string(key), only);
  d.total = only;
}

}  // namespace

std::string_view to_string(counter c) { return counter_names[static_cast<std::size_t>(c)]; }

std::optional<counter> counter_named(std::string_view name) {
  for (std::size_t i = 0; i < counter_count; ++i)
    if (counter_names[i] == name) return static_cast<counter>(i);
  return std::nullopt;
}

counters& counters::operator+=(const counters& o) {
  for (std::size_t i = 0; i < counter_count; ++i) v[i] += o.v[i];
  return *this;
}

bool counters::empty() const {
  for (auto x : v)
    if (x != 0) return false;
  return true;
}

counters counters_of(const usage_event& e) {
  counters c;
  c[counter::requests] = 1;
  if (e.used) {
    c[counter::prompt_tokens] = e.used->prompt;
    c[counter::completion_tokens] = e.used->completion;
    c[counter::reasoning_tokens] = e.used->reasoning;
    c[counter::cache_hit_tokens] = e.used->cache_hit;
    c[counter::cache_miss_tokens] = e.used->cache_miss;
    if (e.used->estimated) c[counter::estimated_requests] = 1;
  }
  c[counter::spend_nano_usd] = e.spend;
  if (e.cache_hit) c[counter::cache_hits] = 1;
  if (e.refused) c[*e.refused] = 1;
  else if (e.error) c[counter::errors] = 1;
  return c;
}

// ---------------------------------------------------------------- the ledger

struct usage_ledger::impl {
  // Memory: every owner's days, sharded by owner.
  struct shard {
    std::mutex mutex;
    std::map<std::string, std::map<std::int64_t, owner_day>, std::less<>> owners;
  };
  // Redis: one owner's day waiting to be sent, under the id it keeps until Redis confirms it.
  struct batch {
    std::string id;
    std::string owner;
    std::int64_t day = 0;
    owner_day data;
  };
  struct worker {
    std::unique_ptr<redis::connection> conn;
    std::map<std::string, std::map<std::int64_t, owner_day>, std::less<>> pending;  // owner → day
    std::deque<batch> unsent;
    std::unique_ptr<asio::steady_timer> timer;
    std::uint64_t seq = 0;
    bool flushing = false;
  };

  std::shared_ptr<const config::gateway_config> config;
  std::vector<asio::any_io_executor> executors;
  bool redis = false;
  std::array<shard, 16> shards;
  std::vector<worker> workers;
  std::string replica_id = auth::generate_key_id().substr(4, 8);
  std::atomic<bool> stopping{false};
  std::atomic<int> redis_state{-1};
  static constexpr std::size_t max_unsent = 100'000;

  shard& shard_for(std::string_view owner) { return shards[std::hash<std::string_view>{}(owner) % shards.size()]; }

  std::int64_t ttl_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(config->usage.retention).count() + 86'400'000;
  }

  void note(bool ok) {
    const int now = ok ? 1 : 0;
    const int before = redis_state.exchange(now);
    if (before == now) return;
    if (ok && before == 0) spdlog::info("usage: redis reachable again, pending usage records are being written");
    else if (!ok) spdlog::warn("usage: redis unreachable; usage records wait in memory and are sent when it is back");
  }

  void prune(std::map<std::int64_t, owner_day>& days, std::int64_t today) {
    const auto keep = static_cast<std::int64_t>(config->usage.retention.count() / 86'400);
    while (!days.empty() && days.begin()->first < today - keep) days.erase(days.begin());
  }

  static asio::awaitable<void> flush_loop(impl* self, unsigned w) {
    auto& wk = self->workers[w];
    while (!self->stopping) {
      wk.timer->expires_after(self->config->usage.flush_interval);
      auto [ec] = co_await wk.timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || self->stopping) break;
      co_await self->flush(w);
    }
  }

  asio::awaitable<void> wait_idle(unsigned w) {
    asio::steady_timer pause(executors[w]);
    while (workers[w].flushing && !stopping) {
      pause.expires_after(std::chrono::milliseconds(5));
      auto [ec] = co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) break;
    }
  }

  // Moves the pending counts into batches and sends them in order; stops at the first failure
  // (the rest wait for the next round, with their ids).
  asio::awaitable<void> flush(unsigned w) {
    auto& wk = workers[w];
    // A round in progress took what was pending when it began: wait for it, then go again.
    if (wk.flushing) co_await wait_idle(w);
    if (wk.flushing || !wk.conn) co_return;
    wk.flushing = true;
    for (auto& [owner, days] : wk.pending)
      for (auto& [day, data] : days)
        wk.unsent.push_back({replica_id + ":" + std::to_string(w) + ":" + std::to_string(++wk.seq), owner, day,
                             std::move(data)});
    wk.pending.clear();
    if (wk.unsent.size() > max_unsent) {
      spdlog::error("usage: {} usage batches could not be written to redis; the oldest {} are dropped",
                    wk.unsent.size(), wk.unsent.size() - max_unsent);
      wk.unsent.erase(wk.unsent.begin(), wk.unsent.begin() + static_cast<std::ptrdiff_t>(wk.unsent.size() - max_unsent));
    }
    std::map<std::int64_t, std::set<std::string>> new_owners;
    while (!wk.unsent.empty() && wk.conn) {
      auto& b = wk.unsent.front();
      static const redis::script flush_script{flush_lua};
      std::vector<std::string> keys{day_key(b.owner, b.day), batches_key(b.owner)};
      auto args = batch_args(b);
      auto r = co_await redis::eval(*wk.conn, flush_script, std::move(keys), std::move(args));
      note(r.ok());
      if (!r.ok()) break;  // unavailable or timed out: sent again next round, under the same id
      if (r.value.is_error()) {
        spdlog::error("usage: redis refused a usage batch: {}", r.value.str);
      } else {
        new_owners[b.day].insert(b.owner);
      }
      wk.unsent.pop_front();
    }
    for (auto& [day, owners] : new_owners) {
      if (!wk.conn) break;
      std::vector<std::string> sadd{"SADD", owners_key(day)};
      sadd.insert(sadd.end(), owners.begin(), owners.end());
      auto added = co_await wk.conn->command(std::move(sadd));
      if (!added.ok() || !wk.conn) break;
      std::vector<std::string> expire{"PEXPIRE", owners_key(day), std::to_string(ttl_ms())};
      auto expired = co_await wk.conn->command(std::move(expire));
      if (!expired.ok()) break;
    }
    wk.flushing = false;
  }

  // flush_lua's arguments for one batch: its id, the TTL, then only the counters that are not zero.
  std::vector<std::string> batch_args(const batch& b) const {
    std::vector<std::string> args{b.id, std::to_string(ttl_ms())};
    auto add = [&](const std::string& prefix, const counters& c) {
      for (std::size_t i = 0; i < counter_count; ++i)
        if (c.v[i] != 0) {
          args.push_back(prefix + std::string(counter_names[i]));
          args.push_back(std::to_string(c.v[i]));
        }
    };
    add("", b.data.total);
    for (auto& [id, c] : b.data.keys) add("key:" + id + ":", c);
    return args;
  }

  usage_report read_memory(const usage_query& q) {
    usage_report out;
    auto take = [&](const std::string& owner, const std::map<std::int64_t, owner_day>& days) {
      for (auto it = days.lower_bound(q.from_day); it != days.end() && it->first <= q.to_day; ++it) {
        auto d = it->second;
        keep_key(d, q.key);
        if (!d.total.empty()) out[owner][it->first] = std::move(d);
      }
    };
    if (!q.owner.empty()) {
      auto& s = shard_for(q.owner);
      std::lock_guard lock(s.mutex);
      if (auto it = s.owners.find(q.owner); it != s.owners.end()) take(it->first, it->second);
      return out;
    }
    for (auto& s : shards) {
      std::lock_guard lock(s.mutex);
      for (auto& [owner, days] : s.owners) take(owner, days);
    }
    return out;
  }

  asio::awaitable<std::optional<usage_report>> read_redis(redis::connection& conn, usage_query q) {
    usage_report out;
    std::set<std::string> owners;
    if (!q.owner.empty()) owners.insert(q.owner);
    else
      for (auto day = q.from_day; day <= q.to_day; ++day) {
        std::vector<std::string> cmd{"SMEMBERS", owners_key(day)};
        auto r = co_await conn.command(std::move(cmd));
        if (!r.ok() || r.value.type != redis::reply::kind::array) co_return std::nullopt;
        for (auto& e : r.value.elements) owners.insert(e.str);
      }
    for (auto& owner : owners)
      for (auto day = q.from_day; day <= q.to_day; ++day) {
        std::vector<std::string> cmd{"HGETALL", day_key(owner, day)};
        auto r = co_await conn.command(std::move(cmd));
        if (!r.ok() || r.value.type != redis::reply::kind::array) co_return std::nullopt;
        owner_day d;
        auto& e = r.value.elements;
        for (std::size_t i = 0; i + 1 < e.size(); i += 2)
          if (auto v = core::parse_integer(e[i + 1].str)) add_field(d, e[i].str, *v);
        keep_key(d, q.key);
        if (!d.total.empty()) out[owner][day] = std::move(d);
      }
    co_return out;
  }
};

usage_ledger::usage_ledger(std::shared_ptr<const config::gateway_config> config, std::vector<asio::any_io_executor> workers,
                           std::function<void()> on_redis_error)
    : impl_(std::make_unique<impl>()) {
  auto& s = *impl_;
  s.config = std::move(config);
  s.executors = std::move(workers);
  s.redis = s.config->limits.redis;
  s.workers.resize(s.executors.size());
  if (!s.redis) return;
  auto opts = redis::options_from(s.config->redis, "redis (usage)");
  opts.on_error = std::move(on_redis_error);
  for (std::size_t w = 0; w < s.workers.size(); ++w) {
    s.workers[w].conn = std::make_unique<redis::connection>(s.executors[w], opts);
    s.workers[w].timer = std::make_unique<asio::steady_timer>(s.executors[w]);
    asio::co_spawn(s.executors[w], impl::flush_loop(impl_.get(), static_cast<unsigned>(w)), asio::detached);
  }
}

usage_ledger::~usage_ledger() { shutdown(); }

bool usage_ledger::shared() const { return impl_->redis; }

void usage_ledger::record(unsigned worker, const usage_event& e) {
  auto& s = *impl_;
  if (s.stopping || e.owner.empty()) return;
  const auto c = counters_of(e);
  auto add = [&](owner_day& d) {
    d.total += c;
    if (!e.key_id.empty()) {
      auto it = d.keys.find(e.key_id);
      if (it == d.keys.end()) it = d.keys.emplace(std::string(e.key_id), counters{}).first;
      it->second += c;
    }
  };
  if (!s.redis) {
    auto& sh = s.shard_for(e.owner);
    std::lock_guard lock(sh.mutex);
    auto it = sh.owners.find(e.owner);
    if (it == sh.owners.end()) it = sh.owners.emplace(std::string(e.owner), std::map<std::int64_t, owner_day>{}).first;
    add(it->second[e.day]);
    s.prune(it->second, e.day);
    return;
  }
  auto& wk = s.workers[worker];
  auto it = wk.pending.find(e.owner);
  if (it == wk.pending.end()) it = wk.pending.emplace(std::string(e.owner), std::map<std::int64_t, owner_day>{}).first;
  add(it->second[e.day]);
}

asio::awaitable<std::optional<usage_report>> usage_ledger::read(unsigned worker, usage_query q) {
  if (!impl_->redis) co_return impl_->read_memory(q);
  auto& conn = *impl_->workers[worker].conn;
  co_return co_await impl_->read_redis(conn, std::move(q));
}

asio::awaitable<std::optional<usage_report>> usage_ledger::read(redis::connection& conn, usage_query q) {
  if (!impl_->redis) co_return impl_->read_memory(q);
  co_return co_await impl_->read_redis(conn, std::move(q));
}

void usage_ledger::flush_all(std::chrono::milliseconds deadline) {
  auto& s = *impl_;
  if (!s.redis || s.stopping) return;
  struct waiter {
    std::mutex m;
    std::condition_variable cv;
    std::size_t left = 0;
  };
  auto wait = std::make_shared<waiter>();
  wait->left = s.workers.size();
  for (std::size_t w = 0; w < s.workers.size(); ++w)
    asio::co_spawn(s.executors[w], s.flush(static_cast<unsigned>(w)), [wait](std::exception_ptr) {
      std::lock_guard lock(wait->m);
      --wait->left;
      wait->cv.notify_all();
    });
  std::unique_lock lock(wait->m);
  if (!wait->cv.wait_for(lock, deadline, [&] { return wait->left == 0; }))
    spdlog::warn("usage: the last usage records were not all written to redis within {} ms", deadline.count());
}

void usage_ledger::shutdown() {
  auto& s = *impl_;
  if (s.stopping.exchange(true)) return;
  std::size_t left = 0;
  for (auto& w : s.workers) left += w.pending.size() + w.unsent.size();  // owners + batches
  if (left) spdlog::warn("usage: {} usage batches were still unsent at exit", left);
  for (auto& w : s.workers) {
    if (w.conn) w.conn->close();
    w.conn.reset();
    w.timer.reset();
  }
}

}  // namespace deepgate::limits
