#pragma once
// The access log: one JSON line per request. The event loop formats the line and appends it to
// its worker's batch; a batch goes to the log's writer thread when it reaches 32 KiB or when
// flush_batches() runs (the application calls it every 250 ms), and that thread writes it with
// one write(2). So a worker never waits on the disk and pays one queue hand-off per batch, not
// per line. When the writer falls behind (1024 batches queued), the oldest queued batch is
// dropped (its lines counted in /metrics) rather than ever blocking a worker. No prompt, no
// answer, no key: ids, names, numbers and an optional digest.
#include "deepgate/config/config.hpp"
#include "deepgate/observability/labels.hpp"
#include "deepgate/observability/request_record.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace deepgate::observability {

// The line for `r` (without the newline). `model` and `backend` are the names for its indexes.
std::string format_access_line(const request_record& r, std::string_view model, std::string_view backend);
// The same line, appended to `out` (a batch of lines).
void append_access_line(std::string& out, const request_record& r, std::string_view model, std::string_view backend);

class access_log {
 public:
  // Throws std::runtime_error when the file cannot be opened.
  // `labels` (the names for the records' model and backend numbers) outlives the log.
  access_log(const config::gateway_config& cfg, unsigned workers, const label_table& labels);
  ~access_log();  // writes out what is batched and queued
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  // From worker `worker`'s thread (any thread is safe; each worker's batch has its own lock).
  void write(const request_record& r, unsigned worker);
  // Hands every non-empty batch to the writer thread.
  void flush_batches();
  std::uint64_t dropped() const;  // lines

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace deepgate::observability
