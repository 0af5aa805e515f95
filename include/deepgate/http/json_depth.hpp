#pragma once
// An iterative pre-pass run before a JSON parser sees the bytes: nesting depth and a count of
// values, so "[[[[...]]]]" a million deep is refused in O(n) with no recursion, and a body of
// a million tiny values ("[{},{},...]", ~70 bytes of DOM for every 3 bytes sent) is refused
// before any DOM is built.
#include <cstddef>
#include <limits>
#include <string_view>

namespace deepgate::http {

struct json_shape_result {
  std::size_t depth = 0;   // deepest array/object nesting
  std::size_t values = 0;  // 1 + containers + commas outside strings: at least the values present
  std::size_t members = 0;  // colons outside strings: the object members written, duplicates included
};

// Strings and escapes are skipped. Counting stops as soon as either limit is passed, the one
// passed then reads limit + 1.
json_shape_result json_shape(std::string_view json, std::size_t depth_limit,
                             std::size_t value_limit = std::numeric_limits<std::size_t>::max() - 1);

// Deepest array/object nesting in `json`; limit + 1 once `limit` is exceeded.
inline std::size_t json_nesting_depth(std::string_view json, std::size_t limit) {
  return json_shape(json, limit).depth;
}

}  // namespace deepgate::http
