#include "deepgate/core/url.hpp"

#include <charconv>

namespace deepgate::core {

namespace {

// "host", "host:port", "[v6]", "[v6]:port" → host and port (unchanged when absent). An empty
// host is allowed here; the callers decide.
bool split_authority(std::string_view authority, std::string& host, std::uint16_t& port, std::string& error) {
  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 literal";
      return false;
    }
    host.assign(authority.substr(1, close - 1));
    auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "bad characters after IPv6 literal";
        return false;
      }
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(':') != colon) {
      error = "IPv6 literals must be in brackets";
      return false;
    }
    host.assign(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (!has_port) return true;
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || p == 0 || p > 65535) {
    error = "has an invalid port";
    return false;
  }
  port = static_cast<std::uint16_t>(p);
  return true;
}

// Removes "<plain>://" or "<secure>://" from text; tells which.
bool take_scheme(std::string_view& text, std::string_view plain, std::string_view secure, bool& tls, std::string& error) {
  for (auto [scheme, is_tls] : {std::pair{secure, true}, std::pair{plain, false}}) {
    if (text.size() >= scheme.size() + 3 && text.substr(0, scheme.size()) == scheme && text.substr(scheme.size(), 3) == "://") {
      text.remove_prefix(scheme.size() + 3);
      tls = is_tls;
      return true;
    }
  }
  error = "must start with " + std::string(plain) + ":// or " + std::string(secure) + "://";
  return false;
}

}  // namespace

std::string http_url::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if ((tls && port != 443) || (!tls && port != 80)) h += ":" + std::to_string(port);
  return h;
}

std::optional<http_url> parse_http_url(std::string_view text, std::string& error) {
  http_url u;
  if (!take_scheme(text, "http", "https", u.tls, error)) return std::nullopt;
  if (text.find_first_of("?#@") != std::string_view::npos) {
    error = "must not contain user info, a query or a fragment";
    return std::nullopt;
  }
  auto slash = text.find('/');
  u.port = u.tls ? 443 : 80;
  if (!split_authority(text.substr(0, slash), u.host, u.port, error)) return std::nullopt;
  if (u.host.empty()) {
    error = "has no host";
    return std::nullopt;
  }
  auto path = slash == std::string_view::npos ? std::string_view{} : text.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.base_path.assign(path);
  return u;
}

std::optional<redis_url> parse_redis_url(std::string_view text, std::string& error) {
  redis_url u;
  if (!take_scheme(text, "redis", "rediss", u.tls, error)) return std::nullopt;
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
  std::string host;
  if (!split_authority(text.substr(0, slash), host, u.port, error)) return std::nullopt;
  if (!host.empty()) u.host = std::move(host);
  return u;
}

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    auto raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') out += ' ';
      else if (raw[i] != '%') out += raw[i];
      else {
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        if (i + 2 >= raw.size()) return std::nullopt;
        const int hi = hex(raw[i + 1]), lo = hex(raw[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace deepgate::core
