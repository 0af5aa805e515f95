#include "deepgate/observability/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <mutex>
#include <ctime>

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

void field(std::string& out, std::string_view name) {
  if (out.back() != '{') out += ',';  // (the line is appended to a batch: its own '{' starts it)
  out += '"';
  out += name;
  out += "\":";
}

void string_field(std::string& out, std::string_view name, std::string_view value) {
  field(out, name);
  if (value.empty()) out += "null";
  else append_escaped(out, value);
}

void int_field(std::string& out, std::string_view name, std::int64_t v) {
  field(out, name);
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// Milliseconds with microsecond precision; null when the phase did not happen.
void ms_field(std::string& out, std::string_view name, request_record::clock::duration d) {
  field(out, name);
  if (d == request_record::absent) {
    out += "null";
    return;
  }
  append_fixed(out, std::chrono::duration<double, std::milli>(d).count(), 3);
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
  field(out, "time");
  out += '"';
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
  string_field(out, "request_id", r.request_id);
  string_field(out, "route", to_string(r.path));
  string_field(out, "key_id", r.key_id);
  string_field(out, "owner", r.owner);
  string_field(out, "model", model);
  string_field(out, "backend", backend);
  int_field(out, "status", r.status);
  string_field(out, "cache", to_string(r.cache));
  field(out, "stream");
  out += r.stream ? "true" : "false";
  ms_field(out, "duration_ms", r.total);
  ms_field(out, "upstream_ms", r.upstream);
  ms_field(out, "ttft_ms", r.ttft);
  ms_field(out, "queue_wait_ms", r.queue_wait);
  ms_field(out, "overhead_ms", r.overhead());
  field(out, "tokens");
  if (r.usage) {
    auto& u = *r.usage;
    out += '{';
    int_field(out, "prompt", u.prompt);
    int_field(out, "completion", u.completion);
    int_field(out, "reasoning", u.reasoning);
    int_field(out, "prompt_cache_hit", u.cache_hit);
    int_field(out, "prompt_cache_miss", u.cache_miss);
    field(out, "estimated");
    out += u.estimated ? "true}" : "false}";
  } else {
    out += "null";
  }
  field(out, "cost_usd");
  if (r.cost_usd) {
    append_fixed(out, *r.cost_usd, 9);
  } else {
    out += "null";
  }
  string_field(out, "price_tier", r.price_tier);
  int_field(out, "retries", r.retries);
  string_field(out, "error_code", r.error_code);
  string_field(out, "upstream_error", r.upstream_error);
  string_field(out, "client", r.client);
  string_field(out, "prompt_sha256", r.prompt_sha256);
  out += '}';
}

constexpr std::size_t batch_bytes = 32 * 1024;

struct access_log::impl {
  struct batch {
    std::mutex mutex;
    std::string lines;  // newline-separated, without the last newline (the sink adds it)
    std::size_t count = 0;
  };
  std::shared_ptr<spdlog::details::thread_pool> pool;
  std::shared_ptr<spdlog::async_logger> logger;
  const label_table* labels = nullptr;
  std::vector<std::unique_ptr<batch>> batches;
  std::atomic<std::uint64_t> lines_in_dropped_batches{0};
  std::atomic<std::uint64_t> average_batch{1};

  void hand_off(batch& b) {
    if (b.lines.empty()) return;
    std::string out;
    out.reserve(batch_bytes + 1024);
    out.swap(b.lines);
    average_batch.store(std::max<std::size_t>(1, b.count), std::memory_order_relaxed);
    b.count = 0;
    logger->info(std::string_view(out));
  }
};

access_log::access_log(const config::gateway_config& cfg, unsigned workers, const label_table& labels)
    : impl_(std::make_unique<impl>()) {
  impl_->labels = &labels;
  auto& a = cfg.log.access;
  spdlog::sink_ptr sink;
  if (a.path == "-") sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  else sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(a.path);  // throws spdlog_ex
  sink->set_pattern("%v");
  // Its own pool and thread, not spdlog's global one: the log outlives spdlog::shutdown() at exit.
  impl_->pool = std::make_shared<spdlog::details::thread_pool>(1024, 1);  // batches, not lines
  impl_->logger = std::make_shared<spdlog::async_logger>("access", std::move(sink), impl_->pool,
                                                         spdlog::async_overflow_policy::overrun_oldest);
  impl_->logger->set_level(spdlog::level::info);
  impl_->logger->flush_on(spdlog::level::info);
  for (unsigned w = 0; w < std::max(1u, workers); ++w) impl_->batches.push_back(std::make_unique<impl::batch>());
}

access_log::~access_log() {
  flush_batches();
  impl_->logger->flush();
  // The pool first: its destructor drains the queue and joins the writer thread, which drops
  // the logger references the queued messages held. Then the logger goes on this thread. (The
  // other order lets the writer thread free the logger while this thread still releases it.)
  impl_->pool.reset();
  impl_->logger.reset();
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

// spdlog counts dropped messages; a message is a batch, so this is an estimate in lines.
std::uint64_t access_log::dropped() const {
  return impl_->pool->overrun_counter() * impl_->average_batch.load(std::memory_order_relaxed);
}

}  // namespace deepgate::observability
