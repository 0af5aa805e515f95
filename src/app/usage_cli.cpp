#include "deepgate/app/usage_cli.hpp"

#include "deepgate/core/url.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace deepgate::app {
namespace {

namespace beast = boost::beast;
namespace asio = boost::asio;
using json = nlohmann::json;

constexpr const char* help =
    "usage: deepgate usage [--owner NAME] [--key ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]\n"
    "                      [--admin URL] [--token TOKEN]\n"
    "Reads GET /admin/usage from a running gateway's admin listener: --admin URL (default\n"
    "$DEEPGATE_ADMIN_URL, else http://127.0.0.1:$DEEPGATE_ADMIN_PORT, else http://127.0.0.1:8081) with\n"
    "--token (default $DEEPGATE_ADMIN_TOKEN). The range defaults to the last 7 UTC days. Prints a\n"
    "table (per owner, its keys, and with --owner each day), or the API's JSON with --json.\n";

int fail(const std::string& message) {
  std::fprintf(stderr, "deepgate usage: %s\n", message.c_str());
  return 1;
}

std::string encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string number(const json& j) {
  if (!j.is_number()) return "-";
  if (j.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", j.get<double>());
    return buf;
  }
  return std::to_string(j.get<long long>());
}

long long refused_of(const json& c) {
  long long n = 0;
  for (auto& [k, v] : c.items())
    if (k.starts_with("refused_") && v.is_number_integer()) n += v.get<long long>();
  return n;
}

// Columns sized to their widest cell; numbers right-aligned.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const auto pad = std::string(width[i] - r[i].size(), ' ');
      line += i < 2 ? r[i] + pad : pad + r[i];
      if (i + 1 < r.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

std::vector<std::string> row(std::string a, std::string b, const json& c) {
  return {std::move(a),
          std::move(b),
          number(c["requests"]),
          number(c["prompt_tokens"]),
          number(c["completion_tokens"]),
          number(c["reasoning_tokens"]),
          number(c["cache_hit_tokens"]),
          number(c["spend_usd"]),
          number(c["cache_hits"]),
          std::to_string(refused_of(c)),
          number(c["errors"]),
          number(c["estimated_requests"])};
}

}  // namespace

int usage_main(int argc, char** argv) {
  std::string owner, key, from, to, admin, token = env_or("DEEPGATE_ADMIN_TOKEN", "");
  bool as_json = false;
  admin = env_or("DEEPGATE_ADMIN_URL", "http://127.0.0.1:" + env_or("DEEPGATE_ADMIN_PORT", "8081"));
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    if (a == "--help" || a == "-h") {
      std::fputs(help, stdout);
      return 0;
    }
    if (a == "--json") as_json = true;
    else if (a == "--owner") owner = value();
    else if (a == "--key") key = value();
    else if (a == "--from") from = value();
    else if (a == "--to") to = value();
    else if (a == "--admin") admin = value();
    else if (a == "--token") token = value();
    else {
      std::fprintf(stderr, "deepgate usage: unknown argument '%s'\n%s", argv[i], help);
      return 2;
    }
  }
  std::string err;
  auto url = core::parse_http_url(admin, err);
  if (!url) return fail("--admin " + err);
  if (url->tls) return fail("--admin: the CLI speaks plain HTTP to the admin listener (use an SSH tunnel or run it on the host)");
  if (token.empty()) return fail("an admin token is needed: --token or DEEPGATE_ADMIN_TOKEN");

  std::string target = url->path("/admin/usage") + "?";
  if (!owner.empty()) target += "owner=" + encode(owner) + "&";
  if (!key.empty()) target += "key=" + encode(key) + "&";
  if (!from.empty()) target += "from=" + encode(from) + "&";
  if (!to.empty()) target += "to=" + encode(to) + "&";
  target.pop_back();

  beast::http::response<beast::http::string_body> res;
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(url->host, std::to_string(url->port)));
    beast::http::request<beast::http::string_body> req{beast::http::verb::get, target, 11};
    req.set(beast::http::field::host, url->host_header());
    req.set(beast::http::field::authorization, "Bearer " + token);
    req.set(beast::http::field::user_agent, "deepgate-usage");
    beast::http::write(stream, req);
    beast::flat_buffer buffer;
    beast::http::read(stream, buffer, res);
  } catch (const std::exception& e) {
    return fail("cannot reach the admin listener at " + admin + ": " + e.what());
  }
  auto body = json::parse(res.body(), nullptr, false);
  if (res.result_int() != 200) {
    std::string message = body.is_object() && body.contains("error") ? body["error"].value("message", res.body()) : res.body();
    return fail("HTTP " + std::to_string(res.result_int()) + ": " + message);
  }
  if (!body.is_object()) return fail("the admin listener answered something that is not JSON");
  if (as_json) {
    std::printf("%s\n", body.dump(2).c_str());
    return 0;
  }
  std::printf("usage %s .. %s (UTC days, store: %s)\n\n", body.value("from", "").c_str(), body.value("to", "").c_str(),
              body.value("store", "").c_str());
  std::vector<std::vector<std::string>> rows{{"OWNER", "KEY / DAY", "REQUESTS", "PROMPT", "COMPLETION", "REASONING",
                                              "CACHE-HIT TOK", "SPEND USD", "CACHE HITS", "REFUSED", "ERRORS", "ESTIMATED"}};
  const bool by_day = !owner.empty();
  for (auto& o : body["owners"]) {
    rows.push_back(row(o.value("owner", ""), key.empty() ? "(all keys)" : key, o["totals"]));
    if (key.empty())
      for (auto& k : o["keys"]) rows.push_back(row("", k.value("key_id", ""), k));
    if (by_day)
      for (auto& d : o["days"]) rows.push_back(row("", d.value("date", ""), d));
  }
  if (body["owners"].empty()) rows.push_back({"(no usage in this range)"});
  else if (body["owners"].size() > 1) rows.push_back(row("TOTAL", "", body["totals"]));
  print_table(rows);
  return 0;
}

}  // namespace deepgate::app
