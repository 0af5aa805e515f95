#include "body.hpp"

#include <algorithm>
#include <tuple>

namespace deepgate::api::body {
namespace {
using http::invalid_request;

// POST /embeddings, as OpenAI's API reference has it: `input` a non-empty string, or an array (at
// most 2048) of non-empty strings, of token ids, or of non-empty token-id arrays; `encoding_format`
// float or base64; `dimensions` a positive integer. Never streamed.
std::optional<api_error> validate_embeddings(const json& body, chat_request::impl& out) {
  if (auto e = validate_common(body, out)) return e;
  auto input = body.find("input");
  if (input == body.end() || input->is_null())
    return invalid_request("You must provide an input parameter.", "input", "missing_required_parameter");
  auto empty_string = [](const json& v) { return v.is_string() && v.str().empty(); };
  auto token = [](const json& v) { return v.is_number_integer() && v.get<long long>() >= 0; };
  if (input->is_string()) {
    if (empty_string(*input)) return invalid_request("'input' cannot be an empty string.", "input", "invalid_value");
  } else if (input->is_array()) {
    if (input->empty()) return invalid_request("'input' cannot be an empty array.", "input", "invalid_value");
    if (input->size() > 2048)
      return invalid_request("'input' holds " + std::to_string(input->size()) + " items; the most is 2048.", "input",
                             "invalid_value");
    const bool tokens = token(input->front());
    std::size_t i = 0;
    for (const auto& v : *input) {
      const auto where = "input[" + std::to_string(i) + "]";
      const bool ok = tokens ? token(v)
                             : (v.is_string() && !empty_string(v)) ||
                                   (v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), token));
      if (!ok)
        return invalid_request("Invalid value for '" + where + "': expected " +
                                   (tokens ? "a token id (a whole number)" : "a non-empty string or an array of token ids") +
                                   ", as the rest of 'input'.",
                               where, "invalid_value");
      ++i;
    }
  } else {
    return wrong_type("input", *input, "a string or an array");
  }
  if (auto f = body.find("encoding_format"); f != body.end() && !f->is_null()) {
    if (!f->is_string()) return wrong_type("encoding_format", *f, "a string");
    if (*f != "float" && *f != "base64")
      return invalid_request("Invalid value: '" + f->get<std::string>() + "'. Supported values are: 'float' and 'base64'.",
                             "encoding_format", "invalid_value");
  }
  if (auto e = check_integer(body, "dimensions", 1, 1 << 20)) return e;
  if (auto s = body.find("stream"); s != body.end() && !s->is_null() && *s != false)
    return invalid_request("Embeddings are not streamed: 'stream' is not allowed here.", "stream", "invalid_value");
  return std::nullopt;
}


std::int64_t estimate(const json& b) {
  text_size t;
  const auto& input = b.at("input");
  if (input.is_array()) {
    for (const auto& v : input) v.is_array() ? void(t.tokens += v.size()) : t.add(v);
  } else {
    t.add(input);
  }
  return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 1);
}

}  // namespace

}  // namespace deepgate::api::body

namespace deepgate::api {
const body_schema embeddings_body{.validate = body::validate_embeddings,
                                  .prompt_estimate = body::estimate,
                                  .prompt_member = "input",
                                  .generates = false,
                                  .determinism = body_schema::same_answer::always};
}  // namespace deepgate::api
