#pragma once
// Usage you can see (docs/usage.md):
//   GET /v1/usage?days=N          with a client key: that key's owner's limits (configured and
//                                 remaining now), budgets (spent today and this month, remaining)
//                                 and the last N days of usage, never another owner's
//   GET /admin/usage?owner=&key=&from=&to=   on the admin listener, with its token: any owner's,
//                                 or every owner with usage in the range
#include "deepgate/api/services.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/observability/request_record.hpp"

#include <boost/asio/awaitable.hpp>

namespace deepgate::redis {
class connection;
}

namespace deepgate::api {

boost::asio::awaitable<http::response> self_usage(gateway_services& svc, const http::request& req,
                                                  observability::request_record& rec);
// `conn`: the admin listener's Redis connection (used when the usage store is Redis).
boost::asio::awaitable<http::response> admin_usage(gateway_services& svc, const http::request& req,
                                                   redis::connection* conn);

// The usage event a finished request's record makes (nullopt: not a model request with an owner).
void record_usage(gateway_services& svc, const observability::request_record& rec, unsigned worker);

}  // namespace deepgate::api
