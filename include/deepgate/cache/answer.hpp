#pragma once
// What the prompt cache stores and how it answers from it. One stored form serves both kinds of
// request: the answer as a non-stream chat.completion object (content, reasoning_content, tool
// calls, finish reason, usage). A streamed miss is assembled into it on the side while the
// client receives the events; a hit with stream:true is replayed from it as a well-formed event
// stream. Sans-io, so all of it is unit tested.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::cache {

// Builds the chat.completion object from a stream's chunks.
class stream_assembler {
 public:
  // Gives up once the assembled text (content, reasoning, tool-call arguments) passes
  // `max_bytes`: an answer that large could not be stored anyway (cache.max_entry_bytes), and
  // assembling it would only cost memory and event-loop time.
  explicit stream_assembler(std::size_t max_bytes = 1 << 20);
  ~stream_assembler();
  stream_assembler(stream_assembler&&) noexcept;
  stream_assembler& operator=(stream_assembler&&) noexcept;

  // One data event (a chat.completion.chunk). After a chunk that is not one, the stream is not
  // cacheable and finish() returns nullopt.
  void add(std::string_view chunk_json);
  // The whole answer: every choice ended with a finish_reason. nullopt otherwise.
  std::optional<std::string> finish() const;
  // True once the stream is known not to be storable (too large, or not chat chunks): add() then
  // does nothing.
  bool given_up() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// True when a non-stream body is a complete answer worth storing (a chat.completion with every
// choice finished).
bool storable_answer(std::string_view completion_json);

// The body of a non-stream hit: the stored answer with its prompt tokens marked cached
// (prompt_tokens_details.cached_tokens, and DeepSeek's prompt_cache_hit/miss_tokens when present).
std::string hit_body(std::string_view completion_json);

// A stream hit: role, reasoning and content deltas, tool calls, the finish reason, the usage
// chunk when `include_usage`, then [DONE]; each as an SSE `data:` event.
std::string replay_stream(std::string_view completion_json, bool include_usage);
struct replay {
  std::string events;       // every event but the usage chunk and [DONE]
  std::string usage_event;  // empty when the answer has no usage
};
replay replay_parts(std::string_view completion_json);

// What the cache stores for one answer, made once when it is stored so that a hit parses
// nothing: the hit's JSON body, its replay events and its usage chunk, joined by NUL bytes
// (JSON text never holds a raw NUL). About three times the answer's size.
std::string make_stored(std::string_view completion_json);
// The same for an answer that is only ever sent whole (embeddings): its body as it came, no
// replay events.
bool storable_embeddings(std::string_view list_json);
std::string make_stored_body(std::string_view body_json);
struct stored_parts {
  std::string_view body, events, usage_event;
};
// nullopt when `stored` is not in that form (a damaged or foreign value: a miss).
std::optional<stored_parts> split_stored(std::string_view stored);

}  // namespace deepgate::cache
