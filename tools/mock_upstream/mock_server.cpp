#include "mock_server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "deepgate/core/strings.hpp"

#include <atomic>
#include <mutex>
#include <optional>

namespace deepgate::mock {

namespace asio = boost::asio;

struct mock_state {
  options opts;
  std::atomic<std::uint64_t> requests{0}, chat_requests{0}, embeddings_requests{0}, stream_requests{0}, active{0}, max_active{0},
      balance_requests{0};
  std::mutex last_mutex;
  std::string last_headers_json = "{}", last_body = "null";
  // POST /mock/models replaces what GET /models lists (and what chat accepts), or makes it fail.
  std::mutex list_mutex;
  std::optional<std::vector<std::string>> listed;
  bool list_fails = false;
};

namespace {

asio::awaitable<void> sleep_ms(int ms) {
  if (ms <= 0) co_return;
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await t.async_wait(asio::use_awaitable);
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else out += c;
  }
  return out;
}

http::response json_response(unsigned status, std::string body) {
  return http::response{status, "application/json", {}, std::move(body)};
}

// Counts chat requests in progress and remembers the peak (what a concurrency budget must bound).
struct active_guard {
  active_guard(std::atomic<std::uint64_t>& a, std::atomic<std::uint64_t>& peak) : a_(a) {
    auto now = ++a_;
    for (auto p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
    }
  }
  ~active_guard() { --a_; }
  std::atomic<std::uint64_t>& a_;
};

asio::awaitable<void> chat(mock_state& s, http::request& req, http::response_writer& out, bool embeddings = false) {
  (embeddings ? s.embeddings_requests : s.chat_requests).fetch_add(1, std::memory_order_relaxed);
  active_guard guard(s.active, s.max_active);
  {
    std::string headers = "{";
    for (auto& h : req.headers) {
      if (headers.size() > 1) headers += ',';
      headers += "\"" + json_escape(h.name) + "\":\"" + json_escape(h.value) + "\"";
    }
    headers += "}";
    std::lock_guard lock(s.last_mutex);
    s.last_headers_json = std::move(headers);
    s.last_body = req.body.empty() ? "null" : req.body;
  }
  std::optional<options> relisted;  // only after POST /mock/models: the options with that list
  {
    std::lock_guard lock(s.list_mutex);
    if (s.listed) {
      relisted = s.opts;
      relisted->models = *s.listed;
    }
  }
  const auto& o = relisted ? *relisted : s.opts;
  auto r = embeddings ? plan_embeddings(req.body, req.header("authorization"), o) : plan_reply(req.body, req.header("authorization"), o);
  co_await sleep_ms(r.k.latency_ms);
  if (r.status != 200) {
    auto res = json_response(r.status, r.body);
    if (r.status == 429 || r.status == 503) res.headers.push_back({"retry-after", "1"});
    co_await out.send(std::move(res));
    co_return;
  }
  if (!r.stream) {
    if (r.k.queue_ms <= 0) {
      auto res = json_response(200, std::move(r.body));
      co_await out.send(std::move(res));
      co_return;
    }
    // DeepSeek while queued: blank lines, then the JSON, on a streamed application/json body.
    if (!co_await out.begin_stream(200, {}, "application/json")) co_return;
    for (int waited = 0; waited < r.k.queue_ms; waited += r.k.keepalive_ms) {
      if (!co_await out.write("\n")) co_return;
      co_await sleep_ms(r.k.keepalive_ms);
    }
    if (co_await out.write(r.body)) co_await out.end_stream();
    co_return;
  }
  s.stream_requests.fetch_add(1, std::memory_order_relaxed);
  if (!co_await out.begin_stream(200, {})) co_return;
  for (int waited = 0; waited < r.k.queue_ms; waited += r.k.keepalive_ms) {
    if (!co_await out.write(": keep-alive\n\n")) co_return;
    co_await sleep_ms(r.k.keepalive_ms);
  }
  co_await sleep_ms(r.k.ttft_ms);
  const bool paced = r.k.tps > 0;
  const bool faults = r.k.reset_after >= 0 || r.k.malformed_after >= 0 || r.k.stall_after >= 0;
  if (!paced && !faults) {  // as fast as possible: one write, so the mock is never the bottleneck
    std::string all;
    for (auto& e : r.events) all += e;
    co_await out.end_stream(all);
    co_return;
  }
  const int gap_ms = paced ? static_cast<int>(1000.0 / r.k.tps) : 0;
  for (std::size_t i = 0; i < r.events.size(); ++i) {
    if (static_cast<int>(i) == r.k.reset_after) {
      out.abort(true);
      co_return;
    }
    while (static_cast<int>(i) == r.k.stall_after) {  // alive, but no token ever again
      if (!co_await out.write(": keep-alive\n\n")) co_return;
      co_await sleep_ms(r.k.keepalive_ms);
    }
    if (static_cast<int>(i) == r.k.malformed_after && !co_await out.write("data: {\"id\": \"broken\n\n")) co_return;
    if (!co_await out.write(r.events[i])) co_return;
    if (i > 0 && i + 1 < r.events.size()) co_await sleep_ms(gap_ms);  // the end follows [DONE] at once, as DeepSeek's does
  }
  co_await out.end_stream();
}

asio::awaitable<void> handle(std::shared_ptr<mock_state> sp, http::request& req, http::response_writer& out) {
  auto& s = *sp;
  s.requests.fetch_add(1, std::memory_order_relaxed);
  // GCC 12 destroys temporaries inside co_await expressions twice: build, then await.
  const auto& p = req.path;
  http::response res;
  if ((p == "/chat/completions" || p == "/v1/chat/completions") && req.method == "POST") {
    co_await chat(s, req, out);
    co_return;
  } else if ((p == "/embeddings" || p == "/v1/embeddings") && req.method == "POST") {
    co_await chat(s, req, out, true);
    co_return;
  } else if ((p == "/user/balance" || p == "/v1/user/balance") && req.method == "GET") {
    s.balance_requests.fetch_add(1, std::memory_order_relaxed);
    if (!s.opts.api_key.empty() && req.header("authorization") != "Bearer " + s.opts.api_key)
      res = json_response(401, deepseek_error_body(401));
    else
      res = json_response(200, balance_body(s.opts));
  } else if ((p == "/models" || p == "/v1/models") && req.method == "GET") {
    std::lock_guard lock(s.list_mutex);
    if (s.list_fails) res = json_response(500, deepseek_error_body(500));
    else res = json_response(200, s.listed ? models_body(*s.listed, s.opts.models_meta) : models_body(s.opts));
  } else if (p == "/mock/models" && req.method == "POST") {
    std::lock_guard lock(s.list_mutex);
    s.list_fails = req.body == "fail";
    if (!s.list_fails) s.listed = deepgate::split_list(req.body);
    res = json_response(200, "{\"ok\":true}");
  } else if (p == "/mock/stats") {
    res = json_response(200, "{\"requests\":" + std::to_string(s.requests.load()) + ",\"chat_requests\":" +
                                 std::to_string(s.chat_requests.load()) + ",\"stream_requests\":" +
                                 std::to_string(s.stream_requests.load()) + ",\"active\":" +
                                 std::to_string(s.active.load()) + ",\"max_active\":" +
                                 std::to_string(s.max_active.load()) + ",\"balance_requests\":" +
                                 std::to_string(s.balance_requests.load()) + ",\"embeddings_requests\":" +
                                 std::to_string(s.embeddings_requests.load()) + "}");
  } else if (p == "/mock/reset" && req.method == "POST") {
    s.requests = 0;
    s.chat_requests = 0;
    s.embeddings_requests = 0;
    s.stream_requests = 0;
    s.max_active = s.active.load();
    res = json_response(200, "{\"ok\":true}");
  } else if (p == "/mock/last_request") {
    std::lock_guard lock(s.last_mutex);
    res = json_response(200, "{\"headers\":" + s.last_headers_json + ",\"body\":" + s.last_body + "}");
  } else if (p == "/healthz") {
    res = json_response(200, "{\"status\":\"ok\"}");
  } else {
    res = json_response(404, deepseek_error_body(404));
  }
  co_await out.send(std::move(res));
}

}  // namespace

mock_service::mock_service(options opts) : state_(std::make_shared<mock_state>()) { state_->opts = std::move(opts); }
mock_service::~mock_service() = default;

http::handler mock_service::handler() {
  return [s = state_](http::request& req, http::response_writer& out) { return handle(s, req, out); };
}

}  // namespace deepgate::mock
