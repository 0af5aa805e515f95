#pragma once
// A backend that answers each request with bytes the test wrote, for what no well-behaved server
// sends: interim 1xx heads, bodies longer than their Content-Length, a 204 with a body, chunk
// lines that never end, late bytes on an idle keep-alive connection. Plain TCP on a free loopback
// port, one thread per connection, all joined when the object goes away.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace deepgate::test {

class scripted_backend {
 public:
  struct reply {
    std::string bytes;                  // written as soon as the request is in
    std::size_t filler = 0;             // then this many 'a' bytes, in 64 KiB writes, while the peer reads
    std::chrono::milliseconds delay{0};  // then, after this long,
    std::string later;                  // these bytes (counted by late_writes once written)
    bool close = false;                 // then close the connection
  };

  scripted_backend();
  ~scripted_backend();
  scripted_backend(const scripted_backend&) = delete;
  scripted_backend& operator=(const scripted_backend&) = delete;

  // Answers the next request (on any connection); with nothing queued, a request gets a plain 200
  // chat completion whose content is "default".
  void push(reply r);

  std::uint16_t port() const { return port_; }
  std::size_t requests() const { return requests_.load(); }
  std::size_t connections() const { return connections_.load(); }
  std::size_t late_writes() const { return late_writes_.load(); }
  // Filler bytes the peer accepted before it stopped reading or closed.
  std::size_t filler_written() const { return filler_written_.load(); }

 private:
  void accept_loop();
  void serve(int fd);
  reply next();

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> requests_{0}, connections_{0}, late_writes_{0}, filler_written_{0};
  std::mutex mutex_;
  std::deque<reply> script_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A non-stream chat.completion answering `content`, and it as a whole HTTP/1.1 200 response.
std::string completion_json(const std::string& content);
std::string completion_response(const std::string& content);

}  // namespace deepgate::test
