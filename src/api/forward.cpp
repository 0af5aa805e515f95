#include "deepgate/api/forward.hpp"

#include "deepgate/api/chat_request.hpp"
#include "deepgate/api/request_context.hpp"
#include "deepgate/api/upstream_errors.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <random>

namespace deepgate::api {

namespace {

namespace asio = boost::asio;
using observability::wait_timer;
using steady = upstream::breaker::clock;

constexpr std::size_t max_error_body = 256 * 1024;

// The order backends are tried in for one request: only those that serve its route.
std::vector<const config::model_target*> line_for(const snapshot& s, const config::model_config& model,
                                                  unsigned worker, std::string_view route) {
  const auto n = model.targets.size();
  const auto serves = [&](const config::model_target& t) { return s.config->backends[t.backend_index].serves(route); };
  if (n == 1 && model.fallback.empty()) return {&model.targets.front()};  // the common case (route checked before)
  const auto now = steady::now();
  std::vector<char> eligible(n);  // not vector<bool>: it cannot be a span
  std::vector<std::uint32_t> weights(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& health = s.backends[model.targets[i].backend_index]->state.health;
    eligible[i] = health.available_at(now) <= now && serves(model.targets[i]);
    weights[i] = model.targets[i].weight;
  }
  int first = -1;
  if (n == 1) {
    first = serves(model.targets[0]) ? 0 : -1;
  } else if (model.balance == config::model_config::balance_mode::weighted) {
    const auto index = static_cast<std::size_t>(&model - s.config->models.data());
    first = s.balancers[worker][index]->pick(weights, eligible);
  } else {
    double best = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!eligible[i]) continue;
      const double load =
          static_cast<double>(s.backends[model.targets[i].backend_index]->state.in_flight.load(std::memory_order_relaxed)) /
          weights[i];
      if (first < 0 || load < best) first = static_cast<int>(i), best = load;
    }
  }
  std::vector<const config::model_target*> line;
  line.reserve(n + model.fallback.size());
  if (first >= 0) line.push_back(&model.targets[static_cast<std::size_t>(first)]);
  for (std::size_t i = 0; i < n; ++i)
    if (static_cast<int>(i) != first && serves(model.targets[i])) line.push_back(&model.targets[i]);
  for (auto& t : model.fallback)
    if (serves(t)) line.push_back(&t);
  return line;
}

// Where the request goes under the backend's URL: the path it declares for the route (DeepSeek's
// /beta/completions, /anthropic/v1/messages), else the route's usual one; a chat request that
// needs a beta endpoint goes to its chat_beta path when it declares one.
std::string upstream_path(const route_spec& spec, const config::backend_config& b, const chat_request& chat) {
  std::string_view declared;
  if (spec.kind == request_kind::chat && chat.needs_beta()) declared = b.path_for("chat_beta");
  if (declared.empty()) declared = b.path_for(spec.name);
  return b.url.path(declared.empty() ? spec.upstream_path : declared) + std::string(spec.path_suffix);
}

double jitter() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

// A half-open breaker lets one probe through; a probe that ends without an outcome (the client
// left, the backend's own queue refused it) lets the next one go.
struct probe {
  upstream::breaker* b;
  bool settled = false;
  ~probe() {
    if (!settled) b->release_probe();
  }
};

}  // namespace

bool forwarded::stop_here() {
  if (gone_) abandoned = true;
  else if (cut_) error = error_from_failure(upstream::failure::shutting_down, {});
  return gone_ || cut_;
}

// GCC 12 destroys temporaries inside co_await expressions twice: awaited calls take named locals.
asio::awaitable<void> forward(request_context& ctx, forwarded& f) {
  auto& s = ctx.services;
  const snapshot& snap = *ctx.snap;
  const auto& req = ctx.req;
  auto& chat = *ctx.chat;
  const auto& model = *ctx.model;
  auto& rec = ctx.rec;
  const auto& cfg = ctx.config;
  upstream::retry_budget::request counted(s.retry_budget);
  http::header_list headers{{"accept", chat.stream() ? "text/event-stream" : "application/json"},
                            {"x-request-id", rec.request_id}};
  for (const char* trace : {"traceparent", "tracestate"})
    if (auto v = req.header(trace); !v.empty()) headers.push_back({trace, std::string(v)});
  if (ctx.route_of.dialect == http::error_dialect::anthropic) {
    // Anthropic's version and beta headers choose the API's behaviour: the client's go through;
    // a client that sent no version gets the one Anthropic's SDKs send.
    auto version = req.header("anthropic-version");
    headers.push_back({"anthropic-version", version.empty() ? std::string("2023-06-01") : std::string(version)});
    if (auto beta = req.header("anthropic-beta"); !beta.empty()) headers.push_back({"anthropic-beta", std::string(beta)});
  }

  std::optional<http::api_error> last_error;
  auto last_refused = observability::refusal_kind::none;  // what last_error is, when the gateway's own
  std::optional<steady::time_point> earliest;  // when a skipped (open) backend may be tried again
  unsigned attempts = 0;
  upstream::retry_budget::retry retrying;
  for (const auto* target : line_for(snap, model, req.worker, ctx.route_of.name)) {
    if (attempts >= cfg.retries.max_attempts) break;
    const auto& t = *target;
    auto& runtime = *snap.backends[t.backend_index];
    auto& state = runtime.state;
    const auto& backend = cfg.backends[t.backend_index];
    if (!state.health.allow(steady::now())) {
      const auto at = state.health.available_at(steady::now());
      earliest = earliest ? std::min(*earliest, at) : at;
      continue;
    }
    probe outcome{&state.health};
    if (attempts > 0) {
      retrying = s.retry_budget.try_retry(cfg.retries.budget_ratio, cfg.retries.min_budget);
      if (!retrying.granted()) {
        spdlog::warn("request {}: retry budget spent, not retrying on backend {}", rec.request_id, backend.name);
        break;
      }
      asio::steady_timer pause(co_await asio::this_coro::executor);
      pause.expires_after(upstream::backoff(attempts, cfg.retries.backoff, cfg.retries.max_backoff, jitter()));
      {
        wait_timer w(rec.waited);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      if (f.stop_here()) co_return;
      ++rec.retries;
    }
    ++attempts;
    f.target = &t;
    // The previous attempt's failure is counted under its own backend, not the one that may
    // answer now; the record keeps only what happens from here.
    if (!rec.upstream_error.empty() && s.metrics) s.metrics->upstream_error(rec.backend, rec.upstream_error);
    rec.upstream_error = {};
    rec.backend = runtime.label;

    limits::backend_slot slot;
    if (runtime.gate) {
      std::optional<http::api_error> busy;
      {
        wait_timer w(rec.waited);  // the backend's queue, not the gateway's work
        busy = co_await s.limits->enter_backend(req.worker, *runtime.gate, backend, slot);
      }
      if (busy) {
        last_error = std::move(busy);
        last_refused = observability::refusal_kind::backend_busy;
        continue;  // another backend may have room
      }
    }
    // The client may have left (or the drain deadline passed) while this request waited for a
    // slot: nothing is sent then.
    if (f.stop_here()) co_return;
    forwarded::lease lease(&state);
    upstream::outgoing_request up;
    up.path = upstream_path(ctx.route_of, backend, chat);
    up.body = chat.upstream_body(t.upstream_model, backend.stream_usage,
                                 backend.user_id_from_owner ? owner_user_id(rec.owner) : std::string());
    up.headers = headers;
    f.ex = std::make_unique<upstream::exchange>(*runtime.pools.at(req.worker));
    f.current_ = f.ex.get();
    f.sent_at = observability::request_record::clock::now();
    upstream::failure started;
    {
      wait_timer w(rec.waited);
      started = co_await f.ex->start(up, f.head);
    }
    if (started == upstream::failure::abandoned || started == upstream::failure::shutting_down || f.gone_ || f.cut_) {
      if (!f.stop_here()) f.abandoned = true;
      co_return;
    }
    const auto status = started == upstream::failure::none ? f.head.status : 0u;
    const auto verdict = upstream::judge_attempt(started, status);
    outcome.settled = true;
    switch (verdict.breaker) {
      case upstream::attempt_verdict::health::success: state.health.success(); break;
      // The next attempt goes to another backend, so a Retry-After does not delay this request;
      // it keeps the backend's breaker open at least that long if this failure opens it.
      case upstream::attempt_verdict::health::failure:
        state.health.failure(steady::now(), status ? f.head.retry_after : std::nullopt);
        break;
      case upstream::attempt_verdict::health::trip: state.health.trip(steady::now()); break;
    }
    if (verdict.then == upstream::attempt_verdict::next::relay) {
      f.slot = std::move(slot);
      f.in_flight = std::move(lease);
      co_return;
    }
    last_refused = observability::refusal_kind::none;
    if (started != upstream::failure::none) {
      rec.upstream_error = upstream::to_string(started);
      spdlog::warn("backend {}: request {} failed: {}", backend.name, rec.request_id, upstream::to_string(started));
      last_error = error_from_failure(started, backend.name);
    } else {
      // Refused: its body says why (best effort, bounded), and reading it lets the connection be reused.
      std::string body;
      {
        wait_timer w(rec.waited);
        co_await f.ex->read_all(body, max_error_body);
      }
      rec.upstream = observability::request_record::clock::now() - f.sent_at;  // the refusal's time, as before
      rec.upstream_error = observability::upstream_status_reason(status);
      last_error = error_from_upstream_status(status, body, backend.api_key, f.head.retry_after);
      if (verdict.breaker == upstream::attempt_verdict::health::trip)
        spdlog::error("backend {}: refused the gateway's credentials or account (HTTP {})", backend.name, status);
    }
    if (verdict.then == upstream::attempt_verdict::next::stop) break;
  }
  f.ex.reset();
  f.current_ = nullptr;
  if (!last_error) {  // every backend in line is open or held
    auto e = http::server_error(503, "No backend for model '" + model.name + "' is available right now; retry later.",
                                "backend_unavailable");
    const auto wait = earliest ? *earliest - steady::now() : steady::duration{};
    e.retry_after = std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(wait));
    last_error = std::move(e);
    rec.upstream_error = "circuit_open";
  }
  f.error = std::move(last_error);
  rec.refused = last_refused;
}

}  // namespace deepgate::api
