#include "process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace deepgate::test {

child_process::child_process(std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env,
                             std::string log_path)
    : log_path_(std::move(log_path)) {
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log_path_);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::setpgid(0, 0);
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fd);
}

child_process::~child_process() {
  if (pid_ <= 0 || exit_code_) return;
  signal(SIGTERM);
  if (!wait_exit(std::chrono::seconds(10))) {
    signal(SIGKILL);
    wait_exit(std::chrono::seconds(5));
  }
}

std::string child_process::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> child_process::wait_for_log(const std::string& needle,
                                                       std::chrono::milliseconds timeout) const {
  std::optional<std::string> found;
  eventually(
      [&] {
        std::istringstream in(log());
        for (std::string line; std::getline(in, line);)
          if (line.find(needle) != std::string::npos) {
            found = line;
            return true;
          }
        return false;
      },
      timeout);
  return found;
}

void child_process::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

bool child_process::running() { return !wait_exit(std::chrono::milliseconds(0)); }

std::uint16_t port_from_line(const std::string& line, const std::string& needle) {
  auto at = line.find(needle);
  if (at == std::string::npos) return 0;
  auto from = at + needle.size();
  auto token = line.substr(from, line.find(' ', from) - from);  // host:port
  return static_cast<std::uint16_t>(std::stoi(token.substr(token.rfind(':') + 1)));
}

namespace {
// A TCP socket bound to a free loopback port: its descriptor and the port.
std::pair<int, std::uint16_t> bound_loopback() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  return {fd, ntohs(a.sin_port)};
}
}  // namespace

std::uint16_t free_port() {
  auto [fd, port] = bound_loopback();
  ::close(fd);
  return port;
}

silent_listener::silent_listener() {
  std::tie(fd, port) = bound_loopback();
  if (::listen(fd, 16) != 0) {
    ::close(fd);
    throw std::runtime_error("listen failed");
  }
}

silent_listener::~silent_listener() { ::close(fd); }

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) + "/" +
                     prefix + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace deepgate::test
