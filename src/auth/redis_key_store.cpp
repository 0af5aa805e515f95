#include "deepgate/auth/redis_key_store.hpp"

#include "deepgate/auth/keys_file.hpp"

namespace deepgate::auth::redis_store {
namespace {
constexpr const char* ids_key = "deepgate:keys:ids";
constexpr const char* version_key = "deepgate:keys:version";
constexpr const char* epoch_key = "deepgate:keys:epoch";  // set by the first write to an empty store
std::string record_key(const std::string& id) { return "deepgate:key:" + id; }

// GCC 12 and temporaries inside co_await: every command is a named local (docs/development.md).
boost::asio::awaitable<redis::result> run(redis::connection& c, std::vector<std::string> args) {
  co_return co_await c.command(std::move(args));
}
}  // namespace

boost::asio::awaitable<std::optional<std::string>> version(redis::connection& c) {
  std::vector<std::string> get{"MGET", epoch_key, version_key};
  auto r = co_await run(c, std::move(get));
  if (!r.ok() || r.value.type != redis::reply::kind::array || r.value.elements.size() != 2) co_return std::nullopt;
  co_return r.value.elements[0].str + ":" + r.value.elements[1].str;
}

boost::asio::awaitable<std::optional<std::vector<client_key>>> load_all(redis::connection& c) {
  std::vector<std::string> members{"SMEMBERS", ids_key};
  auto ids = co_await run(c, std::move(members));
  if (!ids.ok() || ids.value.type != redis::reply::kind::array) co_return std::nullopt;
  std::vector<client_key> keys;
  if (ids.value.elements.empty()) co_return keys;
  std::vector<std::string> mget{"MGET"};
  for (auto& e : ids.value.elements) mget.push_back(record_key(e.str));
  auto records = co_await run(c, std::move(mget));
  if (!records.ok() || records.value.type != redis::reply::kind::array) co_return std::nullopt;
  for (auto& e : records.value.elements)
    if (e.type == redis::reply::kind::string)
      if (auto k = parse_record(e.str)) keys.push_back(std::move(*k));
  co_return keys;
}

boost::asio::awaitable<std::optional<client_key>> load(redis::connection& c, std::string id) {
  std::vector<std::string> get{"GET", record_key(id)};
  auto r = co_await run(c, std::move(get));
  if (!r.ok() || r.value.type != redis::reply::kind::string) co_return std::nullopt;
  co_return parse_record(r.value.str);
}

boost::asio::awaitable<bool> put(redis::connection& c, std::vector<client_key> records) {
  // Commands of one MULTI block: the connection must not carry other callers' commands meanwhile,
  // so writers use a connection of their own.
  std::vector<std::vector<std::string>> block{{"MULTI"}};
  for (auto& k : records) {
    block.push_back({"SET", record_key(k.id), record_json(k)});
    block.push_back({"SADD", ids_key, k.id});
  }
  block.push_back({"SET", epoch_key, generate_key_id(), "NX"});
  block.push_back({"INCR", version_key});
  for (auto& cmd : block) {
    auto r = co_await run(c, std::move(cmd));
    if (!r.ok() || r.value.is_error()) {
      std::vector<std::string> discard{"DISCARD"};
      co_await run(c, std::move(discard));
      co_return false;
    }
  }
  std::vector<std::string> exec{"EXEC"};
  auto done = co_await run(c, std::move(exec));
  co_return done.ok() && done.value.type == redis::reply::kind::array;
}

}  // namespace deepgate::auth::redis_store
