#include "deepgate/cache/redis_store.hpp"

#include <charconv>

namespace deepgate::cache {

namespace {
constexpr std::string_view magic = "dg1 ";
}

std::string encode_stored(std::string_view answer, std::chrono::system_clock::time_point stored) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(stored.time_since_epoch()).count();
  std::string out(magic);
  out += std::to_string(ms);
  out += '\n';
  out.append(answer);
  return out;
}

std::optional<stored_answer> decode_stored(std::string_view value) {
  if (!value.starts_with(magic)) return std::nullopt;
  value.remove_prefix(magic.size());
  auto nl = value.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  long long ms = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + nl, ms);
  if (ec != std::errc{} || end != value.data() + nl || ms < 0) return std::nullopt;
  return stored_answer{std::make_shared<const std::string>(value.substr(nl + 1)),
                       std::chrono::system_clock::time_point(std::chrono::milliseconds(ms))};
}

redis_store::redis_store(redis::connection& conn, std::size_t max_value_bytes, std::string prefix)
    : conn_(conn), max_value_bytes_(max_value_bytes), prefix_(std::move(prefix)) {}

// GCC 12 destroys temporaries inside co_await expressions twice: commands are named locals.
boost::asio::awaitable<std::optional<stored_answer>> redis_store::get(const std::string& key) {
  std::vector<std::string> cmd{"GET", prefix_ + key};
  auto r = co_await conn_.command(std::move(cmd));
  if (!r.ok() || r.value.type != redis::reply::kind::string) co_return std::nullopt;
  co_return decode_stored(r.value.str);
}

boost::asio::awaitable<bool> redis_store::put(const std::string& key, std::string_view answer,
                                              std::chrono::system_clock::time_point now, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) co_return false;
  auto value = encode_stored(answer, now);
  if (value.size() > max_value_bytes_) co_return false;
  std::vector<std::string> cmd{"SET", prefix_ + key, std::move(value), "PX", std::to_string(ttl.count())};
  auto r = co_await conn_.command(std::move(cmd));
  co_return r.ok() && !r.value.is_error();
}

}  // namespace deepgate::cache
