// Several backends per model: weighted balancing, failover to the fallback list, retries only
// when nothing can have been duplicated, the circuit breaker, and a TLS DeepSeek-style backend
// beside a plain-HTTP self-hosted one. The mocks' request counters prove what reached each.
#include "fixture.hpp"
#include "test_ca.hpp"

#include <gtest/gtest.h>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {

http_response chat(std::uint16_t port, const std::string& body) { return post_json(port, "/v1/chat/completions", body); }

std::string backend(const std::string& name, std::uint16_t port, const std::string& extra = "") {
  return "  - name: " + name + "\n    url: http://127.0.0.1:" + std::to_string(port) + "\n" + extra;
}

// A gateway with `backends` (YAML list items) and one model, deepseek-chat, routed by `route`:
// DeepSeek's current Flash (unless the route names another upstream model) with thinking off
// (unless the route sets fields of its own).
std::string yaml(const std::string& backends, const std::string& route, const std::string& extra = "") {
  const bool named = ("\n" + route).find("\n    upstream_model:") != std::string::npos;  // the model's own
  return "server:\n  host: 127.0.0.1\n  port: 0\n  workers: 2\nbackends:\n" + backends +
         "models:\n  - name: deepseek-chat\n" + (named ? "" : "    upstream_model: deepseek-flash\n") +
         (route.find("set:") == std::string::npos ? "    set: {thinking: {type: disabled}}\n" : "") + route + test_auth_yaml() + extra + "log:\n  level: info\n";
}

// A port nothing listens on: connections are refused.
std::uint16_t dead_port() { return free_port(); }

}  // namespace

TEST(backends, a_primary_that_is_down_or_answers_503_is_covered_by_the_fallback) {
  auto fallback = mock_server::start();
  auto failing = mock_server::start({"--status", "503"});
  for (bool down : {true, false}) {
    const auto primary_port = down ? dead_port() : failing->port;
    auto gw = gateway_server::start(
        yaml(backend("primary", primary_port, "    breaker: {failures: 5, cool_down: 60s}\n") + backend("spare", fallback->port),
             "    backends: [primary]\n    fallback: [spare]\n"));
    const auto spare_before = fallback->chat_requests();
    const auto primary_before = failing->chat_requests();
    for (int i = 0; i < 20; ++i) {
      auto r = chat(gw->port, chat_body("covered " + std::to_string(i), i % 2 == 1));
      ASSERT_EQ(r.status, 200) << (down ? "down: " : "503: ") << r.body;
      if (i % 2) {
        EXPECT_EQ(sse_items(r.body).back(), "[DONE]");
      }
    }
    EXPECT_EQ(fallback->chat_requests() - spare_before, 20u);
    if (!down) {
      // The breaker opened after 5 failures: the rest went straight to the fallback.
      EXPECT_EQ(failing->chat_requests() - primary_before, 5u);
    }
    // Five attempts failed and were retried on the fallback; then the open breaker sent the
    // requests there directly.
    auto m = gw->metrics();
    EXPECT_EQ(metric_value(m, "deepgate_upstream_retries_total"), 5);
    EXPECT_EQ(metric_value(m, "deepgate_circuit_breaker_state{backend=\"primary\"}"), 2);
    // Each failed attempt is counted under the backend that failed, none under the one that answered.
    const std::string reason = down ? "connect" : "http_503";
    EXPECT_EQ(metric_value(m, "deepgate_upstream_errors_total{backend=\"primary\",reason=\"" + reason + "\"}"), 5) << m;
    EXPECT_EQ(m.find("deepgate_upstream_errors_total{backend=\"spare\""), std::string::npos) << m;
    // The access log says which backend answered, after how many retries, with no error of its own.
    std::vector<json> lines;
    ASSERT_TRUE(eventually([&] { return (lines = gw->access_lines()).size() == 20; }, std::chrono::seconds(5)));
    // Workers flush their lines in batches, so the file is not in request order: count instead.
    int retried = 0;
    for (auto& l : lines) {
      EXPECT_EQ(l["backend"], "spare");
      retried += l["retries"] == 1;
      EXPECT_TRUE(l["upstream_error"].is_null() || l["upstream_error"] == "") << l;
    }
    EXPECT_EQ(retried, 5);
  }
}

TEST(backends, weights_hold_over_a_thousand_requests) {
  auto a = mock_server::start();
  auto b = mock_server::start();
  auto gw = gateway_server::start(yaml(backend("a", a->port, "    weight: 3\n") + backend("b", b->port),
                                       "    backends: [a, b]\n"));
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(chat(gw->port, chat_body("weighted " + std::to_string(i))).status, 200);
  const auto to_a = static_cast<double>(a->chat_requests());
  EXPECT_EQ(a->chat_requests() + b->chat_requests(), 1000u);
  EXPECT_NEAR(to_a / 1000, 0.75, 0.05);
}

TEST(backends, per_model_weights_and_upstream_names) {
  auto a = mock_server::start({"--models", "deepseek-flash"});
  auto b = mock_server::start({"--models", "qwen2.5:7b"});
  auto gw = gateway_server::start(
      yaml(backend("a", a->port) + backend("b", b->port),
           "    backends:\n      - {backend: a, weight: 1}\n      - {backend: b, upstream_model: \"qwen2.5:7b\", weight: 1}\n"));
  for (int i = 0; i < 10; ++i) {
    auto r = chat(gw->port, chat_body("named " + std::to_string(i)));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Each worker alternates on its own, and connections spread over two workers unevenly.
  EXPECT_NEAR(static_cast<double>(a->chat_requests()), 5, 1);
  EXPECT_EQ(a->chat_requests() + b->chat_requests(), 10u);
  EXPECT_EQ(b->last_request()["body"]["model"], "qwen2.5:7b");
}

TEST(backends, the_breaker_opens_fails_fast_half_opens_and_closes) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(yaml(backend("only", mock->port, "    breaker: {failures: 5, cool_down: 1s}\n"),
                                       "    backend: only\n"));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(chat(gw->port, chat_body("fail [mock status=500]")).status, 500);
  EXPECT_EQ(mock->chat_requests(), 5u);
  // Open: answered at once, without reaching the backend.
  auto fast = chat(gw->port, chat_body("while open"));
  EXPECT_EQ(fast.status, 503);
  EXPECT_EQ(json::parse(fast.body)["error"]["code"], "backend_unavailable");
  EXPECT_FALSE(fast.header("retry-after").empty());
  EXPECT_EQ(mock->chat_requests(), 5u);
  EXPECT_EQ(metric_value(gw->metrics(), "deepgate_circuit_breaker_state{backend=\"only\"}"), 2);
  // After the cool-down one probe goes through; its success closes the breaker.
  ASSERT_TRUE(eventually([&] { return chat(gw->port, chat_body("probe")).status == 200; }, std::chrono::seconds(5)));
  EXPECT_EQ(mock->chat_requests(), 6u);
  EXPECT_EQ(metric_value(gw->metrics(), "deepgate_circuit_breaker_state{backend=\"only\"}"), 0);
  EXPECT_EQ(chat(gw->port, chat_body("closed again")).status, 200);
  // A failed probe opens it again (the doubled cool-down is checked in the unit tests).
  for (int i = 0; i < 5; ++i) chat(gw->port, chat_body("fail again [mock status=500]"));
  ASSERT_TRUE(eventually([&] { return chat(gw->port, chat_body("probe fails [mock status=500]")).status == 500; },
                         std::chrono::seconds(5)));
  EXPECT_EQ(chat(gw->port, chat_body("still open")).status, 503);
}

TEST(backends, insufficient_balance_opens_the_breaker_at_once) {
  auto broke = mock_server::start({"--status", "402"});
  auto spare = mock_server::start();
  auto gw = gateway_server::start(
      yaml(backend("deepseek", broke->port, "    breaker: {failures: 5, cool_down: 60s}\n") + backend("spare", spare->port),
           "    backends: [deepseek]\n    fallback: [spare]\n"));
  for (int i = 0; i < 4; ++i) ASSERT_EQ(chat(gw->port, chat_body("balance " + std::to_string(i))).status, 200);
  EXPECT_EQ(broke->chat_requests(), 1u);  // one 402 and the breaker opened
  EXPECT_EQ(spare->chat_requests(), 4u);
}

TEST(backends, nothing_is_retried_once_it_may_have_reached_the_model_or_the_client) {
  auto primary = mock_server::start();
  auto spare = mock_server::start();
  auto gw = gateway_server::start(
      yaml(backend("primary", primary->port, "    response_header_timeout: 300ms\n") + backend("spare", spare->port),
           "    backends: [primary]\n    fallback: [spare]\n"));
  // A reset mid-stream: the client has the first events and one error event; no second attempt.
  auto cut = chat(gw->port, chat_body("cut [mock tokens=8 reset_after=3]", true));
  ASSERT_EQ(cut.status, 200);
  auto items = sse_items(cut.body);
  ASSERT_GE(items.size(), 2u);
  EXPECT_NE(items.back().find("\"error\""), std::string::npos);
  EXPECT_EQ(primary->chat_requests(), 1u);
  // Slow headers: the model may be working on it, so it is not sent again elsewhere.
  auto slow = chat(gw->port, chat_body("slow [mock latency_ms=2000]"));
  EXPECT_EQ(slow.status, 504);
  EXPECT_EQ(primary->chat_requests(), 2u);
  // A 400 is the request's own fault: the fallback would say the same.
  EXPECT_EQ(chat(gw->port, chat_body("bad [mock status=400]")).status, 400);
  EXPECT_EQ(spare->chat_requests(), 0u);
}

TEST(backends, a_tls_deepseek_backend_and_a_plain_self_hosted_one_in_one_config) {
  const auto dir = make_temp_dir("deepgate-backends");
  auto ca = test_ca::create(dir);
  auto [cert, key] = ca.issue("localhost", {"localhost"});
  auto deepseek = mock_server::start({"--tls-cert", cert, "--tls-key", key, "--api-key", "sk-deepseek-canary-4411"}, dir);
  auto vllm = mock_server::start({"--models", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"});
  auto gw = gateway_server::start(
      "server:\n  host: 127.0.0.1\n  port: 0\nbackends:\n"
      "  - name: deepseek\n    url: https://localhost:" + std::to_string(deepseek->port) +
      "\n    api_key: sk-deepseek-canary-4411\n    tls: {ca_file: " + ca.ca_cert + "}\n" +
      backend("vllm", vllm->port) +
      "models:\n  - name: deepseek-chat\n    backend: deepseek\n    upstream_model: deepseek-flash\n"
      "  - name: local-r1\n    backend: vllm\n    upstream_model: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B\n" +
      test_auth_yaml());
  ASSERT_EQ(chat(gw->port, chat_body("to deepseek")).status, 200);
  auto local = chat(gw->port, chat_body("to vllm", true, "local-r1"));
  ASSERT_EQ(local.status, 200) << local.body;
  EXPECT_EQ(sse_items(local.body).back(), "[DONE]");
  EXPECT_EQ(vllm->last_request()["body"]["model"], "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B");
  EXPECT_FALSE(vllm->last_request()["headers"].contains("authorization"));
}

TEST(backends, a_server_that_refuses_stream_options_is_served_with_stream_usage_off) {
  auto strict = mock_server::start({"--reject-fields", "stream_options"});
  for (bool quirk : {false, true}) {
    auto gw = gateway_server::start(
        yaml(backend("strict", strict->port, quirk ? "    stream_usage: false\n" : ""), "    backend: strict\n"));
    auto r = chat(gw->port, chat_body("stream it", true));
    if (!quirk) {
      // The gateway's own include_usage is what the server refuses.
      EXPECT_EQ(r.status, 422) << r.body;
      EXPECT_TRUE(strict->last_request()["body"].contains("stream_options"));
      continue;
    }
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(sse_items(r.body).back(), "[DONE]");
    EXPECT_FALSE(strict->last_request()["body"].contains("stream_options"));
    // Without a usage chunk the stream's tokens are estimated, for the limits and the log.
    std::vector<json> lines;
    ASSERT_TRUE(eventually([&] { return !(lines = gw->access_lines()).empty(); }, std::chrono::seconds(5)));
    EXPECT_EQ(lines.back()["tokens"]["estimated"], true) << lines.back();
    // Non-stream requests never carried it; a client's own include_usage is its choice and is passed on.
    EXPECT_EQ(chat(gw->port, chat_body("plain")).status, 200);
    EXPECT_EQ(chat(gw->port, chat_body("asked", true, "deepseek-chat", R"({"stream_options":{"include_usage":true}})")).status,
              422);
  }
}

TEST(backends, the_first_token_deadline_does_not_count_keep_alives_and_the_stream_deadline_bounds_the_whole) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(
      yaml(backend("ds", mock->port, "    first_token_timeout: 1s\n"), "    backend: ds\n") );
  // Only keep-alives for 3 s: the client gets them (its connection stays alive), then one error event.
  auto stuck = chat(gw->port, chat_body("queued [mock queue_ms=3000 keepalive_ms=100]", true));
  ASSERT_EQ(stuck.status, 200);
  auto items = sse_items(stuck.body);
  ASSERT_GE(items.size(), 2u);
  EXPECT_EQ(items.front(), ": keep-alive");
  EXPECT_NE(items.back().find("upstream_first_token_timeout"), std::string::npos) << items.back();
  EXPECT_NE(items.back(), "[DONE]");
  // Keep-alives for 300 ms, then tokens: within the deadline.
  auto ok = chat(gw->port, chat_body("short queue [mock queue_ms=300 keepalive_ms=100 tokens=3]", true));
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(sse_items(ok.body).back(), "[DONE]");
  // Non-stream: blank lines only, nothing sent to the client yet, so a real status.
  auto plain = chat(gw->port, chat_body("queued json [mock queue_ms=3000 keepalive_ms=100]"));
  EXPECT_EQ(plain.status, 504);
  EXPECT_EQ(json::parse(plain.body)["error"]["code"], "upstream_first_token_timeout");
  EXPECT_EQ(chat(gw->port, chat_body("short queue json [mock queue_ms=300 keepalive_ms=100]")).status, 200);

  // A stream that keeps sending tokens but outlasts stream_timeout.
  auto bounded = gateway_server::start(yaml(backend("ds", mock->port, "    stream_timeout: 1s\n"), "    backend: ds\n"));
  auto slow = chat(bounded->port, chat_body("slow stream [mock tokens=40 tps=10]", true));
  ASSERT_EQ(slow.status, 200);
  auto parts = sse_items(slow.body);
  ASSERT_GE(parts.size(), 3u);  // some tokens came
  EXPECT_NE(parts.back().find("upstream_stream_timeout"), std::string::npos) << parts.back();
}

TEST(backends, the_reasoning_repair_puts_back_the_reasoning_a_client_dropped) {
  auto mock = mock_server::start();  // enforces DeepSeek's rule for thinking models
  const json tools = json::parse(R"([{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}])");
  for (bool repair : {false, true}) {
    auto gw = gateway_server::start(yaml(backend("ds", mock->port), "    backend: ds\n    set: {thinking: {type: enabled}}\n",
                                         repair ? "reasoning_repair: {enabled: true, ttl: 5m}\n" : ""));
    for (bool stream_first : {false, true}) {
      const std::string question = "what is in the box? " + std::to_string(stream_first);
      json first = {{"model", "deepseek-chat"}, {"stream", stream_first}, {"tools", tools},
                    {"messages", {{{"role", "user"}, {"content", question}}}}};
      auto a = chat(gw->port, first.dump());
      ASSERT_EQ(a.status, 200) << a.body;
      json call;
      if (stream_first) {
        for (auto& item : sse_items(a.body)) {
          if (item == "[DONE]" || item.starts_with(":")) continue;
          auto c = json::parse(item);
          if (!c["choices"].empty() && c["choices"][0]["delta"].contains("tool_calls")) {
            auto& tc = c["choices"][0]["delta"]["tool_calls"][0];
            if (tc.contains("id")) call = {{"id", tc["id"]}, {"type", "function"}, {"function", {{"name", tc["function"]["name"]}, {"arguments", ""}}}};
            call["function"]["arguments"] = call["function"]["arguments"].get<std::string>() + tc["function"]["arguments"].get<std::string>();
          }
        }
      } else {
        auto msg = json::parse(a.body)["choices"][0]["message"];
        ASSERT_TRUE(msg.contains("reasoning_content"));
        call = msg["tool_calls"][0];
      }
      ASSERT_TRUE(call.contains("id")) << a.body;
      // The client sends the tool's result back without the reasoning_content it did not know.
      json second = {{"model", "deepseek-chat"}, {"tools", tools},
                     {"messages",
                      {{{"role", "user"}, {"content", question}},
                       {{"role", "assistant"}, {"content", ""}, {"tool_calls", {call}}},
                       {{"role", "tool"}, {"tool_call_id", call["id"]}, {"content", "a cat"}}}}};
      auto b = chat(gw->port, second.dump());
      if (repair) {
        ASSERT_EQ(b.status, 200) << b.body;
        auto seen = mock->last_request()["body"]["messages"][1];
        EXPECT_TRUE(seen["reasoning_content"].is_string() && !seen["reasoning_content"].get<std::string>().empty());
      } else {
        EXPECT_EQ(b.status, 400);
        EXPECT_NE(json::parse(b.body)["error"]["message"].get<std::string>().find("Missing `reasoning_content`"),
                  std::string::npos)
            << b.body;
      }
    }
  }
}

// Issue 16: with user_id: owner the backend sees a stable digest of the key owner as user_id,
// whatever the client sent; by default the client's passes through.
TEST(backend_user_id, owner_digest_replaces_the_clients_user_id) {
  auto mock = mock_server::start();
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "    user_id: owner\n"));
  auto expected = "dg-" + capture("printf %s tests | sha256sum").substr(0, 32);
  ASSERT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("a", false, "deepseek-chat", R"({"user_id":"mine"})")).status, 200);
  EXPECT_EQ(mock->last_request()["body"]["user_id"], expected);
  ASSERT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("b")).status, 200);
  EXPECT_EQ(mock->last_request()["body"]["user_id"], expected);
  auto plain = gateway_server::start(gateway_yaml(mock->port));
  ASSERT_EQ(post_json(plain->port, "/v1/chat/completions", chat_body("c", false, "deepseek-chat", R"({"user_id":"mine"})")).status, 200);
  EXPECT_EQ(mock->last_request()["body"]["user_id"], "mine");
}

// Issue 16: with no models: section, every model the backend lists is served under its own name
// and listed with its metadata; the list is refreshed while running; a failing /models keeps the
// last list (one log line per change, a metric); an unknown name is still 404.
TEST(model_discovery, models_the_backend_lists_are_served_refreshed_and_kept_through_failures) {
  auto mock = mock_server::start({"--models", "alpha-1,beta-2", "--models-meta", R"({"context_length":131072,"max_output_tokens":8192})"});
  const std::string yaml = "server:\n  host: 127.0.0.1\n  port: 0\n  workers: 2\n"
                           "backends:\n  - name: mock\n    url: http://127.0.0.1:" + std::to_string(mock->port) +
                           "\n    models_refresh_interval: 100ms\n    breaker: {failures: 0}\n" + test_auth_yaml() +
                           "admin:\n  port: 0\n";
  auto gw = gateway_server::start(yaml);
  auto ids = [&] {
    std::vector<std::string> out;
    const auto listed = json::parse(http_call(gw->port, "GET", "/v1/models").body);  // kept: the loop reads into it
    for (auto& m : listed["data"]) out.push_back(m["id"]);
    return out;
  };
  EXPECT_EQ(ids(), (std::vector<std::string>{"alpha-1", "beta-2"}));  // served from the first request on
  auto alpha = json::parse(http_call(gw->port, "GET", "/v1/models/alpha-1").body);
  EXPECT_EQ(alpha["context_length"], 131072);
  EXPECT_EQ(alpha["max_output_tokens"], 8192);
  EXPECT_EQ(alpha["owned_by"], "deepseek");
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "alpha-1")).status, 200);
  EXPECT_EQ(mock->last_request()["body"]["model"], "alpha-1");
  const auto before = mock->chat_requests();
  auto unknown = post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "gamma-3"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(mock->chat_requests(), before);  // never forwarded blindly

  // The backend's list changes: the gateway follows.
  ASSERT_EQ(http_call(mock->port, "POST", "/mock/models", "alpha-1,gamma-3").status, 200);
  ASSERT_TRUE(eventually([&] { return ids() == std::vector<std::string>{"alpha-1", "gamma-3"}; })) << ids().size();
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "gamma-3")).status, 200);
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "beta-2")).status, 404);

  // /models fails: the last list stays, counted, logged once.
  ASSERT_EQ(http_call(mock->port, "POST", "/mock/models", "fail").status, 200);
  ASSERT_TRUE(eventually([&] {
    return metric_value(gw->metrics(), "deepgate_model_list_failures_total{backend=\"mock\"}") >= 3;
  }));
  EXPECT_EQ(ids(), (std::vector<std::string>{"alpha-1", "gamma-3"}));
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "gamma-3")).status, 200);
  auto count = [&](const std::string& needle) {
    auto log = gw->process->log();
    std::size_t n = 0;
    for (auto p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("keeping the last list"), 1u);
  EXPECT_EQ(metric_value(gw->metrics(), "deepgate_backend_models{backend=\"mock\"}"), 2);
  ASSERT_EQ(http_call(mock->port, "POST", "/mock/models", "alpha-1,gamma-3").status, 200);
  ASSERT_TRUE(eventually([&] { return count("can be read again") == 1; }));
}

// A configured model gets the metadata its backend lists for its upstream name; models the
// config does not name are not served when it has a models: section.
TEST(model_discovery, a_models_section_still_decides_what_is_served) {
  auto mock = mock_server::start({"--models-meta", R"({"context_length":65536})"});
  auto gw = gateway_server::start(gateway_yaml(mock->port, "", "    models_refresh_interval: 100ms\n"));
  ASSERT_TRUE(eventually([&] {
    return json::parse(http_call(gw->port, "GET", "/v1/models/deepseek-chat").body).value("context_length", 0) == 65536;
  }));
  auto listed = json::parse(http_call(gw->port, "GET", "/v1/models").body)["data"];
  // deepseek-chat, its alias, deepseek-reasoner, deepseek-flash, deepseek-v4-pro: not the mock's
  // other name, deepseek-v4-flash.
  EXPECT_EQ(listed.size(), 5u);
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "deepseek-v4-flash")).status, 404);
}

// Issue 16: a mock that serves only DeepSeek's current names refuses the retired ones with
// DeepSeek's error, and the legacy names still work through the gateway, as the current model
// with the right thinking mode.
TEST(legacy_names, retired_names_fail_at_deepseek_but_work_through_the_aliases) {
  auto mock = mock_server::start({"--models", "deepseek-flash,deepseek-v4-pro"});
  auto direct = post_json(mock->port, "/chat/completions", chat_body("hi", false, "deepseek-chat"));
  EXPECT_EQ(direct.status, 400);
  EXPECT_EQ(json::parse(direct.body)["error"]["message"], "Model Not Exist");
  const std::string yaml = "server:\n  host: 127.0.0.1\n  port: 0\n  workers: 2\n"
                           "backends:\n  - name: deepseek\n    url: http://127.0.0.1:" + std::to_string(mock->port) +
                           "\n    breaker: {failures: 0}\n"
                           "models:\n"
                           "  - {name: deepseek-chat, backend: deepseek, upstream_model: deepseek-flash, set: {thinking: {type: disabled}}}\n"
                           "  - {name: deepseek-reasoner, backend: deepseek, upstream_model: deepseek-flash, set: {thinking: {type: enabled}}}\n" +
                           test_auth_yaml() + "admin:\n  port: 0\n";
  auto gw = gateway_server::start(yaml);
  auto chat = post_json(gw->port, "/v1/chat/completions", chat_body("hi", false, "deepseek-chat", R"({"thinking":{"type":"enabled"}})"));
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(mock->last_request()["body"]["model"], "deepseek-flash");
  EXPECT_EQ(mock->last_request()["body"]["thinking"]["type"], "disabled");  // the operator's value wins
  EXPECT_FALSE(json::parse(chat.body)["choices"][0]["message"].contains("reasoning_content"));
  auto reasoner = post_json(gw->port, "/v1/chat/completions", chat_body("hi", true, "deepseek-reasoner"));
  ASSERT_EQ(reasoner.status, 200);
  EXPECT_EQ(mock->last_request()["body"]["thinking"]["type"], "enabled");
  EXPECT_NE(reasoner.body.find("reasoning_content"), std::string::npos);
}
