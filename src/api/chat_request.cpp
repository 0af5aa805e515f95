#include "deepgate/api/chat_request.hpp"

#include "bodies/body.hpp"
#include "deepgate/core/digest.hpp"
#include "deepgate/http/json_depth.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <utility>

namespace deepgate::api {

using http::api_error;
using http::invalid_request;

const body_schema& schema_of(request_kind k) {
  switch (k) {
    case request_kind::embeddings: return embeddings_body;
    case request_kind::completions: return completions_body;
    case request_kind::responses: return responses_body;
    case request_kind::messages: return messages_body;
    case request_kind::count_tokens: return count_tokens_body;
    case request_kind::chat: break;
  }
  return chat_body;
}

std::string owner_user_id(std::string_view owner) { return "dg-" + core::sha256_hex(owner).substr(0, 32); }

chat_request::chat_request(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
chat_request::chat_request(chat_request&&) noexcept = default;
chat_request& chat_request::operator=(chat_request&&) noexcept = default;
chat_request::~chat_request() = default;

namespace {

// Where each top-level member of a JSON object is, for text the parser has already accepted (so
// no error handling here): the key's quotes, the value's first and one-past-last byte.
constexpr bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && json_space(s[i])) ++i;
  return i;
}

std::size_t string_end(std::string_view s, std::size_t i) {  // i at the opening quote
  // A plain loop: string_view::find_first_of calls memchr on the set for every byte.
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;  // an escape: the next byte is never the closing quote
    else if (s[i] == '"') return i + 1;
  }
  return s.size();
}

std::size_t value_end(std::string_view s, std::size_t i) {
  if (s[i] == '"') return string_end(s, i);
  if (s[i] == '{' || s[i] == '[') {
    std::size_t depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = string_end(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return s.size();
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !json_space(s[i])) ++i;  // a scalar
  return i;
}

std::vector<chat_request::impl::member> top_level_members(std::string_view s) {
  std::vector<chat_request::impl::member> out;
  std::size_t i = s.find('{');  // after the whitespace, or a byte-order mark, the parser skipped
  if (i == std::string_view::npos) return out;
  i = skip_space(s, i + 1);
  while (i < s.size() && s[i] == '"') {
    chat_request::impl::member m;
    m.key_at = i;
    const auto key_end = string_end(s, i);
    const auto key = s.substr(i + 1, key_end - i - 2);
    if (key.find('\\') == std::string_view::npos) m.key = key;
    else m.key = json::parse(s.substr(i, key_end - i)).get<std::string>();  // "\u006dodel" is "model"
    m.value_at = skip_space(s, skip_space(s, key_end) + 1);  // past the colon
    m.value_end = value_end(s, m.value_at);
    out.push_back(std::move(m));
    i = skip_space(s, m.value_end);
    if (i >= s.size() || s[i] != ',') break;
    i = skip_space(s, i + 1);
  }
  return out;
}

std::size_t count_members(const json& v) {
  std::size_t n = 0;
  if (v.is_object()) {
    n = v.size();
    for (const auto& x : v) n += count_members(x);  // the values (items() builds a proxy per member)
  } else if (v.is_array()) {
    for (const auto& x : v) n += count_members(x);
  }
  return n;
}

// The first key written twice in one object, read with the parser's SAX interface (the tree keeps
// only the last value). Only run when the counts say there is one.
struct duplicate_finder final : nlohmann::json_sax<json> {
  std::vector<std::vector<std::string>> objects;  // the keys of each open object
  std::string found;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    objects.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    auto& keys = objects.back();
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) {
      found = k;
      return false;
    }
    keys.push_back(k);
    return true;
  }
  bool end_object() override {
    objects.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

}  // namespace

chat_request::result chat_request::parse(std::string body, std::size_t max_json_depth, std::size_t max_json_values,
                                         request_kind kind) {
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
  // The backend gets the client's bytes, so every key must mean one thing: with a key written
  // twice, the gateway's parser and the backend's could each take another value.
  if (count_members(p->body) != shape.members) {
    duplicate_finder finder;
    json::sax_parse(body, &finder);
    auto key = finder.found.size() > 64 ? finder.found.substr(0, 64) + "..." : finder.found;
    return invalid_request("The JSON body repeats the key '" + key + "' in one object; each key may appear once.", {},
                           "duplicate_key");
  }
  if (auto e = schema_of(kind).validate(p->body, *p)) return *e;
  p->members = top_level_members(body);
  p->raw = std::move(body);
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
  if (!schema_of(impl_->kind).generates) return 0;
  const auto max_out = max_output_tokens();
  return (max_out ? max_out : default_max_tokens) * choices();
}

std::int64_t chat_request::prompt_token_estimate() const { return schema_of(impl_->kind).prompt_estimate(impl_->body); }

std::string chat_request::prompt_sha256() const {
  auto m = impl_->body.find(schema_of(impl_->kind).prompt_member);
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
  std::size_t run = 0;  // runs without an escape are appended whole
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (s[i] != '"' && s[i] != '\\' && u >= 0x20) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (u >= 0x20) {
      out += '\\';
      out += s[i];
    } else {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
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
  using determinism = body_schema::same_answer;
  switch (schema_of(impl_->kind).determinism) {
    case determinism::always: return true;  // the same input, the same vectors
    case determinism::never: return false;
    case determinism::sampled: break;
  }
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
  return schema_of(impl_->kind).stream_options;
}

bool chat_request::needs_beta() const {
  if (!schema_of(impl_->kind).chat) return false;
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
  if (!schema_of(impl_->kind).chat) return false;  // tool calls are chat's
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
  if (repaired) impl_->rewritten.emplace_back("messages");
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
  for (const auto& [key, value] : patch.get().patch.items()) impl_->rewritten.push_back(key);
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
  const auto where = schema_of(impl_->kind).user_field;
  if (where == body_schema::user_id_place::metadata) {
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
  } else if (where == body_schema::user_id_place::none) {
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
  return impl_->splice();
}

// The client's bytes, member by member, except those the gateway sets: model, user_id, metadata,
// stream_options and the rewritten ones are written from the tree; members the tree no longer
// has are left out, and those it gained are added at the end.
std::string chat_request::impl::splice() const {
  const auto from_tree = [&](std::string_view key) {
    if (key == "model" || key == "user_id" || key == "metadata" || key == "stream_options") return true;
    return std::find(rewritten.begin(), rewritten.end(), key) != rewritten.end();
  };
  const auto& tree = body.get_ref<const json::object_t&>();
  std::string out;
  out.reserve(raw.size() + 64);
  out += '{';
  const auto write_member = [&](const std::string& key, const json& value) {
    if (out.size() > 1) out += ',';
    write_string(out, key);
    out += ':';
    if (value.is_string()) write_string(out, value.get_ref<const std::string&>());
    else out += value.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  for (const auto& m : members) {
    auto it = tree.find(m.key);
    if (it == tree.end()) continue;  // removed
    if (from_tree(m.key)) {
      write_member(m.key, it->second);
    } else {
      if (out.size() > 1) out += ',';
      out.append(raw, m.key_at, m.value_end - m.key_at);
    }
  }
  for (const auto& entry : tree) {  // (clang before 16 cannot capture a structured binding)
    const auto had = std::find_if(members.begin(), members.end(), [&](const member& m) { return m.key == entry.first; });
    if (had == members.end()) write_member(entry.first, entry.second);
  }
  out += '}';
  return out;
}

}  // namespace deepgate::api
