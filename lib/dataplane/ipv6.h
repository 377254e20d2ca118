// IPv6 on the data plane: reading a parsed packet's addresses, and the addresses and groups
// a port answers to. An IPv6 packet's pkt_meta has no room for its addresses (src, dst and
// nexthop are IPv4's): they stay in the header, read where needed.
#pragma once

#include <rte_mbuf.h>

#include <cstring>

#include "config/config.h"
#include "packet/pkt_meta.h"

namespace ctgate {

struct port_info;

// The IPv6 header of a parsed packet (stage_parse checked its 40 bytes are in the first
// segment).
inline uint8_t* ip6_hdr(rte_mbuf* mb, const pkt_meta* m) {
  return rte_pktmbuf_mtod_offset(mb, uint8_t*, m->l3_off);
}
inline ipv6_addr ip6_src(const rte_mbuf* mb, const pkt_meta* m) {
  ipv6_addr a;
  std::memcpy(a.b, rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off + 8), 16);
  return a;
}
inline ipv6_addr ip6_dst(const rte_mbuf* mb, const pkt_meta* m) {
  ipv6_addr a;
  std::memcpy(a.b, rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off + 24), 16);
  return a;
}

// An atomic fragment: a fragment header with offset 0 and no MF (parse flags it PKT_F_FRAGMENT
// alone, with its upper layer parsed). A whole packet to the stack (RFC 6946); conntrack's
// reassembly strips the header.
inline bool is_atomic_fragment6(const pkt_meta* m) {
  return (m->flags & (PKT_F_FRAGMENT | PKT_F_FIRST_FRAGMENT)) == PKT_F_FRAGMENT &&
         m->l4_invalid != L4_FRAGMENT;
}

// ff02::1:ffXX:XXXX, the solicited-node group of `a` (RFC 4291 2.7.1).
inline ipv6_addr solicited_node(const ipv6_addr& a) {
  ipv6_addr g;
  g.b[0] = 0xff;
  g.b[1] = 0x02;
  g.b[11] = 0x01;
  g.b[12] = 0xff;
  g.b[13] = a.b[13];
  g.b[14] = a.b[14];
  g.b[15] = a.b[15];
  return g;
}

// The Ethernet group address of an IPv6 multicast address (RFC 2464 7): 33:33 and its last
// four bytes.
inline void multicast_mac(const ipv6_addr& g, uint8_t mac[6]) {
  mac[0] = mac[1] = 0x33;
  std::memcpy(mac + 2, g.b + 12, 4);
}

// Whether `a` is one of `port`'s own addresses (its link-local or configured one).
bool port_owns6(const port_info& port, const ipv6_addr& a);
// Whether `a` is an address of any port (for martian sources and ND targets).
struct gateway;
bool gateway_owns6(const gateway& gw, const ipv6_addr& a);
// The source of a message the gateway sends from port `in_port` to `to`, about (or answering)
// a packet sent to `orig_dst` (icmp6_error.cpp).
ipv6_addr error_source(const gateway& gw, uint16_t in_port, const ipv6_addr& orig_dst,
                       const ipv6_addr& to);

}  // namespace ctgate
