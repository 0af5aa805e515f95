#include "deepgate/auth/authenticator.hpp"
#include "deepgate/auth/key.hpp"
#include "deepgate/auth/key_table.hpp"
#include "deepgate/auth/keys_file.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace deepgate::auth;
namespace core = deepgate::core;
using deepgate::http::header_list;

namespace {
client_key make_key(const std::string& value, std::vector<std::string> models = {}) {
  client_key k;
  k.id = "key_" + value.substr(value.size() - 4);
  k.owner = "owner-" + value.substr(value.size() - 4);
  k.sha256 = core::sha256(value);
  k.created = 1000;
  k.models = std::move(models);
  return k;
}
}  // namespace

TEST(keys, generated_values_look_right_and_differ) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto v = generate_key_value();
    EXPECT_TRUE(v.starts_with("dg-"));
    EXPECT_EQ(v.size(), 46u);
    EXPECT_EQ(v.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 3), std::string::npos);
    EXPECT_TRUE(seen.insert(v).second);
  }
  EXPECT_TRUE(generate_key_id().starts_with("key_"));
}

TEST(keys, digests_round_trip_and_compare) {
  auto d = core::sha256("abc");
  EXPECT_EQ(core::to_hex(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2 test vector
  EXPECT_EQ(core::from_hex(core::to_hex(d)), d);
  EXPECT_FALSE(core::from_hex("zz"));
  EXPECT_TRUE(core::constant_time_equal(d, core::sha256("abc")));
  EXPECT_FALSE(core::constant_time_equal(d, core::sha256("abd")));
}

TEST(keys, model_wildcards) {
  EXPECT_TRUE(glob_match("deepseek-*", "deepseek-chat"));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("*-chat", "deepseek-chat"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(glob_match("deepseek-*", "gpt-4o"));
  EXPECT_FALSE(glob_match("deepseek-chat", "deepseek-chat2"));
  EXPECT_FALSE(glob_match(std::string(30, '*') + "x", std::string(5000, 'a')));  // no blow-up
  auto k = make_key("dg-aaaaaaaaaaaaaaaa0001", {"deepseek-chat", "gpt-*"});
  EXPECT_TRUE(model_allowed(k, "deepseek-chat"));
  EXPECT_TRUE(model_allowed(k, "gpt-4o-mini"));
  EXPECT_FALSE(model_allowed(k, "deepseek-reasoner"));
  EXPECT_TRUE(model_allowed(make_key("dg-aaaaaaaaaaaaaaaa0002"), "whatever"));  // no list: everything
}

TEST(keys, expiry_and_disabled) {
  auto k = make_key("dg-aaaaaaaaaaaaaaaa0003");
  EXPECT_EQ(state_at(k, 5000), key_state::valid);
  k.expires = 2000;
  EXPECT_EQ(state_at(k, 1999), key_state::valid);  // rotation grace: valid until then
  EXPECT_EQ(state_at(k, 2000), key_state::expired);
  k.enabled = false;
  EXPECT_EQ(state_at(k, 1000), key_state::disabled);
}

TEST(keys, table_finds_by_value) {
  key_table t({make_key("dg-aaaaaaaaaaaaaaaa0004"), make_key("dg-aaaaaaaaaaaaaaaa0005")});
  auto found = t.find("dg-aaaaaaaaaaaaaaaa0005", 1500);
  ASSERT_TRUE(found.key);
  EXPECT_EQ(found.key->id, "key_0005");
  EXPECT_EQ(found.state, key_state::valid);
  EXPECT_FALSE(t.find("dg-aaaaaaaaaaaaaaaa0006", 1500).key);
  EXPECT_TRUE(t.by_id("key_0004"));
}

TEST(keys, file_round_trip_and_errors) {
  auto k = make_key("dg-aaaaaaaaaaaaaaaa0007", {"deepseek-*"});
  k.expires = 99;
  k.metadata["team"] = "search";
  auto parsed = parse_keys(serialize_keys({k}));
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  ASSERT_EQ(parsed.keys.size(), 1u);
  EXPECT_EQ(parsed.keys[0].sha256, k.sha256);
  EXPECT_EQ(parsed.keys[0].models, k.models);
  EXPECT_EQ(parsed.keys[0].expires, 99);
  EXPECT_EQ(parsed.keys[0].metadata.at("team"), "search");
  EXPECT_EQ(serialize_keys({k}).find("dg-aaaaaaaaaaaaaaaa0007"), std::string::npos);  // digests only
  EXPECT_FALSE(parse_keys("[]").error.empty());
  EXPECT_FALSE(parse_keys(R"({"keys":[{"id":"x","owner":"y","sha256":"short"}]})").error.empty());

  auto path = ::testing::TempDir() + "deepgate-keys-unit.json";
  ASSERT_EQ(write_keys_file(path, {k}), "");
  auto back = read_keys_file(path);
  ASSERT_TRUE(back.error.empty());
  EXPECT_EQ(back.keys.size(), 1u);
  EXPECT_TRUE(read_keys_file(path + ".missing").error.empty());  // no file: an empty store
}

TEST(authenticator, header_forms) {
  EXPECT_EQ(presented_key({{"authorization", "Bearer  dg-x "}}), "dg-x");
  EXPECT_EQ(presented_key({{"authorization", "bearer dg-y"}}), "dg-y");
  EXPECT_EQ(presented_key({{"api-key", "dg-z"}}), "dg-z");
  EXPECT_EQ(presented_key({{"x-api-key", "dg-w"}}), "dg-w");
  EXPECT_EQ(presented_key({{"authorization", "Basic abc"}}), "");
  EXPECT_EQ(presented_key({}), "");
}

TEST(authenticator, all_refusals_look_the_same) {
  auto expired = make_key("dg-aaaaaaaaaaaaaaaa0008");
  expired.expires = 10;
  auto revoked = make_key("dg-aaaaaaaaaaaaaaaa0009");
  revoked.enabled = false;
  authenticator a(true, std::make_shared<const key_table>(
                            std::vector<client_key>{make_key("dg-aaaaaaaaaaaaaaaa0010"), expired, revoked}));
  auto ok = a.authenticate({{"authorization", "Bearer dg-aaaaaaaaaaaaaaaa0010"}}, 100);
  ASSERT_FALSE(ok.error);
  EXPECT_EQ(ok.who.owner, "owner-0010");
  for (auto presented : {"dg-aaaaaaaaaaaaaaaa0008", "dg-aaaaaaaaaaaaaaaa0009", "dg-unknown-aaaaaaaaaaa", ""}) {
    auto r = a.authenticate({{"authorization", std::string("Bearer ") + presented}}, 100);
    ASSERT_TRUE(r.error) << presented;
    EXPECT_EQ(r.error->status, 401u);
    EXPECT_EQ(r.error->code, "invalid_api_key");
    if (*presented) {
      EXPECT_EQ(r.error->message.find(presented), std::string::npos);
    }
  }
  authenticator none(false, nullptr);
  EXPECT_EQ(none.authenticate({}, 0).who.owner, "anonymous");
}

#include "deepgate/auth/key_admin.hpp"

TEST(key_admin, rotation_grants_the_old_key_its_grace_and_no_more) {
  auto made = create_key(create_params{"team", {"deepseek-*"}, std::nullopt, {{"env", "prod"}}}, 1000);
  EXPECT_EQ(made.record.sha256, core::sha256(made.value));
  auto old = made.record;
  auto fresh = rotate_key(old, std::chrono::seconds(3600), 5000);
  EXPECT_EQ(old.expires, 5000 + 3600);
  EXPECT_EQ(state_at(old, 5000 + 3599), key_state::valid);
  EXPECT_EQ(state_at(old, 5000 + 3600), key_state::expired);
  EXPECT_EQ(fresh.record.owner, "team");
  EXPECT_EQ(fresh.record.models, old.models);
  EXPECT_EQ(fresh.record.metadata.at("rotated_from"), old.id);
  EXPECT_NE(fresh.record.id, old.id);
  EXPECT_NE(fresh.value, made.value);
  EXPECT_FALSE(fresh.record.expires);
  // A key that already expires sooner keeps its earlier expiry.
  auto soon = made.record;
  soon.expires = 5100;
  rotate_key(soon, std::chrono::seconds(3600), 5000);
  EXPECT_EQ(soon.expires, 5100);
  revoke_key(soon);
  EXPECT_EQ(state_at(soon, 5000), key_state::disabled);
  auto parsed = parse_record(record_json(fresh.record));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->sha256, fresh.record.sha256);
  EXPECT_EQ(record_json(fresh.record).find(fresh.value), std::string::npos);
}
