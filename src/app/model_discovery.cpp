#include "deepgate/app/model_discovery.hpp"

#include <spdlog/spdlog.h>

namespace deepgate::app {

namespace asio = boost::asio;

struct model_discovery::state {
  state(asio::any_io_executor ex, const config::backend_config& b, int l, std::shared_ptr<asio::ssl::context> tls,
        observability::metrics* m, listener on)
      : backend(b), label(l), metrics(m), on_list(std::move(on)), pool(ex, b, std::move(tls)) {}
  const config::backend_config& backend;
  int label;
  observability::metrics* metrics;
  listener on_list;
  upstream::connection_pool pool;
  upstream::exchange* current = nullptr;
  bool stopping = false;  // the jobs stopped: a read in flight was given up
  std::optional<bool> last_ok;  // one log line per change
  std::vector<api::listed_model> last;
};

namespace {

constexpr std::size_t max_list_bytes = 4u << 20;

// One read: the list, or why it failed.
asio::awaitable<std::optional<std::vector<api::listed_model>>> read_once(model_discovery::state& s, std::string& why) {
  auto path = s.backend.url.path("/models");  // a named local: no temporaries in co_await (GCC 12)
  auto r = co_await upstream::get(s.pool, std::move(path), max_list_bytes, s.current);
  if (r.error != upstream::failure::none) {
    why = std::string(upstream::to_string(r.error));
    co_return std::nullopt;
  }
  if (r.status != 200) {
    why = "HTTP " + std::to_string(r.status);
    co_return std::nullopt;
  }
  auto list = api::parse_model_list(r.body);
  if (!list) why = "not a model list";
  co_return list;
}

asio::awaitable<void> loop(std::shared_ptr<model_discovery::state> sp, background_jobs& jobs) {
  auto& s = *sp;
  do {
    std::string why;
    auto list = co_await read_once(s, why);
    if (s.stopping) break;
    if (s.metrics && s.label >= 0)
      s.metrics->model_list(static_cast<std::size_t>(s.label), list ? std::optional<std::size_t>(list->size()) : std::nullopt);
    if (!list) {
      if (s.last_ok.value_or(true))
        spdlog::warn("backend {}: reading its models (GET /models) failed ({}); keeping the last list ({} models)",
                     s.backend.name, why, s.last.size());
    } else {
      if (s.last_ok == false) spdlog::info("backend {}: its model list can be read again", s.backend.name);
      if (*list != s.last) {
        std::string names;
        for (std::size_t i = 0; i < list->size() && i < 8; ++i) names += (i ? ", " : "") + (*list)[i].id;
        spdlog::info("backend {}: lists {} models ({}{})", s.backend.name, list->size(), names, list->size() > 8 ? ", ..." : "");
        s.last = *list;
        s.on_list(s.backend.name, std::move(*list));
      }
    }
    s.last_ok = list.has_value();
    const std::chrono::nanoseconds next = s.backend.models_refresh_interval;  // no temporaries in co_await (GCC 12)
    const bool go_on = co_await jobs.pause(next);
    if (!go_on) break;
  } while (true);
}

}  // namespace

model_discovery::model_discovery(asio::any_io_executor ex, const config::backend_config& backend, int label,
                                 std::shared_ptr<asio::ssl::context> tls, observability::metrics* metrics,
                                 listener on_list)
    : s_(std::make_shared<state>(ex, backend, label, std::move(tls), metrics, std::move(on_list))) {}

bool model_discovery::tried() const { return s_->last_ok.has_value(); }

void model_discovery::start(background_jobs& jobs) {
  auto s = s_;
  jobs.spawn(
      "model discovery " + s->backend.name, [s, &jobs] { return loop(s, jobs); },
      [s] {
        s->stopping = true;
        if (s->current) s->current->abort();
        s->pool.shutdown();
      });
}

}  // namespace deepgate::app
