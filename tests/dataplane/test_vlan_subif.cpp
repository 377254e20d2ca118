// VLAN subinterfaces on a routed port (stage_vlan.cpp, the tag on egress in stage_tx.cpp):
// lan (10.0.1.1/24) carries lan.100 (10.0.100.1/24) tagged 100; wan is untagged.
#include <rte_ether.h>

#include <cstring>

#include "common/test_env.h"

namespace ctgate::test {
namespace {

constexpr uint16_t k_lan = 0, k_wan = 1, k_sub = 2;

gateway_config vlan_config() {
  gateway_config c = default_config();
  port_config sub;
  sub.name = "lan.100";
  sub.parent = "lan";
  sub.vlan = 100;
  sub.address = {ip("10.0.100.1"), 24};
  c.ports.push_back(sub);
  c.neighbors.push_back({ip("10.0.100.2"), "02:00:00:00:64:02", "lan.100", 0});
  c.conntrack.enable_hooks = true;
  return c;
}

class VlanSubifTest : public ::testing::Test {
 protected:
  test_gateway g{vlan_config()};

  // `s` as a frame on the wire, tagged `vid` (0: untagged).
  rte_mbuf* frame(const pkt_spec& s, uint16_t vid) {
    rte_mbuf* m = g.make(s);
    if (vid != 0) {
      m->vlan_tci = vid;
      EXPECT_EQ(rte_vlan_insert(&m), 0);
    }
    return m;
  }
  // The VID a sent frame carries (0: untagged).
  static uint16_t vid_of(const rte_mbuf* m) {
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) return 0;
    const auto* vh = reinterpret_cast<const rte_vlan_hdr*>(eth + 1);
    return rte_be_to_cpu_16(vh->vlan_tci) & 0xfff;
  }
  // The IPv4 header of a sent frame, past its tag if it has one.
  static const rte_ipv4_hdr* ip_of(const rte_mbuf* m) {
    const size_t l2 = RTE_ETHER_HDR_LEN + (vid_of(m) != 0 ? sizeof(rte_vlan_hdr) : 0);
    return rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, l2);
  }
};

TEST_F(VlanSubifTest, EchoToTheSubinterfaceIsAnsweredTaggedOnTheParent) {
  g.burst(k_lan, {frame(echo_request("10.0.100.2", "10.0.100.1"), 100)});
  ASSERT_EQ(g.sent.size(), 1u);
  EXPECT_EQ(g.sent[0].first, k_lan);  // by the parent's device
  const rte_mbuf* r = g.sent[0].second;
  EXPECT_EQ(vid_of(r), 100);
  EXPECT_EQ(ip_of(r)->src_addr, rte_cpu_to_be_32(ip("10.0.100.1")));
  EXPECT_EQ(ip_of(r)->dst_addr, rte_cpu_to_be_32(ip("10.0.100.2")));
  EXPECT_EQ(g.dp(dp_counter::vlan_rx), 1u);
  EXPECT_EQ(g.w->port_rx[k_sub].get(), 1u);
  EXPECT_EQ(g.w->port_tx[k_sub].get(), 1u);
  EXPECT_EQ(g.w->port_tx[k_lan].get(), 0u);
}

TEST_F(VlanSubifTest, RoutedBetweenTheSubinterfaceAndAnUntaggedPort) {
  // In tagged, out untagged on wan, its TTL one lower.
  g.burst(k_lan, {frame(udp("10.0.100.2", 4000, "10.0.2.2", 53), 100)});
  ASSERT_EQ(g.sent.size(), 1u);
  EXPECT_EQ(g.sent[0].first, k_wan);
  EXPECT_EQ(vid_of(g.sent[0].second), 0);
  EXPECT_EQ(ip_of(g.sent[0].second)->time_to_live, 63);
  g.clear_sent();
  // The answer from wan leaves by lan tagged 100, to the neighbour's MAC, from lan's.
  g.burst(k_wan, {frame(udp("10.0.2.2", 53, "10.0.100.2", 4000), 0)});
  ASSERT_EQ(g.sent.size(), 1u);
  EXPECT_EQ(g.sent[0].first, k_lan);
  const rte_mbuf* m = g.sent[0].second;
  EXPECT_EQ(vid_of(m), 100);
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  const uint8_t neigh[6] = {0x02, 0, 0, 0, 0x64, 0x02};
  EXPECT_EQ(std::memcmp(eth->dst_addr.addr_bytes, neigh, 6), 0);
  EXPECT_EQ(std::memcmp(eth->src_addr.addr_bytes, g.gw->ports[k_sub].mac.b, 6), 0);
  EXPECT_EQ(ip_of(m)->time_to_live, 63);
  EXPECT_EQ(g.w->port_tx[k_sub].get(), 1u);
  // Both directions are one connection, received on lan.100.
  const auto lines = g.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_NE(lines[0].find("src=10.0.100.2 dst=10.0.2.2 sport=4000 dport=53"), std::string::npos)
      << lines[0];
}

TEST_F(VlanSubifTest, OtherVlansAreDroppedAndUntaggedFramesStayThePorts) {
  g.burst(k_lan, {frame(echo_request("10.0.1.2", "10.0.1.1"), 200),
                  frame(echo_request("10.0.1.2", "10.0.1.1"), 0),
                  frame(echo_request("10.0.100.2", "10.0.100.1"), 100)});
  EXPECT_EQ(g.dp(dp_counter::drop_vlan_unknown), 1u);
  ASSERT_EQ(g.sent.size(), 2u);
  // The untagged burst runs first, then the subinterface's.
  EXPECT_EQ(vid_of(g.sent[0].second), 0);
  EXPECT_EQ(ip_of(g.sent[0].second)->src_addr, rte_cpu_to_be_32(ip("10.0.1.1")));
  EXPECT_EQ(vid_of(g.sent[1].second), 100);
  EXPECT_EQ(ip_of(g.sent[1].second)->src_addr, rte_cpu_to_be_32(ip("10.0.100.1")));
}

TEST_F(VlanSubifTest, TheRulesetSeesTheSubinterfaceAsIifname) {
  ASSERT_TRUE(load_ruleset_text(*g.gw, R"(table ip f {
  chain fwd {
    type filter hook forward priority filter; policy accept;
    iifname "lan.100" udp dport 53 counter drop
  }
})",
                                "vlan.nft"));
  g.burst(k_lan, {frame(udp("10.0.100.2", 4000, "10.0.2.2", 53), 100)});
  EXPECT_TRUE(g.sent.empty());
  g.burst(k_lan, {frame(udp("10.0.1.2", 4000, "10.0.2.2", 53), 0)});  // from lan itself: passes
  ASSERT_EQ(g.sent.size(), 1u);
  EXPECT_EQ(g.dp(dp_counter::drop_hook), 1u);
}

TEST_F(VlanSubifTest, NothingLeftInThePool) {
  const unsigned in_use = rte_mempool_in_use_count(g.gw->mbuf_pool);
  g.burst(k_lan, {frame(echo_request("10.0.100.2", "10.0.100.1"), 100),
                  frame(echo_request("10.0.100.2", "10.0.100.1"), 300),
                  frame(udp("10.0.100.2", 1, "10.0.2.2", 2), 100)});
  g.clear_sent();
  EXPECT_EQ(rte_mempool_in_use_count(g.gw->mbuf_pool), in_use);
}

}  // namespace
}  // namespace ctgate::test
