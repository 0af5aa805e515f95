#include "deepgate/auth/redis_key_store.hpp"

#include "deepgate/auth/keys_file.hpp"

namespace deepgate::auth::redis_store {
namespace {

// Standalone Redis keeps the names it always had; a Cluster needs every key of the store in one
// slot (MGET and the write script span them), so there they share the hash tag {deepgate:keys}.
struct names {
  std::string ids, version, epoch, record_prefix;
};
const names& names_for(const redis::connection& c) {
  static const names plain{"deepgate:keys:ids", "deepgate:keys:version", "deepgate:keys:epoch", "deepgate:key:"};
  static const names tagged{"{deepgate:keys}:ids", "{deepgate:keys}:version", "{deepgate:keys}:epoch",
                            "{deepgate:keys}:key:"};
  return c.cluster() ? tagged : plain;
}

// Records and the version bump in one atomic script (not MULTI/EXEC, which a Cluster connection
// cannot route): KEYS = ids, epoch, version, then each record's key; ARGV = a new epoch, then
// each record's id and JSON.
constexpr std::string_view put_lua = R"lua(
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * (i - 3) + 1])
  redis.call('SADD', KEYS[1], ARGV[2 * (i - 3)])
end
redis.call('SET', KEYS[2], ARGV[1], 'NX')
return redis.call('INCR', KEYS[3])
)lua";

// GCC 12 and temporaries inside co_await: every command is a named local (docs/development.md).
boost::asio::awaitable<redis::result> run(redis::connection& c, std::vector<std::string> args) {
  co_return co_await c.command(std::move(args));
}
}  // namespace

boost::asio::awaitable<std::optional<std::string>> version(redis::connection& c) {
  const auto& n = names_for(c);
  std::vector<std::string> get{"MGET", n.epoch, n.version};
  auto r = co_await run(c, std::move(get));
  if (!r.ok() || r.value.type != redis::reply::kind::array || r.value.elements.size() != 2) co_return std::nullopt;
  co_return r.value.elements[0].str + ":" + r.value.elements[1].str;
}

boost::asio::awaitable<std::optional<std::vector<client_key>>> load_all(redis::connection& c) {
  const auto& n = names_for(c);
  std::vector<std::string> members{"SMEMBERS", n.ids};
  auto ids = co_await run(c, std::move(members));
  if (!ids.ok() || ids.value.type != redis::reply::kind::array) co_return std::nullopt;
  std::vector<client_key> keys;
  if (ids.value.elements.empty()) co_return keys;
  std::vector<std::string> mget{"MGET"};
  for (auto& e : ids.value.elements) mget.push_back(n.record_prefix + e.str);
  auto records = co_await run(c, std::move(mget));
  if (!records.ok() || records.value.type != redis::reply::kind::array) co_return std::nullopt;
  for (auto& e : records.value.elements)
    if (e.type == redis::reply::kind::string)
      if (auto k = parse_record(e.str)) keys.push_back(std::move(*k));
  co_return keys;
}

boost::asio::awaitable<std::optional<client_key>> load(redis::connection& c, std::string id) {
  std::vector<std::string> get{"GET", names_for(c).record_prefix + id};
  auto r = co_await run(c, std::move(get));
  if (!r.ok() || r.value.type != redis::reply::kind::string) co_return std::nullopt;
  co_return parse_record(r.value.str);
}

boost::asio::awaitable<bool> put(redis::connection& c, std::vector<client_key> records) {
  const auto& n = names_for(c);
  static const redis::script put_script{put_lua};
  std::vector<std::string> keys{n.ids, n.epoch, n.version};
  std::vector<std::string> args{generate_key_id()};
  for (auto& k : records) {
    keys.push_back(n.record_prefix + k.id);
    args.push_back(k.id);
    args.push_back(record_json(k));
  }
  auto r = co_await redis::eval(c, put_script, std::move(keys), std::move(args));
  co_return r.ok() && r.value.type == redis::reply::kind::integer;
}

}  // namespace deepgate::auth::redis_store
