#include "mock_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "deepgate/core/strings.hpp"
#include "deepgate/limits/usage.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>

namespace deepgate::mock {

namespace asio = boost::asio;

struct mock_state {
  options opts;
  std::atomic<std::uint64_t> requests{0}, chat_requests{0}, embeddings_requests{0}, stream_requests{0}, active{0}, max_active{0},
      balance_requests{0};
  // The usage of every successful answer planned (what a client reading it all would be billed).
  std::atomic<std::int64_t> prompt_tokens{0}, completion_tokens{0}, reasoning_tokens{0}, cache_hit_tokens{0},
      cache_miss_tokens{0}, answers_with_usage{0};
  std::mutex last_mutex;
  std::string last_headers_json = "{}", last_body = "null", last_path;
  std::map<std::string, std::uint64_t> paths;  // model requests by path (under last_mutex)
  // POST /mock/models replaces what GET /models lists (and what chat accepts), or makes it fail.
  std::mutex list_mutex;
  std::optional<std::vector<std::string>> listed;
  bool list_fails = false;
};

namespace {

// Large answers (tens of thousands of tokens, megabytes of events) are planned here, off the
// event loop: planning one takes seconds in a sanitizer's debug build, and a worker busy with it
// would accept and answer nothing else meanwhile (a hung canary, not a slow gateway).
asio::thread_pool& planners() {
  static asio::thread_pool pool(2);
  return pool;
}
constexpr int large_answer_tokens = 2000;

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

// The model APIs the mock answers, by path.
enum class api { chat, chat_beta, embeddings, completions, responses, messages, count_tokens };

std::optional<api> api_for(std::string_view p) {
  if (p.starts_with("/v1/") && p != "/v1/messages" && p != "/v1/messages/count_tokens") p.remove_prefix(3);
  if (p.starts_with("/anthropic/")) p.remove_prefix(10);
  if (p == "/chat/completions") return api::chat;
  if (p == "/beta/chat/completions") return api::chat_beta;
  if (p == "/embeddings") return api::embeddings;
  if (p == "/completions" || p == "/beta/completions") return api::completions;
  if (p == "/responses") return api::responses;
  if (p == "/v1/messages" || p == "/messages") return api::messages;
  if (p == "/v1/messages/count_tokens" || p == "/messages/count_tokens") return api::count_tokens;
  return std::nullopt;
}

void count_usage(mock_state& s, const reply& r) {
  std::optional<limits::usage> u;
  if (!r.stream) u = limits::find_usage(r.body);
  // The last event with usage counts. Every API's stream carries it in one of its last three
  // events (chat's usage chunk then [DONE], Responses' response.completed, Anthropic's
  // message_delta then message_stop): only those are read, not the tens of thousands of token
  // events of a large answer before them.
  const auto last_three = r.events.rbegin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(3, r.events.size()));
  for (auto e = r.events.rbegin(); e != last_three && !u; ++e) {
    std::string_view data = *e;
    if (!data.starts_with("data: ")) {
      auto at = data.find("\ndata: ");  // an event with a name line first
      if (at == std::string_view::npos) continue;
      data.remove_prefix(at + 1);
    }
    u = limits::find_usage(data.substr(6));
  }
  if (!u) return;
  s.prompt_tokens += u->prompt;
  s.completion_tokens += u->completion;
  s.reasoning_tokens += u->reasoning;
  s.cache_hit_tokens += u->cache_hit;
  s.cache_miss_tokens += u->cache_miss;
  ++s.answers_with_usage;
}

asio::awaitable<void> chat(mock_state& s, http::request& req, http::response_writer& out, api which = api::chat) {
  (which == api::embeddings ? s.embeddings_requests : s.chat_requests).fetch_add(1, std::memory_order_relaxed);
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
    s.last_path = req.path;
    ++s.paths[req.path];
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
  // Anthropic's routes take the key as x-api-key too.
  std::string authorization(req.header("authorization"));
  if (authorization.empty() && !req.header("x-api-key").empty()) authorization = "Bearer " + std::string(req.header("x-api-key"));
  const auto plan = [&] {
    reply planned;
    switch (which) {
      case api::embeddings: planned = plan_embeddings(req.body, authorization, o); break;
      case api::completions: planned = plan_completion(req.body, authorization, o); break;
      case api::responses: planned = plan_response(req.body, authorization, o); break;
      case api::messages: planned = plan_message(req.body, authorization, o); break;
      case api::count_tokens: planned = plan_count_tokens(req.body, authorization, o); break;
      case api::chat:
        if (auto refused = beta_only(req.body)) {
          planned = *refused;
          break;
        }
        [[fallthrough]];
      case api::chat_beta: planned = plan_reply(req.body, authorization, o); break;
    }
    return planned;
  };
  reply r;
  if (parse_directives(req.body, o.defaults).tokens > large_answer_tokens) {
    // GCC 12 destroys temporaries inside co_await expressions twice: build, then await.
    auto job = [&]() -> asio::awaitable<reply> { co_return plan(); };
    auto planned = asio::co_spawn(planners(), job, asio::use_awaitable);
    r = co_await std::move(planned);
  } else {
    r = plan();
  }
  if (r.status == 200) count_usage(s, r);
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

std::string usage_json(mock_state& s) {
  return "{\"prompt_tokens\":" + std::to_string(s.prompt_tokens.load()) + ",\"completion_tokens\":" +
         std::to_string(s.completion_tokens.load()) + ",\"reasoning_tokens\":" + std::to_string(s.reasoning_tokens.load()) +
         ",\"cache_hit_tokens\":" + std::to_string(s.cache_hit_tokens.load()) + ",\"cache_miss_tokens\":" +
         std::to_string(s.cache_miss_tokens.load()) + ",\"answers\":" + std::to_string(s.answers_with_usage.load()) + "}";
}

std::string paths_json(mock_state& s) {
  std::lock_guard lock(s.last_mutex);
  std::string out = "{";
  for (const auto& [path, n] : s.paths) {
    if (out.size() > 1) out += ',';
    out += "\"" + json_escape(path) + "\":" + std::to_string(n);
  }
  return out + "}";
}

asio::awaitable<void> handle(std::shared_ptr<mock_state> sp, http::request& req, http::response_writer& out) {
  auto& s = *sp;
  s.requests.fetch_add(1, std::memory_order_relaxed);
  // GCC 12 destroys temporaries inside co_await expressions twice: build, then await.
  const auto& p = req.path;
  http::response res;
  if (auto which = api_for(p); which && req.method == "POST") {
    co_await chat(s, req, out, *which);
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
                                 std::to_string(s.embeddings_requests.load()) + ",\"paths\":" + paths_json(s) +
                                 ",\"usage\":" + usage_json(s) + "}");
  } else if (p == "/mock/reset" && req.method == "POST") {
    s.requests = 0;
    s.chat_requests = 0;
    s.embeddings_requests = 0;
    s.stream_requests = 0;
    s.max_active = s.active.load();
    for (auto* t : {&s.prompt_tokens, &s.completion_tokens, &s.reasoning_tokens, &s.cache_hit_tokens,
                    &s.cache_miss_tokens, &s.answers_with_usage})
      *t = 0;
    {
      std::lock_guard lock(s.last_mutex);
      s.paths.clear();
    }
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
