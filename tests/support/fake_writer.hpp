#pragma once
// A response_writer that keeps what a handler wrote, for in-process stage tests: no socket, no
// session. The status, headers and body (a whole response, or a stream's bytes) are there to
// read when the handler returns.
#include "deepgate/http/message.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace deepgate::test {

class fake_writer : public http::response_writer {
 public:
  unsigned status_code = 0;
  http::header_list headers;  // added ones first, then the response's own
  std::string content_type, body;
  bool streamed = false, ended = false, aborted = false;

  std::string header(std::string_view name) const { return std::string(http::find_header(headers, name)); }

  boost::asio::awaitable<bool> send(http::response r) override {
    status_code = r.status;
    content_type = r.content_type;
    for (auto& h : r.headers) headers.push_back(std::move(h));
    body = r.body_owner ? std::string(r.payload()) : std::move(r.body);
    ended = true;
    co_return true;
  }
  boost::asio::awaitable<bool> begin_stream(unsigned status, http::header_list h, std::string_view type) override {
    status_code = status;
    content_type = type.empty() ? "text/event-stream" : std::string(type);
    for (auto& x : h) headers.push_back(std::move(x));
    streamed = true;
    co_return true;
  }
  boost::asio::awaitable<bool> write(std::string_view bytes) override {
    body += bytes;
    co_return true;
  }
  boost::asio::awaitable<bool> end_stream(std::string_view last) override {
    body += last;
    ended = true;
    co_return true;
  }
  bool committed() const override { return !body.empty() || ended; }
  void abort(bool) override { aborted = true; }
  void add_header(std::string name, std::string value) override { headers.push_back({std::move(name), std::move(value)}); }
  bool started() const override { return status_code != 0; }
  unsigned status() const override { return status_code; }
};

}  // namespace deepgate::test
