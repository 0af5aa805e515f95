// core::json_doc, the gateway's request parser: as strict as nlohmann (the chat_request fuzzer
// compares the two on every input; these are the cases worth naming), duplicate keys refused,
// strings read in place or decoded, spans kept.
#include "deepgate/core/json_doc.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using deepgate::core::json_doc;
using deepgate::core::json_type;

namespace {
json_doc::status parse(const std::string& text, std::size_t depth = 64) {
  json_doc doc;
  return doc.parse(text, depth);
}
bool valid(const std::string& text) { return parse(text) == json_doc::status::ok; }
}  // namespace

TEST(json_doc, accepts_what_nlohmann_accepts_and_refuses_what_it_refuses) {
  for (const std::string& text : std::vector<std::string>{"{}", "[]", " \t\r\n{ } ", "null", "true", "0", "-0", "1.5e-3", "1E+2", "\"\"", "\"\\u0000\"",
        "\xEF\xBB\xBF{\"a\":1}", "[1,[2,[3]],{\"a\":{}}]", "\"\\ud83d\\ude00 \xF0\x9F\x98\x80 \xC3\xA9 \xE2\x82\xAC\"",
        "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", "18446744073709551616", "-9223372036854775809", "1e-400", "\"\x7F\""}) {
    EXPECT_TRUE(valid(text)) << text;
    EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
  }
  for (const std::string& text : std::vector<std::string>{"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\"}", "{a:1}", "01", "-", "1.", ".5", "+1", "1e", "1e400",
        "-1e400", "tru", "truex", "nul", "[1 2]", "{\"a\":1 \"b\":2}", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
        "\"\\ud800\\u0041\"", "\"\\udc00\"", "\"\x01\"", "\"\n\"", "\"abc", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"",
        "\"\xF4\x90\x80\x80\"", "\"\xC3\"", "\"\x80\"", "\xEF\xBB{}", "{} {}", "[1]x", std::string("\"a\0b\"", 5),
        "\xFF"}) {
    EXPECT_EQ(parse(text), json_doc::status::invalid) << text;
    EXPECT_TRUE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
  }
}

TEST(json_doc, a_nul_byte_is_refused_where_nlohmann_would_stop_reading) {
  // nlohmann takes a NUL for the end of input, so it accepts "{}\0" followed by anything; the
  // client's bytes are forwarded whole, and the backend would read what follows.
  const std::string smuggled("{\"model\":\"m\"}\0,\"model\":\"other\"}", 31);
  EXPECT_FALSE(nlohmann::json::parse(smuggled, nullptr, false).is_discarded());
  EXPECT_EQ(parse(smuggled), json_doc::status::invalid);
}

TEST(json_doc, numbers_are_typed_as_nlohmann_types_them) {
  json_doc doc;
  ASSERT_EQ(doc.parse(R"([-3, 3, 3.0, 1e2, 18446744073709551615, 18446744073709551616, -0])"), json_doc::status::ok);
  const auto a = doc.root();
  ASSERT_EQ(a.size(), 7u);
  EXPECT_EQ(a[std::size_t{0}].type(), json_type::number_integer);
  EXPECT_EQ(a[std::size_t{0}].get<std::int64_t>(), -3);
  EXPECT_EQ(a[1].type(), json_type::number_unsigned);
  EXPECT_TRUE(a[1].is_number_integer());
  EXPECT_EQ(a[2].type(), json_type::number_float);
  EXPECT_EQ(a[3].get<double>(), 100.0);
  EXPECT_EQ(a[4].get<std::uint64_t>(), 18446744073709551615ULL);
  EXPECT_EQ(a[5].type(), json_type::number_float);  // past 64 bits
  EXPECT_EQ(a[6].type(), json_type::number_integer);
  EXPECT_EQ(a[3].raw(), "1e2");  // the span as written
}

TEST(json_doc, strings_are_read_in_place_or_decoded) {
  json_doc doc;
  const std::string text = R"({"plain":"caf)" "\xC3\xA9" R"(","esc":"a\"b\\c\n\u00e9\ud83d\ude00","\u006dodel":"m"})";
  ASSERT_EQ(doc.parse(text), json_doc::status::ok);
  const auto o = doc.root();
  EXPECT_EQ(o["plain"].str(), "caf\xC3\xA9");
  EXPECT_EQ(o["plain"].str().data(), text.data() + 10);  // no copy
  EXPECT_EQ(o["esc"].str(), "a\"b\\c\n\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(o["model"].str(), "m");  // an escaped key is the key it spells
  EXPECT_EQ(o["esc"].raw(), R"("a\"b\\c\n\u00e9\ud83d\ude00")");
  EXPECT_TRUE(o["absent"].is_null());
  EXPECT_EQ(o.find("absent"), o.end());
}

TEST(json_doc, a_key_written_twice_is_found_at_any_depth_and_the_first_one_named) {
  json_doc doc;
  EXPECT_EQ(doc.parse(R"({"a":1,"b":{"c":1,"c":2},"a":2})"), json_doc::status::duplicate_key);
  EXPECT_EQ(doc.duplicate(), "c");
  EXPECT_EQ(doc.parse(R"({"model":"x","\u006dodel":"y"})"), json_doc::status::duplicate_key);
  EXPECT_EQ(doc.duplicate(), "model");
  // Past 16 keys an object's keys go into a set: the same answer.
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  EXPECT_EQ(doc.parse(many + "\"k7\":0}"), json_doc::status::duplicate_key);
  EXPECT_EQ(doc.duplicate(), "k7");
  EXPECT_EQ(doc.parse(many + "\"k40\":0}"), json_doc::status::ok);
  // Sibling objects may share keys; invalid JSON after a repeat is invalid JSON.
  EXPECT_EQ(doc.parse(R"([{"a":1},{"a":2}])"), json_doc::status::ok);
  EXPECT_EQ(doc.parse(R"({"a":1,"a":2,)"), json_doc::status::invalid);
}

TEST(json_doc, nesting_past_the_bound_is_invalid) {
  std::string deep = "1";
  for (int i = 0; i < 10; ++i) deep = "[" + deep + "]";
  EXPECT_EQ(parse(deep, 10), json_doc::status::ok);
  EXPECT_EQ(parse("[" + deep + "]", 10), json_doc::status::invalid);
  EXPECT_EQ(parse("{\"a\":" + deep + "}", 10), json_doc::status::invalid);
}

TEST(json_doc, iteration_reads_an_objects_values_and_an_arrays_elements_in_order) {
  json_doc doc;
  ASSERT_EQ(doc.parse(R"({"z":[1,{"k":true},"s"],"a":null})"), json_doc::status::ok);
  const auto o = doc.root();
  std::string keys;
  for (auto it = o.begin(); it != o.end(); ++it) keys += std::string(it.key()) + ";";
  EXPECT_EQ(keys, "z;a;");
  const auto z = o["z"];
  EXPECT_EQ(z.size(), 3u);
  std::size_t n = 0;
  for (const auto& x : z) n += x.is_structured() ? 10 : 1;
  EXPECT_EQ(n, 12u);
  EXPECT_TRUE(z[1]["k"] == true);
  EXPECT_TRUE(z.back() == "s");
  EXPECT_EQ(z[1].raw(), R"({"k":true})");
  EXPECT_TRUE(z[7].is_null());
  EXPECT_EQ(o.value("a", "fallback"), "fallback");
}
