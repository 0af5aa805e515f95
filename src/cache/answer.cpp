#include "deepgate/cache/answer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace deepgate::cache {

using json = nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A member of a backend's answer, read without trusting its type: nlohmann's value() throws when
// the member is there with another type, and a backend's odd answer must not end the request.
std::optional<std::int64_t> integer_member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_unsigned() && it->get<std::uint64_t>() <= std::uint64_t{1} << 62)
    return static_cast<std::int64_t>(it->get<std::uint64_t>());
  return std::nullopt;
}
const json& member(const json& obj, const char* key) {
  static const json absent;
  auto it = obj.find(key);
  return it == obj.end() ? absent : *it;
}

// Appends in place: copying the text so far for every delta made assembly quadratic.
std::size_t append_string(json& target, const json& piece) {
  if (!piece.is_string()) return 0;
  const auto& p = piece.get_ref<const std::string&>();
  if (target.is_string()) target.get_ref<std::string&>() += p;
  else target = p;
  return p.size();
}

// DeepSeek ends an answer its servers could not finish with this reason: an interruption, not an
// answer worth replaying.
bool interrupted(const json& finish_reason) {
  return finish_reason.is_string() && finish_reason.get_ref<const std::string&>() == "insufficient_system_resource";
}

json marked_cached(json usage) {
  if (!usage.is_object()) return usage;
  auto prompt = integer_member(usage, "prompt_tokens").value_or(0);
  auto& details = usage["prompt_tokens_details"];
  if (!details.is_object()) details = json::object();
  details["cached_tokens"] = prompt;
  if (usage.contains("prompt_cache_hit_tokens") || usage.contains("prompt_cache_miss_tokens")) {
    usage["prompt_cache_hit_tokens"] = prompt;
    usage["prompt_cache_miss_tokens"] = 0;
  }
  return usage;
}

}  // namespace

struct stream_assembler::impl {
  explicit impl(std::size_t m) : max_bytes(m) {}
  std::size_t max_bytes;
  std::size_t bytes = 0;  // assembled text so far
  bool broken = false;
  json head = json::object();  // id, created, model, system_fingerprint
  json usage;                  // null until a chunk carries it
  struct choice {
    json message = {{"role", "assistant"}, {"content", nullptr}};
    // In order of first appearance. A call is found by its index and, when a delta names one,
    // its id: DeepSeek's V4 and Ollama are known to stream several calls at one index, each
    // starting with its own id.
    std::vector<json> tool_calls;
    std::map<std::int64_t, std::size_t> latest;  // index -> the call its id-less deltas continue
    json finish_reason;
  };
  std::map<std::int64_t, choice> choices;
};

stream_assembler::stream_assembler(std::size_t max_bytes) : impl_(std::make_unique<impl>(max_bytes)) {}
stream_assembler::~stream_assembler() = default;
stream_assembler::stream_assembler(stream_assembler&&) noexcept = default;
stream_assembler& stream_assembler::operator=(stream_assembler&&) noexcept = default;

void stream_assembler::add(std::string_view chunk_json) {
  auto& s = *impl_;
  if (s.broken) return;
  auto c = json::parse(chunk_json, nullptr, false);
  if (!c.is_object() || !c.contains("choices") || !c["choices"].is_array()) {
    s.broken = true;
    return;
  }
  for (auto key : {"id", "created", "model", "system_fingerprint"})
    if (!s.head.contains(key) && c.contains(key)) s.head[key] = c[key];
  if (auto u = c.find("usage"); u != c.end() && u->is_object()) s.usage = *u;
  for (auto& ch : c["choices"]) {
    if (!ch.is_object()) {
      s.broken = true;
      return;
    }
    const auto choice_index = ch.contains("index") ? integer_member(ch, "index") : std::int64_t{0};
    if (!choice_index) {  // not a chat chunk this gateway understands: not cacheable
      s.broken = true;
      return;
    }
    auto& out = s.choices[*choice_index];
    if (auto fr = ch.find("finish_reason"); fr != ch.end() && !fr->is_null()) out.finish_reason = *fr;
    auto d = ch.find("delta");
    if (d == ch.end() || !d->is_object()) continue;
    if (auto r = d->find("role"); r != d->end() && r->is_string()) out.message["role"] = *r;
    if (auto t = d->find("content"); t != d->end()) s.bytes += append_string(out.message["content"], *t);
    if (auto t = d->find("reasoning_content"); t != d->end() && t->is_string())
      s.bytes += append_string(out.message["reasoning_content"], *t);
    if (auto tcs = d->find("tool_calls"); tcs != d->end() && tcs->is_array()) {
      for (auto& tc : *tcs) {
        if (!tc.is_object()) continue;
        const auto index = integer_member(tc, "index").value_or(0);
        const auto id = tc.find("id");
        const bool named = id != tc.end() && id->is_string();
        auto at = out.latest.find(index);
        if (at == out.latest.end() ||
            (named && out.tool_calls[at->second]["id"].is_string() && out.tool_calls[at->second]["id"] != *id)) {
          out.tool_calls.push_back({{"id", nullptr}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
          at = out.latest.insert_or_assign(index, out.tool_calls.size() - 1).first;
        }
        auto& call = out.tool_calls[at->second];
        if (named) call["id"] = *id;
        if (auto ty = tc.find("type"); ty != tc.end() && ty->is_string()) call["type"] = *ty;
        if (auto f = tc.find("function"); f != tc.end() && f->is_object()) {
          if (auto n = f->find("name"); n != f->end()) s.bytes += append_string(call["function"]["name"], *n);
          if (auto a = f->find("arguments"); a != f->end()) s.bytes += append_string(call["function"]["arguments"], *a);
        }
      }
    }
  }
  if (s.bytes > s.max_bytes) {
    s.broken = true;
    s.choices.clear();  // what was assembled is released at once, not with the stream
  }
}

bool stream_assembler::given_up() const { return impl_->broken; }

std::optional<std::string> stream_assembler::finish() const {
  const auto& s = *impl_;
  if (s.broken || s.choices.empty()) return std::nullopt;
  json out = {{"id", s.head.value("id", json())}, {"object", "chat.completion"}, {"created", s.head.value("created", json())},
              {"model", s.head.value("model", json())}};
  if (s.head.contains("system_fingerprint")) out["system_fingerprint"] = s.head["system_fingerprint"];
  out["choices"] = json::array();
  for (auto& [index, ch] : s.choices) {
    if (ch.finish_reason.is_null() || interrupted(ch.finish_reason)) return std::nullopt;  // cut short
    json message = ch.message;
    if (!ch.tool_calls.empty()) {
      message["tool_calls"] = json::array();
      for (auto& call : ch.tool_calls) message["tool_calls"].push_back(call);
    }
    out["choices"].push_back({{"index", index}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", ch.finish_reason}});
  }
  out["usage"] = s.usage;
  return dump(out);
}

bool storable_answer(std::string_view completion_json) {
  auto j = json::parse(completion_json, nullptr, false);
  if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return false;
  for (auto& c : j["choices"])
    if (!c.is_object() || !c.contains("message") || !c.contains("finish_reason") || c["finish_reason"].is_null() ||
        interrupted(c["finish_reason"]))
      return false;
  return true;
}

std::string hit_body(std::string_view completion_json) {
  auto j = json::parse(completion_json, nullptr, false);
  if (!j.is_object()) return std::string(completion_json);
  if (j.contains("usage")) j["usage"] = marked_cached(j["usage"]);
  return dump(j);
}

// Built as text around the stored values (each dumped once), not as a tree per event: a stream
// hit costs one parse of the stored answer and a few string appends.
replay replay_parts(std::string_view completion_json) {
  auto j = json::parse(completion_json, nullptr, false);
  replay parts;
  std::string& out = parts.events;
  if (!j.is_object()) return parts;
  std::string head = "{\"id\":" + dump(member(j, "id")) + ",\"object\":\"chat.completion.chunk\",\"created\":" +
                     dump(member(j, "created")) + ",\"model\":" + dump(member(j, "model"));
  if (auto fp = j.find("system_fingerprint"); fp != j.end()) head += ",\"system_fingerprint\":" + dump(*fp);
  head += ",\"choices\":[";
  out.reserve(completion_json.size() * 2 + 512);
  auto event = [&](std::int64_t index, std::string_view delta, std::string_view finish) {
    out += "data: ";
    out += head;
    out += "{\"index\":";
    out += std::to_string(index);
    out += ",\"delta\":{";
    out += delta;
    out += "},\"logprobs\":null,\"finish_reason\":";
    out += finish;
    out += "}]}\n\n";
  };
  const auto& choices = member(j, "choices");
  static const json no_choices = json::array(), no_message = json::object();
  for (const auto& c : choices.is_array() ? choices : no_choices) {
    if (!c.is_object()) continue;
    const auto index = integer_member(c, "index").value_or(0);
    const auto& message = member(c, "message");
    const auto& m = message.is_object() ? message : no_message;
    const auto& role = member(m, "role");
    event(index, "\"role\":" + dump(role.is_string() ? role : json("assistant")) + ",\"content\":\"\"", "null");
    if (auto r = m.find("reasoning_content"); r != m.end() && r->is_string())
      event(index, "\"content\":null,\"reasoning_content\":" + dump(*r), "null");
    if (auto t = m.find("content"); t != m.end() && t->is_string() && !t->get_ref<const std::string&>().empty())
      event(index, "\"content\":" + dump(*t), "null");
    if (auto tcs = m.find("tool_calls"); tcs != m.end() && tcs->is_array()) {
      json calls = json::array();
      std::int64_t i = 0;
      for (auto tc : *tcs) {
        if (!tc.is_object()) continue;
        tc["index"] = i++;
        calls.push_back(std::move(tc));
      }
      event(index, "\"tool_calls\":" + dump(calls), "null");
    }
    event(index, "\"content\":\"\"", dump(member(c, "finish_reason")));
  }
  if (j.contains("usage") && j["usage"].is_object()) {
    parts.usage_event = "data: " + head + "],\"usage\":" + dump(marked_cached(j["usage"])) + "}\n\n";
  }
  return parts;
}

std::string replay_stream(std::string_view completion_json, bool include_usage) {
  auto parts = replay_parts(completion_json);
  if (parts.events.empty()) return {};
  if (include_usage) parts.events += parts.usage_event;
  parts.events += "data: [DONE]\n\n";
  return std::move(parts.events);
}

std::string make_stored(std::string_view completion_json) {
  auto body = hit_body(completion_json);
  auto parts = replay_parts(body);
  std::string out;
  out.reserve(body.size() + parts.events.size() + parts.usage_event.size() + 2);
  out += body;
  out += '\0';
  out += parts.events;
  out += '\0';
  out += parts.usage_event;
  return out;
}

bool storable_embeddings(std::string_view list_json) {
  auto j = json::parse(list_json, nullptr, false);
  return j.is_object() && member(j, "object") == "list" && j.contains("data") && j["data"].is_array() &&
         !j["data"].empty();
}

std::string make_stored_body(std::string_view body_json) {
  std::string out(body_json);
  out += '\0';
  out += '\0';
  return out;
}

std::optional<stored_parts> split_stored(std::string_view stored) {
  const auto a = stored.find('\0');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = stored.find('\0', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  stored_parts p{stored.substr(0, a), stored.substr(a + 1, b - a - 1), stored.substr(b + 1)};
  if (!p.body.starts_with('{') || !p.body.ends_with('}') || (!p.events.empty() && !p.events.starts_with("data: ")))
    return std::nullopt;
  return p;
}

}  // namespace deepgate::cache
