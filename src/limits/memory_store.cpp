#include "deepgate/limits/memory_store.hpp"

#include <functional>

namespace deepgate::limits {

memory_store::shard& memory_store::shard_for(std::string_view name) {
  return shards_[std::hash<std::string_view>{}(name) % shard_count];
}

decision memory_store::admit(const admit_request& r, micros now) {
  const auto& l = *r.limits;
  decision d;
  if (l.daily_budget || l.monthly_budget) {
    auto& s = shard_for(r.owner);
    std::lock_guard lock(s.mutex);
    auto it = s.spend.find(r.owner);
    if (it != s.spend.end()) {
      const auto& sp = it->second;
      if (l.daily_budget && sp.day == r.when.day && sp.day_spent >= l.daily_budget) {
        d.refused = refusal::daily_budget;
        d.retry_after = r.when.seconds_to_day_end * 1'000'000;
      } else if (l.monthly_budget && sp.month == r.when.month && sp.month_spent >= l.monthly_budget) {
        d.refused = refusal::monthly_budget;
        d.retry_after = r.when.seconds_to_month_end * 1'000'000;
      }
    }
  }

  auto& s = shard_for(r.bucket);
  std::lock_guard lock(s.mutex);
  auto& b = at(s.buckets, r.bucket);
  gcra_result req, tok;
  if (l.requests.interval > 0) req = gcra_check(b.request_tat, now, l.requests, 1);
  if (l.tokens.interval > 0) tok = gcra_check(b.token_tat, now, l.tokens, static_cast<double>(r.tokens));
  if (d.allowed()) {
    if (l.concurrency && b.in_flight >= l.concurrency) {
      d.refused = refusal::concurrency;
      d.retry_after = 1'000'000;  // a slot frees when a request ends: no better estimate
    } else if (l.requests.interval > 0 && !req.allowed) {
      d.refused = refusal::requests;
      d.retry_after = req.retry_after;
    } else if (l.tokens.interval > 0 && !tok.allowed) {
      d.refused = tok.retry_after < 0 ? refusal::tokens_too_large : refusal::tokens;
      d.retry_after = std::max<micros>(0, tok.retry_after);
    }
  }
  if (d.allowed()) {
    if (l.requests.interval > 0) b.request_tat = req.tat;
    if (l.tokens.interval > 0) b.token_tat = tok.tat;
    if (l.concurrency) ++b.in_flight;
  } else {
    // The headers describe the state as it stays: recompute without this request.
    if (l.requests.interval > 0) req = gcra_check(b.request_tat, now, l.requests, 0);
    if (l.tokens.interval > 0) tok = gcra_check(b.token_tat, now, l.tokens, 0);
  }
  d.requests_remaining = req.remaining;
  d.requests_reset = req.reset;
  d.tokens_remaining = tok.remaining;
  d.tokens_reset = tok.reset;
  return d;
}

void memory_store::settle(const settle_request& r, micros now) {
  const auto& l = *r.limits;
  if ((l.tokens.interval > 0 && r.token_delta != 0) || (r.release_lease && l.concurrency)) {
    auto& s = shard_for(r.bucket);
    std::lock_guard lock(s.mutex);
    auto& b = at(s.buckets, r.bucket);
    if (l.tokens.interval > 0 && r.token_delta != 0)
      b.token_tat = gcra_adjust(b.token_tat, now, l.tokens, static_cast<double>(r.token_delta));
    if (r.release_lease && l.concurrency && b.in_flight > 0) --b.in_flight;
  }
  if (r.cost > 0 && (l.daily_budget || l.monthly_budget)) {
    auto& s = shard_for(r.owner);
    std::lock_guard lock(s.mutex);
    auto& sp = at(s.spend, r.owner);
    if (sp.day != r.when.day) sp = {r.when.day, sp.month, 0, sp.month_spent};
    if (sp.month != r.when.month) sp = {sp.day, r.when.month, sp.day_spent, 0};
    sp.day_spent += r.cost;
    sp.month_spent += r.cost;
  }
}

peek_state memory_store::peek(std::string_view bucket, std::string_view owner, const bucket_limits& l,
                                const periods& when, micros now) {
  peek_state p;
  {
    auto& s = shard_for(bucket);
    std::lock_guard lock(s.mutex);
    bucket_state b;
    if (auto it = s.buckets.find(bucket); it != s.buckets.end()) b = it->second;
    if (l.requests.interval > 0) {
      auto g = gcra_check(b.request_tat, now, l.requests, 0);
      p.requests_remaining = g.remaining;
      p.requests_reset = g.reset;
    }
    if (l.tokens.interval > 0) {
      auto g = gcra_check(b.token_tat, now, l.tokens, 0);
      p.tokens_remaining = g.remaining;
      p.tokens_reset = g.reset;
    }
    p.in_flight = b.in_flight;
  }
  auto& s = shard_for(owner);
  std::lock_guard lock(s.mutex);
  if (auto it = s.spend.find(owner); it != s.spend.end()) {
    if (it->second.day == when.day) p.day_spent = it->second.day_spent;
    if (it->second.month == when.month) p.month_spent = it->second.month_spent;
  }
  return p;
}

std::uint32_t memory_store::in_flight(std::string_view bucket) {
  auto& s = shard_for(bucket);
  std::lock_guard lock(s.mutex);
  auto it = s.buckets.find(bucket);
  return it == s.buckets.end() ? 0 : it->second.in_flight;
}

}  // namespace deepgate::limits
