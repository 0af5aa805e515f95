#include "scripted_backend.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

namespace deepgate::test {

namespace {

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one request (head and Content-Length body) into `buf`'s front; false when the peer left.
bool read_request(int fd, std::string& buf) {
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      for (std::size_t pos = 0; pos < end;) {
        auto eol = buf.find("\r\n", pos);
        if (::strncasecmp(buf.c_str() + pos, "content-length:", 15) == 0)
          length = std::stoul(buf.substr(pos + 15, eol - pos - 15));
        pos = eol + 2;
      }
      if (buf.size() >= end + 4 + length) {
        buf.erase(0, end + 4 + length);
        return true;
      }
    }
    char tmp[16384];
    auto n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string completion_json(const std::string& content) {
  return R"({"id":"chatcmpl-scripted","object":"chat.completion","created":1,"model":"deepseek-flash","choices":[{"index":0,"message":{"role":"assistant","content":")" +
         content +
         R"("},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})";
}

std::string completion_response(const std::string& content) {
  auto body = completion_json(content);
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

scripted_backend::scripted_backend() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error(std::string("scripted_backend: ") + std::strerror(errno));
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

scripted_backend::~scripted_backend() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
  for (int fd : fds_) ::close(fd);
  ::close(listen_fd_);
}

void scripted_backend::push(reply r) {
  std::lock_guard lock(mutex_);
  script_.push_back(std::move(r));
}

scripted_backend::reply scripted_backend::next() {
  std::lock_guard lock(mutex_);
  if (script_.empty()) return reply{completion_response("default")};
  auto r = std::move(script_.front());
  script_.pop_front();
  return r;
}

void scripted_backend::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void scripted_backend::serve(int fd) {
  std::string buf;
  while (!stopping_ && read_request(fd, buf)) {
    ++requests_;
    auto r = next();
    if (!write_all(fd, r.bytes.data(), r.bytes.size())) return;
    const std::string piece(64 * 1024, 'a');
    for (std::size_t sent = 0; sent < r.filler;) {
      auto n = ::send(fd, piece.data(), std::min(piece.size(), r.filler - sent), MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
      filler_written_ += static_cast<std::size_t>(n);
    }
    if (!r.later.empty()) {
      std::this_thread::sleep_for(r.delay);  // the script's own timing: what arrives "later"
      if (write_all(fd, r.later.data(), r.later.size())) ++late_writes_;
    }
    if (r.close) {
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
  }
}

}  // namespace deepgate::test
