// Client keys end to end: the CLI writes the keys file, a running gateway picks it up.
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <csignal>

using namespace deepgate::test;
using json = nlohmann::json;

namespace {
json keys_cli(const std::string& args) {
  auto out = capture(std::string(gateway_bin()) + " keys " + args + " --json 2>&1");
  auto j = json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j;
}

headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

int chat_status(std::uint16_t port, const std::string& key, const std::string& model = "deepseek-chat") {
  return post_json(port, "/v1/chat/completions", chat_body("hi", false, model), bearer(key)).status;
}
}  // namespace

class auth_keys : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_ = mock_server::start();
    dir_ = make_temp_dir("deepgate-auth");
    keys_file_ = dir_ + "/keys.json";
    write_file(dir_ + "/deepgate.yaml", config());
  }
  std::string config(const std::string& auth_extra = {}) const {
    return gateway_yaml(mock_->port, "", "", "auth:\n  keys_file: " + keys_file_ + "\n" + auth_extra);
  }
  std::unique_ptr<gateway_server> start_gateway() { return gateway_server::start(config()); }
  std::string create(const std::string& extra = {}) {
    return keys_cli("create --keys-file " + keys_file_ + " --owner team-a " + extra)["key"].get<std::string>();
  }

  std::unique_ptr<mock_server> mock_;
  std::string dir_, keys_file_;
};

TEST_F(auth_keys, missing_unknown_and_malformed_keys_are_401) {
  auto gw = start_gateway();
  for (auto& h : std::vector<headers>{{{"Authorization", "Bearer "}}, {{"Authorization", "Bearer dg-nope-0000000000000000"}},
                                      {{"Authorization", "Basic dXNlcjpwdw=="}}, {{"x-api-key", "dg-nope"}}}) {
    auto r = post_json(gw->port, "/v1/chat/completions", chat_body("x"), h);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "invalid_api_key");
  }
  EXPECT_EQ(http_call(gw->port, "GET", "/v1/models", {}, {{"x-api-key", "dg-nope"}}).status, 401);
  EXPECT_EQ(http_call(gw->port, "GET", "/healthz", {}, {{"x-api-key", "dg-nope"}}).status, 200);  // probes stay open
  EXPECT_EQ(mock_->chat_requests(), 0u);
}

TEST_F(auth_keys, a_created_key_works_at_once_by_any_header) {
  auto gw = start_gateway();
  auto key = create();
  ASSERT_TRUE(key.starts_with("dg-"));
  ASSERT_TRUE(eventually([&] { return chat_status(gw->port, key) == 200; }, std::chrono::seconds(5)));
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("x"), {{"api-key", key}}).status, 200);
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("x"), {{"x-api-key", key}}).status, 200);
}

TEST_F(auth_keys, revoked_and_expired_keys_are_refused) {
  auto key = create();
  auto gw = start_gateway();
  EXPECT_EQ(chat_status(gw->port, key), 200);
  auto id = keys_cli("list --keys-file " + keys_file_)[0]["id"].get<std::string>();
  capture(std::string(gateway_bin()) + " keys revoke " + id + " --keys-file " + keys_file_);
  EXPECT_TRUE(eventually([&] { return chat_status(gw->port, key) == 401; }, std::chrono::seconds(5)));
  auto short_lived = create("--expires-in 4s");  // long enough for the once-a-second file watch to load it
  ASSERT_TRUE(eventually([&] { return chat_status(gw->port, short_lived) == 200; }, std::chrono::seconds(5)));
  EXPECT_TRUE(eventually([&] { return chat_status(gw->port, short_lived) == 401; }, std::chrono::seconds(10)));
}

TEST_F(auth_keys, rotation_keeps_the_old_key_for_its_grace_period) {
  auto old_key = create();
  auto id = keys_cli("list --keys-file " + keys_file_)[0]["id"].get<std::string>();
  auto gw = start_gateway();
  auto rotated = keys_cli("rotate " + id + " --grace 1h --keys-file " + keys_file_);
  auto new_key = rotated["key"].get<std::string>();
  EXPECT_EQ(rotated["owner"], "team-a");
  ASSERT_TRUE(eventually([&] { return chat_status(gw->port, new_key) == 200; }, std::chrono::seconds(5)));
  EXPECT_EQ(chat_status(gw->port, old_key), 200);  // still inside its grace
  auto new_id = rotated["id"].get<std::string>();
  keys_cli("rotate " + new_id + " --grace 0s --keys-file " + keys_file_);
  EXPECT_TRUE(eventually([&] { return chat_status(gw->port, new_key) == 401; }, std::chrono::seconds(5)));
}

TEST_F(auth_keys, models_a_key_may_not_use_look_like_missing_ones) {
  auto key = create("--models deepseek-chat");
  auto gw = start_gateway();
  EXPECT_EQ(chat_status(gw->port, key, "deepseek-chat"), 200);
  auto denied = post_json(gw->port, "/v1/chat/completions", chat_body("x", false, "deepseek-reasoner"), bearer(key));
  auto missing = post_json(gw->port, "/v1/chat/completions", chat_body("x", false, "no-such-model"), bearer(key));
  EXPECT_EQ(denied.status, 404);
  EXPECT_EQ(json::parse(denied.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(missing.status, 404);
  auto models = json::parse(http_call(gw->port, "GET", "/v1/models", {}, bearer(key)).body);
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "deepseek-chat");
  EXPECT_EQ(http_call(gw->port, "GET", "/v1/models/deepseek-reasoner", {}, bearer(key)).status, 404);
}

TEST_F(auth_keys, keys_survive_a_restart_and_reload_on_sighup) {
  auto key = create();
  {
    auto gw = start_gateway();
    EXPECT_EQ(chat_status(gw->port, key), 200);
  }
  auto gw = start_gateway();
  EXPECT_EQ(chat_status(gw->port, key), 200);
  // SIGHUP re-reads the file even when its timestamp looks unchanged.
  gw->process->signal(SIGHUP);
  EXPECT_TRUE(gw->process->wait_for_log("config reloaded (SIGHUP)", std::chrono::seconds(5)));
  EXPECT_EQ(chat_status(gw->port, key), 200);
}

TEST_F(auth_keys, a_broken_keys_file_keeps_the_old_keys) {
  auto key = create();
  auto gw = start_gateway();
  write_file(keys_file_, "{ not json");
  gw->process->signal(SIGHUP);
  EXPECT_TRUE(gw->process->wait_for_log("config reload (SIGHUP) failed", std::chrono::seconds(5)));
  EXPECT_EQ(chat_status(gw->port, key), 200);
}

TEST_F(auth_keys, a_broken_keys_file_at_startup_fails_fast) {
  write_file(keys_file_, "{ not json");
  child_process gw({gateway_bin(), "--config", dir_ + "/deepgate.yaml"}, {}, dir_ + "/gw.log");
  EXPECT_EQ(gw.wait_exit(std::chrono::seconds(10)), 1);
  EXPECT_NE(gw.log().find("cannot load keys"), std::string::npos);
}

TEST_F(auth_keys, auth_none_is_anonymous_and_warns) {
  write_file(dir_ + "/none.yaml", config("  mode: none\n"));
  child_process gw({gateway_bin(), "--config", dir_ + "/none.yaml"}, {}, dir_ + "/none.log");
  auto line = gw.wait_for_log("listening on", std::chrono::seconds(10));
  ASSERT_TRUE(line);
  EXPECT_EQ(post_json(port_from_line(*line), "/v1/chat/completions", chat_body("x"), {{"x-api-key", ""}}).status, 200);
  EXPECT_NE(gw.log().find("auth.mode is none"), std::string::npos);
}

TEST_F(auth_keys, the_key_value_appears_nowhere_but_the_client) {
  auto key = create();
  auto gw = start_gateway();
  EXPECT_EQ(chat_status(gw->port, key), 200);
  post_json(gw->port, "/v1/chat/completions", chat_body("x", false, "nope"), bearer(key));
  post_json(gw->port, "/v1/chat/completions", "{bad json", bearer(key));
  post_json(gw->port, "/v1/chat/completions", chat_body("[mock status=401]"), bearer(key));
  auto wrong = key;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  auto refused = post_json(gw->port, "/v1/chat/completions", chat_body("x"), bearer(wrong));
  EXPECT_EQ(refused.body.find(wrong), std::string::npos);
  EXPECT_EQ(gw->process->log().find(key), std::string::npos);
  EXPECT_EQ(gw->process->log().find(wrong), std::string::npos);
  EXPECT_EQ(capture("cat " + keys_file_).find(key), std::string::npos);
  EXPECT_EQ(mock_->last_request().dump().find(key), std::string::npos);
}

TEST(auth_config, config_keys_are_hashed_at_load_and_can_come_from_files) {
  auto mock = mock_server::start();
  auto dir = make_temp_dir("deepgate-auth");
  write_file(dir + "/team-b.key", "dg-from-a-file-000000000000\n");
  auto y = gateway_yaml(mock->port, "", "",
                        "auth:\n  keys:\n    - {owner: team-b, key_file: " + dir + "/team-b.key, models: ['deepseek-*']}\n");
  auto gw = gateway_server::start(y);
  EXPECT_EQ(post_json(gw->port, "/v1/chat/completions", chat_body("x"), bearer("dg-from-a-file-000000000000")).status, 200);
  EXPECT_EQ(gw->process->log().find("dg-from-a-file"), std::string::npos);
}
