#include "deepgate/observability/balance.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace deepgate::observability {

std::optional<account_balance> parse_balance(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto avail = j.find("is_available");
  auto infos = j.find("balance_infos");
  if (avail == j.end() || !avail->is_boolean() || infos == j.end() || !infos->is_array()) return std::nullopt;
  account_balance b;
  b.available = avail->get<bool>();
  for (auto& info : *infos) {
    if (!info.is_object()) return std::nullopt;
    auto cur = info.find("currency");
    auto total = info.find("total_balance");
    if (cur == info.end() || !cur->is_string() || total == info.end()) return std::nullopt;
    double amount = 0;
    if (total->is_number()) {
      amount = total->get<double>();
    } else if (total->is_string()) {
      const auto& t = total->get_ref<const std::string&>();
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), amount);
      if (ec != std::errc{} || end != t.data() + t.size()) return std::nullopt;
    } else {
      return std::nullopt;
    }
    b.totals.emplace_back(cur->get<std::string>(), amount);
  }
  return b;
}

}  // namespace deepgate::observability
