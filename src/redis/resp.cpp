#include "deepgate/redis/resp.hpp"

#include <hiredis/hiredis.h>


namespace deepgate::redis {

std::string format_command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* out = nullptr;
  int n = redisFormatCommandArgv(&out, static_cast<int>(args.size()), argv.data(), lens.data());
  if (n < 0 || !out) return {};
  std::string s(out, static_cast<std::size_t>(n));
  redisFreeCommand(out);
  return s;
}

namespace {
reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = reply::kind::string; break;
    case REDIS_REPLY_STATUS: out.type = reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = reply::kind::error; break;
    case REDIS_REPLY_INTEGER: out.type = reply::kind::integer; break;
    case REDIS_REPLY_ARRAY: out.type = reply::kind::array; break;
    default: out.type = reply::kind::nil; break;
  }
  if (r->str) out.str.assign(r->str, r->len);
  out.integer = r->integer;
  for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  return out;
}
}  // namespace

namespace {
// hiredis 0.14 (Debian 12's) allocates an array reply's element table as soon as it reads
// "*<n>", for any n up to INT_MAX: "*555555555" was 4.4 GB (found by fuzz/resp_reply). No reply
// deepgate asks for comes near this bound; a larger one is a protocol error and the connection
// is dropped.
constexpr int max_array_elements = 1 << 20;

void* create_array(const redisReadTask* task, int elements);

struct guarded_functions {
  redisReplyObjectFunctions fns{};
  void* (*default_array)(const redisReadTask*, int) = nullptr;
};

guarded_functions& guarded() {
  static guarded_functions g = [] {
    guarded_functions x;
    redisReader* probe = redisReaderCreate();  // hiredis's default reply objects, as before
    x.fns = *probe->fn;
    redisReaderFree(probe);
    x.default_array = x.fns.createArray;
    x.fns.createArray = &create_array;
    return x;
  }();
  return g;
}

void* create_array(const redisReadTask* task, int elements) {
  if (elements > max_array_elements) return nullptr;  // hiredis reports it as an error
  return guarded().default_array(task, elements);
}
}  // namespace

struct reply_reader::impl {
  redisReader* reader = redisReaderCreateWithFunctions(&guarded().fns);
  ~impl() { redisReaderFree(reader); }
};

reply_reader::reply_reader() : impl_(std::make_unique<impl>()) {}
reply_reader::~reply_reader() = default;

bool reply_reader::feed(std::string_view bytes) {
  return redisReaderFeed(impl_->reader, bytes.data(), bytes.size()) == REDIS_OK;
}

std::optional<reply> reply_reader::next(bool& protocol_error) {
  void* raw = nullptr;
  if (redisReaderGetReply(impl_->reader, &raw) != REDIS_OK) {
    protocol_error = true;
    return std::nullopt;
  }
  if (!raw) return std::nullopt;
  auto out = convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return out;
}

}  // namespace deepgate::redis
