#include "request_checks.hpp"

#include "deepgate/core/strings.hpp"

#include <boost/beast/core/string.hpp>

#include <iterator>

namespace deepgate::http::detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

bool has_obs_fold(std::string_view head) {
  return head.find("\r\n ") != std::string_view::npos || head.find("\r\n\t") != std::string_view::npos;
}

std::optional<api_error> framing_error(const bhttp::request<bhttp::string_body>& msg) {
  std::size_t count = 0;
  std::string_view value;
  for (auto& f : msg)
    if (f.name() == bhttp::field::transfer_encoding) {
      ++count;
      value = f.value();
    }
  if (count == 0) return std::nullopt;
  const auto bad = [](std::string why) { return invalid_request("Malformed HTTP request: " + why, {}, "bad_request"); };
  if (msg.version() < 11) return bad("Transfer-Encoding is not allowed in an HTTP/1.0 request.");
  if (count > 1) return bad("Transfer-Encoding appears more than once.");
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (!beast::iequals(value, "chunked")) return bad("the only Transfer-Encoding accepted is 'chunked'.");
  return std::nullopt;
}

request to_request(const bhttp::request<bhttp::string_body>& msg, const std::string& peer, unsigned worker) {
  request r;
  r.method = std::string(msg.method_string());
  std::string_view target = msg.target();
  auto q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  // Exactly as many as came: the list lives as long as the request, which for a stream can be
  // minutes with thousands at once (a fixed 16 held 1 KiB a request for ~5 headers).
  r.headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
  for (auto& f : msg) r.headers.push_back({core::to_lower(f.name_string()), std::string(f.value())});
  r.peer = peer;
  r.worker = worker;
  return r;
}

}  // namespace deepgate::http::detail
