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

}  // namespace
}  // namespace ctgate::test
