#include "dataplane/rx_checksum.h"

#include <rte_ip.h>

#include <cstring>

#include "packet/cksum.h"

namespace ctgate {

namespace {

void mark_good(rte_mbuf* m) {
  m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_RX_L4_CKSUM_MASK) | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
}

}  // namespace

partial_fill fill_partial_l4_checksum(rte_mbuf* m, const pkt_meta& meta) {
  using enum partial_fill;
  if ((meta.flags & PKT_F_FRAGMENT) || meta.l4_invalid != L4_OK) return not_filled;
  uint32_t field;  // the checksum's offset in the transport header
  switch (meta.l4.proto) {
    case IPPROTO_TCP: field = 16; break;
    case IPPROTO_UDP: field = 6; break;
    default: return not_filled;
  }
  const uint32_t first = rte_pktmbuf_data_len(m);
  if (meta.l4_len < field + 2 || meta.l4_off + field + 2 > first) return not_filled;
  uint8_t* check_at = rte_pktmbuf_mtod_offset(m, uint8_t*, meta.l4_off + field);
  // A pseudo header's sum is never 0 (its protocol word is not), so a UDP 0 is "no checksum":
  // net_tap flags such a datagram NONE. It stays without one, as Linux leaves it.
  if (meta.l4.proto == IPPROTO_UDP && check_at[0] == 0 && check_at[1] == 0) {
    mark_good(m);
    return udp_no_checksum;
  }
  // The sum over the segment with the pseudo header's sum in the field, as virtio's device side
  // (and DPDK's virtio PMD, when it cannot report the packet) computes it.
  uint16_t sum;
  if (meta.l4_off + meta.l4_len <= first)
    sum = cksum_fold(
        cksum_add(0, rte_pktmbuf_mtod_offset(m, const uint8_t*, meta.l4_off), meta.l4_len));
  else if (rte_raw_cksum_mbuf(m, meta.l4_off, meta.l4_len, &sum) != 0)
    return not_filled;
  // A sum of 0xffff stores as 0xffff, not 0: the same value to a checker, and UDP's 0 would
  // mean "no checksum".
  const uint16_t check = sum == 0xffff ? sum : static_cast<uint16_t>(~sum);
  std::memcpy(check_at, &check, 2);
  mark_good(m);
  return filled;
}

}  // namespace ctgate
