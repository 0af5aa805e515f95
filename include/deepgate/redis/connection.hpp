#pragma once
// An asynchronous Redis connection on Asio, one per worker (used only from that worker's
// executor). Commands are pipelined: each is appended to the write buffer at once and its reply
// is matched in order. Every command has a deadline (default 100 ms): a paused or hung Redis
// answers "timeout", never hangs the caller, and the late reply is discarded when it arrives.
// The connection (re)connects by itself with capped exponential backoff; while it is down,
// commands fail at once with `unavailable`. It logs one line per state change, not per command.
// redis:// and rediss:// (TLS), AUTH with user + password, SELECT db.
#include "deepgate/config/config.hpp"
#include "deepgate/core/url.hpp"
#include "deepgate/redis/resp.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace deepgate::redis {

struct options {
  core::redis_url address;
  std::string name = "redis";  // for log lines
  std::chrono::milliseconds command_timeout{100};
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds max_backoff{5000};
  std::string ca_file;  // rediss://: PEM bundle to trust; empty = the system store
  // Called (on the connection's executor) for every command that fails: the metrics' Redis
  // error counter. Must be cheap and must not throw.
  std::function<void()> on_error;
};

// The options for the config's `redis:` section (its URL was validated when the config loaded).
options options_from(const config::redis_config& rc, std::string name);

enum class error { none, timeout, unavailable, protocol };
std::string_view to_string(error e);

struct result {
  error err = error::none;
  reply value;
  bool ok() const { return err == error::none; }
};

class connection {
 public:
  connection(boost::asio::any_io_executor ex, options opts);
  ~connection();  // closes; commands still waiting complete with `unavailable`
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  boost::asio::awaitable<result> command(std::vector<std::string> args);
  bool connected() const;
  // Closes for good: waiting commands complete with `unavailable`, no reconnect.
  void close();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace deepgate::redis
