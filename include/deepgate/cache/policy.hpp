#pragma once
// Whether and how one request uses the prompt cache, and the key it uses: the config's policy
// for the key/owner/model, the request's own directives (Cache-Control: no-cache / no-store,
// x-deepgate-cache-ttl), and what the request asks for. Sans-io.
#include "deepgate/config/cache_config.hpp"
#include "deepgate/http/api_error.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::cache {

struct directives {
  bool no_cache = false;  // skip the lookup, still store the fresh answer
  bool no_store = false;  // neither look up nor store
  std::optional<std::chrono::milliseconds> ttl;
};

// Reads `Cache-Control` and `x-deepgate-cache-ttl` (whole seconds, 0 means do not store). A TTL
// that is not a whole number, or above `max_ttl`, is the client's mistake: 400 naming the header.
boost::system::result<directives, http::api_error> read_directives(std::string_view cache_control,
                                                                   std::string_view ttl_header,
                                                                   std::chrono::milliseconds max_ttl);

struct plan {
  bool lookup = false;
  bool store = false;
  std::chrono::milliseconds ttl{0};
  bool bypass() const { return !lookup && !store; }
};

// `deterministic`: temperature 0 or a seed. `logprobs`: the answer carries per-token data the
// stored form does not keep, so such requests bypass the cache.
plan decide(config::cache_mode mode, bool deterministic, bool logprobs, const directives& d,
            std::chrono::milliseconds default_ttl);

// Hex SHA-256 over a versioned, length-prefixed (backend, scope, canonical request): different
// backends, owners or requests never share a key, whatever bytes they contain.
std::string make_key(std::string_view backend, std::string_view scope, std::string_view material);

}  // namespace deepgate::cache
