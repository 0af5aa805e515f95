#pragma once
// An asynchronous Redis connection on Asio, one per worker (used only from that worker's
// executor). Commands are pipelined: each is appended to the write buffer at once and its reply
// is matched in order. Every command has a deadline (default 100 ms): a paused or hung Redis
// answers "timeout", never hangs the caller, and the late reply is discarded when it arrives.
// The connection (re)connects by itself with capped exponential backoff; while it is down,
// commands fail at once with `unavailable`. It logs one line per state change, not per command.
// redis:// and rediss:// (TLS), AUTH with user + password, SELECT db.
//
// With `cluster` (redis.cluster: true) the URL names one node of a Redis Cluster (a seed, or a
// cloud's configuration endpoint): the connection learns the slot map (CLUSTER SLOTS), keeps one
// pipelined connection per primary, sends each command to its key's slot, and follows MOVED and
// ASK. A command's first key decides its slot, so every multi-key command or script must keep its
// keys in one slot (hash tags). TLS and AUTH apply to every node.
#include "deepgate/config/config.hpp"
#include "deepgate/core/url.hpp"
#include "deepgate/redis/resp.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
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
  bool cluster = false;  // Redis Cluster mode (see above)
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

  // `args` is read (formatted) before the command first suspends: a named local the caller awaits
  // with is enough, and it is left as it was (a retry may send it again).
  boost::asio::awaitable<result> command(const std::vector<std::string>& args);
  bool connected() const;
  bool cluster() const;  // Redis Cluster mode: multi-key commands must stay in one slot
  // Closes for good: waiting commands complete with `unavailable`, no reconnect.
  void close();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// A Lua script run by EVALSHA, and sent again with EVAL when Redis answers NOSCRIPT (a Redis
// that restarted or failed over has no scripts). Keys first, so a Cluster routes it by KEYS[1].
class script {
 public:
  explicit script(std::string_view text);
  std::string_view text() const { return text_; }
  const std::string& sha() const { return sha_; }

 private:
  std::string_view text_;  // a literal: it outlives the script
  std::string sha_;
};
boost::asio::awaitable<result> eval(connection& c, const script& s, std::vector<std::string> keys,
                                    std::vector<std::string> args);

// Redis Cluster's key → slot mapping: CRC16 (XMODEM) of the key, or of its hash tag (the part
// between the first '{' and the next '}', when not empty), modulo 16384.
constexpr std::size_t slot_count = 16384;
std::uint16_t key_slot(std::string_view key);
// The key a command is routed by: its first key (EVAL/EVALSHA: the first of KEYS), or none for
// commands without keys (PING, SCRIPT, CLUSTER, ...).
std::optional<std::string_view> command_key(const std::vector<std::string>& args);
// A "-MOVED 3999 127.0.0.1:6381" or "-ASK ..." error reply.
struct redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  std::string host;
  std::uint16_t port = 0;
};
std::optional<redirect> parse_redirect(const reply& r);
// CLUSTER SLOTS: each range's primary; an empty host means the node that was asked.
struct slot_range {
  std::uint16_t from = 0, to = 0;
  std::string host;
  std::uint16_t port = 0;
};
std::optional<std::vector<slot_range>> parse_cluster_slots(const reply& r, std::string_view asked_host);

}  // namespace deepgate::redis
