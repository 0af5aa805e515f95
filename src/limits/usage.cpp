#include "deepgate/limits/usage.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

namespace deepgate::limits {

using json = nlohmann::json;

namespace {

std::int64_t int_field(const json& o, const char* name) {
  auto it = o.find(name);
  return it != o.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

usage from_json(const json& u) {
  usage r;
  r.prompt = int_field(u, "prompt_tokens");
  r.completion = int_field(u, "completion_tokens");
  if (auto d = u.find("completion_tokens_details"); d != u.end() && d->is_object())
    r.reasoning = int_field(*d, "reasoning_tokens");
  if (u.contains("prompt_cache_hit_tokens") || u.contains("prompt_cache_miss_tokens")) {
    r.cache_hit = int_field(u, "prompt_cache_hit_tokens");
    r.cache_miss = int_field(u, "prompt_cache_miss_tokens");
  } else {
    if (auto d = u.find("prompt_tokens_details"); d != u.end() && d->is_object()) r.cache_hit = int_field(*d, "cached_tokens");
    r.cache_miss = std::max<std::int64_t>(0, r.prompt - r.cache_hit);
  }
  return r;
}

// The end of the JSON value starting at text[from] ('{'), honouring strings; npos if unbalanced.
std::size_t object_end(std::string_view text, std::size_t from) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = from; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

nano_usd to_nano(double usd) { return static_cast<nano_usd>(std::llround(usd * nano_per_usd)); }

nano_usd cost(const usage& u, const price& p) {
  // tokens × USD per 1M tokens × 1e9 nano-USD per USD / 1e6 tokens = tokens × price × 1000
  double c = static_cast<double>(u.cache_hit) * p.input_cache_hit + static_cast<double>(u.cache_miss) * p.input_cache_miss +
             static_cast<double>(u.completion) * p.output;
  return static_cast<nano_usd>(std::llround(c * 1000.0));
}

std::optional<usage> find_usage(std::string_view text) {
  // The answer's own "usage" key is the last one at the top level; any "usage" inside a string
  // has its quotes escaped, so an unescaped "usage" followed by ':' is a key.
  for (auto pos = text.rfind("\"usage\""); pos != std::string_view::npos;
       pos = pos == 0 ? std::string_view::npos : text.rfind("\"usage\"", pos - 1)) {
    if (pos > 0 && text[pos - 1] == '\\') continue;
    auto i = pos + 7;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != '{') return std::nullopt;  // null: no usage reported
    auto end = object_end(text, i);
    if (end == std::string_view::npos) return std::nullopt;
    auto u = json::parse(text.substr(i, end - i), nullptr, false);
    if (!u.is_object()) return std::nullopt;
    return from_json(u);
  }
  return std::nullopt;
}

chunk_usage take_chunk_usage(std::string_view data, bool strip) {
  chunk_usage r;
  if (data.find("\"usage\"") == std::string_view::npos) return r;
  if (!strip) {
    r.found = find_usage(data);
    return r;
  }
  auto chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object()) return r;
  auto u = chunk.find("usage");
  if (u == chunk.end()) return r;
  if (u->is_object()) r.found = from_json(*u);
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || (choices->is_array() && choices->empty())) {
    r.drop = true;
  } else {
    chunk.erase(u);
    r.rewritten = chunk.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return r;
}

}  // namespace deepgate::limits
