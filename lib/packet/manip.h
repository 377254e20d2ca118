// Rewriting a packet's source or destination for NAT (docs/design/nat.md, "Rewriting"), as
// Linux's nf_nat_ipv4_manip_pkt and the transport manip_pkt functions do: the address in the
// IPv4 header; the port in a TCP or UDP header, or the id of an ICMP query; and every checksum
// they are under, by incremental update (RFC 1624), never by summing the packet again.
#pragma once

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "packet/cksum.h"

namespace ctgate {

// Which end of the packet a NAT binding rewrites: the source (snat, masquerade, and the
// undoing of dnat on replies) or the destination (dnat, redirect, the undoing of snat).
enum class manip_kind : uint8_t { src, dst };

// Rewrites the packet's source or destination to `addr`:`port` (network order; for ICMP
// queries `port` is the echo id, whichever end is rewritten, as Linux's icmp_manip_pkt).
// `l4` points at the transport header and `l4_avail` says how many of its bytes the buffer
// holds: 0 for a fragment after the first (only the IP header changes), 8 for the header
// quoted inside an ICMP error, where the TCP checksum lies beyond the quoted bytes and is left
// alone, as Linux leaves it. A UDP checksum of 0 (none) stays 0; an updated one that comes out
// 0 is sent as 0xffff (CSUM_MANGLED_0).
inline void ipv4_manip(rte_ipv4_hdr* ip, void* l4, size_t l4_avail, manip_kind kind, uint32_t addr,
                       uint16_t port) {
  // Fields by offset, through memcpy: the headers are packed structs, and a quoted header
  // inside an ICMP error has no alignment at all.
  auto get16 = [](const uint8_t* at) {
    uint16_t v;
    std::memcpy(&v, at, 2);
    return v;
  };
  auto put16 = [](uint8_t* at, uint16_t v) { std::memcpy(at, &v, 2); };
  auto* h = reinterpret_cast<uint8_t*>(ip);
  uint8_t* addr_at = h + (kind == manip_kind::src ? 12 : 16);
  uint32_t old_addr;
  std::memcpy(&old_addr, addr_at, 4);
  std::memcpy(addr_at, &addr, 4);
  put16(h + 10, cksum_replace32(get16(h + 10), old_addr, addr));
  auto* p = static_cast<uint8_t*>(l4);
  const size_t port_at = kind == manip_kind::src ? 0 : 2;
  switch (ip->next_proto_id) {
    case IPPROTO_TCP: {
      if (l4_avail < 8) return;
      const uint16_t old_port = get16(p + port_at);
      put16(p + port_at, port);
      if (l4_avail < sizeof(rte_tcp_hdr)) return;  // the checksum is not in the buffer
      put16(p + 16,
            cksum_replace16(cksum_replace32(get16(p + 16), old_addr, addr), old_port, port));
      return;
    }
    case IPPROTO_UDP: {
      if (l4_avail < sizeof(rte_udp_hdr)) return;
      const uint16_t old_port = get16(p + port_at);
      put16(p + port_at, port);
      if (get16(p + 6) == 0) return;  // sent without a checksum: stays without
      const uint16_t c =
          cksum_replace16(cksum_replace32(get16(p + 6), old_addr, addr), old_port, port);
      put16(p + 6, c == 0 ? 0xffff : c);
      return;
    }
    case IPPROTO_ICMP: {
      if (l4_avail < sizeof(rte_icmp_hdr)) return;
      const uint8_t t = p[0];
      const bool query = t == RTE_IP_ICMP_ECHO_REQUEST || t == RTE_IP_ICMP_ECHO_REPLY ||
                         (t >= 13 && t <= 18);  // timestamp, info, address mask
      if (!query) return;  // errors: their quoted header is translated on its own
      const uint16_t old_id = get16(p + 4);
      put16(p + 4, port);
      put16(p + 2, cksum_replace16(get16(p + 2), old_id, port));
      return;
    }
    default: return;
  }
}

// The same for IPv6 (nf_nat_ipv6_manip_pkt): the 16-byte address at `ip6` (the fixed header,
// which has no checksum), the port or echo id in the transport header of protocol `l4proto`
// at `l4`, and the transport checksum, which covers the addresses through the pseudo header:
// TCP's, UDP's (0 stays 0, as Linux leaves it) and ICMPv6's, for an error as well as a query
// (an error's quote is translated on its own, and its checksum summed again after).
inline void ipv6_manip(uint8_t* ip6, uint8_t l4proto, void* l4, size_t l4_avail, manip_kind kind,
                       const uint8_t (&addr)[16], uint16_t port) {
  auto get16 = [](const uint8_t* at) {
    uint16_t v;
    std::memcpy(&v, at, 2);
    return v;
  };
  auto put16 = [](uint8_t* at, uint16_t v) { std::memcpy(at, &v, 2); };
  uint8_t* addr_at = ip6 + (kind == manip_kind::src ? 8 : 24);
  // The pseudo header's change: eight 16-bit words.
  uint64_t delta = 0;
  for (int i = 0; i < 16; i += 2)
    delta += static_cast<uint16_t>(~get16(addr_at + i)) + uint64_t{get16(addr + i)};
  std::memcpy(addr_at, addr, 16);
  auto* p = static_cast<uint8_t*>(l4);
  const size_t port_at = kind == manip_kind::src ? 0 : 2;
  switch (l4proto) {
    case IPPROTO_TCP: {
      if (l4_avail < 8) return;
      const uint16_t old_port = get16(p + port_at);
      put16(p + port_at, port);
      if (l4_avail < sizeof(rte_tcp_hdr)) return;  // the checksum is not in the buffer
      put16(p + 16, cksum_replace16(cksum_adjust(get16(p + 16), delta), old_port, port));
      return;
    }
    case IPPROTO_UDP: {
      if (l4_avail < sizeof(rte_udp_hdr)) return;
      const uint16_t old_port = get16(p + port_at);
      put16(p + port_at, port);
      if (get16(p + 6) == 0) return;
      const uint16_t c = cksum_replace16(cksum_adjust(get16(p + 6), delta), old_port, port);
      put16(p + 6, c == 0 ? 0xffff : c);
      return;
    }
    case IPPROTO_ICMPV6: {
      if (l4_avail < 8) return;
      uint16_t c = cksum_adjust(get16(p + 2), delta);
      if (p[0] == 128 || p[0] == 129) {  // echo request, reply: the id is the port
        c = cksum_replace16(c, get16(p + 4), port);
        put16(p + 4, port);
      }
      put16(p + 2, c);
      return;
    }
    default: return;
  }
}

}  // namespace ctgate
