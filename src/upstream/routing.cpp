#include "deepgate/upstream/routing.hpp"

#include <algorithm>
#include <cmath>

namespace deepgate::upstream {

int weighted_rr::pick(std::span<const std::uint32_t> weights, std::span<const char> eligible) {
  if (current_.size() != weights.size()) current_.assign(weights.size(), 0);
  std::int64_t total = 0;
  int best = -1;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!eligible[i]) continue;
    current_[i] += weights[i];
    total += weights[i];
    if (best < 0 || current_[i] > current_[static_cast<std::size_t>(best)]) best = static_cast<int>(i);
  }
  if (best >= 0) current_[static_cast<std::size_t>(best)] -= total;
  return best;
}

attempt_verdict judge_attempt(failure f, unsigned status) {
  using next = attempt_verdict::next;
  using health = attempt_verdict::health;
  if (f != failure::none) return {retryable(f) ? next::try_next : next::stop, health::failure};
  if (status == 200) return {next::relay, health::success};
  if (status == 401 || status == 402 || status == 403) return {next::try_next, health::trip};
  if (!retryable_status(status)) return {next::stop, health::success};
  return {next::try_next, health::failure};
}

bool retryable(failure f) {
  switch (f) {
    case failure::pool_exhausted:
    case failure::resolve:
    case failure::connect:
    case failure::connect_timeout:
    case failure::tls:
    case failure::tls_timeout:
    case failure::reset_before_headers: return true;
    default: return false;
  }
}

bool retryable_status(unsigned status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::chrono::milliseconds backoff(unsigned retry, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                  double jitter) {
  const auto shift = std::min(retry > 0 ? retry - 1 : 0u, 20u);
  const auto full = std::min<std::int64_t>(cap.count(), base.count() << shift);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(full * (0.5 + 0.5 * std::clamp(jitter, 0.0, 1.0)))));
}

retry_budget::retry retry_budget::try_retry(double ratio, std::uint32_t minimum) {
  const auto allowed = std::max<std::int64_t>(minimum, static_cast<std::int64_t>(in_flight() * ratio));
  auto now = retrying_.fetch_add(1, std::memory_order_relaxed);
  if (now >= allowed) {
    retrying_.fetch_sub(1, std::memory_order_relaxed);
    return retry();
  }
  return retry(this);
}

}  // namespace deepgate::upstream
