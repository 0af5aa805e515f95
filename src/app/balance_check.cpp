#include "deepgate/app/balance_check.hpp"

#include "deepgate/observability/balance.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace deepgate::app {

namespace asio = boost::asio;

struct balance_check::state {
  state(asio::any_io_executor ex, const config::backend_config& b, std::size_t i,
        std::shared_ptr<asio::ssl::context> tls, observability::metrics& m)
      : backend(b), index(i), metrics(m), pool(ex, b, std::move(tls)), pause(ex) {}
  const config::backend_config& backend;
  std::size_t index;
  observability::metrics& metrics;
  upstream::connection_pool pool;
  asio::steady_timer pause;
  upstream::exchange* current = nullptr;
  bool stopping = false;
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

asio::awaitable<void> loop(std::shared_ptr<balance_check::state> sp) {
  auto& s = *sp;
  while (!s.stopping) {
    bool ok = co_await check_once(s);
    if (s.stopping) break;
    if (!ok) s.metrics.balance_check_failed(s.index);
    if (ok && s.last_ok == false) spdlog::info("backend {}: balance check works again", s.backend.name);
    s.last_ok = ok;
    s.pause.expires_after(s.backend.balance_check_interval);
    co_await s.pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

balance_check::balance_check(asio::any_io_executor ex, const config::backend_config& backend, std::size_t index,
                             std::shared_ptr<asio::ssl::context> tls, observability::metrics& metrics)
    : s_(std::make_shared<state>(ex, backend, index, std::move(tls), metrics)) {}

balance_check::~balance_check() { stop(); }

void balance_check::start() { asio::co_spawn(s_->pause.get_executor(), loop(s_), asio::detached); }

void balance_check::stop() {
  if (s_->stopping) return;
  s_->stopping = true;
  s_->pause.cancel();
  if (s_->current) s_->current->abort();
  s_->pool.shutdown();
}

}  // namespace deepgate::app
