#include "mock_model.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <vector>
#include <cstdint>

namespace deepgate::mock {

using json = nlohmann::json;

namespace {
constexpr std::int64_t fixed_created = 1735689600;  // deterministic replies: a fixed timestamp

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

constexpr std::string_view words[] = {"The", "gateway", "answers", "quickly", "and", "streams", "every", "token",
                                      "as", "it", "arrives", "from", "the", "model", "while", "caching",
                                      "repeated", "prompts", "for", "later", "with", "care", "so", "nothing",
                                      "is", "lost", "or", "leaked", "between", "tenants", "today", "indeed"};

std::vector<std::string> make_pieces(std::uint64_t seed, int n) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    auto w = words[(seed >> 33) % std::size(words)];
    out.push_back(i == 0 ? std::string(w) : " " + std::string(w));
  }
  if (!out.empty()) out.back() += ".";
  return out;
}

std::string text_of(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string s;
  if (content.is_array())
    for (auto& part : content)
      if (part.is_object() && (part.value("type", "") == "text" || part.value("type", "") == "input_text") &&
          part.contains("text") && part["text"].is_string())
        s += part["text"].get<std::string>();
  return s;
}

int int_value(std::string_view v, int fallback) {
  int x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  return ec == std::errc{} ? x : fallback;
}

json usage_json(int prompt, int completion, int reasoning, bool reasoner) {
  int hit = (prompt / 2) / 64 * 64;  // DeepSeek caches whole 64-token blocks of a shared prefix
  json u = {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", hit}}},
            {"prompt_cache_hit_tokens", hit},
            {"prompt_cache_miss_tokens", prompt - hit}};
  if (reasoner) u["completion_tokens_details"] = {{"reasoning_tokens", reasoning}};
  return u;
}

std::string event(const json& j) { return "data: " + j.dump() + "\n\n"; }

reply error_reply(unsigned status, std::string message = {}) {
  reply r;
  r.status = status;
  r.body = message.empty() ? deepseek_error_body(status)
                           : json{{"error", {{"message", message}, {"type", "invalid_request_error"}, {"param", nullptr},
                                             {"code", "invalid_request_error"}}}}
                                 .dump();
  return r;
}

// A status=N directive: that error in the route's shape, carrying the other directives
// (latency_ms, say) with it.
std::optional<reply> directed_error(const knobs& k, reply (*shape)(unsigned, std::string) = error_reply) {
  if (k.status < 400) return std::nullopt;
  auto e = shape(static_cast<unsigned>(k.status), {});
  e.k = k;
  return e;
}
}  // namespace

knobs parse_directives(std::string_view text, knobs k) {
  for (auto pos = text.find("[mock"); pos != std::string_view::npos; pos = text.find("[mock", pos + 1)) {
    auto end = text.find(']', pos);
    if (end == std::string_view::npos) break;
    std::string_view body = text.substr(pos + 5, end - pos - 5);
    while (!body.empty()) {
      auto sp = body.find_first_not_of(' ');
      if (sp == std::string_view::npos) break;
      body.remove_prefix(sp);
      auto tok_end = body.find(' ');
      auto tok = body.substr(0, tok_end);
      body = tok_end == std::string_view::npos ? std::string_view{} : body.substr(tok_end);
      auto eq = tok.find('=');
      if (eq == std::string_view::npos) continue;
      auto key = tok.substr(0, eq), val = tok.substr(eq + 1);
      if (key == "status") k.status = int_value(val, k.status);
      else if (key == "tokens") k.tokens = int_value(val, k.tokens);
      else if (key == "latency_ms") k.latency_ms = int_value(val, k.latency_ms);
      else if (key == "queue_ms") k.queue_ms = int_value(val, k.queue_ms);
      else if (key == "keepalive_ms") k.keepalive_ms = std::max(1, int_value(val, k.keepalive_ms));
      else if (key == "ttft_ms") k.ttft_ms = int_value(val, k.ttft_ms);
      else if (key == "tps") k.tps = int_value(val, static_cast<int>(k.tps));
      else if (key == "reset_after") k.reset_after = int_value(val, k.reset_after);
      else if (key == "malformed_after") k.malformed_after = int_value(val, k.malformed_after);
      else if (key == "no_done") k.no_done = val == "1" || val == "true";
      else if (key == "stall_after") k.stall_after = int_value(val, k.stall_after);
      else if (key == "tool_calls") k.tool_calls = std::clamp(int_value(val, k.tool_calls), 1, 16);
      else if (key == "same_index") k.same_index = val == "1" || val == "true";
    }
  }
  return k;
}

std::string deepseek_error_body(unsigned status) {
  std::string message, type = "invalid_request_error", code = "invalid_request_error";
  switch (status) {
    case 400: message = "Invalid format: the request body is not valid."; break;
    case 401:
      message = "Authentication Fails, Your api key: ****mock is invalid";
      type = "authentication_error";
      code = "invalid_request_error";
      break;
    case 402: message = "Insufficient Balance"; type = "unknown_error"; code = "invalid_request_error"; break;
    case 422: message = "Invalid Parameters: your request contains invalid parameters."; break;
    case 429: message = "Rate Limit Reached"; type = "rate_limit_error"; code = "rate_limit_exceeded"; break;
    case 500: message = "Server Error: our server encountered an issue."; type = "api_error"; code = "server_error"; break;
    case 503: message = "Server Overloaded: the server is overloaded due to high traffic."; type = "api_error"; code = "server_overloaded"; break;
    default: message = "Error " + std::to_string(status); type = "api_error"; code = "unknown_error"; break;
  }
  return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump();
}

std::string models_body(const options& opts) { return models_body(opts.models, opts.models_meta); }

std::string models_body(const std::vector<std::string>& models, const std::string& meta) {
  auto extra = meta.empty() ? json::object() : json::parse(meta, nullptr, false);
  auto data = json::array();
  for (auto& m : models) {
    json o = {{"id", m}, {"object", "model"}, {"owned_by", "deepseek"}};
    if (extra.is_object()) o.update(extra);
    data.push_back(std::move(o));
  }
  return json{{"object", "list"}, {"data", data}}.dump();
}

std::string balance_body(const options& opts) {
  const bool available = std::strtod(opts.balance.c_str(), nullptr) > 0;
  return json{{"is_available", available},
              {"balance_infos",
               {{{"currency", "CNY"}, {"total_balance", opts.balance}, {"granted_balance", "0.00"},
                 {"topped_up_balance", opts.balance}}}}}
      .dump();
}

namespace {

std::string base64(const std::string& bytes) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0u;
    const auto b2 = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0u;
    out += table[b0 >> 2];
    out += table[((b0 & 3) << 4) | (b1 >> 4)];
    out += i + 1 < bytes.size() ? table[((b1 & 15) << 2) | (b2 >> 6)] : '=';
    out += i + 2 < bytes.size() ? table[b2 & 63] : '=';
  }
  return out;
}

// What every route checks first, as DeepSeek does: the key, a JSON object, a model it serves.
std::optional<reply> first_checks(std::string_view body, std::string_view authorization, const options& opts, json& req,
                                  std::string& model) {
  if (!opts.api_key.empty() && authorization != "Bearer " + opts.api_key) return error_reply(401);
  req = json::parse(body, nullptr, false);
  if (!req.is_object()) return error_reply(400, "Failed to deserialize the JSON body into the target type");
  auto mi = req.find("model");
  model = mi != req.end() && mi->is_string() ? mi->get<std::string>() : std::string();
  if (std::find(opts.models.begin(), opts.models.end(), model) == opts.models.end())
    return error_reply(400, "Model Not Exist");
  return std::nullopt;
}

}  // namespace

reply plan_embeddings(std::string_view request_body, std::string_view authorization, const options& opts) {
  json req;
  std::string model;
  if (auto refused = first_checks(request_body, authorization, opts, req, model)) return *refused;
  auto input = req.find("input");
  if (input == req.end() || !(input->is_string() || (input->is_array() && !input->empty())))
    return error_reply(422, "Failed to deserialize the JSON body into the target type: missing field `input`");
  json items = input->is_string() ? json::array({*input}) : *input;
  if (!items.front().is_string() && !items.front().is_array()) items = json::array({items});  // one token array
  reply r;
  for (const auto& item : items)
    if (item.is_string()) {
      r.k = parse_directives(item.get<std::string>(), opts.defaults);
      break;
    }
  if (auto e = directed_error(r.k)) return *e;
  const int dims = req.contains("dimensions") && req["dimensions"].is_number_integer() ? std::max(1, req["dimensions"].get<int>()) : 16;
  const bool b64 = req.value("encoding_format", std::string("float")) == "base64";
  json data = json::array();
  int tokens = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto text = items[i].is_string() ? items[i].get<std::string>() : items[i].dump();
    tokens += items[i].is_string() ? std::max(1, static_cast<int>(std::count(text.begin(), text.end(), ' ')) + 1)
                                   : static_cast<int>(items[i].size());
    std::vector<float> v(static_cast<std::size_t>(dims));
    double norm = 0;
    auto h = fnv1a(model + '\n' + text);
    for (auto& x : v) {
      h = fnv1a(std::string_view(reinterpret_cast<const char*>(&h), sizeof h), h);
      x = static_cast<float>(static_cast<double>(h % 20001) / 10000.0 - 1.0);
      norm += static_cast<double>(x) * x;
    }
    norm = std::sqrt(norm > 0 ? norm : 1);
    for (auto& x : v) x = static_cast<float>(x / norm);
    json embedding;
    if (b64) {
      embedding = base64(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));  // x86: little-endian
    } else {
      embedding = json::array();
      for (float x : v) embedding.push_back(x);
    }
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  r.body = json{{"object", "list"},
                {"data", std::move(data)},
                {"model", model},
                {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}
               .dump();
  return r;
}

reply plan_reply(std::string_view request_body, std::string_view authorization, const options& opts) {
  json req;
  std::string model;
  if (auto refused = first_checks(request_body, authorization, opts, req, model)) return *refused;
  for (const auto& field : opts.reject_fields)
    if (req.contains(field)) return error_reply(422, "Extra inputs are not permitted: body." + field);
  if (!req.contains("messages") || !req["messages"].is_array() || req["messages"].empty())
    return error_reply(422, "Failed to deserialize the JSON body into the target type: missing field `messages`");

  // Thinking mode: V4 models think unless {"thinking":{"type":"disabled"}} (DeepSeek's Thinking
  // Mode guide: "enabled by default"); the pre-V4 names as they were (the reasoner always, chat
  // when enabled). It wants the reasoning_content of every assistant turn that made tool calls
  // passed back with it.
  const auto thinking_type = req.contains("thinking") && req["thinking"].is_object()
                                 ? req["thinking"].value("type", std::string())
                                 : std::string();
  const bool v4 = model == "deepseek-flash" || model.starts_with("deepseek-v4");
  const bool thinking = model.find("reasoner") != std::string::npos || thinking_type == "enabled" ||
                        (v4 && thinking_type != "disabled");
  if (thinking)
    for (std::size_t i = 0; i < req["messages"].size(); ++i) {
      const auto& m = req["messages"][i];
      if (m.is_object() && m.value("role", "") == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array() &&
          !m["tool_calls"].empty() && !(m.contains("reasoning_content") && m["reasoning_content"].is_string()))
        return error_reply(400, "Missing `reasoning_content` field in the assistant message at message index " +
                                    std::to_string(i) +
                                    ". For more information, please refer to "
                                    "https://api-docs.deepseek.com/guides/thinking_mode#tool-calls");
    }
  std::string last_user, all_text, last_role;
  for (auto& m : req["messages"]) {
    if (!m.is_object()) continue;
    auto text = m.contains("content") ? text_of(m["content"]) : std::string();
    all_text += text;
    last_role = m.value("role", "");
    if (last_role == "user") last_user = text;
  }
  reply r;
  r.k = parse_directives(last_user, opts.defaults);
  if (auto e = directed_error(r.k)) return *e;
  auto st = req.find("stream");
  r.stream = st != req.end() && st->is_boolean() && st->get<bool>();
  auto so = req.find("stream_options");
  bool include_usage = r.stream && so != req.end() && so->is_object() && so->contains("include_usage") &&
                       (*so)["include_usage"].is_boolean() && (*so)["include_usage"].get<bool>();
  const bool reasoner = thinking;  // answers with reasoning_content

  // Same answer for the same question, streamed or not: output-neutral fields leave the seed out.
  json seed_fields = req;
  for (auto k : {"stream", "stream_options", "user"}) seed_fields.erase(k);
  auto seed = fnv1a(seed_fields.dump());
  int completion_tokens = r.k.tokens;
  if (auto mt = req.find("max_tokens"); mt != req.end() && mt->is_number_integer())
    completion_tokens = std::min(completion_tokens, mt->get<int>());
  auto content = make_pieces(seed, completion_tokens);
  auto reasoning = reasoner ? make_pieces(seed ^ 0x5bd1e995, std::max(1, completion_tokens / 2)) : std::vector<std::string>{};
  int prompt_tokens = 8 + static_cast<int>(all_text.size() / 4);
  int reasoning_tokens = static_cast<int>(reasoning.size());
  auto usage = usage_json(prompt_tokens, completion_tokens + reasoning_tokens, reasoning_tokens, reasoner);
  char idbuf[40];
  std::snprintf(idbuf, sizeof idbuf, "%016llx", static_cast<unsigned long long>(seed));
  std::string id = std::string("mock-") + idbuf;
  const std::string fingerprint = "fp_mock_0001";
  std::string finish = completion_tokens < r.k.tokens ? "length" : "stop";
  // With tools offered (and not refused by tool_choice "none") and a user message last, DeepSeek's
  // way: calls of the tools in turn (one unless tool_calls=N), content "", finish_reason
  // "tool_calls". After the tool's result (a "tool" message last) the model answers in text.
  json tool_calls = json::array();
  if (auto tools = req.find("tools"); tools != req.end() && tools->is_array() && !tools->empty() &&
                                      req.value("tool_choice", json("auto")) != json("none") && last_role == "user") {
    for (int i = 0; i < r.k.tool_calls; ++i) {
      const auto& fn = (*tools)[static_cast<std::size_t>(i) % tools->size()].value("function", json::object());
      const auto query = content.empty() ? std::string() : content[static_cast<std::size_t>(i) % content.size()];
      tool_calls.push_back({{"id", "call_" + std::string(idbuf).substr(0, 12) + (i ? std::to_string(i) : std::string())},
                            {"type", "function"},
                            {"function", {{"name", fn.value("name", std::string("tool"))},
                                          {"arguments", json{{"query", query}}.dump()}}}});
    }
    content.clear();
    finish = "tool_calls";
  }

  if (!r.stream) {
    std::string text, thought;
    for (auto& p : content) text += p;
    for (auto& p : reasoning) thought += p;
    json message = {{"role", "assistant"}, {"content", text}};
    if (reasoner) message["reasoning_content"] = thought;
    if (!tool_calls.empty()) message["tool_calls"] = tool_calls;
    r.body = json{{"id", id},
                  {"object", "chat.completion"},
                  {"created", fixed_created},
                  {"model", model},
                  {"choices", json::array({{{"index", 0}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", finish}}})},
                  {"usage", usage},
                  {"system_fingerprint", fingerprint}}
                 .dump();
    return r;
  }

  auto chunk = [&](json delta, json finish_reason) {
    return json{{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", fixed_created},
                {"model", model},
                {"system_fingerprint", fingerprint},
                {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                          {"finish_reason", std::move(finish_reason)}}})}};
  };
  json first = {{"role", "assistant"}, {"content", reasoner ? json(nullptr) : json("")}};
  if (reasoner) first["reasoning_content"] = "";
  r.events.push_back(event(chunk(first, nullptr)));
  // The token chunks are one object around their delta: dumped once with a marker for the delta
  // and split there, each event is the two halves around its own delta, byte for byte what
  // dumping its tree gives (keys sorted) at a fraction of the cost. A 50,000-token answer took
  // ~10 s to plan in a sanitizer's debug build the tree way.
  const auto shell = event(chunk("\x01", nullptr));
  constexpr std::string_view marker = "\"\\u0001\"";  // how the delta "\x01" dumps
  const auto at = shell.find(marker);
  const std::string before = shell.substr(0, at), after = shell.substr(at + marker.size());
  auto token_event = [&](std::string_view delta_head, const std::string& piece, std::string_view delta_tail) {
    std::string e;
    e.reserve(before.size() + after.size() + delta_head.size() + delta_tail.size() + piece.size() + 8);
    e.append(before).append(delta_head).append(json(piece).dump()).append(delta_tail).append(after);
    return e;
  };
  r.events.reserve(r.events.size() + reasoning.size() + content.size() + 3 * tool_calls.size() + 3);
  for (auto& p : reasoning) r.events.push_back(token_event("{\"content\":null,\"reasoning_content\":", p, "}"));
  for (auto& p : content) r.events.push_back(token_event("{\"content\":", p, reasoner ? ",\"reasoning_content\":null}" : "}"));
  for (std::size_t i = 0; i < tool_calls.size(); ++i) {
    // Each call's head (index, id, type, name), then its arguments in two pieces. OpenAI numbers
    // the calls; with same_index every call comes at index 0, told apart by its id.
    const auto& call = tool_calls[i];
    const int index = r.k.same_index ? 0 : static_cast<int>(i);
    const auto args = call["function"]["arguments"].get<std::string>();
    const auto half = args.size() / 2;
    json head = call;
    head["index"] = index;
    head["function"]["arguments"] = "";
    r.events.push_back(event(chunk({{"content", nullptr}, {"tool_calls", json::array({head})}}, nullptr)));
    for (auto piece : {args.substr(0, half), args.substr(half)})
      r.events.push_back(event(chunk({{"content", nullptr},
                                      {"tool_calls", json::array({{{"index", index}, {"function", {{"arguments", piece}}}}})}},
                                     nullptr)));
  }
  auto last = chunk({{"content", ""}}, finish);
  r.events.push_back(event(last));
  if (include_usage) {
    json u = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", fixed_created}, {"model", model},
              {"system_fingerprint", fingerprint}, {"choices", json::array()}, {"usage", usage}};
    r.events.push_back(event(u));
  }
  if (!r.k.no_done) r.events.push_back("data: [DONE]\n\n");
  return r;
}

}  // namespace deepgate::mock

namespace deepgate::mock {

namespace {

std::string sse(std::string_view name, json data) {
  data["type"] = name;
  return "event: " + std::string(name) + "\ndata: " + data.dump() + "\n\n";
}

// The parts of a generated answer the routes share: the same text for the same request.
struct generated {
  knobs k;
  std::string id;  // 16 hex digits
  std::vector<std::string> pieces;
  int prompt_tokens = 0, hit = 0, completion_tokens = 0;
  bool truncated = false;  // max tokens cut the answer short
};

generated generate(const json& req, std::string_view directive_text, std::string_view all_text, const options& opts,
                   std::initializer_list<const char*> max_fields) {
  generated g;
  g.k = parse_directives(directive_text, opts.defaults);
  json seed_fields = req;
  for (auto f : {"stream", "stream_options", "user"}) seed_fields.erase(f);
  const auto seed = fnv1a(seed_fields.dump());
  char idbuf[20];
  std::snprintf(idbuf, sizeof idbuf, "%016llx", static_cast<unsigned long long>(seed));
  g.id = idbuf;
  g.completion_tokens = g.k.tokens;
  for (auto f : max_fields)
    if (auto mt = req.find(f); mt != req.end() && mt->is_number_integer()) g.completion_tokens = std::min(g.completion_tokens, mt->get<int>());
  g.truncated = g.completion_tokens < g.k.tokens;
  g.pieces = make_pieces(seed, g.completion_tokens);
  g.prompt_tokens = 8 + static_cast<int>(all_text.size() / 4);
  g.hit = (g.prompt_tokens / 2) / 64 * 64;
  return g;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string s;
  for (auto& p : pieces) s += p;
  return s;
}

}  // namespace

std::optional<reply> beta_only(std::string_view request_body) {
  if (request_body.find("prefix") == std::string_view::npos && request_body.find("strict") == std::string_view::npos)
    return std::nullopt;
  auto req = json::parse(request_body, nullptr, false);
  if (!req.is_object() || !req.contains("messages") || !req["messages"].is_array() || req["messages"].empty()) return std::nullopt;
  const auto& last = req["messages"].back();
  bool beta = last.is_object() && last.value("role", "") == "assistant" && last.value("prefix", false) == true;
  if (auto tools = req.find("tools"); tools != req.end() && tools->is_array())
    for (const auto& t : *tools)
      if (t.is_object() && t.contains("function") && t["function"].is_object() && t["function"].value("strict", false) == true)
        beta = true;
  if (!beta) return std::nullopt;
  return error_reply(400, "This feature (prefix completion or strict function calling) is only available with "
                          "base_url=\"https://api.deepseek.com/beta\".");
}

reply plan_completion(std::string_view request_body, std::string_view authorization, const options& opts) {
  json req;
  std::string model;
  if (auto refused = first_checks(request_body, authorization, opts, req, model)) return *refused;
  auto prompt = req.find("prompt");
  if (prompt == req.end() || (!prompt->is_string() && !prompt->is_array()))
    return error_reply(422, "Failed to deserialize the JSON body into the target type: missing field `prompt`");
  if (auto mt = req.find("max_tokens"); mt != req.end() && mt->is_number_integer() && mt->get<int>() > 4096)
    return error_reply(422, "Invalid max_tokens value, the valid range of max_tokens is [1, 4096]");
  const std::string text = prompt->is_string() ? prompt->get<std::string>() : prompt->dump();
  const std::string suffix = req.value("suffix", json()).is_string() ? req["suffix"].get<std::string>() : std::string();
  auto g = generate(req, text, text + suffix, opts, {"max_tokens"});
  if (auto e = directed_error(g.k)) return *e;
  reply r;
  r.k = g.k;
  r.stream = req.value("stream", json(false)) == json(true);
  const auto usage = usage_json(g.prompt_tokens, g.completion_tokens, 0, false);
  const std::string id = "cmpl-" + g.id, finish = g.truncated ? "length" : "stop";
  auto object = [&](json choices) {
    return json{{"id", id}, {"object", "text_completion"}, {"created", fixed_created}, {"model", model},
                {"system_fingerprint", "fp_mock_0001"}, {"choices", std::move(choices)}};
  };
  if (!r.stream) {
    auto o = object(json::array({{{"text", joined(g.pieces)}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}}}));
    o["usage"] = usage;
    r.body = o.dump();
    return r;
  }
  for (std::size_t i = 0; i < g.pieces.size(); ++i)
    r.events.push_back(event(object(json::array({{{"text", g.pieces[i]}, {"index", 0}, {"logprobs", nullptr},
                                                   {"finish_reason", i + 1 == g.pieces.size() ? json(finish) : json(nullptr)}}}))));
  if (g.pieces.empty())
    r.events.push_back(event(object(json::array({{{"text", ""}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}}}))));
  auto so = req.value("stream_options", json::object());
  if (so.is_object() && so.value("include_usage", false)) {
    auto u = object(json::array());
    u["usage"] = usage;
    r.events.push_back(event(u));
  }
  if (!r.k.no_done) r.events.push_back("data: [DONE]\n\n");
  return r;
}

reply plan_response(std::string_view request_body, std::string_view authorization, const options& opts) {
  json req;
  std::string model;
  if (auto refused = first_checks(request_body, authorization, opts, req, model)) return *refused;
  if (req.contains("previous_response_id") && !req["previous_response_id"].is_null())
    return error_reply(400, "previous_response_id is not supported: this API is stateless.");
  auto input = req.find("input");
  if (input == req.end() || (!input->is_string() && !input->is_array()))
    return error_reply(422, "Failed to deserialize the JSON body into the target type: missing field `input`");
  std::string last_user, all_text = req.value("instructions", json()).is_string() ? req["instructions"].get<std::string>() : "";
  if (input->is_string()) {
    last_user = input->get<std::string>();
  } else {
    for (const auto& item : *input) {
      if (!item.is_object()) continue;
      auto t = item.contains("content") ? text_of(item["content"]) : std::string();
      if (item.value("role", "") == "user") last_user = t;
      all_text += t;
    }
  }
  auto g = generate(req, last_user, input->is_string() ? all_text + last_user : all_text, opts, {"max_output_tokens"});
  if (auto e = directed_error(g.k)) return *e;
  reply r;
  r.k = g.k;
  r.stream = req.value("stream", json(false)) == json(true);
  const std::string id = "resp_" + g.id, item_id = "msg_" + g.id, text = joined(g.pieces);
  const json part = {{"type", "output_text"}, {"text", text}, {"annotations", json::array()}};
  const json item = {{"type", "message"}, {"id", item_id}, {"status", "completed"}, {"role", "assistant"},
                     {"content", json::array({part})}};
  const json usage = {{"input_tokens", g.prompt_tokens},
                      {"input_tokens_details", {{"cached_tokens", g.hit}}},
                      {"output_tokens", g.completion_tokens},
                      {"output_tokens_details", {{"reasoning_tokens", 0}}},
                      {"total_tokens", g.prompt_tokens + g.completion_tokens}};
  auto response = [&](std::string_view status, json output, json u) {
    return json{{"id", id},
                {"object", "response"},
                {"created_at", fixed_created},
                {"status", status},
                {"model", model},
                {"output", std::move(output)},
                {"usage", std::move(u)},
                {"error", nullptr},
                {"incomplete_details", g.truncated ? json{{"reason", "max_output_tokens"}} : json(nullptr)},
                {"instructions", req.value("instructions", json())},
                {"max_output_tokens", req.value("max_output_tokens", json())},
                {"parallel_tool_calls", true},
                {"tool_choice", "auto"},
                {"tools", json::array()},
                {"temperature", req.value("temperature", json(1))},
                {"top_p", req.value("top_p", json(1))},
                {"text", {{"format", {{"type", "text"}}}}}};
  };
  const std::string final_status = g.truncated ? "incomplete" : "completed";
  if (!r.stream) {
    r.body = response(final_status, json::array({item}), usage).dump();
    return r;
  }
  int seq = 0;
  auto add = [&](std::string_view name, json data) {
    data["sequence_number"] = seq++;
    r.events.push_back(sse(name, std::move(data)));
  };
  add("response.created", {{"response", response("in_progress", json::array(), nullptr)}});
  add("response.in_progress", {{"response", response("in_progress", json::array(), nullptr)}});
  json open_item = item;
  open_item["status"] = "in_progress";
  open_item["content"] = json::array();
  add("response.output_item.added", {{"output_index", 0}, {"item", open_item}});
  add("response.content_part.added", {{"item_id", item_id}, {"output_index", 0}, {"content_index", 0},
                                      {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}});
  for (auto& p : g.pieces)
    add("response.output_text.delta", {{"item_id", item_id}, {"output_index", 0}, {"content_index", 0}, {"delta", p}});
  add("response.output_text.done", {{"item_id", item_id}, {"output_index", 0}, {"content_index", 0}, {"text", text}});
  add("response.content_part.done", {{"item_id", item_id}, {"output_index", 0}, {"content_index", 0}, {"part", part}});
  add("response.output_item.done", {{"output_index", 0}, {"item", item}});
  if (!r.k.no_done)
    add(g.truncated ? "response.incomplete" : "response.completed", {{"response", response(final_status, json::array({item}), usage)}});
  return r;
}

std::string anthropic_error_body(unsigned status, std::string message) {
  std::string type = "api_error";
  switch (status) {
    case 400:
    case 422: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 402: type = "billing_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 429: type = "rate_limit_error"; break;
    case 503:
    case 529: type = "overloaded_error"; break;
    default: break;
  }
  if (message.empty()) {
    switch (status) {
      case 401: message = "invalid x-api-key"; break;
      case 429: message = "Rate Limit Reached"; break;
      case 503:
      case 529: message = "Overloaded"; break;
      default: message = status >= 500 ? "Internal server error" : "Invalid request"; break;
    }
  }
  return json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}}.dump();
}

namespace {

reply anthropic_error(unsigned status, std::string message = {}) {
  reply r;
  r.status = status;
  r.body = anthropic_error_body(status, std::move(message));
  return r;
}

// What Anthropic's routes check first: the key (x-api-key, or Bearer), a JSON object, a model
// DeepSeek serves or a claude-* name it maps, and the conversation.
std::optional<reply> anthropic_checks(std::string_view body, std::string_view authorization, const options& opts, json& req,
                                      std::string& model, std::string& last_user, std::string& all_text) {
  if (!opts.api_key.empty() && authorization != "Bearer " + opts.api_key) return anthropic_error(401);
  req = json::parse(body, nullptr, false);
  if (!req.is_object()) return anthropic_error(400, "Invalid JSON in the request body");
  model = req.value("model", json()).is_string() ? req["model"].get<std::string>() : std::string();
  if (std::find(opts.models.begin(), opts.models.end(), model) == opts.models.end()) {
    if (!model.starts_with("claude")) return anthropic_error(400, "Model Not Exist");
    model = model.starts_with("claude-opus") ? "deepseek-v4-pro" : "deepseek-flash";
  }
  auto messages = req.find("messages");
  if (messages == req.end() || !messages->is_array() || messages->empty())
    return anthropic_error(400, "messages: Field required");
  if (req.contains("system")) all_text += text_of(req["system"]);
  for (const auto& m : *messages) {
    if (!m.is_object()) continue;
    auto t = m.contains("content") ? text_of(m["content"]) : std::string();
    if (m.value("role", "") == "user") last_user = t;
    all_text += t;
  }
  return std::nullopt;
}

}  // namespace

reply plan_message(std::string_view request_body, std::string_view authorization, const options& opts) {
  json req;
  std::string model, last_user, all_text;
  if (auto refused = anthropic_checks(request_body, authorization, opts, req, model, last_user, all_text)) return *refused;
  if (!req.contains("max_tokens") || !req["max_tokens"].is_number_integer())
    return anthropic_error(400, "max_tokens: Field required");
  auto g = generate(req, last_user, all_text, opts, {"max_tokens"});
  if (auto e = directed_error(g.k, anthropic_error)) return *e;
  reply r;
  r.k = g.k;
  r.stream = req.value("stream", json(false)) == json(true);
  const std::string id = "msg_" + g.id, stop = g.truncated ? "max_tokens" : "end_turn";
  const json usage = {{"input_tokens", g.prompt_tokens - g.hit},
                      {"output_tokens", g.completion_tokens},
                      {"cache_read_input_tokens", g.hit},
                      {"cache_creation_input_tokens", 0}};
  auto message = [&](json content, json stop_reason, json u) {
    return json{{"id", id}, {"type", "message"}, {"role", "assistant"}, {"model", model}, {"content", std::move(content)},
                {"stop_reason", std::move(stop_reason)}, {"stop_sequence", nullptr}, {"usage", std::move(u)}};
  };
  if (!r.stream) {
    r.body = message(json::array({{{"type", "text"}, {"text", joined(g.pieces)}}}), stop, usage).dump();
    return r;
  }
  json start_usage = usage;
  start_usage["output_tokens"] = 1;
  r.events.push_back(sse("message_start", {{"message", message(json::array(), nullptr, start_usage)}}));
  r.events.push_back(sse("content_block_start", {{"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}));
  r.events.push_back(sse("ping", json::object()));
  for (auto& p : g.pieces)
    r.events.push_back(sse("content_block_delta", {{"index", 0}, {"delta", {{"type", "text_delta"}, {"text", p}}}}));
  r.events.push_back(sse("content_block_stop", {{"index", 0}}));
  r.events.push_back(sse("message_delta", {{"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}},
                                           {"usage", {{"output_tokens", g.completion_tokens}}}}));
  if (!r.k.no_done) r.events.push_back(sse("message_stop", json::object()));
  return r;
}

reply plan_count_tokens(std::string_view request_body, std::string_view authorization, const options& opts) {
  json req;
  std::string model, last_user, all_text;
  if (auto refused = anthropic_checks(request_body, authorization, opts, req, model, last_user, all_text)) return *refused;
  reply r;
  r.k = parse_directives(last_user, opts.defaults);
  if (auto e = directed_error(r.k, anthropic_error)) return *e;
  r.body = json{{"input_tokens", 8 + static_cast<int>(all_text.size() / 4)}}.dump();
  return r;
}

}  // namespace deepgate::mock
