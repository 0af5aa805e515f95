#include "deepgate/http/message.hpp"

namespace deepgate::http {

std::string_view find_header(const header_list& headers, std::string_view lower_name) {
  for (auto& h : headers)
    if (h.name == lower_name) return h.value;
  return {};
}

}  // namespace deepgate::http

namespace deepgate::http {

response error_response(const api_error& e, error_dialect d) {
  response r;
  r.status = e.status;
  r.body = render_error_body(e, d);
  if (e.retry_after) r.headers.push_back({"retry-after", std::to_string(e.retry_after->count())});
  return r;
}

}  // namespace deepgate::http
