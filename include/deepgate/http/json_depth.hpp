#pragma once
// Iterative nesting-depth check run before a JSON parser sees the bytes, so a body like
// "[[[[...]]]]" a million deep is refused in O(n) with no recursion at all.
#include <cstddef>
#include <string_view>

namespace deepgate::http {

// Deepest array/object nesting in `json` (strings and escapes are skipped). Stops counting
// once `limit` is exceeded and returns limit + 1.
std::size_t json_nesting_depth(std::string_view json, std::size_t limit);

}  // namespace deepgate::http
