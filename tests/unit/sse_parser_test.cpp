#include "deepgate/http/sse_parser.hpp"

#include <gtest/gtest.h>

#include <random>

using deepgate::http::append_sse_event;
using deepgate::http::sse_event;
using deepgate::http::sse_parser;

namespace {
std::vector<sse_event> parse_in_chunks(std::string_view wire, const std::vector<std::size_t>& cuts) {
  sse_parser p;
  std::vector<sse_event> out;
  std::size_t pos = 0;
  for (auto c : cuts) {
    EXPECT_EQ(p.feed(wire.substr(pos, c - pos), out), sse_parser::status::ok);
    pos = c;
  }
  EXPECT_EQ(p.feed(wire.substr(pos), out), sse_parser::status::ok);
  return out;
}

std::string flatten(const std::vector<sse_event>& events) {
  std::string s;
  for (auto& e : events) s += (e.type == sse_event::kind::comment ? "C[" : "D[") + e.event + "|" + e.data + "]";
  return s;
}

const std::string deepseek_wire =
    ": keep-alive\r\n\r\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\\n\"}}]}\r\n\r\n"
    "event: ping\ndata: line one\ndata: line two\n\n"
    ": keep-alive\n\n"
    "data: [DONE]\n\n";
}  // namespace

TEST(sse_parser, parses_events_comments_and_done) {
  auto events = parse_in_chunks(deepseek_wire, {});
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].type, sse_event::kind::comment);
  EXPECT_EQ(events[0].data, "keep-alive");
  EXPECT_EQ(events[1].data, "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
  EXPECT_EQ(events[3].event, "ping");
  EXPECT_EQ(events[3].data, "line one\nline two");
  EXPECT_TRUE(events[5].is_done());
  EXPECT_FALSE(events[1].is_done());
}

TEST(sse_parser, every_split_point_gives_the_same_events) {
  const auto whole = flatten(parse_in_chunks(deepseek_wire, {}));
  for (std::size_t i = 1; i < deepseek_wire.size(); ++i)
    ASSERT_EQ(flatten(parse_in_chunks(deepseek_wire, {i})), whole) << "split at " << i;
}

TEST(sse_parser, random_chunkings_give_the_same_events) {
  const auto whole = flatten(parse_in_chunks(deepseek_wire, {}));
  std::mt19937 rng(42);
  for (int round = 0; round < 500; ++round) {
    std::vector<std::size_t> cuts;
    for (std::size_t pos = 0;;) {
      pos += 1 + rng() % 7;
      if (pos >= deepseek_wire.size()) break;
      cuts.push_back(pos);
    }
    ASSERT_EQ(flatten(parse_in_chunks(deepseek_wire, cuts)), whole) << "round " << round;
  }
}

TEST(sse_parser, blank_lines_outside_events_are_counted_not_dispatched) {
  sse_parser p;
  std::vector<sse_event> out;
  p.feed("\n\n\n", out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p.blank_lines(), 3u);
}

TEST(sse_parser, partial_event_is_held_back) {
  sse_parser p;
  std::vector<sse_event> out;
  p.feed("data: {\"a\":", out);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(p.has_partial());
  p.feed("1}\n\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "{\"a\":1}");
  EXPECT_FALSE(p.has_partial());
}

TEST(sse_parser, oversized_event_is_refused) {
  sse_parser p(64);
  std::vector<sse_event> out;
  EXPECT_EQ(p.feed("data: " + std::string(100, 'x'), out), sse_parser::status::event_too_large);
}

TEST(sse_parser, data_without_space_and_unknown_fields) {
  auto events = parse_in_chunks("data:x\nretry: 10\nfoo: bar\nid: 7\n\n", {});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(events[0].id, "7");
}

TEST(sse_writer, round_trips_through_the_parser) {
  std::string wire;
  append_sse_event(wire, sse_event{sse_event::kind::comment, {}, "keep-alive", {}});
  append_sse_event(wire, sse_event{sse_event::kind::data, "e", "a\nb", "1"});
  append_sse_event(wire, sse_event{sse_event::kind::data, {}, "[DONE]", {}});
  EXPECT_EQ(wire, ": keep-alive\n\nevent: e\nid: 1\ndata: a\ndata: b\n\ndata: [DONE]\n\n");
  auto events = parse_in_chunks(wire, {});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].data, "a\nb");
  EXPECT_TRUE(events[2].is_done());
}
