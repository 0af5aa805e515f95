#include "deepgate/http/head_writer.hpp"

#include <charconv>

namespace deepgate::http {

// A plain loop: string_view::find_first_of calls memchr on the set for every byte, and this runs
// for every header of every response.
bool safe_header_text(std::string_view s) {
  for (const char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void head_writer::request_line(std::string_view method, std::string_view target) {
  out_ += method;
  out_ += ' ';
  out_ += target;
  out_ += " HTTP/1.1\r\n";
}

void head_writer::status_line(unsigned version, unsigned status, std::string_view reason) {
  out_ += version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  char buf[8];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, status);
  out_.append(buf, end);
  out_ += ' ';
  out_ += reason;
  out_ += "\r\n";
}

bool head_writer::field(std::string_view name, std::string_view value) {
  if (!safe_header_text(name) || !safe_header_text(value) || name.find(':') != std::string_view::npos) return false;
  const auto at = out_.size();
  out_.resize(at + name.size() + value.size() + 4);  // one size check, then plain copies
  char* p = out_.data() + at;
  p = std::char_traits<char>::copy(p, name.data(), name.size()) + name.size();
  *p++ = ':';
  *p++ = ' ';
  p = std::char_traits<char>::copy(p, value.data(), value.size()) + value.size();
  *p++ = '\r';
  *p = '\n';
  return true;
}

void head_writer::content_length(std::size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out_ += "Content-Length: ";
  out_.append(buf, end);
  out_ += "\r\n";
}

void head_writer::end() { out_ += "\r\n"; }

}  // namespace deepgate::http
