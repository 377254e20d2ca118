#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/rx_checksum.h"
#include "dataplane/stages.h"
#include "packet/parse.h"

namespace ctgate {

namespace {

// parse_result -> drop counter; ipv4/arp are not drops.
constexpr dp_counter k_parse_drop[] = {
    dp_counter::rx,  // ipv4 (unused)
    dp_counter::rx,  // arp (unused)
    dp_counter::rx,  // ipv6 (unused)
    dp_counter::drop_runt,
    dp_counter::drop_unsupported_ethertype,
    dp_counter::drop_ip_truncated,
    dp_counter::drop_ip_bad_version,
    dp_counter::drop_ip_bad_ihl,
    dp_counter::drop_ip_bad_total_len,
    dp_counter::drop_ip_bad_checksum,
    dp_counter::drop_ip6_truncated,
    dp_counter::drop_ip6_bad_payload_len,
    dp_counter::drop_ip6_ext_truncated,
    dp_counter::drop_ip6_ext_too_many,
    dp_counter::drop_ip6_hbh_not_first,
};
static_assert(sizeof(k_parse_drop) / sizeof(k_parse_drop[0]) ==
              static_cast<size_t>(parse_result::count_));

// Linux's eth_type_trans: a frame to a group address (broadcast included) is
// PACKET_BROADCAST/MULTICAST; a unicast frame to another MAC is
// PACKET_OTHERHOST, which ip_rcv and arp_rcv discard.
enum class l2_class : uint8_t { host, group, other_host };

l2_class classify(const uint8_t* frame, const port_info& port) {
  if (frame[0] & 1) return l2_class::group;
  if (!port.filter_mac) return l2_class::host;
  uint32_t a, b;
  uint16_t c, d;
  std::memcpy(&a, frame, 4);
  std::memcpy(&b, port.mac.b, 4);
  std::memcpy(&c, frame + 4, 2);
  std::memcpy(&d, port.mac.b + 4, 2);
  return (a == b && c == d) ? l2_class::host : l2_class::other_host;
}

// Checksums the sender left to offload, filled in before anything reads or updates them.
[[gnu::noinline]] void fill_offloaded(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  for (uint16_t i = 0; i < n; i++)
    if (has_partial_l4_checksum(pkts[i])) [[unlikely]]
      w.counters.add(fill_outcome(fill_partial_l4_checksum(pkts[i], *meta_of(pkts[i]))));
}

}  // namespace

uint16_t stage_parse(worker_ctx& w, rte_mbuf** pkts, uint16_t n, rte_mbuf** v6, uint16_t* n6) {
  uint16_t kept = 0, kept6 = 0;
  *n6 = 0;
  uint8_t flags_seen = 0, flags_seen6 = 0;
  uint64_t ol_flags_seen = 0;
  w.frags_in_burst = w.frags_in_burst6 = false;
  if (n == 0) return 0;
  // A burst comes from one port (process_burst): its MAC is read once.
  const port_info& port = w.gw->ports[meta_of(pkts[0])->in_port];
  for (uint16_t i = 0; i < n; i++) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    rte_mbuf* m = pkts[i];
    uint16_t in_port = meta_of(m)->in_port;
    ol_flags_seen |= m->ol_flags;
    // Multi-segment frames are parsed from the first segment only; a header
    // beyond it reads as truncated and is dropped with a reason.
    bool csum_known = (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
      pkt_drop(w, m, dp_counter::drop_ip_bad_checksum);
      continue;
    }
    pkt_meta* meta = meta_of(m);
    parse_result r = parse_frame(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m),
                                 !csum_known, meta);
    meta->in_port = in_port;
    meta->zone = port.zone;
    if (r <= parse_result::ipv6) {  // ipv4, arp or ipv6: a frame kept
      const l2_class l2 = classify(rte_pktmbuf_mtod(m, const uint8_t*), port);
      if (l2 == l2_class::other_host) [[unlikely]] {
        pkt_drop(w, m, dp_counter::drop_other_host);
        continue;
      }
      if (l2 == l2_class::group) meta->flags |= PKT_F_L2_MULTICAST;
    }
    if (r == parse_result::ipv4) {
      // Drop Ethernet padding/trailers beyond the IP datagram, as ip_rcv
      // does, so lengths and MTU checks see the datagram only.
      uint32_t end = meta->l4_off + meta->l4_len;
      if (rte_pktmbuf_pkt_len(m) > end)
        rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - end));
      flags_seen |= meta->flags;
      pkts[kept++] = m;
    } else if (r == parse_result::ipv6) {
      // The same for IPv6's payload length (ip6_rcv_core's pskb_trim_rcsum).
      uint32_t end = meta->l4_off + meta->l4_len;
      if (rte_pktmbuf_pkt_len(m) > end)
        rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - end));
      flags_seen6 |= meta->flags;
      v6[kept6++] = m;
    } else if (r == parse_result::arp) {
      stage_arp(w, m);
    } else {
      pkt_drop(w, m, k_parse_drop[static_cast<size_t>(r)]);
    }
  }
  if (may_hold_partial_l4_checksum(ol_flags_seen)) [[unlikely]] {
    fill_offloaded(w, pkts, kept);
    fill_offloaded(w, v6, kept6);
  }
  w.frags_in_burst = flags_seen & PKT_F_FRAGMENT;
  w.frags_in_burst6 = flags_seen6 & PKT_F_FRAGMENT;
  *n6 = kept6;
  return kept;
}

}  // namespace ctgate
