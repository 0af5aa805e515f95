#pragma once
// backends[].breaker: when a backend's circuit breaker opens and for how long (upstream/breaker.hpp
// is the breaker itself). A leaf, so the breaker and the config reader can share it.
#include <chrono>
#include <cstdint>

namespace deepgate::config {

struct breaker_settings {
  std::uint32_t failures = 5;  // 0: the breaker is off (never opens)
  std::chrono::milliseconds cool_down{10'000};
  std::chrono::milliseconds max_cool_down{300'000};
  bool operator==(const breaker_settings&) const = default;
};

}  // namespace deepgate::config
