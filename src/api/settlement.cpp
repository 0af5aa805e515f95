#include "deepgate/api/settlement.hpp"

#include "deepgate/api/cache_stage.hpp"
#include "deepgate/api/request_context.hpp"

namespace deepgate::api {

void settlement::refund() {
  if (first()) ticket_.refund();
}

void settlement::hit(const std::optional<limits::usage>& u) {
  if (!first()) return;
  if (u) ticket_.record(*u);
  else ticket_.refund();
}

void settlement::used(const limits::usage& u, std::string_view upstream_model) {
  if (!first()) return;
  rec_.usage = u;
  if (auto p = config_.prices.find(upstream_model); p != config_.prices.end()) {
    const auto applied = p->second.at(rec_.time);  // the request's time, as DeepSeek bills it
    rec_.cost_nano_usd = limits::cost(u, *applied.rates);
    rec_.cost_usd = static_cast<double>(rec_.cost_nano_usd) / core::nano_per_usd;
    rec_.price_tier = applied.tier;
  }
  if (!u.estimated) ticket_.record(u);
}

void settlement::estimate(std::int64_t prompt_tokens, std::int64_t relayed_events, std::string_view upstream_model) {
  if (settled_) return;
  ticket_.record_estimate(relayed_events);
  limits::usage e;
  e.prompt = e.cache_miss = prompt_tokens;
  e.completion = relayed_events;
  e.estimated = true;
  used(e, upstream_model);
}

// GCC 12 destroys temporaries inside co_await expressions twice: awaited calls take named locals.
boost::asio::awaitable<std::optional<http::api_error>> admit(request_context& ctx, const cache_stage& cached,
                                                            const std::optional<limits::usage>& hit_usage,
                                                            settlement& settle) {
  if (!ctx.snap->limits_apply) co_return std::nullopt;
  const auto& chat = *ctx.chat;
  limits::request_info info{ctx.caller.who.owner, ctx.caller.who.key, chat.model(), ctx.model->upstream_model, 0, 0};
  if (ctx.snap->tracks_usage && cached.hit) {
    // A hit counts as a request (and holds a concurrency slot while answered); its tokens count
    // only with cache.hits_count_tokens.
    info.prompt_estimate = hit_usage ? hit_usage->prompt : 0;
    info.completion_reserve = hit_usage ? hit_usage->completion : 0;
  } else if (ctx.snap->tracks_usage) {
    // max_tokens covers reasoning and answer together, as DeepSeek counts them.
    info.prompt_estimate = chat.prompt_token_estimate();
    info.completion_reserve = chat.completion_reserve(static_cast<std::int64_t>(ctx.config.limits.default_max_tokens));
  }
  auto admitted = co_await ctx.services.limits->admit(ctx.req.worker, info, ctx.config);
  for (auto& h : admitted.headers) ctx.out.add_header(std::move(h.name), std::move(h.value));
  settle.hold(std::move(admitted.held));
  if (admitted.error) ctx.rec.refused = observability::kind_of(admitted.refused);
  co_return admitted.error;
}

}  // namespace deepgate::api
