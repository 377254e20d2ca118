// Live routes and neighbours (lib/control/routes.cpp): ctgatectl route add|replace|del|list and
// ctgatectl neigh, IPv4 and IPv6. The packets after a change are routed by it.
#include <map>
#include <set>
#include <string>

#include "common/test_env.h"
#include "control/routes.h"
#include "dataplane/ipv6_env.h"
#include "route/route_table.h"

namespace ctgate::test {
namespace {

const char* const k_connected =
    "10.0.1.0/24 dev lan proto kernel scope link src 10.0.1.1\n"
    "10.0.2.0/24 dev wan proto kernel scope link src 10.0.2.1\n";

// What a route_command or neigh_command said: what changed, or "error: " and why not.
template <result<std::string> (*Command)(gateway&, std::string_view)>
std::string said(test_gateway& t, const char* command) {
  result<std::string> r = Command(*t.gw, command);
  return r ? *r : "error: " + r.error().to_string();
}
std::string change(test_gateway& t, const char* command) { return said<route_command>(t, command); }
std::string neigh(test_gateway& t, const char* command) { return said<neigh_command>(t, command); }

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

// The frames sent toward wan for one datagram to `dst`: its destination MAC's last byte, or
// -1 when an ARP request went instead (the datagram waits for the answer).
int next_hop_mac(test_gateway& t, const char* dst) {
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 4000, dst, 53));
  int got = -2;
  for (const auto& [port, m] : t.sent) {
    const auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    if (port != 1) continue;
    if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) got = -1;
    if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) got = eth->dst_addr.addr_bytes[5];
  }
  t.clear_sent();
  return got;
}

// The destination MAC's last byte of the frame a UDP datagram from 10.0.1.2:`sport` to `dst`
// left by (-1: none).
int hop_of(test_gateway& t, const char* dst, uint16_t sport) {
  t.clear_sent();
  t.send(0, udp("10.0.1.2", sport, dst, 53));
  int got = -1;
  for (const auto& [port, m] : t.sent)
    if (port == 1) got = rte_pktmbuf_mtod(m, rte_ether_hdr*)->dst_addr.addr_bytes[5];
  t.clear_sent();
  return got;
}

// ECMP: a multipath route spreads flows over its next hops by the flow's symmetric hash; one
// flow's packets keep to one; replace and del take it back; groups are reused.
TEST(Routes, MultipathSpreadsFlowsAndKeepsEachOnOneHop) {
  test_gateway t;
  EXPECT_EQ(change(t,
                   "add 198.51.100.0/24 nexthop via 10.0.2.9 nexthop via 10.0.2.10 dev wan "
                   "nexthop via 10.0.2.11"),
            "added 198.51.100.0/24 nexthop via 10.0.2.9 dev wan nexthop via 10.0.2.10 dev wan "
            "nexthop via 10.0.2.11 dev wan");
  EXPECT_EQ(route_list(*t.gw), std::string(k_connected) +
                                   "198.51.100.0/24\n"
                                   "\tnexthop via 10.0.2.9 dev wan weight 1\n"
                                   "\tnexthop via 10.0.2.10 dev wan weight 1\n"
                                   "\tnexthop via 10.0.2.11 dev wan weight 1\n");
  std::map<int, int> per_hop;
  for (uint16_t sport = 1000; sport < 1300; sport++) {
    const int hop = hop_of(t, "198.51.100.7", sport);
    per_hop[hop]++;
    if (sport % 50 == 0) {  // the same flow again: the same next hop
      for (int again = 0; again < 3; again++) EXPECT_EQ(hop_of(t, "198.51.100.7", sport), hop);
    }
  }
  ASSERT_EQ(per_hop.size(), 3u) << "every next hop carries flows";
  for (const auto& [mac, n] : per_hop) {
    EXPECT_TRUE(mac == 0x19 || mac == 0x20 || mac == 0x21) << mac;
    EXPECT_GT(n, 50) << "300 flows over 3 next hops, each well used";
  }
  // Symmetric: a flow's two directions hash alike.
  EXPECT_EQ(symmetric_flow_hash(htonl(ip("10.0.1.2")), htonl(ip("198.51.100.7")), htons(1000),
                                htons(53), IPPROTO_UDP),
            symmetric_flow_hash(htonl(ip("198.51.100.7")), htonl(ip("10.0.1.2")), htons(53),
                                htons(1000), IPPROTO_UDP));
  EXPECT_EQ(change(t, "replace 198.51.100.0/24 via 10.0.2.12"),
            "replaced 198.51.100.0/24 nexthop via 10.0.2.9 dev wan nexthop via 10.0.2.10 dev wan "
            "nexthop via 10.0.2.11 dev wan with 198.51.100.0/24 via 10.0.2.12 dev wan");
  for (uint16_t sport = 1000; sport < 1020; sport++)
    EXPECT_EQ(hop_of(t, "198.51.100.7", sport), 0x22);
  EXPECT_EQ(change(t, "del 198.51.100.0/24"), "deleted 198.51.100.0/24 via 10.0.2.12 dev wan");
  // More changes than there are groups: each change's group is reused after it.
  for (int i = 0; i < 300; i++) {
    ASSERT_TRUE(route_command(*t.gw,
                              "replace 203.0.113.0/24 nexthop via 10.0.2.9 nexthop via "
                              "10.0.2.10"))
        << i;
  }
  EXPECT_EQ(change(t, "del 203.0.113.0/24"),
            "deleted 203.0.113.0/24 nexthop via 10.0.2.9 dev wan nexthop via 10.0.2.10 dev wan");
  EXPECT_EQ(route_list(*t.gw), k_connected);
  EXPECT_EQ(change(t, "add 203.0.113.0/24 nexthop via 10.0.2.9"),
            "error: route: a multipath route takes 2 to 16 nexthops");
  EXPECT_EQ(change(t, "add 203.0.113.0/24 nexthop via 10.0.2.9 nexthop via 10.0.2.9"),
            "error: route: nexthop via 10.0.2.9 dev wan is given twice");
  EXPECT_EQ(change(t, "add 203.0.113.0/24 nexthop dev wan nexthop via 10.0.2.9"),
            "error: route: each nexthop needs via ADDRESS");
  EXPECT_EQ(change(t, "add 203.0.113.0/24 nexthop via 10.9.0.1 nexthop via 10.0.2.9"),
            "error: route: via: 10.9.0.1 is not in the subnet of any port");
}

// A config's multipath route (routes[].nexthops) is one from the start.
TEST(Routes, ConfigMultipathRoute) {
  gateway_config c = default_config();
  route_config r;
  r.prefix = {0, 0};
  r.nexthops = {{ip("10.0.2.9"), "wan"}, {ip("10.0.1.9"), "lan"}};
  r.via = r.nexthops[0].via;
  r.port = "wan";
  c.routes.push_back(r);
  test_gateway t(c);
  EXPECT_EQ(route_list(*t.gw),
            "default\n"
            "\tnexthop via 10.0.2.9 dev wan weight 1\n"
            "\tnexthop via 10.0.1.9 dev lan weight 1\n" +
                std::string(k_connected));
  std::set<int> ports;
  for (uint16_t sport = 1000; sport < 1100; sport++) {
    t.clear_sent();
    t.send(0, udp("10.0.1.2", sport, "192.0.2.1", 53));
    for (const auto& [port, m] : t.sent) ports.insert(port);
  }
  t.clear_sent();
  EXPECT_EQ(ports, (std::set<int>{0, 1}));
}

TEST(Neighbours, AddReplaceDeleteAsIpNeigh) {
  test_gateway t;
  EXPECT_EQ(neigh(t, "add 10.0.2.50 lladdr 02:00:00:00:02:50 dev wan"),
            "added 10.0.2.50 lladdr 02:00:00:00:02:50 dev wan PERMANENT");
  EXPECT_EQ(next_hop_mac(t, "10.0.2.50"), 0x50);
  EXPECT_EQ(neigh(t, "add 10.0.2.50 lladdr 02:00:00:00:02:51 dev wan"),
            "error: neigh: 10.0.2.50 is known already (PERMANENT); use replace");
  EXPECT_EQ(neigh(t, "replace 10.0.2.50 lladdr 02:00:00:00:02:51 dev wan"),
            "replaced 10.0.2.50 lladdr 02:00:00:00:02:51 dev wan PERMANENT");
  EXPECT_EQ(next_hop_mac(t, "10.0.2.50"), 0x51);
  EXPECT_EQ(neigh(t, "del 10.0.2.50"), "deleted 10.0.2.50");
  // Unknown again: the datagram waits while the gateway asks (ARP), as for any new neighbour.
  EXPECT_EQ(next_hop_mac(t, "10.0.2.50"), -1);
  // That left an entry being resolved (INCOMPLETE), which del removes as ip neigh del does.
  EXPECT_EQ(neigh(t, "del 10.0.2.50"), "deleted 10.0.2.50");
  EXPECT_EQ(neigh(t, "del 10.0.2.50"), "error: neigh: no neighbour 10.0.2.50");
  // The config's static neighbours go too.
  EXPECT_EQ(neigh(t, "del 10.0.2.9"), "deleted 10.0.2.9");
  EXPECT_EQ(neigh(t, "replace 10.0.2.9 lladdr 02:00:00:00:02:99 dev wan"),
            "added 10.0.2.9 lladdr 02:00:00:00:02:99 dev wan PERMANENT");
  EXPECT_EQ(next_hop_mac(t, "10.0.2.9"), 0x99);
}

TEST(Neighbours, Errors) {
  test_gateway t;
  EXPECT_EQ(neigh(t, "add 10.0.2.9 lladdr 02:00:00:00:02:50 dev wan"),
            "error: neigh: 10.0.2.9 is known already (PERMANENT); use replace");
  EXPECT_EQ(neigh(t, "add 10.0.3.1 lladdr 02:00:00:00:02:50 dev wan"),
            "error: neigh: 10.0.3.1 is not in the subnet of port 'wan'");
  EXPECT_EQ(neigh(t, "add 10.0.2.1 lladdr 02:00:00:00:02:50 dev wan"),
            "error: neigh: 10.0.2.1 is port wan's own address");
  EXPECT_EQ(neigh(t, "add 10.0.2.50 lladdr 01:00:5e:00:00:01 dev wan"),
            "error: neigh: lladdr: '01:00:5e:00:00:01' is not a unicast MAC address");
  EXPECT_EQ(neigh(t, "add 10.0.2.50 lladdr 02:00:00:00:02:50"),
            "error: neigh: dev PORT is required");
  EXPECT_EQ(neigh(t, "add 10.0.2.50 dev wan"), "error: neigh: lladdr MAC is required");
  EXPECT_EQ(neigh(t, "add 10.0.2.50 lladdr 02:00:00:00:02:50 dev dmz"),
            "error: neigh: dev: unknown port 'dmz'");
  EXPECT_EQ(neigh(t, "add 10.0.2.50 lladdr 02:00:00:00:02:50 dev wan nud permanent"),
            "error: neigh: unexpected 'nud' (lladdr MAC, dev PORT)");
  EXPECT_EQ(neigh(t, "flush all"),
            "error: neigh: usage: add|replace|del ADDRESS [lladdr MAC] [dev PORT]");
  EXPECT_EQ(neigh(t, "del 10.0.2.300"), "error: neigh: '10.0.2.300' is not an IPv4 address");
}

const char* const k_routes6 =
    "2001:db8:1::/64 dev lan proto kernel\n"
    "2001:db8:2::/64 dev wan proto kernel\n"
    "2001:db8:99::/48 via 2001:db8:2::2 dev wan\n";

// The port a UDP datagram from a lan host to `dst` left by, and the destination MAC's last
// byte (-1, -1: none forwarded; an ICMPv6 error back to lan is not).
std::pair<int, int> route6_of(v6_gateway& t, const char* dst) {
  t.clear_sent();
  t.send6(0, udp6("2001:db8:1::2", dst));
  std::pair<int, int> got{-1, -1};
  for (const auto& [port, m] : t.sent) {
    const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, sizeof(rte_ether_hdr));
    if (ip[6] == IPPROTO_UDP) got = {port, rte_pktmbuf_mtod(m, uint8_t*)[5]};
  }
  t.clear_sent();
  return got;
}

TEST(Routes6, AddReplaceDeleteAsIpRoute) {
  v6_gateway t;
  EXPECT_EQ(route6_list(*t.gw), k_routes6);
  EXPECT_EQ(route_count(*t.gw, true), 3u);
  EXPECT_EQ(route6_of(t, "2001:db8:77::1"), std::make_pair(-1, -1));
  EXPECT_EQ(t.dp(dp_counter::drop_no_route), 1u);

  EXPECT_EQ(change(t, "add 2001:db8:77::/48 via 2001:db8:2::2"),
            "added 2001:db8:77::/48 via 2001:db8:2::2 dev wan");
  EXPECT_EQ(route6_of(t, "2001:db8:77::1"), std::make_pair(1, 0x12));
  // A link-local next hop, known from a neighbour added live.
  EXPECT_EQ(neigh(t, "add fe80::55 lladdr 02:00:00:00:02:55 dev wan"),
            "added fe80::55 lladdr 02:00:00:00:02:55 dev wan PERMANENT");
  EXPECT_EQ(change(t, "replace 2001:db8:77::/48 via fe80::55 dev wan"),
            "replaced 2001:db8:77::/48 via 2001:db8:2::2 dev wan with 2001:db8:77::/48 via "
            "fe80::55 dev wan");
  EXPECT_EQ(route6_of(t, "2001:db8:77::1"), std::make_pair(1, 0x55));
  EXPECT_EQ(change(t, "add default via fe80::55 dev wan"), "added default via fe80::55 dev wan");
  EXPECT_EQ(route6_list(*t.gw),
            "default via fe80::55 dev wan\n" +
                std::string(k_routes6).insert(std::string(k_routes6).find("2001:db8:99::"),
                                              "2001:db8:77::/48 via fe80::55 dev wan\n"));
  EXPECT_EQ(route6_of(t, "2001:db8:5555::1"), std::make_pair(1, 0x55));
  // `default` alone is IPv4's, as ip route's; -6 says otherwise.
  EXPECT_EQ(change(t, "del default"), "error: route: no such route: default");
  EXPECT_EQ(change(t, "-6 del default"), "deleted default via fe80::55 dev wan");
  EXPECT_EQ(change(t, "del 2001:db8:77::/48 via fe80::55"),
            "deleted 2001:db8:77::/48 via fe80::55 dev wan");
  EXPECT_EQ(route6_of(t, "2001:db8:77::1"), std::make_pair(-1, -1));
  EXPECT_EQ(route6_list(*t.gw), k_routes6);
  // The config's route goes like any other; the IPv4 routes never notice.
  EXPECT_EQ(change(t, "del 2001:db8:99::/48"),
            "deleted 2001:db8:99::/48 via 2001:db8:2::2 dev wan");
  EXPECT_EQ(route6_of(t, "2001:db8:99::1"), std::make_pair(-1, -1));
  EXPECT_EQ(route_list(*t.gw), k_connected);
}

// Each change builds a trie and frees the one before: many in a row reuse the two names and
// the memory, and a next hop's slot is given once.
TEST(Routes6, ManyChangesInARow) {
  v6_gateway t;
  for (int i = 0; i < 40; i++) {
    const std::string via = "2001:db8:2::" + std::to_string(10 + i % 4);
    ASSERT_EQ(change(t, ("replace 2001:db8:77::/48 via " + via).c_str()),
              (i == 0 ? "added"
                      : "replaced 2001:db8:77::/48 via 2001:db8:2::" +
                            std::to_string(10 + (i - 1) % 4) + " dev wan with") +
                  " 2001:db8:77::/48 via " + via + " dev wan");
  }
  EXPECT_EQ(change(t, "del 2001:db8:77::/48"),
            "deleted 2001:db8:77::/48 via 2001:db8:2::13 dev wan");
  EXPECT_EQ(route6_list(*t.gw), k_routes6);
}

TEST(Routes6, ErrorsLeaveTheTableAlone) {
  v6_gateway t;
  EXPECT_EQ(change(t, "add 2001:db8:99::/48 via 2001:db8:2::3"),
            "error: route: a route to 2001:db8:99::/48 exists (2001:db8:99::/48 via 2001:db8:2::2 "
            "dev wan); use replace");
  EXPECT_EQ(change(t, "add 2001:db8:1::/64 dev wan"),
            "error: route: 2001:db8:1::/64 is port lan's: it goes with the port's address6");
  EXPECT_EQ(change(t, "del 2001:db8:2::1/128"),
            "error: route: 2001:db8:2::1/128 is port wan's: it goes with the port's address6");
  EXPECT_EQ(change(t, "add 2001:db8:77::/48 via fe80::1"),
            "error: route: via: a link-local next hop needs dev PORT");
  EXPECT_EQ(change(t, "add 2001:db8:77::/48 via 2001:db8:5::1"),
            "error: route: via: 2001:db8:5::1 is not in the subnet of any port");
  EXPECT_EQ(change(t, "add 2001:db8:77::/48 via 2001:db8:1::9 dev wan"),
            "error: route: via: 2001:db8:1::9 is not in the subnet of port 'wan'");
  EXPECT_EQ(change(t, "add 2001:db8:77::/48 via ff02::1 dev wan"),
            "error: route: via: 'ff02::1' is not a unicast IPv6 address");
  EXPECT_EQ(change(t, "add 2001:db8:77::1/48 dev wan"),
            "error: route: invalid prefix for its length: 2001:db8:77::1/48 (did you mean "
            "2001:db8:77::/48?)");
  EXPECT_EQ(change(t, "add 2001:db8:77::/48"),
            "error: route: dev PORT is required when via is absent");
  EXPECT_EQ(change(t, "del 2001:db8:77::/48"), "error: route: no such route: 2001:db8:77::/48");
  EXPECT_EQ(change(t, "del 2001:db8:99::/48 via 2001:db8:2::3"),
            "error: route: no such route: 2001:db8:99::/48");
  EXPECT_EQ(route6_list(*t.gw), k_routes6);
  // A gateway without IPv6 has no trie to change.
  test_gateway v4;
  EXPECT_EQ(change(v4, "add 2001:db8:77::/48 via fe80::1 dev wan"),
            "error: route: dev: port 'wan' has no address6 (an IPv6 route needs one)");
  EXPECT_EQ(route6_list(*v4.gw), "");
}

TEST(Neighbours6, AddReplaceDeleteAsIpNeigh) {
  v6_gateway t;
  EXPECT_EQ(change(t, "add 2001:db8:77::/48 via 2001:db8:2::50"),
            "added 2001:db8:77::/48 via 2001:db8:2::50 dev wan");
  EXPECT_EQ(neigh(t, "add 2001:db8:2::50 lladdr 02:00:00:00:02:50 dev wan"),
            "added 2001:db8:2::50 lladdr 02:00:00:00:02:50 dev wan PERMANENT");
  EXPECT_EQ(route6_of(t, "2001:db8:77::1"), std::make_pair(1, 0x50));
  EXPECT_EQ(neigh(t, "add 2001:db8:2::50 lladdr 02:00:00:00:02:51 dev wan"),
            "error: neigh: 2001:db8:2::50 is known already (PERMANENT); use replace");
  EXPECT_EQ(neigh(t, "replace 2001:db8:2::50 lladdr 02:00:00:00:02:51 dev wan"),
            "replaced 2001:db8:2::50 lladdr 02:00:00:00:02:51 dev wan PERMANENT");
  EXPECT_EQ(route6_of(t, "2001:db8:77::1"), std::make_pair(1, 0x51));
  EXPECT_EQ(neigh(t, "del 2001:db8:2::50"), "deleted 2001:db8:2::50");
  // Unknown again: the datagram waits while the gateway solicits it.
  EXPECT_EQ(route6_of(t, "2001:db8:77::1"), std::make_pair(-1, -1));
  EXPECT_EQ(neigh(t, "del 2001:db8:2::50 dev wan"), "deleted 2001:db8:2::50");
  EXPECT_EQ(neigh(t, "del 2001:db8:2::50"), "error: neigh: no neighbour 2001:db8:2::50");
  // Errors.
  EXPECT_EQ(neigh(t, "add 2001:db8:1::7 lladdr 02:00:00:00:02:50 dev wan"),
            "error: neigh: 2001:db8:1::7 is not link-local or in the subnet of port 'wan'");
  EXPECT_EQ(neigh(t, "add 2001:db8:2::1 lladdr 02:00:00:00:02:50 dev wan"),
            "error: neigh: 2001:db8:2::1 is port wan's own address");
  EXPECT_EQ(neigh(t, "add ff02::1 lladdr 02:00:00:00:02:50 dev wan"),
            "error: neigh: 'ff02::1' is not a unicast IPv6 address");
  EXPECT_EQ(neigh(t, "add fe80::9 lladdr 02:00:00:00:02:50"), "error: neigh: dev PORT is required");
}

}  // namespace
}  // namespace ctgate::test
