#include "deepgate/redis/url.hpp"

#include <charconv>

namespace deepgate::redis {

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
