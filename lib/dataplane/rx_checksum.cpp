#include "dataplane/rx_checksum.h"

#include <cstring>

#include "packet/cksum.h"

namespace ctgate {

namespace {

void mark_good(rte_mbuf* m) {
  m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_RX_L4_CKSUM_MASK) | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
}

// The pseudo header's sum (addresses, protocol, segment length), folded and not complemented:
// what a sender that leaves its checksum to offload puts in the field (rte_ipv4_phdr_cksum,
// Linux's ~csum_tcpudp_magic).
uint16_t pseudo_header_sum(const rte_mbuf* m, const pkt_meta& meta) {
  const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, meta.l3_off);
  if ((ip[0] >> 4) == 4)
    return cksum_fold(
        ipv4_pseudo_sum(reinterpret_cast<const rte_ipv4_hdr*>(ip), meta.l4_len, meta.l4.proto));
  return cksum_fold(ipv6_pseudo_sum(ip, meta.l4_len, meta.l4.proto));
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
  if (meta.l4_off + meta.l4_len > rte_pktmbuf_data_len(m)) return not_filled;
  uint8_t* check_at = rte_pktmbuf_mtod_offset(m, uint8_t*, meta.l4_off + field);
  uint16_t now;
  std::memcpy(&now, check_at, 2);
  // A pseudo header's sum is never 0 (its protocol word is not), so a UDP 0 is "no checksum":
  // net_tap flags such a datagram NONE. It stays without one, as Linux leaves it.
  if (meta.l4.proto == IPPROTO_UDP && now == 0) {
    mark_good(m);
    return udp_no_checksum;
  }
  // Only a field that holds the pseudo header's sum is filled in: DPDK promises the data sound,
  // not what the field holds, and hinic flags packets from the wire, with the sender's real
  // checksum, NONE. Filling one of those in would write a wrong checksum and call it good. (A
  // real checksum equal to the pseudo sum is written back unchanged.) 0 and 0xffff are the same
  // one's-complement value.
  auto value = [](uint16_t v) { return v == 0 ? uint16_t{0xffff} : v; };
  if (value(now) != value(pseudo_header_sum(m, meta))) return not_filled;
  // The sum over the segment with the pseudo header's sum in the field, as the virtio device
  // side (and DPDK's virtio PMD, when it cannot report the packet) computes it.
  const uint16_t sum = cksum_fold(
      cksum_add(0, rte_pktmbuf_mtod_offset(m, const uint8_t*, meta.l4_off), meta.l4_len));
  // A sum of 0xffff stores as 0xffff, not 0: the same value to a checker, and UDP's 0 would
  // mean "no checksum".
  const uint16_t check = sum == 0xffff ? sum : static_cast<uint16_t>(~sum);
  std::memcpy(check_at, &check, 2);
  mark_good(m);
  return filled;
}

}  // namespace ctgate
