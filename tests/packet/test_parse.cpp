// parse_frame over good and malformed frames.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <vector>

#include "config/config.h"
#include "packet/build.h"
#include "packet/parse.h"

namespace ctgate {
namespace {

std::vector<uint8_t> frame(const pkt_spec& s) {
  std::vector<uint8_t> b(2048);
  b.resize(build_frame(s, b.data(), b.size()));
  return b;
}

pkt_spec tcp_syn() {
  pkt_spec s;
  parse_ipv4("10.1.2.3", &s.src);
  parse_ipv4("10.9.8.7", &s.dst);
  s.proto = 6;
  s.sport = 1234;
  s.dport = 80;
  s.tcp_flags = 0x02;
  s.payload_len = 10;
  return s;
}

TEST(Parse, TcpFieldsInNetworkOrder) {
  auto f = frame(tcp_syn());
  pkt_meta m;
  ASSERT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ipv4);
  EXPECT_EQ(m.l3_off, 14);
  EXPECT_EQ(m.l4_off, 34);
  EXPECT_EQ(ntohl(m.src), 0x0a010203u);
  EXPECT_EQ(ntohs(m.sport), 1234);
  EXPECT_EQ(ntohs(m.dport), 80);
  EXPECT_EQ(m.l4.proto, 6);
  EXPECT_EQ(m.l4.tcp_flags, 0x02);
  EXPECT_EQ(m.l4.payload_len, 10);
  EXPECT_EQ(m.l4_invalid, L4_OK);
}

TEST(Parse, IcmpIdAndType) {
  pkt_spec s = tcp_syn();
  s.proto = 1;
  s.icmp_type = 8;
  s.icmp_id = 0x1234;
  auto f = frame(s);
  pkt_meta m;
  ASSERT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ipv4);
  EXPECT_EQ(m.l4.icmp_type, 8);
  EXPECT_EQ(ntohs(m.sport), 0x1234);
}

TEST(Parse, HeaderErrors) {
  auto base = frame(tcp_syn());
  pkt_meta m;
  EXPECT_EQ(parse_frame(base.data(), 13, true, &m), parse_result::runt);
  EXPECT_EQ(parse_frame(base.data(), 14 + 19, true, &m), parse_result::ip_truncated);
  auto v = base;
  v[14] = 0x65;
  EXPECT_EQ(parse_frame(v.data(), v.size(), false, &m), parse_result::ip_bad_version);
  v = base;
  v[14] = 0x44;
  EXPECT_EQ(parse_frame(v.data(), v.size(), false, &m), parse_result::ip_bad_ihl);
  v = base;
  v[16] = 0xff;
  EXPECT_EQ(parse_frame(v.data(), v.size(), false, &m), parse_result::ip_bad_total_len);
  v = base;
  v[24] ^= 0x01;
  EXPECT_EQ(parse_frame(v.data(), v.size(), true, &m), parse_result::ip_bad_checksum);
  v = base;
  v[12] = 0x86;
  v[13] = 0xdd;  // IPv6's type over an IPv4 header
  EXPECT_EQ(parse_frame(v.data(), v.size(), true, &m), parse_result::ip_bad_version);
  v[12] = 0x88;
  v[13] = 0xcc;  // LLDP
  EXPECT_EQ(parse_frame(v.data(), v.size(), true, &m), parse_result::unsupported_ethertype);
  v[12] = 0x08;
  v[13] = 0x06;
  EXPECT_EQ(parse_frame(v.data(), v.size(), true, &m), parse_result::arp);
}

TEST(Parse, L4ProblemsAreMarkedNotDropped) {
  auto v = frame(tcp_syn());
  pkt_meta m;
  v[14 + 20 + 12] = 0x40;  // doff 4
  EXPECT_EQ(parse_frame(v.data(), v.size(), false, &m), parse_result::ipv4);
  EXPECT_EQ(m.l4_invalid, L4_TCP_DOFF);
  pkt_spec frag = tcp_syn();
  frag.frag = 0x0010;  // offset 16*8
  auto f = frame(frag);
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ipv4);
  EXPECT_EQ(m.l4_invalid, L4_FRAGMENT);
  EXPECT_TRUE(m.flags & PKT_F_FRAGMENT);
  frag.frag = 0x2000;  // MF, offset 0: the first fragment has its header
  f = frame(frag);
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ipv4);
  EXPECT_EQ(m.l4_invalid, L4_OK);
  EXPECT_TRUE(m.flags & PKT_F_FIRST_FRAGMENT);
}

// Every prefix and every single-byte corruption of a frame parses without
// reading out of bounds (run under ASan in CI).
TEST(Parse, TruncationsAndBitFlipsNeverCrash) {
  for (uint8_t proto : {1, 6, 17, 47}) {
    pkt_spec s = tcp_syn();
    s.proto = proto;
    auto base = frame(s);
    pkt_meta m;
    for (size_t len = 0; len <= base.size(); len++) {
      std::vector<uint8_t> cut(base.begin(), base.begin() + static_cast<long>(len));
      parse_frame(cut.data(), static_cast<uint32_t>(cut.size()), true, &m);
    }
    for (size_t i = 0; i < base.size(); i++) {
      for (uint8_t x : {0x00, 0xff, 0x0f, 0x80}) {
        auto v = base;
        v[i] = x;
        parse_frame(v.data(), static_cast<uint32_t>(v.size()), true, &m);
        if (m.l4_off != 0) {
          EXPECT_LE(m.l4_off, v.size());
        }
      }
    }
  }
}

}  // namespace
}  // namespace ctgate

namespace ctgate {
namespace {

// An IPv6 TCP segment from 2001:db8::1 to 2001:db8::2, behind `ext` (next header `first`).
std::vector<uint8_t> frame6(const std::vector<uint8_t>& ext = {}, uint8_t first = 0,
                            uint8_t proto = IPPROTO_TCP) {
  pkt_spec6 s;
  s.src[0] = s.dst[0] = 0x20;
  s.src[1] = s.dst[1] = 0x01;
  s.src[15] = 1;
  s.dst[15] = 2;
  s.proto = proto;
  s.sport = 1234;
  s.dport = 80;
  s.tcp_flags = 0x02;
  s.payload_len = 10;
  s.ext = ext.data();
  s.ext_len = static_cast<uint16_t>(ext.size());
  s.ext_first = first;
  std::vector<uint8_t> b(2048);
  b.resize(build_frame6(s, b.data(), b.size()));
  return b;
}

// An 8-byte options header (hop-by-hop or destination options) followed by `next`.
void opts(std::vector<uint8_t>* ext, uint8_t next) {
  const uint8_t h[8] = {next, 0, 1, 4, 0, 0, 0, 0};  // PadN over the rest
  ext->insert(ext->end(), h, h + 8);
}

TEST(Parse6, TcpOverIpv6) {
  auto f = frame6();
  pkt_meta m;
  ASSERT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ipv6);
  EXPECT_TRUE(m.flags & PKT_F_IPV6);
  EXPECT_EQ(m.l3_off, 14);
  EXPECT_EQ(m.l4_off, 54);
  EXPECT_EQ(m.l4.proto, IPPROTO_TCP);
  EXPECT_EQ(ntohs(m.sport), 1234);
  EXPECT_EQ(ntohs(m.dport), 80);
  EXPECT_EQ(m.l4.tcp_flags, 0x02);
  EXPECT_EQ(m.l4.payload_len, 10);
  EXPECT_EQ(m.l4_invalid, L4_OK);
}

// ipv6_skip_exthdr's walk: hop-by-hop, destination options, routing, AH and a first fragment
// are skipped to the upper layer.
TEST(Parse6, ExtensionChainIsWalkedToTheUpperLayer) {
  std::vector<uint8_t> ext;
  opts(&ext, IPPROTO_DSTOPTS);                              // hop-by-hop
  opts(&ext, IPPROTO_ROUTING);                              // destination options
  const uint8_t rt[8] = {IPPROTO_AH, 0, 0, 0, 0, 0, 0, 0};  // routing, no segments left
  ext.insert(ext.end(), rt, rt + 8);
  std::vector<uint8_t> ah(24, 0);  // AH: (4 + 2) * 4 bytes
  ah[0] = IPPROTO_FRAGMENT;
  ah[1] = 4;
  ext.insert(ext.end(), ah.begin(), ah.end());
  const uint8_t frag[8] = {IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 7};  // offset 0, more fragments
  ext.insert(ext.end(), frag, frag + 8);
  auto f = frame6(ext, IPPROTO_HOPOPTS);
  pkt_meta m;
  ASSERT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ipv6);
  EXPECT_EQ(m.l4_off, 54 + ext.size());
  EXPECT_EQ(m.l4.proto, IPPROTO_TCP);
  EXPECT_EQ(ntohs(m.dport), 80);
  EXPECT_EQ(m.flags & (PKT_F_FRAGMENT | PKT_F_FIRST_FRAGMENT),
            PKT_F_FRAGMENT | PKT_F_FIRST_FRAGMENT);
}

TEST(Parse6, EspIsTheUpperLayerAndALaterFragmentHasNone) {
  auto esp = frame6({}, 0, IPPROTO_ESP);
  pkt_meta m;
  ASSERT_EQ(parse_frame(esp.data(), esp.size(), true, &m), parse_result::ipv6);
  EXPECT_EQ(m.l4.proto, IPPROTO_ESP);
  const uint8_t frag[8] = {IPPROTO_TCP, 0, 0x05, 0x38, 0, 0, 0, 7};  // offset 167 * 8
  auto later = frame6({frag, frag + 8}, IPPROTO_FRAGMENT);
  ASSERT_EQ(parse_frame(later.data(), later.size(), true, &m), parse_result::ipv6);
  EXPECT_EQ(m.l4_invalid, L4_FRAGMENT);
  EXPECT_EQ(m.l4.proto, IPPROTO_TCP);
  EXPECT_EQ(m.flags & (PKT_F_FRAGMENT | PKT_F_FIRST_FRAGMENT), PKT_F_FRAGMENT);
  // An atomic fragment (offset 0, no more) is parsed to its upper layer, flagged a fragment
  // but not a first one, for conntrack's reassembly to strip the header.
  const uint8_t atomic[8] = {IPPROTO_TCP, 0, 0, 0, 0, 0, 0, 7};
  auto whole = frame6({atomic, atomic + 8}, IPPROTO_FRAGMENT);
  ASSERT_EQ(parse_frame(whole.data(), whole.size(), true, &m), parse_result::ipv6);
  EXPECT_EQ(m.flags & (PKT_F_FRAGMENT | PKT_F_FIRST_FRAGMENT), PKT_F_FRAGMENT);
  EXPECT_NE(m.l4_invalid, L4_FRAGMENT);
  EXPECT_EQ(m.l4.proto, IPPROTO_TCP);
}

TEST(Parse6, MalformedChainsAreRefusedByReason) {
  pkt_meta m;
  std::vector<uint8_t> many;
  for (unsigned i = 0; i < k_max_ipv6_ext + 1; i++) opts(&many, IPPROTO_DSTOPTS);
  many[many.size() - 8] = IPPROTO_TCP;
  auto f = frame6(many, IPPROTO_DSTOPTS);
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ip6_ext_too_many);

  std::vector<uint8_t> late_hbh;
  opts(&late_hbh, IPPROTO_HOPOPTS);
  opts(&late_hbh, IPPROTO_TCP);
  f = frame6(late_hbh, IPPROTO_DSTOPTS);
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ip6_hbh_not_first);

  std::vector<uint8_t> long_opts;
  opts(&long_opts, IPPROTO_TCP);
  long_opts[1] = 40;  // 328 bytes: past the payload
  f = frame6(long_opts, IPPROTO_DSTOPTS);
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ip6_ext_truncated);

  f = frame6();
  f[14 + 4] = 0x10;  // payload length beyond the frame
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ip6_bad_payload_len);
  f[14 + 4] = f[14 + 5] = 0;  // a jumbogram
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ip6_bad_payload_len);
  EXPECT_EQ(parse_frame(f.data(), 14 + 39, true, &m), parse_result::ip6_truncated);
  f = frame6();
  f[14] = 0x45;
  EXPECT_EQ(parse_frame(f.data(), f.size(), true, &m), parse_result::ip_bad_version);
}

}  // namespace
}  // namespace ctgate
