#include "deepgate/api/relay.hpp"

#include "deepgate/api/cache_stage.hpp"
#include "deepgate/api/forward.hpp"
#include "deepgate/api/request_context.hpp"
#include "deepgate/api/route_spec.hpp"
#include "deepgate/api/settlement.hpp"
#include "deepgate/api/upstream_errors.hpp"
#include "deepgate/http/sse_parser.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <utility>

namespace deepgate::api {

using observability::request_record;
using observability::wait_timer;
using clock = request_record::clock;

// GCC 12 destroys temporaries inside co_await expressions twice, so every awaited call here
// takes named locals (see docs/development.md).
boost::asio::awaitable<void> fail(http::response_writer& out, const http::api_error& e, request_record& rec,
                                  http::error_dialect dialect) {
  rec.error_code = e.code;
  auto res = http::error_response(e, dialect);
  co_await out.send(std::move(res));
}

// Before any byte went out the status can still change: a plain JSON error. After HTTP 200 went
// out: one error event, then the connection closes without the stream's end so SDKs raise
// instead of returning half an answer.
boost::asio::awaitable<void> fail_stream(http::response_writer& out, const http::api_error& e, request_record& rec,
                                         http::error_dialect dialect) {
  if (!out.committed()) co_return co_await fail(out, e, rec, dialect);
  rec.error_code = e.code;
  const auto event = http::render_error_event(e, dialect);
  co_await out.write(event);
  out.abort(false);
}

namespace {

// What the relay learns about usage. The gateway may have asked for the usage chunk the client
// did not ask for (`strip`): it is read, then removed from what the client sees.
struct usage_watch {
  bool strip = false;
  cache::stream_assembler* assemble = nullptr;  // the prompt cache or the reasoning repair wants this answer
  std::optional<std::string> answer;            // assembled, when the stream was complete
  std::int64_t chunks = 0;  // data events relayed: about one token each, the estimate if no usage comes
  std::optional<limits::usage> found;
  // Runs once the whole answer is in and before [DONE] goes out (answer and usage set), so a
  // client that fires its next request at once finds this one remembered and settled.
  std::function<void()> complete;
  // False: the event is not for the client.
  bool see(http::sse_event& e) {
    if (e.type != http::sse_event::kind::data) return true;
    ++chunks;
    if (assemble) assemble->add(e.data);
    auto u = limits::take_chunk_usage(e.data, strip);
    if (u.found) {
      // Anthropic reports the prompt in message_start and the output, cumulative, in
      // message_delta: a later report without the prompt side keeps the earlier one's.
      if (found && u.found->prompt == 0 && u.found->cache_hit == 0 && u.found->cache_miss == 0) {
        u.found->prompt = found->prompt;
        u.found->cache_hit = found->cache_hit;
        u.found->cache_miss = found->cache_miss;
      }
      found = *u.found;
    }
    if (u.rewritten) e.data = std::move(*u.rewritten);
    return !u.drop;
  }
};

// When the backend's first real byte came after it had sent only keep-alive comments or blank
// lines (DeepSeek does that while a request waits in its queue): the queue wait.
struct queue_clock {
  std::optional<clock::time_point> first_filler;
  bool real = false;
  void filler() {
    if (!first_filler) first_filler = clock::now();
  }
  void first_real(request_record& rec) {
    real = true;
    rec.queue_wait = first_filler ? clock::now() - *first_filler : clock::duration{0};
  }
};

// The first-token deadline (keep-alives and blank lines are not progress) until the first real
// byte, then the whole-response deadline; both count from forwarding, and the earlier one binds.
void first_token_deadline(upstream::exchange& ex, const config::backend_config& b, clock::time_point forwarded) {
  const auto first = forwarded + b.first_token_timeout;
  const auto whole = forwarded + b.stream_timeout;
  if (b.stream_timeout.count() > 0 && whole < first) ex.deadline(whole, upstream::failure::stream_timeout);
  else ex.deadline(first, upstream::failure::first_token_timeout);
}
void stream_deadline(upstream::exchange& ex, const config::backend_config& b, clock::time_point forwarded) {
  ex.deadline(b.stream_timeout.count() > 0 ? forwarded + b.stream_timeout : clock::time_point::max(),
              upstream::failure::stream_timeout);
}
// In a stream, after each real event: the next must come within token_idle_timeout (keep-alive
// comments do not count), and the whole-response deadline still binds if it comes first.
void token_deadline(upstream::exchange& ex, const config::backend_config& b, clock::time_point forwarded) {
  if (b.token_idle_timeout.count() <= 0) return stream_deadline(ex, b, forwarded);
  const auto idle = clock::now() + b.token_idle_timeout;
  if (b.stream_timeout.count() > 0 && forwarded + b.stream_timeout <= idle) return stream_deadline(ex, b, forwarded);
  ex.deadline(idle, upstream::failure::token_idle_timeout);
}

// The active-streams gauge, on every path out of the relay.
struct stream_gauge {
  explicit stream_gauge(observability::metrics* m) : m_(m) {
    if (m_) m_->stream_started();
  }
  ~stream_gauge() {
    if (m_) m_->stream_finished();
  }
  stream_gauge(const stream_gauge&) = delete;
  stream_gauge& operator=(const stream_gauge&) = delete;
  observability::metrics* m_;
};

// Relays an event stream: each read from upstream is parsed into events, and the events it
// completed go to the client in one write. Comments (": keep-alive") pass through so the
// client's idle timers stay fed while DeepSeek queues the request.
boost::asio::awaitable<void> pump_stream(upstream::exchange& ex, http::response_writer& out, const route_spec& spec,
                                          const config::backend_config& backend, usage_watch& usage,
                                          cache_stage& cached, request_record& rec, observability::metrics* metrics,
                                          clock::time_point forwarded) {
  if (!co_await out.begin_stream(200, {})) co_return;
  stream_gauge gauge(metrics);
  first_token_deadline(ex, backend, forwarded);
  http::sse_parser parser;
  std::vector<http::sse_event> events;
  std::string in, wire;
  bool saw_done = false;
  queue_clock queue;
  // How the stream failed: one slot for the three ways (a coroutine's frame keeps every local
  // of every branch for as long as the stream lasts).
  std::optional<http::api_error> failed;
  while (!ex.done()) {
    in.clear();
    upstream::failure f;
    {
      wait_timer w(rec.waited);
      f = co_await ex.read_some(in);
    }
    if (f == upstream::failure::abandoned) co_return;  // the client hung up before the first event
    if (f != upstream::failure::none) {
      spdlog::warn("backend {}: stream failed: {}", backend.name, upstream::to_string(f));
      rec.upstream_error = upstream::to_string(f);
      failed = error_from_failure(f, backend.name);
      break;
    }
    const bool filler = !in.empty();
    const auto read_bytes = in.size();
    events.reserve(8);  // a fast backend's read holds several events: not 1, 2, 4, 8 growing
    const auto fed = parser.feed(in, events);
    std::string().swap(in);  // the events hold what they need; a slow stream keeps no read buffer
    if (fed != http::sse_parser::status::ok) {
      rec.upstream_error = upstream::to_string(upstream::failure::bad_response);
      failed = http::server_error(502, "Backend '" + backend.name + "' sent an event larger than the gateway accepts.",
                                  "upstream_bad_response");
      break;
    }
    const bool data = std::any_of(events.begin(), events.end(), [](auto& e) { return e.type == http::sse_event::kind::data; });
    if (data) {
      if (!queue.real) {
        queue.first_real(rec);
        rec.ttft = clock::now() - rec.start;
      }
      token_deadline(ex, backend, forwarded);
    } else if (!queue.real && filler) {
      queue.filler();
    }
    if (events.empty()) continue;
    wire.clear();
    wire.reserve(read_bytes + 64);  // what goes out is about what came in: one allocation
    for (auto& e : events) {
      redact(e.data, backend.api_key);  // a backend echoing its Authorization header
      if ((saw_done = ends_stream(spec.ends, e))) {
        if (e.is_done() || usage.see(e)) http::append_sse_event(wire, e);  // response.completed carries usage
        break;  // nothing after the end belongs to this answer
      }
      if (usage.see(e)) http::append_sse_event(wire, e);
    }
    if (saw_done) break;
    std::vector<http::sse_event>().swap(events);
    if (wire.empty()) continue;
    if (!co_await out.write(wire)) co_return;  // client gone: the exchange is dropped, not pooled
    std::string().swap(wire);
  }
  if (!failed) {
    rec.upstream = clock::now() - forwarded;
    if (!saw_done) {
      rec.upstream_error = upstream::to_string(upstream::failure::reset_mid_body);
      failed = http::server_error(502, "Backend '" + backend.name + "' ended the stream before its end event.",
                                  "upstream_reset");
    }
  }
  if (failed) co_return co_await fail_stream(out, *failed, rec, spec.dialect);
  // The answer goes to the cache (and is settled) before the client gets its last events and the
  // end of the stream, so that once it has [DONE] an identical request finds it stored and the
  // next request sees this one's spend; then the rest of the backend's response (its terminating
  // chunk) is read so the connection can be reused.
  if (usage.assemble)
    if ((usage.answer = usage.assemble->finish())) cached.complete(*usage.answer);
  if (usage.complete) usage.complete();
  const bool delivered = co_await out.end_stream(wire);
  if (!delivered) co_return;
  // Bounded: the client may already be sending its next request on this connection, and a
  // backend that never ends its body after [DONE] only costs its connection (not pooled).
  ex.deadline(clock::now() + std::chrono::seconds(1), upstream::failure::read_timeout);
  wait_timer w(rec.waited);  // the backend's time, not the gateway's
  for (std::size_t drained = 0; !ex.done() && drained < 64 * 1024;) {
    in.clear();
    if (co_await ex.read_some(in) != upstream::failure::none) break;
    drained += in.size() + 1;
  }
}

// The rest of a JSON answer, noting when its first real byte came (DeepSeek sends blank lines
// first while the request is queued).
boost::asio::awaitable<upstream::failure> read_answer(upstream::exchange& ex, std::string& body,
                                                      const config::backend_config& backend,
                                                      clock::time_point forwarded, request_record& rec) {
  const auto limit = backend.max_response_bytes;
  first_token_deadline(ex, backend, forwarded);
  queue_clock queue;
  while (!ex.done()) {
    const auto before = body.size();
    upstream::failure f;
    {
      wait_timer w(rec.waited);
      f = co_await ex.read_some(body);
    }
    if (f != upstream::failure::none) co_return f;
    if (body.size() > limit) co_return upstream::failure::too_large;  // the exchange discards the connection
    if (!queue.real && body.size() > before) {
      if (trim_leading_whitespace(body).empty()) {
        queue.filler();
      } else {
        queue.first_real(rec);
        stream_deadline(ex, backend, forwarded);
      }
    }
  }
  co_return upstream::failure::none;
}

}  // namespace

boost::asio::awaitable<void> relay_stream(request_context& ctx, forwarded& f, cache_stage& cached, settlement& settle) {
  const auto& backend = ctx.config.backends[f.target->backend_index];
  const auto& upstream_model = f.target->upstream_model;
  usage_watch usage;
  usage.strip = ctx.strip_usage;
  usage.assemble = cached.assembler();
  std::optional<cache::stream_assembler> for_repair;
  if (!usage.assemble && ctx.repairing) usage.assemble = &for_repair.emplace(ctx.config.reasoning_repair.max_bytes);
  // Once per stream: the backend's usage, or an estimate (as the limits make one) when it sent
  // none or the stream did not complete. A complete stream settles before its [DONE].
  // The parsed request is not needed past this point: the estimate is the last thing read from
  // it. A stream lasts minutes and a prompt may be hundreds of kilobytes (the client's bytes and
  // their tape): they go now, not when the stream ends.
  const auto prompt_estimate = ctx.chat->prompt_token_estimate();
  ctx.chat.reset();
  http::header_list().swap(ctx.req.headers);  // nor are the client's header fields (the record has what it needs)
  auto settle_now = [&] {
    if (usage.found) settle.used(*usage.found, upstream_model);
    else settle.estimate(prompt_estimate, usage.chunks, upstream_model);
    settle.close();
  };
  usage.complete = [&] {
    if (ctx.repairing && usage.answer)
      ctx.services.reasoning->remember(ctx.caller.who.owner, *usage.answer, std::chrono::system_clock::now());
    settle_now();
  };
  auto& ex = *f.ex;
  co_await pump_stream(ex, ctx.out, ctx.route_of, backend, usage, cached, ctx.rec, ctx.services.metrics.get(), f.sent_at);
  settle_now();  // the client left, or the stream failed (a no-op after a complete stream)
}

boost::asio::awaitable<void> relay_json(request_context& ctx, forwarded& f, cache_stage& cached, settlement& settle) {
  const auto& backend = ctx.config.backends[f.target->backend_index];
  auto& rec = ctx.rec;
  std::string body;
  auto& ex = *f.ex;
  auto read = co_await read_answer(ex, body, backend, f.sent_at, rec);
  rec.upstream = clock::now() - f.sent_at;
  if (read == upstream::failure::abandoned) co_return;
  if (read == upstream::failure::none && !is_json_object(body)) read = upstream::failure::bad_response;
  if (read != upstream::failure::none) {
    rec.upstream_error = upstream::to_string(read);
    const auto e = error_from_failure(read, backend.name);
    co_return co_await fail(ctx.out, e, rec, ctx.route_of.dialect);
  }
  body.erase(0, body.size() - trim_leading_whitespace(body).size());  // DeepSeek's queue blank lines
  redact(body, backend.api_key);
  if (auto u = limits::find_usage(body)) settle.used(*u, f.target->upstream_model);
  else if (ctx.route_of.kind == request_kind::count_tokens) settle.refund();  // counting generates nothing
  // Into the cache before the answer goes out, so that once the client has it every identical
  // request finds it stored (not still in flight); it costs microseconds against the model's time.
  if (cached.wants_answer()) {
    if (ctx.route_of.kind == request_kind::chat && cache::storable_answer(body)) cached.complete(body);
    else if (ctx.route_of.kind == request_kind::embeddings && cache::storable_embeddings(body)) cached.complete_plain(body);
  }
  if (ctx.repairing && body.find("\"tool_calls\"") != std::string::npos)
    ctx.services.reasoning->remember(ctx.caller.who.owner, body, std::chrono::system_clock::now());
  // Settled before the answer goes out: once the client has it, its next request sees this one's
  // spend and tokens (and its concurrency slot free).
  settle.close();
  http::response res{200, "application/json", {}, std::move(body)};
  co_await ctx.out.send(std::move(res));
}

}  // namespace deepgate::api
