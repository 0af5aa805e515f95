#pragma once
// Small helpers shared by several areas: text, files and the wall clock, one copy each.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate {

// "a,b,,c" → {"a", "b", "c"}: the non-empty parts of a comma-separated list.
std::vector<std::string> split_list(std::string_view text);

namespace core {

// The first `needle` in `text` at or after `from`, or npos: memmem, not std::string_view::find,
// which calls memchr once for every occurrence of the needle's first byte (every '"' of a JSON
// event when looking for "\"usage\"").
std::size_t find(std::string_view text, std::string_view needle, std::size_t from = 0);

// Without leading and trailing spaces and tabs.
std::string_view trim_blanks(std::string_view text);

// The whole text as a decimal integer (an optional '-'); nullopt for anything else or overflow.
std::optional<std::int64_t> parse_integer(std::string_view text);

// ASCII lower case (header names, cache-control directives); other bytes unchanged.
std::string to_lower(std::string_view text);

// The whole file, or nullopt with errno as the failed open or read left it.
std::optional<std::string> read_file(const std::string& path);

// Seconds since the Unix epoch: key creation and expiry, budget periods.
inline std::int64_t unix_seconds(std::chrono::system_clock::time_point t = std::chrono::system_clock::now()) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace core
}  // namespace deepgate
