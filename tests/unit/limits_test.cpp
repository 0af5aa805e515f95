// GCRA and token arithmetic with a manual clock, the in-memory store's all-or-nothing decisions,
// usage extraction and cost, UTC budget periods.
#include "deepgate/limits/decision.hpp"
#include "deepgate/limits/gcra.hpp"
#include "deepgate/limits/memory_store.hpp"
#include "deepgate/limits/usage.hpp"

#include <gtest/gtest.h>

using namespace deepgate::limits;
using deepgate::core::to_nano;
namespace config = deepgate::config;

namespace {
constexpr micros second = 1'000'000;
}

TEST(gcra, burst_passes_at_once_then_the_steady_rate) {
  auto rate = per_minute(60, 10);  // one per second, ten at once
  micros tat = 0, now = 1000 * second;
  for (int i = 0; i < 10; ++i) {
    auto r = gcra_check(tat, now, rate, 1);
    ASSERT_TRUE(r.allowed) << i;
    EXPECT_EQ(r.remaining, 9 - i);
    tat = r.tat;
  }
  auto refused = gcra_check(tat, now, rate, 1);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, second);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.reset, 10 * second);  // empty → full again in ten intervals
  EXPECT_EQ(refused.tat, tat);             // a refusal changes nothing

  // One interval later exactly one more passes, and not two.
  now += second;
  auto one = gcra_check(tat, now, rate, 1);
  ASSERT_TRUE(one.allowed);
  tat = one.tat;
  EXPECT_FALSE(gcra_check(tat, now, rate, 1).allowed);
  EXPECT_FALSE(gcra_check(tat, now + second - 1, rate, 1).allowed);
  EXPECT_TRUE(gcra_check(tat, now + second, rate, 1).allowed);
}

TEST(gcra, idle_time_refills_up_to_the_burst_and_no_further) {
  auto rate = per_minute(60, 5);
  micros tat = 0, now = 50 * second;
  for (int i = 0; i < 5; ++i) tat = gcra_check(tat, now, rate, 1).tat;
  now += 3 * second;
  auto r = gcra_check(tat, now, rate, 0);
  EXPECT_EQ(r.remaining, 3);
  EXPECT_EQ(r.reset, 2 * second);
  now += 3600 * second;  // long idle: still only the burst
  r = gcra_check(tat, now, rate, 0);
  EXPECT_EQ(r.remaining, 5);
  EXPECT_EQ(r.reset, 0);
}

TEST(gcra, default_burst_is_one_minutes_worth) {
  auto rate = per_minute(120);
  EXPECT_DOUBLE_EQ(rate.capacity, 120);
  EXPECT_DOUBLE_EQ(rate.interval, 500'000);
}

TEST(gcra, token_reservation_and_reconciliation_up_and_down) {
  auto rate = per_minute(6000);  // 100 tokens per second, 6000 at once
  micros now = 10 * second, tat = 0;
  auto r = gcra_check(tat, now, rate, 1000);  // reserve 1000
  ASSERT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 5000);
  tat = r.tat;
  // The answer used 400: 600 come back.
  tat = gcra_adjust(tat, now, rate, -600);
  EXPECT_EQ(gcra_check(tat, now, rate, 0).remaining, 5600);
  // Another used 1500 against a reservation of 1000: 500 more are charged.
  tat = gcra_check(tat, now, rate, 1000).tat;
  tat = gcra_adjust(tat, now, rate, 500);
  EXPECT_EQ(gcra_check(tat, now, rate, 0).remaining, 4100);  // 400 + 1500 used
  // A refund never banks more than a full bucket.
  tat = gcra_adjust(tat, now, rate, -100'000);
  EXPECT_EQ(gcra_check(tat, now, rate, 0).remaining, 6000);
  EXPECT_EQ(tat, now);
}

TEST(gcra, a_cost_larger_than_the_capacity_can_never_pass) {
  auto rate = per_minute(1000);
  auto r = gcra_check(0, 5 * second, rate, 1001);
  EXPECT_FALSE(r.allowed);
  EXPECT_LT(r.retry_after, 0);
}

TEST(gcra, a_refused_cost_says_when_it_would_pass) {
  auto rate = per_minute(600);  // 10 tokens per second
  micros now = 100 * second;
  auto tat = gcra_check(0, now, rate, 600).tat;  // bucket empty
  auto r = gcra_check(tat, now, rate, 50);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after, 5 * second);
  EXPECT_TRUE(gcra_check(tat, now + 5 * second, rate, 50).allowed);
}

TEST(memory_store, refusal_by_one_limit_consumes_nothing_from_the_others) {
  memory_store store;
  bucket_limits l;
  l.requests = per_minute(60, 2);
  l.tokens = per_minute(100);
  l.concurrency = 5;
  micros now = 1000 * second;
  admit_request big{"alice", "alice", &l, 80, {}};
  EXPECT_TRUE(store.admit(big, now).allowed());
  auto d = store.admit(big, now);  // 80 more tokens do not fit
  EXPECT_EQ(d.refused, refusal::tokens);
  EXPECT_EQ(d.requests_remaining, 1);  // the request slot was not used
  EXPECT_EQ(store.in_flight("alice"), 1u);
  admit_request small{"alice", "alice", &l, 10, {}};
  EXPECT_TRUE(store.admit(small, now).allowed());
  EXPECT_EQ(store.admit(small, now).refused, refusal::requests);
  EXPECT_EQ(store.in_flight("alice"), 2u);
}

TEST(memory_store, concurrency_slots_are_released_by_settle) {
  memory_store store;
  bucket_limits l;
  l.concurrency = 2;
  admit_request a{"bob", "bob", &l, 0, {}};
  EXPECT_TRUE(store.admit(a, 0).allowed());
  EXPECT_TRUE(store.admit(a, 0).allowed());
  auto d = store.admit(a, 0);
  EXPECT_EQ(d.refused, refusal::concurrency);
  EXPECT_GT(d.retry_after, 0);
  store.settle({"bob", "bob", &l, 0, true, 0, {}}, 0);
  EXPECT_EQ(store.in_flight("bob"), 1u);
  EXPECT_TRUE(store.admit(a, 0).allowed());
}

TEST(memory_store, budgets_stop_an_owner_once_spend_reaches_them_and_reset_next_period) {
  memory_store store;
  bucket_limits l;
  l.daily_budget = to_nano(0.01);
  auto day = periods_at(1'700'000'000);
  admit_request a{"carol", "carol", &l, 0, day};
  EXPECT_TRUE(store.admit(a, 0).allowed());
  store.settle({"carol", "carol", &l, 0, false, to_nano(0.006), day}, 0);
  EXPECT_TRUE(store.admit(a, 0).allowed());
  store.settle({"carol", "carol", &l, 0, false, to_nano(0.006), day}, 0);
  auto d = store.admit(a, 0);
  EXPECT_EQ(d.refused, refusal::daily_budget);
  EXPECT_EQ(d.retry_after, day.seconds_to_day_end * second);
  auto next = periods_at(1'700'000'000 + 86400);
  admit_request tomorrow{"carol", "carol", &l, 0, next};
  EXPECT_TRUE(store.admit(tomorrow, 0).allowed());
}

TEST(memory_store, each_replica_enforces_its_share_while_redis_is_down) {
  bucket_limits l;
  l.requests = per_minute(60, 9);
  l.tokens = per_minute(9000);
  l.concurrency = 10;
  auto d = divided(l, 3);
  EXPECT_DOUBLE_EQ(d.requests.interval, 3 * second);
  EXPECT_DOUBLE_EQ(d.requests.capacity, 3);
  EXPECT_DOUBLE_EQ(d.tokens.capacity, 3000);
  EXPECT_EQ(d.concurrency, 3u);
}

TEST(periods, utc_days_and_months) {
  // 2024-02-29T23:59:30Z, a leap day.
  auto p = periods_at(1709251170);
  EXPECT_EQ(p.seconds_to_day_end, 30);
  EXPECT_EQ(p.seconds_to_month_end, 30);
  EXPECT_EQ(p.month, (2024 - 1970) * 12 + 1);
  auto next = periods_at(1709251170 + 30);  // 2024-03-01T00:00:00Z
  EXPECT_EQ(next.day, p.day + 1);
  EXPECT_EQ(next.month, p.month + 1);
  EXPECT_EQ(next.seconds_to_month_end, 31 * 86400);
}

TEST(usage, deepseek_fields_and_cost) {
  auto u = find_usage(R"({"id":"x","choices":[{"message":{"content":"the \"usage\": {\"prompt_tokens\": 99}"}}],
    "usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,
             "completion_tokens_details":{"reasoning_tokens":200},
             "prompt_cache_hit_tokens":640,"prompt_cache_miss_tokens":360}})");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->prompt, 1000);
  EXPECT_EQ(u->completion, 500);
  EXPECT_EQ(u->reasoning, 200);
  EXPECT_EQ(u->cache_hit, 640);
  EXPECT_EQ(u->cache_miss, 360);
  price p{0.07, 0.27, 1.10};
  // 640 × 0.07 + 360 × 0.27 + 500 × 1.10 = 44.8 + 97.2 + 550 = 692 µUSD
  EXPECT_EQ(cost(*u, p), 692'000);
}

TEST(usage, openai_cached_tokens_and_missing_usage) {
  auto u = find_usage(R"({"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":64}}})");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->cache_hit, 64);
  EXPECT_EQ(u->cache_miss, 36);
  auto pretty = find_usage("{\n  \"usage\" : {\n    \"prompt_tokens\" : 12,\n    \"completion_tokens\":\t3\n  }\n}");
  ASSERT_TRUE(pretty);
  EXPECT_EQ(pretty->prompt, 12);
  EXPECT_EQ(pretty->completion, 3);
  EXPECT_EQ(pretty->cache_miss, 12);
  EXPECT_FALSE(find_usage(R"({"choices":[],"usage":null})"));
  EXPECT_FALSE(find_usage(R"({"choices":[]})"));
  EXPECT_FALSE(find_usage(R"({"usage":{"prompt_tokens":1)"));
}

// A count below zero (a backend's error; found by the sse_stream fuzzer) is taken as 0: it never
// hands tokens back to the caller's limits nor makes a negative cost.
TEST(usage, a_negative_count_is_read_as_zero) {
  auto negative = find_usage(R"({"usage":{"prompt_tokens":11,"completion_tokens":-3,"prompt_cache_hit_tokens":-4,)"
                             R"("prompt_cache_miss_tokens":-10}})");
  ASSERT_TRUE(negative);
  EXPECT_EQ(negative->prompt, 11);
  EXPECT_EQ(negative->completion, 0);
  EXPECT_EQ(negative->cache_hit, 0);
  EXPECT_EQ(negative->cache_miss, 0);
  auto negative_cached = find_usage(R"({"usage":{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":-7}}})");
  ASSERT_TRUE(negative_cached);
  EXPECT_EQ(negative_cached->cache_hit, 0);
  EXPECT_EQ(negative_cached->cache_miss, 5);
}

TEST(usage, the_usage_chunk_is_dropped_and_inline_usage_removed_when_stripping) {
  auto dedicated = take_chunk_usage(R"({"id":"a","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}})", true);
  ASSERT_TRUE(dedicated.found);
  EXPECT_EQ(dedicated.found->total(), 10);
  EXPECT_TRUE(dedicated.drop);

  auto inline_usage = take_chunk_usage(
      R"({"id":"a","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3}})",
      true);
  ASSERT_TRUE(inline_usage.found);
  EXPECT_FALSE(inline_usage.drop);
  ASSERT_TRUE(inline_usage.rewritten);
  EXPECT_EQ(inline_usage.rewritten->find("usage"), std::string::npos);
  EXPECT_NE(inline_usage.rewritten->find("finish_reason"), std::string::npos);

  auto kept = take_chunk_usage(R"({"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}})", false);
  EXPECT_TRUE(kept.found);
  EXPECT_FALSE(kept.drop);
  EXPECT_FALSE(kept.rewritten);
  auto plain = take_chunk_usage(R"({"choices":[{"delta":{"content":"hi"}}]})", true);
  EXPECT_FALSE(plain.found);
  EXPECT_FALSE(plain.drop);

  // OpenAI-style servers put "usage":null on every chunk once include_usage is asked for.
  auto null_usage = take_chunk_usage(R"({"id":"a","choices":[{"delta":{"content":"x"}}],"usage":null})", true);
  EXPECT_FALSE(null_usage.found);
  EXPECT_FALSE(null_usage.drop);
  ASSERT_TRUE(null_usage.rewritten);
  EXPECT_EQ(*null_usage.rewritten, R"({"id":"a","choices":[{"delta":{"content":"x"}}]})");
  auto spaced = take_chunk_usage(R"({"choices": [ ], "usage": {"prompt_tokens": 2, "completion_tokens": 1}})", true);
  EXPECT_TRUE(spaced.drop);
  EXPECT_EQ(spaced.found->total(), 3);
  // Text that looks like the key inside a string is content, not usage.
  auto quoted = take_chunk_usage(R"({"choices":[{"delta":{"content":"say \"usage\":null"}}],"usage":null})", true);
  ASSERT_TRUE(quoted.rewritten);
  EXPECT_EQ(*quoted.rewritten, R"({"choices":[{"delta":{"content":"say \"usage\":null"}}]})");
}

// What each refusal answers with, case by case (status, type, code, Retry-After, the message's
// figures), and the headers every answer carries.
TEST(refusal_error, each_refusal_has_its_status_code_and_retry_after) {
  config::limit_values v;
  v.requests_per_minute = 60;
  v.tokens_per_minute = 1000;
  v.concurrent_requests = 4;
  struct row {
    refusal r;
    unsigned status;
    std::string type, code;
    std::optional<long> retry_after;
    std::string in_message;
  };
  for (const auto& c : std::vector<row>{
           {refusal::requests, 429, "rate_limit_error", "rate_limit_exceeded", 3, "limit 60. Please try again in 2.5s."},
           {refusal::tokens, 429, "rate_limit_error", "tokens_limit_exceeded", 3, "limit 1000, requested 1500"},
           {refusal::tokens_too_large, 429, "rate_limit_error", "tokens_limit_exceeded", std::nullopt, "Request too large: it may use 1500"},
           {refusal::concurrency, 429, "rate_limit_error", "concurrency_limit_exceeded", 3, "limit 4."},
           {refusal::daily_budget, 402, "insufficient_quota", "insufficient_quota", 3, "next UTC day."},
           {refusal::monthly_budget, 402, "insufficient_quota", "insufficient_quota", 3, "next UTC month."},
           {refusal::unavailable, 503, "api_error", "rate_limiter_unavailable", 1, "unreachable"},
       }) {
    decision d;
    d.refused = c.r;
    d.retry_after = 2'500'000;  // 2.5 s: Retry-After rounds up to whole seconds
    auto e = refusal_error(d, v, 1500);
    EXPECT_EQ(e.status, c.status) << c.code;
    EXPECT_EQ(e.type, c.type) << c.code;
    EXPECT_EQ(e.code, c.code);
    if (c.retry_after) {
      ASSERT_TRUE(e.retry_after) << c.code;
      EXPECT_EQ(e.retry_after->count(), *c.retry_after) << c.code;
    } else {
      EXPECT_FALSE(e.retry_after) << c.code;
    }
    EXPECT_NE(e.message.find(c.in_message), std::string::npos) << e.message;
  }
  auto busy = backend_busy_error("ds");
  EXPECT_EQ(busy.status, 429u);
  EXPECT_EQ(busy.code, "backend_busy");
  EXPECT_NE(busy.message.find("'ds'"), std::string::npos);
}

TEST(refusal_error, rate_limit_headers_name_only_the_limits_checked) {
  config::limit_values v;
  v.requests_per_minute = 60;
  v.tokens_per_minute = 1000;
  decision d;
  d.requests_remaining = 59;
  d.requests_reset = 1'000'000;
  d.tokens_remaining = 900;
  d.tokens_reset = 250'000;
  bucket_limits both = resolve(v, {});
  auto h = rate_limit_headers(d, both, v);
  ASSERT_EQ(h.size(), 6u);
  EXPECT_EQ(h[0].name, "x-ratelimit-limit-requests");
  EXPECT_EQ(h[1].value, "59");
  EXPECT_EQ(h[2].value, "1s");
  EXPECT_EQ(h[4].value, "900");
  EXPECT_EQ(h[5].value, "250ms");
  config::limit_values only_requests;
  only_requests.requests_per_minute = 60;
  EXPECT_EQ(rate_limit_headers(d, resolve(only_requests, {}), only_requests).size(), 3u);
  EXPECT_TRUE(rate_limit_headers(d, resolve({}, {}), {}).empty());
  EXPECT_EQ(reset_text(6 * 60'000'000), "6m0s");
  // The text printf gave (the implementation before to_chars), across the three ranges.
  for (long long us : {0LL, 1LL, 999LL, 1'000LL, 250'001LL, 999'999LL, 1'000'000LL, 1'234'567LL, 9'995'000LL,
                       12'345'678LL, 59'949'999LL, 59'999'999LL, 60'000'000LL, 61'500'000LL, 3'599'000'001LL}) {
    char expected[48];
    if (us < 1'000'000) std::snprintf(expected, sizeof expected, "%lldms", (us + 999) / 1000);
    else if (us < 60'000'000) std::snprintf(expected, sizeof expected, "%.3gs", static_cast<double>(us) / 1e6);
    else std::snprintf(expected, sizeof expected, "%lldm%llds", (us + 999'999) / 1'000'000 / 60, (us + 999'999) / 1'000'000 % 60);
    EXPECT_EQ(reset_text(us), expected) << us;
  }
}

TEST(usage, responses_and_anthropic_shapes) {
  // The Responses API: input_tokens include the cached ones; reasoning inside output_tokens.
  auto r = find_usage(R"({"type":"response.completed","response":{"id":"resp_1","output":[],"usage":{"input_tokens":300,
    "input_tokens_details":{"cached_tokens":128},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":10},
    "total_tokens":340}},"sequence_number":9})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prompt, 300);
  EXPECT_EQ(r->cache_hit, 128);
  EXPECT_EQ(r->cache_miss, 172);
  EXPECT_EQ(r->completion, 40);
  EXPECT_EQ(r->reasoning, 10);
  // Anthropic: input_tokens leave out cache reads and writes, which are input too.
  auto a = find_usage(R"({"id":"msg_1","type":"message","usage":{"input_tokens":50,"output_tokens":20,
    "cache_read_input_tokens":192,"cache_creation_input_tokens":8}})");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->prompt, 250);
  EXPECT_EQ(a->cache_hit, 192);
  EXPECT_EQ(a->cache_miss, 58);
  EXPECT_EQ(a->completion, 20);
  // message_delta reports the output only.
  auto d = find_usage(R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->prompt, 0);
  EXPECT_EQ(d->completion, 15);
}

// ---------------------------------------------------------------- usage records

#include "deepgate/core/url.hpp"
#include "deepgate/core/calendar.hpp"
#include "deepgate/limits/ledger.hpp"

TEST(usage_records, days_print_and_parse_as_utc_dates) {
  using deepgate::core::day_string;
  using deepgate::core::parse_day;
  EXPECT_EQ(day_string(0), "1970-01-01");
  EXPECT_EQ(day_string(20'428), "2025-12-06");
  EXPECT_EQ(day_string(19'416), "2023-02-28");
  EXPECT_EQ(day_string(19'782), "2024-02-29");
  for (std::int64_t d = 0; d < 80'000; d += 7) ASSERT_EQ(parse_day(day_string(d)), d) << day_string(d);
  for (auto bad : {"2026-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "20261201", "1969-12-31", "2026-12-0x", ""})
    EXPECT_FALSE(parse_day(bad)) << bad;
  EXPECT_TRUE(parse_day("2024-02-29"));
}

TEST(usage_records, an_event_adds_its_counters) {
  using namespace deepgate::limits;
  usage_event e;
  e.owner = "o";
  usage u;
  u.prompt = 100;
  u.completion = 40;
  u.reasoning = 10;
  u.cache_hit = 64;
  u.cache_miss = 36;
  u.estimated = true;
  e.used = u;
  e.spend = 1234;
  auto c = counters_of(e);
  EXPECT_EQ(c[counter::requests], 1);
  EXPECT_EQ(c[counter::prompt_tokens], 100);
  EXPECT_EQ(c[counter::reasoning_tokens], 10);
  EXPECT_EQ(c[counter::cache_hit_tokens], 64);
  EXPECT_EQ(c[counter::estimated_requests], 1);
  EXPECT_EQ(c[counter::spend_nano_usd], 1234);
  EXPECT_EQ(c[counter::errors], 0);
  usage_event refused;
  refused.refused = counter::refused_budget;
  refused.error = true;  // a refusal is counted as what it is, not as an error too
  auto r = counters_of(refused);
  EXPECT_EQ(r[counter::refused_budget], 1);
  EXPECT_EQ(r[counter::errors], 0);
  c += r;
  EXPECT_EQ(c[counter::requests], 2);
  EXPECT_FALSE(c.empty());
  EXPECT_TRUE(counters{}.empty());
  for (std::size_t i = 0; i < counter_count; ++i)
    EXPECT_EQ(counter_named(to_string(static_cast<counter>(i))), static_cast<counter>(i));
  EXPECT_FALSE(counter_named("nope"));
}

TEST(usage_records, query_values_are_decoded) {
  using deepgate::core::query_value;
  EXPECT_EQ(query_value("owner=team%20a&from=2026-12-01", "owner"), "team a");
  EXPECT_EQ(query_value("owner=team+a", "owner"), "team a");
  EXPECT_EQ(query_value("a=1&owner=x&owner=y", "owner"), "x");
  EXPECT_EQ(query_value("owners=x", "owner"), std::nullopt);
  EXPECT_EQ(query_value("owner", "owner"), "");
  EXPECT_EQ(query_value("owner=%zz", "owner"), std::nullopt);
  EXPECT_EQ(query_value("owner=%4", "owner"), std::nullopt);
  EXPECT_EQ(query_value("owner=%7B%7D", "owner"), "{}");
  EXPECT_EQ(query_value("", "owner"), std::nullopt);
}
