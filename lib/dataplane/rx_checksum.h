// Checksums a sender left to offload: a virtio guest's VIRTIO_NET_HDR_F_NEEDS_CSUM, which the
// virtio PMD and the vhost library report as RTE_MBUF_F_RX_L4_CKSUM_NONE ("the field not filled
// in, the data sound") when the port has RX checksum offload on (lib/control/ports.cpp turns it
// on). Linux carries such a packet as CHECKSUM_PARTIAL and fills the checksum in at egress, in
// software when the device cannot (skb_checksum_help). ctgate fills it in as the packet
// arrives, so that conntrack's check, NAT's incremental updates, synproxy and every output port
// see an ordinary packet (docs/design/checksums.md).
#pragma once

#include <rte_mbuf.h>

#include "dataplane/counters.h"
#include "packet/pkt_meta.h"

namespace ctgate {

// Whether any of a burst's packets may carry NONE, from the OR of their ol_flags: bit 3 is
// set by NONE and BAD alone (GOOD is bit 8), so a burst of GOOD or UNKNOWN verdicts is not
// scanned. One OR per packet, one test per burst.
inline bool may_hold_partial_l4_checksum(uint64_t ol_flags_seen) {
  static_assert((RTE_MBUF_F_RX_L4_CKSUM_NONE & RTE_MBUF_F_RX_L4_CKSUM_BAD) != 0 &&
                (RTE_MBUF_F_RX_L4_CKSUM_GOOD & RTE_MBUF_F_RX_L4_CKSUM_BAD) == 0);
  return (ol_flags_seen & RTE_MBUF_F_RX_L4_CKSUM_BAD) != 0;
}

inline bool has_partial_l4_checksum(const rte_mbuf* m) {
  return (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_NONE;
}

enum class partial_fill : uint8_t {
  filled,           // the checksum filled in, the packet marked RTE_MBUF_F_RX_L4_CKSUM_GOOD
  udp_no_checksum,  // UDP sent without one (0), which net_tap flags NONE too: left 0, GOOD
  not_filled,       // anything else: left as it is, still NONE
};

// Fills in the TCP or UDP checksum of a parsed, unfragmented packet whose field holds its
// pseudo header's sum (virtio's contract), the segment in the first mbuf (as parse_frame
// requires). Anything else is left untouched and flagged NONE, and conntrack checks it in
// software as it stands: a field holding a real checksum (hinic flags wire packets NONE) passes
// or fails on its merits, a TCP/UDP partial left here (a datagram beyond the first segment, a
// pseudo sum over a routing header's final destination) fails as a bad checksum, and what
// conntrack does not check (fragments, SCTP) leaves as it came.
partial_fill fill_partial_l4_checksum(rte_mbuf* m, const pkt_meta& meta);

// The counter of each outcome.
inline dp_counter fill_outcome(partial_fill f) {
  switch (f) {
    case partial_fill::filled: return dp_counter::rx_checksum_filled;
    case partial_fill::udp_no_checksum: return dp_counter::rx_udp_no_checksum;
    case partial_fill::not_filled: break;
  }
  return dp_counter::rx_checksum_not_filled;
}

}  // namespace ctgate
