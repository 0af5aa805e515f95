#include "deepgate/limits/limiter.hpp"
#include "deepgate/core/strings.hpp"

#include "deepgate/auth/key.hpp"
#include "deepgate/limits/backend_gate.hpp"
#include "deepgate/limits/memory_store.hpp"
#include "deepgate/limits/redis_store.hpp"
#include "deepgate/redis/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <unordered_map>

namespace deepgate::limits {

namespace asio = boost::asio;

namespace {

micros steady_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}


std::string random_hex(std::size_t n) {
  auto v = auth::generate_key_id();  // "key_" + 16 hex from the CSPRNG
  return v.substr(4, n);
}

}  // namespace

// Ownership at shutdown: coroutine frames parked in a worker's io_context may outlive the server's
// threads, so they hold plain pointers to this object, which the application keeps alive until
// every io_context is gone; the io objects (Redis connections, timers) are destroyed in shutdown(),
// after the worker threads stopped and before their io_contexts go.
struct limiter::impl {
  struct worker {
    std::unique_ptr<redis::connection> conn;
    std::unique_ptr<redis_store> store;
    std::unordered_map<std::string, std::string> leases;  // live Redis leases: id → sorted-set key
    std::unique_ptr<asio::steady_timer> renew_timer;
    std::uint64_t counter = 0;
    // Settles waiting for this turn of the event loop to end: sent then as one script per Redis
    // Cluster slot (one per owner), off the request path.
    std::vector<redis_store::settlement> settles;
  };

  std::shared_ptr<const config::gateway_config> config;
  const config::limits_config& cfg;
  std::vector<asio::any_io_executor> executors;
  memory_store primary;   // limits.store: memory
  memory_store fallback;  // limits.store: redis, while Redis is unreachable
  std::vector<worker> workers;
  std::string replica_id = random_hex(8);
  std::atomic<int> redis_state{-1};  // -1 not yet known, 0 unreachable, 1 reachable
  std::atomic<bool> stopping{false};

  impl(std::shared_ptr<const config::gateway_config> c, std::vector<asio::any_io_executor> ex)
      : config(std::move(c)), cfg(config->limits), executors(std::move(ex)), workers(executors.size()) {}

  bool uses_redis() const { return cfg.redis; }

  void start_redis(const redis::options& opts) {
    for (std::size_t w = 0; w < workers.size(); ++w) {
      workers[w].conn = std::make_unique<redis::connection>(executors[w], opts);
      workers[w].store = std::make_unique<redis_store>(*workers[w].conn, cfg.lease_ttl);
      workers[w].renew_timer = std::make_unique<asio::steady_timer>(executors[w]);
      asio::co_spawn(executors[w], renew_loop(this, static_cast<unsigned>(w)), asio::detached);
    }
  }

  // Keeps this replica's live leases alive in Redis; a killed replica's leases expire after lease_ttl.
  static asio::awaitable<void> renew_loop(impl* self, unsigned w) {
    auto& wk = self->workers[w];
    while (!self->stopping) {
      wk.renew_timer->expires_after(self->cfg.lease_ttl / 3);
      auto [ec] = co_await wk.renew_timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || self->stopping) break;
      if (wk.leases.empty()) continue;
      std::vector<std::pair<std::string, std::string>> live;
      for (auto& [id, key] : wk.leases) live.emplace_back(key, id);
      co_await wk.store->renew(std::move(live));
    }
  }

  void note_redis(bool ok) {
    int now = ok ? 1 : 0;
    int before = redis_state.exchange(now);
    if (before == now) return;
    if (ok && before == 0) spdlog::info("limits: redis reachable again, shared limits resume");
    else if (!ok && cfg.fail_open)
      spdlog::warn("limits: redis unreachable, each replica enforces its share (limit / {}) on its own", cfg.replicas);
    else if (!ok)
      spdlog::error("limits: redis unreachable and limits.on_redis_failure is closed: requests get 503");
  }

  void queue_settle(unsigned w, redis_store::settlement x) {
    auto& wk = workers[w];
    wk.settles.push_back(std::move(x));
    if (wk.settles.size() > 1) return;  // a flush is already posted
    asio::post(executors[w], [this, w] { flush_settles(w); });
  }

  void flush_settles(unsigned w) {
    auto& wk = workers[w];
    auto all = std::move(wk.settles);
    wk.settles.clear();
    if (stopping || !wk.store || all.empty()) return;  // shutting down: leases expire with their TTL
    // One script per slot (keys of one owner share it): in order, so an owner's settles apply as they came.
    std::vector<std::pair<std::uint16_t, std::vector<redis_store::settlement>>> groups;
    for (auto& x : all) {
      const auto slot = redis::key_slot(x.conc);
      auto g = std::find_if(groups.begin(), groups.end(), [&](auto& p) { return p.first == slot; });
      if (g == groups.end()) g = groups.insert(groups.end(), {slot, {}});
      g->second.push_back(std::move(x));
    }
    for (auto& g : groups)
      asio::co_spawn(
          executors[w],
          [self = this, w, batch = std::move(g.second)]() -> asio::awaitable<void> {
            auto& mine = self->workers[w];
            if (!mine.store || self->stopping) co_return;
            // A failed settle is not retried: the leases expire with their TTL, the tokens with the window.
            co_await mine.store->settle_many(batch);
          },
          asio::detached);
  }

  std::string next_lease_id(unsigned w) {
    return replica_id + ":" + std::to_string(w) + ":" + std::to_string(++workers[w].counter);
  }
};

// ---------------------------------------------------------------- ticket

struct ticket::state {
  limiter::impl* lim = nullptr;
  unsigned worker = 0;
  enum class where { memory, fallback, redis } store = where::memory;
  std::string owner, bucket;
  bucket_limits limits;
  redis_keys keys;
  std::string lease_id;
  bool lease = false;
  std::int64_t reserved = 0;
  std::int64_t prompt_estimate = 0;
  price unit_price;
  usage used;
  bool recorded = false, refunded = false, estimated = false;
  std::int64_t estimated_completion = 0;
};

ticket::ticket() = default;
ticket::ticket(std::unique_ptr<state> s) : s_(std::move(s)) {}
ticket::ticket(ticket&&) noexcept = default;
ticket& ticket::operator=(ticket&&) noexcept = default;

void ticket::record(const usage& u) {
  if (!s_) return;
  s_->used = u;
  s_->recorded = true;
}

void ticket::record_estimate(std::int64_t completion_tokens) {
  if (!s_ || s_->recorded) return;
  s_->estimated = true;
  s_->estimated_completion = completion_tokens;
}

void ticket::refund() {
  if (s_) s_->refunded = true;
}

ticket::~ticket() {
  if (!s_) return;
  auto& s = *s_;
  std::int64_t delta = 0;
  if (s.refunded) {
    delta = -s.reserved;
    s.used = {};
  } else {
    if (!s.recorded) {
      // Charged without a report: the prompt estimate plus what was relayed, or the whole
      // reservation when even that is unknown.
      s.used = {};
      s.used.prompt = s.prompt_estimate;
      s.used.cache_miss = s.prompt_estimate;
      s.used.completion = s.estimated ? s.estimated_completion : std::max<std::int64_t>(0, s.reserved - s.prompt_estimate);
      s.used.estimated = true;
    }
    delta = s.used.total() - s.reserved;
  }
  const nano_usd spent = cost(s.used, s.unit_price);
  auto& lim = *s.lim;
  if (s.store != state::where::redis) {
    auto& store = s.store == state::where::memory ? lim.primary : lim.fallback;
    settle_request r{s.bucket, s.owner, &s.limits, delta, s.lease, spent, s.keys.when};
    store.settle(r, steady_now());
    return;
  }
  auto& wk = lim.workers[s.worker];
  if (s.lease) wk.leases.erase(s.lease_id);
  if (lim.stopping || !wk.store) return;  // shutting down: the leases expire with their TTL
  lim.queue_settle(s.worker, redis_store::settlement_for(s.keys, s.limits, delta, s.lease ? s.lease_id : std::string(), spent));
}

// ---------------------------------------------------------------- backend slot

struct backend_slot::state {
  limiter::impl* lim = nullptr;
  unsigned worker = 0;
  backend_gate* gate = nullptr;
  std::string lease_key;
  bool redis = false;
  std::string lease_id;
};

backend_slot::backend_slot() = default;
backend_slot::backend_slot(std::unique_ptr<state> s) : s_(std::move(s)) {}
backend_slot::backend_slot(backend_slot&&) noexcept = default;
backend_slot& backend_slot::operator=(backend_slot&&) noexcept = default;
backend_slot::~backend_slot() {
  if (!s_) return;
  auto& lim = *s_->lim;
  if (!s_->redis) {
    s_->gate->release();
    return;
  }
  auto& wk = lim.workers[s_->worker];
  wk.leases.erase(s_->lease_id);
  s_->gate->notify_one();  // a local waiter may now win the shared slot
  if (lim.stopping || !wk.store) return;
  auto key = std::move(s_->lease_key);
  asio::co_spawn(
      lim.executors[s_->worker],
      [self = s_->lim, w = s_->worker, key = std::move(key), id = std::move(s_->lease_id)]() -> asio::awaitable<void> {
        if (self->stopping || !self->workers[w].store) co_return;
        auto k = key;
        auto i = id;
        co_await self->workers[w].store->release(std::move(k), std::move(i));
      },
      asio::detached);
}

// ---------------------------------------------------------------- limiter

limiter::limiter(std::shared_ptr<const config::gateway_config> config, std::vector<asio::any_io_executor> workers,
                 std::function<void()> on_redis_error)
    : impl_(std::make_unique<impl>(std::move(config), std::move(workers))) {
  if (impl_->cfg.redis) {
    auto o = redis::options_from(impl_->config->redis, "redis (limits)");
    o.on_error = std::move(on_redis_error);
    impl_->start_redis(std::move(o));
  }
}

limiter::~limiter() { shutdown(); }

bool limits_apply(const config::limits_config& cfg) { return cfg.any(); }

bool tracks_usage(const config::limits_config& cfg) {
  bool tracks = false;
  auto count = [&](const config::limits_profile& p) {
    if (p.values.tokens_per_minute || p.daily_budget || p.monthly_budget) tracks = true;
    for (auto& [_, v] : p.models)
      if (v.tokens_per_minute) tracks = true;
  };
  count(cfg.defaults);
  for (auto& [_, p] : cfg.profiles) count(p);
  return tracks;
}

std::unique_ptr<backend_gate> make_backend_gate(const config::backend_config& b, const config::limits_config& cfg) {
  return b.max_concurrent_requests ? std::make_unique<backend_gate>(b, cfg.replicas) : nullptr;
}
bool limiter::failing_open() const { return impl_->cfg.redis && impl_->cfg.fail_open && impl_->redis_state.load() == 0; }

void limiter::shutdown() {
  if (impl_->stopping.exchange(true)) return;
  for (auto& w : impl_->workers) {
    if (w.conn) w.conn->close();
    w.store.reset();
    w.conn.reset();
    w.renew_timer.reset();
  }
}

asio::awaitable<admission> limiter::admit(unsigned worker, request_info r, const config::gateway_config& now) {
  admission out;
  auto& lim = *impl_;
  if (!now.limits.any()) co_return out;
  const auto& profile = now.limits.profile(r.key ? r.key->limits : std::string());
  auto per_model = profile.models.find(r.model);
  const bool own_bucket = per_model != profile.models.end();
  auto limits = resolve(own_bucket ? per_model->second : profile.values, profile);
  if (!limits.any()) co_return out;

  auto s = std::make_unique<ticket::state>();
  s->lim = impl_.get();
  s->worker = worker;
  s->owner = r.owner;
  s->bucket = own_bucket ? s->owner + '\x1f' + std::string(r.model) : s->owner;
  s->prompt_estimate = r.prompt_estimate;
  s->reserved = limits.tokens.interval > 0 ? r.prompt_estimate + r.completion_reserve : 0;
  if (auto p = now.prices.find(r.upstream_model); p != now.prices.end())
    s->unit_price = *p->second.at(std::chrono::system_clock::now()).rates;  // the rate at the request's time
  s->keys.when = periods_at(core::unix_seconds());
  s->lease = limits.concurrency > 0;

  decision d;
  bool decided = false;
  if (lim.uses_redis()) {
    s->keys = keys_for(r.owner, own_bucket ? r.model : std::string_view(), s->keys.when);
    if (s->lease) s->lease_id = lim.next_lease_id(worker);
    auto& store = *lim.workers[worker].store;
    std::string lease = s->lease_id;
    auto got = co_await store.admit(s->keys, limits, s->reserved, std::move(lease));
    lim.note_redis(got.has_value());
    if (got) {
      d = *got;
      decided = true;
      s->store = ticket::state::where::redis;
      if (d.allowed() && s->lease) lim.workers[worker].leases.emplace(s->lease_id, s->keys.conc);
    } else if (!lim.cfg.fail_open) {
      d.refused = refusal::unavailable;
      decided = true;
    } else {
      limits = divided(limits, lim.cfg.replicas);
      s->store = ticket::state::where::fallback;
    }
  }
  if (!decided) {
    auto& store = s->store == ticket::state::where::fallback ? lim.fallback : lim.primary;
    admit_request a{s->bucket, s->owner, &limits, s->reserved, s->keys.when};
    d = store.admit(a, steady_now());
  }
  s->limits = limits;

  // x-ratelimit-* describe the limits this request was checked against: while Redis is away,
  // this replica's share of them.
  auto values = own_bucket ? per_model->second : profile.values;
  if (s->store == ticket::state::where::fallback && lim.cfg.replicas > 1) {
    const auto share = [n = lim.cfg.replicas](auto v) { return v ? std::max<decltype(v)>(1, v / n) : v; };
    values.requests_per_minute = share(values.requests_per_minute);
    values.tokens_per_minute = share(values.tokens_per_minute);
    values.concurrent_requests = share(values.concurrent_requests);
  }
  out.headers = rate_limit_headers(d, limits, values);
  out.refused = d.refused;
  if (d.allowed()) {
    out.held = ticket(std::move(s));
    co_return out;
  }
  out.error = refusal_error(d, values, s->reserved);
  co_return out;
}

asio::awaitable<limits_view> limiter::peek(unsigned worker, std::string owner, const auth::client_key* key,
                                           const config::gateway_config& now) {
  limits_view v;
  auto& lim = *impl_;
  v.when = periods_at(core::unix_seconds());
  if (!now.limits.any()) co_return v;
  const auto& profile = now.limits.profile(key ? key->limits : std::string());
  v.daily_budget = profile.daily_budget;
  v.monthly_budget = profile.monthly_budget;
  std::vector<std::pair<std::string, config::limit_values>> buckets{{std::string(), profile.values}};
  for (auto& [model, values] : profile.models) buckets.emplace_back(model, values);
  bool first = true;
  for (auto& [model, values] : buckets) {
    auto limits = resolve(values, profile);
    const std::string bucket = model.empty() ? owner : owner + '\x1f' + model;
    peek_state st;
    bool done = false;
    if (lim.uses_redis() && !v.local_share && lim.workers[worker].store) {
      auto keys = keys_for(owner, model, v.when);
      auto got = co_await lim.workers[worker].store->peek(keys, limits);
      lim.note_redis(got.has_value());
      if (got) {
        st = *got;
        done = true;
      } else if (!lim.cfg.fail_open) {
        v.unavailable = true;
        co_return v;
      } else {
        v.local_share = true;
      }
    }
    if (!done) {
      if (v.local_share) limits = divided(limits, lim.cfg.replicas);
      auto& store = v.local_share ? lim.fallback : lim.primary;
      st = store.peek(bucket, owner, limits, v.when, steady_now());
    }
    if (first) {
      v.day_spent = st.day_spent;
      v.month_spent = st.month_spent;
      first = false;
    }
    v.buckets.push_back({model, values, st});
  }
  co_return v;
}

asio::awaitable<std::optional<http::api_error>> limiter::enter_backend(unsigned worker, backend_gate& g,
                                                                       const config::backend_config& b,
                                                                       backend_slot& slot) {
  auto& lim = *impl_;
  auto* gate = &g;
  auto busy = [&] { return backend_busy_error(b.name); };
  const auto deadline = std::chrono::steady_clock::now() + b.queue_timeout;
  auto s = std::make_unique<backend_slot::state>();
  s->lim = impl_.get();
  s->worker = worker;
  s->gate = gate;

  if (lim.uses_redis() && lim.redis_state.load() != 0) {
    auto& store = *lim.workers[worker].store;
    auto key = backend_lease_key(b.name);
    s->lease_key = key;
    s->lease_id = lim.next_lease_id(worker);
    // Polls the shared budget; a local release wakes a waiter early. The local queue bound holds.
    auto ticket_in_queue = gate->join_queue();
    if (!ticket_in_queue) co_return busy();
    for (;;) {
      auto k = key;
      auto id = s->lease_id;
      auto got = co_await store.acquire(std::move(k), b.max_concurrent_requests, std::move(id));
      lim.note_redis(got.has_value());
      if (!got) break;  // Redis failed: the local gate below decides
      if (*got) {
        lim.workers[worker].leases.emplace(s->lease_id, key);
        s->redis = true;
        slot = backend_slot(std::move(s));
        co_return std::nullopt;
      }
      if (std::chrono::steady_clock::now() >= deadline) co_return busy();
      co_await gate->wait_for_release(lim.executors[worker], deadline, std::chrono::milliseconds(25));
    }
  }
  auto t = co_await gate->acquire(lim.executors[worker], deadline, lim.uses_redis());
  if (!t) co_return busy();
  slot = backend_slot(std::move(s));
  co_return std::nullopt;
}

}  // namespace deepgate::limits
