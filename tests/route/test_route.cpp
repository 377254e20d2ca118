// The routing table: connected subnets, local addresses, static routes.
#include "common/test_env.h"

namespace ctgate::test {
namespace {

TEST(RouteTable, ConnectedLocalAndStatic) {
  gateway_config c = default_config();
  route_config r;
  r.prefix = {ip("0.0.0.0"), 0};
  r.via = ip("10.0.2.254");
  r.port = "wan";
  c.routes.push_back(r);
  route_config r2;
  r2.prefix = {ip("192.168.0.0"), 16};
  r2.via = ip("10.0.1.254");
  r2.port = "lan";
  c.routes.push_back(r2);
  result<std::unique_ptr<route_table>> built = route_table::build(c, "rt_test");
  ASSERT_TRUE(built) << built.error().to_string();
  const route_table* t = built->get();
  route_nh nh = t->lookup(ip("10.0.1.1"));
  EXPECT_EQ(nh.kind, route_kind::local);
  EXPECT_EQ(nh.port, 0);
  nh = t->lookup(ip("10.0.1.77"));
  EXPECT_EQ(nh.kind, route_kind::forward);
  EXPECT_EQ(nh.gateway, 0u);  // connected
  nh = t->lookup(ip("10.0.2.1"));
  EXPECT_EQ(nh.kind, route_kind::local);
  EXPECT_EQ(nh.port, 1);
  nh = t->lookup(ip("192.168.44.1"));
  EXPECT_EQ(nh.port, 0);
  EXPECT_EQ(nh.gateway, ip("10.0.1.254"));
  nh = t->lookup(ip("8.8.8.8"));
  EXPECT_EQ(nh.kind, route_kind::forward);
  EXPECT_EQ(nh.port, 1);
  EXPECT_EQ(nh.gateway, ip("10.0.2.254"));
}

TEST(RouteTable, NoDefaultMeansNoRoute) {
  result<std::unique_ptr<route_table>> built = route_table::build(default_config(), "rt_test2");
  ASSERT_TRUE(built) << built.error().to_string();
  const route_table* t = built->get();
  EXPECT_EQ(t->lookup(ip("8.8.8.8")).kind, route_kind::none);
  uint32_t ips[3] = {ip("10.0.1.5"), ip("1.1.1.1"), ip("10.0.2.1")};
  uint64_t nhs[3];
  t->lookup_bulk(ips, nhs, 3);
  EXPECT_EQ(decode_nh(nhs[0]).kind, route_kind::forward);
  EXPECT_EQ(decode_nh(nhs[1]).kind, route_kind::none);
  EXPECT_EQ(decode_nh(nhs[2]).kind, route_kind::local);
}

TEST(RouteTable, UnknownRoutePortIsAnError) {
  gateway_config c = default_config();
  route_config r;
  r.prefix = {ip("172.16.0.0"), 12};
  r.port = "dmz";
  r.line = 17;
  c.routes.push_back(r);
  result<std::unique_ptr<route_table>> built = route_table::build(c, "rt_test3");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().to_string(), "test.yaml:17: routes: unknown port 'dmz'");
}

TEST(NeighborTable, LearnLookupStaticWins) {
  result<std::unique_ptr<neighbor_table>> created = neighbor_table::create("nt_test");
  ASSERT_TRUE(created) << created.error().to_string();
  neighbor_table* n = created->get();
  mac_addr m;
  EXPECT_FALSE(n->lookup(ip("10.0.0.1"), &m));
  EXPECT_TRUE(n->learn(ip("10.0.0.1"), mac(1), true));
  EXPECT_TRUE(n->learn(ip("10.0.0.1"), mac(2)));  // dynamic does not override static
  ASSERT_TRUE(n->lookup(ip("10.0.0.1"), &m));
  EXPECT_EQ(m.b[5], 1);
  EXPECT_TRUE(n->should_request(ip("10.0.0.9"), 1000));
  EXPECT_FALSE(n->should_request(ip("10.0.0.9"), 1500));
  EXPECT_TRUE(n->should_request(ip("10.0.0.9"), 2001));
}

// A port whose interface went away forgets what it learned there (Linux's
// neigh_ifdown); other ports and static entries keep theirs.
TEST(NeighborTable, ForgetPortKeepsStaticAndOtherPorts) {
  result<std::unique_ptr<neighbor_table>> created = neighbor_table::create("nt_test2");
  ASSERT_TRUE(created) << created.error().to_string();
  neighbor_table* n = created->get();
  EXPECT_TRUE(n->learn(ip("10.0.2.2"), mac(2), false, 100, 1));
  EXPECT_TRUE(n->learn(ip("10.0.2.3"), mac(3), true, 0, 1));
  EXPECT_TRUE(n->learn(ip("10.0.1.2"), mac(4), false, 100, 0));
  EXPECT_EQ(n->forget_port(1), 1u);
  mac_addr m;
  EXPECT_FALSE(n->lookup(ip("10.0.2.2"), &m));
  EXPECT_TRUE(n->lookup(ip("10.0.2.3"), &m));
  EXPECT_TRUE(n->lookup(ip("10.0.1.2"), &m));
  EXPECT_TRUE(n->learn(ip("10.0.2.2"), mac(5), false, 200, 1));  // learned again
  ASSERT_TRUE(n->lookup(ip("10.0.2.2"), &m));
  EXPECT_EQ(m.b[5], 5);
}

// The garbage collector (Linux's neigh_periodic_work): nothing below gc_thresh1; above it,
// neighbours given up on (no request for failed_after_ms) and those unconfirmed for stale_ms
// go, static ones never; a neighbour still being asked for stays.
TEST(NeighborTable, GarbageCollectorRemovesFailedAndStaleEntries) {
  result<std::unique_ptr<neighbor_table>> created = neighbor_table::create("nt_gc");
  ASSERT_TRUE(created) << created.error().to_string();
  neighbor_table* n = created->get();
  neigh_gc_params p;
  p.thresh1 = 4;
  p.failed_after_ms = 3000;
  p.stale_ms = 60000;
  EXPECT_TRUE(n->learn(ip("10.0.2.9"), mac(9), true));              // static
  EXPECT_TRUE(n->learn(ip("10.0.2.2"), mac(2), false, 10000, 1));   // learned
  EXPECT_TRUE(n->should_request(ip("10.0.2.50"), 10000, 1000, 1));  // asked once
  EXPECT_EQ(n->gc(20000, p, nullptr), 0u);                          // 3 < thresh1
  EXPECT_TRUE(n->should_request(ip("10.0.2.51"), 10000, 1000, 1));
  EXPECT_EQ(n->in_use(), 4u);
  // 10.0.2.51 is still asked for (a packet waits): it stays; .50 was given up on.
  EXPECT_TRUE(n->should_request(ip("10.0.2.51"), 13500, 1000, 1));
  EXPECT_EQ(n->gc(14000, p, nullptr), 1u);
  EXPECT_EQ(n->in_use(), 3u);
  size_t listed = 0;
  n->for_each([&](uint32_t a, uint64_t, uint32_t, uint16_t) {
    EXPECT_NE(a, ip("10.0.2.50"));
    listed++;
  });
  EXPECT_EQ(listed, 3u);
  EXPECT_EQ(n->gc(14000, p, nullptr), 0u);  // below thresh1 again
  // Stale: unconfirmed for 60 s. A fourth entry brings the table to thresh1.
  EXPECT_TRUE(n->should_request(ip("10.0.2.52"), 69000, 1000, 1));
  EXPECT_EQ(n->gc(69999, p, nullptr), 1u);  // .51, given up on; 10.0.2.2 not stale yet
  EXPECT_TRUE(n->should_request(ip("10.0.2.53"), 69999, 1000, 1));
  EXPECT_EQ(n->gc(70000, p, nullptr), 1u);  // 10.0.2.2, unconfirmed for 60 s
  mac_addr m;
  EXPECT_FALSE(n->lookup(ip("10.0.2.2"), &m));
  EXPECT_TRUE(n->lookup(ip("10.0.2.9"), &m));  // static, kept
  EXPECT_EQ(n->gc_removed(), 3u);
  // A neighbour learned and then forgotten (its port went down) goes once stale.
  p.thresh1 = 0;
  EXPECT_TRUE(n->learn(ip("10.0.2.60"), mac(6), false, 70000, 1));
  EXPECT_EQ(n->forget_port(1), 1u);
  EXPECT_EQ(n->gc(129999, p, nullptr), 2u);  // .52 and .53, given up on
  EXPECT_EQ(n->gc(130000, p, nullptr), 1u);  // .60, forgotten, stale now
  EXPECT_EQ(n->gc_removed(), 6u);
  // A removed neighbour is learned again in a reused slot.
  EXPECT_TRUE(n->learn(ip("10.0.2.2"), mac(7), false, 130000, 1));
  ASSERT_TRUE(n->lookup(ip("10.0.2.2"), &m));
  EXPECT_EQ(m.b[5], 7);
}

// Packets to every address of a /64 that nobody answers (a scan) fill the IPv6 cache; once
// the workers give up on them, the collector frees the table, and new neighbours resolve
// again. Before, the cache stayed full for good.
TEST(NeighborTable, ACacheFilledByAScanRecovers) {
  result<std::unique_ptr<neighbor6_table>> created = neighbor6_table::create("nt_gc6");
  ASSERT_TRUE(created) << created.error().to_string();
  neighbor6_table* n = created->get();
  auto key = [](uint32_t i) {
    neigh6_key k;
    k.addr.b[0] = 0x20;
    k.addr.b[1] = 0x01;
    k.addr.b[12] = static_cast<uint8_t>(i >> 24);
    k.addr.b[13] = static_cast<uint8_t>(i >> 16);
    k.addr.b[14] = static_cast<uint8_t>(i >> 8);
    k.addr.b[15] = static_cast<uint8_t>(i);
    k.port = 1;
    return k;
  };
  mac_addr real;
  real.b[5] = 0x42;
  EXPECT_TRUE(n->learn(key(1), real, false, 1000, 1));  // a neighbour in use, confirmed
  // Until an address finds no room (rte_hash's buckets may fill a little before 4,096).
  uint32_t i = 2;
  while (i < 10000 && n->should_request(key(i), 1000, 1000, 1)) i++;
  const uint32_t stuck = i;  // a new neighbour that cannot be resolved
  EXPECT_GT(n->in_use(), neighbor6_table::k_capacity * 9 / 10);
  EXPECT_FALSE(n->should_request(key(stuck), 1000, 1000, 1));
  const neigh_gc_params p;
  EXPECT_EQ(n->gc(3500, p, nullptr), 0u);  // still being resolved (3 requests, 1 s apart)
  EXPECT_EQ(n->gc(5000, p, nullptr), stuck - 2);
  mac_addr m;
  EXPECT_TRUE(n->lookup(key(1), &m));  // the confirmed neighbour stays
  EXPECT_TRUE(n->should_request(key(stuck), 5000, 1000, 1));
  EXPECT_EQ(n->in_use(), 2u);
}

}  // namespace
}  // namespace ctgate::test
