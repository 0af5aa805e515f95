#include "deepgate/api/chat_request.hpp"

#include "bodies/body.hpp"
#include "deepgate/core/digest.hpp"
#include "deepgate/http/json_depth.hpp"

#include <nlohmann/json.hpp>

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
  p->raw = std::move(body);  // first: the parse points into it
  switch (p->doc.parse(p->raw, max_json_depth, shape.values + shape.members + 1)) {
    case core::json_doc::status::ok: break;
    case core::json_doc::status::invalid:
      return invalid_request(
          "We could not parse the JSON body of your request. The API expects a JSON payload (Content-Type: "
          "application/json), but what was sent was not valid JSON.",
          {}, "invalid_json");
    case core::json_doc::status::duplicate_key: {
      // The backend gets the client's bytes, so every key must mean one thing: with a key written
      // twice, the gateway's parser and the backend's could each take another value.
      const auto& found = p->doc.duplicate();
      auto key = found.size() > 64 ? found.substr(0, 64) + "..." : found;
      return invalid_request("The JSON body repeats the key '" + key + "' in one object; each key may appear once.", {},
                             "duplicate_key");
    }
  }
  if (auto e = schema_of(kind).validate(p->root(), *p)) return *e;
  return chat_request(std::move(p));
}

request_kind chat_request::kind() const { return impl_->kind; }
const std::string& chat_request::model() const { return impl_->model; }
bool chat_request::stream() const { return impl_->stream; }
bool chat_request::include_usage() const { return impl_->include_usage; }

std::int64_t chat_request::max_output_tokens() const {
  const auto b = impl_->root();
  for (auto name : {"max_completion_tokens", "max_tokens", "max_output_tokens"})
    if (auto it = b.find(name); it != b.end() && it->is_number_integer()) return it->get<std::int64_t>();
  return 0;
}

std::int64_t chat_request::choices() const {
  const auto n = impl_->root()["n"];
  return n.is_number_integer() ? n.get<std::int64_t>() : 1;
}

std::int64_t chat_request::completion_reserve(std::int64_t default_max_tokens) const {
  if (!schema_of(impl_->kind).generates) return 0;
  const auto max_out = max_output_tokens();
  return (max_out ? max_out : default_max_tokens) * choices();
}

std::int64_t chat_request::prompt_token_estimate() const { return schema_of(impl_->kind).prompt_estimate(impl_->root()); }

namespace {

// The canonical form the prompt cache keys on, written straight from the parsed request: objects
// with sorted keys, no whitespace, strings with JSON's mandatory escapes only (the parser already
// rejected invalid UTF-8), and numbers by value: 0, 0.0 and -0.0 are the same temperature, 1e2
// and 100 the same max_tokens. Integral floats are written as integers; other floats in their
// shortest round-trip form.
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

// An object's members in key order (the order the tree of an earlier version had, so cache keys
// stay what they were). One scratch list per thread, used as a stack by the recursion.
using member_ref = std::pair<std::string_view, json>;
thread_local std::vector<member_ref> sort_scratch;

std::size_t sorted_members(const json& v) {  // pushes them; returns where they start
  const auto from = sort_scratch.size();
  for (auto it = v.begin(); it != v.end(); ++it) sort_scratch.emplace_back(it.key(), *it);
  std::sort(sort_scratch.begin() + static_cast<std::ptrdiff_t>(from), sort_scratch.end(),
            [](const member_ref& a, const member_ref& b) { return a.first < b.first; });
  return from;
}

void write_canonical(std::string& out, const json& v) {
  char buf[32];
  const auto& n = v.node();
  switch (v.type()) {
    case core::json_type::object: {
      out += '{';
      const auto from = sorted_members(v);
      for (auto i = from; i < sort_scratch.size(); ++i) {  // by index: the recursion pushes more
        if (i != from) out += ',';
        const auto [key, value] = sort_scratch[i];
        write_string(out, key);
        out += ':';
        write_canonical(out, value);
      }
      sort_scratch.resize(from);
      out += '}';
      return;
    }
    case core::json_type::array: {
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
    case core::json_type::string: write_string(out, v.str()); return;
    case core::json_type::boolean: out += n.boolean ? "true" : "false"; return;
    case core::json_type::number_integer: {
      auto r = std::to_chars(buf, buf + sizeof buf, n.integer);
      out.append(buf, r.ptr);
      return;
    }
    case core::json_type::number_unsigned: {
      auto r = std::to_chars(buf, buf + sizeof buf, n.unsigned_integer);
      out.append(buf, r.ptr);
      return;
    }
    case core::json_type::number_float: {
      const double d = n.floating;
      auto r = std::isfinite(d) && std::nearbyint(d) == d && std::fabs(d) < 9e15
                   ? std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d))
                   : std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      return;
    }
    default: out += "null"; return;
  }
}

// A member the gateway rewrites, written back (compact; the parse already refused invalid UTF-8).
std::string dump(const nlohmann::json& v) { return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

std::string chat_request::prompt_sha256() const {
  // Canonical, so the same messages give the same digest however they were spelled.
  const auto m = impl_->root()[schema_of(impl_->kind).prompt_member];
  if (m.is_null()) return {};
  std::string text;
  text.reserve(m.raw().size());
  write_canonical(text, m);
  return core::sha256_hex(text);
}

std::string chat_request::cache_material(std::string_view model) const {
  std::string out;
  out.reserve(impl_->raw.size() + 16);
  out += '{';
  const auto from = sorted_members(impl_->root());
  bool first = true;
  for (auto i = from; i < sort_scratch.size(); ++i) {
    const auto [key, value] = sort_scratch[i];
    if (key == "stream" || key == "stream_options" || key == "user") continue;  // output-neutral
    if (!first) out += ',';
    first = false;
    write_string(out, key);
    out += ':';
    if (key == "model") write_string(out, model);
    else write_canonical(out, value);
  }
  sort_scratch.resize(from);
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
  const auto b = impl_->root();
  bool thinking = thinking_by_default;
  if (const auto type = b["thinking"]["type"]; type.is_string()) thinking = type.str() != "disabled";
  if (thinking) return false;
  if (auto seed = b.find("seed"); seed != b.end() && !seed->is_null()) return true;
  const auto t = b["temperature"];
  return t.is_number() && t.get<double>() == 0.0;
}

bool chat_request::logprobs() const {
  const auto l = impl_->root()["logprobs"];  // chat: true; completions: how many (0 asks for none)
  return (l.is_boolean() && l.get<bool>()) || (l.is_number_integer() && l.get<std::int64_t>() > 0);
}

bool chat_request::takes_stream_options() const {
  return schema_of(impl_->kind).stream_options;
}

bool chat_request::needs_beta() const {
  if (!schema_of(impl_->kind).chat) return false;
  const auto b = impl_->root();
  const auto messages = b["messages"];
  if (!messages.empty()) {
    const auto last = messages.back();
    if (last.value("role", "") == "assistant" && last["prefix"] == true) return true;
  }
  if (auto tools = b.find("tools"); tools != b.end() && tools->is_array())
    for (const auto& t : *tools)
      if (t["function"]["strict"] == true) return true;
  return false;
}

bool chat_request::has_tools() const {
  if (!schema_of(impl_->kind).chat) return false;  // tool calls are chat's
  const auto t = impl_->root()["tools"];
  return t.is_array() && !t.empty();
}

int chat_request::restore_reasoning(
    const std::function<std::optional<std::string>(std::string_view tool_call_id)>& recall) {
  const auto messages = impl_->root()["messages"];
  if (!messages.is_array()) return 0;
  // Read on the parse; only when a turn is repaired is `messages` parsed into a tree to rewrite.
  std::vector<std::pair<std::size_t, std::string>> repairs;  // message index, its reasoning
  std::size_t i = 0;
  for (const auto& m : messages) {
    const auto at = i++;
    if (m.value("role", "") != "assistant") continue;
    const auto calls = m["tool_calls"];
    if (!calls.is_array() || calls.empty()) continue;
    if (m["reasoning_content"].is_string()) continue;
    const auto id = calls.front()["id"];
    if (!id.is_string()) continue;
    if (auto reasoning = recall(id.str())) repairs.emplace_back(at, std::move(*reasoning));
  }
  if (repairs.empty()) return 0;
  auto tree = nlohmann::json::parse(messages.raw());
  for (auto& [at, reasoning] : repairs) tree[at]["reasoning_content"] = std::move(reasoning);
  std::vector<impl::replacement> changes{{"messages", dump(tree)}};
  impl_->replace_members(changes);
  return static_cast<int>(repairs.size());
}

struct field_patch::impl {
  nlohmann::json patch;
};
field_patch::field_patch(std::string_view json_object) : impl_(std::make_unique<impl>()) {
  impl_->patch = nlohmann::json::parse(json_object, nullptr, false);
  if (!impl_->patch.is_object()) impl_->patch = nlohmann::json::object();
}
field_patch::~field_patch() = default;

void chat_request::apply_fields(const field_patch& patch) {
  // RFC 7386 per top-level member: null removes it; an object merges into the client's (parsed
  // into a tree for that); anything else replaces it.
  const auto root = impl_->root();
  std::vector<impl::replacement> changes;
  for (const auto& [key, value] : patch.get().patch.items()) {
    if (value.is_null()) {
      changes.push_back({key, std::nullopt});
      continue;
    }
    const auto current = root[key];
    auto merged = current.doc() ? nlohmann::json::parse(current.raw()) : nlohmann::json();  // absent: null
    merged.merge_patch(value);
    changes.push_back({key, dump(merged)});
  }
  impl_->replace_members(changes);
  if (const auto s = impl_->root()["stream"]; s.is_boolean()) impl_->stream = s.get<bool>();
}

void chat_request::request_usage() {
  impl_->gateway_usage = takes_stream_options() && impl_->stream && !impl_->include_usage;
}

std::string chat_request::upstream_body(std::string_view upstream_model, bool backend_takes_usage,
                                        std::string_view user_id) {
  // Everything is decided from the client's bytes on each call, so each attempt (which may go to
  // a backend with another stream_usage, or without the owner's user_id) starts from them.
  const auto root = impl_->root();
  std::vector<impl::replacement> changes;  // in key order: members added go at the end in it
  changes.reserve(4);
  const auto where = schema_of(impl_->kind).user_field;
  if (where == body_schema::user_id_place::metadata && !user_id.empty()) {
    // Anthropic's place for it, which DeepSeek's Anthropic API reads: metadata.user_id.
    const auto m = root["metadata"];
    auto tree = m.is_object() ? nlohmann::json::parse(m.raw()) : nlohmann::json::object();
    tree["user_id"] = user_id;
    changes.push_back({"metadata", dump(tree)});
  }
  std::string model;
  write_string(model, upstream_model);
  changes.push_back({"model", std::move(model)});
  if (impl_->gateway_usage) {
    const auto so = root["stream_options"];
    if (backend_takes_usage) {
      auto tree = so.is_object() ? nlohmann::json::parse(so.raw()) : nlohmann::json::object();
      tree["include_usage"] = true;
      changes.push_back({"stream_options", dump(tree)});
    } else if (so.is_object()) {  // the client's options, without the usage chunk; none left, none sent
      auto tree = nlohmann::json::parse(so.raw());
      tree.erase("include_usage");
      changes.push_back({"stream_options", tree.empty() ? std::nullopt : std::optional<std::string>(dump(tree))});
    }
  }
  // DeepSeek's user_id is a chat field: other routes go as the client sent them.
  if (where == body_schema::user_id_place::top_level && !user_id.empty()) {
    std::string id;
    write_string(id, user_id);
    changes.push_back({"user_id", std::move(id)});
  }
  return impl_->splice(changes);
}

// The client's bytes, member by member, with `changes` made: a member replaced where it was,
// removed, or (when the client had none) added at the end.
std::string chat_request::impl::splice(std::vector<replacement>& changes) const {
  for (auto& c : changes) c.done = false;
  std::string out;
  out.reserve(raw.size() + 64);
  out += '{';
  const auto write_member = [&](std::string_view key, std::string_view value) {
    if (out.size() > 1) out += ',';
    write_string(out, key);
    out += ':';
    out += value;
  };
  const auto r = root();
  for (auto it = r.begin(); it != r.end(); ++it) {
    const auto key = it.key();
    auto c = std::find_if(changes.begin(), changes.end(), [&](const replacement& x) { return x.key == key; });
    if (c != changes.end()) {
      c->done = true;
      if (c->value) write_member(key, *c->value);
      continue;
    }
    if (out.size() > 1) out += ',';
    const auto from = it.key_node().begin;  // the key's opening quote, as the client wrote it
    out.append(raw, from, it->node().end - from);
  }
  for (const auto& c : changes)
    if (!c.done && c.value) write_member(c.key, *c.value);
  out += '}';
  return out;
}

void chat_request::impl::replace_members(std::vector<replacement>& changes) {
  // The keys of `changes` may point into `raw` or its parse: own them before either goes.
  std::vector<std::string> keys;
  keys.reserve(changes.size());
  for (auto& c : changes) c.key = keys.emplace_back(c.key);
  auto spliced = splice(changes);
  raw = std::move(spliced);
  // It parses: the client's bytes, and members written by nlohmann or write_string.
  [[maybe_unused]] const auto status = doc.parse(raw, 1 << 16);
}

}  // namespace deepgate::api
