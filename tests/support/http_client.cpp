#include "http_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace deepgate::test {

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout, const char* source,
                                 int receive_buffer)
    : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  if (source) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

http_connection::~http_connection() { close(); }

void http_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool http_connection::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::size_t http_connection::flood(std::string_view prefix, char filler, std::size_t fill) {
  if (!send_raw(prefix)) return 0;
  const std::string piece(64 * 1024, filler);
  std::size_t sent = 0;
  while (sent < fill) {
    pollfd p{fd_, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) break;  // neither reading nor answering
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) break;               // answered or closed
    auto n = ::send(fd_, piece.data(), std::min(piece.size(), fill - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  return sent;
}

std::string http_connection::read_until_close() {
  while (fill()) {
  }
  return std::exchange(buf_, {});
}

bool http_connection::readable(std::chrono::milliseconds wait) {
  if (!buf_.empty()) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
}

bool http_connection::fill() {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) return false;
  char tmp[16384];
  auto n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<std::size_t>(n));
  return true;
}

bool http_connection::closed_by_peer(std::chrono::milliseconds wait) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  char tmp[4096];
  auto n = ::recv(fd_, tmp, sizeof tmp, MSG_PEEK);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

http_response http_connection::request(const std::string& method, const std::string& path, const std::string& body,
                                       const headers& extra, const body_callback& on_body) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  bool has_length = false, has_credentials = false;
  for (auto& [k, v] : extra)
    if (strcasecmp(k.c_str(), "authorization") == 0 || strcasecmp(k.c_str(), "api-key") == 0 ||
        strcasecmp(k.c_str(), "x-api-key") == 0)
      has_credentials = true;
  if (!has_credentials) req += std::string("Authorization: Bearer ") + test_key + "\r\n";
  for (auto& [k, v] : extra) {
    req += k + ": " + v + "\r\n";
    if (strcasecmp(k.c_str(), "content-length") == 0 || strcasecmp(k.c_str(), "transfer-encoding") == 0)
      has_length = true;
  }
  if (!has_length && (!body.empty() || method == "POST")) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  if (!ok() || !send_raw(req)) {
    http_response r;
    r.error = "send failed";
    return r;
  }
  return read_response(on_body);
}

http_response http_connection::read_response(const body_callback& on_body) {
  http_response r;
  std::size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (!fill()) {
      r.error = "no response head";
      return r;
    }
  std::string head = buf_.substr(0, head_end);
  buf_.erase(0, head_end + 4);
  auto line_end = head.find("\r\n");
  auto status_line = head.substr(0, line_end);
  if (status_line.size() >= 12) r.status = std::stoi(status_line.substr(9, 3));
  for (auto pos = line_end; pos != std::string::npos && pos < head.size();) {
    auto next = head.find("\r\n", pos + 2);
    auto line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    pos = next;
  }
  auto deliver = [&](std::string_view bytes) {
    r.body.append(bytes);
    return !on_body || on_body(bytes);
  };
  if (r.status == 100 || r.status == 101) return r;
  if (r.header("transfer-encoding").find("chunked") != std::string::npos) {
    for (;;) {
      std::size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (!fill()) return r;
      auto size = std::stoul(buf_.substr(0, eol), nullptr, 16);
      buf_.erase(0, eol + 2);
      if (size == 0) {
        while (buf_.size() < 2)
          if (!fill()) return r;
        buf_.erase(0, 2);
        r.complete = true;
        return r;
      }
      while (buf_.size() < size + 2)
        if (!fill()) {
          deliver(std::string_view(buf_).substr(0, std::min(buf_.size(), size)));
          return r;
        }
      bool go_on = deliver(std::string_view(buf_).substr(0, size));
      buf_.erase(0, size + 2);
      if (!go_on) {
        close();
        return r;
      }
    }
  }
  if (auto cl = r.header("content-length"); !cl.empty()) {
    auto len = std::stoul(cl);
    while (buf_.size() < len)
      if (!fill()) return r;
    deliver(std::string_view(buf_).substr(0, len));
    buf_.erase(0, len);
    r.complete = true;
    return r;
  }
  for (;;) {  // close-delimited
    if (!buf_.empty()) {
      if (!deliver(buf_)) {
        close();
        return r;
      }
      buf_.clear();
    }
    if (!fill()) break;
  }
  r.complete = true;
  return r;
}

http_response http_call(std::uint16_t port, const std::string& method, const std::string& path,
                        const std::string& body, const headers& extra, const body_callback& on_body) {
  http_connection c(port);
  return c.request(method, path, body, extra, on_body);
}

std::vector<std::string> sse_items(const std::string& body) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    auto block = body.substr(pos, end - pos);
    pos = end + 2;
    if (block.empty()) continue;
    if (block.starts_with(":")) out.push_back(block);
    else if (block.starts_with("data: ")) out.push_back(block.substr(6));
    else out.push_back(block);
  }
  return out;
}

}  // namespace deepgate::test
