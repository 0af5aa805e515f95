// Named time zones from the system's zoneinfo (issue 16: price windows in a named zone).
#include "deepgate/core/strings.hpp"
#include "deepgate/core/time_zone.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>

#include <unistd.h>

using deepgate::core::time_zone;

namespace {

std::int64_t utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  return duration_cast<seconds>((sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s}).time_since_epoch())
      .count();
}

time_zone load(const char* name) {
  std::string error;
  auto z = time_zone::load(name, error);
  EXPECT_TRUE(z) << name << ": " << error;
  return z ? std::move(*z) : time_zone{};
}

// A TZif v2 file with no transitions at all: everything comes from the footer, as in zoneinfo
// built with `zic -b slim` past its last listed transition.
std::string slim_tzif(const std::string& footer) {
  std::string header = "TZif2";
  header.append(15, '\0');
  auto be32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  // isut, isstd, leap, time, type, chars
  for (auto v : {0u, 0u, 0u, 0u, 1u, 4u}) header += be32(v);
  std::string block = be32(3600) + std::string{'\0', '\0'} + std::string("CET", 4);
  return header + block + header + block + "\n" + footer + "\n";
}

}  // namespace

TEST(time_zone, posix_rules) {
  auto cst = time_zone::parse_posix("CST-8");
  ASSERT_TRUE(cst);
  EXPECT_EQ(cst->std_offset, 8 * 3600);
  EXPECT_FALSE(cst->has_dst);
  auto iran = time_zone::parse_posix("<+0330>-3:30");
  ASSERT_TRUE(iran);
  EXPECT_EQ(iran->std_offset, 3 * 3600 + 1800);
  auto cet = time_zone::parse_posix("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(cet);
  EXPECT_EQ(cet->std_offset, 3600);
  EXPECT_EQ(cet->dst_offset, 7200);
  // 2026: last Sunday of March is the 29th (01:00 UTC), of October the 25th (01:00 UTC).
  EXPECT_EQ(cet->offset_at(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(cet->offset_at(utc(2026, 3, 29, 1)), 7200);
  EXPECT_EQ(cet->offset_at(utc(2026, 10, 25, 0, 59, 59)), 7200);
  EXPECT_EQ(cet->offset_at(utc(2026, 10, 25, 1)), 3600);
  // Southern hemisphere: DST spans the new year (Sydney: first Sunday of October to April).
  auto syd = time_zone::parse_posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(syd);
  EXPECT_EQ(syd->offset_at(utc(2026, 1, 15)), 11 * 3600);
  EXPECT_EQ(syd->offset_at(utc(2026, 7, 15)), 10 * 3600);
  EXPECT_EQ(syd->offset_at(utc(2026, 12, 31, 23)), 11 * 3600);
  // Negative and extended rule times (RFC 8536), Julian days.
  EXPECT_TRUE(time_zone::parse_posix("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1"));
  EXPECT_TRUE(time_zone::parse_posix("XXX3YYY,J60/25,J300/167"));
  for (auto bad : {"", "X", "CET", "CET-1CEST", "CET-1CEST,M13.1.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0",
                   "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5.0", "CET-1CEST,M3.5.0,M10.5.0x", "<+08-8"})
    EXPECT_FALSE(time_zone::parse_posix(bad)) << bad;
}

TEST(time_zone, reads_zoneinfo) {
  auto shanghai = load("Asia/Shanghai");
  EXPECT_EQ(shanghai.name(), "Asia/Shanghai");
  EXPECT_EQ(shanghai.offset_seconds(utc(2026, 12, 4, 1)), 8 * 3600);
  EXPECT_EQ(shanghai.offset_seconds(utc(2090, 7, 1)), 8 * 3600);
  auto berlin = load("Europe/Berlin");
  EXPECT_EQ(berlin.offset_seconds(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(berlin.offset_seconds(utc(2026, 3, 29, 1)), 7200);
  EXPECT_EQ(berlin.offset_seconds(utc(2100, 7, 1)), 7200);  // past the file's last transition: the footer
  EXPECT_EQ(berlin.offset_seconds(utc(2100, 1, 1)), 3600);
  auto ny = load("America/New_York");
  EXPECT_EQ(ny.offset_seconds(utc(2026, 3, 8, 6, 59, 59)), -5 * 3600);
  EXPECT_EQ(ny.offset_seconds(utc(2026, 3, 8, 7)), -4 * 3600);
  EXPECT_EQ(load("UTC").offset_seconds(utc(2026, 6, 1)), 0);
}

// The same answers as the C library for many instants from 1950 to 2150, in zones with and
// without daylight saving, on both hemispheres, with half-hour offsets.
TEST(time_zone, agrees_with_the_c_library) {
  std::mt19937_64 rng(16);
  std::uniform_int_distribution<std::int64_t> when(utc(1950, 1, 1), utc(2150, 1, 1));
  const char* old_tz = std::getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Shanghai", "Asia/Kolkata",
                           "America/Sao_Paulo", "Pacific/Chatham", "Africa/Casablanca"}) {
    auto z = load(name);
    setenv("TZ", name, 1);
    tzset();
    int mismatches = 0;
    for (int i = 0; i < 20000; ++i) {
      auto t = static_cast<std::time_t>(when(rng));
      std::tm tm{};
      localtime_r(&t, &tm);
      if (z.offset_seconds(t) != tm.tm_gmtoff && ++mismatches <= 3)
        ADD_FAILURE() << name << " at " << t << ": " << z.offset_seconds(t) << " vs " << tm.tm_gmtoff;
    }
    EXPECT_EQ(mismatches, 0) << name;
  }
  if (old_tz) setenv("TZ", saved.c_str(), 1);
  else unsetenv("TZ");
  tzset();
}

TEST(time_zone, slim_files_use_the_footer) {
  std::string error;
  auto z = time_zone::parse("Slim/Berlin", slim_tzif("CET-1CEST,M3.5.0,M10.5.0/3"), error);
  ASSERT_TRUE(z) << error;
  EXPECT_EQ(z->offset_seconds(utc(2026, 7, 1)), 7200);
  EXPECT_EQ(z->offset_seconds(utc(2026, 12, 1)), 3600);
}

TEST(time_zone, refuses_bad_names_and_files) {
  std::string error;
  for (auto bad : {"", "../etc/passwd", "/etc/passwd", "Asia/Shanghai;rm", "Europe/../../etc/shadow"}) {
    EXPECT_FALSE(time_zone::load(bad, error)) << bad;
    EXPECT_NE(error.find("time zone name"), std::string::npos) << error;
  }
  EXPECT_FALSE(time_zone::load("Mars/Olympus_Mons", error));
  EXPECT_NE(error.find("unknown time zone"), std::string::npos) << error;
  // A region is a directory of zones, not a zone: refused, not thrown (found by fuzz/config_load).
  EXPECT_FALSE(time_zone::load("Asia", error));
  EXPECT_FALSE(time_zone::load("Asia/", error));
  EXPECT_FALSE(time_zone::parse("x", "not tzif", error));
  auto truncated = slim_tzif("CST-8");
  EXPECT_FALSE(time_zone::parse("x", truncated.substr(0, 50), error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

// The one copy each of the small helpers several areas share (core/strings.hpp).
TEST(core_strings, lower_read_file_and_unix_seconds) {
  EXPECT_EQ(deepgate::core::to_lower("Content-TYPE: \xC3\x84"), "content-type: \xC3\x84");  // ASCII only
  char path[] = "/tmp/deepgate-core-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string data("a\0b\nc", 5);
  ASSERT_EQ(write(fd, data.data(), data.size()), 5);
  close(fd);
  EXPECT_EQ(deepgate::core::read_file(path), data);
  unlink(path);
  errno = 0;
  EXPECT_FALSE(deepgate::core::read_file(path));
  EXPECT_EQ(errno, ENOENT);
  EXPECT_FALSE(deepgate::core::read_file("/tmp"));  // a directory opens, and its read fails
  using namespace std::chrono;
  EXPECT_EQ(deepgate::core::unix_seconds(sys_days{year{2026} / 12 / 6} + hours{1}), 1796518800);
}
