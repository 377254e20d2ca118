#include "packet/parse.h"

#include <cstring>

#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "packet/cksum.h"

namespace ctgate {

namespace {

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Fills the L4 part. Preconditions: m->l4_off/l4_len describe the L4 bytes
// inside the frame, and the datagram is not a non-first fragment.
// Inlined into both callers: out of line (two callers since IPv6), the call cost IPv4 five
// instructions a packet.
[[gnu::always_inline]] inline void parse_l4(const uint8_t* l4, uint32_t l4_len, pkt_meta* m) {
  switch (m->l4.proto) {
    case IPPROTO_TCP: {
      if (l4_len < sizeof(rte_tcp_hdr)) {
        m->l4_invalid = L4_TRUNCATED_TCP;
        return;
      }
      uint32_t doff = (l4[12] >> 4) * 4u;
      if (doff < sizeof(rte_tcp_hdr) || doff > l4_len) {
        m->l4_invalid = L4_TCP_DOFF;
        return;
      }
      m->sport = load<uint16_t>(l4);
      m->dport = load<uint16_t>(l4 + 2);
      m->l4.tcp_flags = l4[13];
      m->l4.payload_len = static_cast<uint16_t>(l4_len - doff);
      return;
    }
    case IPPROTO_UDP: {
      if (l4_len < sizeof(rte_udp_hdr)) {
        m->l4_invalid = L4_TRUNCATED_UDP;
        return;
      }
      uint16_t ulen = rte_be_to_cpu_16(load<uint16_t>(l4 + 4));
      // A first fragment carries less than the UDP length says: that is fine.
      bool fragment = m->flags & PKT_F_FRAGMENT;
      if (ulen < sizeof(rte_udp_hdr) || (ulen > l4_len && !fragment)) {
        m->l4_invalid = L4_UDP_LEN;
        return;
      }
      m->sport = load<uint16_t>(l4);
      m->dport = load<uint16_t>(l4 + 2);
      m->l4.payload_len = static_cast<uint16_t>((fragment ? l4_len : ulen) - sizeof(rte_udp_hdr));
      return;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      // ICMPv6's header is laid out as ICMP's: type, code, checksum, then the echo id.
      if (l4_len < sizeof(rte_icmp_hdr)) {
        m->l4_invalid = L4_TRUNCATED_ICMP;
        return;
      }
      m->l4.icmp_type = l4[0];
      m->l4.icmp_code = l4[1];
      m->sport = load<uint16_t>(l4 + 4);  // identifier (echo and friends)
      m->l4.payload_len = static_cast<uint16_t>(l4_len - sizeof(rte_icmp_hdr));
      return;
    }
    default: m->l4.payload_len = static_cast<uint16_t>(l4_len); return;
  }
}

}  // namespace

parse_result ipv6_skip_ext(const uint8_t* ip, uint32_t end, ipv6_chain* c) {
  uint8_t next = ip[6];
  uint32_t off = sizeof(rte_ipv6_hdr);
  c->frag_flags = 0;
  c->later_fragment = false;
  // The extension headers ipv6_skip_exthdr skips (0, 43, 44, 51, 60), as one mask: a packet
  // without any costs one test.
  constexpr uint64_t k_ext = 1ull << IPPROTO_HOPOPTS | 1ull << IPPROTO_ROUTING |
                             1ull << IPPROTO_FRAGMENT | 1ull << IPPROTO_AH |
                             1ull << IPPROTO_DSTOPTS;
  for (unsigned n = 0;; n++) {
    if (next >= 64 || !((k_ext >> next) & 1)) break;
    if (n == k_max_ipv6_ext) return parse_result::ip6_ext_too_many;
    if (next == IPPROTO_HOPOPTS && n != 0) return parse_result::ip6_hbh_not_first;
    if (off + 8 > end) return parse_result::ip6_ext_truncated;
    const uint8_t* h = ip + off;
    uint32_t hlen;
    if (next == IPPROTO_FRAGMENT) {
      const uint16_t frag = rte_be_to_cpu_16(load<uint16_t>(h + 2));
      const bool more = frag & 1;
      const uint16_t offset = frag & ~7u;
      hlen = 8;
      // An atomic fragment (offset 0, no MF) is flagged too, without PKT_F_FIRST_FRAGMENT:
      // conntrack's reassembly takes it as a datagram of one fragment and strips the header,
      // as Linux's nf_ct_frag6_gather does.
      c->frag_flags = PKT_F_FRAGMENT;
      if (offset == 0 && more) c->frag_flags |= PKT_F_FIRST_FRAGMENT;
      if (offset != 0) {
        c->later_fragment = true;
        c->proto = h[0];
        c->l4_off = off + hlen;
        return parse_result::ipv6;
      }
    } else if (next == IPPROTO_AH) {
      hlen = (h[1] + 2u) * 4;
    } else {
      hlen = (h[1] + 1u) * 8;
    }
    if (off + hlen > end) return parse_result::ip6_ext_truncated;
    next = h[0];
    off += hlen;
  }
  c->proto = next;
  c->l4_off = off;
  return parse_result::ipv6;
}

namespace {

// IPv6 after the Ethernet header, its extension chain walked by ipv6_skip_ext. Like ip6_rcv, a
// hop-by-hop header anywhere but first is refused, and a jumbogram (payload length 0) is not taken:
// no port here carries 64 KiB frames.
parse_result parse_ipv6(const uint8_t* frame, uint32_t len, pkt_meta* m) {
  const uint8_t* ip = frame + m->l3_off;
  const uint32_t avail = len - m->l3_off;
  if (avail < sizeof(rte_ipv6_hdr)) return parse_result::ip6_truncated;
  if ((ip[0] >> 4) != 6) return parse_result::ip_bad_version;
  const uint32_t payload = rte_be_to_cpu_16(load<uint16_t>(ip + 4));
  if (payload == 0 || sizeof(rte_ipv6_hdr) + payload > avail)
    return parse_result::ip6_bad_payload_len;
  const uint32_t end = sizeof(rte_ipv6_hdr) + payload;  // from ip
  m->flags = PKT_F_IPV6;
  ipv6_chain c;
  if (const parse_result r = ipv6_skip_ext(ip, end, &c); r != parse_result::ipv6) return r;
  m->flags |= c.frag_flags;
  m->l4_off = static_cast<uint16_t>(m->l3_off + c.l4_off);
  m->l4_len = static_cast<uint16_t>(end - c.l4_off);
  m->l4.proto = c.proto;
  if (c.later_fragment) {
    m->l4_invalid = L4_FRAGMENT;
    return parse_result::ipv6;
  }
  parse_l4(frame + m->l4_off, m->l4_len, m);
  return parse_result::ipv6;
}

}  // namespace

const char* parse_result_name(parse_result r) {
  static constexpr const char* names[] = {
      "ipv4",
      "arp",
      "ipv6",
      "runt",
      "unsupported_ethertype",
      "ip_truncated",
      "ip_bad_version",
      "ip_bad_ihl",
      "ip_bad_total_len",
      "ip_bad_checksum",
      "ip6_truncated",
      "ip6_bad_payload_len",
      "ip6_ext_truncated",
      "ip6_ext_too_many",
      "ip6_hbh_not_first",
  };
  static_assert(sizeof(names) / sizeof(names[0]) == static_cast<size_t>(parse_result::count_));
  return names[static_cast<size_t>(r)];
}

parse_result parse_frame(const uint8_t* frame, uint32_t len, bool check_ip_csum, pkt_meta* m) {
  *m = pkt_meta{};
  if (len < sizeof(rte_ether_hdr)) return parse_result::runt;
  uint16_t ether_type = rte_be_to_cpu_16(load<uint16_t>(frame + 12));
  m->l3_off = sizeof(rte_ether_hdr);
  if (ether_type != RTE_ETHER_TYPE_IPV4) [[unlikely]] {
    if (ether_type == RTE_ETHER_TYPE_ARP) return parse_result::arp;
    if (ether_type == RTE_ETHER_TYPE_IPV6) return parse_ipv6(frame, len, m);
    return parse_result::unsupported_ethertype;
  }

  const uint8_t* ip = frame + m->l3_off;
  uint32_t avail = len - m->l3_off;
  if (avail < sizeof(rte_ipv4_hdr)) return parse_result::ip_truncated;
  if ((ip[0] >> 4) != 4) return parse_result::ip_bad_version;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if (ihl < sizeof(rte_ipv4_hdr) || ihl > avail) return parse_result::ip_bad_ihl;
  uint32_t total = rte_be_to_cpu_16(load<uint16_t>(ip + 2));
  if (total < ihl || total > avail) return parse_result::ip_bad_total_len;
  if (check_ip_csum && !ipv4_hdr_cksum_ok(ip, ihl)) return parse_result::ip_bad_checksum;

  m->l4_off = static_cast<uint16_t>(m->l3_off + ihl);
  m->l4_len = static_cast<uint16_t>(total - ihl);
  m->l4.proto = ip[9];
  m->src = load<uint32_t>(ip + 12);
  m->dst = load<uint32_t>(ip + 16);

  uint16_t frag = rte_be_to_cpu_16(load<uint16_t>(ip + 6));
  bool more = frag & RTE_IPV4_HDR_MF_FLAG;
  uint16_t offset = frag & RTE_IPV4_HDR_OFFSET_MASK;
  if (more || offset != 0) {
    m->flags |= PKT_F_FRAGMENT;
    if (offset == 0) m->flags |= PKT_F_FIRST_FRAGMENT;
  }
  if (offset != 0) {
    // No L4 header here: reassembly in front of conntrack takes it.
    m->l4_invalid = L4_FRAGMENT;
    return parse_result::ipv4;
  }
  parse_l4(frame + m->l4_off, m->l4_len, m);
  return parse_result::ipv4;
}

}  // namespace ctgate
