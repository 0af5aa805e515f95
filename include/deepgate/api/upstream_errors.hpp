#pragma once
// What the client is told when a backend fails or refuses. Sans-io, so every mapping is unit
// tested. The rules:
// - DeepSeek's own answers to the request (400, 404, 422, 429, 500, 503, ...) pass through
//   with their status and message, re-rendered in OpenAI's shape;
// - 401/403 (the gateway's upstream key was refused) and 402 (the operator's balance ran out)
//   are the operator's problem: 502 with a distinct code and none of the backend's text, which
//   may quote the key;
// - redirects are not followed: 502;
// - transport failures: 502, deadlines: 504.
#include "deepgate/http/api_error.hpp"
#include "deepgate/upstream/failure.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::api {

http::api_error error_from_failure(upstream::failure f, std::string_view backend);

// Every string of the backend's error the client sees (message, type, code, param) has `secret`
// (the backend's key) replaced by "[redacted]"; fields the gateway does not know are dropped.
http::api_error error_from_upstream_status(unsigned status, std::string_view body, std::string_view secret,
                                           std::optional<std::chrono::seconds> retry_after);

// Replaces every occurrence of `secret` in `text` with "[redacted]" (a backend that echoes the
// Authorization header would hand the operator's key to the client). Secrets under 8 bytes are
// not searched for: they would match ordinary text. True when something was replaced.
bool redact(std::string& text, std::string_view secret);

// A 200 body that does not look like a JSON object is a backend fault (502), never relayed.
bool is_json_object(std::string_view body);

// Strips the blank lines DeepSeek sends before a queued non-stream body.
std::string_view trim_leading_whitespace(std::string_view body);

}  // namespace deepgate::api
