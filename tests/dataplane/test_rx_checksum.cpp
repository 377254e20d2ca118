// Checksums a sender left to offload (lib/dataplane/rx_checksum.cpp, docs/design/checksums.md):
// a packet whose TCP/UDP checksum field holds only the pseudo header's sum, flagged
// RTE_MBUF_F_RX_L4_CKSUM_NONE as the virtio and vhost PMDs flag a guest's
// VIRTIO_NET_HDR_F_NEEDS_CSUM, leaves with its checksum filled in, routed, translated or
// switched, and conntrack tracks it as Linux tracks CHECKSUM_PARTIAL, where before it was
// INVALID.
#include <rte_ip.h>
#include <rte_tcp.h>

#include <cstring>
#include <vector>

#include "common/test_env.h"
#include "dataplane/ipv6_env.h"
#include "dataplane/rx_checksum.h"
#include "packet/cksum.h"
#include "packet/parse.h"

namespace ctgate::test {
namespace {

constexpr uint16_t k_eth = sizeof(rte_ether_hdr);

// The packet read whole, from the IP header at l3.
std::vector<uint8_t> read_from(const rte_mbuf* m, uint16_t l3) {
  std::vector<uint8_t> b(rte_pktmbuf_pkt_len(m) - l3);
  const void* p = rte_pktmbuf_read(m, l3, static_cast<uint32_t>(b.size()), b.data());
  if (p != b.data()) std::memcpy(b.data(), p, b.size());
  return b;
}

// Writes a pattern over n payload bytes at `off` (the builder leaves payloads zero, which would
// hide a wrongly padded last byte).
void write_pattern(rte_mbuf* m, uint16_t off, uint16_t n) {
  uint8_t* p = rte_pktmbuf_mtod_offset(m, uint8_t*, off);
  for (uint16_t i = 0; i < n; i++) p[i] = static_cast<uint8_t>(i * 37 + 11);
}

// A UDP datagram from the lan client to the wan server with `payload` patterned bytes (its
// checksum computed over zeros: the caller sets the field it means to test).
rte_mbuf* patterned_udp(test_gateway& t, uint16_t payload) {
  pkt_spec s = udp("10.0.1.5", 5000, "10.0.2.2", 53);
  s.payload_len = payload;
  rte_mbuf* m = t.make(s);
  write_pattern(m, k_eth + 28, payload);
  return m;
}

// The IPv4 UDP datagram's checksum made right again after write_pattern.
void set_right_checksum(rte_mbuf* m) {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, k_eth);
  uint8_t* l4 = reinterpret_cast<uint8_t*>(ip) + 20;
  const size_t len = rte_be_to_cpu_16(ip->total_length) - 20u;
  std::memset(l4 + 6, 0, 2);
  const uint16_t c = ipv4_l4_cksum(ip, l4, len, IPPROTO_UDP);
  std::memcpy(l4 + 6, &c, 2);
}

// Whether the TCP/UDP checksum of the IPv4 or IPv6 packet at `ip` verifies.
bool l4_checksum_verifies(const std::vector<uint8_t>& ip) {
  if ((ip[0] >> 4) == 4) {
    const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip.data());
    const size_t hl = (h->version_ihl & 0xf) * 4u;
    return ipv4_l4_sum(h, ip.data() + hl, rte_be_to_cpu_16(h->total_length) - hl,
                       h->next_proto_id) == 0xffff;
  }
  const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(ip.data());
  return ipv6_l4_cksum_ok(ip.data(), ip.data() + sizeof(rte_ipv6_hdr),
                          rte_be_to_cpu_16(h->payload_len), h->proto);
}

pkt_meta parsed(const rte_mbuf* m) {
  pkt_meta meta{};
  EXPECT_LE(parse_frame(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), true, &meta),
            parse_result::ipv6);
  return meta;
}

constexpr const char* k_stateful = R"(table ip f {
  chain fwd {
    type filter hook forward priority 0; policy drop;
    ct state invalid counter drop
    ct state new,established accept
  }
}
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    meta l4proto { tcp, udp } oifname "wan" snat to 10.0.2.1:2000
  }
})";

// Routed and translated: the flow is tracked (not INVALID, which the ruleset drops), the
// address and port rewritten, and the checksum that leaves verifies.
TEST(RxChecksum, PartialTcpAndUdpAreTrackedTranslatedAndLeaveFilledIn) {
  test_gateway t;
  result<ruleset_summary> r = load_ruleset_text(*t.gw, k_stateful, "rx_checksum.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  pkt_spec u = udp("10.0.1.5", 5000, "10.0.2.2", 53);
  u.payload_len = 37;  // odd: the last byte padded
  pkt_spec s = tcp("10.0.1.5", 40000, "10.0.2.2", 80, RTE_TCP_SYN_FLAG);
  for (const pkt_spec& spec : {u, s}) {
    rte_mbuf* m = t.make(spec);
    if (spec.proto == IPPROTO_UDP) write_pattern(m, k_eth + 28, spec.payload_len);
    make_partial_checksum(m, k_eth);
    ASSERT_FALSE(l4_checksum_verifies(read_from(m, k_eth)));  // as it arrives
    t.burst(0, {m});
    ASSERT_EQ(t.sent.size(), 1u) << int(spec.proto);
    const std::vector<uint8_t> out = read_from(t.sent[0].second, k_eth);
    EXPECT_TRUE(l4_checksum_verifies(out)) << int(spec.proto);
    EXPECT_EQ(out[12], 10);  // translated: 10.0.2.1
    EXPECT_EQ(out[15], 1);
    EXPECT_EQ(out[20] << 8 | out[21], 2000);
    t.clear_sent();
  }
  EXPECT_EQ(t.dp(dp_counter::rx_checksum_filled), 2u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), 0u);
  EXPECT_EQ(t.conntrack_lines().size(), 2u);
}

// A checksum truly wrong, flagged BAD by the port, is still INVALID; NONE on a packet that is
// not TCP or UDP is left as it is and checked in software.
TEST(RxChecksum, BadStaysInvalidAndOtherProtocolsAreNotFilled) {
  test_gateway t;
  result<ruleset_summary> r = load_ruleset_text(*t.gw, k_stateful, "rx_checksum.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  rte_mbuf* m = t.make(udp("10.0.1.5", 5000, "10.0.2.2", 53));
  m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_BAD;
  t.burst(0, {m});
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), 1u);
  pkt_spec echo;
  echo.src = ip("10.0.1.5");
  echo.dst = ip("10.0.2.2");
  echo.proto = IPPROTO_ICMP;
  m = t.make(echo);
  m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;  // its checksum is right: checked, it passes
  t.burst(0, {m});
  EXPECT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.dp(dp_counter::rx_checksum_not_filled), 1u);
  EXPECT_EQ(t.dp(dp_counter::rx_checksum_filled), 0u);
}

// hinic flags packets from the wire NONE, with the sender's checksum in the field: a field that
// is not the pseudo header's sum is left as it is, so a right one passes unchanged and a wrong
// one is INVALID, never rewritten and called good.
TEST(RxChecksum, AFieldThatIsNotThePseudoSumIsLeftAndChecked) {
  test_gateway t;
  ASSERT_TRUE(load_ruleset_text(*t.gw, k_stateful, "rx_checksum.nft"));
  rte_mbuf* m = patterned_udp(t, 25);
  set_right_checksum(m);
  m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
  t.burst(0, {m});
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_TRUE(l4_checksum_verifies(read_from(t.sent[0].second, k_eth)));
  t.clear_sent();
  m = t.make(udp("10.0.1.5", 5001, "10.0.2.2", 53));
  rte_pktmbuf_mtod_offset(m, uint8_t*, k_eth + 20 + 6)[0] ^= 0x55;  // wrong, and not the pseudo sum
  m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
  t.burst(0, {m});
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.dp(dp_counter::rx_checksum_not_filled), 2u);
  EXPECT_EQ(t.dp(dp_counter::rx_checksum_filled), 0u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), 1u);
}

TEST(RxChecksum, Ipv6PartialIsTrackedAndLeavesFilledIn) {
  v6_gateway t{v6_config()};
  result<ruleset_summary> r = load_ruleset_text(*t.gw, R"(table ip6 f {
  chain fwd {
    type filter hook forward priority 0; policy drop;
    ct state invalid counter drop
    ct state new accept
  }
})",
                                                "rx_checksum6.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  pkt_spec6 s = udp6("2001:db8:1::2", "2001:db8:2::2");
  s.payload_len = 101;
  rte_mbuf* m = t.make6(s);
  write_pattern(m, k_eth + 48, s.payload_len);
  make_partial_checksum(m, k_eth);
  t.burst(0, {m});
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_TRUE(l4_checksum_verifies(read_from(t.sent[0].second, k_eth)));
  EXPECT_EQ(t.dp(dp_counter::rx_checksum_filled), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), 0u);
}

// A UDP segment whose sum comes to 0xffff stores 0xffff: 0 would say "no checksum". A fragment
// is left alone.
TEST(RxChecksum, UdpNeverGetsZeroAndFragmentsAreLeft) {
  test_gateway t;
  pkt_spec s = udp("10.0.1.5", 5000, "10.0.2.2", 53);
  s.payload_len = 2;
  rte_mbuf* m = t.make(s);
  make_partial_checksum(m, k_eth);
  // Choose the payload so that the segment sums to 0xffff: the sum of the rest, complemented.
  uint8_t* l4 = rte_pktmbuf_mtod_offset(m, uint8_t*, k_eth + 20);
  std::memset(l4 + 8, 0, 2);
  const uint16_t rest = cksum_fold(cksum_add(0, l4, 10));
  const uint16_t fill = static_cast<uint16_t>(~rest);
  std::memcpy(l4 + 8, &fill, 2);
  ASSERT_EQ(cksum_fold(cksum_add(0, l4, 10)), 0xffff);
  ASSERT_EQ(fill_partial_l4_checksum(m, parsed(m)), partial_fill::filled);
  EXPECT_EQ(l4[6], 0xff);
  EXPECT_EQ(l4[7], 0xff);
  EXPECT_TRUE(l4_checksum_verifies(read_from(m, k_eth)));
  rte_pktmbuf_free(m);

  pkt_spec f = udp("10.0.1.5", 5000, "10.0.2.2", 53);
  f.frag = RTE_IPV4_HDR_MF_FLAG;
  f.payload_len = 64;
  m = t.make(f);
  make_partial_checksum(m, k_eth);
  const std::vector<uint8_t> before = read_from(m, 0);
  EXPECT_EQ(fill_partial_l4_checksum(m, parsed(m)), partial_fill::not_filled);
  EXPECT_EQ(read_from(m, 0), before);
  EXPECT_EQ(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_NONE);
  rte_pktmbuf_free(m);
}

// Where the pseudo header sums to 0xffff, a field of 0 is that sum (one's complement has two
// zeros): a TCP segment's is filled in, a UDP datagram's is "no checksum" and stays 0.
TEST(RxChecksum, APseudoSumOf0xffffAndAFieldOf0) {
  test_gateway t;
  for (const pkt_spec& spec : {udp("10.0.1.5", 5000, "10.0.2.2", 53),
                               tcp("10.0.1.5", 40000, "10.0.2.2", 80, RTE_TCP_ACK_FLAG)}) {
    rte_mbuf* m = t.make(spec);
    // The destination's low word chosen so that the pseudo header sums to 0xffff.
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, k_eth);
    auto* dst = reinterpret_cast<uint8_t*>(&ip->dst_addr);
    std::memset(dst + 2, 0, 2);
    const uint16_t rest = rte_ipv4_phdr_cksum(ip, 0);
    const uint16_t low = static_cast<uint16_t>(~rest);
    std::memcpy(dst + 2, &low, 2);
    ASSERT_EQ(rte_ipv4_phdr_cksum(ip, 0), 0xffff);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    const uint16_t at = k_eth + 20 + l4_checksum_field(spec.proto);
    std::memset(rte_pktmbuf_mtod_offset(m, uint8_t*, at), 0, 2);
    m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
    if (spec.proto == IPPROTO_UDP) {
      EXPECT_EQ(fill_partial_l4_checksum(m, parsed(m)), partial_fill::udp_no_checksum);
      const uint8_t* f = rte_pktmbuf_mtod_offset(m, const uint8_t*, at);
      EXPECT_EQ(f[0] | f[1], 0);
    } else {
      EXPECT_EQ(fill_partial_l4_checksum(m, parsed(m)), partial_fill::filled);
      EXPECT_TRUE(l4_checksum_verifies(read_from(m, k_eth)));
    }
    rte_pktmbuf_free(m);
  }
}

// net_tap flags a UDP datagram sent without a checksum (0) NONE as well: it stays without one,
// through conntrack and out.
TEST(RxChecksum, UdpWithoutAChecksumStaysWithout) {
  test_gateway t;
  ASSERT_TRUE(load_ruleset_text(*t.gw, k_stateful, "rx_checksum.nft"));
  rte_mbuf* m = patterned_udp(t, 20);
  std::memset(rte_pktmbuf_mtod_offset(m, uint8_t*, k_eth + 20 + 6), 0, 2);
  m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
  t.burst(0, {m});
  ASSERT_EQ(t.sent.size(), 1u);
  const std::vector<uint8_t> out = read_from(t.sent[0].second, k_eth);
  EXPECT_EQ(out[20 + 6], 0);
  EXPECT_EQ(out[20 + 7], 0);
  EXPECT_EQ(t.dp(dp_counter::rx_udp_no_checksum), 1u);
  EXPECT_EQ(t.dp(dp_counter::rx_checksum_filled), 0u);
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
}

}  // namespace
}  // namespace ctgate::test
