// IPv6 forwarding (Linux's ip6_forward): the hop limit, and the MTU, which a router never
// fragments for (RFC 8200 5): a packet too big for its way out is refused with ICMPv6 packet
// too big. Before the FORWARD hook, as in Linux.
#include "dataplane/gateway.h"
#include "dataplane/icmp6_error.h"
#include "dataplane/ipv6.h"
#include "dataplane/stages.h"

namespace ctgate {

uint16_t stage_forward6(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* mb = pkts[i];
    pkt_meta* m = meta_of(mb);
    if (m->flags & PKT_F_L2_MULTICAST) [[unlikely]] {
      pkt_drop(w, mb, dp_counter::drop_l2_multicast_forward);
      continue;
    }
    uint8_t* ip = ip6_hdr(mb, m);
    if (ip[7] <= 1) {
      send_icmp6_error(w, mb, icmp6::time_exceeded, 0);  // code 0: hop limit exceeded
      pkt_drop(w, mb, dp_counter::drop_hop_limit_exceeded);
      continue;
    }
    // Then the source, as ip6_forward checks it after the hop limit: the unspecified address
    // is never forwarded (RFC 4291 2.5.2), a link-local one cannot leave its link.
    const ipv6_addr src = ip6_src(mb, m);
    if (src.is_zero()) {
      pkt_drop(w, mb, dp_counter::drop_ip6_martian_source);
      continue;
    }
    if (src.is_link_local()) {
      send_icmp6_error(w, mb, icmp6::dest_unreach, icmp6::beyond_scope);
      pkt_drop(w, mb, dp_counter::drop_ip6_link_local);
      continue;
    }
    // ip6_pkt_too_big: a datagram reassembled for conntrack is too big only if its largest
    // fragment was (stage_fragment6 cuts it back to that size).
    const uint16_t mtu = w.gw->ports[m->out_port].mtu;
    if (rte_pktmbuf_pkt_len(mb) - m->l3_off > mtu &&
        (m->frag_max_size == 0 || m->frag_max_size > mtu)) [[unlikely]] {
      send_icmp6_error(w, mb, icmp6::pkt_too_big, 0, mtu);
      pkt_drop(w, mb, dp_counter::drop_ip6_too_big);
      continue;
    }
    ip[7]--;  // no header checksum in IPv6
    pkts[kept++] = mb;
  }
  w.counters.add(dp_counter::forwarded, kept);  // both families
  w.counters.add(dp_counter::ip6_forwarded, kept);
  return kept;
}

}  // namespace ctgate
