#pragma once
// The opt-in `reasoning_repair`: DeepSeek's thinking mode rejects a conversation whose assistant
// turns with tool calls come back without their `reasoning_content` (400 "Missing
// `reasoning_content` field ..."), and most clients (the OpenAI SDKs' types, LangChain) drop that
// field. The gateway remembers the reasoning of each answer that made tool calls, by tool-call id
// and key owner, for a short TTL, and puts it back into the assistant turn when the conversation
// returns with the tool results. In memory (a byte-budgeted LRU), per replica. Sans-io.
#include "deepgate/cache/memory_store.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::api {

class reasoning_memory {
 public:
  using time_point = std::chrono::system_clock::time_point;
  reasoning_memory(std::size_t max_bytes, std::chrono::milliseconds ttl) : store_(max_bytes), ttl_(ttl) {}

  // From an answer (a chat.completion object): every tool call's id → its turn's reasoning.
  // Returns how many were remembered.
  int remember(std::string_view owner, std::string_view completion_json, time_point now);
  std::optional<std::string> recall(std::string_view owner, std::string_view tool_call_id, time_point now);

 private:
  static std::string key(std::string_view owner, std::string_view id);
  cache::memory_store store_;
  std::chrono::milliseconds ttl_;
};

}  // namespace deepgate::api
