#include "deepgate/redis/resp.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

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

struct reply_reader::impl {
  redisReader* reader = redisReaderCreate();
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

std::optional<url> parse_url(std::string_view text, std::string& error) {
  url u;
  if (text.starts_with("rediss://")) {
    u.tls = true;
    text.remove_prefix(9);
  } else if (text.starts_with("redis://")) {
    text.remove_prefix(8);
  } else {
    error = "must start with redis:// or rediss://";
    return std::nullopt;
  }
  if (auto at = text.rfind('@'); at != std::string_view::npos) {
    auto userinfo = text.substr(0, at);
    text.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      u.password.assign(userinfo);  // redis://password@host, as some providers write it
    } else {
      u.user.assign(userinfo.substr(0, colon));
      u.password.assign(userinfo.substr(colon + 1));
    }
  }
  auto slash = text.find('/');
  auto hostport = text.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = text.substr(slash + 1);
    if (!db.empty()) {
      auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), u.db);
      if (ec != std::errc{} || end != db.data() + db.size() || u.db < 0) {
        error = "has an invalid database number";
        return std::nullopt;
      }
    }
  }
  auto colon = hostport.rfind(':');
  if (hostport.starts_with('[')) colon = hostport.find("]:") == std::string_view::npos ? std::string_view::npos : hostport.find("]:") + 1;
  std::string_view host = hostport.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (!host.empty()) u.host.assign(host);
  if (colon != std::string_view::npos) {
    auto p = hostport.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc{} || end != p.data() + p.size() || port == 0 || port > 65535) {
      error = "has an invalid port";
      return std::nullopt;
    }
    u.port = static_cast<std::uint16_t>(port);
  }
  return u;
}

}  // namespace deepgate::redis
