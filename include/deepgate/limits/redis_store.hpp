#pragma once
// The limits store shared by replicas: one atomic Lua script per decision, on Redis's own clock
// (TIME), so replicas' clocks do not matter and N replicas enforce one limit, not N. Scripts run
// by EVALSHA and are sent again on NOSCRIPT (a restarted or failed-over Redis). Every key has a
// TTL. Each call goes through the worker's redis::connection and so has its deadline (~100 ms);
// nullopt / false means Redis could not answer and the caller falls back.
//
// Keys (the owner in a hash tag, so one script's keys share a Redis Cluster slot):
//   deepgate:lim:{owner}[:model]:req   GCRA state of the request limit (TAT, µs)
//   deepgate:lim:{owner}[:model]:tok   GCRA state of the token limit
//   deepgate:lim:{owner}[:model]:conc  concurrency leases: sorted set of lease id → expiry (µs)
//   deepgate:lim:{owner}:spend:d:<day> / :m:<month>   spend in nano-USD
//   deepgate:backend:{name}:conc       a backend's concurrency leases
#include "deepgate/limits/memory_store.hpp"
#include "deepgate/redis/connection.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace deepgate::limits {

struct redis_keys {
  std::string req, tok, conc, day, month;
  periods when;
};
redis_keys keys_for(std::string_view owner, std::string_view model, const periods& when);
std::string backend_lease_key(std::string_view backend);

class redis_store {
 public:
  redis_store(redis::connection& conn, std::chrono::milliseconds lease_ttl);

  boost::asio::awaitable<std::optional<decision>> admit(const redis_keys& keys, const bucket_limits& limits,
                                                        std::int64_t tokens, std::string lease_id);
  // One request's end: its token reservation corrected, its concurrency lease returned, its spend
  // added. Settles of one Redis Cluster slot (one owner) go as one script: settle_many.
  struct settlement {
    std::string tok, conc, day, month;
    double token_interval = 0;  // µs per token
    std::int64_t token_delta = 0;
    std::string lease_id;  // empty: no lease
    nano_usd cost = 0;     // 0 unless a budget applies
  };
  static settlement settlement_for(const redis_keys& keys, const bucket_limits& limits, std::int64_t token_delta,
                                   std::string lease_id, nano_usd cost);
  boost::asio::awaitable<bool> settle_many(const std::vector<settlement>& batch);
  // A lease in the sorted set `key` if fewer than `limit` are live; nullopt: Redis failed.
  boost::asio::awaitable<std::optional<bool>> acquire(std::string key, std::uint32_t limit, std::string lease_id);
  boost::asio::awaitable<bool> release(std::string key, std::string lease_id);
  // Pushes the expiry of live leases forward (key, id pairs), so only a dead replica's expire.
  boost::asio::awaitable<bool> renew(std::vector<std::pair<std::string, std::string>> leases);
  // The bucket's state now (read-only script); nullopt: Redis failed.
  boost::asio::awaitable<std::optional<peek_state>> peek(const redis_keys& keys, const bucket_limits& limits);

 private:
  redis::connection& conn_;
  std::chrono::milliseconds lease_ttl_;
};

}  // namespace deepgate::limits
