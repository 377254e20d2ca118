// NAT rewriting (lib/packet/manip.h): every checksum the incremental update leaves must equal
// the one summed from scratch over the rewritten packet.
#include <gtest/gtest.h>
#include <rte_ether.h>

#include <random>

#include "packet/build.h"
#include "packet/manip.h"

namespace ctgate {
namespace {

struct frame {
  uint8_t buf[256];
  size_t len = 0;
  rte_ipv4_hdr* ip() { return reinterpret_cast<rte_ipv4_hdr*>(buf + sizeof(rte_ether_hdr)); }
  uint8_t* l4() { return buf + sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr); }
  size_t l4_len() { return rte_be_to_cpu_16(ip()->total_length) - sizeof(rte_ipv4_hdr); }
};

frame make(const pkt_spec& s) {
  frame f;
  f.len = build_frame(s, f.buf, sizeof(f.buf));
  EXPECT_GT(f.len, 0u);
  return f;
}

// The checksums summed from scratch agree with the packet's.
void expect_checksums_ok(frame& f) {
  EXPECT_TRUE(ipv4_hdr_cksum_ok(f.ip(), sizeof(rte_ipv4_hdr)));
  const uint8_t proto = f.ip()->next_proto_id;
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
    EXPECT_EQ(ipv4_l4_sum(f.ip(), f.l4(), f.l4_len(), proto), 0xffff);
  } else if (proto == IPPROTO_ICMP) {
    EXPECT_EQ(cksum_fold(cksum_add(0, f.l4(), f.l4_len())), 0xffff);
  }
}

pkt_spec spec(uint8_t proto, uint32_t seed) {
  pkt_spec s;
  s.proto = proto;
  s.src = 0x0a000000u | (seed & 0xffffff);
  s.dst = 0xc6120000u | (seed >> 8 & 0xffff);
  s.sport = static_cast<uint16_t>(1024 + seed % 60000);
  s.dport = static_cast<uint16_t>(seed % 1000);
  s.icmp_id = static_cast<uint16_t>(seed);
  s.payload_len = static_cast<uint16_t>(seed % 41);
  s.tcp_flags = 0x10;
  return s;
}

TEST(Manip, TcpAndUdpSourceAndDestinationKeepEveryChecksumRight) {
  std::mt19937 rng(5);
  for (uint8_t proto : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
    for (int round = 0; round < 500; ++round) {
      frame f = make(spec(proto, rng()));
      const manip_kind kind = round % 2 ? manip_kind::src : manip_kind::dst;
      const uint32_t addr = rte_cpu_to_be_32(static_cast<uint32_t>(rng()));
      const uint16_t port = rte_cpu_to_be_16(static_cast<uint16_t>(rng()));
      ipv4_manip(f.ip(), f.l4(), f.l4_len(), kind, addr, port);
      EXPECT_EQ(kind == manip_kind::src ? f.ip()->src_addr : f.ip()->dst_addr, addr);
      uint16_t got;
      std::memcpy(&got, f.l4() + (kind == manip_kind::src ? 0 : 2), 2);
      EXPECT_EQ(got, port);
      expect_checksums_ok(f);
    }
  }
}

TEST(Manip, UdpWithoutChecksumStaysWithout) {
  frame f = make(spec(IPPROTO_UDP, 77));
  auto* uh = reinterpret_cast<rte_udp_hdr*>(f.l4());
  uh->dgram_cksum = 0;
  ipv4_manip(f.ip(), f.l4(), f.l4_len(), manip_kind::src, rte_cpu_to_be_32(0xc0000201),
             rte_cpu_to_be_16(61000));
  EXPECT_EQ(uh->dgram_cksum, 0);
  EXPECT_EQ(uh->src_port, rte_cpu_to_be_16(61000));
  EXPECT_TRUE(ipv4_hdr_cksum_ok(f.ip(), sizeof(rte_ipv4_hdr)));
}

TEST(Manip, IcmpEchoIdIsRewrittenWhicheverEnd) {
  for (uint8_t type : {uint8_t{8}, uint8_t{0}}) {
    pkt_spec s = spec(IPPROTO_ICMP, 99);
    s.icmp_type = type;
    s.payload_len = 8;
    frame f = make(s);
    ipv4_manip(f.ip(), f.l4(), f.l4_len(), manip_kind::dst, rte_cpu_to_be_32(0x0a000002),
               rte_cpu_to_be_16(4242));
    EXPECT_EQ(reinterpret_cast<rte_icmp_hdr*>(f.l4())->icmp_ident, rte_cpu_to_be_16(4242));
    EXPECT_EQ(f.ip()->dst_addr, rte_cpu_to_be_32(0x0a000002));
    expect_checksums_ok(f);
  }
  // An ICMP error keeps its id field (the quoted header is translated on its own).
  pkt_spec s = spec(IPPROTO_ICMP, 5);
  s.icmp_type = 3;
  s.icmp_code = 3;
  frame f = make(s);
  const uint16_t before = reinterpret_cast<rte_icmp_hdr*>(f.l4())->icmp_ident;
  ipv4_manip(f.ip(), f.l4(), f.l4_len(), manip_kind::src, rte_cpu_to_be_32(0x0a000002),
             rte_cpu_to_be_16(4242));
  EXPECT_EQ(reinterpret_cast<rte_icmp_hdr*>(f.l4())->icmp_ident, before);
  expect_checksums_ok(f);
}

// A fragment after the first has no transport header: only the address changes. The quoted
// header inside an ICMP error (8 bytes of TCP) gets its port but keeps its checksum, which
// lies beyond the quoted bytes.
TEST(Manip, FragmentsAndQuotedHeadersChangeOnlyWhatTheyHold) {
  frame f = make(spec(IPPROTO_TCP, 31));
  const std::vector<uint8_t> l4_before(f.l4(), f.l4() + f.l4_len());
  ipv4_manip(f.ip(), f.l4(), 0, manip_kind::src, rte_cpu_to_be_32(0xc0000201),
             rte_cpu_to_be_16(61000));
  EXPECT_EQ(std::vector<uint8_t>(f.l4(), f.l4() + f.l4_len()), l4_before);
  EXPECT_TRUE(ipv4_hdr_cksum_ok(f.ip(), sizeof(rte_ipv4_hdr)));

  frame q = make(spec(IPPROTO_TCP, 32));
  const uint16_t cksum = reinterpret_cast<rte_tcp_hdr*>(q.l4())->cksum;
  ipv4_manip(q.ip(), q.l4(), 8, manip_kind::dst, rte_cpu_to_be_32(0xc0000201),
             rte_cpu_to_be_16(8080));
  EXPECT_EQ(reinterpret_cast<rte_tcp_hdr*>(q.l4())->dst_port, rte_cpu_to_be_16(8080));
  EXPECT_EQ(reinterpret_cast<rte_tcp_hdr*>(q.l4())->cksum, cksum);
}

}  // namespace
}  // namespace ctgate
