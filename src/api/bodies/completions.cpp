#include "body.hpp"

#include <algorithm>
#include <tuple>

namespace deepgate::api::body {
namespace {
using http::invalid_request;

// POST /completions as OpenAI's legacy API and DeepSeek's FIM (beta) take it: `prompt` a string,
// an array of strings, of token ids, or of token-id arrays; `suffix` a string (the text after the
// gap); logprobs an integer up to 20; echo a boolean.
std::optional<api_error> validate_completions(const json& body, chat_request::impl& out) {
  if (auto e = validate_common(body, out)) return e;
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null())
    return invalid_request("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
  auto token = [](const json& v) { return v.is_number_integer() && v.get<long long>() >= 0; };
  if (prompt->is_array()) {
    if (prompt->empty()) return invalid_request("'prompt' cannot be an empty array.", "prompt", "invalid_value");
    std::size_t i = 0;
    for (const auto& v : *prompt) {
      if (!v.is_string() && !token(v) && !(v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), token)))
        return invalid_request("Invalid value for 'prompt[" + std::to_string(i) +
                                   "]': expected a string, a token id or an array of token ids.",
                               "prompt[" + std::to_string(i) + "]", "invalid_value");
      ++i;
    }
  } else if (!prompt->is_string()) {
    return wrong_type("prompt", *prompt, "a string or an array");
  }
  if (auto sfx = body.find("suffix"); sfx != body.end() && !sfx->is_null() && !sfx->is_string())
    return wrong_type("suffix", *sfx, "a string");
  if (auto e = check_stream(body, out, true)) return e;
  if (auto e = check_sampling(body)) return e;
  for (auto [name, lo, hi] : {std::tuple{"logprobs", 0LL, 20LL}, std::tuple{"best_of", 1LL, 20LL}})
    if (auto e = check_integer(body, name, lo, hi)) return e;
  return check_bool(body, "echo");
}


std::int64_t estimate(const json& b) {
  text_size t;
  t.add_member(b, "prompt");
  t.add_member(b, "suffix");
  return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 3);
}

}  // namespace

}  // namespace deepgate::api::body

namespace deepgate::api {
const body_schema completions_body{.validate = body::validate_completions,
                                   .prompt_estimate = body::estimate,
                                   .prompt_member = "prompt",
                                   .stream_options = true,
                                   .determinism = body_schema::same_answer::sampled};
}  // namespace deepgate::api
