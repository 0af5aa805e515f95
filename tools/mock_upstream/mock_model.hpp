#pragma once
// The "model" behind deepgate-mock: turns a DeepSeek /chat/completions request into the exact
// reply DeepSeek would send (JSON or SSE events), deterministically for a given request. No I/O.
//
// Behaviour is steered by defaults (command-line flags) and per-request directives in the last
// user message, e.g. "hello [mock status=503]" or "[mock tokens=40 tps=200 reset_after=3]":
//   status=N          answer with DeepSeek's error body for HTTP N (400/401/402/422/429/500/503)
//   tokens=N          completion tokens (words) to produce
//   latency_ms=N      delay before the response head ("slow headers")
//   queue_ms=N        after the head: keep-alive comments (stream) or blank lines (non-stream)
//   keepalive_ms=N    interval of those keep-alives
//   ttft_ms=N         delay before the first token
//   tps=X             tokens per second (0: as fast as possible)
//   reset_after=N     stream: TCP reset after N events
//   malformed_after=N stream: a malformed event after N events
//   no_done=1         stream: end without data: [DONE]
//   stall_after=N     stream: after N events, only keep-alive comments (every keepalive_ms) until the client leaves
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::mock {

struct knobs {
  int status = 0;
  int tokens = 12;
  int latency_ms = 0;
  int queue_ms = 0;
  int keepalive_ms = 100;
  int ttft_ms = 0;
  double tps = 0;
  int reset_after = -1;
  int malformed_after = -1;
  bool no_done = false;
  int stall_after = -1;
  int tool_calls = 1;       // calls made when tools are offered (cycling through the tools)
  bool same_index = false;  // stream every call at index 0, as DeepSeek's V4 and Ollama do
};

struct options {
  knobs defaults;
  std::string api_key;               // when set, requests must carry "Authorization: Bearer <key>"
  // DeepSeek's current names (thinking on by default); the pre-V4 ones are refused as DeepSeek does.
  std::vector<std::string> models{"deepseek-flash", "deepseek-v4-pro", "deepseek-v4-flash"};
  std::string balance = "110.00";  // GET /user/balance: total_balance in CNY ("0.00": is_available false)
  // Top-level request fields refused with 422, as strict self-hosted servers refuse fields they
  // do not know (e.g. stream_options).
  std::vector<std::string> reject_fields;
  std::string models_meta;  // --models-meta: a JSON object added to every model GET /models lists
};

struct reply {
  unsigned status = 200;
  bool stream = false;
  knobs k;
  std::string body;                 // non-stream JSON, or the error body
  std::vector<std::string> events;  // stream: complete SSE events, "[DONE]" last (unless no_done)
};

// Parses "[mock key=value ...]" directives out of `text` on top of `base`.
knobs parse_directives(std::string_view text, knobs base);

reply plan_reply(std::string_view request_body, std::string_view authorization, const options& opts);
// POST /embeddings as OpenAI's API and vLLM answer it: one deterministic unit vector per input
// (`dimensions` long, default 16), as floats or, with encoding_format base64, little-endian
// float32 bytes in base64; usage with prompt_tokens and total_tokens. Directives come from the
// first string input ("hello [mock status=503]").
reply plan_embeddings(std::string_view request_body, std::string_view authorization, const options& opts);

// POST /beta/completions (DeepSeek's FIM; vLLM and llama.cpp serve it as /v1/completions): the
// text between `prompt` and `suffix`, text_completion objects or chunks, usage as chat's.
// DeepSeek caps FIM at 4K tokens: a larger max_tokens is refused with 422. Directives come from
// the prompt.
reply plan_completion(std::string_view request_body, std::string_view authorization, const options& opts);
// POST /responses as OpenAI's API reference and DeepSeek's Responses guide have it (stateless:
// previous_response_id is refused): a response object with one message item, or the stream of
// response.* events (created, in_progress, output_item.added, content_part.added,
// output_text.delta..., output_text.done, content_part.done, output_item.done, completed) with
// usage in response.completed and no [DONE]. no_done=1 leaves out response.completed.
reply plan_response(std::string_view request_body, std::string_view authorization, const options& opts);
// POST /anthropic/v1/messages (DeepSeek's Anthropic API; vLLM, llama.cpp and Ollama serve
// /v1/messages): a message object, or Anthropic's events (message_start with the input usage,
// content_block_start, ping, content_block_delta..., content_block_stop, message_delta with the
// output usage, message_stop). Errors in Anthropic's shape. `claude-*` names map to DeepSeek's
// models as DeepSeek's Anthropic guide says (opus: deepseek-v4-pro, others: deepseek-flash).
// The key may come as x-api-key or Bearer. no_done=1 leaves out message_stop.
reply plan_message(std::string_view request_body, std::string_view authorization, const options& opts);
// POST .../messages/count_tokens: {"input_tokens": N}, N as plan_message counts the prompt.
reply plan_count_tokens(std::string_view request_body, std::string_view authorization, const options& opts);
// A chat request only DeepSeek's beta endpoint serves (the last message an assistant's with
// prefix: true, or a strict tool) sent to the plain one: the 400 DeepSeek answers.
std::optional<reply> beta_only(std::string_view request_body);

std::string deepseek_error_body(unsigned status);
std::string anthropic_error_body(unsigned status, std::string message = {});

// GET /models in DeepSeek's shape; `meta` (a JSON object, may be empty) is added to every model,
// for the metadata other servers list (vLLM's max_model_len, say).
std::string models_body(const options& opts);
std::string models_body(const std::vector<std::string>& models, const std::string& meta);

// GET /user/balance, in DeepSeek's shape.
std::string balance_body(const options& opts);

}  // namespace deepgate::mock
