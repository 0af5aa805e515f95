#pragma once
// Stage 4 of a chat request, as the handler sees it: decide the request's cache plan, look it up
// (the store, then the single-flight table), answer a hit, and on a miss take the complete
// answer into the cache and to the identical requests waiting for it. The logic lives in
// src/cache/ (policy, answer, stores, single_flight); this is the glue to the request.
#include "deepgate/api/services.hpp"
#include "deepgate/cache/answer.hpp"
#include "deepgate/cache/policy.hpp"
#include "deepgate/http/message.hpp"
#include "deepgate/observability/request_record.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace deepgate::api {

struct request_context;

class cache_stage {
 public:
  std::optional<http::api_error> error;  // a bad cache header: answer it and stop
  observability::cache_result verdict = observability::cache_result::none;
  std::optional<cache::stored_answer> hit;  // from the store or from an identical request in flight

  // A miss whose answer is wanted (to store, or for identical requests waiting on this one).
  bool wants_answer() const { return cache_ != nullptr; }
  // Set on a miss that will store: streams feed their data events here.
  cache::stream_assembler* assembler() { return assembler_ ? &*assembler_ : nullptr; }
  // A complete answer (a chat.completion object): stored, and handed to the waiting requests.
  void complete(std::string_view completion);
  // The same for an answer only ever sent whole, as it came (embeddings).
  void complete_plain(std::string_view body);

  friend boost::asio::awaitable<cache_stage> look_up(request_context& ctx);

 private:
  void store(std::string answer);  // once
  cache::prompt_cache* cache_ = nullptr;
  unsigned worker_ = 0;
  std::string key_;
  cache::plan plan_;
  std::optional<cache::single_flight::lead> lead_;
  std::optional<cache::stream_assembler> assembler_;
};

// With the request's model and snapshot (the cache policy follows reloads).
boost::asio::awaitable<cache_stage> look_up(request_context& ctx);

// Answers a hit: the stored answer as JSON, or replayed as an event stream, with `Age`. What is
// stored is already in the form a hit returns (see cache_stage::complete).
boost::asio::awaitable<void> send_hit(http::response_writer& out, const cache::stored_answer& hit, bool stream,
                                      bool include_usage);

}  // namespace deepgate::api
