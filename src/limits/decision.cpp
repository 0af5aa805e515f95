#include "deepgate/limits/decision.hpp"

#include "deepgate/core/calendar.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace deepgate::limits {

namespace {

std::chrono::seconds retry_seconds(micros us) {
  return std::chrono::seconds(std::max<micros>(1, (us + 999'999) / 1'000'000));
}

}  // namespace

// With to_chars, not snprintf: the text is the same (to_chars with a precision is specified as
// printf's %.*g), and this runs for each limit header of every limited request.
std::string reset_text(micros us) {
  char buf[48];
  char* end = buf;
  const auto put = [&](long long v) { end = std::to_chars(end, buf + sizeof buf, v).ptr; };
  if (us < 1'000'000) {
    put(static_cast<long long>((us + 999) / 1000));
    *end++ = 'm';
    *end++ = 's';
  } else if (us < 60'000'000) {
    end = std::to_chars(end, buf + sizeof buf, static_cast<double>(us) / 1e6, std::chars_format::general, 3).ptr;
    *end++ = 's';
  } else {
    auto s = (us + 999'999) / 1'000'000;
    put(static_cast<long long>(s / 60));
    *end++ = 'm';
    put(static_cast<long long>(s % 60));
    *end++ = 's';
  }
  return std::string(buf, end);
}

bucket_limits resolve(const config::limit_values& v, const config::limits_profile& p) {
  bucket_limits l;
  if (v.requests_per_minute) l.requests = per_minute(v.requests_per_minute, v.request_burst);
  if (v.tokens_per_minute) l.tokens = per_minute(static_cast<double>(v.tokens_per_minute));
  l.concurrency = v.concurrent_requests;
  l.daily_budget = p.daily_budget;
  l.monthly_budget = p.monthly_budget;
  return l;
}

bucket_limits divided(const bucket_limits& l, std::uint32_t replicas) {
  if (replicas <= 1) return l;
  auto r = static_cast<double>(replicas);
  bucket_limits d = l;
  // Each replica gets 1/replicas of the rate and of the burst (at least one unit).
  if (l.requests.interval > 0) d.requests = {l.requests.interval * r, std::max(1.0, std::floor(l.requests.capacity / r))};
  if (l.tokens.interval > 0) d.tokens = {l.tokens.interval * r, std::max(1.0, std::floor(l.tokens.capacity / r))};
  if (l.concurrency) d.concurrency = std::max<std::uint32_t>(1, l.concurrency / replicas);
  return d;
}

periods periods_at(std::int64_t t) {
  periods p;
  p.day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  p.seconds_to_day_end = (p.day + 1) * 86400 - t;
  const auto c = core::civil_from_days(p.day);
  p.month = (c.year - 1970) * 12 + (c.month - 1);
  p.seconds_to_month_end = p.seconds_to_day_end + (core::days_in_month(c.year, c.month) - c.day) * 86400;
  return p;
}

http::header_list rate_limit_headers(const decision& d, const bucket_limits& limits, const config::limit_values& values) {
  http::header_list h;
  h.reserve(6);
  if (limits.requests.interval > 0) {
    h.push_back({"x-ratelimit-limit-requests", std::to_string(values.requests_per_minute)});
    h.push_back({"x-ratelimit-remaining-requests", std::to_string(d.requests_remaining)});
    h.push_back({"x-ratelimit-reset-requests", reset_text(d.requests_reset)});
  }
  if (limits.tokens.interval > 0) {
    h.push_back({"x-ratelimit-limit-tokens", std::to_string(values.tokens_per_minute)});
    h.push_back({"x-ratelimit-remaining-tokens", std::to_string(d.tokens_remaining)});
    h.push_back({"x-ratelimit-reset-tokens", reset_text(d.tokens_reset)});
  }
  return h;
}

http::api_error refusal_error(const decision& d, const config::limit_values& values, std::int64_t reserved) {
  http::api_error e;
  e.status = 429;
  e.type = "rate_limit_error";
  e.retry_after = retry_seconds(d.retry_after);
  auto wait = " Please try again in " + reset_text(d.retry_after) + ".";
  switch (d.refused) {
    case refusal::requests:
      e.code = "rate_limit_exceeded";
      e.message = "Rate limit reached for requests per minute: limit " + std::to_string(values.requests_per_minute) + "." + wait;
      break;
    case refusal::tokens:
      e.code = "tokens_limit_exceeded";
      e.message = "Rate limit reached for tokens per minute: limit " + std::to_string(values.tokens_per_minute) +
                  ", requested " + std::to_string(reserved) + " (prompt estimate + max_tokens)." + wait;
      break;
    case refusal::tokens_too_large:
      e.code = "tokens_limit_exceeded";
      e.retry_after.reset();
      e.message = "Request too large: it may use " + std::to_string(reserved) +
                  " tokens (prompt estimate + max_tokens) but the limit is " + std::to_string(values.tokens_per_minute) +
                  " tokens per minute. Lower max_tokens or shorten the prompt.";
      break;
    case refusal::concurrency:
      e.code = "concurrency_limit_exceeded";
      e.message = "Too many concurrent requests: limit " + std::to_string(values.concurrent_requests) +
                  ". Wait for a request to finish.";
      break;
    case refusal::daily_budget:
    case refusal::monthly_budget:
      e.status = 402;
      e.type = "insufficient_quota";
      e.code = "insufficient_quota";
      e.message = std::string("You exceeded your ") + (d.refused == refusal::daily_budget ? "daily" : "monthly") +
                  " spend budget. It resets at the start of the next UTC " +
                  (d.refused == refusal::daily_budget ? "day." : "month.");
      break;
    default:
      e.status = 503;
      e.type = "api_error";
      e.code = "rate_limiter_unavailable";
      e.message = "The rate limiter's store is unreachable. Please retry shortly.";
      e.retry_after = std::chrono::seconds(1);
      break;
  }
  return e;
}

http::api_error backend_busy_error(std::string_view backend) {
  http::api_error e;
  e.status = 429;
  e.type = "rate_limit_error";
  e.code = "backend_busy";
  e.message = "Backend '" + std::string(backend) + "' is at its concurrency limit and its queue is full or the wait timed out.";
  e.retry_after = std::chrono::seconds(1);
  return e;
}

}  // namespace deepgate::limits
