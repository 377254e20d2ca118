// The worker pipeline without ports: forwarding, local delivery, ARP, hooks
// and malformed input, one burst at a time.
#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include "common/test_env.h"
#include "packet/parse.h"

namespace ctgate::test {
namespace {

const rte_ipv4_hdr* ip_of(rte_mbuf* m) {
  return rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
}

TEST(Pipeline, ForwardsWithTtlDecrementAndL2Rewrite) {
  test_gateway t;
  pkt_spec s = udp("10.0.1.2", 1234, "10.0.2.2", 53);
  s.ttl = 17;
  s.payload_len = 20;
  t.send(0, s);
  ASSERT_EQ(t.sent.size(), 1u);
  auto [port, m] = t.sent[0];
  EXPECT_EQ(port, 1);
  const rte_ipv4_hdr* ip = ip_of(m);
  EXPECT_EQ(ip->time_to_live, 16);
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);  // checksum over a valid header, field included
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  mac_addr want_dst;
  parse_mac("02:00:00:00:02:12", want_dst.b);
  EXPECT_EQ(0, memcmp(eth->dst_addr.addr_bytes, want_dst.b, 6));
  EXPECT_EQ(0, memcmp(eth->src_addr.addr_bytes, t.gw->ports[1].mac.b, 6));
  EXPECT_EQ(t.dp(dp_counter::forwarded), 1u);
}

TEST(Pipeline, TtlOneAndNoRouteAreDropped) {
  test_gateway t;
  pkt_spec s = udp("10.0.1.2", 1, "10.0.2.2", 2);
  s.ttl = 1;
  t.send(0, s);
  t.send(0, udp("10.0.1.2", 1, "192.0.2.9", 2));
  // Neither is forwarded; the sender hears of both (test_icmp_error.cpp).
  ASSERT_EQ(t.sent.size(), 2u);
  EXPECT_EQ(t.sent[0].first, 0);
  EXPECT_EQ(t.sent[1].first, 0);
  EXPECT_EQ(t.dp(dp_counter::icmp_error_sent), 2u);
  EXPECT_EQ(t.dp(dp_counter::drop_ttl_exceeded), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_no_route), 1u);
}

// Linux never routes a martian source or a subnet broadcast, and drops an
// oversized DF datagram in ip_forward, before FORWARD: no flow is confirmed
// (the sender only hears "fragmentation needed").
TEST(Pipeline, MartiansBroadcastsAndMtuAreDroppedBeforeForward) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  t.send(0, udp("127.0.0.1", 1, "10.0.2.2", 2));
  t.send(0, udp("10.0.2.1", 1, "10.0.2.2", 2));  // our own address as source
  t.send(0, udp("10.0.1.2", 1, "10.0.2.255", 2));
  t.send(0, udp("10.0.1.2", 1, "10.0.2.0", 2));
  pkt_spec big = udp("10.0.1.2", 1, "10.0.2.2", 2);
  big.payload_len = 1500 - 28 + 1;
  big.frag = 0x4000;  // DF
  t.send(0, big);
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.dp(dp_counter::icmp_error_sent), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_martian_source), 2u);
  EXPECT_EQ(t.dp(dp_counter::drop_broadcast), 2u);
  EXPECT_EQ(t.dp(dp_counter::drop_mtu_exceeded), 1u);
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_EQ(t.gw->ct.table->count(), 0);
}

// The NIC's L4 checksum verdict is taken where it gave one: GOOD passes whatever the field
// holds, BAD is INVALID however right the field is, UNKNOWN is checked in software, and so is
// NONE (the field not filled in: Linux's CHECKSUM_PARTIAL) when the field is not a pseudo
// header's sum to fill in.
TEST(Pipeline, NicChecksumVerdictIsTaken) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  struct verdict_case {
    uint64_t flag;
    bool corrupt;  // the UDP checksum field
    bool tracked;
  };
  const verdict_case cases[] = {
      // NONE with a field that is not the pseudo header's sum (hinic's wire packets) is checked
      // as it stands; a partial one is filled in (test_rx_checksum.cpp).
      {RTE_MBUF_F_RX_L4_CKSUM_GOOD, true, true},     {RTE_MBUF_F_RX_L4_CKSUM_NONE, true, false},
      {RTE_MBUF_F_RX_L4_CKSUM_NONE, false, true},    {RTE_MBUF_F_RX_L4_CKSUM_BAD, false, false},
      {RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN, true, false}, {RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN, false, true}};
  uint16_t sport = 2000;
  uint64_t invalid = 0;
  int flows = 0;
  for (const auto& [flag, corrupt, tracked] : cases) {
    rte_mbuf* m = t.make(udp("10.0.1.2", sport++, "10.0.2.2", 53));
    if (corrupt) rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 20 + 6)[0] ^= 0x55;
    m->ol_flags |= flag;
    t.burst(0, {m});
    if (tracked)
      flows++;
    else
      invalid++;
    EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), invalid)
        << std::hex << flag << " corrupt " << corrupt;
    EXPECT_EQ(t.gw->ct.table->count(), flows) << std::hex << flag << " corrupt " << corrupt;
  }
}

// nf_conntrack_checksum: a bad L4 checksum makes the packet INVALID (no
// entry); ICMP errors about a tracked flow are RELATED, others INVALID.
TEST(Pipeline, ChecksumsAndIcmpErrors) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  rte_mbuf* bad = t.make(udp("10.0.1.2", 1000, "10.0.2.2", 53));
  rte_pktmbuf_mtod_offset(bad, uint8_t*, 14 + 20 + 6)[0] ^= 0x55;  // corrupt the UDP checksum
  t.burst(0, {bad});
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), 1u);

  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));  // a tracked flow
  // The server's port unreachable quotes that datagram (IP header + 8 bytes).
  rte_mbuf* q = t.make(udp("10.0.1.2", 1000, "10.0.2.2", 53));
  uint8_t quote[28];
  memcpy(quote, rte_pktmbuf_mtod_offset(q, uint8_t*, 14), 28);
  rte_pktmbuf_free(q);
  pkt_spec e;
  e.src = ip("10.0.2.2");
  e.dst = ip("10.0.1.2");
  e.proto = IPPROTO_ICMP;
  e.icmp_type = 3;
  e.icmp_code = 3;
  e.payload_len = 28;
  rte_mbuf* err = t.make(e);
  uint8_t* icmp = rte_pktmbuf_mtod_offset(err, uint8_t*, 14 + 20);
  memcpy(icmp + 8, quote, 28);
  icmp[2] = icmp[3] = 0;
  uint16_t ck = static_cast<uint16_t>(~rte_raw_cksum(icmp, 36));
  memcpy(icmp + 2, &ck, 2);
  t.burst(1, {err});
  EXPECT_EQ(t.ct_counter(ct::ct_counter::related), 1u);
  // The same error quoting an unknown flow is INVALID.
  rte_mbuf* stray = t.make(e);
  t.burst(1, {stray});
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_icmp_error), 1u);
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
}

TEST(Pipeline, AnswersEchoToOwnAddress) {
  test_gateway t;
  pkt_spec s = echo_request("10.0.1.2", "10.0.1.1", 56);
  s.icmp_id = 77;
  s.icmp_seq = 3;
  t.send(0, s);
  ASSERT_EQ(t.sent.size(), 1u);
  auto [port, m] = t.sent[0];
  EXPECT_EQ(port, 0);
  const rte_ipv4_hdr* iph = ip_of(m);
  EXPECT_EQ(iph->src_addr, htonl(ip("10.0.1.1")));
  EXPECT_EQ(iph->dst_addr, htonl(ip("10.0.1.2")));
  auto* icmp = reinterpret_cast<const rte_icmp_hdr*>(iph + 1);
  EXPECT_EQ(icmp->icmp_type, 0);
  EXPECT_EQ(rte_raw_cksum(icmp, 8 + 56), 0xffff);  // valid ICMP checksum
}

// Linux's eth_type_trans and ip_rcv/ip_forward: a unicast frame to another
// host's MAC (a promiscuous port, a switch flooding) is dropped before any
// hook, so it creates no flow; an L2 broadcast or multicast frame is taken
// in but never forwarded; our own address still answers it.
TEST(Pipeline, FramesToOtherHostsAreDroppedAndGroupFramesNotForwarded) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  t.gw->ports[0].filter_mac = true;  // as once the port has a MAC
  pkt_spec to_us = tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_SYN);
  to_us.dst_mac = t.gw->ports[0].mac;
  pkt_spec other = to_us;
  other.sport = 40001;
  parse_mac("02:00:00:00:99:99", other.dst_mac.b);
  pkt_spec bcast = to_us;
  bcast.sport = 40002;
  parse_mac("ff:ff:ff:ff:ff:ff", bcast.dst_mac.b);
  pkt_spec mcast = to_us;
  mcast.sport = 40003;
  parse_mac("01:00:5e:00:00:01", mcast.dst_mac.b);
  t.send(0, other);
  t.send(0, bcast);
  t.send(0, mcast);
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.dp(dp_counter::drop_other_host), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_l2_multicast_forward), 2u);
  EXPECT_TRUE(t.conntrack_lines().empty());
  t.send(0, to_us);
  EXPECT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.conntrack_lines().size(), 1u);

  pkt_spec echo;
  echo.src = ip("10.0.1.2");
  echo.dst = ip("10.0.1.1");
  echo.proto = IPPROTO_ICMP;
  echo.icmp_type = 8;
  echo.payload_len = 8;
  echo.dst_mac = bcast.dst_mac;
  t.clear_sent();
  t.send(0, echo);  // broadcast frame, our unicast address: answered
  EXPECT_EQ(t.sent.size(), 1u);
}

TEST(Pipeline, EchoThroughConntrackIsTracked) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  pkt_spec s;
  s.src = ip("10.0.1.2");
  s.dst = ip("10.0.1.1");
  s.proto = IPPROTO_ICMP;
  s.icmp_type = 8;
  s.icmp_id = 9;
  t.send(0, s);
  auto l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "icmp     1 30 src=10.0.1.2 dst=10.0.1.1 type=8 code=0 id=9 src=10.0.1.1 "
            "dst=10.0.1.2 type=0 code=0 id=9 mark=0 use=1");
}

TEST(Pipeline, ArpRequestForOwnAddressIsAnswered) {
  test_gateway t;
  rte_mbuf* m = rte_pktmbuf_alloc(t.gw->mbuf_pool);
  mac_addr bcast;
  memset(bcast.b, 0xff, 6);
  size_t len = build_arp(1, mac(0x55), ip("10.0.1.77"), mac_addr{}, ip("10.0.1.1"), bcast,
                         rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m));
  m->data_len = m->pkt_len = static_cast<uint32_t>(len);
  t.burst(0, {m});
  ASSERT_EQ(t.sent.size(), 1u);
  auto* arp = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_arp_hdr*, sizeof(rte_ether_hdr));
  EXPECT_EQ(arp->arp_opcode, htons(RTE_ARP_OP_REPLY));
  EXPECT_EQ(0, memcmp(arp->arp_data.arp_sha.addr_bytes, t.gw->ports[0].mac.b, 6));
  EXPECT_EQ(arp->arp_data.arp_sip, htonl(ip("10.0.1.1")));
  // The requester was learned: traffic to it now resolves.
  mac_addr learned;
  EXPECT_TRUE(t.gw->neighbors->lookup(ip("10.0.1.77"), &learned));
  EXPECT_EQ(0, memcmp(learned.b, mac(0x55).b, 6));
}

// Hooks run in priority order, later registration first among equals.
TEST(Pipeline, HookOrderFollowsLinuxRule) {
  test_gateway t;
  static std::vector<std::string> trace;
  trace.clear();
  struct named {
    static uint16_t fn(const hook_entry& e, worker_ctx&, rte_mbuf**, uint16_t, verdict*) {
      trace.push_back(e.name);
      return 0;
    }
  };
  auto add = [&](int32_t prio, const char* name) {
    ASSERT_TRUE(t.gw->hooks->add(hook_point::prerouting, prio, name, named::fn, nullptr));
  };
  add(0, "filter_a");
  add(-300, "raw");
  add(0, "filter_b");
  add(INT_MAX, "last");
  add(-150, "mangle");
  t.send(0, udp("10.0.1.2", 1, "10.0.2.2", 2));
  EXPECT_EQ(trace, (std::vector<std::string>{"raw", "mangle", "filter_b", "filter_a", "last"}));
}

// Malformed frames: dropped or untracked by reason, never an entry, no leak.
TEST(Pipeline, MalformedCorpusLeavesNoEntriesAndNoLeaks) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  unsigned mbufs_before = rte_mempool_avail_count(t.gw->mbuf_pool);
  unsigned ct_before = rte_mempool_avail_count(t.gw->ct.pool);
  std::vector<rte_mbuf*> corpus;
  auto good = [&](uint8_t proto) {
    pkt_spec s = udp("10.0.1.2", 1000, "10.0.2.2", 2000);
    s.proto = proto;
    s.payload_len = 8;
    rte_mbuf* m = t.make(s);
    return m;
  };
  auto ipb = [](rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, uint8_t*, 14); };
  auto fix = [&](rte_mbuf* m) {  // recompute the IP header checksum after a mutation
    auto* iph = reinterpret_cast<rte_ipv4_hdr*>(ipb(m));
    iph->hdr_checksum = 0;
    iph->hdr_checksum = rte_ipv4_cksum(iph);
  };
  rte_mbuf* m;
  m = good(IPPROTO_UDP);
  m->data_len = m->pkt_len = 10;
  corpus.push_back(m);  // runt
  m = good(IPPROTO_UDP);
  rte_pktmbuf_mtod(m, uint8_t*)[12] = 0x86;
  rte_pktmbuf_mtod(m, uint8_t*)[13] = 0xdd;
  corpus.push_back(m);  // IPv6
  m = good(IPPROTO_UDP);
  m->data_len = m->pkt_len = 14 + 12;
  corpus.push_back(m);  // IP truncated
  m = good(IPPROTO_UDP);
  ipb(m)[0] = 0x55;
  fix(m);
  corpus.push_back(m);  // version 5
  m = good(IPPROTO_UDP);
  ipb(m)[0] = 0x44;
  fix(m);
  corpus.push_back(m);  // IHL 4
  m = good(IPPROTO_UDP);
  ipb(m)[0] = 0x4f;
  corpus.push_back(m);  // IHL beyond frame
  m = good(IPPROTO_UDP);
  ipb(m)[2] = 0x05;
  fix(m);
  corpus.push_back(m);  // total > frame
  m = good(IPPROTO_UDP);
  ipb(m)[2] = 0;
  ipb(m)[3] = 10;
  fix(m);
  corpus.push_back(m);  // total < IHL
  m = good(IPPROTO_UDP);
  ipb(m)[10] ^= 0xff;
  corpus.push_back(m);  // bad checksum
  m = good(IPPROTO_TCP);
  ipb(m)[2] = 0;
  ipb(m)[3] = 30;
  fix(m);
  corpus.push_back(m);  // TCP truncated
  m = good(IPPROTO_TCP);
  ipb(m)[20 + 12] = 0x40;
  corpus.push_back(m);  // TCP doff 4
  m = good(IPPROTO_TCP);
  ipb(m)[20 + 12] = 0xf0;
  corpus.push_back(m);  // doff beyond
  m = good(IPPROTO_UDP);
  ipb(m)[2] = 0;
  ipb(m)[3] = 24;
  fix(m);
  corpus.push_back(m);  // UDP truncated
  m = good(IPPROTO_UDP);
  ipb(m)[20 + 5] = 200;
  corpus.push_back(m);  // UDP length
  m = good(IPPROTO_ICMP);
  ipb(m)[2] = 0;
  ipb(m)[3] = 24;
  fix(m);
  corpus.push_back(m);  // ICMP truncated
  m = good(IPPROTO_UDP);
  ipb(m)[6] = 0x00;
  ipb(m)[7] = 0x10;
  fix(m);
  corpus.push_back(m);  // non-first fragment
  size_t n_bad = corpus.size();
  t.burst(0, corpus);
  // L4-invalid packets are forwarded as INVALID (rules decide); the lone
  // fragment waits for the rest of its datagram. No conntrack entry may
  // exist for any of them.
  EXPECT_TRUE(t.conntrack_lines().empty());
  // Broken L4 headers: INVALID, the truncated ICMP counted as Linux's `error` (its handler's).
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid), 5u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::error), 1u);
  EXPECT_EQ(t.dp(dp_counter::reasm_reqds), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::new_), 0u);
  uint64_t parse_drops =
      t.dp(dp_counter::drop_runt) + t.dp(dp_counter::drop_unsupported_ethertype) +
      t.dp(dp_counter::drop_ip_truncated) + t.dp(dp_counter::drop_ip_bad_version) +
      t.dp(dp_counter::drop_ip_bad_ihl) + t.dp(dp_counter::drop_ip_bad_total_len) +
      t.dp(dp_counter::drop_ip_bad_checksum);
  EXPECT_EQ(parse_drops + t.sent.size() + 1, n_bad);
  EXPECT_EQ(parse_drops, 9u);
  t.clear_sent();
  // The fragment is given up after ipfrag.time_ms, and its mbuf freed.
  t.w->now_ms += t.gw->cfg.ipfrag.time_ms;
  t.tick();
  EXPECT_EQ(t.dp(dp_counter::reasm_timeout), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_frag_timeout), 1u);
  EXPECT_EQ(rte_mempool_avail_count(t.gw->mbuf_pool), mbufs_before);
  EXPECT_EQ(rte_mempool_avail_count(t.gw->ct.pool), ct_before);
}

}  // namespace
}  // namespace ctgate::test
