// The sans-io parts of failover: the circuit breaker's states, weighted round-robin, backoff,
// which failures may be retried, and the retry budget; the catalog of models backends list.
#include "deepgate/api/model_catalog.hpp"
#include "deepgate/upstream/breaker.hpp"
#include "deepgate/upstream/routing.hpp"

#include <gtest/gtest.h>

#include <array>

using namespace deepgate::upstream;
using namespace std::chrono_literals;

TEST(breaker, opens_after_consecutive_failures_half_opens_once_and_closes_on_success) {
  breaker b({3, 10s, 40s});
  const auto t0 = breaker::clock::time_point{} + 1h;
  b.failure(t0);
  b.failure(t0);
  b.success();  // not consecutive any more
  b.failure(t0);
  b.failure(t0);
  EXPECT_TRUE(b.allow(t0));
  b.failure(t0);
  EXPECT_EQ(b.current(t0), breaker::state::open);
  EXPECT_FALSE(b.allow(t0 + 9s));
  EXPECT_EQ(b.available_at(t0), t0 + 10s);
  // The cool-down is over: one probe, not two.
  EXPECT_TRUE(b.allow(t0 + 10s));
  EXPECT_FALSE(b.allow(t0 + 10s));
  b.success();
  EXPECT_EQ(b.current(t0 + 10s), breaker::state::closed);
  EXPECT_TRUE(b.allow(t0 + 10s));
}

TEST(breaker, a_failed_probe_reopens_for_longer_up_to_the_maximum) {
  breaker b({1, 10s, 25s});
  auto t = breaker::clock::time_point{} + 1h;
  b.failure(t);
  EXPECT_EQ(b.available_at(t), t + 10s);
  for (auto expected : {20s, 25s, 25s}) {
    t = b.available_at(t);
    ASSERT_TRUE(b.allow(t));  // the probe
    b.failure(t);
    EXPECT_EQ(b.available_at(t), t + expected);
  }
  // A probe that ends without an outcome lets the next one go.
  t = b.available_at(t);
  ASSERT_TRUE(b.allow(t));
  EXPECT_FALSE(b.allow(t));
  b.release_probe();
  EXPECT_TRUE(b.allow(t));
}

TEST(breaker, trips_at_once_honours_retry_after_and_can_be_off) {
  const auto t = breaker::clock::time_point{} + 1h;
  breaker b({5, 10s, 60s});
  b.trip(t);
  EXPECT_FALSE(b.allow(t));
  breaker slow({1, 1s, 60s});
  slow.failure(t, 30s);
  EXPECT_EQ(slow.available_at(t), t + 30s);
  breaker off({0, 1s, 1s});
  for (int i = 0; i < 100; ++i) off.failure(t);
  off.trip(t);
  EXPECT_TRUE(off.allow(t));
}

TEST(weighted_rr, exact_and_interleaved) {
  weighted_rr rr;
  const std::array<std::uint32_t, 3> w{5, 1, 1};
  const std::array<char, 3> all{1, 1, 1};
  std::array<int, 3> count{};
  std::string order;
  for (int i = 0; i < 7; ++i) {
    auto p = rr.pick(w, all);
    ++count[static_cast<std::size_t>(p)];
    order += static_cast<char>('a' + p);
  }
  EXPECT_EQ(count, (std::array<int, 3>{5, 1, 1}));
  EXPECT_EQ(order, "aabacaa");  // nginx's smooth sequence: not aaaaabc
  const std::array<char, 3> only_c{0, 0, 1};
  EXPECT_EQ(rr.pick(w, only_c), 2);
  const std::array<char, 3> none{0, 0, 0};
  EXPECT_EQ(rr.pick(w, none), -1);
}

TEST(retry_policy, what_may_be_retried_and_how_long_to_wait) {
  for (auto f : {failure::connect, failure::tls, failure::reset_before_headers, failure::pool_exhausted})
    EXPECT_TRUE(retryable(f)) << to_string(f);
  for (auto f : {failure::header_timeout, failure::reset_mid_body, failure::read_timeout, failure::bad_response,
                 failure::abandoned})
    EXPECT_FALSE(retryable(f)) << to_string(f);
  for (unsigned s : {429u, 500u, 502u, 503u, 504u}) EXPECT_TRUE(retryable_status(s));
  for (unsigned s : {400u, 401u, 402u, 404u, 422u}) EXPECT_FALSE(retryable_status(s));
  EXPECT_EQ(backoff(1, 50ms, 1s, 0.999999), 50ms);
  EXPECT_EQ(backoff(1, 50ms, 1s, 0), 25ms);
  EXPECT_EQ(backoff(3, 50ms, 1s, 0.999999), 200ms);
  EXPECT_EQ(backoff(30, 50ms, 1s, 0.999999), 1s);
}

// The failover decision, case by case: what the request does next and what the breaker hears.
TEST(retry_policy, each_attempt_outcome_has_one_verdict) {
  using next = attempt_verdict::next;
  using health = attempt_verdict::health;
  struct row {
    failure f;
    unsigned status;
    attempt_verdict want;
  };
  for (const auto& r : std::vector<row>{
           {failure::none, 200, {next::relay, health::success}},
           {failure::connect, 0, {next::try_next, health::failure}},
           {failure::tls, 0, {next::try_next, health::failure}},
           {failure::reset_before_headers, 0, {next::try_next, health::failure}},
           {failure::pool_exhausted, 0, {next::try_next, health::failure}},
           {failure::header_timeout, 0, {next::stop, health::failure}},  // the model may have run
           {failure::bad_response, 0, {next::stop, health::failure}},
           {failure::none, 401, {next::try_next, health::trip}},  // the gateway's key
           {failure::none, 402, {next::try_next, health::trip}},  // the account's balance
           {failure::none, 403, {next::try_next, health::trip}},
           {failure::none, 429, {next::try_next, health::failure}},
           {failure::none, 500, {next::try_next, health::failure}},
           {failure::none, 502, {next::try_next, health::failure}},
           {failure::none, 503, {next::try_next, health::failure}},
           {failure::none, 504, {next::try_next, health::failure}},
           {failure::none, 400, {next::stop, health::success}},  // the request's own fault
           {failure::none, 404, {next::stop, health::success}},
           {failure::none, 413, {next::stop, health::success}},
           {failure::none, 422, {next::stop, health::success}},
       })
    EXPECT_EQ(judge_attempt(r.f, r.status), r.want) << to_string(r.f) << " " << r.status;
}

TEST(retry_policy, the_budget_is_a_share_of_requests_in_flight_with_a_minimum) {
  retry_budget b;
  std::vector<std::unique_ptr<retry_budget::request>> flying;
  for (int i = 0; i < 20; ++i) flying.push_back(std::make_unique<retry_budget::request>(b));
  // 20 % of 20 is 4, more than the minimum of 3.
  std::vector<retry_budget::retry> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(b.try_retry(0.2, 3));
    EXPECT_TRUE(held.back().granted());
  }
  EXPECT_FALSE(b.try_retry(0.2, 3).granted());
  held.pop_back();  // one retry ended
  EXPECT_TRUE(b.try_retry(0.2, 3).granted());
  flying.clear();
  held.clear();
  for (int i = 0; i < 3; ++i) held.push_back(b.try_retry(0.2, 3));  // the minimum with nothing in flight
  EXPECT_TRUE(held.back().granted());
  EXPECT_FALSE(b.try_retry(0.2, 3).granted());
}

// Issue 16: models learned from the backends' GET /models.
TEST(model_catalog, lists_parse_in_openai_and_ollama_shapes_with_their_metadata) {
  auto l = deepgate::api::parse_model_list(
      R"({"object":"list","data":[{"id":"deepseek-flash","object":"model","owned_by":"deepseek"},)"
      R"({"id":"qwen","object":"model","created":1700000000,"owned_by":"vllm","max_model_len":32768},{"id":"qwen"},{"object":"model"}]})");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 2u);  // the duplicate and the nameless one are dropped
  EXPECT_EQ((*l)[0].id, "deepseek-flash");
  EXPECT_EQ((*l)[0].metadata, R"({"owned_by":"deepseek"})");
  EXPECT_EQ((*l)[1].created, 1700000000);
  EXPECT_EQ((*l)[1].metadata, R"({"created":1700000000,"max_model_len":32768,"owned_by":"vllm"})");
  auto o = deepgate::api::parse_model_list(R"({"models":[{"name":"llama3:8b","details":{"family":"llama"}}]})");
  ASSERT_TRUE(o);
  EXPECT_EQ((*o)[0].id, "llama3:8b");
  EXPECT_FALSE(deepgate::api::parse_model_list("<html>"));
  EXPECT_FALSE(deepgate::api::parse_model_list(R"({"object":"list"})"));
}

TEST(model_catalog, listings_add_metadata_and_with_serve_discovered_the_models) {
  auto loaded = deepgate::config::load_string(R"(
backends:
  - {name: a, url: "http://127.0.0.1:9000"}
  - {name: b, url: "http://127.0.0.1:9001"}
models:
  - {name: chat, backend: a, upstream_model: m1}
serve_discovered: true
)", [](const std::string&) -> std::optional<std::string> { return std::nullopt; }, "t");
  ASSERT_TRUE(loaded.config) << loaded.error;
  deepgate::api::model_listings listings;
  listings["a"] = {{"m1", "x", 0, R"({"context_length":1000})"}, {"m2", "x", 0, "{}"}, {"chat", "x", 0, "{}"}};
  listings["b"] = {{"m2", "y", 0, "{}"}, {"m3", "y", 0, R"({"owned_by":"y"})"}};
  auto c = deepgate::api::with_listings(loaded.config, listings);
  // chat (configured; the listed "chat" does not replace it), then under their own names m1 (also
  // chat's upstream model), m2 (from a, which lists it first) and m3.
  ASSERT_EQ(c->models.size(), 4u);
  EXPECT_TRUE(c->find_model("m1")->discovered);
  EXPECT_EQ(c->models[0].metadata, R"({"context_length":1000})");
  EXPECT_FALSE(c->models[0].discovered);
  EXPECT_EQ(c->find_model("m2")->backend, "a");
  EXPECT_TRUE(c->find_model("m2")->discovered);
  EXPECT_EQ(c->find_model("m3")->backend_index, 1u);
  EXPECT_EQ(c->find_model("m3")->targets.at(0).upstream_model, "m3");
  EXPECT_EQ(loaded.config->models.size(), 1u);  // the file's config is left as it was
  auto off = std::make_shared<deepgate::config::gateway_config>(*loaded.config);
  off->serve_discovered = false;
  EXPECT_EQ(deepgate::api::with_listings(off, listings)->models.size(), 1u);
}
