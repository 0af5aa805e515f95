#include "deepgate/limits/redis_store.hpp"


#include <algorithm>
#include <charconv>
#include <cstdio>

namespace deepgate::limits {
namespace {

// The same arithmetic as gcra.hpp and memory_store.cpp, on Redis's clock. Numbers are Lua
// doubles: microseconds since 1970 fit exactly (< 2^53). A missing key reads as TAT 0.
constexpr std::string_view admit_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local req_iv, req_cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local tok_iv, tok_cap, tokens = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local conc, lease, ttl = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local day_budget, month_budget = tonumber(ARGV[9]), tonumber(ARGV[10])
local day_left, month_left = tonumber(ARGV[11]), tonumber(ARGV[12])

local function check(key, iv, cap, cost)
  local tat = tonumber(redis.call('GET', key) or '0')
  local base = math.max(tat, now)
  local nxt = base + math.floor(cost * iv + 0.5)
  local allow_at = nxt - cap * iv
  if cost > cap then return false, -1, tat end
  if allow_at > now then return false, math.ceil(allow_at - now), tat end
  return true, 0, nxt
end
local function state(tat, iv, cap)
  local ahead = math.max(0, tat - now)
  return math.max(0, math.floor((cap * iv - ahead) / iv + 1e-9)), ahead
end

local refused, retry = 0, 0
if day_budget > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= day_budget then
  refused, retry = 5, day_left
elseif month_budget > 0 and tonumber(redis.call('GET', KEYS[5]) or '0') >= month_budget then
  refused, retry = 6, month_left
end
if refused == 0 and conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= conc then refused, retry = 4, 1000000 end
end
local req_ok, req_retry, req_tat = true, 0, 0
if req_iv > 0 then req_ok, req_retry, req_tat = check(KEYS[1], req_iv, req_cap, 1) end
local tok_ok, tok_retry, tok_tat = true, 0, 0
if tok_iv > 0 then tok_ok, tok_retry, tok_tat = check(KEYS[2], tok_iv, tok_cap, tokens) end
if refused == 0 and not req_ok then refused, retry = 1, req_retry end
if refused == 0 and not tok_ok then
  if tok_retry < 0 then refused, retry = 3, 0 else refused, retry = 2, tok_retry end
end
if refused == 0 then
  if req_iv > 0 then redis.call('SET', KEYS[1], req_tat, 'PX', math.ceil((req_tat - now) / 1000) + 1000) end
  if tok_iv > 0 then redis.call('SET', KEYS[2], tok_tat, 'PX', math.ceil((tok_tat - now) / 1000) + 1000) end
  if conc > 0 then
    redis.call('ZADD', KEYS[3], now + ttl, lease)
    redis.call('PEXPIRE', KEYS[3], math.ceil(ttl / 1000) + 1000)
  end
else
  if req_iv > 0 then req_tat = tonumber(redis.call('GET', KEYS[1]) or '0') end
  if tok_iv > 0 then tok_tat = tonumber(redis.call('GET', KEYS[2]) or '0') end
end
local rr, rt, tr, tt = 0, 0, 0, 0
if req_iv > 0 then rr, rt = state(req_tat, req_iv, req_cap) end
if tok_iv > 0 then tr, tt = state(tok_tat, tok_iv, tok_cap) end
return {refused, retry, rr, rt, tr, tt}
)lua";

// Any number of settles, four keys and four arguments each (all in one Cluster slot).
constexpr std::string_view settle_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 0, #KEYS / 4 - 1 do
  local k, a = i * 4, i * 4
  local tok_iv, delta, lease, cost = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3], tonumber(ARGV[a + 4])
  if tok_iv > 0 and delta ~= 0 then
    local tat = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
    local moved = math.max(tat + math.floor(delta * tok_iv + 0.5), math.min(tat, now))
    if moved > now then
      redis.call('SET', KEYS[k + 1], moved, 'PX', math.ceil((moved - now) / 1000) + 1000)
    else
      redis.call('DEL', KEYS[k + 1])
    end
  end
  if lease ~= '' then redis.call('ZREM', KEYS[k + 2], lease) end
  if cost > 0 then
    redis.call('INCRBY', KEYS[k + 3], cost)
    redis.call('PEXPIRE', KEYS[k + 3], 2 * 86400 * 1000)
    redis.call('INCRBY', KEYS[k + 4], cost)
    redis.call('PEXPIRE', KEYS[k + 4], 32 * 86400 * 1000)
  end
end
return 1
)lua";

constexpr std::string_view acquire_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, lease, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, lease)
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000) + 1000)
return 1
)lua";

constexpr std::string_view renew_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(ttl / 1000) + 1000)
end
return 1
)lua";

// What a key's owner sees in GET /v1/usage: the same state() as admit, read-only.
constexpr std::string_view peek_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local req_iv, req_cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local tok_iv, tok_cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local function state(key, iv, cap)
  if iv <= 0 then return 0, 0 end
  local ahead = math.max(0, tonumber(redis.call('GET', key) or '0') - now)
  return math.max(0, math.floor((cap * iv - ahead) / iv + 1e-9)), ahead
end
local rr, rt = state(KEYS[1], req_iv, req_cap)
local tr, tt = state(KEYS[2], tok_iv, tok_cap)
local conc = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
return {rr, rt, tr, tt, conc, tonumber(redis.call('GET', KEYS[4]) or '0'), tonumber(redis.call('GET', KEYS[5]) or '0')}
)lua";

std::string num(double x) {  // the shortest form that reads back as the same double
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

}  // namespace

redis_keys keys_for(std::string_view owner, std::string_view model, const periods& when) {
  std::string base = "deepgate:lim:{" + std::string(owner) + "}";
  std::string bucket = model.empty() ? base : base + ":" + std::string(model);
  return {bucket + ":req", bucket + ":tok", bucket + ":conc", base + ":spend:d:" + std::to_string(when.day),
          base + ":spend:m:" + std::to_string(when.month), when};
}

std::string backend_lease_key(std::string_view backend) { return "deepgate:backend:{" + std::string(backend) + "}:conc"; }

redis_store::redis_store(redis::connection& conn, std::chrono::milliseconds lease_ttl) : conn_(conn), lease_ttl_(lease_ttl) {}

boost::asio::awaitable<std::optional<decision>> redis_store::admit(const redis_keys& keys, const bucket_limits& l,
                                                                    std::int64_t tokens, std::string lease_id) {
  static const redis::script s{admit_lua};
  const double ttl_us = static_cast<double>(lease_ttl_.count()) * 1000.0;
  std::vector<std::string> k{keys.req, keys.tok, keys.conc, keys.day, keys.month};
  std::vector<std::string> a{num(l.requests.interval), num(l.requests.capacity), num(l.tokens.interval),
                             num(l.tokens.capacity),   std::to_string(tokens),   std::to_string(l.concurrency),
                             std::move(lease_id),      num(ttl_us),              std::to_string(l.daily_budget),
                             std::to_string(l.monthly_budget),
                             std::to_string(keys.when.seconds_to_day_end * 1'000'000),
                             std::to_string(keys.when.seconds_to_month_end * 1'000'000)};
  auto r = co_await redis::eval(conn_, s, std::move(k), std::move(a));
  if (!r.ok() || r.value.type != redis::reply::kind::array || r.value.elements.size() != 6) co_return std::nullopt;
  auto& e = r.value.elements;
  decision d;
  d.refused = static_cast<refusal>(e[0].integer);
  d.retry_after = e[1].integer;
  d.requests_remaining = e[2].integer;
  d.requests_reset = e[3].integer;
  d.tokens_remaining = e[4].integer;
  d.tokens_reset = e[5].integer;
  co_return d;
}

redis_store::settlement redis_store::settlement_for(const redis_keys& keys, const bucket_limits& l,
                                                   std::int64_t token_delta, std::string lease_id, nano_usd cost) {
  return settlement{keys.tok, keys.conc, keys.day, keys.month, l.tokens.interval, token_delta, std::move(lease_id),
                    l.daily_budget || l.monthly_budget ? cost : 0};
}

boost::asio::awaitable<bool> redis_store::settle_many(const std::vector<settlement>& batch) {
  static const redis::script s{settle_lua};
  std::vector<std::string> k, a;
  k.reserve(batch.size() * 4);
  a.reserve(batch.size() * 4);
  for (const auto& x : batch) {
    k.insert(k.end(), {x.tok, x.conc, x.day, x.month});
    a.insert(a.end(), {num(x.token_interval), std::to_string(x.token_delta), x.lease_id, std::to_string(x.cost)});
  }
  auto r = co_await redis::eval(conn_, s, std::move(k), std::move(a));
  co_return r.ok() && !r.value.is_error();
}

boost::asio::awaitable<std::optional<bool>> redis_store::acquire(std::string key, std::uint32_t limit,
                                                                 std::string lease_id) {
  static const redis::script s{acquire_lua};
  std::vector<std::string> k{std::move(key)};
  std::vector<std::string> a{std::to_string(limit), std::move(lease_id), std::to_string(lease_ttl_.count() * 1000)};
  auto r = co_await redis::eval(conn_, s, std::move(k), std::move(a));
  if (!r.ok() || r.value.type != redis::reply::kind::integer) co_return std::nullopt;
  co_return r.value.integer == 1;
}

boost::asio::awaitable<bool> redis_store::release(std::string key, std::string lease_id) {
  std::vector<std::string> cmd{"ZREM", std::move(key), std::move(lease_id)};
  auto r = co_await conn_.command(std::move(cmd));
  co_return r.ok() && !r.value.is_error();
}

boost::asio::awaitable<bool> redis_store::renew(std::vector<std::pair<std::string, std::string>> leases) {
  static const redis::script s{renew_lua};
  // A Cluster runs a script only on keys of one slot: one call per slot there, one in all here.
  if (conn_.cluster())
    std::sort(leases.begin(), leases.end(),
              [](const auto& x, const auto& y) { return redis::key_slot(x.first) < redis::key_slot(y.first); });
  bool ok = true;
  for (std::size_t i = 0; i < leases.size();) {
    const auto slot = redis::key_slot(leases[i].first);
    std::vector<std::string> k, a{std::to_string(lease_ttl_.count() * 1000)};
    for (; i < leases.size() && (!conn_.cluster() || redis::key_slot(leases[i].first) == slot); ++i) {
      k.push_back(std::move(leases[i].first));
      a.push_back(std::move(leases[i].second));
    }
    auto r = co_await redis::eval(conn_, s, std::move(k), std::move(a));
    ok = ok && r.ok() && !r.value.is_error();
  }
  co_return ok;
}

boost::asio::awaitable<std::optional<peek_state>> redis_store::peek(const redis_keys& keys, const bucket_limits& l) {
  static const redis::script s{peek_lua};
  std::vector<std::string> k{keys.req, keys.tok, keys.conc, keys.day, keys.month};
  std::vector<std::string> a{num(l.requests.interval), num(l.requests.capacity), num(l.tokens.interval),
                             num(l.tokens.capacity)};
  auto r = co_await redis::eval(conn_, s, std::move(k), std::move(a));
  if (!r.ok() || r.value.type != redis::reply::kind::array || r.value.elements.size() != 7) co_return std::nullopt;
  auto& e = r.value.elements;
  peek_state p;
  p.requests_remaining = e[0].integer;
  p.requests_reset = e[1].integer;
  p.tokens_remaining = e[2].integer;
  p.tokens_reset = e[3].integer;
  p.in_flight = static_cast<std::uint32_t>(e[4].integer);
  p.day_spent = e[5].integer;
  p.month_spent = e[6].integer;
  co_return p;
}

}  // namespace deepgate::limits
