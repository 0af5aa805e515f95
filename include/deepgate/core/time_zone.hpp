#pragma once
// A named time zone ("Asia/Shanghai", "Europe/Berlin") read from the system's zoneinfo files
// (TZif, RFC 8536) once at config load, then asked "what is the UTC offset at this instant?"
// without locks or global state (unlike localtime_r with TZ). Instants past the file's last
// transition follow its POSIX TZ footer ("CET-1CEST,M3.5.0,M10.5.0/3"), so slim zoneinfo files
// and far-future dates are right too. GCC 12's libstdc++ has no std::chrono::tzdb, hence this.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::core {

class time_zone {
 public:
  // Reads $TZDIR/<name> (default /usr/share/zoneinfo). The name must look like a zone name
  // (letters, digits, '/', '_', '-', '+'; no "..").
  static std::optional<time_zone> load(std::string_view name, std::string& error);
  // Parses TZif bytes (versions 1 to 4).
  static std::optional<time_zone> parse(std::string_view name, std::string_view tzif, std::string& error);

  // Seconds east of UTC at `utc_seconds` since the epoch.
  int offset_seconds(std::int64_t utc_seconds) const;
  const std::string& name() const { return name_; }

  // The POSIX TZ rule of a footer; exposed for tests. nullopt when `rule` is not one.
  struct posix_rule {
    int std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int dst_offset = 0;
    struct date {
      char kind = 'M';  // 'M' month.week.day, 'J' 1-365 without Feb 29, 'N' 0-365 with it
      int month = 0, week = 0, weekday = 0, day = 0;
      int time = 7200;  // seconds after local midnight
    } start, end;
    int offset_at(std::int64_t utc_seconds) const;
  };
  static std::optional<posix_rule> parse_posix(std::string_view rule);

 private:
  std::string name_;
  std::vector<std::int64_t> transitions_;  // UTC seconds, ascending
  std::vector<int> offsets_;               // the offset from each transition on
  int initial_offset_ = 0;                 // before the first transition
  std::optional<posix_rule> rule_;         // after the last one
};

}  // namespace deepgate::core
