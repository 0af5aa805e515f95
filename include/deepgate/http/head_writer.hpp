#pragma once
// Formats HTTP/1.1 message heads into one string, for a single gather write of head + body.
// Cheaper than a generic serializer on the hot path. Header values are the gateway's own or
// validated, but a CR or LF is still refused here so no value can ever split a header.
#include <string>
#include <string_view>

namespace deepgate::http {

class head_writer {
 public:
  // Room for a usual head up front: grown from empty, the string reallocated and copied itself
  // six times per head (15, 30, ... 960 bytes).
  explicit head_writer(std::string& out) : out_(out) {
    out_.clear();
    out_.reserve(512);
  }
  void request_line(std::string_view method, std::string_view target);
  void status_line(unsigned version, unsigned status, std::string_view reason);
  // Returns false (and writes nothing) when the name or value holds CR, LF or NUL.
  bool field(std::string_view name, std::string_view value);
  void content_length(std::size_t n);
  void end();

 private:
  std::string& out_;
};

bool safe_header_text(std::string_view s);

}  // namespace deepgate::http
