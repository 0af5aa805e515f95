#include "deepgate/http/json_depth.hpp"

namespace deepgate::http {

json_shape_result json_shape(std::string_view json, std::size_t depth_limit, std::size_t value_limit) {
  json_shape_result r;
  r.values = json.empty() ? 0 : 1;
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : json) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++r.values > value_limit) {
          r.values = value_limit + 1;
          return r;
        }
        if (++depth > r.depth) {
          r.depth = depth;
          if (r.depth > depth_limit) {
            r.depth = depth_limit + 1;
            return r;
          }
        }
        break;
      case ',':
        if (++r.values > value_limit) {
          r.values = value_limit + 1;
          return r;
        }
        break;
      case ':': ++r.members; break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return r;
}

}  // namespace deepgate::http
