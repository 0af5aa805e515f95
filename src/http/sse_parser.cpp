#include "deepgate/http/sse_parser.hpp"

namespace deepgate::http {

sse_parser::status sse_parser::feed(std::string_view bytes, std::vector<sse_event>& out) {
  // Line ends are found with memchr. A line that is whole in `bytes` is read where it is; only
  // a line split across feeds is gathered in line_.
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (last_was_cr_) {  // the LF of a CRLF pair: the line already ended at CR
      last_was_cr_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    auto rest = bytes.substr(i);
    auto lf = rest.find('\n');
    auto cr = rest.substr(0, lf).find('\r');
    auto end = cr != std::string_view::npos ? cr : lf;
    auto text = rest.substr(0, end);
    if (event_bytes_ + text.size() > max_event_bytes_) return status::event_too_large;
    event_bytes_ += text.size();
    if (end == std::string_view::npos) {
      line_.append(text);
      break;
    }
    last_was_cr_ = rest[end] == '\r';
    if (line_.empty()) {
      line_complete(text, out);
    } else {
      line_.append(text);
      line_complete(line_, out);
      line_.clear();
    }
    i += end + 1;
  }
  if (line_.empty()) std::string().swap(line_);  // between events a stream holds no line buffer
  return status::ok;
}

void sse_parser::line_complete(std::string_view line, std::vector<sse_event>& out) {
  if (line.empty()) {  // blank line: dispatch
    if (has_fields_) {
      if (!current_.data.empty() && current_.data.back() == '\n') current_.data.pop_back();
      out.push_back(std::move(current_));
    } else {
      ++blank_lines_;
    }
    current_ = sse_event{};
    has_fields_ = false;
    event_bytes_ = 0;
    return;
  }
  if (line.front() == ':') {
    // A comment is complete on its own line; it does not wait for a blank line.
    line.remove_prefix(1);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    out.push_back(sse_event{sse_event::kind::comment, {}, std::string(line), {}});
    if (!has_fields_) event_bytes_ = 0;
    return;
  }
  std::string_view field = line, value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (current_.data.empty()) current_.data.reserve(value.size() + 1);  // one allocation, not two
    current_.data.append(value);
    current_.data.push_back('\n');
    has_fields_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
    has_fields_ = true;
  } else if (field == "id") {
    current_.id.assign(value);
    has_fields_ = true;
  }  // "retry" and unknown fields are ignored, as the spec says
}

void append_sse_event(std::string& out, const sse_event& e) {
  if (e.type == sse_event::kind::comment) {
    out += ": ";
    out += e.data;
    out += "\n\n";
    return;
  }
  if (!e.event.empty()) {
    out += "event: ";
    out += e.event;
    out += '\n';
  }
  if (!e.id.empty()) {
    out += "id: ";
    out += e.id;
    out += '\n';
  }
  std::string_view data{e.data};
  for (;;) {
    auto nl = data.find('\n');
    out += "data: ";
    out += data.substr(0, nl);
    out += '\n';
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  out += '\n';
}

}  // namespace deepgate::http
