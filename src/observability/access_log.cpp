#include "deepgate/observability/access_log.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace deepgate::observability {
namespace {

void append_escaped(std::string& out, std::string_view s) {
  out += '"';
  // Runs of characters that need no escape are appended whole (most values have none).
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
        out += buf;
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void append_fixed(std::string& out, double v, int decimals) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  out.append(buf, ec == std::errc{} ? static_cast<std::size_t>(end - buf) : 0);
}

// `key` is the field's name with its separator and quotes, `,"name":`: one append, not four.
void field(std::string& out, std::string_view key) { out += key; }

void string_field(std::string& out, std::string_view key, std::string_view value) {
  field(out, key);
  if (value.empty()) out += "null";
  else append_escaped(out, value);
}

void int_field(std::string& out, std::string_view key, std::int64_t v) {
  field(out, key);
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// Milliseconds to the microsecond (rounded to the nearest), in integers: the text printing the
// milliseconds as a double to 3 places gives, without the double's cost. null when the phase did
// not happen.
void ms_field(std::string& out, std::string_view key, request_record::clock::duration d) {
  field(out, key);
  if (d == request_record::absent) {
    out += "null";
    return;
  }
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  char buf[32];
  char* p = buf;
  if (ns < 0) {
    *p++ = '-';
    ns = -ns;
  }
  const auto us = (ns + 500) / 1000;
  p = std::to_chars(p, buf + sizeof buf - 4, us / 1000).ptr;
  const auto frac = static_cast<int>(us % 1000);
  *p++ = '.';
  *p++ = static_cast<char>('0' + frac / 100);
  *p++ = static_cast<char>('0' + frac / 10 % 10);
  *p++ = static_cast<char>('0' + frac % 10);
  out.append(buf, static_cast<std::size_t>(p - buf));
}

void time_field(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(t);
  auto ms = static_cast<int>(duration_cast<milliseconds>(t - secs).count());
  // "YYYY-MM-DDTHH:MM:SS" changes once a second: formatted once per second per thread.
  thread_local std::time_t cached = -1;
  thread_local char prefix[64];
  std::time_t tt = system_clock::to_time_t(secs);
  if (tt != cached) {
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    std::snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached = tt;
  }
  field(out, "\"time\":\"");
  out += prefix;
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += "Z\"";
}

}  // namespace

std::string format_access_line(const request_record& r, std::string_view model, std::string_view backend) {
  std::string out;
  out.reserve(640);
  append_access_line(out, r, model, backend);
  return out;
}

void append_access_line(std::string& out, const request_record& r, std::string_view model, std::string_view backend) {
  out += '{';
  time_field(out, r.time);
  string_field(out, R"(,"request_id":)", r.request_id);
  string_field(out, R"(,"route":)", to_string(r.path));
  string_field(out, R"(,"key_id":)", r.key_id);
  string_field(out, R"(,"owner":)", r.owner);
  string_field(out, R"(,"model":)", model);
  string_field(out, R"(,"backend":)", backend);
  int_field(out, R"(,"status":)", r.status);
  string_field(out, R"(,"cache":)", to_string(r.cache));
  field(out, R"(,"stream":)");
  out += r.stream ? "true" : "false";
  ms_field(out, R"(,"duration_ms":)", r.total);
  ms_field(out, R"(,"upstream_ms":)", r.upstream);
  ms_field(out, R"(,"ttft_ms":)", r.ttft);
  ms_field(out, R"(,"queue_wait_ms":)", r.queue_wait);
  ms_field(out, R"(,"overhead_ms":)", r.overhead());
  field(out, R"(,"tokens":)");
  if (r.usage) {
    auto& u = *r.usage;
    int_field(out, R"({"prompt":)", u.prompt);
    int_field(out, R"(,"completion":)", u.completion);
    int_field(out, R"(,"reasoning":)", u.reasoning);
    int_field(out, R"(,"prompt_cache_hit":)", u.cache_hit);
    int_field(out, R"(,"prompt_cache_miss":)", u.cache_miss);
    field(out, R"(,"estimated":)");
    out += u.estimated ? "true}" : "false}";
  } else {
    out += "null";
  }
  field(out, R"(,"cost_usd":)");
  if (r.cost_usd) {
    append_fixed(out, *r.cost_usd, 9);
  } else {
    out += "null";
  }
  string_field(out, R"(,"price_tier":)", r.price_tier);
  int_field(out, R"(,"retries":)", r.retries);
  string_field(out, R"(,"error_code":)", r.error_code);
  string_field(out, R"(,"upstream_error":)", r.upstream_error);
  string_field(out, R"(,"client":)", r.client);
  string_field(out, R"(,"prompt_sha256":)", r.prompt_sha256);
  out += '}';
}

constexpr std::size_t batch_bytes = 32 * 1024;
constexpr std::size_t max_queued_batches = 1024;

struct access_log::impl {
  struct batch {
    std::mutex mutex;
    std::string lines;  // newline-separated, without the last newline (added at the hand-off)
    std::size_t count = 0;
  };
  struct queued {
    std::string text;
    std::size_t lines = 0;
  };
  int fd = -1;
  bool own_fd = false;
  const label_table* labels = nullptr;
  std::vector<std::unique_ptr<batch>> batches;
  std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::deque<queued> queue;
  bool stopping = false;
  std::atomic<std::uint64_t> dropped_lines{0};
  std::thread writer;

  // The batch's string goes to the writer thread as it is (moved, not copied); the worker's
  // batch starts again in a fresh one.
  void hand_off(batch& b) {
    if (b.lines.empty()) return;
    queued q;
    q.text.reserve(batch_bytes + 1024);
    q.text.swap(b.lines);
    q.text += '\n';
    q.lines = b.count;
    b.count = 0;
    {
      std::lock_guard lock(queue_mutex);
      if (queue.size() >= max_queued_batches) {  // the writer fell behind: the oldest batch goes
        dropped_lines.fetch_add(queue.front().lines, std::memory_order_relaxed);
        queue.pop_front();
      }
      queue.push_back(std::move(q));
    }
    queue_cv.notify_one();
  }

  // One write(2) a batch (more only if the kernel takes part of it): no copy on the way, and a
  // batch's lines stay whole beside the other writers of the same file.
  void write_out(const std::string& text) const {
    std::size_t done = 0;
    while (done < text.size()) {
      const auto n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a full disk or a closed pipe: nothing to do but go on
      done += static_cast<std::size_t>(n);
    }
  }

  void run() {
    std::unique_lock lock(queue_mutex);
    for (;;) {
      queue_cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and everything queued is written
      auto q = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      write_out(q.text);
      lock.lock();
    }
  }
};

access_log::access_log(const config::gateway_config& cfg, unsigned workers, const label_table& labels)
    : impl_(std::make_unique<impl>()) {
  impl_->labels = &labels;
  auto& a = cfg.log.access;
  if (a.path == "-") {
    impl_->fd = STDOUT_FILENO;
  } else {
    std::error_code ignored;
    const auto parent = std::filesystem::path(a.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
    impl_->fd = ::open(a.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (impl_->fd < 0) throw std::runtime_error("cannot open the access log " + a.path + ": " + std::strerror(errno));
    impl_->own_fd = true;
  }
  for (unsigned w = 0; w < std::max(1u, workers); ++w) impl_->batches.push_back(std::make_unique<impl::batch>());
  // The writer takes no signals (it inherits a full mask, set around its creation): a stop
  // signal must reach a thread that handles it, not one that may sleep for a long time in a
  // wait with no timeout (where a sanitizer's deferred delivery would hold it).
  struct restore_mask {
    sigset_t before;
    ~restore_mask() { pthread_sigmask(SIG_SETMASK, &before, nullptr); }
  } restore;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &restore.before);
  impl_->writer = std::thread([i = impl_.get()] { i->run(); });
}

access_log::~access_log() {
  flush_batches();
  {
    std::lock_guard lock(impl_->queue_mutex);
    impl_->stopping = true;
  }
  impl_->queue_cv.notify_one();
  impl_->writer.join();  // once it has written everything queued
  if (impl_->own_fd) ::close(impl_->fd);
}

void access_log::write(const request_record& r, unsigned worker) {
  std::string_view model = r.model >= 0 ? impl_->labels->model_name(static_cast<std::size_t>(r.model))
                           : r.model == request_record::other_model ? "other"
                                                                    : "";
  std::string_view backend = r.backend >= 0 ? impl_->labels->backend_name(static_cast<std::size_t>(r.backend)) : "";
  auto& b = *impl_->batches[worker % impl_->batches.size()];
  std::lock_guard lock(b.mutex);  // the worker's own batch: only a flush contends
  if (!b.lines.empty()) b.lines += '\n';
  append_access_line(b.lines, r, model, backend);  // written in place, not built and copied
  ++b.count;
  if (b.lines.size() >= batch_bytes) impl_->hand_off(b);
}

void access_log::flush_batches() {
  for (auto& b : impl_->batches) {
    std::lock_guard lock(b->mutex);
    impl_->hand_off(*b);
  }
}

std::uint64_t access_log::dropped() const { return impl_->dropped_lines.load(std::memory_order_relaxed); }

}  // namespace deepgate::observability
