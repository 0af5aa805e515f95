#pragma once
// A small blocking HTTP/1.1 client over POSIX sockets, for tests. It can send arbitrary bytes
// (to test malformed requests), read Content-Length, chunked and close-delimited bodies, and
// hand body bytes to a callback as they arrive (to test streaming and client disconnects).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::test {

struct http_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
  bool complete = false;  // the body ended as HTTP says (length reached / last chunk); false: cut off
  std::string error;      // transport problem, if any

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using headers = std::vector<std::pair<std::string, std::string>>;

// The client key the generated test configs accept; sent by default unless a request sets its
// own Authorization, api-key or x-api-key header.
inline constexpr const char* test_key = "dg-test-key-for-integration-0001";
// Receives body bytes as they arrive; return false to hang up.
using body_callback = std::function<bool(std::string_view)>;

class http_connection {
 public:
  // `source`: a loopback address other than 127.0.0.1 to connect from (a client that is not a proxy).
  // `receive_buffer`: SO_RCVBUF before connecting (0: the kernel's, which grows to megabytes on
  // loopback): a client that stops reading then stops the server's writes after that many bytes.
  explicit http_connection(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(30),
                           const char* source = nullptr, int receive_buffer = 0);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool send_raw(std::string_view bytes);
  // Sends `prefix`, then `fill` bytes of `filler` for as long as the server reads them and has
  // not answered (or closed): what a client that never ends a line or a body does. Stops at
  // `fill` bytes, at a send error, or when the server neither reads nor answers for the
  // connection's timeout. Returns the filler bytes sent.
  std::size_t flood(std::string_view prefix, char filler, std::size_t fill);
  // Every byte the server sends until it closes (or the timeout passes), unparsed.
  std::string read_until_close();
  // True when a response byte (or the server's close) is waiting to be read.
  bool readable(std::chrono::milliseconds wait);
  http_response request(const std::string& method, const std::string& path, const std::string& body = {},
                        const headers& extra = {}, const body_callback& on_body = {});
  http_response read_response(const body_callback& on_body = {});
  // True when the server has closed its side (read returns 0).
  bool closed_by_peer(std::chrono::milliseconds wait);
  void close();

 private:
  bool fill();
  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buf_;
};

// One request on a fresh connection.
http_response http_call(std::uint16_t port, const std::string& method, const std::string& path,
                        const std::string& body = {}, const headers& extra = {}, const body_callback& on_body = {});

inline http_response post_json(std::uint16_t port, const std::string& path, const std::string& body,
                               const headers& extra = {}) {
  auto h = extra;
  h.emplace_back("Content-Type", "application/json");
  return http_call(port, "POST", path, body, h);
}

// Splits an SSE body into the payloads of its "data:" events, and its comments as ":<text>".
std::vector<std::string> sse_items(const std::string& body);

}  // namespace deepgate::test
