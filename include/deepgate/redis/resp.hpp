#pragma once
// RESP for the Redis client, on hiredis's reader and command formatter (no hand-written
// protocol parser). hiredis types stay in resp.cpp; callers see `reply`. Sans-io.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::redis {

struct reply {
  enum class kind { string, array, integer, nil, status, error } type = kind::nil;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<reply> elements;

  bool is_error() const { return type == kind::error; }
};

// One command in RESP (binary-safe arguments).
std::string format_command(const std::vector<std::string>& args);

class reply_reader {
 public:
  reply_reader();
  ~reply_reader();
  reply_reader(const reply_reader&) = delete;
  reply_reader& operator=(const reply_reader&) = delete;

  // False on a protocol error (the connection must be dropped).
  bool feed(std::string_view bytes);
  // The next complete reply, if any; sets `protocol_error` when the stream is corrupt.
  std::optional<reply> next(bool& protocol_error);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};



}  // namespace deepgate::redis
