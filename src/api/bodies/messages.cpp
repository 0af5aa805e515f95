#include "body.hpp"

#include <algorithm>
#include <tuple>

namespace deepgate::api::body {
namespace {
using http::invalid_request;

// POST /v1/messages (and count_tokens) as Anthropic's API reference has it: `max_tokens` required
// (not for count_tokens), `messages` a non-empty array of user/assistant turns whose content is a
// string or an array of typed blocks, `system` a string or blocks, temperature from 0 to 1.
// Anthropic's own wording ("messages: Field required") where it has one.
std::optional<api_error> validate_messages(const json& body, chat_request::impl& out, bool counting) {
  if (!body.is_object())
    return invalid_request("The request body must be a JSON object, got " + type_name(body) + ".", {}, "invalid_body");
  if (auto e = find_redirecting_key(body)) return e;
  auto model = body.find("model");
  if (model == body.end() || model->is_null()) return invalid_request("model: Field required", "model", "missing_required_parameter");
  if (!model->is_string() || model->str().empty())
    return invalid_request("model: Input should be a non-empty string", "model", "invalid_value");
  out.model = model->get<std::string>();
  if (!counting) {
    auto mt = body.find("max_tokens");
    if (mt == body.end() || mt->is_null())
      return invalid_request("max_tokens: Field required", "max_tokens", "missing_required_parameter");
    if (auto e = check_integer(body, "max_tokens", 1, 1LL << 31)) return e;
  }
  auto messages = body.find("messages");
  if (messages == body.end() || messages->is_null())
    return invalid_request("messages: Field required", "messages", "missing_required_parameter");
  if (!messages->is_array()) return wrong_type("messages", *messages, "an array");
  if (messages->empty()) return invalid_request("messages: at least one message is required", "messages", "empty_array");
  std::size_t i = 0;
  for (const auto& m : *messages) {
    const auto p = "messages." + std::to_string(i);
    if (!m.is_object()) return wrong_type(p, m, "an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string() || (*role != "user" && *role != "assistant"))
      return invalid_request(p + ".role: Input should be 'user' or 'assistant'", p + ".role", "invalid_value");
    auto content = m.find("content");
    if (content == m.end() || content->is_null())
      return invalid_request(p + ".content: Field required", p + ".content", "missing_required_parameter");
    if (content->is_array()) {
      std::size_t k = 0;
      for (const auto& block : *content) {
        if (!block.is_object() || !block.contains("type") || !block["type"].is_string())
          return invalid_request(p + ".content." + std::to_string(k) + ".type: Field required",
                                 p + ".content." + std::to_string(k) + ".type", "missing_required_parameter");
        ++k;
      }
    } else if (!content->is_string()) {
      return wrong_type(p + ".content", *content, "a string or an array of content blocks");
    }
    ++i;
  }
  if (auto sys = body.find("system"); sys != body.end() && !sys->is_null() && !sys->is_string() && !sys->is_array())
    return wrong_type("system", *sys, "a string or an array of text blocks");
  if (counting) {
    if (auto st = body.find("stream"); st != body.end() && !st->is_null() && *st != false)
      return invalid_request("stream: Extra inputs are not permitted", "stream", "invalid_value");
  } else if (auto e = check_stream(body, out, false)) {
    return e;
  }
  for (auto [name, lo, hi] : {std::tuple{"temperature", 0.0, 1.0}, std::tuple{"top_p", 0.0, 1.0}})
    if (auto e = check_number(body, name, lo, hi)) return e;
  if (auto e = check_integer(body, "top_k", 0, 1LL << 31)) return e;
  if (auto ss = body.find("stop_sequences"); ss != body.end() && !ss->is_null()) {
    if (!ss->is_array()) return wrong_type("stop_sequences", *ss, "an array of strings");
    for (const auto& x : *ss)
      if (!x.is_string()) return wrong_type("stop_sequences", x, "a string");
  }
  if (auto t = body.find("tools"); t != body.end() && !t->is_null() && !t->is_array()) return wrong_type("tools", *t, "an array");
  if (auto md = body.find("metadata"); md != body.end() && !md->is_null() && !md->is_object())
    return wrong_type("metadata", *md, "an object");
  return std::nullopt;
}


std::optional<api_error> validate_message(const json& body, chat_request::impl& out) { return validate_messages(body, out, false); }
std::optional<api_error> validate_count(const json& body, chat_request::impl& out) { return validate_messages(body, out, true); }

std::int64_t estimate(const json& b) {
  text_size t;
  t.add_member(b, "messages");
  t.add_member(b, "system");
  t.add_dump(b, "tools");
  return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 4 * b.at("messages").size() + 3);
}

}  // namespace

}  // namespace deepgate::api::body

namespace deepgate::api {
// Anthropic's Messages API, and its token counting (nothing generated).
const body_schema messages_body{.validate = body::validate_message,
                                .prompt_estimate = body::estimate,
                                .prompt_member = "messages",
                                .user_field = body_schema::user_id_place::metadata};
const body_schema count_tokens_body{.validate = body::validate_count,
                                    .prompt_estimate = body::estimate,
                                    .prompt_member = "messages",
                                    .generates = false};
}  // namespace deepgate::api
