#pragma once
// Incremental, sans-io parser for text/event-stream (WHATWG "server-sent events").
// Bytes go in as they arrive, in chunks of any size; complete events come out. The events
// are the same whatever the chunking, which the unit tests check byte by byte.
// Comment lines (": keep-alive") are reported as their own events so a relay can pass them
// on and a deadline can tell them apart from real progress.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::http {

struct sse_event {
  enum class kind { data, comment } type = kind::data;
  std::string event;  // "event:" field, empty when absent
  std::string data;   // "data:" lines joined with '\n' (for comments: the comment text)
  std::string id;

  bool is_done() const { return type == kind::data && data == "[DONE]"; }
};

class sse_parser {
 public:
  explicit sse_parser(std::size_t max_event_bytes = 1 << 20) : max_event_bytes_(max_event_bytes) {}

  enum class status { ok, event_too_large };

  // Feeds bytes; appends every event completed by them to `out`.
  status feed(std::string_view bytes, std::vector<sse_event>& out);

  // True when bytes of an unfinished event are buffered.
  bool has_partial() const { return !line_.empty() || has_fields_; }
  // Blank lines seen outside any event (DeepSeek sends them while a request is queued).
  std::size_t blank_lines() const { return blank_lines_; }

 private:
  void line_complete(std::string_view line, std::vector<sse_event>& out);

  std::size_t max_event_bytes_;
  std::string line_;
  bool last_was_cr_ = false;
  bool has_fields_ = false;
  std::size_t event_bytes_ = 0;
  std::size_t blank_lines_ = 0;
  sse_event current_;
  std::vector<sse_event> pending_comments_;
};

// Serialises an event back to the wire ("data: ...\n\n" or ": comment\n\n").
void append_sse_event(std::string& out, const sse_event& e);

}  // namespace deepgate::http
