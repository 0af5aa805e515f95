#include "deepgate/api/request_context.hpp"

#include "deepgate/core/strings.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace deepgate::api {

std::optional<http::api_error> request_context::authenticate() {
  // A request with a body was authenticated on its head (make_head_check): that answer is used,
  // unless the key table was replaced (a revocation) or the key expired while the body came in.
  const auto now = core::unix_seconds();
  auto prior = std::static_pointer_cast<const auth::authenticator::result>(std::move(req.head_state));
  if (prior && prior->who.key && prior->table == services.auth->table() &&
      auth::state_at(*prior->who.key, now) == auth::key_state::valid)
    caller = *prior;
  else caller = services.auth->authenticate(req.headers, now);
  if (caller.who.key) rec.key_id = caller.who.key->id;
  rec.owner = caller.who.owner;
  return caller.error;
}

std::optional<http::api_error> request_context::parse() {
  // The parsed request takes the body: it forwards the client's bytes.
  auto parsed = chat_request::parse(std::move(req.body), config.server.max_json_depth, config.server.max_json_values,
                                    route_of.kind);
  req.body = std::string();
  if (!parsed) return parsed.error();
  chat.emplace(std::move(*parsed));
  rec.stream = chat->stream();
  return std::nullopt;
}

std::optional<http::api_error> request_context::route() {
  model = config.find_model(chat->model());
  if (!model || (caller.who.key && !auth::model_allowed(*caller.who.key, chat->model()))) {
    rec.model = observability::request_record::other_model;
    return http::not_found("The model '" + chat->model() + "' does not exist or you do not have access to it.",
                           "model_not_found");  // before any backend's own name mapping could widen it
  }
  // Only backends that serve this route: a model none of whose backends does is refused here,
  // never forwarded for the backend to 404.
  auto serves = [&](const config::model_target& t) { return config.backends[t.backend_index].serves(route_of.name); };
  if (std::none_of(model->targets.begin(), model->targets.end(), serves) &&
      std::none_of(model->fallback.begin(), model->fallback.end(), serves)) {
    rec.model = snap->model_labels[static_cast<std::size_t>(model - config.models.data())];
    return http::invalid_request("The model '" + chat->model() + "' is not served for " + std::string(route_of.name) +
                                     ": its backends do not offer that API.",
                                 "model", "model_not_supported");
  }
  // The operator's fields for this name (a legacy alias's thinking mode, say) before anything
  // reads the request: never model, messages or stream.
  const auto index = static_cast<std::size_t>(model - config.models.data());
  if (const auto& patch = snap->model_patches[index]) chat->apply_fields(*patch);
  rec.model = snap->model_labels[index];
  rec.backend = snap->backends[model->backend_index]->label;
  primary = &config.backends[model->backend_index];
  if (services.access_log && config.log.access.prompt_sha256) rec.prompt_sha256 = chat->prompt_sha256();
  // The reasoning repair puts back what the client dropped, before the request is keyed or sent.
  repairing = services.reasoning && config.reasoning_repair.enabled && chat->has_tools();
  if (repairing) {
    const auto owner = caller.who.owner;
    const auto now = std::chrono::system_clock::now();
    if (int n = chat->restore_reasoning([&](std::string_view id) { return services.reasoning->recall(owner, id, now); }))
      spdlog::debug("request {}: reasoning_content restored in {} assistant turns", rec.request_id, n);
  }
  // Usage feeds the token limits, the metrics and the access log: streams always ask for it, and
  // the usage chunk the client did not ask for is removed before it sees it.
  if (chat->stream() && !chat->include_usage() && chat->takes_stream_options()) {
    chat->request_usage();
    strip_usage = true;
  }
  return std::nullopt;
}

}  // namespace deepgate::api
