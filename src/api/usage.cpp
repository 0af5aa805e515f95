#include "deepgate/api/usage.hpp"

#include "deepgate/core/calendar.hpp"
#include "deepgate/core/strings.hpp"
#include "deepgate/core/url.hpp"
#include "deepgate/limits/ledger.hpp"

#include <nlohmann/json.hpp>

namespace deepgate::api {

using json = nlohmann::json;
using limits::counter;
using limits::counters;

namespace {

json usd(core::nano_usd n) { return static_cast<double>(n) / core::nano_per_usd; }

json counters_json(const counters& c) {
  auto o = json::object();
  for (std::size_t i = 0; i < limits::counter_count; ++i) o[std::string(limits::to_string(static_cast<counter>(i)))] = c.v[i];
  o["spend_usd"] = usd(c[counter::spend_nano_usd]);
  return o;
}

// One owner's days: their totals, each day, and each key's totals over the range.
json owner_json(const std::string& owner, const std::map<std::int64_t, limits::owner_day>& days) {
  counters total;
  std::map<std::string, counters> keys;
  auto list = json::array();
  for (auto& [day, d] : days) {
    total += d.total;
    for (auto& [id, c] : d.keys) keys[id] += c;
    auto o = counters_json(d.total);
    o["date"] = core::day_string(day);
    list.push_back(std::move(o));
  }
  auto key_list = json::array();
  for (auto& [id, c] : keys) {
    auto o = counters_json(c);
    o["key_id"] = id;
    key_list.push_back(std::move(o));
  }
  return json{{"owner", owner}, {"totals", counters_json(total)}, {"days", std::move(list)}, {"keys", std::move(key_list)}};
}

json limit_json(std::uint64_t limit, std::int64_t remaining, limits::micros reset) {
  if (!limit) return nullptr;
  return json{{"limit", limit}, {"remaining", remaining}, {"reset_seconds", static_cast<double>(reset) / 1e6}};
}

json budget_json(core::nano_usd budget, core::nano_usd spent, std::int64_t resets_in) {
  json o{{"spent_usd", usd(spent)}, {"resets_in_seconds", resets_in}};
  o["limit_usd"] = budget ? usd(budget) : json(nullptr);
  o["remaining_usd"] = budget ? usd(std::max<core::nano_usd>(0, budget - spent)) : json(nullptr);
  return o;
}

http::response json_ok(const json& body) { return http::response{200, "application/json", {}, body.dump()}; }

http::response bad_param(std::string message, std::string param) {
  return http::error_response(http::invalid_request(std::move(message), std::move(param), "invalid_parameter"));
}

}  // namespace

void record_usage(gateway_services& svc, const observability::request_record& rec, unsigned worker) {
  if (!svc.usage || rec.owner.empty()) return;
  using observability::route;
  switch (rec.path) {
    case route::chat_completions:
    case route::embeddings:
    case route::completions:
    case route::responses:
    case route::messages:
    case route::count_tokens: break;
    default: return;
  }
  limits::usage_event e;
  e.owner = rec.owner;
  e.key_id = rec.key_id;
  e.day = core::unix_seconds(rec.time) / 86'400;
  e.used = rec.usage;
  e.spend = rec.cost_nano_usd;
  e.cache_hit = rec.cache == observability::cache_result::hit;
  e.error = rec.status >= 400;
  switch (rec.refused) {
    case observability::refusal_kind::requests: e.refused = counter::refused_requests; break;
    case observability::refusal_kind::tokens: e.refused = counter::refused_tokens; break;
    case observability::refusal_kind::concurrency: e.refused = counter::refused_concurrency; break;
    case observability::refusal_kind::budget: e.refused = counter::refused_budget; break;
    case observability::refusal_kind::backend_busy: e.refused = counter::refused_backend_busy; break;
    case observability::refusal_kind::limiter_unavailable: e.refused = counter::refused_limiter_unavailable; break;
    case observability::refusal_kind::none: break;
  }
  svc.usage->record(worker, e);
}

boost::asio::awaitable<http::response> self_usage(gateway_services& svc, const http::request& req,
                                                  observability::request_record& rec) {
  auto who = svc.auth->authenticate(req.headers, core::unix_seconds());
  if (who.who.key) rec.key_id = who.who.key->id;
  rec.owner = who.who.owner;
  if (who.error) co_return http::error_response(*who.error);
  const auto snap = svc.snapshots.current(req.worker);
  const auto& cfg = *snap->config;
  if (!svc.usage)
    co_return http::error_response(http::not_found("Usage records are off (usage.enabled: false).", "usage_off"));
  std::int64_t days = 7;
  if (auto d = core::query_value(req.query, "days")) {
    auto n = core::parse_integer(*d);
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(cfg.usage.max_days))
      co_return bad_param("days must be a whole number from 1 to " + std::to_string(cfg.usage.max_days) + ".", "days");
    days = *n;
  }
  const std::string owner(who.who.owner);
  const auto now = core::unix_seconds();
  const std::int64_t today = now / 86'400;
  const auto when = limits::periods_at(now);

  auto view = co_await svc.limits->peek(req.worker, owner, who.who.key, cfg);
  // Read from the month's first day too, for the month's spend when no budget keeps it.
  const auto date = core::civil_from_days(today);
  const std::int64_t month_start = core::days_from_civil(date.year, date.month, 1);
  limits::usage_query q{owner, {}, std::min(today - days + 1, month_start), today};
  auto report = co_await svc.usage->read(req.worker, q);
  if (!report)
    co_return http::error_response(
        http::server_error(503, "Usage records cannot be read right now; try again shortly.", "usage_unavailable"));

  std::map<std::int64_t, limits::owner_day> shown, all;
  if (auto it = report->find(owner); it != report->end()) all = it->second;
  core::nano_usd day_spend = 0, month_spend = 0;
  for (auto& [day, d] : all) {
    if (day >= today - days + 1) shown[day] = d;
    if (day >= month_start) month_spend += d.total[counter::spend_nano_usd];
    if (day == today) day_spend = d.total[counter::spend_nano_usd];
  }

  auto buckets = json::array();
  for (auto& b : view.buckets) {
    json o;
    o["model"] = b.model.empty() ? json(nullptr) : json(b.model);
    o["requests_per_minute"] = limit_json(b.values.requests_per_minute, b.now.requests_remaining, b.now.requests_reset);
    o["tokens_per_minute"] = limit_json(b.values.tokens_per_minute, b.now.tokens_remaining, b.now.tokens_reset);
    o["concurrent_requests"] = b.values.concurrent_requests
                                   ? json{{"limit", b.values.concurrent_requests}, {"in_use", b.now.in_flight}}
                                   : json(nullptr);
    buckets.push_back(std::move(o));
  }
  // A budget's spend is what the limits count against it; without a budget, the usage records'.
  const bool budgets = view.daily_budget || view.monthly_budget;
  json body{{"object", "usage"},
            {"owner", owner},
            {"key_id", who.who.key ? json(who.who.key->id) : json(nullptr)},
            {"store", svc.usage->shared() ? "redis" : "memory"},
            {"limits",
             {{"state", view.unavailable    ? "unavailable"
                        : view.local_share  ? "replica_share"
                        : view.buckets.empty() ? "unlimited"
                                               : "shared"},
              {"buckets", std::move(buckets)}}},
            {"budget",
             {{"daily", budget_json(view.daily_budget, budgets ? view.day_spent : day_spend, when.seconds_to_day_end)},
              {"monthly",
               budget_json(view.monthly_budget, budgets ? view.month_spent : month_spend, when.seconds_to_month_end)}}}};
  auto usage = owner_json(owner, shown);
  usage.erase("owner");
  usage["from"] = core::day_string(today - days + 1);
  usage["to"] = core::day_string(today);
  body["usage"] = std::move(usage);
  co_return json_ok(body);
}

boost::asio::awaitable<http::response> admin_usage(gateway_services& svc, const http::request& req,
                                                   redis::connection* conn) {
  if (!svc.usage)
    co_return http::error_response(http::not_found("Usage records are off (usage.enabled: false).", "usage_off"));
  const auto snap = svc.snapshots.latest();
  const auto& cfg = *snap->config;
  const std::int64_t today = core::unix_seconds() / 86'400;
  limits::usage_query q;
  q.owner = core::query_value(req.query, "owner").value_or("");
  q.key = core::query_value(req.query, "key").value_or("");
  q.to_day = today;
  if (auto t = core::query_value(req.query, "to")) {
    auto d = core::parse_day(*t);
    if (!d) co_return bad_param("to must be a date as YYYY-MM-DD.", "to");
    q.to_day = *d;
  }
  q.from_day = q.to_day - 6;
  if (auto f = core::query_value(req.query, "from")) {
    auto d = core::parse_day(*f);
    if (!d) co_return bad_param("from must be a date as YYYY-MM-DD.", "from");
    q.from_day = *d;
  }
  if (q.from_day > q.to_day) co_return bad_param("from must not be after to.", "from");
  if (q.to_day - q.from_day + 1 > static_cast<std::int64_t>(cfg.usage.max_days))
    co_return bad_param("A range covers at most " + std::to_string(cfg.usage.max_days) + " days (usage.max_days).", "from");
  std::optional<limits::usage_report> report;
  if (conn) report = co_await svc.usage->read(*conn, q);
  else report = co_await svc.usage->read(req.worker, q);
  if (!report)
    co_return http::error_response(
        http::server_error(503, "Usage records cannot be read right now; try again shortly.", "usage_unavailable"));
  counters total;
  auto owners = json::array();
  for (auto& [owner, days] : *report) {
    auto o = owner_json(owner, days);
    for (auto& [_, d] : days) total += d.total;
    owners.push_back(std::move(o));
  }
  json body{{"object", "usage_report"},
            {"from", core::day_string(q.from_day)},
            {"to", core::day_string(q.to_day)},
            {"owner", q.owner.empty() ? json(nullptr) : json(q.owner)},
            {"key_id", q.key.empty() ? json(nullptr) : json(q.key)},
            {"store", svc.usage->shared() ? "redis" : "memory"},
            {"totals", counters_json(total)},
            {"owners", std::move(owners)}};
  co_return json_ok(body);
}

}  // namespace deepgate::api
