#include "connection.hpp"

#include "deepgate/core/version.hpp"
#include "deepgate/http/head_writer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <charconv>

namespace deepgate::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr int max_interim_heads = 8;  // 1xx heads before the final one; more is a misbehaving backend

bool closed_early(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v) {
  long long s = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (ec != std::errc{} || s < 0) return std::nullopt;  // HTTP-date form: not worth honouring
  return std::chrono::seconds(s);
}
}  // namespace

using clock = std::chrono::steady_clock;

struct exchange::impl {
  explicit impl(connection_pool::impl& p) : pool(p) {}
  connection_pool::impl& pool;
  std::unique_ptr<connection> conn;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser;
  bool sent = false, done = false, reusable = false, aborted = false;
  failure abort_reason = failure::abandoned;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  failure deadline_reason = failure::read_timeout;
};

exchange::exchange(connection_pool& pool) : impl_(std::make_unique<impl>(pool.get())) {}

exchange::~exchange() { impl_->pool.release(std::move(impl_->conn), impl_->done && impl_->reusable); }

bool exchange::done() const { return impl_->done; }

void exchange::deadline(std::chrono::steady_clock::time_point at, failure reason) {
  impl_->deadline = at;
  impl_->deadline_reason = reason;
}
bool exchange::sent() const { return impl_->sent; }

void exchange::abort(failure reason) {
  impl_->aborted = true;
  impl_->abort_reason = reason;
  if (impl_->conn) impl_->conn->stream.close(true);
}

asio::awaitable<failure> exchange::start(const outgoing_request& out, response_head& head) {
  auto& s = *impl_;
  const auto& backend = s.pool.backend;
  // Built from scratch: nothing of the client's request head travels, so no hop-by-hop header
  // or client credential can leak through.
  std::string request_head;
  http::head_writer w(request_head);
  w.request_line(out.method, out.path);
  w.field("Host", backend.url.host_header());
  w.field("User-Agent", user_agent());
  if (out.method == "POST") w.field("Content-Type", "application/json");
  if (!backend.api_key.empty()) w.field("Authorization", "Bearer " + backend.api_key);
  for (auto& h : out.headers) w.field(h.name, h.value);
  if (out.method == "POST" || !out.body.empty()) w.content_length(out.body.size());
  w.end();
  // Over TLS, Asio's stream writes one buffer per record (and per send): head and body go as one
  // buffer there, one record, instead of two. Plain TCP gathers both in one sendmsg as they are.
  if (backend.url.tls) request_head += out.body;
  const std::array<asio::const_buffer, 2> request{
      asio::buffer(request_head), backend.url.tls ? asio::const_buffer() : asio::buffer(out.body)};

  // A pooled connection the backend closed just before we wrote gets one fresh retry; the
  // request cannot have been processed when the write failed or no response byte came back.
  for (int attempt = 0;; ++attempt) {
    auto a = co_await s.pool.acquire();
    if (s.aborted) {
      if (a.conn) s.pool.release(std::move(a.conn), false);
      co_return s.abort_reason;
    }
    if (a.error != failure::none) co_return a.error;
    s.conn = std::move(a.conn);
    auto& stream = s.conn->stream;
    bool retryable = s.conn->reused && attempt == 0;
    // The deadline of the write and the head (response_header_timeout). It goes with the
    // connection: a failure reads `fired` before it releases the connection.
    auto& watch = stream.watch();
    watch.start(clock::now() + backend.response_header_timeout, stream.socket());
    // Usually the whole request fits the socket's send buffer: sent at once, no asynchronous write.
    error_code wec;
    const auto now_sent = net::write_now(stream, request, wec);
    if (!wec && now_sent < asio::buffer_size(request)) {
      beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(request);
      rest.consume(now_sent);
      auto [ec, n] = co_await asio::async_write(stream, rest, use_tuple);
      wec = ec;
    }
    if (wec) {
      watch.stop();
      const bool fired = watch.fired;
      s.pool.release(std::move(s.conn), false);
      if (s.aborted) co_return s.abort_reason;
      if (retryable && closed_early(wec)) continue;
      s.sent = true;
      co_return fired ? failure::header_timeout : failure::reset_before_headers;
    }
    s.sent = true;
    if (s.conn->buffer.capacity() < s.conn->read_size) s.conn->buffer.reserve(s.conn->read_size);
    // Interim 1xx heads (100 Continue, 103 Early Hints: RFC 9110 15.2) come before the final one
    // and are skipped; a 101 would switch protocols, which the gateway never asks for. Reading
    // the first head as final left the real response in the buffer for the next tenant.
    failure head_failure = failure::none;
    bool again = false;
    for (int interim = 0;; ++interim) {
      s.parser.emplace();
      s.parser->header_limit(64 * 1024);
      s.parser->body_limit(boost::none);  // streams are unbounded; read_all enforces its own limit
      auto [hec, hn] = co_await bhttp::async_read_header(stream, s.conn->buffer, *s.parser, use_tuple);
      if (hec) {
        watch.stop();
        const bool fired = watch.fired;
        bool nothing_read = interim == 0 && s.conn->buffer.size() == 0 && !s.parser->got_some();
        s.pool.release(std::move(s.conn), false);
        if (s.aborted) co_return s.abort_reason;
        if (retryable && closed_early(hec) && nothing_read) {
          again = true;
          break;
        }
        if (fired) head_failure = failure::header_timeout;
        else head_failure = closed_early(hec) ? failure::reset_before_headers : failure::bad_response;
        break;
      }
      const unsigned status = s.parser->get().result_int();
      if (status >= 200) {
        watch.stop();
        break;
      }
      if (status == 101 || interim == max_interim_heads) {
        watch.stop();
        s.pool.release(std::move(s.conn), false);
        head_failure = failure::bad_response;
        break;
      }
    }
    if (again) continue;
    if (head_failure != failure::none) co_return head_failure;
    break;
  }
  auto& msg = s.parser->get();
  head.status = msg.result_int();
  head.content_type = std::string(msg[bhttp::field::content_type]);
  head.retry_after = parse_retry_after(msg[bhttp::field::retry_after]);
  // Nothing reads the backend's header fields after this (the parser's framing state is its
  // own): a stream does not keep them for its whole life.
  static_cast<bhttp::fields&>(msg).clear();
  if (s.parser->is_done()) {
    // A response without a body (204, 304, Content-Length: 0): any byte after it belongs to no
    // response, and a connection holding one would answer the next request with it.
    if (s.conn->buffer.size() != 0) {
      s.pool.release(std::move(s.conn), false);
      co_return failure::bad_response;
    }
    s.done = true;
    s.reusable = s.parser->keep_alive();
  }
  co_return failure::none;
}

asio::awaitable<failure> exchange::read_some(std::string& out) {
  auto& s = *impl_;
  if (s.done) co_return failure::none;
  if (!s.conn) co_return failure::reset_mid_body;
  auto due = clock::now() + s.pool.backend.read_timeout;
  const bool by_deadline = s.deadline && *s.deadline < due;
  if (by_deadline) due = *s.deadline;
  auto& conn = *s.conn;
  auto& watch = conn.stream.watch();  // goes with the connection: `failed` reads it before releasing that
  auto& socket = conn.stream.socket();
  auto& parser = *s.parser;
  auto& body = parser.get().body();
  const auto failed = [&](const error_code& ec) {
    const bool fired = watch.fired;
    s.pool.release(std::move(s.conn), false);
    if (s.aborted) return s.abort_reason;
    if (fired) return by_deadline ? s.deadline_reason : failure::read_timeout;
    if (closed_early(ec) || ec == bhttp::error::partial_message) return failure::reset_mid_body;
    return failure::bad_response;
  };
  // Body bytes are parsed straight into `out`, with no copy through a scratch buffer.
  const auto old = out.size();
  std::size_t room = 0;
  const auto open_room = [&] {
    room = std::max<std::size_t>(conn.read_size, conn.buffer.size());
    // resize() zero-fills: a body of known length gets room for what is left of it, not a whole
    // read's worth (a 700-byte answer zeroed up to 64 KiB before).
    if (const auto left = parser.content_length_remaining(); left && *left > 0 && *left < room)
      room = static_cast<std::size_t>(*left);
    out.resize(old + room);
    body.data = out.data() + old;
    body.size = room;
  };
  const auto close_room = [&] { out.resize(old + room - body.size); };
  const auto finished = [&](const error_code& ec) {  // the parser read the response's end
    // Bytes past the end of the response (past its Content-Length, after its last chunk) are no
    // answer to anything: the response is not trusted and the connection is closed.
    if (conn.buffer.size() != 0) {
      s.pool.release(std::move(s.conn), false);
      return failure::bad_response;
    }
    s.done = true;
    s.reusable = parser.keep_alive() && !ec;
    return failure::none;
  };
  open_room();
  // What an earlier read left: parsed piece by piece (a chunk's head, its data) until body bytes
  // come out or the rest is unfinished.
  while (conn.buffer.size() != 0) {
    error_code ec;
    const auto used = parser.put(conn.buffer.data(), ec);
    conn.buffer.consume(used);
    if (parser.is_done()) {
      close_room();
      co_return finished(ec);
    }
    if (ec == bhttp::error::need_more) break;
    if (ec && ec != bhttp::error::need_buffer) {
      close_room();
      co_return failed(ec);
    }
    if (body.size != room || ec == bhttp::error::need_buffer || used == 0) {
      close_room();
      co_return failure::none;
    }
  }
  if (body.size != room) {  // body bytes came out before the unfinished piece
    close_room();
    co_return failure::none;
  }
  // Over plain TCP, wait for the backend's next bytes holding no buffer but the unfinished piece
  // (a chunk's CRLF, say): a slow stream costs its sockets and state, not its buffers. (Over TLS,
  // OpenSSL may hold decrypted bytes the socket no longer shows as readable: reads go straight on.)
  if (!conn.stream.is_tls()) {
    out.resize(old);
    if (out.empty()) std::string().swap(out);
    conn.buffer.shrink_to_fit();
    // Asio's reactor is edge-triggered and a wait is not tried before it is queued: bytes that
    // came in before this point would raise no new edge, so they are looked for first.
    error_code aec;
    if (socket.available(aec) == 0 && !aec) {
      watch.start(due, socket);
      auto [wec] = co_await socket.async_wait(asio::socket_base::wait_read, use_tuple);
      watch.stop();
      // A reset can be reported here while the bytes before it are still to be read: any other
      // error is left for the read to report, after the data.
      if (s.aborted || watch.fired) co_return failed(wec);
    }
    open_room();
  }
  if (conn.buffer.capacity() < conn.read_size) conn.buffer.reserve(conn.read_size);
  const auto capacity = conn.buffer.capacity();
  watch.start(due, socket);
  auto [ec, n] = co_await bhttp::async_read_some(conn.stream, conn.buffer, parser, use_tuple);
  watch.stop();
  close_room();
  if (n + conn.buffer.size() >= capacity && conn.read_size < 64 * 1024) conn.read_size *= 2;
  if (!conn.stream.is_tls() && conn.buffer.size() == 0) conn.buffer.shrink_to_fit();  // not kept while the caller works
  if (parser.is_done()) co_return finished(ec);
  if (ec && ec != bhttp::error::need_buffer) co_return failed(ec);
  co_return failure::none;
}

asio::awaitable<fetched> get(connection_pool& pool, std::string path, std::size_t limit, exchange*& current) {
  outgoing_request req;
  req.method = "GET";
  req.path = std::move(path);
  req.headers.push_back({"accept", "application/json"});
  exchange ex(pool);
  current = &ex;
  response_head head;
  fetched out;
  out.error = co_await ex.start(req, head);
  if (out.error == failure::none) out.error = co_await ex.read_all(out.body, limit);
  out.status = head.status;
  current = nullptr;
  co_return out;
}

asio::awaitable<failure> exchange::read_all(std::string& out, std::size_t limit) {
  while (!impl_->done) {
    auto f = co_await read_some(out);
    if (f != failure::none) co_return f;
    if (out.size() > limit) {
      impl_->pool.release(std::move(impl_->conn), false);
      co_return failure::too_large;
    }
  }
  co_return failure::none;
}

}  // namespace deepgate::upstream
