#pragma once
// Internal to src/api: what each request_kind's body is. One file per kind under src/api/bodies/
// defines its body_schema: how it is validated, how its prompt is estimated, and the few
// behaviours that differ between APIs. chat_request.cpp does the rest the same way for all.
// Adding a route is one more file here, its request_kind, and its route_spec.
#include "deepgate/api/chat_request.hpp"
#include "deepgate/core/json_doc.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::api {

// The request's parsed body: read-only, in place in the client's bytes (core/json_doc.hpp).
using json = core::json_value;

struct chat_request::impl {
  request_kind kind = request_kind::chat;
  // The client's bytes (after the model's `set:` fields or the reasoning repair, the bytes with
  // those members rewritten), which the backend's body is spliced from, and their parse.
  std::string raw;
  core::json_doc doc;
  json root() const { return doc.root(); }
  // A top-level member replaced (value: its JSON), removed (no value) or added (at the end, in
  // the order given) in a copy of `raw`.
  struct replacement {
    std::string_view key;
    std::optional<std::string> value;
    bool done = false;  // splice: found among the client's members
  };
  std::string splice(std::vector<replacement>& changes) const;
  void replace_members(std::vector<replacement>& changes);  // raw = splice(changes), parsed again
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool gateway_usage = false;  // request_usage(): the gateway asks for usage the client did not
};

struct body_schema {
  // The route's schema, for the fields the gateway understands; fills in model and stream.
  std::optional<http::api_error> (*validate)(const json& body, chat_request::impl& out);
  // Prompt tokens from the text's size. DeepSeek documents about 0.3 tokens per English character
  // and 0.6 per Chinese one (3 bytes in UTF-8): 0.3 per byte covers both.
  std::int64_t (*prompt_estimate)(const json& body);
  const char* prompt_member;  // what prompt_sha256 digests
  bool stream_options = false;  // takes OpenAI's stream_options (the gateway can ask for usage)
  bool generates = true;        // output tokens are reserved (not for embeddings or counting)
  // always: the same input gives the same answer (embeddings); sampled: when not thinking and at
  // temperature 0 or with a seed; never: not for the prompt cache's deterministic policy.
  enum class same_answer : std::uint8_t { always, sampled, never } determinism = same_answer::never;
  // Where DeepSeek's user_id goes: chat's top-level user_id, Anthropic's metadata.user_id.
  enum class user_id_place : std::uint8_t { none, top_level, metadata } user_field = user_id_place::none;
  bool chat = false;  // tool calls (the reasoning repair) and DeepSeek's beta features
};

extern const body_schema chat_body, embeddings_body, completions_body, responses_body, messages_body,
    count_tokens_body;
const body_schema& schema_of(request_kind k);

// The checks the schemas share (src/api/bodies/checks.cpp).
namespace body {
using http::api_error;
std::string type_name(const json& v);
api_error wrong_type(const std::string& param, const json& v, std::string_view expected);
api_error out_of_range(const std::string& param, std::string_view what);
// Keys that could redirect traffic (api_base, base_url, api_key, *_host), at any depth outside
// the request's own JSON Schemas.
std::optional<api_error> find_redirecting_key(const json& root);
std::optional<api_error> check_number(const json& body, const char* name, double lo, double hi);
std::optional<api_error> check_integer(const json& body, const char* name, long long lo, long long hi);
std::optional<api_error> check_bool(const json& body, const char* name);
std::optional<api_error> check_stop(const json& body);
std::optional<api_error> check_object_or_string(const json& body, const char* name);
// A JSON object naming a model, no key that could redirect traffic, `user` a string.
std::optional<api_error> validate_common(const json& body, chat_request::impl& out);
std::optional<api_error> check_stream(const json& body, chat_request::impl& out, bool takes_options);
std::optional<api_error> check_sampling(const json& body);

// What a prompt estimate counts: the bytes of text, and the items a template wraps (messages) or
// that are tokens already (token ids).
struct text_size {
  std::size_t bytes = 0, items = 0, tokens = 0;
  // Strings count their bytes, token ids one each; objects the text of their "text" and
  // "content" members (message parts, Anthropic blocks, Responses items), recursively.
  void add(const json& v, int depth = 0) {
    if (v.is_string()) {
      bytes += v.str().size();
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
    if (auto it = body.find(name); it != body.end() && !it->is_null()) bytes += it->raw().size();
  }
};

}  // namespace body

}  // namespace deepgate::api
