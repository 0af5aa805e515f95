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

// ---------------------------------------------------------------- Redis Cluster routing

#include "deepgate/redis/connection.hpp"

using namespace deepgate::redis;

TEST(cluster, key_slots_are_the_specifications_crc16_with_hash_tags) {
  // The Cluster specification's CRC16 check value, and slots redis-cli's CLUSTER KEYSLOT gives.
  EXPECT_EQ(key_slot("123456789"), 0x31C3 & 16383);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot(""), 0);
  // A hash tag: only the part inside the first {...} counts, when it is not empty.
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("deepgate:lim:{team-a}:req"), key_slot("deepgate:usage:{team-a}:d:2026-12-06"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));  // an empty first tag: the whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
}

TEST(cluster, commands_route_by_their_first_key) {
  EXPECT_EQ(command_key({"GET", "k"}), "k");
  EXPECT_EQ(command_key({"mget", "a", "b"}), "a");
  EXPECT_EQ(command_key({"EVALSHA", "abc", "2", "k1", "k2", "arg"}), "k1");
  EXPECT_EQ(command_key({"EVAL", "return 1", "0"}), std::nullopt);
  EXPECT_EQ(command_key({"CLUSTER", "SLOTS"}), std::nullopt);
  EXPECT_EQ(command_key({"script", "load", "x"}), std::nullopt);
  EXPECT_EQ(command_key({"PING"}), std::nullopt);
}

TEST(cluster, moved_and_ask_replies_are_read_and_others_are_not) {
  reply r;
  r.type = reply::kind::error;
  r.str = "MOVED 3999 127.0.0.1:6381";
  auto d = parse_redirect(r);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->ask);
  EXPECT_EQ(d->slot, 3999);
  EXPECT_EQ(d->host, "127.0.0.1");
  EXPECT_EQ(d->port, 6381);
  r.str = "ASK 16383 redis-2.internal:7000";
  d = parse_redirect(r);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->ask);
  EXPECT_EQ(d->host, "redis-2.internal");
  r.str = "MOVED 3999 [::1]:6381";  // an IPv6 address: the last colon splits the port
  EXPECT_TRUE(parse_redirect(r));
  for (auto bad : {"MOVED 16384 h:1", "MOVED x h:1", "MOVED 1 h:", "MOVED 1 h:99999", "MOVED 1", "ERR MOVED 1 h:1",
                   "NOSCRIPT No matching script"}) {
    r.str = bad;
    EXPECT_FALSE(parse_redirect(r)) << bad;
  }
  r.type = reply::kind::status;
  r.str = "MOVED 1 h:1";
  EXPECT_FALSE(parse_redirect(r));  // only an error reply redirects
}

TEST(cluster, the_slot_map_is_read_from_cluster_slots) {
  auto node = [](std::string host, long long port) {
    reply n;
    n.type = reply::kind::array;
    reply h, p, id;
    h.type = reply::kind::string;
    h.str = std::move(host);
    p.type = reply::kind::integer;
    p.integer = port;
    id.type = reply::kind::string;
    id.str = "abc";
    n.elements = {h, p, id};
    return n;
  };
  auto range = [&](long long from, long long to, reply primary, std::vector<reply> replicas = {}) {
    reply r;
    r.type = reply::kind::array;
    reply a, b;
    a.type = b.type = reply::kind::integer;
    a.integer = from;
    b.integer = to;
    r.elements = {a, b, std::move(primary)};
    for (auto& x : replicas) r.elements.push_back(x);
    return r;
  };
  reply all;
  all.type = reply::kind::array;
  all.elements = {range(0, 5460, node("10.0.0.1", 7000), {node("10.0.0.4", 7003)}), range(5461, 16383, node("", 7001))};
  auto ranges = parse_cluster_slots(all, "seed.example");
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].host, "10.0.0.1");
  EXPECT_EQ((*ranges)[0].to, 5460);
  EXPECT_EQ((*ranges)[1].host, "seed.example");  // an empty address: the node asked
  EXPECT_EQ((*ranges)[1].port, 7001);
  all.elements = {range(0, 16384, node("h", 1))};
  EXPECT_FALSE(parse_cluster_slots(all, "s"));
  all.elements = {range(10, 5, node("h", 1))};
  EXPECT_FALSE(parse_cluster_slots(all, "s"));
  all.elements = {range(0, 5, node("h", 0))};
  EXPECT_FALSE(parse_cluster_slots(all, "s"));
  reply err;
  err.type = reply::kind::error;
  EXPECT_FALSE(parse_cluster_slots(err, "s"));
}
