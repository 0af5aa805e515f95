#include "deepgate/app/balance_check.hpp"

#include "deepgate/observability/balance.hpp"

#include <spdlog/spdlog.h>

namespace deepgate::app {

namespace asio = boost::asio;

struct balance_check::state {
  state(asio::any_io_executor ex, const config::backend_config& b, std::size_t i,
        std::shared_ptr<asio::ssl::context> tls, observability::metrics& m)
      : backend(b), index(i), metrics(m), pool(ex, b, std::move(tls)) {}
  const config::backend_config& backend;
  std::size_t index;
  observability::metrics& metrics;
  upstream::connection_pool pool;
  upstream::exchange* current = nullptr;
  bool stopping = false;  // the jobs stopped: a read in flight was given up
  std::optional<bool> last_ok;  // one log line per change
};

namespace {

// One check; false when the balance could not be read.
asio::awaitable<bool> check_once(balance_check::state& s) {
  auto path = s.backend.url.path("/user/balance");  // a named local: no temporaries in co_await (GCC 12)
  auto r = co_await upstream::get(s.pool, std::move(path), 64 * 1024, s.current);
  if (r.error != upstream::failure::none || r.status != 200) {
    if (s.last_ok.value_or(true) && !s.stopping)
      spdlog::warn("backend {}: balance check failed ({})", s.backend.name,
                   r.error != upstream::failure::none ? std::string(upstream::to_string(r.error))
                                                      : "HTTP " + std::to_string(r.status));
    co_return false;
  }
  auto b = observability::parse_balance(r.body);
  if (!b) {
    if (s.last_ok.value_or(true)) spdlog::warn("backend {}: balance check: unexpected answer", s.backend.name);
    co_return false;
  }
  for (auto& [currency, amount] : b->totals) s.metrics.balance(s.index, currency, amount, b->available);
  if (b->totals.empty()) s.metrics.balance(s.index, "other", 0, b->available);
  if (!b->available) spdlog::warn("backend {}: DeepSeek reports the balance cannot cover API calls", s.backend.name);
  co_return true;
}

asio::awaitable<void> loop(std::shared_ptr<balance_check::state> sp, background_jobs& jobs) {
  auto& s = *sp;
  do {
    bool ok = co_await check_once(s);
    if (s.stopping) break;
    if (!ok) s.metrics.balance_check_failed(s.index);
    if (ok && s.last_ok == false) spdlog::info("backend {}: balance check works again", s.backend.name);
    s.last_ok = ok;
    const std::chrono::nanoseconds next = s.backend.balance_check_interval;  // no temporaries in co_await (GCC 12)
    const bool go_on = co_await jobs.pause(next);
    if (!go_on) break;
  } while (true);
}

}  // namespace

balance_check::balance_check(asio::any_io_executor ex, const config::backend_config& backend, std::size_t index,
                             std::shared_ptr<asio::ssl::context> tls, observability::metrics& metrics)
    : s_(std::make_shared<state>(ex, backend, index, std::move(tls), metrics)) {}

void balance_check::start(background_jobs& jobs) {
  auto s = s_;
  jobs.spawn(
      "balance check " + s->backend.name, [s, &jobs] { return loop(s, jobs); },
      [s] {
        s->stopping = true;
        if (s->current) s->current->abort();
        s->pool.shutdown();
      });
}

}  // namespace deepgate::app
