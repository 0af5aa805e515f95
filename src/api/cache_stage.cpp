#include "deepgate/api/cache_stage.hpp"

#include "deepgate/api/chat_request.hpp"
#include "deepgate/api/request_context.hpp"

namespace deepgate::api {

namespace {
using observability::cache_result;
}

// What is stored is the answer as a hit returns it (prompt tokens marked cached, JSON and replay
// events), made once here rather than on every hit.
void cache_stage::complete(std::string_view completion) {
  if (cache_) store(cache::make_stored(completion));
}

void cache_stage::complete_plain(std::string_view body) {
  if (cache_) store(cache::make_stored_body(body));
}

void cache_stage::store(std::string answer) {
  if (lead_) {
    lead_->publish(answer);
    lead_.reset();
  }
  if (plan_.store) cache_->put(worker_, std::move(key_), std::move(answer), plan_.ttl);
  cache_ = nullptr;  // once
}

// GCC 12 destroys temporaries inside co_await expressions twice: awaited calls take named locals.
boost::asio::awaitable<cache_stage> look_up(request_context& ctx) {
  auto& s = ctx.services;
  const auto& now = ctx.config;
  const auto& req = ctx.req;
  const auto& chat = *ctx.chat;
  const auto key_id = ctx.caller.who.key_id;
  const auto owner = ctx.caller.who.owner;
  const auto& model = *ctx.model;
  const auto& backend = *ctx.primary;
  auto& rec = ctx.rec;
  cache_stage st;
  if (!s.cache || !ctx.route_of.cached) co_return st;
  const auto& cfg = now.cache;  // the request's snapshot: the policy follows reloads
  auto d = cache::read_directives(req.header("cache-control"), req.header("x-deepgate-cache-ttl"), cfg.max_ttl);
  if (!d) {
    st.error = d.error();
    co_return st;
  }
  st.plan_ = cache::decide(cfg.mode_for(key_id, owner, model.name), chat.deterministic(backend.thinking_by_default), chat.logprobs(), *d, cfg.ttl);
  if (st.plan_.bypass()) {
    st.verdict = cache_result::bypass;
    co_return st;
  }
  st.cache_ = s.cache.get();
  st.worker_ = req.worker;
  // Another route's answer is never this one's, whatever the bodies share (chat keys stay as
  // they were before there were other routes).
  auto material = chat.cache_material(model.upstream_model);
  if (ctx.route_of.kind != request_kind::chat) material.insert(0, std::string(ctx.route_of.upstream_path) + '\n');
  st.key_ = cache::make_key(backend.name, cfg.shared ? std::string_view("*") : owner, material);
  st.verdict = cache_result::miss;
  if (st.plan_.lookup) {
    std::string key = st.key_;
    {
      observability::wait_timer w(rec.waited);  // Redis's time, not the gateway's
      st.hit = co_await st.cache_->get(req.worker, std::move(key));
    }
    if (st.hit && !cache::split_stored(*st.hit->value)) st.hit.reset();  // not in the stored form: a miss
    if (st.hit) {
      st.verdict = cache_result::hit;
      st.cache_ = nullptr;  // nothing to store
      co_return st;
    }
    auto joined = st.cache_->flights().join(st.key_);
    if (joined.leader) {
      st.lead_.emplace(std::move(*joined.leader));
    } else {
      std::optional<std::string> answer;
      {
        observability::wait_timer w(rec.waited);  // the leader's upstream call
        answer = co_await cache::single_flight::wait(joined.follow, cfg.follower_timeout);
      }
      if (s.metrics) s.metrics->cache_follower(answer.has_value());
      if (answer) {
        st.verdict = cache_result::hit;
        st.hit = cache::stored_answer{std::make_shared<const std::string>(std::move(*answer)),
                                      std::chrono::system_clock::now()};
        st.cache_ = nullptr;
        co_return st;
      }
      // The leader failed or is too slow: go upstream; the answer is still stored.
    }
  }
  if ((st.plan_.store || st.lead_) && chat.stream()) st.assembler_.emplace(cfg.max_entry_bytes);
  co_return st;
}

boost::asio::awaitable<void> send_hit(http::response_writer& out, const cache::stored_answer& hit, bool stream,
                                      bool include_usage) {
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - hit.stored);
  out.add_header("age", std::to_string(std::max<std::int64_t>(0, age.count())));
  const auto parts = cache::split_stored(*hit.value);  // checked when it was looked up
  if (!stream) {  // written from the stored answer itself
    http::response res;
    res.body_owner = hit.value;
    res.shared_body = parts->body;
    co_await out.send(std::move(res));
    co_return;
  }
  std::string events;
  events.reserve(parts->events.size() + parts->usage_event.size() + 16);
  events += parts->events;
  if (include_usage) events += parts->usage_event;
  events += "data: [DONE]\n\n";
  if (!co_await out.begin_stream(200, {})) co_return;
  co_await out.end_stream(events);
}

}  // namespace deepgate::api
