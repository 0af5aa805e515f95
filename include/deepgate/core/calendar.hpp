#pragma once
// The proleptic Gregorian calendar on day numbers (days since 1970-01-01), H. Hinnant's
// algorithms: one copy for time-zone rules, budget periods and usage days. Sans-io.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::core {

struct civil_date {
  std::int64_t year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
};

std::int64_t days_from_civil(std::int64_t year, int month, int day);
civil_date civil_from_days(std::int64_t days);
bool leap_year(std::int64_t year);
int days_in_month(std::int64_t year, int month);

// "2026-12-06" for a day number, and back (nullopt unless a valid date from 1970 on).
std::string day_string(std::int64_t days);
std::optional<std::int64_t> parse_day(std::string_view text);

}  // namespace deepgate::core
