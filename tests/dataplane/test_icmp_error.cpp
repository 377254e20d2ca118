// ICMP errors from the gateway (lib/dataplane/icmp_error.cpp): Linux's
// icmp_send rules for what is answered, what is quoted, where it comes from,
// the per-destination and global rate limits, and the trip through LOCAL_OUT
// and POST_ROUTING, where conntrack marks the error RELATED.
#include <rte_icmp.h>
#include <rte_ip.h>

#include "common/test_env.h"
#include "dataplane/icmp_error.h"

namespace ctgate::test {
namespace {

struct icmp_seen {
  uint16_t port = 0;
  uint32_t src = 0, dst = 0;  // host order
  uint8_t tos = 0;
  uint8_t type = 0, code = 0;
  uint16_t mtu = 0;  // the second word's low half
  std::vector<uint8_t> quote;
  bool checksums_ok = false;
};

std::vector<icmp_seen> icmp_sent(test_gateway& t) {
  std::vector<icmp_seen> out;
  for (auto& [port, m] : t.sent) {
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    if (ip->next_proto_id != IPPROTO_ICMP) continue;
    const auto* ic = reinterpret_cast<const uint8_t*>(ip + 1);
    const size_t icmp_len = rte_be_to_cpu_16(ip->total_length) - sizeof(rte_ipv4_hdr);
    icmp_seen s;
    s.port = port;
    s.src = rte_be_to_cpu_32(ip->src_addr);
    s.dst = rte_be_to_cpu_32(ip->dst_addr);
    s.tos = ip->type_of_service;
    s.type = ic[0];
    s.code = ic[1];
    s.mtu = static_cast<uint16_t>(ic[6] << 8 | ic[7]);
    s.quote.assign(ic + 8, ic + icmp_len);
    s.checksums_ok = rte_ipv4_cksum(ip) == 0 && rte_raw_cksum(ic, icmp_len) == 0xffff;
    out.push_back(s);
  }
  return out;
}

TEST(IcmpError, TtlExpiryAnswersWithTimeExceededQuotingThePacket) {
  test_gateway t;
  pkt_spec s = udp("10.0.1.2", 33434, "10.0.2.2", 33435);
  s.ttl = 1;
  s.payload_len = 32;
  t.send(0, s);
  auto got = icmp_sent(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].port, 0);
  EXPECT_EQ(got[0].src, ip("10.0.1.1"));  // the port it arrived on
  EXPECT_EQ(got[0].dst, ip("10.0.1.2"));
  EXPECT_EQ(got[0].type, 11);
  EXPECT_EQ(got[0].code, 0);
  EXPECT_EQ(got[0].tos, 0xc0);
  EXPECT_TRUE(got[0].checksums_ok);
  // The whole datagram as received: TTL still 1.
  ASSERT_EQ(got[0].quote.size(), 20u + 8 + 32);
  EXPECT_EQ(got[0].quote[8], 1);
  EXPECT_EQ(t.dp(dp_counter::icmp_error_sent), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_ttl_exceeded), 1u);
}

TEST(IcmpError, QuoteStopsAt576Bytes) {
  test_gateway t;
  pkt_spec s = udp("10.0.1.2", 1, "10.0.2.2", 2);
  s.ttl = 1;
  s.payload_len = 1000;
  t.send(0, s);
  auto got = icmp_sent(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].quote.size(), 576u - 20 - 8);
}

TEST(IcmpError, OversizedDfPacketGetsFragmentationNeededWithTheMtu) {
  gateway_config c = default_config();
  c.ports[1].mtu = 1280;
  test_gateway t(c);
  t.gw->ports[1].mtu = 1280;
  pkt_spec df = tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_ACK);
  df.payload_len = 1400;
  df.frag = 0x4000;
  t.send(0, df);
  pkt_spec no_df = df;
  no_df.frag = 0;
  t.send(0, no_df);  // fragmented on its way out (test_defrag.cpp)
  auto got = icmp_sent(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, 3);
  EXPECT_EQ(got[0].code, 4);
  EXPECT_EQ(got[0].mtu, 1280);
  EXPECT_EQ(t.dp(dp_counter::drop_mtu_exceeded), 1u);
  EXPECT_EQ(t.dp(dp_counter::frag_oks), 1u);
  EXPECT_EQ(t.dp(dp_counter::frag_creates), 2u);
}

TEST(IcmpError, NoRouteGetsNetUnreachable) {
  test_gateway t;
  t.send(0, udp("10.0.1.2", 1, "192.0.2.9", 2));
  auto got = icmp_sent(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, 3);
  EXPECT_EQ(got[0].code, 0);
  EXPECT_EQ(t.dp(dp_counter::drop_no_route), 1u);
}

TEST(IcmpError, NeverAboutErrorsLaterFragmentsOrGroupFrames) {
  test_gateway t;
  // An ICMP error whose TTL runs out.
  pkt_spec err;
  err.src = ip("10.0.1.2");
  err.dst = ip("10.0.2.2");
  err.proto = IPPROTO_ICMP;
  err.icmp_type = 3;
  err.icmp_code = 1;
  err.payload_len = 28;
  err.ttl = 1;
  t.send(0, err);
  // A later fragment.
  pkt_spec frag = udp("10.0.1.2", 1, "10.0.2.2", 2);
  frag.ttl = 1;
  frag.frag = 185;  // offset 1480
  t.send(0, frag);
  // A frame to the L2 broadcast address (never forwarded, never answered).
  pkt_spec bcast = udp("10.0.1.2", 1, "192.0.2.9", 2);
  parse_mac("ff:ff:ff:ff:ff:ff", bcast.dst_mac.b);
  t.send(0, bcast);
  // An echo request whose TTL runs out is answered: queries are not errors.
  pkt_spec echo = err;
  echo.icmp_type = 8;
  echo.icmp_code = 0;
  t.send(0, echo);
  auto got = icmp_sent(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].quote[20], 8);
  EXPECT_EQ(t.dp(dp_counter::icmp_error_not_allowed), 3u);
}

TEST(IcmpError, PerDestinationBurstOfSixThenOnePerRatelimit) {
  test_gateway t;
  pkt_spec s = udp("10.0.1.2", 1, "10.0.2.2", 2);
  s.ttl = 1;
  for (int i = 0; i < 10; i++) t.send(0, s);
  EXPECT_EQ(icmp_sent(t).size(), 6u);
  EXPECT_EQ(t.dp(dp_counter::icmp_error_ratelimited), 4u);
  // Another source has its own bucket.
  pkt_spec other = udp("10.0.1.3", 1, "10.0.2.2", 2);
  other.ttl = 1;
  t.send(0, other);
  EXPECT_EQ(icmp_sent(t).size(), 7u);
  t.w->now_ms += 1000;
  t.send(0, s);
  t.send(0, s);
  EXPECT_EQ(icmp_sent(t).size(), 8u);  // one more per icmp.ratelimit_ms
  // Fragmentation needed is never limited: path-MTU discovery must work.
  pkt_spec big = tcp("10.0.1.2", 1, "10.0.2.2", 2, TCPF_ACK);
  big.payload_len = 1480;
  big.frag = 0x4000;
  for (int i = 0; i < 10; i++) t.send(0, big);
  EXPECT_EQ(icmp_sent(t).size(), 18u);
}

TEST(IcmpError, RatemaskZeroLimitsNothing) {
  gateway_config c = default_config();
  c.icmp.ratemask = 0;
  test_gateway t(c);
  pkt_spec s = udp("10.0.1.2", 1, "10.0.2.2", 2);
  s.ttl = 1;
  for (int i = 0; i < 20; i++) t.send(0, s);
  EXPECT_EQ(icmp_sent(t).size(), 20u);
}

TEST(IcmpLimits, PeerBucketIsLinuxsXrlim) {
  icmp_peer p;
  const uint32_t a = 0x0a000102;
  int ok = 0;
  for (int i = 0; i < 10; i++) ok += icmp_peer_allow(p, a, 5000, 1000);
  EXPECT_EQ(ok, 6);
  EXPECT_FALSE(icmp_peer_allow(p, a, 5999, 1000));
  EXPECT_TRUE(icmp_peer_allow(p, a, 6000, 1000));
  EXPECT_TRUE(icmp_peer_allow(p, a, 6000, 0));  // ratelimit 0: unlimited
}

TEST(IcmpLimits, GlobalBucketRefillsAtMsgsPerSecond) {
  icmp_global_bucket b;
  int ok = 0;
  for (int i = 0; i < 100; i++) ok += icmp_global_allow(b, 10000, 1000, 50, 1);
  EXPECT_EQ(ok, 50);
  EXPECT_FALSE(icmp_global_allow(b, 10010, 1000, 50, 1));  // refills every 20 ms at most
  ok = 0;
  for (int i = 0; i < 100; i++) ok += icmp_global_allow(b, 10020, 1000, 50, 1);
  EXPECT_EQ(ok, 20);  // 1000/s for 20 ms
}

TEST(IcmpError, ErrorAboutATrackedFlowIsRelatedThroughOutput) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  t.send(0, udp("10.0.1.2", 5000, "10.0.2.2", 53));
  t.send(1, udp("10.0.2.2", 53, "10.0.1.2", 5000));
  t.clear_sent();
  const uint64_t related = t.ct_counter(ct::ct_counter::related);
  pkt_spec late = udp("10.0.1.2", 5000, "10.0.2.2", 53);
  late.ttl = 1;
  t.send(0, late);
  auto got = icmp_sent(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::related), related + 1);
  // A new flow's packet: its entry was never confirmed, so the error quoting
  // it is INVALID to conntrack, as in Linux (it still leaves: no rule drops it).
  pkt_spec fresh = udp("10.0.1.2", 5001, "10.0.2.2", 53);
  fresh.ttl = 1;
  t.send(0, fresh);
  EXPECT_EQ(icmp_sent(t).size(), 2u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_icmp_error), 1u);
  EXPECT_EQ(t.gw->ct.table->count(), 1);
}

}  // namespace
}  // namespace ctgate::test
