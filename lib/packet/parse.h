// L2/L3/L4 parsing into pkt_meta. Pure functions over bytes, so the same
// code is unit tested, fuzzed and run on the data plane.
#pragma once

#include <cstdint>

#include "packet/pkt_meta.h"

namespace ctgate {

// Outcome of parsing an Ethernet frame. Drop reasons are per-packet counters
// of the parse stage; L4 problems are not drops (conntrack counts them as
// invalid and rules decide).
enum class parse_result : uint8_t {
  ipv4 = 0,  // meta filled
  arp,       // ARP for the arp stage (meta.l3_off set)
  ipv6,      // meta filled, PKT_F_IPV6 set; addresses are read from the header
  runt,  // (the three above are the frames kept: one comparison tells them apart)      // shorter
         // than an Ethernet header
  unsupported_ethertype,
  ip_truncated,  // shorter than 20 bytes of IPv4 header
  ip_bad_version,
  ip_bad_ihl,        // IHL < 5 or header beyond the frame
  ip_bad_total_len,  // total length < IHL*4 or beyond the frame
  ip_bad_checksum,
  ip6_truncated,        // shorter than 40 bytes of IPv6 header
  ip6_bad_payload_len,  // payload length 0 (a jumbogram) or beyond the frame
  ip6_ext_truncated,    // an extension header runs past the payload
  ip6_ext_too_many,     // more than k_max_ipv6_ext extension headers
  ip6_hbh_not_first,    // a hop-by-hop options header after another header (RFC 8200 4.1)
  count_,
};
const char* parse_result_name(parse_result r);

// Extension headers an IPv6 packet may carry before its upper layer: enough for every
// legitimate chain (RFC 8200 4.1 lists six, the destination options header twice), few enough
// that a chain of small headers cannot make parsing cost much.
inline constexpr unsigned k_max_ipv6_ext = 8;

// Where an IPv6 header's extension chain ends (ipv6_skip_ext).
struct ipv6_chain {
  uint8_t proto;        // the upper-layer protocol (or, after a later fragment, the next header)
  uint8_t frag_flags;   // PKT_F_FRAGMENT (atomic ones too), PKT_F_FIRST_FRAGMENT with MF
  bool later_fragment;  // a fragment header with a nonzero offset ended the walk
  uint32_t l4_off;      // from the IPv6 header
};
// Walks the extension chain of the IPv6 header at `ip`, whose datagram has `end` bytes (40 of
// header included), as Linux's ipv6_skip_exthdr does: hop-by-hop, routing, destination options
// and AH are skipped, a fragment header with a nonzero offset ends the walk, at most
// k_max_ipv6_ext headers. Returns parse_result::ipv6, or the reason the chain is malformed.
// Shared by parsing and by conntrack, which walks the header an ICMPv6 error quotes.
parse_result ipv6_skip_ext(const uint8_t* ip, uint32_t end, ipv6_chain* c);

// Parses `len` bytes at `frame`. Fills every field of *m that parsing owns
// (offsets, addresses, ports, l4 info, flags, l4_invalid) and clears ct, mark,
// zone, ct_info. `check_ip_csum` is false when the NIC already verified it.
parse_result parse_frame(const uint8_t* frame, uint32_t len, bool check_ip_csum, pkt_meta* m);

}  // namespace ctgate
