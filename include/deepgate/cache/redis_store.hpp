#pragma once
// The prompt cache in Redis, shared by replicas: `SET key value PX ttl` and `GET key` through the
// shared client in src/redis/ (pipelined, a deadline per command). Values are binary-safe bulk
// strings: "dg1 <stored unix ms>\n" followed by the answer, capped at `max_value_bytes` (larger
// answers are not stored). Any Redis failure — timeout, unreachable, refused, a value in another
// format — is a miss, never an error to the client.
#include "deepgate/redis/connection.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace deepgate::cache {

// Never null. Shared with the in-memory store, which keeps it unchanged: a hit copies nothing.
struct stored_answer {
  std::shared_ptr<const std::string> value;
  std::chrono::system_clock::time_point stored;
};

// The value format, sans-io.
std::string encode_stored(std::string_view answer, std::chrono::system_clock::time_point stored);
std::optional<stored_answer> decode_stored(std::string_view value);

class redis_store {
 public:
  redis_store(redis::connection& conn, std::size_t max_value_bytes, std::string prefix = "deepgate:cache:");

  boost::asio::awaitable<std::optional<stored_answer>> get(const std::string& key);
  // False when not stored (too large, or Redis failed).
  boost::asio::awaitable<bool> put(const std::string& key, std::string_view answer,
                                   std::chrono::system_clock::time_point now, std::chrono::milliseconds ttl);

 private:
  redis::connection& conn_;
  std::size_t max_value_bytes_;
  std::string prefix_;
};

}  // namespace deepgate::cache
