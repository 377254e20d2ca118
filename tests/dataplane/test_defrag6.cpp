// IPv6 reassembly in front of conntrack (lib/dataplane/defrag.cpp, Linux's nf_defrag_ipv6) and
// IPv6 output fragmentation (stage_fragment6.cpp): order, duplicates, overlaps, a length not a
// multiple of 8 let through, the timeout's time exceeded, refragmenting to the largest fragment
// received, packet too big, the unfragmentable part, echo to the gateway; no mbuf lost.
#include <rte_mempool.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/test_env.h"
#include "dataplane/fragments_env.h"
#include "dataplane/ipv6_env.h"
#include "packet/cksum.h"

namespace ctgate::test {
namespace {

constexpr const char* k_client = "2001:db8:1::2";
constexpr const char* k_server = "2001:db8:2::2";

// A whole IPv6 datagram as a frame (Ethernet + IPv6 + extension headers + L4 + a patterned
// payload), checksums valid; cut into fragments by frag6().
struct datagram6 {
  std::vector<uint8_t> frame;
  std::vector<uint8_t> unfrag;  // extension headers kept before the fragment header
  uint8_t next = 0;             // what the fragment header names
  size_t payload_off() const { return 14 + 40 + unfrag.size(); }
  size_t payload() const { return frame.size() - payload_off(); }
};

datagram6 make_datagram6(pkt_spec6 s, size_t payload_len) {
  std::vector<uint8_t> pattern(payload_len);
  for (size_t i = 0; i < payload_len; i++) pattern[i] = static_cast<uint8_t>(i * 7 + 3);
  s.payload_len = static_cast<uint16_t>(payload_len);
  s.payload = pattern.data();
  datagram6 d;
  d.frame.resize(70000);
  d.frame.resize(build_frame6(s, d.frame.data(), d.frame.size()));
  d.next = s.ext_len != 0 ? s.ext_first : s.proto;
  return d;
}

// The fragment of `d` holding payload bytes [off, off + len) with the id and MF given; a
// destination options header, if `d` has one, stays before the fragment header.
rte_mbuf* frag6(test_gateway& t, const datagram6& d, size_t off, size_t len, bool more,
                uint32_t id = 0x01020304, int tclass = -1) {
  rte_mbuf* m = rte_pktmbuf_alloc(t.gw->mbuf_pool);
  const size_t hdr = 14 + 40 + d.unfrag.size();
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(hdr + 8 + len)));
  std::memcpy(p, d.frame.data(), 14 + 40);
  if (!d.unfrag.empty()) std::memcpy(p + 54, d.unfrag.data(), d.unfrag.size());
  uint8_t* ip = p + 14;
  const uint16_t plen = rte_cpu_to_be_16(static_cast<uint16_t>(d.unfrag.size() + 8 + len));
  std::memcpy(ip + 4, &plen, 2);
  if (d.unfrag.empty())
    ip[6] = IPPROTO_FRAGMENT;
  else
    p[54] = IPPROTO_FRAGMENT;  // the options header's next header
  if (tclass >= 0) {
    ip[0] = static_cast<uint8_t>(0x60 | (tclass >> 4));
    ip[1] = static_cast<uint8_t>((ip[1] & 0x0f) | ((tclass & 0x0f) << 4));
  }
  uint8_t* fh = p + hdr;
  fh[0] = d.next;
  fh[1] = 0;
  const uint16_t field = rte_cpu_to_be_16(static_cast<uint16_t>(off | (more ? 1 : 0)));
  std::memcpy(fh + 2, &field, 2);
  const uint32_t be_id = rte_cpu_to_be_32(id);
  std::memcpy(fh + 4, &be_id, 4);
  std::memcpy(fh + 8, d.frame.data() + d.payload_off() + off, len);
  return m;
}

std::vector<rte_mbuf*> cut6(test_gateway& t, const datagram6& d, size_t size) {
  std::vector<rte_mbuf*> out;
  for (size_t off = 0; off < d.payload(); off += size) {
    const size_t len = std::min(size, d.payload() - off);
    out.push_back(frag6(t, d, off, len, off + len < d.payload()));
  }
  return out;
}

struct frag6_seen {
  uint16_t port = 0;
  uint32_t ip_len = 0;  // bytes from the IPv6 header on
  bool fragment = false;
  uint32_t id = 0, offset = 0;
  bool more = false;
  uint8_t first_next = 0;  // the IPv6 header's next header
  uint8_t tclass = 0;
  std::vector<uint8_t> payload;  // after the fragment header (or the whole payload)
};

std::vector<frag6_seen> sent6(test_gateway& t, size_t unfrag = 0) {
  std::vector<frag6_seen> out;
  for (auto& [port, m] : t.sent) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    if (p[12] != 0x86 || p[13] != 0xdd) continue;
    const uint8_t* ip = p + 14;
    frag6_seen s;
    s.port = port;
    s.ip_len = rte_pktmbuf_pkt_len(m) - 14;
    s.first_next = ip[6];
    s.tclass = static_cast<uint8_t>((ip[0] & 0x0f) << 4 | ip[1] >> 4);
    const uint8_t next = unfrag != 0 ? ip[40] : ip[6];
    const uint8_t* after = ip + 40 + unfrag;
    if (next == IPPROTO_FRAGMENT) {
      s.fragment = true;
      s.offset = static_cast<uint32_t>(after[2] << 8 | after[3]) & ~7u;
      s.more = after[3] & 1;
      s.id = static_cast<uint32_t>(after[4]) << 24 | after[5] << 16 | after[6] << 8 | after[7];
      after += 8;
    }
    s.payload.assign(after, p + rte_pktmbuf_pkt_len(m));
    out.push_back(s);
  }
  return out;
}

std::vector<uint8_t> payload_of(const datagram6& d) {
  return std::vector<uint8_t>(d.frame.begin() + static_cast<long>(d.payload_off()), d.frame.end());
}

gateway_config ct6_config() {
  gateway_config c = v6_config();
  c.conntrack.enable_hooks = true;
  return c;
}

class Defrag6Reassembly : public ::testing::Test {
 protected:
  void SetUp() override { before_ = rte_mempool_avail_count(t.gw->mbuf_pool); }
  // Nothing held and nothing lost: every mbuf back in its pool.
  void expect_no_mbuf_lost() {
    t.clear_sent();
    EXPECT_EQ(rte_mempool_avail_count(t.gw->mbuf_pool), before_);
    EXPECT_EQ(rte_mempool_in_use_count(t.gw->reasm_pool), 0u);
  }
  v6_gateway t{ct6_config()};
  unsigned before_ = 0;
};

TEST_F(Defrag6Reassembly, FragmentsAreTrackedAsOneDatagramAndLeaveNoLargerThanTheyCame) {
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 3000);
  t.burst(0, cut6(t, d, 1232));  // 1232 + 8 + 40 = 1280 bytes each
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 3u);
  for (auto& f : got) {
    EXPECT_EQ(f.port, 1);
    EXPECT_TRUE(f.fragment);
    EXPECT_LE(f.ip_len, 1280u);
    EXPECT_EQ(f.id, got[0].id);
  }
  EXPECT_EQ(joined(got), payload_of(d));
  EXPECT_TRUE(got[0].more && got[1].more && !got[2].more);
  auto lines = t.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("src=2001:db8:1::2 dst=2001:db8:2::2"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("sport=4000 dport=53"), std::string::npos) << lines[0];
  EXPECT_EQ(t.dp(dp_counter::reasm_reqds), 3u);
  EXPECT_EQ(t.dp(dp_counter::reasm_oks), 1u);
  EXPECT_EQ(t.dp(dp_counter::reasm_frags), 3u);
  EXPECT_EQ(t.dp(dp_counter::frag_oks), 1u);
  EXPECT_EQ(t.dp(dp_counter::frag_creates), 3u);
  EXPECT_EQ(t.w->defrag6->held_frags, 0u);
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, OutOfOrderWithADuplicateCompletesAndAnOverlapDiscards) {
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 2000);
  t.burst(0, {frag6(t, d, 1000, 1000, false), frag6(t, d, 0, 1000, true),
              frag6(t, d, 1000, 1000, false)});
  // The third came after completion: it starts a new datagram, never complete, given up by the
  // timer below.
  EXPECT_EQ(t.dp(dp_counter::reasm_oks), 1u);
  EXPECT_EQ(sent6(t).size(), 2u);  // two fragments of at most 1048 bytes
  t.clear_sent();

  datagram6 e = make_datagram6(udp6(k_client, k_server, 54), 2000);
  t.burst(0, {frag6(t, e, 0, 1000, true, 7), frag6(t, e, 0, 1000, true, 7),
              frag6(t, e, 504, 1000, true, 7), frag6(t, e, 1504, 496, false, 7)});
  EXPECT_EQ(t.dp(dp_counter::drop_frag_duplicate), 1u);
  EXPECT_EQ(t.dp(dp_counter::reasm_overlaps), 1u);
  EXPECT_EQ(t.dp(dp_counter::reasm_oks), 1u);
  EXPECT_TRUE(sent6(t).empty());
  t.w->now_ms += 61000;
  t.tick();
  EXPECT_EQ(t.w->defrag6->held_frags, 0u);
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, ANonLastFragmentNotAMultipleOf8GoesOnAsItIsAndIsInvalid) {
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 2000);
  t.burst(0, {frag6(t, d, 0, 1000, true), frag6(t, d, 1000, 999, true)});
  // nf_ct_frag6_queue: the datagram is given up, the odd fragment forwarded untouched; a
  // later fragment has no ports, so conntrack makes it INVALID.
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].fragment);
  EXPECT_EQ(got[0].offset, 1000u);
  EXPECT_EQ(got[0].payload.size(), 999u);
  EXPECT_EQ(t.dp(dp_counter::reasm_fails), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_frag_discarded), 1u);  // the first fragment, held
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_fragment), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid), 1u);
  EXPECT_TRUE(t.conntrack_lines().empty());
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, TimeoutSendsTimeExceededAboutTheFirstFragmentOnly) {
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 2000);
  t.burst(0, {frag6(t, d, 0, 1000, true, 1)});
  t.burst(0, {frag6(t, d, 1000, 1000, false, 2)});  // another datagram: no first fragment
  EXPECT_TRUE(t.sent.empty());
  t.w->now_ms += 59000;
  t.tick();
  EXPECT_TRUE(t.sent.empty());
  t.w->now_ms += 1000;  // nf_conntrack_frag6_timeout: 60 s
  t.tick();
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 1u);  // one error, about the datagram whose first fragment came
  EXPECT_EQ(got[0].port, 0);
  EXPECT_EQ(got[0].first_next, IPPROTO_ICMPV6);
  ASSERT_GE(got[0].payload.size(), 8u + 48u);
  EXPECT_EQ(got[0].payload[0], 3);                     // time exceeded
  EXPECT_EQ(got[0].payload[1], 1);                     // fragment reassembly time exceeded
  EXPECT_EQ(got[0].payload[8 + 6], IPPROTO_FRAGMENT);  // the quote is the fragment
  EXPECT_EQ(t.dp(dp_counter::reasm_timeout), 2u);
  EXPECT_EQ(t.dp(dp_counter::drop_frag_timeout), 2u);
  EXPECT_EQ(t.w->defrag6->held_frags, 0u);
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, LargestFragmentOverTheNextHopMtuIsRefusedWithPacketTooBig) {
  gateway_config c = ct6_config();
  c.ports[1].mtu = 1280;
  v6_gateway g(c);
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 2000);
  g.burst(0, cut6(g, d, 1400));  // a 1448-byte first fragment
  auto got = sent6(g);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].port, 0);
  ASSERT_GE(got[0].payload.size(), 8u);
  EXPECT_EQ(got[0].payload[0], 2);  // packet too big
  EXPECT_EQ((got[0].payload[4] << 24 | got[0].payload[5] << 16 | got[0].payload[6] << 8 |
             got[0].payload[7]),
            1280);
  EXPECT_EQ(g.dp(dp_counter::drop_ip6_too_big), 1u);
  g.clear_sent();

  // Fragments that fit go through, though the datagram does not.
  datagram6 e = make_datagram6(udp6(k_client, k_server, 54), 2000);
  g.burst(0, cut6(g, e, 1000));
  got = sent6(g);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(joined(got), payload_of(e));
  EXPECT_EQ(got[0].ip_len, 1048u);
}

TEST_F(Defrag6Reassembly, FragmentsUnder1280BytesLeaveNoLarger) {
  // The kernel sends a datagram that came in 600-byte fragments on in 600-byte fragments
  // (ip6_fragment's fast path keeps them), not cut again at the 1280-byte minimum MTU.
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 1000);
  t.burst(0, cut6(t, d, 552));
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].ip_len, 600u);
  EXPECT_EQ(joined(got), payload_of(d));
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, ADatagramNoBiggerThanItsLargestFragmentLeavesWhole) {
  // 1000 bytes and then 8: without the fragment headers the datagram is the size of its first
  // fragment, so it leaves whole (__ip6_finish_output cuts only what is larger), from its
  // reassembly buffer; one waiting for an unresolved neighbour holds that buffer until then.
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 1000);
  t.burst(0, {frag6(t, d, 0, 1000, true), frag6(t, d, 1000, 8, false)});
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].fragment);
  EXPECT_EQ(got[0].ip_len, 1048u);
  EXPECT_EQ(got[0].payload, payload_of(d));
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, AnAtomicFragmentLeavesWithoutItsFragmentHeader) {
  // nf_ct_frag6_gather takes it as a datagram of one fragment; the kernel forwards it whole.
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 100);
  t.burst(0, {frag6(t, d, 0, d.payload(), false)});
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].fragment);
  EXPECT_EQ(got[0].first_next, IPPROTO_UDP);
  EXPECT_EQ(got[0].payload, payload_of(d));
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, DestinationOptionsStayInTheUnfragmentablePart) {
  // A destination options header before the fragment header: the reassembled datagram keeps
  // it, and refragmenting puts it before each new fragment header (ip6_find_1stfragopt).
  static const uint8_t k_opts[8] = {IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0};  // PadN
  pkt_spec6 s = udp6(k_client, k_server, 53);
  s.ext = k_opts;
  s.ext_len = 8;
  s.ext_first = IPPROTO_DSTOPTS;
  datagram6 d = make_datagram6(s, 3000);
  d.unfrag.assign(k_opts, k_opts + 8);
  d.next = IPPROTO_UDP;
  t.burst(0, cut6(t, d, 1224));
  auto got = sent6(t, 8);
  ASSERT_EQ(got.size(), 3u);
  for (auto& f : got) {
    EXPECT_EQ(f.first_next, IPPROTO_DSTOPTS);
    EXPECT_TRUE(f.fragment);
    EXPECT_LE(f.ip_len, 1280u);
  }
  EXPECT_EQ(joined(got), payload_of(d));
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
  expect_no_mbuf_lost();
}

TEST_F(Defrag6Reassembly, FragmentedEchoToTheGatewayIsAnsweredInMtuSizedFragments) {
  pkt_spec6 s = udp6(k_client, "2001:db8:1::1");
  s.proto = IPPROTO_ICMPV6;
  s.icmp_type = 128;
  s.icmp_id = 9;
  s.icmp_seq = 1;
  datagram6 d = make_datagram6(s, 3992);
  t.burst(0, cut6(t, d, 1000));
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 3u);  // 4000 bytes of ICMPv6 at a 1500 MTU
  for (auto& f : got) {
    EXPECT_EQ(f.port, 0);
    EXPECT_TRUE(f.fragment);
    EXPECT_LE(f.ip_len, 1500u);
  }
  auto reply = joined(got);
  ASSERT_EQ(reply.size(), 4000u);
  EXPECT_EQ(reply[0], 129);  // echo reply
  EXPECT_TRUE(std::equal(reply.begin() + 8, reply.end(), payload_of(d).begin() + 8));
  EXPECT_EQ(t.dp(dp_counter::drop_ip6_fragment_local), 0u);
  expect_no_mbuf_lost();
}

TEST(Defrag6, WithoutConntrackFragmentsPassUntouchedAndLocalOnesAreDropped) {
  v6_gateway t;
  datagram6 d = make_datagram6(udp6(k_client, k_server, 53), 2000);
  t.burst(0, cut6(t, d, 1000));
  auto got = sent6(t);
  ASSERT_EQ(got.size(), 3u);  // 2008 bytes of UDP
  EXPECT_EQ(got[0].id, 0x01020304u);
  EXPECT_EQ(t.dp(dp_counter::reasm_reqds), 0u);
  t.clear_sent();
  datagram6 e = make_datagram6(udp6(k_client, "2001:db8:1::1", 53), 2000);
  t.burst(0, cut6(t, e, 1000));
  EXPECT_EQ(t.dp(dp_counter::drop_ip6_fragment_local), 3u);
}

}  // namespace
}  // namespace ctgate::test
