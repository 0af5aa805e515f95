#include "deepgate/api/chat_request.hpp"

#include "deepgate/auth/key.hpp"

#include "deepgate/http/json_depth.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

namespace deepgate::api {

using json = nlohmann::json;
using http::api_error;
using http::invalid_request;

struct chat_request::impl {
  request_kind kind = request_kind::chat;
  json body;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool gateway_usage = false;  // request_usage(): the gateway asks for usage the client did not
  bool user_id_seen = false;           // client_user_id has been read
  std::optional<json> client_user_id;  // top-level user_id as the client sent it
  bool metadata_seen = false;          // client_metadata has been read (messages)
  std::optional<json> client_metadata;
};

namespace {

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::binary:
    case json::value_t::discarded: return "a value";
    default: return "a number";
  }
}

api_error wrong_type(const std::string& param, const json& v, std::string_view expected) {
  return invalid_request("Invalid type for '" + param + "': expected " + std::string(expected) + ", but got " +
                             type_name(v) + ".",
                         param, "invalid_type");
}

api_error out_of_range(const std::string& param, std::string_view what) {
  return invalid_request("Invalid value for '" + param + "': " + std::string(what) + ".", param, "invalid_value", 422);
}

// Compared in one spelling: lower case without '_' and '-', so API_BASE, apiBase, api-base and
// api_base are one name.
bool redirecting_key(std::string_view key) {
  std::string k;
  k.reserve(key.size());
  for (char c : key)
    if (c != '_' && c != '-') k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::array<std::string_view, 6> exact{"apibase", "baseurl", "apikey", "apiurl", "azureendpoint", "endpoint"};
  for (auto e : exact)
    if (k == e) return true;
  return k.ends_with("host");  // upstream_host, api_host, apiHost, ...
}

// Refuses keys that could redirect traffic, at any depth. Recursion is bounded by the depth check
// that ran before parsing. The path is built only when a key is found. Only the real JSON-Schema
// positions hold the caller's own property names (data, not routing) and are not inspected:
// tools[].function.parameters, functions[].parameters and response_format.json_schema.schema
// (chat), tools[].parameters and text.format.schema (Responses), tools[].input_schema (Anthropic).
// A member that merely happens to be called "parameters" or "schema" elsewhere is inspected.
struct path_step {
  const std::string* key = nullptr;  // object member, or
  std::size_t index = 0;             // array element
};

enum class position : std::uint8_t { root, tools, tool, functions, function, response_format, json_schema, schema, text, other };

position member_position(position parent, std::string_view key) {
  switch (parent) {
    case position::root:
      if (key == "tools") return position::tools;
      if (key == "functions") return position::functions;
      if (key == "response_format") return position::response_format;
      if (key == "text") return position::text;  // Responses: text.format.schema
      return position::other;
    case position::tool:  // chat: tools[].function.parameters; Responses: tools[].parameters; Anthropic: input_schema
      if (key == "function") return position::function;
      return key == "parameters" || key == "input_schema" ? position::schema : position::other;
    case position::text: return key == "format" ? position::json_schema : position::other;
    case position::function: return key == "parameters" ? position::schema : position::other;
    case position::response_format: return key == "json_schema" ? position::json_schema : position::other;
    case position::json_schema: return key == "schema" ? position::schema : position::other;
    default: return position::other;
  }
}

position element_position(position parent) {
  if (parent == position::tools) return position::tool;
  if (parent == position::functions) return position::function;
  return position::other;
}

bool find_redirecting(const json& v, position where, std::vector<path_step>& path) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      path.push_back({&it.key(), 0});
      if (redirecting_key(it.key())) return true;
      const auto child = member_position(where, it.key());
      if (child != position::schema && it->is_structured() && find_redirecting(*it, child, path)) return true;
      path.pop_back();
    }
  } else if (v.is_array()) {
    const auto child = element_position(where);
    for (std::size_t i = 0; i < v.size(); ++i) {
      path.push_back({nullptr, i});
      if (v[i].is_structured() && find_redirecting(v[i], child, path)) return true;
      path.pop_back();
    }
  }
  return false;
}

std::optional<api_error> find_redirecting_key(const json& root) {
  std::vector<path_step> path;
  if (!find_redirecting(root, position::root, path)) return std::nullopt;
  std::string p;
  for (auto& step : path) {
    if (step.key) p += (p.empty() ? "" : ".") + *step.key;
    else p += "[" + std::to_string(step.index) + "]";
  }
  return invalid_request("Unrecognized request argument supplied: " + p +
                             ". Fields that choose where a request goes are set by the gateway operator.",
                         p, "forbidden_parameter");
}

std::optional<api_error> check_number(const json& body, const char* name, double lo, double hi) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(name, *it, "a number");
  double v = it->get<double>();
  if (v < lo || v > hi)
    return out_of_range(name, "expected a value from " + json(lo).dump() + " to " + json(hi).dump() + ", got " + it->dump());
  return std::nullopt;
}

std::optional<api_error> check_integer(const json& body, const char* name, long long lo, long long hi) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() && !it->is_number_unsigned()) return wrong_type(name, *it, "an integer");
  if (it->is_number_unsigned() && it->get<unsigned long long>() > static_cast<unsigned long long>(hi))
    return out_of_range(name, "expected at most " + std::to_string(hi));
  auto v = it->get<long long>();
  if (v < lo || v > hi)
    return out_of_range(name, "expected a value from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " +
                                  std::to_string(v));
  return std::nullopt;
}

std::optional<api_error> check_bool(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null() || it->is_boolean()) return std::nullopt;
  return wrong_type(name, *it, "a boolean");
}

std::optional<api_error> check_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null())
    return invalid_request("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
  if (!it->is_array()) return wrong_type("messages", *it, "an array");
  if (it->empty())
    return invalid_request("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages",
                           "empty_array");
  static constexpr std::array<std::string_view, 5> roles{"system", "user", "assistant", "tool", "developer"};
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& m = (*it)[i];
    auto p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return wrong_type(p, m, "an object");
    auto role = m.find("role");
    if (role == m.end() || role->is_null())
      return invalid_request("Missing required parameter: '" + p + ".role'.", p + ".role", "missing_required_parameter");
    if (!role->is_string()) return wrong_type(p + ".role", *role, "a string");
    auto r = role->get_ref<const std::string&>();
    if (std::find(roles.begin(), roles.end(), r) == roles.end())
      return invalid_request("Invalid value: '" + r + "'. Supported values are: 'system', 'user', 'assistant', 'tool' and 'developer'.",
                             p + ".role", "invalid_value");
    auto content = m.find("content");
    bool has_tool_calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
    if (content == m.end() || content->is_null()) {
      if (r != "assistant" || !has_tool_calls)
        return invalid_request("Missing required parameter: '" + p + ".content'.", p + ".content",
                               "missing_required_parameter");
    } else if (!content->is_string() && !content->is_array()) {
      return wrong_type(p + ".content", *content, "a string or an array of content parts");
    } else if (content->is_array()) {
      for (std::size_t k = 0; k < content->size(); ++k) {
        const auto& part = (*content)[k];
        auto pp = p + ".content[" + std::to_string(k) + "]";
        if (!part.is_object()) return wrong_type(pp, part, "an object");
        if (!part.contains("type") || !part["type"].is_string())
          return invalid_request("Missing required parameter: '" + pp + ".type'.", pp + ".type", "missing_required_parameter");
      }
    }
    if (has_tool_calls && !m["tool_calls"].is_array()) return wrong_type(p + ".tool_calls", m["tool_calls"], "an array");
    if (r == "tool") {
      auto id = m.find("tool_call_id");
      if (id == m.end() || !id->is_string())
        return invalid_request("Missing required parameter: '" + p + ".tool_call_id'.", p + ".tool_call_id",
                               "missing_required_parameter");
    }
    if (auto name = m.find("name"); name != m.end() && !name->is_null() && !name->is_string())
      return wrong_type(p + ".name", *name, "a string");
  }
  return std::nullopt;
}

std::optional<api_error> check_stop(const json& body) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null() || it->is_string()) return std::nullopt;
  if (!it->is_array()) return wrong_type("stop", *it, "a string or an array of strings");
  if (it->size() > 16) return out_of_range("stop", "at most 16 stop sequences");
  for (auto& s : *it)
    if (!s.is_string()) return wrong_type("stop", s, "a string");
  return std::nullopt;
}

std::optional<api_error> check_object_or_string(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null() || it->is_object() || it->is_string()) return std::nullopt;
  return wrong_type(name, *it, "a string or an object");
}

// What every route needs: a JSON object naming a model, no key that could redirect traffic.
std::optional<api_error> validate_common(const json& body, chat_request::impl& out) {
  if (!body.is_object())
    return invalid_request("The request body must be a JSON object, got " + type_name(body) + ".", {}, "invalid_body");
  if (auto e = find_redirecting_key(body)) return e;
  auto model = body.find("model");
  if (model == body.end() || model->is_null())
    return invalid_request("You must provide a model parameter.", "model", "missing_required_parameter");
  if (!model->is_string()) return wrong_type("model", *model, "a string");
  if (model->get_ref<const std::string&>().empty())
    return invalid_request("Invalid 'model': empty string.", "model", "invalid_value");
  out.model = model->get<std::string>();
  if (auto u = body.find("user"); u != body.end() && !u->is_null() && !u->is_string())
    return wrong_type("user", *u, "a string");
  return std::nullopt;
}

// POST /embeddings, as OpenAI's API reference has it: `input` a non-empty string, or an array (at
// most 2048) of non-empty strings, of token ids, or of non-empty token-id arrays; `encoding_format`
// float or base64; `dimensions` a positive integer. Never streamed.
std::optional<api_error> validate_embeddings(const json& body, chat_request::impl& out) {
  if (auto e = validate_common(body, out)) return e;
  auto input = body.find("input");
  if (input == body.end() || input->is_null())
    return invalid_request("You must provide an input parameter.", "input", "missing_required_parameter");
  auto empty_string = [](const json& v) { return v.is_string() && v.get_ref<const std::string&>().empty(); };
  auto token = [](const json& v) { return v.is_number_integer() && v.get<long long>() >= 0; };
  if (input->is_string()) {
    if (empty_string(*input)) return invalid_request("'input' cannot be an empty string.", "input", "invalid_value");
  } else if (input->is_array()) {
    if (input->empty()) return invalid_request("'input' cannot be an empty array.", "input", "invalid_value");
    if (input->size() > 2048)
      return invalid_request("'input' holds " + std::to_string(input->size()) + " items; the most is 2048.", "input",
                             "invalid_value");
    const bool tokens = token(input->front());
    for (std::size_t i = 0; i < input->size(); ++i) {
      const auto& v = (*input)[i];
      const auto where = "input[" + std::to_string(i) + "]";
      const bool ok = tokens ? token(v)
                             : (v.is_string() && !empty_string(v)) ||
                                   (v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), token));
      if (!ok)
        return invalid_request("Invalid value for '" + where + "': expected " +
                                   (tokens ? "a token id (a whole number)" : "a non-empty string or an array of token ids") +
                                   ", as the rest of 'input'.",
                               where, "invalid_value");
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

// stream and, where the route takes them (chat, completions), OpenAI's stream_options.
std::optional<api_error> check_stream(const json& body, chat_request::impl& out, bool takes_options) {
  if (auto e = check_bool(body, "stream")) return e;
  auto stream = body.find("stream");
  out.stream = stream != body.end() && stream->is_boolean() && stream->get<bool>();
  if (!takes_options) return std::nullopt;
  if (auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) return wrong_type("stream_options", *so, "an object");
    if (!out.stream)
      return invalid_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                             "stream_options", "invalid_value");
    if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean()) return wrong_type("stream_options.include_usage", *iu, "a boolean");
      out.include_usage = iu->get<bool>();
    }
  }
  return std::nullopt;
}

// The sampling fields OpenAI's chat and completions share.
std::optional<api_error> check_sampling(const json& body) {
  for (auto [name, lo, hi] : {std::tuple{"temperature", 0.0, 2.0}, std::tuple{"top_p", 0.0, 1.0},
                              std::tuple{"presence_penalty", -2.0, 2.0}, std::tuple{"frequency_penalty", -2.0, 2.0}})
    if (auto e = check_number(body, name, lo, hi)) return e;
  for (auto [name, lo, hi] : {std::tuple{"n", 1LL, 128LL}, std::tuple{"max_tokens", 1LL, 1LL << 31},
                              std::tuple{"seed", -(1LL << 62), 1LL << 62}})
    if (auto e = check_integer(body, name, lo, hi)) return e;
  return check_stop(body);
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
    for (std::size_t i = 0; i < t->size(); ++i)
      if (!(*t)[i].is_object()) return wrong_type("tools[" + std::to_string(i) + "]", (*t)[i], "an object");
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
    for (std::size_t i = 0; i < prompt->size(); ++i) {
      const auto& v = (*prompt)[i];
      if (!v.is_string() && !token(v) && !(v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), token)))
        return invalid_request("Invalid value for 'prompt[" + std::to_string(i) +
                                   "]': expected a string, a token id or an array of token ids.",
                               "prompt[" + std::to_string(i) + "]", "invalid_value");
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
    for (std::size_t i = 0; i < input->size(); ++i)
      if (!(*input)[i].is_object())
        return wrong_type("input[" + std::to_string(i) + "]", (*input)[i], "an object");
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
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
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
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    const auto p = "messages." + std::to_string(i);
    if (!m.is_object()) return wrong_type(p, m, "an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string() || (*role != "user" && *role != "assistant"))
      return invalid_request(p + ".role: Input should be 'user' or 'assistant'", p + ".role", "invalid_value");
    auto content = m.find("content");
    if (content == m.end() || content->is_null())
      return invalid_request(p + ".content: Field required", p + ".content", "missing_required_parameter");
    if (content->is_array()) {
      for (std::size_t k = 0; k < content->size(); ++k) {
        const auto& block = (*content)[k];
        if (!block.is_object() || !block.contains("type") || !block["type"].is_string())
          return invalid_request(p + ".content." + std::to_string(k) + ".type: Field required",
                                 p + ".content." + std::to_string(k) + ".type", "missing_required_parameter");
      }
    } else if (!content->is_string()) {
      return wrong_type(p + ".content", *content, "a string or an array of content blocks");
    }
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

std::optional<api_error> validate(const json& body, chat_request::impl& out) {
  switch (out.kind) {
    case request_kind::chat: return validate_chat(body, out);
    case request_kind::embeddings: return validate_embeddings(body, out);
    case request_kind::completions: return validate_completions(body, out);
    case request_kind::responses: return validate_responses(body, out);
    case request_kind::messages: return validate_messages(body, out, false);
    case request_kind::count_tokens: return validate_messages(body, out, true);
  }
  return std::nullopt;
}

}  // namespace

std::string owner_user_id(std::string_view owner) { return "dg-" + core::sha256_hex(owner).substr(0, 32); }

chat_request::chat_request(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
chat_request::chat_request(chat_request&&) noexcept = default;
chat_request& chat_request::operator=(chat_request&&) noexcept = default;
chat_request::~chat_request() = default;

chat_request::result chat_request::parse(std::string_view body, std::size_t max_json_depth,
                                         std::size_t max_json_values, request_kind kind) {
  const auto shape = http::json_shape(body, max_json_depth, max_json_values);
  if (shape.depth > max_json_depth)
    return invalid_request("The JSON body is nested deeper than " + std::to_string(max_json_depth) + " levels.", {},
                           "json_too_deep");
  if (shape.values > max_json_values)
    return invalid_request("The JSON body holds more than " + std::to_string(max_json_values) + " values.", {},
                           "json_too_large", 413);
  auto p = std::make_unique<impl>();
  p->kind = kind;
  p->body = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (p->body.is_discarded())
    return invalid_request(
        "We could not parse the JSON body of your request. The API expects a JSON payload (Content-Type: "
        "application/json), but what was sent was not valid JSON.",
        {}, "invalid_json");
  if (auto e = validate(p->body, *p)) return *e;
  return chat_request(std::move(p));
}

request_kind chat_request::kind() const { return impl_->kind; }
const std::string& chat_request::model() const { return impl_->model; }
bool chat_request::stream() const { return impl_->stream; }
bool chat_request::include_usage() const { return impl_->include_usage; }

std::int64_t chat_request::max_output_tokens() const {
  const auto& b = impl_->body;
  for (auto name : {"max_completion_tokens", "max_tokens", "max_output_tokens"})
    if (auto it = b.find(name); it != b.end() && it->is_number_integer()) return it->get<std::int64_t>();
  return 0;
}

std::int64_t chat_request::choices() const {
  auto it = impl_->body.find("n");
  return it != impl_->body.end() && it->is_number_integer() ? it->get<std::int64_t>() : 1;
}

std::int64_t chat_request::completion_reserve(std::int64_t default_max_tokens) const {
  if (impl_->kind == request_kind::embeddings || impl_->kind == request_kind::count_tokens) return 0;  // nothing generated
  const auto max_out = max_output_tokens();
  return (max_out ? max_out : default_max_tokens) * choices();
}

namespace {

// What a prompt estimate counts: the bytes of text, and the items a template wraps (messages) or
// that are tokens already (token ids).
struct text_size {
  std::size_t bytes = 0, items = 0, tokens = 0;
  // Strings count their bytes, token ids one each; objects the text of their "text" and
  // "content" members (message parts, Anthropic blocks, Responses items), recursively.
  void add(const json& v, int depth = 0) {
    if (v.is_string()) {
      bytes += v.get_ref<const std::string&>().size();
    } else if (v.is_number_integer()) {
      ++tokens;
    } else if (v.is_array() && depth < 8) {
      for (const auto& x : v) add(x, depth + 1);
    } else if (v.is_object() && depth < 8) {
      for (auto key : {"text", "content", "input", "output", "arguments"})
        if (auto it = v.find(key); it != v.end()) add(*it, depth + 1);
    }
  }
  void add_member(const json& body, const char* name) {
    if (auto it = body.find(name); it != body.end() && !it->is_null()) add(*it);
  }
  void add_dump(const json& body, const char* name) {  // tool definitions: their whole JSON
    if (auto it = body.find(name); it != body.end() && !it->is_null()) bytes += it->dump().size();
  }
};

// The member holding the prompt of each kind.
const char* prompt_member(request_kind k) {
  switch (k) {
    case request_kind::embeddings:
    case request_kind::responses: return "input";
    case request_kind::completions: return "prompt";
    default: return "messages";
  }
}

}  // namespace

std::int64_t chat_request::prompt_token_estimate() const {
  // DeepSeek documents about 0.3 tokens per English character and 0.6 per Chinese one (3 bytes
  // in UTF-8): 0.3 per byte covers both. A few tokens per message for the chat template.
  const auto& b = impl_->body;
  text_size t;
  switch (impl_->kind) {
    case request_kind::embeddings: {
      const auto& input = b.at("input");
      if (input.is_array()) {
        for (const auto& v : input) v.is_array() ? void(t.tokens += v.size()) : t.add(v);
      } else {
        t.add(input);
      }
      return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 1);
    }
    case request_kind::completions:
      t.add_member(b, "prompt");
      t.add_member(b, "suffix");
      return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 3);
    case request_kind::responses: {
      t.add_member(b, "input");
      t.add_member(b, "instructions");
      t.add_dump(b, "tools");
      const auto& input = b.at("input");
      const std::size_t items = input.is_array() ? input.size() : 1;
      return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 4 * items + 3);
    }
    case request_kind::messages:
    case request_kind::count_tokens: {
      t.add_member(b, "messages");
      t.add_member(b, "system");
      t.add_dump(b, "tools");
      return static_cast<std::int64_t>(t.bytes * 3 / 10 + t.tokens + 4 * b.at("messages").size() + 3);
    }
    case request_kind::chat: break;
  }
  std::size_t messages = 0;
  for (const auto& m : b.at("messages")) {
    ++messages;
    auto c = m.find("content");
    if (c == m.end()) continue;
    if (c->is_string()) {
      t.bytes += c->get_ref<const std::string&>().size();
    } else if (c->is_array()) {
      for (const auto& part : *c)
        if (auto x = part.find("text"); x != part.end() && x->is_string()) t.bytes += x->get_ref<const std::string&>().size();
    }
  }
  t.add_dump(b, "tools");
  return static_cast<std::int64_t>(t.bytes * 3 / 10 + 4 * messages + 3);
}

std::string chat_request::prompt_sha256() const {
  auto m = impl_->body.find(prompt_member(impl_->kind));
  if (m == impl_->body.end()) return {};
  return core::sha256_hex(m->dump(-1, ' ', false, json::error_handler_t::replace));
}

namespace {

// The canonical form the prompt cache keys on, written straight from the parsed request (no copy
// of the tree): objects with sorted keys (nlohmann's objects are std::maps), no whitespace,
// strings with JSON's mandatory escapes only (the parser already rejected invalid UTF-8), and
// numbers by value: 0, 0.0 and -0.0 are the same temperature, 1e2 and 100 the same max_tokens.
// Integral floats are written as integers; other floats in their shortest round-trip form.
void write_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

void write_canonical(std::string& out, const json& v) {
  char buf[32];
  switch (v.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : v.get_ref<const json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        write_string(out, key);
        out += ':';
        write_canonical(out, value);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& x : v) {
        if (!first) out += ',';
        first = false;
        write_canonical(out, x);
      }
      out += ']';
      return;
    }
    case json::value_t::string: write_string(out, v.get_ref<const std::string&>()); return;
    case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
    case json::value_t::number_integer: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::int64_t>());
      out.append(buf, r.ptr);
      return;
    }
    case json::value_t::number_unsigned: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::uint64_t>());
      out.append(buf, r.ptr);
      return;
    }
    case json::value_t::number_float: {
      const double d = v.get<double>();
      auto r = std::isfinite(d) && std::nearbyint(d) == d && std::fabs(d) < 9e15
                   ? std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d))
                   : std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      return;
    }
    default: out += "null"; return;
  }
}

}  // namespace

std::string chat_request::cache_material(std::string_view model) const {
  std::string out;
  out.reserve(256);
  out += '{';
  bool first = true;
  for (const auto& [key, value] : impl_->body.get_ref<const json::object_t&>()) {
    if (key == "stream" || key == "stream_options" || key == "user") continue;  // output-neutral
    if (!first) out += ',';
    first = false;
    write_string(out, key);
    out += ':';
    if (key == "model") write_string(out, model);
    else write_canonical(out, value);
  }
  out += '}';
  return out;
}

bool chat_request::deterministic(bool thinking_by_default) const {
  if (impl_->kind == request_kind::embeddings) return true;  // the same input, the same vectors
  if (impl_->kind != request_kind::chat && impl_->kind != request_kind::completions) return false;
  const auto& b = impl_->body;
  bool thinking = thinking_by_default;
  if (auto t = b.find("thinking"); t != b.end() && t->is_object())
    if (auto type = t->find("type"); type != t->end() && type->is_string())
      thinking = type->get_ref<const std::string&>() != "disabled";
  if (thinking) return false;
  if (auto seed = b.find("seed"); seed != b.end() && !seed->is_null()) return true;
  auto t = b.find("temperature");
  return t != b.end() && t->is_number() && t->get<double>() == 0.0;
}

bool chat_request::logprobs() const {
  auto l = impl_->body.find("logprobs");  // chat: true; completions: how many (0 asks for none)
  return l != impl_->body.end() && ((l->is_boolean() && l->get<bool>()) || (l->is_number_integer() && l->get<int>() > 0));
}

bool chat_request::takes_stream_options() const {
  return impl_->kind == request_kind::chat || impl_->kind == request_kind::completions;
}

bool chat_request::needs_beta() const {
  if (impl_->kind != request_kind::chat) return false;
  const auto& b = impl_->body;
  const auto& messages = b.at("messages");
  if (!messages.empty()) {
    const auto& last = messages.back();
    if (last.value("role", "") == "assistant")
      if (auto p = last.find("prefix"); p != last.end() && p->is_boolean() && p->get<bool>()) return true;
  }
  if (auto tools = b.find("tools"); tools != b.end() && tools->is_array())
    for (const auto& t : *tools)
      if (auto fn = t.find("function"); fn != t.end() && fn->is_object())
        if (auto strict = fn->find("strict"); strict != fn->end() && strict->is_boolean() && strict->get<bool>()) return true;
  return false;
}

bool chat_request::has_tools() const {
  if (impl_->kind != request_kind::chat) return false;  // tool calls are chat's
  auto t = impl_->body.find("tools");
  return t != impl_->body.end() && t->is_array() && !t->empty();
}

int chat_request::restore_reasoning(
    const std::function<std::optional<std::string>(std::string_view tool_call_id)>& recall) {
  auto messages = impl_->body.find("messages");
  if (messages == impl_->body.end() || !messages->is_array()) return 0;
  int repaired = 0;
  for (auto& m : *messages) {
    if (m.value("role", "") != "assistant") continue;
    auto calls = m.find("tool_calls");
    if (calls == m.end() || !calls->is_array() || calls->empty()) continue;
    if (auto r = m.find("reasoning_content"); r != m.end() && r->is_string()) continue;
    const auto& first = calls->front();
    if (!first.is_object() || !first.contains("id") || !first["id"].is_string()) continue;
    if (auto reasoning = recall(first["id"].get_ref<const std::string&>())) {
      m["reasoning_content"] = std::move(*reasoning);
      ++repaired;
    }
  }
  return repaired;
}

struct field_patch::impl {
  json patch;
};
field_patch::field_patch(std::string_view json_object) : impl_(std::make_unique<impl>()) {
  impl_->patch = json::parse(json_object, nullptr, false);
  if (!impl_->patch.is_object()) impl_->patch = json::object();
}
field_patch::~field_patch() = default;

void chat_request::apply_fields(const field_patch& patch) {
  impl_->body.merge_patch(patch.get().patch);
  if (auto s = impl_->body.find("stream"); s != impl_->body.end() && s->is_boolean()) impl_->stream = s->get<bool>();
}

void chat_request::request_usage() {
  impl_->gateway_usage = takes_stream_options() && impl_->stream && !impl_->include_usage;
}

std::string chat_request::upstream_body(std::string_view upstream_model, bool backend_takes_usage,
                                        std::string_view user_id) {
  impl_->body["model"] = upstream_model;
  if (!std::exchange(impl_->user_id_seen, true))
    if (auto u = impl_->body.find("user_id"); u != impl_->body.end()) impl_->client_user_id = *u;
  if (impl_->kind == request_kind::messages) {
    // Anthropic's place for it, which DeepSeek's Anthropic API reads: metadata.user_id.
    if (!std::exchange(impl_->metadata_seen, true))
      if (auto m = impl_->body.find("metadata"); m != impl_->body.end()) impl_->client_metadata = *m;
    if (impl_->client_metadata) impl_->body["metadata"] = *impl_->client_metadata;
    else impl_->body.erase("metadata");
    if (!user_id.empty()) {
      auto& m = impl_->body["metadata"];
      if (!m.is_object()) m = json::object();
      m["user_id"] = user_id;
    }
  } else if (impl_->kind != request_kind::chat) {
    // DeepSeek's user_id is a chat field: other routes go as the client sent them.
  } else if (!user_id.empty()) {
    impl_->body["user_id"] = user_id;
  } else if (impl_->client_user_id) {
    impl_->body["user_id"] = *impl_->client_user_id;
  } else {
    impl_->body.erase("user_id");
  }
  // Each attempt may go to a backend with another stream_usage: set or clear it every time.
  if (impl_->gateway_usage) {
    if (backend_takes_usage) {
      impl_->body["stream_options"]["include_usage"] = true;
    } else if (auto so = impl_->body.find("stream_options"); so != impl_->body.end() && so->is_object()) {
      so->erase("include_usage");
      if (so->empty()) impl_->body.erase(so);
    }
  }
  return impl_->body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace deepgate::api
