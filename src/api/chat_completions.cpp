#include "deepgate/api/chat_completions.hpp"

#include "deepgate/api/cache_stage.hpp"
#include "deepgate/api/forward.hpp"
#include "deepgate/api/relay.hpp"
#include "deepgate/api/request_context.hpp"
#include "deepgate/api/settlement.hpp"

namespace deepgate::api {

namespace {

// Counts a model request in its worker's load while it lasts (server.max_requests_in_flight).
class load_slot {
 public:
  load_slot(gateway_services& svc, unsigned worker)
      : n_(worker < svc.load.size() ? &svc.load[worker].model_requests : nullptr) {}
  ~load_slot() {
    if (n_ && taken_) --*n_;
  }
  load_slot(const load_slot&) = delete;
  load_slot& operator=(const load_slot&) = delete;
  // False when the worker already handles `cap` model requests: this one is shed.
  bool take(std::size_t cap) {
    if (!n_) return true;
    if (*n_ >= cap) return false;
    ++*n_;
    return taken_ = true;
  }

 private:
  std::size_t* n_;
  bool taken_ = false;
};

http::api_error overloaded() {
  auto e = http::server_error(503, "The gateway is handling as many requests as it is configured to; retry shortly.",
                              "server_overloaded");
  e.retry_after = std::chrono::seconds(1);
  return e;
}

}  // namespace

// The journey of docs/architecture.md, one stage a step. Each stage either fills in the request
// context or says what the client gets instead; settling the limits is the settlement's, once,
// on every path. GCC 12 destroys temporaries inside co_await expressions twice, so every awaited
// call takes named locals (see docs/development.md).
boost::asio::awaitable<void> model_request(http::request& req, http::response_writer& out, gateway_services& services,
                                           observability::request_record& rec, const route_spec& spec) {
  request_context ctx(services, req, out, rec, spec);

  // 0. shed: a worker already handling server.max_requests_in_flight model requests answers 503
  // at once, before spending anything on the key or the body.
  // 1. authenticate  2. parse + validate  3. route (the model the key may use, its fields).
  // One error slot for every refusal: a coroutine's frame keeps each local for as long as the
  // request lasts (a stream: minutes).
  load_slot slot(services, req.worker);
  std::optional<http::api_error> refused =
      slot.take(ctx.config.server.max_requests_in_flight) ? ctx.authenticate() : overloaded();
  if (!refused) refused = ctx.parse();
  if (!refused) refused = ctx.route();
  if (refused) co_return co_await fail(out, *refused, rec, spec.dialect);

  // 4. cache lookup: a stored answer, or the answer of an identical request already in flight
  auto cached = co_await look_up(ctx);
  if (cached.error) co_return co_await fail(out, *cached.error, rec, spec.dialect);
  rec.cache = cached.verdict;
  std::optional<limits::usage> hit_usage;
  if (cached.hit && ctx.config.cache.hits_count_tokens)
    hit_usage = limits::find_usage(cache::split_stored(*cached.hit->value)->body);

  // 5. admit against the caller's limits; settled exactly once from here on, on every path
  settlement settle(rec, ctx.config);
  refused = co_await admit(ctx, cached, hit_usage, settle);
  if (refused) co_return co_await fail(out, *refused, rec, spec.dialect);
  // From here every answer says what the cache did (a refusal above was not the cache's answer).
  if (cached.verdict != observability::cache_result::none)
    out.add_header("x-deepgate-cache", std::string(observability::to_string(cached.verdict)));
  if (cached.hit) {
    settle.hit(hit_usage);
    co_return co_await send_hit(out, *cached.hit, ctx.chat->stream(), ctx.chat->include_usage());
  }

  // 6. forward to the first backend in line that answers (failover, retries, the backend's
  // concurrency budget). A client that hangs up while the backend thinks (DeepSeek may queue for
  // minutes) frees its slots and the backend connection at once.
  forwarded f;
  out.watch_hangup([&f] { f.client_gone(); });
  out.on_drain_deadline([&f] { f.shutting_down(); });
  co_await forward(ctx, f);
  if (f.abandoned) {
    if (!f.ex || !f.ex->sent()) settle.refund();
    co_return;  // nobody is there to answer
  }
  if (f.error) {
    settle.refund();  // refused, or never reached a model: no tokens were generated
    co_return co_await fail(out, *f.error, rec, spec.dialect);
  }

  // 7. relay the answer; the settlement hears what it used before the client gets the end
  if (f.head.event_stream()) co_return co_await relay_stream(ctx, f, cached, settle);
  co_await relay_json(ctx, f, cached, settle);
}

}  // namespace deepgate::api
