#include "deepgate/api/router.hpp"
#include "deepgate/core/strings.hpp"

#include "deepgate/api/chat_completions.hpp"
#include "deepgate/api/models.hpp"
#include "deepgate/api/request_id.hpp"
#include "deepgate/api/usage.hpp"

#include <chrono>

namespace deepgate::api {
namespace {

using observability::request_record;

// An error answer, its code noted for the record, in the dialect of the path's clients.
http::response error_answer(request_record& rec, const http::api_error& e,
                            http::error_dialect dialect = http::error_dialect::openai) {
  rec.error_code = e.code;
  return http::error_response(e, dialect);
}

http::response method_not_allowed(request_record& rec, const http::request& req, std::string_view allow,
                                  http::error_dialect dialect = http::error_dialect::openai) {
  auto r = error_answer(rec, http::invalid_request("Method " + req.method + " is not allowed on " + req.path +
                                                       ". Use " + std::string(allow) + ".",
                                                   {}, "method_not_allowed", 405),
                        dialect);
  r.headers.push_back({"allow", std::string(allow)});
  return r;
}

http::response status_body(unsigned status, std::string_view text) {
  return http::response{status, "application/json", {}, "{\"status\":\"" + std::string(text) + "\"}"};
}

// X-Forwarded-For as one list: HAProxy's `option forwardfor` adds its own line after the client's
// rather than appending to it, and lines of a list field combine in order (RFC 9110 5.3), so
// reading only the first line would believe whatever the client wrote there.
// The common single line is returned as it is; only several lines are joined into `joined`.
std::string_view forwarded_for(const http::request& req, std::string& joined) {
  const http::header* first = nullptr;
  for (const auto& h : req.headers) {
    if (h.name != "x-forwarded-for") continue;
    if (!first) {
      first = &h;
      continue;
    }
    if (joined.empty()) joined = first->value;
    joined += ", ";
    joined += h.value;
  }
  if (!joined.empty()) return joined;
  return first ? std::string_view(first->value) : std::string_view();
}

// The request's record, settled on every path (answers, errors, client hang-ups, shutdown): the
// metrics and the access-log line are written when the route's coroutine ends.
class request_scope {
 public:
  request_scope(gateway_services& svc, const http::request& req, http::response_writer& out)
      : svc_(svc), out_(out), worker_(req.worker) {
    rec.start = request_record::clock::now();
    rec.time = std::chrono::system_clock::now();
    if (svc_.access_log) {
      std::string joined;
      rec.client = observability::client_address(req.peer, forwarded_for(req, joined), svc_.proxies);
    }
    if (svc_.metrics) svc_.metrics->request_started();
  }
  ~request_scope() {
    rec.total = request_record::clock::now() - rec.start;
    rec.waited += out_.write_time();
    rec.status = out_.status();
    if (out_.client_gone() || rec.status == 0) {
      if (rec.status == 0) rec.status = 499;  // nothing was answered: the client left first
      if (rec.error_code.empty()) rec.error_code = "client_closed_request";
    }
    if (svc_.metrics) svc_.metrics->request_finished(rec);
    if (svc_.access_log) svc_.access_log->write(rec, worker_);
    record_usage(svc_, rec, worker_);
  }
  request_scope(const request_scope&) = delete;
  request_scope& operator=(const request_scope&) = delete;

  request_record rec;

 private:
  gateway_services& svc_;
  http::response_writer& out_;
  unsigned worker_;
};

// Every route but a model request's. A coroutine of its own, so that its locals are not in the
// frame of route(), which a model request (a stream: minutes) keeps alive.
boost::asio::awaitable<void> other_route(gateway_services& svc, http::request& req, http::response_writer& out,
                                         request_record& rec, const route_spec* spec) {
  // GCC 12 destroys temporaries inside co_await expressions twice: build responses as named
  // locals, then await with them (see docs/development.md).
  const auto& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  http::response res;
  if (spec) {  // a model route, not POSTed
    res = method_not_allowed(rec, req, "POST", spec->dialect);
  } else if (p == "/v1/models" || p == "/models" || p.starts_with("/v1/models/") || p.starts_with("/models/")) {
    rec.path = observability::route::models;
    auto who = svc.auth->authenticate(req.headers, core::unix_seconds());
    if (who.who.key) rec.key_id = who.who.key->id;
    rec.owner = who.who.owner;
    if (!get) res = method_not_allowed(rec, req, "GET");
    else if (who.error) res = error_answer(rec, *who.error);
    else if (p.ends_with("/models")) res = list_models(*svc.snapshots.current(req.worker)->config, who.who.key);
    else
      res = retrieve_model(*svc.snapshots.current(req.worker)->config, who.who.key,
                           std::string_view(p).substr(p.find("/models/") + 8));
  } else if (p == "/v1/usage" || p == "/usage") {
    rec.path = observability::route::other;
    if (!get) res = method_not_allowed(rec, req, "GET");
    else res = co_await self_usage(svc, req, rec);
  } else if (p == "/healthz") {
    rec.path = observability::route::health;
    res = get ? status_body(200, "ok") : method_not_allowed(rec, req, "GET");
  } else if (p == "/readyz") {
    rec.path = observability::route::health;
    bool ready = svc.ready.load(std::memory_order_relaxed);
    res = get ? status_body(ready ? 200 : 503, ready ? "ready" : "draining") : method_not_allowed(rec, req, "GET");
  } else {
    res = error_answer(rec,
                       http::not_found("Unknown request URL: " + req.method + " " + p + ". Please check the URL for typos.",
                                       "unknown_url"),
                       http::error_dialect_for_path(p));
  }
  co_await out.send(std::move(res));
}

boost::asio::awaitable<void> route(gateway_services& svc, http::request& req, http::response_writer& out) {
  request_scope scope(svc, req, out);
  auto& rec = scope.rec;
  auto incoming = req.header("x-request-id");
  rec.request_id = valid_request_id(incoming) ? std::string(incoming) : new_request_id();
  out.add_header("x-request-id", rec.request_id);
  const auto* spec = route_for_path(req.path);  // the model routes: chat, embeddings, completions, ...
  if (spec) rec.path = spec->label;
  if (spec && req.method == "POST") co_await model_request(req, out, svc, rec, *spec);
  else co_await other_route(svc, req, out, rec, spec);
}

}  // namespace

http::head_check make_head_check(gateway_services& services) {
  return [&services](http::request& req) -> std::optional<http::api_error> {
    // A request without a body costs nothing to read: its route answers it, as before.
    const auto length = req.header("content-length");
    if (req.header("transfer-encoding").empty() && (length.empty() || length == "0")) return std::nullopt;
    auto who = services.auth->authenticate(req.headers, core::unix_seconds());
    if (!who.error) {  // the handler takes it from here (request_context::authenticate)
      req.head_state = std::make_shared<const auth::authenticator::result>(std::move(who));
      return std::nullopt;
    }
    request_record rec;
    rec.start = request_record::clock::now();
    rec.time = std::chrono::system_clock::now();
    rec.request_id = new_request_id();
    const auto* spec = route_for_path(req.path);
    rec.path = spec ? spec->label : observability::route::other;
    if (who.who.key) rec.key_id = who.who.key->id;
    rec.owner = who.who.owner;
    rec.status = who.error->status;
    rec.error_code = who.error->code;
    if (services.access_log) {
      std::string joined;
      rec.client = observability::client_address(req.peer, forwarded_for(req, joined), services.proxies);
    }
    if (services.metrics) {
      services.metrics->request_started();
      services.metrics->request_finished(rec);
    }
    if (services.access_log) services.access_log->write(rec, req.worker);
    return who.error;
  };
}

http::handler make_router(gateway_services& services) {
  return [&services](http::request& req, http::response_writer& out) { return route(services, req, out); };
}

}  // namespace deepgate::api
