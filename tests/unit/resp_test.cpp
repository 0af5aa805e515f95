// The RESP reply reader (hiredis behind redis::reply_reader), including what fuzz/resp_reply found.
#include "deepgate/redis/resp.hpp"

#include <gtest/gtest.h>

using deepgate::redis::reply;
using deepgate::redis::reply_reader;

TEST(resp, replies_split_anywhere_read_the_same) {
  const std::string bytes = "*3\r\n$5\r\nhello\r\n:-42\r\n*2\r\n+OK\r\n$-1\r\n-ERR no\r\n";
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    reply_reader r;
    ASSERT_TRUE(r.feed(std::string_view(bytes).substr(0, cut)));
    ASSERT_TRUE(r.feed(std::string_view(bytes).substr(cut)));
    bool bad = false;
    auto a = r.next(bad);
    ASSERT_TRUE(a) << cut;
    ASSERT_EQ(a->type, reply::kind::array);
    ASSERT_EQ(a->elements.size(), 3u);
    EXPECT_EQ(a->elements[0].str, "hello");
    EXPECT_EQ(a->elements[1].integer, -42);
    EXPECT_EQ(a->elements[2].elements[1].type, reply::kind::nil);
    auto e = r.next(bad);
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->is_error());
    EXPECT_FALSE(r.next(bad));
    EXPECT_FALSE(bad);
  }
}

// hiredis 0.14 allocated the element table of "*555555559" (4.4 GB) on reading the count.
TEST(resp, a_huge_array_count_is_a_protocol_error_not_an_allocation) {
  reply_reader r;
  ASSERT_TRUE(r.feed("*4\r\n$1\r\na\r\n:2\r\n*555555559\r\n+x\r\n"));
  bool bad = false;
  EXPECT_FALSE(r.next(bad));
  EXPECT_TRUE(bad);
  reply_reader ok;  // a large but sane array still reads
  std::string many = "*1000\r\n";
  for (int i = 0; i < 1000; ++i) many += ":1\r\n";
  ASSERT_TRUE(ok.feed(many));
  auto m = ok.next(bad = false);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->elements.size(), 1000u);
}
