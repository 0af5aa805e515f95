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
// tools[].function.parameters, functions[].parameters and response_format.json_schema.schema.
// A member that merely happens to be called "parameters" or "schema" elsewhere is inspected.
struct path_step {
  const std::string* key = nullptr;  // object member, or
  std::size_t index = 0;             // array element
};

enum class position : std::uint8_t { root, tools, tool, functions, function, response_format, json_schema, schema, other };

position member_position(position parent, std::string_view key) {
  switch (parent) {
    case position::root:
      if (key == "tools") return position::tools;
      if (key == "functions") return position::functions;
      if (key == "response_format") return position::response_format;
      return position::other;
    case position::tool: return key == "function" ? position::function : position::other;
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

std::optional<api_error> validate(const json& body, chat_request::impl& out) {
  if (out.kind == request_kind::embeddings) return validate_embeddings(body, out);
  if (auto e = validate_common(body, out)) return e;

  if (auto e = check_messages(body)) return e;
  if (auto e = check_bool(body, "stream")) return e;
  auto stream = body.find("stream");
  out.stream = stream != body.end() && stream->is_boolean() && stream->get<bool>();

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
  for (auto [name, lo, hi] : {std::tuple{"temperature", 0.0, 2.0}, std::tuple{"top_p", 0.0, 1.0},
                              std::tuple{"presence_penalty", -2.0, 2.0}, std::tuple{"frequency_penalty", -2.0, 2.0}})
    if (auto e = check_number(body, name, lo, hi)) return e;
  for (auto [name, lo, hi] : {std::tuple{"n", 1LL, 128LL}, std::tuple{"max_tokens", 1LL, 1LL << 31},
                              std::tuple{"max_completion_tokens", 1LL, 1LL << 31}, std::tuple{"top_logprobs", 0LL, 20LL},
                              std::tuple{"seed", -(1LL << 62), 1LL << 62}})
    if (auto e = check_integer(body, name, lo, hi)) return e;
  for (auto name : {"logprobs", "parallel_tool_calls"})
    if (auto e = check_bool(body, name)) return e;
  if (auto e = check_stop(body)) return e;
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
  for (auto name : {"max_completion_tokens", "max_tokens"})
    if (auto it = b.find(name); it != b.end() && it->is_number_integer()) return it->get<std::int64_t>();
  return 0;
}

std::int64_t chat_request::choices() const {
  auto it = impl_->body.find("n");
  return it != impl_->body.end() && it->is_number_integer() ? it->get<std::int64_t>() : 1;
}

std::int64_t chat_request::completion_reserve(std::int64_t default_max_tokens) const {
  if (impl_->kind == request_kind::embeddings) return 0;
  const auto max_out = max_output_tokens();
  return (max_out ? max_out : default_max_tokens) * choices();
}

std::int64_t chat_request::prompt_token_estimate() const {
  // DeepSeek documents about 0.3 tokens per English character and 0.6 per Chinese one (3 bytes
  // in UTF-8): 0.3 per byte covers both. A few tokens per message for the chat template.
  if (impl_->kind == request_kind::embeddings) {
    std::size_t bytes = 0, tokens = 0;
    const auto& input = impl_->body.at("input");
    auto count = [&](const json& v) {
      if (v.is_string()) bytes += v.get_ref<const std::string&>().size();
      else if (v.is_array()) tokens += v.size();
      else ++tokens;
    };
    if (input.is_array()) {
      for (const auto& v : input) count(v);
    } else {
      count(input);
    }
    return static_cast<std::int64_t>(bytes * 3 / 10 + tokens + 1);
  }
  std::size_t bytes = 0, messages = 0;
  for (const auto& m : impl_->body.at("messages")) {
    ++messages;
    auto c = m.find("content");
    if (c == m.end()) continue;
    if (c->is_string()) {
      bytes += c->get_ref<const std::string&>().size();
    } else if (c->is_array()) {
      for (const auto& part : *c)
        if (auto t = part.find("text"); t != part.end() && t->is_string()) bytes += t->get_ref<const std::string&>().size();
    }
  }
  if (auto t = impl_->body.find("tools"); t != impl_->body.end() && !t->is_null()) bytes += t->dump().size();
  return static_cast<std::int64_t>(bytes * 3 / 10 + 4 * messages + 3);
}

std::string chat_request::prompt_sha256() const {
  auto m = impl_->body.find(impl_->kind == request_kind::embeddings ? "input" : "messages");
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
  auto l = impl_->body.find("logprobs");
  return l != impl_->body.end() && l->is_boolean() && l->get<bool>();
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

void chat_request::request_usage() { impl_->gateway_usage = impl_->stream && !impl_->include_usage; }

std::string chat_request::upstream_body(std::string_view upstream_model, bool backend_takes_usage,
                                        std::string_view user_id) {
  impl_->body["model"] = upstream_model;
  if (!std::exchange(impl_->user_id_seen, true))
    if (auto u = impl_->body.find("user_id"); u != impl_->body.end()) impl_->client_user_id = *u;
  if (impl_->kind != request_kind::chat) {
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
