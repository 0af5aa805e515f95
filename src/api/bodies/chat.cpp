#include "body.hpp"

#include <algorithm>
#include <tuple>

namespace deepgate::api::body {
namespace {
using http::invalid_request;

std::optional<api_error> check_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null())
    return invalid_request("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
  if (!it->is_array()) return wrong_type("messages", *it, "an array");
  if (it->empty())
    return invalid_request("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages",
                           "empty_array");
  static constexpr std::array<std::string_view, 5> roles{"system", "user", "assistant", "tool", "developer"};
  std::size_t i = 0;
  for (const auto& m : *it) {
    // The parameter's path is only spelled out for an error.
    const auto path = [i](std::string_view rest = {}) { return "messages[" + std::to_string(i) + "]" + std::string(rest); };
    if (!m.is_object()) return wrong_type(path(), m, "an object");
    auto role = m.find("role");
    if (role == m.end() || role->is_null())
      return invalid_request("Missing required parameter: '" + path(".role") + "'.", path(".role"), "missing_required_parameter");
    if (!role->is_string()) return wrong_type(path(".role"), *role, "a string");
    const auto r = role->str();
    if (std::find(roles.begin(), roles.end(), r) == roles.end())
      return invalid_request("Invalid value: '" + std::string(r) + "'. Supported values are: 'system', 'user', 'assistant', 'tool' and 'developer'.",
                             path(".role"), "invalid_value");
    auto content = m.find("content");
    auto tool_calls = m.find("tool_calls");
    const bool has_tool_calls = tool_calls != m.end() && !tool_calls->is_null();
    if (content == m.end() || content->is_null()) {
      if (r != "assistant" || !has_tool_calls)
        return invalid_request("Missing required parameter: '" + path(".content") + "'.", path(".content"),
                               "missing_required_parameter");
    } else if (!content->is_string() && !content->is_array()) {
      return wrong_type(path(".content"), *content, "a string or an array of content parts");
    } else if (content->is_array()) {
      std::size_t k = 0;
      for (const auto& part : *content) {
        const auto part_path = [&](std::string_view rest = {}) {
          return path(".content[" + std::to_string(k) + "]" + std::string(rest));
        };
        if (!part.is_object()) return wrong_type(part_path(), part, "an object");
        auto type = part.find("type");
        if (type == part.end() || !type->is_string())
          return invalid_request("Missing required parameter: '" + part_path(".type") + "'.", part_path(".type"),
                                 "missing_required_parameter");
        ++k;
      }
    }
    if (has_tool_calls && !tool_calls->is_array()) return wrong_type(path(".tool_calls"), *tool_calls, "an array");
    if (r == "tool") {
      auto id = m.find("tool_call_id");
      if (id == m.end() || !id->is_string())
        return invalid_request("Missing required parameter: '" + path(".tool_call_id") + "'.", path(".tool_call_id"),
                               "missing_required_parameter");
    }
    if (auto name = m.find("name"); name != m.end() && !name->is_null() && !name->is_string())
      return wrong_type(path(".name"), *name, "a string");
    ++i;
  }
  return std::nullopt;
}

std::optional<api_error> validate_chat(const json& body, chat_request::impl& out) {
  if (auto e = validate_common(body, out)) return e;
  if (auto e = check_messages(body)) return e;
  if (auto e = check_stream(body, out, true)) return e;
  if (auto e = check_sampling(body)) return e;
  for (auto [name, lo, hi] : {std::tuple{"max_completion_tokens", 1LL, 1LL << 31}, std::tuple{"top_logprobs", 0LL, 20LL}})
    if (auto e = check_integer(body, name, lo, hi)) return e;
  for (auto name : {"logprobs", "parallel_tool_calls"})
    if (auto e = check_bool(body, name)) return e;
  if (auto e = check_object_or_string(body, "tool_choice")) return e;
  if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
    if (!t->is_array()) return wrong_type("tools", *t, "an array");
    std::size_t i = 0;
    for (const auto& tool : *t) {
      if (!tool.is_object()) return wrong_type("tools[" + std::to_string(i) + "]", tool, "an object");
      ++i;
    }
  }
  if (auto rf = body.find("response_format"); rf != body.end() && !rf->is_null()) {
    if (!rf->is_object()) return wrong_type("response_format", *rf, "an object");
    auto type = rf->find("type");
    if (type == rf->end() || !type->is_string())
      return invalid_request("Missing required parameter: 'response_format.type'.", "response_format.type",
                             "missing_required_parameter");
    auto tv = type->get<std::string>();
    if (tv != "text" && tv != "json_object" && tv != "json_schema")
      return invalid_request("Invalid value: '" + tv + "'. Supported values are: 'text', 'json_object' and 'json_schema'.",
                             "response_format.type", "invalid_value");
  }
  return std::nullopt;
}


std::int64_t estimate(const json& b) {
  // A few tokens per message for the chat template; tool definitions as their JSON.
  text_size t;
  std::size_t messages = 0;
  for (const auto& m : b.at("messages")) {
    ++messages;
    auto c = m.find("content");
    if (c == m.end()) continue;
    if (c->is_string()) {
      t.bytes += c->str().size();
    } else if (c->is_array()) {
      for (const auto& part : *c)
        if (auto x = part.find("text"); x != part.end() && x->is_string()) t.bytes += x->str().size();
    }
  }
  t.add_dump(b, "tools");
  return static_cast<std::int64_t>(t.bytes * 3 / 10 + 4 * messages + 3);
}

}  // namespace

}  // namespace deepgate::api::body

namespace deepgate::api {
// POST /chat/completions: OpenAI's and DeepSeek's Chat Completions.
const body_schema chat_body{.validate = body::validate_chat,
                            .prompt_estimate = body::estimate,
                            .prompt_member = "messages",
                            .stream_options = true,
                            .determinism = body_schema::same_answer::sampled,
                            .user_field = body_schema::user_id_place::top_level,
                            .chat = true};
}  // namespace deepgate::api
