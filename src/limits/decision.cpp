#include "deepgate/limits/decision.hpp"

#include <algorithm>
#include <cmath>

namespace deepgate::limits {

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
  // Civil date from days since the epoch (H. Hinnant's algorithm).
  std::int64_t z = p.day + 719468;
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  p.month = (y - 1970) * 12 + (m - 1);
  static constexpr int days_in[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  std::int64_t month_days = days_in[m - 1] + (m == 2 && leap ? 1 : 0);
  p.seconds_to_month_end = p.seconds_to_day_end + (month_days - d) * 86400;
  return p;
}

}  // namespace deepgate::limits
