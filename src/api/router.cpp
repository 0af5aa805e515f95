#include "deepgate/api/router.hpp"

#include "deepgate/api/chat_completions.hpp"
#include "deepgate/api/models.hpp"
#include "deepgate/api/request_id.hpp"

#include <chrono>

namespace deepgate::api {
namespace {

http::response method_not_allowed(const http::request& req, std::string_view allow) {
  auto r = http::error_response(http::invalid_request(
      "Method " + req.method + " is not allowed on " + req.path + ". Use " + std::string(allow) + ".", {},
      "method_not_allowed", 405));
  r.headers.push_back({"allow", std::string(allow)});
  return r;
}

http::response status_body(unsigned status, std::string_view text) {
  return http::response{status, "application/json", {}, "{\"status\":\"" + std::string(text) + "\"}"};
}

boost::asio::awaitable<void> route(gateway_services& svc, http::request& req, http::response_writer& out) {
  auto incoming = req.header("x-request-id");
  std::string id = valid_request_id(incoming) ? std::string(incoming) : new_request_id();
  out.add_header("x-request-id", id);

  // GCC 12 destroys temporaries inside co_await expressions twice: build responses as named
  // locals, then await with them (see docs/development.md).
  const auto& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  http::response res;
  if (p == "/v1/chat/completions" || p == "/chat/completions") {
    if (req.method == "POST") {
      co_await chat_completions(req, out, svc, id);
      co_return;
    }
    res = method_not_allowed(req, "POST");
  } else if (p == "/v1/models" || p == "/models" || p.starts_with("/v1/models/") || p.starts_with("/models/")) {
    auto who = svc.auth->authenticate(req.headers, unix_now());
    if (!get) res = method_not_allowed(req, "GET");
    else if (who.error) res = http::error_response(*who.error);
    else if (p.ends_with("/models")) res = list_models(*svc.config, who.who.key);
    else res = retrieve_model(*svc.config, who.who.key, std::string_view(p).substr(p.find("/models/") + 8));
  } else if (p == "/healthz") {
    res = get ? status_body(200, "ok") : method_not_allowed(req, "GET");
  } else if (p == "/readyz") {
    bool ready = svc.ready.load(std::memory_order_relaxed);
    res = get ? status_body(ready ? 200 : 503, ready ? "ready" : "draining") : method_not_allowed(req, "GET");
  } else {
    res = http::error_response(http::not_found(
        "Unknown request URL: " + req.method + " " + p + ". Please check the URL for typos.", "unknown_url"));
  }
  co_await out.send(std::move(res));
}

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

http::handler make_router(gateway_services& services) {
  return [&services](http::request& req, http::response_writer& out) { return route(services, req, out); };
}

}  // namespace deepgate::api
