// Neighbour resolution (lib/dataplane/neigh_queue.cpp, stage_arp.cpp): the
// packets waiting for an unresolved next hop are kept and sent when its ARP
// reply arrives, requests are retried, the queue is bounded, and a
// neighbour that never answers gets its packets answered with host
// unreachable; a stale neighbour is probed; gratuitous ARP updates a known one.
#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include "common/test_env.h"

namespace ctgate::test {
namespace {

// An ARP frame arriving on `port`.
rte_mbuf* arp_frame(test_gateway& t, uint16_t op, const mac_addr& sha, const char* sip,
                    const char* tip, const mac_addr& dst) {
  rte_mbuf* m = rte_pktmbuf_alloc(t.gw->mbuf_pool);
  size_t len = build_arp(op, sha, ip(sip), op == 1 ? mac_addr{} : dst, ip(tip), dst,
                         rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m));
  m->data_len = m->pkt_len = static_cast<uint32_t>(len);
  return m;
}

size_t count_arp(test_gateway& t, uint16_t op) {
  size_t n = 0;
  for (auto& [port, m] : t.sent) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    if (eth->ether_type != htons(RTE_ETHER_TYPE_ARP)) continue;
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    n += arp->arp_opcode == htons(op);
  }
  return n;
}

std::vector<rte_mbuf*> ipv4_sent(test_gateway& t, uint8_t proto) {
  std::vector<rte_mbuf*> out;
  for (auto& [port, m] : t.sent) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    if (eth->ether_type != htons(RTE_ETHER_TYPE_IPV4)) continue;
    if (reinterpret_cast<rte_ipv4_hdr*>(eth + 1)->next_proto_id == proto) out.push_back(m);
  }
  return out;
}

TEST(NeighQueue, FirstPacketsWaitForTheReplyAndLeaveInOrder) {
  test_gateway t;
  for (uint16_t i = 0; i < 3; i++) {
    pkt_spec s = udp("10.0.1.2", 1000, "10.0.2.200", 53);
    s.ip_id = static_cast<uint16_t>(100 + i);
    t.send(0, s);
  }
  EXPECT_EQ(count_arp(t, RTE_ARP_OP_REQUEST), 1u);
  EXPECT_TRUE(ipv4_sent(t, IPPROTO_UDP).empty());
  EXPECT_EQ(t.dp(dp_counter::neigh_queued), 3u);
  t.clear_sent();
  t.burst(
      1, {arp_frame(t, RTE_ARP_OP_REPLY, mac(0x77), "10.0.2.200", "10.0.2.1", t.gw->ports[1].mac)});
  auto out = ipv4_sent(t, IPPROTO_UDP);
  ASSERT_EQ(out.size(), 3u);
  for (uint16_t i = 0; i < 3; i++) {
    auto* eth = rte_pktmbuf_mtod(out[i], rte_ether_hdr*);
    EXPECT_EQ(0, memcmp(eth->dst_addr.addr_bytes, mac(0x77).b, 6));
    EXPECT_EQ(rte_be_to_cpu_16(reinterpret_cast<rte_ipv4_hdr*>(eth + 1)->packet_id), 100 + i);
  }
  EXPECT_EQ(t.dp(dp_counter::neigh_queue_sent), 3u);
  EXPECT_EQ(t.w->n_neigh_waits, 0);
}

TEST(NeighQueue, RetriesThenAnswersHostUnreachable) {
  test_gateway t;
  pkt_spec s = udp("10.0.1.2", 1000, "10.0.2.201", 53);
  t.send(0, s);
  t.send(0, s);
  EXPECT_EQ(count_arp(t, RTE_ARP_OP_REQUEST), 1u);
  for (int i = 0; i < 2; i++) {
    t.w->now_ms += 1000;
    t.tick();
  }
  EXPECT_EQ(count_arp(t, RTE_ARP_OP_REQUEST), 3u);  // arp.mcast_solicit
  EXPECT_TRUE(ipv4_sent(t, IPPROTO_ICMP).empty());
  t.w->now_ms += 1000;
  t.tick();
  auto errs = ipv4_sent(t, IPPROTO_ICMP);
  ASSERT_EQ(errs.size(), 2u);
  auto* ic =
      rte_pktmbuf_mtod_offset(errs[0], rte_icmp_hdr*, sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr));
  EXPECT_EQ(ic->icmp_type, 3);
  EXPECT_EQ(ic->icmp_code, 1);  // host unreachable
  EXPECT_EQ(t.dp(dp_counter::drop_neigh_failed), 2u);
  EXPECT_EQ(t.w->n_neigh_waits, 0);
}

TEST(NeighQueue, BoundedByUnresQlenBytesDroppingTheOldest) {
  gateway_config c = default_config();
  c.arp.unres_qlen_bytes = 3 * 100;
  test_gateway t(c);
  pkt_spec s = udp("10.0.1.2", 1000, "10.0.2.202", 53);
  s.payload_len = 100 - 28;  // 100-byte datagrams (after the Ethernet header: 114 bytes)
  for (int i = 0; i < 5; i++) t.send(0, s);
  EXPECT_EQ(t.dp(dp_counter::neigh_queued), 5u);
  EXPECT_EQ(t.dp(dp_counter::drop_neigh_queue_overflow), 3u);
  EXPECT_EQ(t.w->neigh_waits[0].n, 2);
}

TEST(NeighQueue, GratuitousArpUpdatesOnlyAKnownNeighbour) {
  test_gateway t;
  mac_addr bcast;
  memset(bcast.b, 0xff, 6);
  // 10.0.2.2 is a static neighbour in the test config: never overridden.
  t.burst(1, {arp_frame(t, RTE_ARP_OP_REQUEST, mac(0x42), "10.0.2.2", "10.0.2.2", bcast)});
  mac_addr got;
  ASSERT_TRUE(t.gw->neighbors->lookup(ip("10.0.2.2"), &got));
  EXPECT_NE(0, memcmp(got.b, mac(0x42).b, 6));
  // An unknown sender's gratuitous ARP creates nothing (arp_accept=0).
  t.burst(1, {arp_frame(t, RTE_ARP_OP_REQUEST, mac(0x43), "10.0.2.210", "10.0.2.210", bcast)});
  EXPECT_FALSE(t.gw->neighbors->lookup(ip("10.0.2.210"), &got));
  // A learned neighbour that moves announces its new MAC: taken.
  t.burst(
      1, {arp_frame(t, RTE_ARP_OP_REPLY, mac(0x44), "10.0.2.211", "10.0.2.1", t.gw->ports[1].mac)});
  t.burst(1, {arp_frame(t, RTE_ARP_OP_REQUEST, mac(0x45), "10.0.2.211", "10.0.2.211", bcast)});
  ASSERT_TRUE(t.gw->neighbors->lookup(ip("10.0.2.211"), &got));
  EXPECT_EQ(0, memcmp(got.b, mac(0x45).b, 6));
  EXPECT_EQ(t.dp(dp_counter::arp_neigh_updated), 1u);
}

TEST(NeighQueue, StaleNeighbourIsUsedAndProbedByUnicast) {
  test_gateway t;
  t.burst(
      1, {arp_frame(t, RTE_ARP_OP_REPLY, mac(0x66), "10.0.2.220", "10.0.2.1", t.gw->ports[1].mac)});
  t.w->now_ms += 31000;  // past arp.base_reachable_time_ms
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 1, "10.0.2.220", 2));
  EXPECT_EQ(ipv4_sent(t, IPPROTO_UDP).size(), 1u);  // still sent, to the known MAC
  EXPECT_EQ(t.dp(dp_counter::arp_probe_sent), 1u);
  for (auto& [port, m] : t.sent) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    if (eth->ether_type == htons(RTE_ETHER_TYPE_ARP)) {
      EXPECT_EQ(0, memcmp(eth->dst_addr.addr_bytes, mac(0x66).b, 6));  // unicast
    }
  }
}

}  // namespace
}  // namespace ctgate::test
