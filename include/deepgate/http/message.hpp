#pragma once
// The gateway's own small request/response types. Handlers see these instead of Beast's, so
// handler code stays light to compile and the HTTP library stays an implementation detail.
#include "deepgate/http/header.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deepgate::http {

std::string_view find_header(const header_list& headers, std::string_view lower_name);

struct request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string query;
  header_list headers;
  std::string body;
  std::string peer;     // remote address, without the port
  unsigned worker = 0;  // index of the event loop serving this connection
  // What the server's head check learned about this request, for the handler to use rather than
  // work out again (the gateway: the caller's authentication). Opaque here.
  std::shared_ptr<const void> head_state;

  std::string_view header(std::string_view lower_name) const { return find_header(headers, lower_name); }
};

struct response {
  unsigned status = 200;
  std::string_view content_type = "application/json";  // always a literal (static storage)
  header_list headers;
  std::string body;
  // Or a body that stays with its owner (a cache hit's stored answer): written from there, not
  // copied. Set both.
  std::shared_ptr<const void> body_owner;
  std::string_view shared_body;

  std::string_view payload() const { return body_owner ? shared_body : std::string_view(body); }
};

// How a handler answers. Every call returns false once the client is gone (write failed or
// timed out); the handler then stops and releases what it holds.
class response_writer {
 public:
  virtual ~response_writer() = default;
  // A whole response with a Content-Length.
  virtual boost::asio::awaitable<bool> send(response r) = 0;
  // The head of a streamed (chunked) response, text/event-stream unless told otherwise. The head
  // goes out with the first write (one packet, not two); until then nothing is committed and
  // the handler may still send() a whole response instead.
  virtual boost::asio::awaitable<bool> begin_stream(unsigned status, header_list headers,
                                                    std::string_view content_type = {}) = 0;
  virtual boost::asio::awaitable<bool> write(std::string_view bytes) = 0;
  // The clean end of a stream, with its last bytes in the same write.
  virtual boost::asio::awaitable<bool> end_stream(std::string_view last_bytes = {}) = 0;
  // True once any byte of a response has been written: the status can no longer change.
  virtual bool committed() const = 0;
  // Ends the exchange by closing the connection (a truncated response); `reset` sends a TCP RST.
  virtual void abort(bool reset) = 0;
  // Headers added to every response this writer sends (x-request-id and the like).
  virtual void add_header(std::string lower_name, std::string value) = 0;
  virtual bool started() const = 0;
  // For the request's record: the status sent (0: none yet), the time spent writing to the
  // client (a slow reader's time, not the gateway's), and whether a write failed (client gone).
  virtual unsigned status() const { return 0; }
  virtual std::chrono::nanoseconds write_time() const { return {}; }
  virtual bool client_gone() const { return false; }
  // Calls `on_hangup` (on the handler's own thread) if the client closes its connection while
  // nothing has been written yet, so a handler waiting on a slow backend can give up at once and
  // release what it holds. Watching stops at the first write or when the handler returns. Plain
  // TCP only: a TLS client's close arrives as data and is noticed at the first write instead.
  virtual void watch_hangup(std::function<void()> on_hangup) { (void)on_hangup; }
  // Calls `cut` (on the handler's own thread) if the drain deadline passes while this handler
  // still runs, so it can end its response with one error event instead of being closed mid-way.
  virtual void on_drain_deadline(std::function<void()> cut) { (void)cut; }
};

}  // namespace deepgate::http

#include "deepgate/http/api_error.hpp"

namespace deepgate::http {
// An error as a whole JSON response (with Retry-After when the error carries one).
response error_response(const api_error& e, error_dialect d = error_dialect::openai);
}  // namespace deepgate::http
