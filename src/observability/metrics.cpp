#include "deepgate/observability/metrics.hpp"

#include "deepgate/upstream/failure.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <map>
#include <atomic>
#include <mutex>
#include <unordered_map>

namespace deepgate::observability {

namespace prom = prometheus;
using prom::Counter;
using prom::Gauge;
using prom::Histogram;

namespace {

// A labelled child made on first use and kept: Family::Add locks, the pointer load does not.
// Add returns the same child for the same labels, so two threads racing here agree.
template <class T>
class lazy {
 public:
  template <class Make>
  T& get(Make&& make) {
    T* p = ptr_.load(std::memory_order_acquire);
    if (!p) {
      p = &make();
      ptr_.store(p, std::memory_order_release);
    }
    return *p;
  }

 private:
  std::atomic<T*> ptr_{nullptr};
};

template <class T>
std::vector<lazy<T>> lazies(std::size_t n) {
  return std::vector<lazy<T>>(n);
}

double seconds(request_record::clock::duration d) { return std::chrono::duration<double>(d).count(); }

const Histogram::BucketBoundaries& latency_buckets() {
  static const Histogram::BucketBoundaries b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300};
  return b;
}
const Histogram::BucketBoundaries& overhead_buckets() {
  static const Histogram::BucketBoundaries b{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                             0.001,   0.0025,   0.005,   0.01,   0.025,   0.05, 0.1};
  return b;
}

constexpr std::array<std::string_view, 4> status_classes{"2xx", "3xx", "4xx", "5xx"};
std::size_t status_class(unsigned status) {
  if (status >= 500) return 3;
  if (status >= 400) return 2;
  if (status >= 300) return 1;
  return 0;
}


constexpr std::array<std::string_view, 5> token_types{"prompt", "completion", "reasoning", "prompt_cache_hit",
                                                      "prompt_cache_miss"};

// Every reason an upstream exchange can fail: transport failures, then refusals by status.
std::vector<std::string_view> upstream_reasons() {
  std::vector<std::string_view> r;
  for (int f = static_cast<int>(upstream::failure::pool_exhausted); f < static_cast<int>(upstream::failure::abandoned); ++f)
    r.push_back(upstream::to_string(static_cast<upstream::failure>(f)));
  for (unsigned s : {400u, 401u, 402u, 403u, 404u, 422u, 429u, 500u, 502u, 503u, 504u, 418u, 599u})
    r.push_back(upstream_status_reason(s));
  r.push_back("circuit_open");  // every backend of the model was skipped by its breaker
  return r;
}

prom::Family<Counter>& counters(prom::Registry& reg, const std::string& name, const std::string& help) {
  return prom::BuildCounter().Name(name).Help(help).Register(reg);
}
prom::Family<Gauge>& gauges(prom::Registry& reg, const std::string& name, const std::string& help) {
  return prom::BuildGauge().Name(name).Help(help).Register(reg);
}
prom::Family<Histogram>& histograms(prom::Registry& reg, const std::string& name, const std::string& help) {
  return prom::BuildHistogram().Name(name).Help(help).Register(reg);
}

}  // namespace

struct metrics::impl {
  std::shared_ptr<prom::Registry> registry = std::make_shared<prom::Registry>();
  const label_table* labels;
  std::size_t models = 0;    // model label values: the table's numbers, then "other", then "none"
  std::size_t backends = 0;  // backend label values: the table's numbers, then "none"
  std::size_t max_owners = 0;
  std::vector<std::string_view> reasons = upstream_reasons();

  prom::Family<Counter>* requests_f;
  std::vector<lazy<Counter>> requests;  // [route][model][backend][status class][cache]
  Gauge *in_flight, *open_connections, *body_bytes, *active_streams, *limits_fail_open;
  prom::Family<Histogram>* duration_f;
  std::vector<lazy<Histogram>> duration;  // [route][model]
  prom::Family<Histogram>* ttft_f;
  std::vector<lazy<Histogram>> ttft;  // [model]
  prom::Family<Histogram>*upstream_f, *queue_f;
  std::vector<lazy<Histogram>> upstream_duration, queue_wait;  // [backend]
  std::vector<Histogram*> overhead;                            // [route]
  std::vector<Counter*> rejections;                            // [refusal_kind]; none: null
  prom::Family<Counter>* upstream_errors_f;
  std::vector<lazy<Counter>> upstream_errors;  // [backend][reason]
  prom::Family<Counter>* retries_f;
  prom::Family<Gauge>* breaker_f;
  prom::Family<Gauge>* listed_models_f;
  prom::Family<Counter>* model_list_failures_f;
  std::vector<lazy<Gauge>> listed_models;         // [backend]
  std::vector<lazy<Counter>> model_list_failures;  // [backend]
  std::vector<lazy<Counter>> retries;   // [backend]
  std::vector<lazy<Gauge>> breaker_states;  // [backend]
  prom::Family<Counter>* tls_f = nullptr;
  std::vector<std::array<std::uint64_t, 2>> tls_seen;  // [backend] full, resumed: counted so far
  std::array<Counter*, cache_result_count> cache_lookups{};
  std::array<Counter*, 5> redis_errors{};
  Counter *reloads_ok, *reloads_failed, *log_dropped;
  std::uint64_t log_dropped_seen = 0;
  Gauge *cache_bytes, *cache_entries;
  Counter *cache_evictions, *cache_stored, *cache_not_stored, *cache_followers_served, *cache_followers_released;
  metrics::cache_snapshot cache_seen;
  std::mutex render_mutex;
  prom::Family<Gauge>* balance_f;
  std::vector<Gauge*> balance_available;  // [backend]
  std::vector<Counter*> balance_errors;   // [backend]

  // Tokens and cost per (owner, model), owners capped.
  struct owner_series {
    std::string label;
    std::vector<std::array<lazy<Counter>, token_types.size()>> tokens;  // [model][type]
    std::vector<lazy<Counter>> cost;                                    // [model]
  };
  prom::Family<Counter>*tokens_f, *cost_f;
  std::mutex owners_mutex;
  std::unordered_map<std::string, std::unique_ptr<owner_series>> owners;
  std::unique_ptr<owner_series> other_owner;

  std::size_t model_label(int model) const {
    if (model >= 0) return static_cast<std::size_t>(model);
    return model == request_record::other_model ? models - 2 : models - 1;
  }
  std::size_t backend_label(int backend) const {
    return backend >= 0 ? static_cast<std::size_t>(backend) : backends - 1;
  }
  std::string model_name(std::size_t m) const {
    if (m + 2 < models) return std::string(labels->model_name(m));
    return m + 2 == models ? "other" : "none";
  }
  std::string backend_name(std::size_t b) const {
    return b + 1 < backends ? std::string(labels->backend_name(b)) : "none";
  }

  owner_series& owner(const std::string& name) {
    std::lock_guard lock(owners_mutex);
    if (auto it = owners.find(name); it != owners.end()) return *it->second;
    if (owners.size() >= max_owners) return *other_owner;
    auto s = std::make_unique<owner_series>();
    s->label = name.empty() ? "anonymous" : name;
    s->tokens = std::vector<std::array<lazy<Counter>, token_types.size()>>(models);
    s->cost = lazies<Counter>(models);
    return *owners.emplace(name, std::move(s)).first->second;
  }

  void count_tokens(const request_record& r, std::size_t m) {
    auto& o = owner(r.owner);
    const auto& u = *r.usage;
    const std::array<std::int64_t, token_types.size()> values{u.prompt, u.completion, u.reasoning, u.cache_hit,
                                                              u.cache_miss};
    for (std::size_t t = 0; t < values.size(); ++t) {
      if (values[t] <= 0) continue;
      o.tokens[m][t]
          .get([&]() -> Counter& {
            return tokens_f->Add({{"model", model_name(m)}, {"owner", o.label}, {"type", std::string(token_types[t])}});
          })
          .Increment(static_cast<double>(values[t]));
    }
    if (r.cost_usd && *r.cost_usd > 0)
      o.cost[m].get([&]() -> Counter& { return cost_f->Add({{"model", model_name(m)}, {"owner", o.label}}); })
          .Increment(*r.cost_usd);
  }
};

metrics::metrics(const config::gateway_config& cfg, std::string_view version, const label_table& labels)
    : impl_(std::make_unique<impl>()) {
  auto& m = *impl_;
  auto& reg = *m.registry;
  m.labels = &labels;
  m.models = labels.model_capacity() + 2;
  m.backends = labels.backend_capacity() + 1;
  m.max_owners = cfg.metrics.max_owner_labels;
  const std::size_t backends = m.backends;

  gauges(reg, "deepgate_build_info",
          "deepgate's version; the value is always 1")
      .Add({{"version", std::string(version)}})
      .Set(1);
  m.requests_f = &counters(reg, "deepgate_requests_total",
          "Requests answered, by route, model, backend, status class and cache result");
  m.requests = lazies<Counter>(route_count * m.models * backends * status_classes.size() * cache_result_count);
  m.in_flight = &gauges(reg, "deepgate_requests_in_flight",
          "Requests being handled now").Add({});
  m.open_connections = &gauges(reg, "deepgate_open_connections",
          "Client connections open now").Add({});
  m.body_bytes = &gauges(reg, "deepgate_request_body_bytes",
          "Request body bytes held now, being read or handled (bounded by server.max_body_bytes_in_flight)").Add({});
  m.active_streams = &gauges(reg, "deepgate_active_streams",
          "Event streams being relayed now").Add({});
  m.limits_fail_open = &gauges(reg, "deepgate_limits_fail_open",
          "1 while the limiter answers from its local fallback because Redis is unreachable")
          .Add({});

  m.duration_f = &histograms(reg, "deepgate_request_duration_seconds",
          "Time from a request's arrival to the end of its answer");
  m.duration = lazies<Histogram>(route_count * m.models);
  m.ttft_f = &histograms(reg, "deepgate_time_to_first_token_seconds",
          "Streams: time from arrival until the first data event went to the client (keep-alives do not count)");
  m.ttft = lazies<Histogram>(m.models);
  m.upstream_f = &histograms(reg, "deepgate_upstream_duration_seconds",
          "Time from forwarding a request until the backend's last byte");
  m.queue_f = &histograms(reg, "deepgate_queue_wait_seconds",
          "Time the backend sent only keep-alive comments or blank lines before its first real byte");
  m.upstream_duration = lazies<Histogram>(backends);
  m.queue_wait = lazies<Histogram>(backends);
  auto& overhead = histograms(reg, "deepgate_gateway_overhead_seconds",
          "Time spent in deepgate itself: the total minus waiting for the backend, its queue and the client");
  for (std::size_t r = 0; r < route_count; ++r)
    m.overhead.push_back(&overhead.Add({{"route", std::string(to_string(static_cast<route>(r)))}}, overhead_buckets()));

  auto& rejections = counters(reg, "deepgate_rate_limit_rejections_total",
          "Requests refused by the gateway's own limits, by kind");
  m.rejections.push_back(nullptr);  // refusal_kind::none
  for (std::size_t k = 1; k < refusal_kind_count; ++k)
    m.rejections.push_back(&rejections.Add({{"kind", std::string(to_string(static_cast<refusal_kind>(k)))}}));
  m.upstream_errors_f = &counters(reg, "deepgate_upstream_errors_total",
          "Backend exchanges that failed or were refused, by backend and reason");
  m.upstream_errors = lazies<Counter>(backends * m.reasons.size());
  m.retries_f = &counters(reg, "deepgate_upstream_retries_total",
          "Requests sent to a backend again after a failure");
  m.breaker_f = &gauges(reg, "deepgate_circuit_breaker_state",
          "Per backend: 0 closed, 1 half-open, 2 open");
  m.retries = lazies<Counter>(backends);
  m.breaker_states = lazies<Gauge>(backends);
  m.tls_f = &counters(reg, "deepgate_upstream_tls_handshakes_total",
          "TLS handshakes with a backend, by whether the backend's last session was resumed");
  m.tls_seen.assign(backends, {0, 0});
  m.listed_models_f = &gauges(reg, "deepgate_backend_models",
          "Models the backend listed at its last successful GET /models");
  m.model_list_failures_f = &counters(reg, "deepgate_model_list_failures_total",
          "Reads of a backend's GET /models that failed (the last list is kept)");
  m.listed_models = lazies<Gauge>(backends);
  m.model_list_failures = lazies<Counter>(backends);
  m.balance_f = &gauges(reg, "deepgate_upstream_balance",
          "DeepSeek account balance (GET /user/balance), by backend and currency");
  auto& available = gauges(reg, "deepgate_upstream_balance_available",
          "DeepSeek's is_available: 1 while the balance covers API calls");
  auto& balance_errors = counters(reg, "deepgate_balance_check_errors_total",
          "Balance checks that failed");
  // The startup backends (numbered in config order): their series exist from the first scrape.
  // Balance checks run for these only.
  for (std::size_t b = 0; b < cfg.backends.size() && b + 1 < backends; ++b) {
    const prom::Labels l{{"backend", m.backend_name(b)}};
    m.retries[b].get([&]() -> Counter& { return m.retries_f->Add(l); });
    m.breaker_states[b].get([&]() -> Gauge& { return m.breaker_f->Add(l); });
    if (cfg.backends[b].balance_check_interval.count() > 0) {
      m.balance_available.push_back(&available.Add(l));
      m.balance_errors.push_back(&balance_errors.Add(l));
    } else {
      m.balance_available.push_back(nullptr);
      m.balance_errors.push_back(nullptr);
    }
  }

  auto& lookups = counters(reg, "deepgate_cache_lookups_total",
          "Prompt cache verdicts: hit, miss, bypass");
  for (std::size_t c = 1; c < cache_result_count; ++c)
    m.cache_lookups[c] = &lookups.Add({{"result", std::string(to_string(static_cast<cache_result>(c)))}});
  m.cache_bytes = &gauges(reg, "deepgate_cache_bytes", "Bytes the in-memory prompt cache holds (keys and overhead included)").Add({});
  m.cache_entries = &gauges(reg, "deepgate_cache_entries", "Answers the in-memory prompt cache holds").Add({});
  gauges(reg, "deepgate_cache_max_bytes", "The in-memory prompt cache's budget (cache.max_bytes; 0 with the Redis store)")
      .Add({})
      .Set(cfg.cache.redis ? 0.0 : static_cast<double>(cfg.cache.max_bytes));
  m.cache_evictions = &counters(reg, "deepgate_cache_evictions_total",
          "Answers evicted from the in-memory prompt cache to stay within its budget").Add({});
  auto& stores = counters(reg, "deepgate_cache_stores_total",
          "Complete answers offered to the prompt cache, by result (stored, or skipped: too large or the store failed)");
  m.cache_stored = &stores.Add({{"result", "stored"}});
  m.cache_not_stored = &stores.Add({{"result", "skipped"}});
  auto& followers = counters(reg, "deepgate_cache_coalesced_total",
          "Identical misses that waited for one upstream call, by result (served, or released to go upstream)");
  m.cache_followers_served = &followers.Add({{"result", "served"}});
  m.cache_followers_released = &followers.Add({{"result", "released"}});
  auto& redis_errors = counters(reg, "deepgate_redis_errors_total",
          "Redis commands that failed (timeout, unreachable, refused), by client");
  constexpr std::array<std::string_view, 5> redis_clients{"keys", "limits", "admin", "cache", "usage"};
  for (std::size_t c = 0; c < redis_clients.size(); ++c)
    m.redis_errors[c] = &redis_errors.Add({{"client", std::string(redis_clients[c])}});
  auto& reloads = counters(reg, "deepgate_config_reloads_total",
          "Config reloads (SIGHUP) and key-table reloads (file change, Redis sync), by result");
  m.reloads_ok = &reloads.Add({{"result", "ok"}});
  m.reloads_failed = &reloads.Add({{"result", "failed"}});
  m.log_dropped = &counters(reg, "deepgate_access_log_dropped_total",
          "Access-log lines dropped because the log writer fell behind")
          .Add({});

  m.tokens_f = &counters(reg, "deepgate_tokens_total",
          "Tokens as backends reported them, by model, key owner and type");
  m.cost_f = &counters(reg, "deepgate_cost_usd_total",
          "Estimated cost in USD from the price table, by model and key owner");
  m.other_owner = std::make_unique<impl::owner_series>();
  m.other_owner->label = "other";
  m.other_owner->tokens = std::vector<std::array<lazy<Counter>, token_types.size()>>(m.models);
  m.other_owner->cost = lazies<Counter>(m.models);
}

metrics::~metrics() = default;

void metrics::request_started() { impl_->in_flight->Increment(); }
void metrics::stream_started() { impl_->active_streams->Increment(); }
void metrics::stream_finished() { impl_->active_streams->Decrement(); }

void metrics::request_finished(const request_record& r) {
  auto& m = *impl_;
  m.in_flight->Decrement();
  const auto route_i = static_cast<std::size_t>(r.path);
  const auto model_i = m.model_label(r.model);
  const auto status_i = status_class(r.status);
  const auto cache_i = static_cast<std::size_t>(r.cache);
  const auto backend_i = m.backend_label(r.backend);
  m.requests[(((route_i * m.models + model_i) * m.backends + backend_i) * status_classes.size() + status_i) *
                 cache_result_count +
             cache_i]
      .get([&]() -> Counter& {
        return m.requests_f->Add({{"route", std::string(to_string(r.path))},
                                  {"model", m.model_name(model_i)},
                                  {"backend", m.backend_name(backend_i)},
                                  {"status_class", std::string(status_classes[status_i])},
                                  {"cache", std::string(to_string(r.cache))}});
      })
      .Increment();
  m.duration[route_i * m.models + model_i]
      .get([&]() -> Histogram& {
        return m.duration_f->Add({{"route", std::string(to_string(r.path))}, {"model", m.model_name(model_i)}},
                                 latency_buckets());
      })
      .Observe(seconds(r.total));
  m.overhead[route_i]->Observe(seconds(r.overhead()));
  if (r.ttft != request_record::absent)
    m.ttft[model_i]
        .get([&]() -> Histogram& { return m.ttft_f->Add({{"model", m.model_name(model_i)}}, latency_buckets()); })
        .Observe(seconds(r.ttft));
  if (r.backend >= 0) {
    const auto b = static_cast<std::size_t>(r.backend);
    // Labels are built only when a child is first made, never per request.
    auto by_backend = [&](prom::Family<Histogram>* f) -> Histogram& {
      return f->Add({{"backend", m.backend_name(b)}}, latency_buckets());
    };
    if (r.upstream != request_record::absent)
      m.upstream_duration[b].get([&]() -> Histogram& { return by_backend(m.upstream_f); }).Observe(seconds(r.upstream));
    if (r.queue_wait != request_record::absent)
      m.queue_wait[b].get([&]() -> Histogram& { return by_backend(m.queue_f); }).Observe(seconds(r.queue_wait));
    if (!r.upstream_error.empty()) upstream_error(r.backend, r.upstream_error);
    if (r.retries > 0)
      m.retries[b].get([&]() -> Counter& { return m.retries_f->Add({{"backend", m.backend_name(b)}}); }).Increment(r.retries);
  }
  if (r.refused != refusal_kind::none) m.rejections[static_cast<std::size_t>(r.refused)]->Increment();
  if (r.cache != cache_result::none) m.cache_lookups[cache_i]->Increment();
  if (r.usage) m.count_tokens(r, model_i);
}

void metrics::upstream_error(int backend, std::string_view reason) {
  auto& m = *impl_;
  if (backend < 0) return;
  const auto b = static_cast<std::size_t>(backend);
  auto it = std::find(m.reasons.begin(), m.reasons.end(), reason);
  if (it == m.reasons.end() || (b + 1) * m.reasons.size() > m.upstream_errors.size()) return;
  auto reason_i = static_cast<std::size_t>(it - m.reasons.begin());
  m.upstream_errors[b * m.reasons.size() + reason_i]
      .get([&]() -> Counter& {
        return m.upstream_errors_f->Add({{"backend", m.backend_name(b)}, {"reason", std::string(*it)}});
      })
      .Increment();
}

void metrics::redis_error(redis_client c) { impl_->redis_errors[static_cast<std::size_t>(c)]->Increment(); }

void metrics::config_reload(bool ok) { (ok ? impl_->reloads_ok : impl_->reloads_failed)->Increment(); }

void metrics::balance(std::size_t backend, std::string_view currency, double amount, bool available) {
  auto& m = *impl_;
  if (backend >= m.balance_available.size() || !m.balance_available[backend]) return;
  // Currencies are DeepSeek's (CNY, USD): anything else is not made into a label.
  if (currency != "CNY" && currency != "USD") currency = "other";
  m.balance_f->Add({{"backend", m.backend_name(backend)}, {"currency", std::string(currency)}}).Set(amount);
  m.balance_available[backend]->Set(available ? 1 : 0);
}

void metrics::balance_check_failed(std::size_t backend) {
  auto& m = *impl_;
  if (backend < m.balance_errors.size() && m.balance_errors[backend]) m.balance_errors[backend]->Increment();
}

void metrics::limits_fail_open(bool on) { impl_->limits_fail_open->Set(on ? 1 : 0); }

void metrics::tls_handshakes(std::size_t backend, std::uint64_t full, std::uint64_t resumed) {
  auto& m = *impl_;
  if (backend + 1 >= m.backends || backend >= m.tls_seen.size()) return;
  const std::array<std::uint64_t, 2> now{full, resumed};
  for (std::size_t i = 0; i < 2; ++i) {
    // The pools' counts start again when a reload replaces the backend: a smaller count is new.
    const auto delta = now[i] >= m.tls_seen[backend][i] ? now[i] - m.tls_seen[backend][i] : now[i];
    m.tls_seen[backend][i] = now[i];
    auto& c = m.tls_f->Add({{"backend", m.backend_name(backend)}, {"resumed", i ? "true" : "false"}});
    if (delta) c.Increment(static_cast<double>(delta));
  }
}

void metrics::breaker_state(std::size_t backend, int state) {
  auto& m = *impl_;
  if (backend + 1 < m.backends)
    m.breaker_states[backend].get([&]() -> Gauge& { return m.breaker_f->Add({{"backend", m.backend_name(backend)}}); })
        .Set(state);
}

void metrics::model_list(std::size_t backend, std::optional<std::size_t> listed) {
  auto& m = *impl_;
  if (backend + 1 >= m.backends) return;
  const std::map<std::string, std::string> l{{"backend", m.backend_name(backend)}};
  if (listed)
    m.listed_models[backend].get([&]() -> Gauge& { return m.listed_models_f->Add(l); }).Set(static_cast<double>(*listed));
  else
    m.model_list_failures[backend].get([&]() -> Counter& { return m.model_list_failures_f->Add(l); }).Increment();
}

void metrics::cache_follower(bool served) {
  (served ? impl_->cache_followers_served : impl_->cache_followers_released)->Increment();
}

void metrics::cache_state(const cache_snapshot& now) {
  auto& m = *impl_;
  std::lock_guard lock(m.render_mutex);
  m.cache_bytes->Set(static_cast<double>(now.bytes));
  m.cache_entries->Set(static_cast<double>(now.entries));
  auto advance = [](Counter* c, std::uint64_t& seen, std::uint64_t value) {
    if (value > seen) c->Increment(static_cast<double>(value - seen));
    seen = std::max(seen, value);
  };
  advance(m.cache_evictions, m.cache_seen.evictions, now.evictions);
  advance(m.cache_stored, m.cache_seen.stored, now.stored);
  advance(m.cache_not_stored, m.cache_seen.not_stored, now.not_stored);
}

std::string metrics::render(std::size_t open_connections, std::size_t body_bytes, std::uint64_t access_log_dropped) {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.render_mutex);
    m.open_connections->Set(static_cast<double>(open_connections));
    m.body_bytes->Set(static_cast<double>(body_bytes));
    if (access_log_dropped > m.log_dropped_seen) {
      m.log_dropped->Increment(static_cast<double>(access_log_dropped - m.log_dropped_seen));
      m.log_dropped_seen = access_log_dropped;
    }
  }
  return prom::TextSerializer().Serialize(m.registry->Collect());
}

}  // namespace deepgate::observability
