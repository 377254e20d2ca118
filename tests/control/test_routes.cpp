// Live IPv4 routes (lib/control/routes.cpp): ctgatectl route add|replace|del|list. Each change
// publishes a whole new table; the packets after it are routed by it.
#include <string>

#include "common/test_env.h"
#include "control/routes.h"

namespace ctgate::test {
namespace {

const char* const k_connected =
    "10.0.1.0/24 dev lan proto kernel scope link src 10.0.1.1\n"
    "10.0.2.0/24 dev wan proto kernel scope link src 10.0.2.1\n";

std::string change(test_gateway& t, const char* command) {
  result<std::string> r = route_command(*t.gw, command);
  return r ? *r : "error: " + r.error().to_string();
}

// One UDP datagram from a lan host to `dst`: the port it left by, or -1 if it was not sent.
int route_of(test_gateway& t, const char* dst) {
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 4000, dst, 53));
  for (const auto& [port, m] : t.sent)
    if (rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr))->next_proto_id ==
        IPPROTO_UDP)
      return port;
  return -1;
}

TEST(Routes, ListsConnectedSubnetsAsIpRoute) {
  test_gateway t;
  EXPECT_EQ(route_list(*t.gw), k_connected);
}

TEST(Routes, AddThenDeleteTakesEffectOnTheNextPacket) {
  test_gateway t;
  EXPECT_EQ(route_of(t, "198.51.100.7"), -1);
  EXPECT_EQ(t.dp(dp_counter::drop_no_route), 1u);

  EXPECT_EQ(change(t, "add 198.51.100.0/24 via 10.0.2.9"),
            "added 198.51.100.0/24 via 10.0.2.9 dev wan");
  EXPECT_EQ(route_list(*t.gw), std::string(k_connected) + "198.51.100.0/24 via 10.0.2.9 dev wan\n");
  EXPECT_EQ(route_of(t, "198.51.100.7"), 1);
  // Sent to the next hop's MAC (02:00:00:00:02:19, the neighbour 10.0.2.9).
  EXPECT_EQ(rte_pktmbuf_mtod(t.sent.back().second, rte_ether_hdr*)->dst_addr.addr_bytes[5], 0x19);

  EXPECT_EQ(change(t, "del 198.51.100.0/24"), "deleted 198.51.100.0/24 via 10.0.2.9 dev wan");
  EXPECT_EQ(route_of(t, "198.51.100.7"), -1);
  EXPECT_EQ(t.dp(dp_counter::drop_no_route), 2u);
  EXPECT_EQ(route_list(*t.gw), k_connected);
  t.clear_sent();
}

TEST(Routes, DefaultReplaceAndHostRoutes) {
  test_gateway t;
  EXPECT_EQ(change(t, "add default via 10.0.2.9"), "added default via 10.0.2.9 dev wan");
  EXPECT_EQ(route_of(t, "203.0.113.1"), 1);
  EXPECT_EQ(change(t, "replace default via 10.0.1.9 dev lan"),
            "replaced default via 10.0.2.9 dev wan with default via 10.0.1.9 dev lan");
  EXPECT_EQ(route_of(t, "203.0.113.1"), 0);
  EXPECT_EQ(change(t, "add 203.0.113.1 via 10.0.2.9"), "added 203.0.113.1/32 via 10.0.2.9 dev wan");
  EXPECT_EQ(route_of(t, "203.0.113.1"), 1);
  EXPECT_EQ(route_list(*t.gw), "default via 10.0.1.9 dev lan\n" + std::string(k_connected) +
                                   "203.0.113.1/32 via 10.0.2.9 dev wan\n");
  t.clear_sent();
}

TEST(Routes, ErrorsLeaveTheTableAlone) {
  test_gateway t;
  ASSERT_EQ(change(t, "add 198.51.100.0/24 via 10.0.2.9"),
            "added 198.51.100.0/24 via 10.0.2.9 dev wan");
  const std::string before = route_list(*t.gw);
  EXPECT_EQ(change(t, "add 198.51.100.0/24 via 10.0.2.8"),
            "error: route: a route to 198.51.100.0/24 exists (198.51.100.0/24 via 10.0.2.9 dev "
            "wan); use replace");
  EXPECT_EQ(change(t, "add 198.51.100.1/24 via 10.0.2.9"),
            "error: route: invalid prefix for its length: 198.51.100.1/24 (did you mean "
            "198.51.100.0/24?)");
  EXPECT_EQ(change(t, "add 10.9.0.0/16 via 192.0.2.1"),
            "error: route: via: 192.0.2.1 is not in the subnet of any port");
  EXPECT_EQ(change(t, "add 10.9.0.0/16 via 10.0.1.9 dev wan"),
            "error: route: via: 10.0.1.9 is not in the subnet of port 'wan'");
  EXPECT_EQ(change(t, "add 10.9.0.0/16 dev dmz"), "error: route: dev: unknown port 'dmz'");
  EXPECT_EQ(change(t, "add 10.9.0.0/16"), "error: route: dev PORT is required when via is absent");
  EXPECT_EQ(change(t, "add 10.9.0.0/33 dev wan"),
            "error: route: '10.9.0.0/33' is not an IPv4 prefix (a.b.c.d/len)");
  EXPECT_EQ(change(t, "add 10.9.0.0/16 via 10.0.2.9 metric 5"),
            "error: route: unexpected 'metric' (via ADDRESS, dev PORT)");
  EXPECT_EQ(change(t, "del 10.9.0.0/16"), "error: route: no such route: 10.9.0.0/16");
  EXPECT_EQ(change(t, "del 198.51.100.0/24 via 10.0.2.8"),
            "error: route: no such route: 198.51.100.0/24");
  EXPECT_EQ(change(t, "del 10.0.2.0/24"),
            "error: route: 10.0.2.0/24 is port wan's subnet: it goes with the port's address");
  EXPECT_EQ(change(t, "flush all"), "error: route: unknown command 'flush' (add, replace, del)");
  EXPECT_EQ(change(t, "add"),
            "error: route: usage: add|replace|del PREFIX [via ADDRESS] [dev PORT]");
  EXPECT_EQ(route_list(*t.gw), before);
}

// A route added to a config's own routes: both listed, the config's kept through changes.
TEST(Routes, ConfigRoutesAreTheStartingList) {
  gateway_config c = default_config();
  route_config r;
  r.prefix = {ip("192.0.2.0"), 24};
  r.via = ip("10.0.2.5");
  r.port = "wan";
  c.routes.push_back(r);
  test_gateway t(c);
  EXPECT_EQ(change(t, "add 198.51.100.0/24 via 10.0.2.9"),
            "added 198.51.100.0/24 via 10.0.2.9 dev wan");
  EXPECT_EQ(route_list(*t.gw), std::string(k_connected) +
                                   "192.0.2.0/24 via 10.0.2.5 dev wan\n"
                                   "198.51.100.0/24 via 10.0.2.9 dev wan\n");
  EXPECT_EQ(route_of(t, "192.0.2.1"), 1);
  t.clear_sent();
}

}  // namespace
}  // namespace ctgate::test
