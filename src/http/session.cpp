#include "server_internal.hpp"
#include "request_checks.hpp"
#include "deepgate/core/strings.hpp"

#include "deepgate/http/head_writer.hpp"
#include "deepgate/net/deadline_watch.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <memory>
#include <span>

namespace deepgate::http::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);


class session_writer final : public response_writer {
 public:
  session_writer(net::flex_stream& stream, const config::server_config& options, unsigned version, bool keep_alive,
                 connection_entry* entry = nullptr, bool head_only = false)
      : stream_(stream), options_(options), version_(version), keep_alive_(keep_alive), entry_(entry),
        head_only_(head_only) {}
  ~session_writer() override { handler_done(); }

  // The handler has returned: whatever it registered refers to its own frame, which is gone, so
  // neither the drain-deadline cut nor the hang-up watch may call it any more.
  void handler_done() {
    if (entry_) entry_->cut = nullptr;
    stop_watch();
  }

  void on_drain_deadline(std::function<void()> cut) override {
    if (entry_) entry_->cut = std::move(cut);
  }

  bool keep_alive() const { return keep_alive_ && !aborted_; }
  void force_close() { keep_alive_ = false; }

  void watch_hangup(std::function<void()> on_hangup) override {
    if (started_ || stream_.is_tls()) return;
    stop_watch();
    auto w = std::make_shared<hangup_watch>();
    w->on_hangup = std::move(on_hangup);
    watch_ = w;
    // A one-byte peek, not a readiness wait: Asio re-registers the socket with epoll for every
    // wait (an epoll_ctl per request), while a receive on a registered socket only queues.
    // Either the client's FIN or reset ends it (a hang-up), or a pipelined next request, which
    // the peek leaves in the socket for the session to read.
    stream_.socket().async_receive(
        asio::buffer(&w->peeked, 1), asio::socket_base::message_peek, [w](boost::system::error_code ec, std::size_t n) {
          if (!w->active || ec == asio::error::operation_aborted || (!ec && n > 0)) return;
          w->active = false;
          w->on_hangup();
        });
  }

  void stop_watch() {
    if (!watch_) return;
    bool waiting = watch_->active;
    watch_->active = false;
    watch_.reset();
    boost::system::error_code ec;
    if (waiting) stream_.socket().cancel(ec);  // the peek is the only operation on it now
  }

  asio::awaitable<bool> send(response r) override {
    stop_watch();
    if (committed()) co_return false;
    // A stream begun but not yet written (its head still pending) may still become a whole
    // response: a backend that fails before its first event gets a real status, not silence.
    streaming_ = chunked_ = false;
    pending_head_.clear();
    started_ = true;
    status_ = r.status;
    std::string head;
    head_writer w(head);
    w.status_line(version_, r.status, bhttp::obsolete_reason(static_cast<bhttp::status>(r.status)));
    w.field("Server", "deepgate");
    w.field("Content-Type", r.content_type);
    for (auto* list : {&extra_, &r.headers})
      for (auto& h : *list) w.field(h.name, h.value);
    const auto body = r.payload();
    w.content_length(body.size());
    if (!keep_alive_) w.field("Connection", "close");
    else if (version_ < 11) w.field("Connection", "keep-alive");
    w.end();
    // A HEAD answer is the head a GET would get, Content-Length included, and no body (RFC 9110 9.3.2).
    const std::array<asio::const_buffer, 2> parts{asio::buffer(head), asio::buffer(body.data(), head_only_ ? 0 : body.size())};
    co_return co_await write_raw(parts);
  }

  asio::awaitable<bool> begin_stream(unsigned status, header_list headers, std::string_view content_type) override {
    stop_watch();
    if (started_) co_return false;
    started_ = true;
    status_ = status;
    streaming_ = true;
    chunked_ = version_ >= 11;
    if (!chunked_) keep_alive_ = false;  // HTTP/1.0: the body ends when the connection does
    head_writer w(pending_head_);
    w.status_line(version_, status, bhttp::obsolete_reason(static_cast<bhttp::status>(status)));
    w.field("Server", "deepgate");
    w.field("Content-Type", content_type.empty() ? std::string_view("text/event-stream; charset=utf-8") : content_type);
    w.field("Cache-Control", "no-cache");
    w.field("X-Accel-Buffering", "no");  // tells nginx-style proxies in front not to buffer
    if (chunked_) w.field("Transfer-Encoding", "chunked");
    w.field("Connection", keep_alive_ ? "keep-alive" : "close");
    for (auto* list : {&extra_, &headers})
      for (auto& h : *list) w.field(h.name, h.value);
    w.end();
    co_return true;
  }

  asio::awaitable<bool> write(std::string_view bytes) override {
    stop_watch();
    if (!streaming_ || aborted_) co_return false;
    if (bytes.empty()) co_return true;
    co_return co_await write_stream(bytes, false);
  }

  asio::awaitable<bool> end_stream(std::string_view last_bytes) override {
    stop_watch();
    if (!streaming_ || aborted_) co_return false;
    finished_ = true;
    co_return co_await write_stream(last_bytes, true);
  }

  // A stream's head waits in pending_head_ until the first write takes it out.
  bool committed() const override { return started_ && (!streaming_ || pending_head_.empty()); }

  void abort(bool reset) override {
    aborted_ = true;
    stream_.close(reset);
  }

  void add_header(std::string lower_name, std::string value) override {
    // The request id, the cache's verdict, Age and six rate-limit headers: one allocation, not four.
    if (extra_.empty()) extra_.reserve(10);
    extra_.push_back({std::move(lower_name), std::move(value)});
  }

  bool started() const override { return started_; }
  unsigned status() const override { return status_; }
  std::chrono::nanoseconds write_time() const override { return write_time_; }
  bool client_gone() const override { return write_failed_; }
  // A stream that was begun but not ended leaves the connection unusable.
  bool complete() const { return started_ && !aborted_ && (!streaming_ || finished_); }

 private:
  // One gather write: the pending head (first time), the chunk, and the terminator (last time).
  asio::awaitable<bool> write_stream(std::string_view bytes, bool last) {
    char size_line[24];
    std::array<asio::const_buffer, 5> parts;
    std::size_t n = 0;
    if (!pending_head_.empty()) parts[n++] = asio::buffer(pending_head_);
    if (!bytes.empty()) {
      if (chunked_) {
        auto end = std::to_chars(size_line, size_line + sizeof size_line - 2, bytes.size(), 16).ptr;
        *end++ = '\r';
        *end++ = '\n';
        parts[n++] = asio::buffer(size_line, static_cast<std::size_t>(end - size_line));
      }
      parts[n++] = asio::buffer(bytes.data(), bytes.size());
      if (chunked_) parts[n++] = asio::buffer("\r\n", 2);
    }
    if (last && chunked_) parts[n++] = asio::buffer("0\r\n\r\n", 5);
    if (n == 0) co_return true;
    bool ok = co_await write_raw(std::span(parts.data(), n));
    if (!pending_head_.empty()) std::string().swap(pending_head_);  // not held for the stream's life
    co_return ok;
  }

  // Over plain TCP the bytes are first offered to the socket at once: a response or an event
  // usually fits its send buffer, and then the write costs one sendmsg, with no asynchronous
  // operation, timer or suspension. What does not fit goes the asynchronous way, under the
  // write deadline.
  template <class Buffers>
  asio::awaitable<bool> write_raw(const Buffers& buffers) {
    const auto from = std::chrono::steady_clock::now();
    error_code wec;
    const std::size_t sent = net::write_now(stream_, buffers, wec);
    if (wec) {
      aborted_ = write_failed_ = true;
      co_return false;
    }
    if (sent == asio::buffer_size(buffers)) {
      write_time_ += std::chrono::steady_clock::now() - from;
      co_return true;
    }
    beast::buffers_suffix<Buffers> rest(buffers);
    rest.consume(sent);
    stream_.expires_after(options_.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, rest, use_tuple);
    stream_.expires_never();  // not the hang-up peek's, nor the next write's
    write_time_ += std::chrono::steady_clock::now() - from;
    if (ec) aborted_ = write_failed_ = true;
    co_return !ec;
  }

  struct hangup_watch {
    std::function<void()> on_hangup;
    bool active = true;
    char peeked = 0;  // the peek's buffer
  };
  std::shared_ptr<hangup_watch> watch_;
  net::flex_stream& stream_;
  const config::server_config& options_;
  unsigned version_;
  bool keep_alive_;
  connection_entry* entry_;
  bool head_only_;
  bool started_ = false, streaming_ = false, chunked_ = false, finished_ = false, aborted_ = false;
  bool write_failed_ = false;
  unsigned status_ = 0;
  std::chrono::nanoseconds write_time_{0};
  header_list extra_;
  std::string pending_head_;
};

// Answers a request the server refuses before the handler sees it, then closes. The close
// lingers (reads and discards briefly) so the client gets the answer instead of a reset
// caused by the body it is still sending.
asio::awaitable<void> refuse_and_close(net::flex_stream& stream, const config::server_config& options,
                                       const api_error& e, error_dialect dialect = error_dialect::openai) {
  session_writer w(stream, options, 11, false);
  auto res = error_response(e, dialect);
  if (co_await w.send(std::move(res))) {
    error_code ec;
    stream.socket().shutdown(asio::socket_base::shutdown_send, ec);
    // What is read is thrown away, so every refusal on a worker reads into the same buffer: a
    // flood of refused connections costs their sockets, not 16 KiB of coroutine frame each.
    thread_local std::array<char, 16384> sink;
    std::size_t discarded = 0;
    stream.expires_after(std::chrono::seconds(2));
    while (discarded < (8u << 20)) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
      if (rec) break;
      discarded += n;
    }
  }
  stream.close();
}

std::string_view buffered(const beast::flat_buffer& b) {
  return {static_cast<const char*>(b.data().data()), b.size()};
}

api_error busy(std::string message, std::string code) {
  auto e = server_error(503, std::move(message), std::move(code));
  e.retry_after = std::chrono::seconds(1);
  return e;
}

// Body bytes this request holds (declared, or the body cap for a chunked one until its size is
// known), counted against server.max_body_bytes_in_flight until the handler is done with them.
class body_lease {
 public:
  explicit body_lease(std::atomic<std::size_t>& total) : total_(total) {}
  ~body_lease() { resize(0); }
  body_lease(const body_lease&) = delete;
  body_lease& operator=(const body_lease&) = delete;
  // False (and nothing held) when `bytes` more would pass `limit`.
  bool take(std::size_t bytes, std::size_t limit) {
    if (total_.fetch_add(bytes, std::memory_order_relaxed) + bytes > limit) {
      total_.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
    held_ = bytes;
    return true;
  }
  void resize(std::size_t bytes) {
    if (bytes >= held_) total_.fetch_add(bytes - held_, std::memory_order_relaxed);
    else total_.fetch_sub(held_ - bytes, std::memory_order_relaxed);
    held_ = bytes;
  }

 private:
  std::atomic<std::size_t>& total_;
  std::size_t held_ = 0;
};

// Reading one request failed in a way that needs no answer: the client left between or during
// requests (an expected end, not an error).
bool client_left(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated;
}

struct registration {
  registration(worker_state& w, server_state& s, connection_entry& e) : w_(w), s_(s), e_(e) {
    w_.connections.insert(&e_);
    s_.open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~registration() {
    w_.connections.erase(&e_);
    s_.open_connections.fetch_sub(1, std::memory_order_relaxed);
  }
  worker_state& w_;
  server_state& s_;
  connection_entry& e_;
};

}  // namespace

// What read_request gives the connection: a request to handle, or nothing (the connection ends:
// the client left, or the server refused the request and closed).
struct incoming {
  std::optional<request> req;
  unsigned version = 11;
  bool keep_alive = false;
  bool head = false;  // HEAD: the answer has no body
};

// Reads one request, whole, from what is buffered and the stream. Its own coroutine, so that the
// parser, the read deadline and a refusal's text live while a request is read, not in the
// connection's frame while the handler runs (minutes, for a stream; thousands at once). `lease`
// is left holding the body's bytes.
asio::awaitable<void> read_request(net::flex_stream& stream, beast::flat_buffer& buffer, const std::string& peer,
                                   unsigned worker, server_state& server, body_lease& lease, incoming& in) {
  const auto& options = server.options;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser(std::in_place);
  parser->header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser->body_limit(options.max_body_bytes);

  // The request-read deadline cancels the socket's reads and leaves it open, so a 408 can still
  // be written. It is armed at the first wait for more of the request: one that came whole with
  // its first bytes (the usual case) is parsed from the buffer with no timer and no asynchronous
  // read.
  stream.expires_never();
  std::optional<asio::steady_timer> deadline;
  bool timed_out = false;
  const auto arm_deadline = [&] {
    if (deadline) return;
    deadline.emplace(stream.get_executor(), options.request_timeout);
    deadline->async_wait([&](error_code tec) {
      if (tec) return;  // cancelled: the request arrived in time
      timed_out = true;
      error_code ignored;
      stream.socket().cancel(ignored);
    });
  };

  // Read the request; anything the server refuses itself ends in `refusal` and a close.
  std::optional<api_error> refusal;
  const auto too_large = [&] {
    return invalid_request("The request body is larger than the limit of " + std::to_string(options.max_body_bytes) +
                               " bytes.",
                           {}, "request_too_large", 413);
  };
  const auto too_slow = [] { return invalid_request("The request was not received in time.", {}, "request_timeout", 408); };
  const auto header_too_large = [&] {
    return invalid_request("The request header block is larger than " + std::to_string(options.max_header_bytes) +
                               " bytes.",
                           {}, "request_header_fields_too_large", 431);
  };

  // The whole head is in the buffer before Beast parses it, so its raw bytes can be checked.
  bool left = false;
  for (std::size_t searched = 0;;) {
    const auto data = buffered(buffer);
    const auto end = data.find("\r\n\r\n", searched);
    if (end != std::string_view::npos) {
      if (has_obs_fold(data.substr(0, end)))
        refusal = invalid_request("Malformed HTTP request: obsolete line folding (obs-fold) is not accepted.", {},
                                  "bad_request");
      break;
    }
    if (data.size() >= options.max_header_bytes) {
      refusal = header_too_large();
      break;
    }
    searched = data.size() > 3 ? data.size() - 3 : 0;
    arm_deadline();
    auto [rec, n] = co_await stream.async_read_some(buffer.prepare(std::min<std::size_t>(16 * 1024, buffer.max_size() - buffer.size())),
                                                    use_tuple);
    if (timed_out) refusal = too_slow();
    else if (rec) left = true;
    if (rec) break;
    buffer.commit(n);
  }
  if (left) co_return;  // the client left between requests (or in the middle of a head)

  if (!refusal) {
    // The whole head is buffered: parsed in place (Beast's parser stops after the head).
    error_code hec;
    buffer.consume(parser->put(buffer.data(), hec));
    if (hec == bhttp::error::need_more) {
      arm_deadline();
      auto [e, n] = co_await bhttp::async_read_header(stream, buffer, *parser, use_tuple);
      hec = e;
    }
    if (timed_out)
      refusal = too_slow();
    else if (hec && client_left(hec))
      co_return;
    else if (hec == bhttp::error::header_limit || hec == bhttp::error::buffer_overflow)
      refusal = header_too_large();
    else if (hec == bhttp::error::body_limit)
      refusal = too_large();  // Content-Length over the limit: answered before reading the body
    else if (hec)
      refusal = invalid_request("Malformed HTTP request: " + hec.message() + ".", {}, "bad_request");
    else
      refusal = framing_error(parser->get());
  }

  // The handler's view of the request, checked on its head before any body byte is read: a
  // client without a valid key costs no body memory, and body bytes held at once are capped.
  auto& req = in.req;
  if (!refusal) {
    req.emplace(to_request(parser->get(), peer, worker));
    if (server.check_head) refusal = server.check_head(*req);
  }
  if (!refusal && !parser->is_done()) {
    const auto declared = parser->content_length();
    const std::size_t holds = declared ? static_cast<std::size_t>(*declared) : options.max_body_bytes;
    if (!lease.take(holds, options.max_body_bytes_in_flight))
      refusal = busy("The gateway is receiving too many request bodies at once. Retry shortly.", "server_busy");
  }

  const auto body_refusal = [&](const error_code& bec) {
    if (bec == bhttp::error::body_limit) return too_large();  // chunked bodies: found while reading
    if (bec == bhttp::error::buffer_overflow)
      return invalid_request("Malformed HTTP request: a chunk line or the trailer section is too long.", {},
                             "bad_request");
    return invalid_request("Malformed HTTP request body: " + bec.message() + ".", {}, "bad_request");
  };
  if (!refusal && !parser->is_done() && buffer.size() != 0) {
    // Body bytes that came with the head: parsed in place, all of them.
    parser->eager(true);
    error_code bec;
    buffer.consume(parser->put(buffer.data(), bec));
    if (bec && bec != bhttp::error::need_more) refusal = body_refusal(bec);
  }
  if (!refusal && !parser->is_done()) {
    arm_deadline();
    if (beast::iequals(parser->get()[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [cec, cn] = co_await asio::async_write(stream, asio::buffer(cont.data(), cont.size()), use_tuple);
      if (cec) co_return;
    }
    auto [bec, bn] = co_await bhttp::async_read(stream, buffer, *parser, use_tuple);
    if (timed_out) refusal = too_slow();
    else if (bec && bec != bhttp::error::body_limit && client_left(bec)) co_return;  // the client left mid-body
    else if (bec) refusal = body_refusal(bec);
  }
  if (deadline) deadline->cancel();
  if (refusal) {
    const auto dialect = req ? error_dialect_for_path(req->path) : error_dialect::openai;
    co_await refuse_and_close(stream, options, *refusal, dialect);
    req.reset();
    co_return;
  }

  auto& msg = parser->get();
  in.keep_alive = msg.keep_alive() && !server.draining.load(std::memory_order_relaxed);
  in.version = msg.version();
  in.head = msg.method() == bhttp::verb::head;
  req->body = std::move(msg.body());
  lease.resize(req->body.size());
  parser.reset();
  // Nothing of the next request has come yet (the usual case): the buffer's memory goes back
  // while the handler runs, which for a stream can be minutes, with thousands of them at once.
  if (buffer.size() == 0) buffer.shrink_to_fit();
}

// GCC 12 reports the coroutine frame's release as a mismatched operator delete here (Asio's
// awaitable frames have a class-specific operator new and delete, which GCC pairs wrongly once
// the frame holds a parameter with a non-trivial destructor): a false positive, silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> run_session(net::flex_stream stream, unsigned worker, server_state& server, worker_state& state) {
  const auto& options = server.options;
  connection_entry entry{&stream, false, {}};
  registration reg(state, server, entry);

  error_code ec;
  auto remote = stream.socket().remote_endpoint(ec);
  std::string peer = ec ? std::string("unknown") : remote.address().to_string();

  if (stream.is_tls()) {
    stream.expires_after(options.request_timeout);
    auto [hec] = co_await stream.tls().async_handshake(asio::ssl::stream_base::server, use_tuple);
    stream.expires_never();
    if (hec) {
      spdlog::debug("TLS handshake with {} failed: {}", peer, hec.message());
      stream.close();
      co_return;
    }
  }

  if (state.connections.size() > options.max_connections) {
    spdlog::debug("refusing a connection from {}: {} open on this worker", peer, state.connections.size() - 1);
    co_await refuse_and_close(stream, options, busy("The gateway has too many open connections. Retry shortly.",
                                                    "too_many_connections"));
    co_return;
  }

  // Bounded: what stays unparsed in it is a head (max_header_bytes) or a chunk line or trailer
  // section, which never grows without end (body bytes leave it as they are parsed).
  beast::flat_buffer buffer(std::max<std::size_t>(options.max_header_bytes, 16 * 1024) + 16 * 1024);
  buffer.reserve(4 * 1024);  // grows with a larger request; small for the thousands of idle keep-alives
  for (;;) {
    if (buffer.size() == 0) {
      // Keep-alive wait for the first byte of the next request; a quiet close on timeout.
      entry.idle = true;
      if (server.draining.load(std::memory_order_relaxed)) break;
      // The stream's deadline, re-armed lazily across the connection's requests.
      stream.expires_after(options.idle_timeout);
      auto [rec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
      stream.expires_never();
      entry.idle = false;
      if (rec) break;  // eof, reset, idle timeout or drain: nothing in progress, nothing to answer
      buffer.commit(n);
    }

    body_lease lease(server.body_bytes);
    incoming in;
    co_await read_request(stream, buffer, peer, worker, server, lease, in);
    if (!in.req) break;
    auto& req = in.req;
    session_writer writer(stream, options, in.version, in.keep_alive, &entry, in.head);
    try {
      co_await server.on_request(*req, writer);
    } catch (const std::exception& e) {
      spdlog::error("request handler failed: {}", e.what());
      if (writer.started()) writer.abort(false);
    }
    writer.handler_done();
    if (!writer.started()) {
      writer.force_close();
      auto res = error_response(server_error(500, "The gateway produced no response.", "internal_error"));
      co_await writer.send(std::move(res));
    }
    if (!writer.complete() || !writer.keep_alive()) break;
  }
  if (!stream.socket().is_open()) co_return;
  stream.socket().shutdown(asio::socket_base::shutdown_send, ec);
  stream.close();
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace deepgate::http::detail
