#include "deepgate/core/time_zone.hpp"
#include "deepgate/core/calendar.hpp"
#include "deepgate/core/strings.hpp"

#include <algorithm>
#include <cstdlib>

namespace deepgate::core {

namespace {

std::int64_t year_of_days(std::int64_t z) { return civil_from_days(z).year; }

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Days since the epoch of a rule's date in year y.
std::int64_t rule_day(const time_zone::posix_rule::date& d, std::int64_t y) {
  const auto jan1 = days_from_civil(y, 1, 1);
  if (d.kind == 'J') return jan1 + d.day - 1 + (leap_year(y) && d.day >= 60 ? 1 : 0);
  if (d.kind == 'N') return jan1 + d.day;
  const auto first = days_from_civil(y, d.month, 1);
  const auto first_weekday = static_cast<int>(((first + 4) % 7 + 7) % 7);  // 0 = Sunday
  auto day = 1 + (d.weekday - first_weekday + 7) % 7 + (d.week - 1) * 7;
  while (day > days_in_month(y, d.month)) day -= 7;
  return first + day - 1;
}

// A small cursor over the footer text.
struct cursor {
  std::string_view s;
  std::size_t i = 0;
  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i;
    return true;
  }
  std::optional<int> number(int max) {
    int v = 0, digits = 0;
    while (!done() && s[i] >= '0' && s[i] <= '9' && digits < 4) v = v * 10 + (s[i++] - '0'), ++digits;
    if (digits == 0 || v > max) return std::nullopt;
    return v;
  }
  bool name() {
    if (eat('<')) {
      auto end = s.find('>', i);
      if (end == std::string_view::npos || end == i) return false;
      i = end + 1;
      return true;
    }
    auto start = i;
    while (!done() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
    return i - start >= 3;
  }
  // [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536 extends POSIX for rule times).
  std::optional<int> clock(int max_hours) {
    int sign = 1;
    if (eat('-')) sign = -1;
    else eat('+');
    auto h = number(max_hours);
    if (!h) return std::nullopt;
    int v = *h * 3600;
    if (eat(':')) {
      auto m = number(59);
      if (!m) return std::nullopt;
      v += *m * 60;
      if (eat(':')) {
        auto sec = number(59);
        if (!sec) return std::nullopt;
        v += *sec;
      }
    }
    return sign * v;
  }
  std::optional<time_zone::posix_rule::date> date() {
    time_zone::posix_rule::date d;
    if (eat('M')) {
      auto m = number(12);
      if (!m || *m < 1 || !eat('.')) return std::nullopt;
      auto w = number(5);
      if (!w || *w < 1 || !eat('.')) return std::nullopt;
      auto wd = number(6);
      if (!wd) return std::nullopt;
      d.kind = 'M', d.month = *m, d.week = *w, d.weekday = *wd;
    } else if (eat('J')) {
      auto n = number(365);
      if (!n || *n < 1) return std::nullopt;
      d.kind = 'J', d.day = *n;
    } else {
      auto n = number(365);
      if (!n) return std::nullopt;
      d.kind = 'N', d.day = *n;
    }
    if (eat('/')) {
      auto t = clock(167);
      if (!t) return std::nullopt;
      d.time = *t;
    }
    return d;
  }
};

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::int64_t be64(const unsigned char* p) {
  return static_cast<std::int64_t>((std::uint64_t{be32(p)} << 32) | be32(p + 4));
}

}  // namespace

std::optional<time_zone::posix_rule> time_zone::parse_posix(std::string_view text) {
  cursor c{text};
  posix_rule r;
  if (!c.name()) return std::nullopt;
  auto std_off = c.clock(24);
  if (!std_off) return std::nullopt;
  r.std_offset = -*std_off;  // POSIX counts hours west of UTC
  if (c.done()) return r;
  if (!c.name()) return std::nullopt;
  r.has_dst = true;
  r.dst_offset = r.std_offset + 3600;
  if (c.peek() != ',') {
    auto dst_off = c.clock(24);
    if (!dst_off) return std::nullopt;
    r.dst_offset = -*dst_off;
  }
  // Without dates POSIX leaves the rule to the implementation; TZif footers always give them.
  if (!c.eat(',')) return std::nullopt;
  auto start = c.date();
  if (!start || !c.eat(',')) return std::nullopt;
  auto end = c.date();
  if (!end || !c.done()) return std::nullopt;
  r.start = *start;
  r.end = *end;
  return r;
}

int time_zone::posix_rule::offset_at(std::int64_t t) const {
  if (!has_dst) return std_offset;
  const auto year = year_of_days(floor_div(t + std_offset, 86400));
  const auto begins = rule_day(start, year) * 86400 + start.time - std_offset;
  const auto ends = rule_day(end, year) * 86400 + end.time - dst_offset;
  const bool dst = begins < ends ? (t >= begins && t < ends) : !(t >= ends && t < begins);
  return dst ? dst_offset : std_offset;
}

std::optional<time_zone> time_zone::parse(std::string_view name, std::string_view tzif, std::string& error) {
  const auto* p = reinterpret_cast<const unsigned char*>(tzif.data());
  const std::size_t size = tzif.size();
  struct counts {
    std::uint32_t isut, isstd, leap, time, type, chars;
  };
  auto header = [&](std::size_t at, counts& c) {
    if (size < at + 44 || tzif.substr(at, 4) != "TZif") return false;
    const auto* h = p + at + 20;
    c = {be32(h), be32(h + 4), be32(h + 8), be32(h + 12), be32(h + 16), be32(h + 20)};
    return c.type >= 1 && c.type <= 256 && c.time <= 100000 && c.chars <= 100000 && c.leap <= 100000 &&
           (c.isut == 0 || c.isut == c.type) && (c.isstd == 0 || c.isstd == c.type);
  };
  auto block_size = [](const counts& c, std::size_t time_size) {
    return c.time * time_size + c.time + c.type * 6 + c.chars + c.leap * (time_size + 4) + c.isstd + c.isut;
  };
  counts c{};
  if (!header(0, c)) {
    error = "not a TZif file";
    return std::nullopt;
  }
  const char version = tzif[4];
  std::size_t at = 44;
  std::size_t time_size = 4;
  if (version >= '2') {
    at += block_size(c, 4);
    if (!header(at, c)) {
      error = "truncated TZif file";
      return std::nullopt;
    }
    at += 44;
    time_size = 8;
  }
  if (size < at + block_size(c, time_size)) {
    error = "truncated TZif file";
    return std::nullopt;
  }
  const auto* times = p + at;
  const auto* indices = times + c.time * time_size;
  const auto* types = indices + c.time;
  time_zone z;
  z.name_ = std::string(name);
  auto type_offset = [&](std::uint32_t i) { return static_cast<int>(static_cast<std::int32_t>(be32(types + i * 6))); };
  z.initial_offset_ = type_offset(0);
  for (std::uint32_t i = 0; i < c.time; ++i) {
    if (indices[i] >= c.type) {
      error = "bad TZif transition type";
      return std::nullopt;
    }
    auto t = time_size == 8 ? be64(times + i * 8) : static_cast<std::int32_t>(be32(times + i * 4));
    if (!z.transitions_.empty() && t <= z.transitions_.back()) {
      error = "TZif transitions out of order";
      return std::nullopt;
    }
    z.transitions_.push_back(t);
    z.offsets_.push_back(type_offset(indices[i]));
  }
  if (version >= '2') {
    auto footer = tzif.substr(at + block_size(c, time_size));
    if (footer.size() >= 2 && footer[0] == '\n') {
      auto end = footer.find('\n', 1);
      if (end != std::string_view::npos && end > 1) z.rule_ = parse_posix(footer.substr(1, end - 1));
    }
  }
  return z;
}

std::optional<time_zone> time_zone::load(std::string_view name, std::string& error) {
  const bool well_formed =
      !name.empty() && name.size() < 128 && name.front() != '/' && name.find("..") == std::string_view::npos &&
      std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' ||
               ch == '_' || ch == '-' || ch == '+';
      });
  if (!well_formed) {
    error = "is not a time zone name such as Asia/Shanghai";
    return std::nullopt;
  }
  const char* dir = std::getenv("TZDIR");
  std::string path = (dir && *dir ? std::string(dir) : std::string("/usr/share/zoneinfo")) + "/" + std::string(name);
  auto bytes = read_file(path);
  if (!bytes) {
    error = "unknown time zone (no " + path + "; is the tzdata package installed?)";
    return std::nullopt;
  }
  auto z = parse(name, *bytes, error);
  if (!z) error = path + ": " + error;
  return z;
}

int time_zone::offset_seconds(std::int64_t t) const {
  if (transitions_.empty() || t < transitions_.front())
    return transitions_.empty() && rule_ ? rule_->offset_at(t) : initial_offset_;
  if (t >= transitions_.back() && rule_) return rule_->offset_at(t);
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  return offsets_[static_cast<std::size_t>(it - transitions_.begin()) - 1];
}

}  // namespace deepgate::core
