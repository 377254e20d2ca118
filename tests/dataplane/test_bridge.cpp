// Switching (stage_bridge.cpp): learning, flooding in the VLAN, tags pushed and popped on
// egress, isolation between VLANs, moves, ageing, and a full FDB. Four members:
//   p0 access VLAN 10, p1 access VLAN 10, p2 trunk (VLANs 10 and 20, no native), p3 access 20;
// and a routed port, wan, which keeps routing.
#include <rte_ether.h>

#include <cstring>

#include "common/test_env.h"
#include "control/ports.h"

namespace ctgate::test {
namespace {

gateway_config bridge_config_4() {
  gateway_config c = default_config();
  c.ports.clear();
  for (const char* n : {"p0", "p1", "p2", "p3"}) {
    port_config p;
    p.name = n;
    p.bridge_member = true;
    c.ports.push_back(p);
  }
  port_config wan;
  wan.name = "wan";
  wan.address = {ip("10.0.2.1"), 24};
  c.ports.push_back(wan);
  c.neighbors.clear();
  c.neighbors.push_back({ip("10.0.2.2"), "02:00:00:00:02:12", "wan", 0});
  bridge_config br;
  br.name = "br0";
  br.ports = {{.port = "p0", .pvid = 10},
              {.port = "p1", .pvid = 10},
              {.port = "p2", .pvid = 0, .vlans = {10, 20}},
              {.port = "p3", .pvid = 20}};
  c.bridges = {br};
  return c;
}

using bytes = std::vector<uint8_t>;

bytes host(uint8_t n) { return {0x02, 0x00, 0x00, 0x00, 0x0b, n}; }
const bytes k_broadcast(6, 0xff);

// An Ethernet frame: dst, src, an 802.1Q tag if vid != 0, IPv4's EtherType, `payload` bytes.
bytes frame(const bytes& dst, const bytes& src, uint16_t vid, size_t payload = 46) {
  bytes f(dst);
  f.insert(f.end(), src.begin(), src.end());
  if (vid != 0) f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(vid >> 8), uint8_t(vid)});
  f.insert(f.end(), {0x08, 0x00});
  for (size_t i = 0; i < payload; i++) f.push_back(static_cast<uint8_t>(i));
  return f;
}

class BridgeTest : public ::testing::Test {
 protected:
  test_gateway g{bridge_config_4()};

  rte_mbuf* mbuf(const bytes& f) {
    rte_mbuf* m = rte_pktmbuf_alloc(g.gw->mbuf_pool);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
    return m;
  }
  void in(uint16_t port, const bytes& f) { g.burst(port, {mbuf(f)}); }
  // What left, by port, read whole (a flooded frame in its other form is two segments).
  std::map<uint16_t, bytes> out() {
    std::map<uint16_t, bytes> o;
    for (auto& [port, m] : g.sent) {
      bytes b(rte_pktmbuf_pkt_len(m));
      const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(b.size()), b.data());
      if (p != b.data()) std::memcpy(b.data(), p, b.size());
      EXPECT_EQ(o.count(port), 0u) << "two frames out of port " << port;
      o[port] = b;
    }
    g.clear_sent();
    return o;
  }
  fdb& table() { return *g.gw->bridges[0].table; }
};

TEST_F(BridgeTest, FloodsUnknownInTheVlanTaggingOnTheTrunk) {
  const bytes f = frame(host(3), host(1), 0);
  in(0, f);
  auto o = out();
  ASSERT_EQ(o.size(), 2u);                       // p1 and p2: not back to p0, not to p3 (VLAN 20)
  EXPECT_EQ(o[1], f);                            // access: as it came
  EXPECT_EQ(o[2], frame(host(3), host(1), 10));  // trunk: tagged 10
  EXPECT_EQ(g.dp(dp_counter::bridge_flooded), 1u);
  EXPECT_EQ(g.dp(dp_counter::fdb_learned), 1u);
  EXPECT_EQ(table().lookup(10, host(1).data()), 0);
  EXPECT_EQ(g.w->port_tx[1].get(), 1u);
  EXPECT_EQ(g.w->port_tx[2].get(), 1u);
}

// From the trunk, a flood leaves both access ports untagged: one retagged header, shared. Each
// TX frees what it sent segment by segment; every mbuf must go back to the pool, once.
TEST_F(BridgeTest, ASharedRetaggedFloodIsFreedOnce) {
  const unsigned in_use = rte_mempool_in_use_count(g.gw->mbuf_pool);
  in(2, frame(k_broadcast, host(3), 10, 1000));
  auto o = out();  // frees the frames as the ports' TX would
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0], frame(k_broadcast, host(3), 0, 1000));
  EXPECT_EQ(o[1], frame(k_broadcast, host(3), 0, 1000));
  EXPECT_EQ(rte_mempool_in_use_count(g.gw->mbuf_pool), in_use);
  // And a frame from an access port to both others in its form and the trunk in the other.
  in(0, frame(k_broadcast, host(1), 0, 1000));
  EXPECT_EQ(out().size(), 2u);
  EXPECT_EQ(rte_mempool_in_use_count(g.gw->mbuf_pool), in_use);
}

TEST_F(BridgeTest, LearnedDestinationsGetOneFrameWithTheirTagging) {
  in(0, frame(k_broadcast, host(1), 0));  // h1 on p0, VLAN 10
  out();
  // h3 behind the trunk answers tagged 10: to p0 alone, untagged.
  in(2, frame(host(1), host(3), 10));
  auto o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0], frame(host(1), host(3), 0));
  // And h1 to h3: to the trunk alone, tagged.
  in(0, frame(host(3), host(1), 0));
  o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[2], frame(host(3), host(1), 10));
  EXPECT_EQ(g.dp(dp_counter::bridged), 2u);
}

TEST_F(BridgeTest, VlansAreIsolated) {
  // h4 on p3 (VLAN 20) broadcasts: only the trunk carries 20.
  in(3, frame(k_broadcast, host(4), 0));
  auto o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[2], frame(k_broadcast, host(4), 20));
  // h1's MAC is unknown in VLAN 20 even once learned in 10: a frame to it from VLAN 20 floods
  // in 20 only.
  in(0, frame(k_broadcast, host(1), 0));
  out();
  in(2, frame(host(1), host(5), 20));
  o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[3], frame(host(1), host(5), 0));
  // A VLAN the port does not carry, and untagged on a trunk with no native VLAN: dropped.
  in(2, frame(k_broadcast, host(6), 30));
  in(2, frame(k_broadcast, host(6), 0));
  in(0, frame(k_broadcast, host(6), 20));  // access p0 is VLAN 10 only
  EXPECT_TRUE(out().empty());
  EXPECT_EQ(g.dp(dp_counter::drop_bridge_vlan), 3u);
}

TEST_F(BridgeTest, PriorityTaggedFramesBelongToThePvid) {
  in(0, frame(k_broadcast, host(1), 0));
  out();
  bytes prio = frame(host(1), host(2), 0);
  prio.insert(prio.begin() + 12, {0x81, 0x00, 0xa0, 0x00});  // PCP 5, VID 0
  in(1, prio);
  auto o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0], frame(host(1), host(2), 0));
}

TEST_F(BridgeTest, DropsWhatABridgeNeverForwards) {
  in(0, frame(k_broadcast, host(1), 0));
  out();
  // To a MAC learned on the ingress port.
  in(0, frame(host(1), host(2), 0));
  // From a group or zero source.
  in(0, frame(k_broadcast, k_broadcast, 0));
  in(0, frame(k_broadcast, bytes(6, 0), 0));
  // STP's group address.
  in(0, frame({0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}, host(2), 0));
  EXPECT_TRUE(out().empty());
  EXPECT_EQ(g.dp(dp_counter::drop_bridge_same_port), 1u);
  EXPECT_EQ(g.dp(dp_counter::drop_bridge_bad_source), 2u);
  EXPECT_EQ(g.dp(dp_counter::drop_bridge_link_local), 1u);
}

TEST_F(BridgeTest, MacMovesAndAges) {
  in(0, frame(k_broadcast, host(1), 0));
  out();
  g.w->now_ms = 5000;
  in(1, frame(k_broadcast, host(1), 0));  // h1 now on p1
  out();
  EXPECT_EQ(g.dp(dp_counter::fdb_moved), 1u);
  in(0, frame(host(1), host(2), 0));
  auto o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o.count(1), 1u);
  // Ageing by the control thread's clock: not seen for ageing_time_s (300), gone; frames to
  // it flood again.
  EXPECT_EQ(bridges_age(*g.gw, 5000 + 299 * 1000), 0u);
  EXPECT_EQ(bridges_age(*g.gw, 5000 + 300 * 1000), 2u);  // h1 and h2
  in(0, frame(host(1), host(2), 0));
  EXPECT_EQ(out().size(), 2u);
}

TEST(Bridge, FullFdbFloodsAndHoldsItsMemory) {
  gateway_config c = bridge_config_4();
  c.bridges[0].max_entries = 16;
  test_gateway g(c);
  fdb& t = *g.gw->bridges[0].table;
  const size_t bytes_before = t.memory_bytes();
  std::vector<rte_mbuf*> burst;
  for (uint32_t i = 0; i < 200; i++) {
    bytes f =
        frame(host(200), {0x02, 0x11, 0x22, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)}, 0);
    rte_mbuf* m = rte_pktmbuf_alloc(g.gw->mbuf_pool);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
    burst.push_back(m);
  }
  g.burst(0, burst);
  EXPECT_EQ(t.count(), 16u);
  EXPECT_EQ(t.memory_bytes(), bytes_before);
  EXPECT_EQ(g.dp(dp_counter::fdb_learned), 16u);
  EXPECT_EQ(g.dp(dp_counter::fdb_not_learned), 184u);
  // Every frame still went out (flooded to p1 and the trunk).
  EXPECT_EQ(g.dp(dp_counter::bridge_flooded), 200u);
  EXPECT_EQ(g.sent.size(), 400u);
  g.clear_sent();
  EXPECT_EQ(rte_mempool_in_use_count(g.gw->mbuf_pool), 0u);
}

TEST(Bridge, StaticEntriesFromTheConfig) {
  gateway_config c = bridge_config_4();
  c.bridges[0].fdb = {{.mac = "02:00:00:00:0b:09", .vlan = 20, .port = "p3"}};
  test_gateway g(c);
  EXPECT_EQ(g.gw->bridges[0].table->lookup(20, host(9).data()), 3);
  // Learning does not move it.
  rte_mbuf* m = rte_pktmbuf_alloc(g.gw->mbuf_pool);
  const bytes f = frame(k_broadcast, host(9), 20);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
  g.burst(2, {m});
  EXPECT_EQ(g.gw->bridges[0].table->lookup(20, host(9).data()), 3);
  EXPECT_EQ(g.dp(dp_counter::fdb_not_learned), 1u);
}

TEST_F(BridgeTest, RoutedPortsStillRoute) {
  g.send(4, udp("10.0.2.2", 1000, "10.0.2.1", 7));  // to the gateway: no service, dropped
  EXPECT_EQ(g.dp(dp_counter::local_in), 1u);
  EXPECT_EQ(g.dp(dp_counter::bridged) + g.dp(dp_counter::bridge_flooded), 0u);
}

// --- the bridge family's hooks (a bridge table, nf_conntrack_bridge) ----------------------------

// An IPv4 frame of `s` from `src` to `dst`, tagged `vid` unless 0.
bytes ip_frame(const bytes& dst, const bytes& src, uint16_t vid, pkt_spec s) {
  std::memcpy(s.dst_mac.b, dst.data(), 6);
  std::memcpy(s.src_mac.b, src.data(), 6);
  bytes f(256);
  f.resize(build_frame(s, f.data(), f.size()));
  if (vid != 0)
    f.insert(f.begin() + 12, {0x81, 0x00, static_cast<uint8_t>(vid >> 8), uint8_t(vid)});
  return f;
}

// An ARP request from `src`, broadcast.
bytes arp_frame(const bytes& src) {
  bytes f(k_broadcast);
  f.insert(f.end(), src.begin(), src.end());
  f.insert(f.end(), {0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1});
  f.insert(f.end(), src.begin(), src.end());
  f.insert(f.end(), 18, 0);
  f.resize(60);
  return f;
}

// A transparent stateful firewall between p0 (inside) and p1 (outside), both VLAN 10: what
// p0's hosts open is let back in, nothing else enters.
constexpr const char* k_stateful_bridge = R"(table bridge filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ether type arp accept
    ct state established,related accept
    ct state invalid drop
    iifname "p0" ip saddr 10.10.0.0/24 accept
  }
}
)";

TEST_F(BridgeTest, StatefulFirewallBetweenSegments) {
  ASSERT_TRUE(load_ruleset_text(*g.gw, k_stateful_bridge, "bridge.nft"));
  in(0, arp_frame(host(1)));    // h1 on p0, h2 on p1: learned, and ARP passes both ways
  EXPECT_EQ(out().size(), 2u);  // to the other access port and the trunk
  in(1, arp_frame(host(2)));
  EXPECT_EQ(out().size(), 2u);
  const pkt_spec ask = udp("10.10.0.1", 4000, "10.10.0.2", 53);
  const pkt_spec answer = udp("10.10.0.2", 53, "10.10.0.1", 4000);
  in(1, ip_frame(host(1), host(2), 0, answer));  // unsolicited from outside: dropped
  EXPECT_TRUE(out().empty());
  in(0, ip_frame(host(2), host(1), 0, ask));  // from inside: out, and tracked
  auto o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[1], ip_frame(host(2), host(1), 0, ask));
  in(1, ip_frame(host(1), host(2), 0, answer));  // the answer: established
  o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0], ip_frame(host(1), host(2), 0, answer));
  const auto lines = g.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("udp      17 "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("src=10.10.0.1 dst=10.10.0.2 sport=4000 dport=53 src=10.10.0.2 "
                          "dst=10.10.0.1 sport=53 dport=4000"),
            std::string::npos)
      << lines[0];
  EXPECT_EQ(g.dp(dp_counter::drop_hook), 1u);
  EXPECT_EQ(g.w->ct.n_unconfirmed, 0u);
  EXPECT_EQ(rte_mempool_in_use_count(g.gw->mbuf_pool), 0u);
}

// Linux's nft_ct_get: a frame conntrack never saw (ARP) is `ct state invalid`, so a rule that
// drops invalid before accepting ARP drops it. Tagged IP frames are tracked past their tag.
TEST_F(BridgeTest, NonIpFramesHaveNoConnectionAndTagsAreSkipped) {
  ASSERT_TRUE(load_ruleset_text(*g.gw, R"(table bridge filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state invalid drop
  }
}
)",
                                "bridge.nft"));
  in(0, arp_frame(host(1)));
  EXPECT_TRUE(out().empty());
  EXPECT_EQ(g.dp(dp_counter::drop_hook), 1u);
  // The bridge learned h1 all the same: it learns after prerouting, before forward. So a
  // frame from the trunk, tagged 10, goes to p0 alone, untagged.
  EXPECT_EQ(table().lookup(10, host(1).data()), 0);
  const pkt_spec s = udp("10.10.0.3", 5000, "10.10.0.1", 6000);
  in(2, ip_frame(host(1), host(3), 10, s));
  auto o = out();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0], ip_frame(host(1), host(3), 0, s));
  ASSERT_EQ(g.conntrack_lines().size(), 1u);
  EXPECT_EQ(rte_mempool_in_use_count(g.gw->mbuf_pool), 0u);
}

// What the bridge knows is matched: the VLAN (a PVID for an untagged frame), the MACs, the
// bridge's name; and the hooks are listed under the bridge family.
TEST_F(BridgeTest, BridgeMatchesAndTheHookListing) {
  ASSERT_TRUE(load_ruleset_text(*g.gw, R"(table bridge filter {
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
    ether saddr 02:00:00:00:0b:05 drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    meta ibrname "br0" vlan id 20 ether type ip drop
  }
}
)",
                                "bridge.nft"));
  const pkt_spec s = udp("10.10.0.4", 1, "10.10.0.9", 2);
  in(3, ip_frame(k_broadcast, host(4), 0, s));  // VLAN 20 (p3's PVID), IPv4: dropped
  in(3, arp_frame(host(4)));                    // VLAN 20, ARP: flooded to the trunk
  in(0, ip_frame(k_broadcast, host(1), 0, s));  // VLAN 10: flooded to p1 and the trunk
  in(1, ip_frame(k_broadcast, host(5), 0, s));  // h5's MAC: dropped in prerouting, not learned
  EXPECT_EQ(g.sent.size(), 3u);
  g.clear_sent();
  EXPECT_EQ(g.dp(dp_counter::drop_hook), 2u);
  EXPECT_EQ(table().lookup(10, host(5).data()), -1);
  EXPECT_EQ(table().lookup(20, host(4).data()), 3);
  int bridge_callbacks = 0;
  for (const auto& e : g.gw->hooks->list())
    if (e.families == HOOK_FAM_BRIDGE) bridge_callbacks++;
  EXPECT_EQ(bridge_callbacks, 2);  // the two chains; no ct expression, so no conntrack
  EXPECT_EQ(g.w->ct.n_unconfirmed, 0u);
}

}  // namespace
}  // namespace ctgate::test
