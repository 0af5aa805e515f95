#include "body.hpp"

#include <array>
#include <cctype>
#include <tuple>
#include <vector>

namespace deepgate::api::body {

using http::invalid_request;

std::string type_name(const json& v) {
  switch (v.type()) {
    case core::json_type::null: return "null";
    case core::json_type::boolean: return "a boolean";
    case core::json_type::string: return "a string";
    case core::json_type::array: return "an array";
    case core::json_type::object: return "an object";
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

namespace {

// Compared in one spelling: lower case without '_' and '-', so API_BASE, apiBase, api-base and
// api_base are one name.
bool redirecting_key(std::string_view key) {
  // Normalised on the stack (every key of every request passes here): the exact names are short,
  // and "host" is a suffix, so the first 16 and the last 4 normalised characters are all it takes.
  char head[16], tail[4] = {};
  std::size_t n = 0;
  for (char c : key) {
    if (c == '_' || c == '-') continue;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (n < sizeof head) head[n] = c;
    tail[0] = tail[1], tail[1] = tail[2], tail[2] = tail[3], tail[3] = c;
    ++n;
  }
  static constexpr std::array<std::string_view, 6> exact{"apibase", "baseurl", "apikey", "apiurl", "azureendpoint", "endpoint"};
  if (n <= sizeof head)
    for (auto e : exact)
      if (std::string_view(head, n) == e) return true;
  return n >= 4 && std::string_view(tail, 4) == "host";  // upstream_host, api_host, apiHost, ...
}

// Refuses keys that could redirect traffic, at any depth. Recursion is bounded by the depth check
// that ran before parsing. The path is built only when a key is found. Only the real JSON-Schema
// positions hold the caller's own property names (data, not routing) and are not inspected:
// tools[].function.parameters, functions[].parameters and response_format.json_schema.schema
// (chat), tools[].parameters and text.format.schema (Responses), tools[].input_schema (Anthropic).
// A member that merely happens to be called "parameters" or "schema" elsewhere is inspected.
struct path_step {
  std::string_view key;   // object member (not empty: an empty key is refused nowhere), or
  std::size_t index = 0;  // array element
  bool member = false;
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
      path.push_back({it.key(), 0, true});
      if (redirecting_key(it.key())) return true;
      const auto child = member_position(where, it.key());
      if (child != position::schema && it->is_structured() && find_redirecting(*it, child, path)) return true;
      path.pop_back();
    }
  } else if (v.is_array()) {
    const auto child = element_position(where);
    std::size_t i = 0;
    for (const auto& x : v) {
      path.push_back({{}, i++, false});
      if (x.is_structured() && find_redirecting(x, child, path)) return true;
      path.pop_back();
    }
  }
  return false;
}

}  // namespace

std::optional<api_error> find_redirecting_key(const json& root) {
  std::vector<path_step> path;
  if (!find_redirecting(root, position::root, path)) return std::nullopt;
  std::string p;
  for (auto& step : path) {
    if (step.member) p += (p.empty() ? "" : ".") + std::string(step.key);
    else p += "[" + std::to_string(step.index) + "]";
  }
  return invalid_request("Unrecognized request argument supplied: " + p +
                             ". Fields that choose where a request goes are set by the gateway operator.",
                         p, "forbidden_parameter");
}

namespace {
std::string bound_text(double d) {  // the bounds are whole numbers, written as JSON floats: 2.0
  return std::to_string(static_cast<long long>(d)) + ".0";
}
}  // namespace

std::optional<api_error> check_number(const json& body, const char* name, double lo, double hi) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(name, *it, "a number");
  double v = it->get<double>();
  if (v < lo || v > hi)
    return out_of_range(name, "expected a value from " + bound_text(lo) + " to " + bound_text(hi) + ", got " +
                                  std::string(it->raw()));
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
  if (model->str().empty())
    return invalid_request("Invalid 'model': empty string.", "model", "invalid_value");
  out.model = model->get<std::string>();
  if (auto u = body.find("user"); u != body.end() && !u->is_null() && !u->is_string())
    return wrong_type("user", *u, "a string");
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

}  // namespace deepgate::api::body
