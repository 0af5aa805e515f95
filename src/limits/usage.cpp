#include "deepgate/limits/usage.hpp"

#include "deepgate/core/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace deepgate::limits {

using json = nlohmann::json;

namespace {

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

bool blank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// The integer value of `"name": <n>` anywhere in a usage object's text; nullopt when absent or
// not a number, 0 when negative (a count below zero is a backend's error, and taken as given it
// would hand tokens back to the caller's limits and make a negative cost). A usage object holds
// only keys, numbers and nested objects, and each key name occurs once, so a plain search is
// exact without building a DOM.
std::optional<std::int64_t> scan_int(std::string_view obj, std::string_view name) {
  for (auto pos = obj.find(name); pos != std::string_view::npos; pos = obj.find(name, pos + 1)) {
    if (pos == 0 || obj[pos - 1] != '"' || pos + name.size() >= obj.size() || obj[pos + name.size()] != '"') continue;
    auto i = pos + name.size() + 1;
    while (i < obj.size() && blank(obj[i])) ++i;
    if (i >= obj.size() || obj[i] != ':') continue;
    ++i;
    while (i < obj.size() && blank(obj[i])) ++i;
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(obj.data() + i, obj.data() + obj.size(), v);
    if (ec != std::errc{}) return std::nullopt;
    return std::max<std::int64_t>(0, v);
  }
  return std::nullopt;
}

usage from_text(std::string_view obj) {
  usage r;
  const auto prompt = scan_int(obj, "prompt_tokens"), completion = scan_int(obj, "completion_tokens");
  if (!prompt && !completion) {
    // The Responses API (input_tokens with input_tokens_details.cached_tokens; output_tokens with
    // output_tokens_details.reasoning_tokens) and Anthropic's Messages API (input_tokens not
    // counting cache_read_input_tokens and cache_creation_input_tokens, which are input too).
    const auto in = scan_int(obj, "input_tokens").value_or(0);
    const auto read = scan_int(obj, "cache_read_input_tokens"), created = scan_int(obj, "cache_creation_input_tokens");
    r.completion = scan_int(obj, "output_tokens").value_or(0);
    r.reasoning = scan_int(obj, "reasoning_tokens").value_or(0);
    if (read || created) {
      r.prompt = in + read.value_or(0) + created.value_or(0);
      r.cache_hit = read.value_or(0);
    } else {
      r.prompt = in;
      r.cache_hit = scan_int(obj, "cached_tokens").value_or(0);
    }
    r.cache_miss = std::max<std::int64_t>(0, r.prompt - r.cache_hit);
    return r;
  }
  r.prompt = prompt.value_or(0);
  r.completion = completion.value_or(0);
  r.reasoning = scan_int(obj, "reasoning_tokens").value_or(0);
  auto hit = scan_int(obj, "prompt_cache_hit_tokens"), miss = scan_int(obj, "prompt_cache_miss_tokens");
  if (hit || miss) {
    r.cache_hit = hit.value_or(0);
    r.cache_miss = miss.value_or(0);
  } else {
    r.cache_hit = scan_int(obj, "cached_tokens").value_or(0);
    r.cache_miss = std::max<std::int64_t>(0, r.prompt - r.cache_hit);
  }
  return r;
}

}  // namespace

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
    while (i < text.size() && blank(text[i])) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && blank(text[i])) ++i;
    if (i >= text.size() || text[i] != '{') return std::nullopt;  // null: no usage reported
    auto end = object_end(text, i);
    if (end == std::string_view::npos) return std::nullopt;
    return from_text(text.substr(i, end - i));
  }
  return std::nullopt;
}

namespace {

// `"choices": []` at any spacing: the dedicated usage chunk.
bool empty_choices(std::string_view data) {
  for (auto pos = core::find(data, "\"choices\""); pos != std::string_view::npos; pos = core::find(data, "\"choices\"", pos + 1)) {
    auto i = pos + 9;
    while (i < data.size() && blank(data[i])) ++i;
    if (i >= data.size() || data[i] != ':') continue;
    ++i;
    while (i < data.size() && blank(data[i])) ++i;
    if (i >= data.size() || data[i] != '[') continue;
    ++i;
    while (i < data.size() && blank(data[i])) ++i;
    return i < data.size() && data[i] == ']';
  }
  return false;
}

// The one occurrence of `pattern` cut out of `data`; nullopt when it occurs other than once. A
// pattern starting or ending with a bare quote cannot match inside a JSON string, where quotes
// are escaped.
std::optional<std::string> cut_once(std::string_view data, std::string_view pattern) {
  auto pos = core::find(data, pattern);
  if (pos == std::string_view::npos || core::find(data, pattern, pos + 1) != std::string_view::npos) return std::nullopt;
  std::string out;
  out.reserve(data.size() - pattern.size());
  out.append(data.substr(0, pos)).append(data.substr(pos + pattern.size()));
  return out;
}

}  // namespace

chunk_usage take_chunk_usage(std::string_view data, bool strip) {
  chunk_usage r;
  if (core::find(data, "\"usage\"") == std::string_view::npos) return r;  // on every event
  r.found = find_usage(data);
  if (!strip) return r;
  // The shapes backends send, handled without parsing the chunk: the dedicated usage chunk is
  // dropped; the `"usage":null` that OpenAI-style servers put on every other chunk is cut out.
  if (r.found && empty_choices(data)) {
    r.drop = true;
    return r;
  }
  if (!r.found)
    for (std::string_view pattern : {",\"usage\":null", "\"usage\":null,"})
      if (auto cut = cut_once(data, pattern)) {
        r.rewritten = std::move(cut);
        return r;
      }
  // Anything else (inline usage beside choices, other spacing): parse and rewrite.
  auto chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object()) return r;
  auto u = chunk.find("usage");
  if (u == chunk.end()) return r;
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
