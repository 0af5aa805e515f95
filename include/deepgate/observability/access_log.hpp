#pragma once
// The access log: one JSON line per request, handed to spdlog's asynchronous logger so the event
// loop only formats the line and enqueues it; a background thread writes it. When the writer
// falls behind, the oldest queued lines are dropped (counted in /metrics) rather than ever
// blocking a worker. No prompt, no answer, no key: ids, names, numbers and an optional digest.
#include "deepgate/config/config.hpp"
#include "deepgate/observability/request_record.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace deepgate::observability {

// The line for `r` (without the newline). `model` and `backend` are the names for its indexes.
std::string format_access_line(const request_record& r, std::string_view model, std::string_view backend);

class access_log {
 public:
  // Throws std::runtime_error when the file cannot be opened.
  access_log(const config::gateway_config& cfg);
  ~access_log();  // writes out what is queued
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  void write(const request_record& r);
  std::uint64_t dropped() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace deepgate::observability
