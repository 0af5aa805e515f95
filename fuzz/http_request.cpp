// The HTTP request path as the session runs it (src/http/session.cpp), without the sockets: the
// raw head checked for obs-fold and size, Beast's parser with the session's limits, deepgate's
// framing checks against request smuggling, the body limit, and pipelined requests one after
// another. Invariants: the same bytes split at any points give the same requests, and end the
// same way (a refusal or an incomplete request may trade places at the end: Beast asks for more
// bytes on some malformed request lines until it has 8 past the target, so how much of the next
// bytes has arrived decides whether it refuses now or waits; either way nothing is accepted);
// an accepted request's body is within the limit and its Transfer-Encoding, if any, is one
// `chunked`; the handler's view has no query in its path and lower-case header names.
#include "fuzz_check.hpp"
#include "../src/http/request_checks.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace bhttp = boost::beast::http;
using deepgate::fuzz::splitter;

constexpr std::size_t max_header = 4096;
constexpr std::size_t max_body = 16384;

std::uint64_t fnv(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// What the session would do with `input`, as a list of outcomes: each request accepted, then a
// refusal (with its status) or how the input ended.
std::vector<std::string> run(std::string_view input, splitter* split) {
  std::vector<std::string> out;
  std::string buf;
  std::size_t pos = 0;
  auto more = [&] {
    if (pos >= input.size()) return false;
    const std::size_t n = split ? split->next(input.size() - pos) : input.size() - pos;
    buf.append(input.substr(pos, n));
    pos += n;
    return true;
  };
  auto refuse = [&](const std::string& why) { out.push_back("refuse " + why); };
  for (int requests = 0; requests < 8; ++requests) {
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() >= max_header) return refuse("431"), out;
      if (!more()) return out.push_back(buf.empty() ? "end" : "incomplete"), out;
    }
    if (deepgate::http::detail::has_obs_fold(std::string_view(buf).substr(0, end))) return refuse("obs-fold"), out;

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(max_header);
    parser.body_limit(max_body);
    parser.eager(true);
    bool checked = false;
    while (!parser.is_done()) {
      boost::system::error_code ec;
      const auto n = parser.put(boost::asio::buffer(buf.data(), buf.size()), ec);
      buf.erase(0, n);
      if (ec == bhttp::error::need_more) {
        if (!more()) return out.push_back("incomplete"), out;
        continue;
      }
      if (ec == bhttp::error::header_limit) return refuse("431"), out;
      if (ec == bhttp::error::body_limit) return refuse("413"), out;
      if (ec) return refuse("400 " + ec.message()), out;
      if (parser.is_header_done() && !checked) {
        checked = true;
        if (auto e = deepgate::http::detail::framing_error(parser.get())) return refuse(std::to_string(e->status)), out;
      }
      if (n == 0 && !parser.is_done() && !more()) return out.push_back("incomplete"), out;
    }
    const auto& msg = parser.get();
    if (!checked) {  // a head without a body is done at once
      if (auto e = deepgate::http::detail::framing_error(msg)) return refuse(std::to_string(e->status)), out;
    }
    FUZZ_CHECK(msg.body().size() <= max_body);
    std::size_t te = 0;
    for (const auto& f : msg)
      if (f.name() == bhttp::field::transfer_encoding) ++te;
    FUZZ_CHECK(te <= 1);
    auto req = deepgate::http::detail::to_request(msg, "127.0.0.1", 0);
    FUZZ_CHECK(req.path.find('?') == std::string::npos);
    for (const auto& h : req.headers)
      for (char c : h.name) FUZZ_CHECK(!std::isupper(static_cast<unsigned char>(c)));
    out.push_back("request " + req.method + " " + std::string(msg.target()) + " " + std::to_string(msg.body().size()) + " " +
                  std::to_string(fnv(msg.body())));
  }
  return out;
}

// The same requests accepted, and the same kind of end: a clean end only with a clean end.
bool same_requests(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  auto accepted = [](const std::vector<std::string>& v) {
    std::vector<std::string> r;
    for (const auto& o : v)
      if (o.starts_with("request ")) r.push_back(o);
    return r;
  };
  auto ending = [](const std::vector<std::string>& v) { return v.empty() ? std::string() : v.back(); };
  return accepted(a) == accepted(b) && (ending(a) == "end") == (ending(b) == "end");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto whole = run(input, nullptr);
  splitter split(data, size), small(data, size, 3);
  for (auto* s : {&split, &small}) {
    auto pieces = run(input, s);
    if (!same_requests(pieces, whole)) {  // say how they differ before failing
      for (const auto& o : whole) std::fprintf(stderr, "whole:  %s\n", o.c_str());
      for (const auto& o : pieces) std::fprintf(stderr, "pieces: %s\n", o.c_str());
    }
    FUZZ_CHECK(same_requests(pieces, whole));
  }
  return 0;
}
