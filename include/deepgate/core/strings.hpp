#pragma once
// Small text helpers shared by the command lines (deepgate keys, deepgate-mock).
#include <string>
#include <string_view>
#include <vector>

namespace deepgate {

// "a,b,,c" → {"a", "b", "c"}: the non-empty parts of a comma-separated list.
std::vector<std::string> split_list(std::string_view text);

}  // namespace deepgate
