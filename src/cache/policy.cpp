#include "deepgate/cache/policy.hpp"
#include "deepgate/core/strings.hpp"

#include "deepgate/auth/key.hpp"

#include <algorithm>
#include <charconv>

namespace deepgate::cache {

namespace {

}  // namespace

boost::system::result<directives, http::api_error> read_directives(std::string_view cache_control,
                                                                   std::string_view ttl_header,
                                                                   std::chrono::milliseconds max_ttl) {
  directives d;
  const auto cc = core::to_lower(cache_control);
  std::string_view rest = cc;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto token = core::trim_blanks(rest.substr(0, comma));
    if (auto eq = token.find('='); eq != std::string_view::npos) token = core::trim_blanks(token.substr(0, eq));
    if (token == "no-cache") d.no_cache = true;
    else if (token == "no-store") d.no_store = true;
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  ttl_header = core::trim_blanks(ttl_header);
  if (!ttl_header.empty()) {
    long long seconds = -1;
    auto [end, ec] = std::from_chars(ttl_header.data(), ttl_header.data() + ttl_header.size(), seconds);
    const auto max_s = std::chrono::duration_cast<std::chrono::seconds>(max_ttl).count();
    if (ec != std::errc{} || end != ttl_header.data() + ttl_header.size() || seconds < 0 || seconds > max_s)
      return http::invalid_request("Invalid x-deepgate-cache-ttl header: expected whole seconds from 0 to " +
                                       std::to_string(max_s) + ".",
                                   "x-deepgate-cache-ttl", "invalid_header");
    d.ttl = std::chrono::seconds(seconds);
  }
  return d;
}

plan decide(config::cache_mode mode, bool deterministic, bool logprobs, const directives& d,
            std::chrono::milliseconds default_ttl) {
  plan p;
  if (mode == config::cache_mode::off || logprobs || d.no_store) return p;
  if (mode == config::cache_mode::deterministic && !deterministic) return p;
  p.ttl = d.ttl.value_or(default_ttl);
  p.lookup = !d.no_cache;
  p.store = p.ttl.count() > 0;
  return p;
}

std::string make_key(std::string_view backend, std::string_view scope, std::string_view material) {
  std::string in = "deepgate-cache-v1\n";
  for (auto part : {backend, scope, material}) {
    in += std::to_string(part.size());
    in += ':';
    in.append(part);
  }
  return core::sha256_hex(in);
}

}  // namespace deepgate::cache
