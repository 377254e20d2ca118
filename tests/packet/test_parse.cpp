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
  v[13] = 0xdd;
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
