#pragma once
// A validated request for a model on one of the model routes (request_kind). The client's
// JSON is parsed (depth-checked first), checked against the OpenAI/DeepSeek schema of its route
// for the fields the gateway understands, and forwarded as the client's own bytes with the
// members the gateway sets spliced in (model, user_id, stream_options, the model's `set:` fields,
// the reasoning repair). Since the backend reads the client's bytes, a key written twice in any
// object is refused (the gateway and the backend could take different values). Unknown fields
// pass through (backends add parameters faster than gateways do), except keys that could
// redirect traffic (api_base, base_url, api_key, *_host), which are refused at any depth.
#include "deepgate/http/api_error.hpp"

#include <boost/system/result.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::api {

// Which API a request body speaks: what is validated, estimated and cached. chat: OpenAI's Chat
// Completions; embeddings; completions: legacy completions and FIM (prompt + suffix); responses:
// OpenAI's Responses API; messages and count_tokens: Anthropic's Messages API.
enum class request_kind : std::uint8_t { chat, embeddings, completions, responses, messages, count_tokens };

// DeepSeek's `user_id` for a key owner (backend option user_id: owner): "dg-" and 32 hex digits
// of SHA-256(owner). Stable across replicas and restarts, within DeepSeek's [a-zA-Z0-9_-]{1,512},
// and it names nobody.
std::string owner_user_id(std::string_view owner);

// A model's `set:` fields, parsed once (per snapshot) rather than per request.
class field_patch {
 public:
  explicit field_patch(std::string_view json_object);  // made by the config loader: an object
  ~field_patch();
  field_patch(const field_patch&) = delete;
  field_patch& operator=(const field_patch&) = delete;
  struct impl;
  const impl& get() const { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

class chat_request {
 public:
  using result = boost::system::result<chat_request, http::api_error>;
  // Refused before parsing: nesting deeper than `max_json_depth` (400 json_too_deep), more than
  // `max_json_values` values (413 json_too_large).
  // The request keeps `body` to forward it (move it in).
  static result parse(std::string body, std::size_t max_json_depth, std::size_t max_json_values = 200'000,
                      request_kind kind = request_kind::chat);
  request_kind kind() const;

  chat_request(chat_request&&) noexcept;
  chat_request& operator=(chat_request&&) noexcept;
  ~chat_request();

  const std::string& model() const;
  bool stream() const;
  bool include_usage() const;  // stream_options.include_usage as the client sent it
  std::int64_t max_output_tokens() const;  // max_completion_tokens or max_tokens; 0 when absent
  std::int64_t choices() const;            // n (default 1)
  // The completion tokens the token limits reserve: (max_tokens, else `default_max_tokens`) × n,
  // reasoning included as DeepSeek counts it; none for embeddings.
  std::int64_t completion_reserve(std::int64_t default_max_tokens) const;
  // Prompt tokens, estimated from the text's size; the token limit reserves this up front and
  // settles on the backend's real count.
  std::int64_t prompt_token_estimate() const;
  // Hex SHA-256 of the messages (the route's prompt member) in the cache key's canonical form:
  // correlates identical prompts in the access log, however they were spelled, without holding
  // their text.
  std::string prompt_sha256() const;
  // What the prompt cache keys on: every field except the output-neutral ones (stream,
  // stream_options, user), `model` replaced by the resolved model name, serialised canonically
  // (sorted keys, no whitespace, integral numbers as integers).
  std::string cache_material(std::string_view model) const;
  // Not in thinking mode (the request's "thinking" type, else `thinking_by_default`: DeepSeek
  // ignores temperature while thinking) and temperature 0 or a seed: the "deterministic" cache
  // policy caches these.
  bool deterministic(bool thinking_by_default = false) const;
  // logprobs: true (per-token data the prompt cache does not keep).
  bool logprobs() const;
  // Tools are offered: the answer may make tool calls.
  bool has_tools() const;
  // A chat request only DeepSeek's beta endpoint serves: the last message an assistant's with
  // `prefix: true` (Chat Prefix Completion), or a tool with `strict: true` (strict mode).
  bool needs_beta() const;
  // The route streams with OpenAI's stream_options (chat and completions), so the gateway can ask
  // for the usage chunk.
  bool takes_stream_options() const;
  // The reasoning repair: every assistant turn with tool calls but no reasoning_content gets the
  // reasoning `recall` finds for its first tool call's id. Returns how many turns were repaired.
  int restore_reasoning(const std::function<std::optional<std::string>(std::string_view tool_call_id)>& recall);
  // Merges the model's `set:` fields over the request: the operator's values win, null removes a
  // field (RFC 7386). Before anything reads the request (cache key, limits).
  void apply_fields(const field_patch& patch);
  // Streams: the gateway wants the final usage chunk (stream_options.include_usage) that the
  // client did not ask for; upstream_body adds it where the backend accepts it.
  void request_usage();

  // The body for the backend: the client's bytes, `model` replaced by the backend's name, the usage
  // chunk asked for when request_usage() was called and `backend_takes_usage` (its stream_usage),
  // and `user_id` replaced by `user_id` when that is not empty (else the client's, if any). Each
  // attempt may go to another backend: everything here is set again every time.
  std::string upstream_body(std::string_view upstream_model, bool backend_takes_usage = true,
                            std::string_view user_id = {});

  struct impl;  // opaque: keeps the JSON library out of this header

 private:
  explicit chat_request(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace deepgate::api
