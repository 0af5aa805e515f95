#pragma once
// DeepSeek's GET /user/balance answer:
//   {"is_available": true, "balance_infos": [{"currency": "CNY", "total_balance": "110.00",
//     "granted_balance": "10.00", "topped_up_balance": "100.00"}]}
// (amounts are strings). Sans-io, so the parsing is unit tested.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::observability {

struct account_balance {
  bool available = false;
  std::vector<std::pair<std::string, double>> totals;  // currency → total_balance
};

std::optional<account_balance> parse_balance(std::string_view body);

}  // namespace deepgate::observability
