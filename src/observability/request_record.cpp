#include "deepgate/observability/request_record.hpp"

namespace deepgate::observability {

std::string_view to_string(route r) {
  switch (r) {
    case route::chat_completions: return "chat_completions";
    case route::models: return "models";
    case route::health: return "health";
    case route::embeddings: return "embeddings";
    case route::completions: return "completions";
    case route::responses: return "responses";
    case route::messages: return "messages";
    case route::count_tokens: return "count_tokens";
    case route::other: break;
  }
  return "other";
}

std::string_view to_string(cache_result c) {
  switch (c) {
    case cache_result::hit: return "hit";
    case cache_result::miss: return "miss";
    case cache_result::bypass: return "bypass";
    case cache_result::none: break;
  }
  return "none";
}

std::string_view to_string(refusal_kind k) {
  switch (k) {
    case refusal_kind::requests: return "requests";
    case refusal_kind::tokens: return "tokens";
    case refusal_kind::concurrency: return "concurrency";
    case refusal_kind::budget: return "budget";
    case refusal_kind::backend_busy: return "backend_busy";
    case refusal_kind::limiter_unavailable: return "limiter_unavailable";
    case refusal_kind::none: break;
  }
  return "none";
}

refusal_kind kind_of(limits::refusal r) {
  switch (r) {
    case limits::refusal::requests: return refusal_kind::requests;
    case limits::refusal::tokens:
    case limits::refusal::tokens_too_large: return refusal_kind::tokens;
    case limits::refusal::concurrency: return refusal_kind::concurrency;
    case limits::refusal::daily_budget:
    case limits::refusal::monthly_budget: return refusal_kind::budget;
    case limits::refusal::unavailable: return refusal_kind::limiter_unavailable;
    case limits::refusal::none: break;
  }
  return refusal_kind::none;
}

std::string_view upstream_status_reason(unsigned status) {
  switch (status) {
    case 400: return "http_400";
    case 401: return "http_401";
    case 402: return "http_402";
    case 403: return "http_403";
    case 404: return "http_404";
    case 422: return "http_422";
    case 429: return "http_429";
    case 500: return "http_500";
    case 502: return "http_502";
    case 503: return "http_503";
    case 504: return "http_504";
    default: return status >= 500 ? "http_5xx_other" : "http_4xx_other";
  }
}

}  // namespace deepgate::observability
