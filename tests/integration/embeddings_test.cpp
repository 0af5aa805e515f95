// POST /v1/embeddings (issue 18): the same keys, model allow-lists, limits, cache, metrics,
// access log and backends as chat, through the same stages. The backends are deepgate-mock
// serving an embedding model as vLLM or TEI would.
#include "fixture.hpp"

#include <gtest/gtest.h>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {

constexpr const char* other_key = "dg-test-key-for-integration-0002";
constexpr const char* narrow_key = "dg-test-key-for-integration-0003";

std::string keys_yaml() {
  return auth_yaml_with({{"other", "others", other_key, ""}, {"narrow", "narrow", narrow_key, "models: [deepseek-flash]"}});
}

// One embedding model on `primary`, with `fallback` behind it when given.
std::string yaml(std::uint16_t primary, std::uint16_t fallback = 0, const std::string& extra = {}) {
  std::string y = "server: {host: 127.0.0.1, port: 0, workers: 2}\nbackends:\n"
                  "  - {name: tei, url: 'http://127.0.0.1:" + std::to_string(primary) + "', breaker: {failures: 0}}\n";
  if (fallback) y += "  - {name: spare, url: 'http://127.0.0.1:" + std::to_string(fallback) + "', breaker: {failures: 0}}\n";
  y += "models:\n  - {name: bge-m3, backend: tei";
  if (fallback) y += ", fallback: [spare]";
  y += "}\n  - {name: deepseek-flash, backend: tei}\n";
  return y + keys_yaml() + "admin: {port: 0}\n" + extra;
}

std::string body(const std::string& input, const std::string& extra = {}) {
  json j = {{"model", "bge-m3"}, {"input", input}};
  if (!extra.empty()) j.update(json::parse(extra));
  return j.dump();
}

http_response embed(std::uint16_t port, const std::string& b, const char* key = test_key) {
  return post_json(port, "/v1/embeddings", b, {{"Authorization", std::string("Bearer ") + key}});
}

std::uint64_t upstream(const mock_server& m) { return m.stats()["embeddings_requests"].get<std::uint64_t>(); }

}  // namespace

TEST(embeddings, vectors_usage_metrics_and_the_access_log) {
  auto mock = mock_server::start({"--models", "bge-m3,deepseek-flash"});
  auto gw = gateway_server::start(yaml(mock->port, 0, "limits:\n  default: {tokens_per_minute: 100000}\n"));
  auto r = embed(gw->port, json{{"model", "bge-m3"}, {"input", json::array({"first text", "second one here"})}, {"dimensions", 8}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][1]["index"], 1);
  EXPECT_EQ(j["data"][0]["embedding"].size(), 8u);
  const auto prompt = j["usage"]["prompt_tokens"].get<double>();
  EXPECT_GT(prompt, 0);
  EXPECT_EQ(mock->last_request()["body"]["dimensions"], 8);
  // The token limit reserved the prompt only (no completion for embeddings) and settled it.
  EXPECT_FALSE(r.header("x-ratelimit-remaining-tokens").empty());
  EXPECT_GT(std::stod(r.header("x-ratelimit-remaining-tokens")), 100000 - 100);
  ASSERT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), R"(deepgate_tokens_total{model="bge-m3",owner="tests",type="prompt"})") == prompt;
  }));
  const auto m = gw->metrics();
  EXPECT_EQ(metric_value(m, R"(deepgate_requests_total{route="embeddings",model="bge-m3",status_class="2xx"})"), 1);
  ASSERT_TRUE(eventually([&] { return !gw->access_lines().empty(); }));
  auto line = gw->access_lines().back();
  EXPECT_EQ(line["route"], "embeddings");
  EXPECT_EQ(line["model"], "bge-m3");
  EXPECT_EQ(line["tokens"]["prompt"].get<double>(), prompt);
}

TEST(embeddings, identical_requests_are_one_upstream_call_per_owner) {
  auto mock = mock_server::start({"--models", "bge-m3,deepseek-flash"});
  auto gw = gateway_server::start(yaml(mock->port));
  auto a = embed(gw->port, body("cache me"));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.header("x-deepgate-cache"), "miss");
  auto b = embed(gw->port, body("cache me"));
  EXPECT_EQ(b.header("x-deepgate-cache"), "hit");
  EXPECT_EQ(b.body, a.body);
  EXPECT_EQ(upstream(*mock), 1u);
  // Another owner does not get this owner's answer; another dimension is another answer.
  EXPECT_EQ(embed(gw->port, body("cache me"), other_key).header("x-deepgate-cache"), "miss");
  EXPECT_EQ(embed(gw->port, body("cache me", R"({"dimensions":4})")).header("x-deepgate-cache"), "miss");
  EXPECT_EQ(upstream(*mock), 3u);
  // A chat request whose body happens to carry the same fields is never answered from it.
  auto chat = post_json(gw->port, "/v1/chat/completions",
                        json{{"model", "bge-m3"}, {"input", "cache me"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}.dump());
  EXPECT_NE(chat.header("x-deepgate-cache"), "hit");
}

TEST(embeddings, bad_input_and_models_the_key_may_not_use_are_refused_before_the_backend) {
  auto mock = mock_server::start({"--models", "bge-m3,deepseek-flash"});
  auto gw = gateway_server::start(yaml(mock->port));
  struct refusal {
    std::string body;
    int status;
    std::string param;
  };
  for (const auto& c : std::vector<refusal>{
           {R"({"model":"bge-m3"})", 400, "input"},
           {R"({"model":"bge-m3","input":""})", 400, "input"},
           {R"({"model":"bge-m3","input":[]})", 400, "input"},
           {R"({"model":"bge-m3","input":["a", 3]})", 400, "input[1]"},
           {R"({"model":"bge-m3","input":{"a":1}})", 400, "input"},
           {R"({"model":"bge-m3","input":"a","encoding_format":"int8"})", 400, "encoding_format"},
           {R"({"model":"bge-m3","input":"a","dimensions":0})", 422, "dimensions"},
           {R"({"model":"bge-m3","input":"a","stream":true})", 400, "stream"},
           {R"({"model":"bge-m3","input":"a","api_base":"http://169.254.169.254"})", 400, "api_base"},
       }) {
    auto r = embed(gw->port, c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " " << r.body;
    EXPECT_EQ(json::parse(r.body)["error"]["param"], c.param) << r.body;
  }
  auto denied = embed(gw->port, body("x"), narrow_key);
  EXPECT_EQ(denied.status, 404);
  EXPECT_EQ(json::parse(denied.body)["error"]["code"], "model_not_found");
  // Token arrays are input too.
  EXPECT_EQ(embed(gw->port, R"({"model":"bge-m3","input":[[1,2,3],[4]]})").status, 200);
  EXPECT_EQ(embed(gw->port, R"({"model":"bge-m3","input":[1,2,3]})").status, 200);
  EXPECT_EQ(upstream(*mock), 2u);
}

TEST(embeddings, a_backend_that_answers_503_is_covered_by_the_fallback) {
  auto failing = mock_server::start({"--models", "bge-m3,deepseek-flash", "--status", "503"});
  auto spare = mock_server::start({"--models", "bge-m3,deepseek-flash"});
  auto gw = gateway_server::start(yaml(failing->port, spare->port));
  auto r = embed(gw->port, body("fall back"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(upstream(*failing), 1u);
  EXPECT_EQ(upstream(*spare), 1u);
  EXPECT_EQ(spare->last_request()["body"]["input"], "fall back");
}

// A backend serves the routes it says (backends[].routes): embeddings skip a chat-only backend
// for the next in line, and a model whose backends all are chat-only is refused, not forwarded.
TEST(embeddings, only_backends_that_serve_the_route_get_it) {
  auto chat_only = mock_server::start({"--models", "bge-m3,deepseek-flash"});
  auto spare = mock_server::start({"--models", "bge-m3,deepseek-flash"});
  const std::string y =
      "server: {host: 127.0.0.1, port: 0, workers: 2}\nbackends:\n"
      "  - {name: deepseek, url: 'http://127.0.0.1:" + std::to_string(chat_only->port) + "', routes: [chat]}\n"
      "  - {name: tei, url: 'http://127.0.0.1:" + std::to_string(spare->port) + "', routes: [embeddings]}\n"
      "models:\n  - {name: bge-m3, backend: deepseek, fallback: [tei]}\n  - {name: deepseek-flash, backend: deepseek}\n" +
      keys_yaml() + "admin: {port: 0}\n";
  auto gw = gateway_server::start(y);
  auto r = embed(gw->port, body("to the one that serves it"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(upstream(*chat_only), 0u);
  EXPECT_EQ(upstream(*spare), 1u);
  auto refused = embed(gw->port, R"({"model":"deepseek-flash","input":"x"})");
  EXPECT_EQ(refused.status, 400);
  auto e = json::parse(refused.body)["error"];
  EXPECT_EQ(e["code"], "model_not_supported");
  EXPECT_EQ(e["param"], "model");
  EXPECT_NE(e["message"].get<std::string>().find("embeddings"), std::string::npos);
  EXPECT_EQ(upstream(*chat_only), 0u);
  // Chat still reaches the chat backend.
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "deepseek-flash")).status, 200);
  EXPECT_EQ(chat_only->chat_requests(), 1u);
}
