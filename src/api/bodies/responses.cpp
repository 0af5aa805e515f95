#include "body.hpp"

#include <algorithm>
#include <tuple>

namespace deepgate::api::body {
namespace {
using http::invalid_request;

// POST /responses as OpenAI's API reference has it, stateless: `input` a string or an array of
// items; the fields that name state the gateway does not keep (previous_response_id,
// conversation, background) are refused with a clear error instead of a backend's 404 later.
std::optional<api_error> validate_responses(const json& body, chat_request::impl& out) {
  if (auto e = validate_common(body, out)) return e;
  for (auto name : {"previous_response_id", "conversation"})
    if (auto it = body.find(name); it != body.end() && !it->is_null())
      return invalid_request(std::string("'") + name +
                                 "' is not supported: deepgate keeps no responses (requests are balanced across "
                                 "backends, and DeepSeek's Responses API is stateless). Send the whole conversation "
                                 "in 'input'.",
                             name, "unsupported_parameter");
  if (auto b = body.find("background"); b != body.end() && b->is_boolean() && b->get<bool>())
    return invalid_request("'background' is not supported: deepgate keeps no responses to retrieve later.", "background",
                           "unsupported_parameter");
  auto input = body.find("input");
  if (input == body.end() || input->is_null())
    return invalid_request("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  if (input->is_array()) {
    if (input->empty()) return invalid_request("'input' cannot be an empty array.", "input", "invalid_value");
    std::size_t i = 0;
    for (const auto& item : *input) {
      if (!item.is_object()) return wrong_type("input[" + std::to_string(i) + "]", item, "an object");
      ++i;
    }
  } else if (!input->is_string()) {
    return wrong_type("input", *input, "a string or an array");
  }
  if (auto i = body.find("instructions"); i != body.end() && !i->is_null() && !i->is_string())
    return wrong_type("instructions", *i, "a string");
  if (auto e = check_stream(body, out, false)) return e;
  for (auto [name, lo, hi] : {std::tuple{"temperature", 0.0, 2.0}, std::tuple{"top_p", 0.0, 1.0}})
    if (auto e = check_number(body, name, lo, hi)) return e;
  if (auto e = check_integer(body, "max_output_tokens", 1, 1LL << 31)) return e;
  if (auto t = body.find("tools"); t != body.end() && !t->is_null() && !t->is_array()) return wrong_type("tools", *t, "an array");
  return std::nullopt;
}


std::int64_t estimate(const json& b) {
  text_size t;
  t.add_member(b, "input");
  t.add_member(b, "instructions");
  t.add_dump(b, "tools");
  const auto& input = b.at("input");
  const std::size_t items = input.is_array() ? input.size() : 1;
  return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 4 * items + 3);
}

}  // namespace

}  // namespace deepgate::api::body

namespace deepgate::api {
const body_schema responses_body{.validate = body::validate_responses,
                                 .prompt_estimate = body::estimate,
                                 .prompt_member = "input"};
}  // namespace deepgate::api
