#include "deepgate/config/limits_config.hpp"

#include "reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace deepgate::config {
namespace {

constexpr double max_usd = 1e9;

bool read_values(section& s, limit_values& v) {
  return s.integer<std::uint32_t>("requests_per_minute", v.requests_per_minute, 0, 100'000'000) &&
         s.integer<std::uint32_t>("request_burst", v.request_burst, 0, 100'000'000) &&
         s.integer<std::uint64_t>("tokens_per_minute", v.tokens_per_minute, 0, 1'000'000'000'000) &&
         s.integer<std::uint32_t>("concurrent_requests", v.concurrent_requests, 0, 1'000'000);
}

bool read_profile(reader& r, const YAML::Node& n, const std::string& p, limits_profile& out) {
  section sec(r, n, p);
  double day = 0, month = 0;
  if (!read_values(sec, out.values) || !sec.number("daily_budget_usd", day, 0, max_usd) ||
      !sec.number("monthly_budget_usd", month, 0, max_usd))
    return false;
  out.daily_budget = core::to_nano(day);
  out.monthly_budget = core::to_nano(month);
  auto models = sec.child("models");
  if (!models || models.IsNull()) return true;
  if (!models.IsMap()) return r.fail(sec.at("models"), "must map model names to limits");
  for (const auto& kv : models) {
    section model(r, kv.second, sec.at("models") + "." + kv.first.Scalar());
    if (!read_values(model, out.models[kv.first.Scalar()])) return false;
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
  section sec(r, n, "limits");
  std::string store = "memory", on_failure = "open";
  if (!sec.string("store", store) || !sec.string("on_redis_failure", on_failure) ||
      !sec.integer<std::uint32_t>("replicas", out.replicas, 1, 10'000) || !sec.duration("lease_ttl", out.lease_ttl) ||
      !sec.integer<std::uint64_t>("default_max_tokens", out.default_max_tokens, 1, 10'000'000))
    return false;
  if (store != "memory" && store != "redis") return r.fail(sec.at("store"), "must be memory or redis");
  if (on_failure != "open" && on_failure != "closed") return r.fail(sec.at("on_redis_failure"), "must be open or closed");
  if (out.lease_ttl < std::chrono::seconds(1)) return r.fail(sec.at("lease_ttl"), "must be at least 1s");
  out.redis = store == "redis";
  out.fail_open = on_failure == "open";
  if (!read_profile(r, sec.child("default"), sec.at("default"), out.defaults)) return false;
  auto profiles = sec.child("profiles");
  if (!profiles || profiles.IsNull()) return true;
  if (!profiles.IsMap()) return r.fail(sec.at("profiles"), "must map profile names to limits");
  for (const auto& kv : profiles)
    if (!read_profile(r, kv.second, sec.at("profiles") + "." + kv.first.Scalar(), out.profiles[kv.first.Scalar()])) return false;
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

bool read_rates(section& s, core::price& out) {
  return s.number("input_cache_hit", out.input_cache_hit, 0, 1e6) && s.number("input_cache_miss", out.input_cache_miss, 0, 1e6) &&
         s.number("output", out.output, 0, 1e6);
}

bool read_tier(reader& r, const YAML::Node& n, const std::string& p, const core::price& base, core::price_tier& t) {
  if (!n.IsMap()) return r.fail(p, "must be a mapping");
  section sec(r, n, p);
  std::string offset = "UTC", zone;
  double multiplier = 1;
  if (!sec.string("name", t.name) || !sec.string("utc_offset", offset) || !sec.string("time_zone", zone) ||
      !sec.number("multiplier", multiplier, 0, 1e6))
    return false;
  if (t.name.empty()) return r.fail(sec.at("name"), "is required (the access log records it)");
  if (!zone.empty()) {
    if (sec.present("utc_offset")) return r.fail(sec.at("utc_offset"), "give either time_zone or utc_offset, not both");
    std::string error;
    auto z = core::time_zone::load(zone, error);
    if (!z) return r.fail(sec.at("time_zone"), error);
    t.zone = std::make_shared<const core::time_zone>(std::move(*z));
  }
  auto minutes = parse_utc_offset(offset);
  if (!minutes) return r.fail(sec.at("utc_offset"), "must be UTC or an offset such as +08:00");
  t.utc_offset_minutes = *minutes;
  t.rates = {base.input_cache_hit * multiplier, base.input_cache_miss * multiplier, base.output * multiplier};
  if (!read_rates(sec, t.rates)) return false;  // explicit rates win over the multiplier
  if (auto days = sec.child("days"); days && !days.IsNull()) {
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
  auto hours = sec.child("hours");
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
    section sec(r, kv.second, p);
    if (!read_rates(sec, schedule.base) || !sec.string("name", schedule.base_name)) return false;
    auto tiers = sec.child("tiers");
    if (!tiers || tiers.IsNull()) continue;
    if (!tiers.IsSequence()) return r.fail(p + ".tiers", "must be a list");
    for (std::size_t i = 0; i < tiers.size(); ++i)
      if (!read_tier(r, tiers[i], p + ".tiers[" + std::to_string(i) + "]", schedule.base, schedule.tiers.emplace_back()))
        return false;
  }
  return true;
}

}  // namespace deepgate::config
