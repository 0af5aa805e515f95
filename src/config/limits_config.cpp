#include "deepgate/config/limits_config.hpp"

#include "reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace deepgate::config {
namespace {

constexpr double max_usd = 1e9;

bool read_values(reader& r, const YAML::Node& n, const std::string& p, limit_values& v) {
  return r.integer<std::uint32_t>(n, "requests_per_minute", p, v.requests_per_minute, 0, 100'000'000) &&
         r.integer<std::uint32_t>(n, "request_burst", p, v.request_burst, 0, 100'000'000) &&
         r.integer<std::uint64_t>(n, "tokens_per_minute", p, v.tokens_per_minute, 0, 1'000'000'000'000) &&
         r.integer<std::uint32_t>(n, "concurrent_requests", p, v.concurrent_requests, 0, 1'000'000);
}

bool read_profile(reader& r, const YAML::Node& n, const std::string& p, limits_profile& out) {
  if (!r.mapping(n, p,
                 {"requests_per_minute", "request_burst", "tokens_per_minute", "concurrent_requests", "daily_budget_usd",
                  "monthly_budget_usd", "models"}))
    return false;
  double day = 0, month = 0;
  if (!read_values(r, n, p, out.values) || !r.number(n, "daily_budget_usd", p, day, 0, max_usd) ||
      !r.number(n, "monthly_budget_usd", p, month, 0, max_usd))
    return false;
  out.daily_budget = core::to_nano(day);
  out.monthly_budget = core::to_nano(month);
  auto models = n ? n["models"] : YAML::Node();
  if (!models || models.IsNull()) return true;
  if (!models.IsMap()) return r.fail(p + ".models", "must map model names to limits");
  for (const auto& kv : models) {
    auto mp = p + ".models." + kv.first.Scalar();
    if (!r.mapping(kv.second, mp, {"requests_per_minute", "request_burst", "tokens_per_minute", "concurrent_requests"}) ||
        !read_values(r, kv.second, mp, out.models[kv.first.Scalar()]))
      return false;
  }
  return true;
}

}  // namespace

bool limits_profile::any() const {
  if (values.any() || daily_budget || monthly_budget) return true;
  for (auto& [_, v] : models)
    if (v.any()) return true;
  return false;
}

const limits_profile& limits_config::profile(const std::string& name) const {
  if (name.empty()) return defaults;
  auto it = profiles.find(name);
  return it == profiles.end() ? defaults : it->second;
}

bool limits_config::any() const {
  if (defaults.any()) return true;
  for (auto& [_, p] : profiles)
    if (p.any()) return true;
  return false;
}

bool read_limits(reader& r, const YAML::Node& n, limits_config& out) {
  const std::string p = "limits";
  if (!r.mapping(n, p,
                 {"store", "on_redis_failure", "replicas", "lease_ttl", "default_max_tokens", "default", "profiles"}))
    return false;
  std::string store = "memory", on_failure = "open";
  if (!r.string(n, "store", p, store) || !r.string(n, "on_redis_failure", p, on_failure) ||
      !r.integer<std::uint32_t>(n, "replicas", p, out.replicas, 1, 10'000) || !r.duration(n, "lease_ttl", p, out.lease_ttl) ||
      !r.integer<std::uint64_t>(n, "default_max_tokens", p, out.default_max_tokens, 1, 10'000'000))
    return false;
  if (store != "memory" && store != "redis") return r.fail(p + ".store", "must be memory or redis");
  if (on_failure != "open" && on_failure != "closed") return r.fail(p + ".on_redis_failure", "must be open or closed");
  if (out.lease_ttl < std::chrono::seconds(1)) return r.fail(p + ".lease_ttl", "must be at least 1s");
  out.redis = store == "redis";
  out.fail_open = on_failure == "open";
  if (!read_profile(r, n ? n["default"] : YAML::Node(), p + ".default", out.defaults)) return false;
  auto profiles = n ? n["profiles"] : YAML::Node();
  if (!profiles || profiles.IsNull()) return true;
  if (!profiles.IsMap()) return r.fail(p + ".profiles", "must map profile names to limits");
  for (const auto& kv : profiles)
    if (!read_profile(r, kv.second, p + ".profiles." + kv.first.Scalar(), out.profiles[kv.first.Scalar()])) return false;
  return true;
}

namespace {

// "+08:00", "-05:30", "UTC" or "Z" → minutes east of UTC.
std::optional<int> parse_utc_offset(std::string_view s) {
  if (s == "UTC" || s == "Z" || s == "+00:00") return 0;
  if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') return std::nullopt;
  int h = 0, m = 0;
  if (std::from_chars(s.data() + 1, s.data() + 3, h).ec != std::errc{} ||
      std::from_chars(s.data() + 4, s.data() + 6, m).ec != std::errc{} || h > 14 || m > 59)
    return std::nullopt;
  return (s[0] == '-' ? -1 : 1) * (h * 60 + m);
}

// "09:00-12:00" → [540, 720); "24:00" may end a window.
std::optional<std::pair<int, int>> parse_window(std::string_view s) {
  auto minutes = [](std::string_view t) -> std::optional<int> {
    int h = 0, m = 0;
    if (t.size() != 5 || t[2] != ':' || std::from_chars(t.data(), t.data() + 2, h).ec != std::errc{} ||
        std::from_chars(t.data() + 3, t.data() + 5, m).ec != std::errc{} || m > 59 || h > 24 || (h == 24 && m != 0))
      return std::nullopt;
    return h * 60 + m;
  };
  auto dash = s.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto from = minutes(s.substr(0, dash)), to = minutes(s.substr(dash + 1));
  if (!from || !to || *from >= *to || *from == 1440) return std::nullopt;
  return std::pair{*from, *to};
}

bool read_rates(reader& r, const YAML::Node& n, const std::string& p, core::price& out) {
  return r.number(n, "input_cache_hit", p, out.input_cache_hit, 0, 1e6) &&
         r.number(n, "input_cache_miss", p, out.input_cache_miss, 0, 1e6) && r.number(n, "output", p, out.output, 0, 1e6);
}

bool read_tier(reader& r, const YAML::Node& n, const std::string& p, const core::price& base, core::price_tier& t) {
  if (!n.IsMap()) return r.fail(p, "must be a mapping");
  if (!r.mapping(n, p, {"name", "time_zone", "utc_offset", "days", "hours", "multiplier", "input_cache_hit",
                        "input_cache_miss", "output"}))
    return false;
  std::string offset = "UTC", zone;
  double multiplier = 1;
  if (!r.string(n, "name", p, t.name) || !r.string(n, "utc_offset", p, offset) || !r.string(n, "time_zone", p, zone) ||
      !r.number(n, "multiplier", p, multiplier, 0, 1e6))
    return false;
  if (t.name.empty()) return r.fail(p + ".name", "is required (the access log records it)");
  if (!zone.empty()) {
    if (n["utc_offset"]) return r.fail(p + ".utc_offset", "give either time_zone or utc_offset, not both");
    std::string error;
    auto z = core::time_zone::load(zone, error);
    if (!z) return r.fail(p + ".time_zone", error);
    t.zone = std::make_shared<const core::time_zone>(std::move(*z));
  }
  auto minutes = parse_utc_offset(offset);
  if (!minutes) return r.fail(p + ".utc_offset", "must be UTC or an offset such as +08:00");
  t.utc_offset_minutes = *minutes;
  t.rates = {base.input_cache_hit * multiplier, base.input_cache_miss * multiplier, base.output * multiplier};
  if (!read_rates(r, n, p, t.rates)) return false;  // explicit rates win over the multiplier
  if (auto days = n["days"]; days && !days.IsNull()) {
    static constexpr std::array<std::string_view, 7> names{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    if (!days.IsSequence()) return r.fail(p + ".days", "must be a list such as [mon, tue, wed, thu, fri]");
    t.weekdays = 0;
    for (std::size_t i = 0; i < days.size(); ++i) {
      auto it = std::find(names.begin(), names.end(), days[i].Scalar());
      if (!days[i].IsScalar() || it == names.end())
        return r.fail(p + ".days[" + std::to_string(i) + "]", "must be one of mon, tue, wed, thu, fri, sat, sun");
      t.weekdays |= static_cast<std::uint8_t>(1u << (it - names.begin()));
    }
  }
  auto hours = n["hours"];
  if (!hours || !hours.IsSequence() || hours.size() == 0)
    return r.fail(p + ".hours", "must list windows such as [\"09:00-12:00\", \"14:00-18:00\"]");
  for (std::size_t i = 0; i < hours.size(); ++i) {
    auto w = hours[i].IsScalar() ? parse_window(hours[i].Scalar()) : std::nullopt;
    if (!w) return r.fail(p + ".hours[" + std::to_string(i) + "]", "must be a window HH:MM-HH:MM within one day");
    t.windows.push_back(*w);
  }
  return true;
}

}  // namespace

bool read_prices(reader& r, const YAML::Node& n, price_table& out) {
  if (!n || n.IsNull()) return true;
  if (!n.IsMap()) return r.fail("prices", "must map model names to prices");
  for (const auto& kv : n) {
    auto p = "prices." + kv.first.Scalar();
    auto& schedule = out[kv.first.Scalar()];
    if (!r.mapping(kv.second, p, {"input_cache_hit", "input_cache_miss", "output", "name", "tiers"}) ||
        !read_rates(r, kv.second, p, schedule.base) || !r.string(kv.second, "name", p, schedule.base_name))
      return false;
    auto tiers = kv.second["tiers"];
    if (!tiers || tiers.IsNull()) continue;
    if (!tiers.IsSequence()) return r.fail(p + ".tiers", "must be a list");
    for (std::size_t i = 0; i < tiers.size(); ++i)
      if (!read_tier(r, tiers[i], p + ".tiers[" + std::to_string(i) + "]", schedule.base, schedule.tiers.emplace_back()))
        return false;
  }
  return true;
}

}  // namespace deepgate::config
