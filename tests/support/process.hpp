#pragma once
// A child process for integration tests: started with fork/exec, output to a log file, always
// cleaned up (SIGTERM, then SIGKILL) when the object goes away.
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace deepgate::test {

class child_process {
 public:
  child_process(std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env,
                std::string log_path);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string log() const;
  // Waits until the log holds a line containing `needle`; returns that line.
  std::optional<std::string> wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const;
  void signal(int sig) const;
  // Waits for the process to exit; returns its exit code (128+signal when killed), or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// "… listening on 127.0.0.1:43210 …" → 43210 (or after another `needle`, e.g. "admin API on ")
std::uint16_t port_from_line(const std::string& line, const std::string& needle = "listening on ");

// A loopback port nothing listens on (bound and released at once).
std::uint16_t free_port();

// A loopback socket that listens and never accepts: the kernel completes TCP handshakes into
// its backlog, so a client connects and then hears nothing (a backend silent after connect, or
// a port already taken). Closed when it goes.
struct silent_listener {
  silent_listener();
  ~silent_listener();
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;
  int fd = -1;
  std::uint16_t port = 0;
};

// A fresh directory under the test temp dir.
std::string make_temp_dir(const std::string& prefix);
void write_file(const std::string& path, const std::string& content);

// Polls `condition` every few milliseconds until it is true or `timeout` passes.
template <class F>
bool eventually(F&& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace deepgate::test

#include <thread>
template <class F>
bool deepgate::test::eventually(F&& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}
