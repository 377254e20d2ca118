// Forwarding: TTL check and decrement with an incremental checksum update
// (RFC 1624), before the FORWARD hook as in Linux's ip_forward.
#include <rte_ip.h>

#include "dataplane/gateway.h"
#include "dataplane/icmp_error.h"
#include "dataplane/stages.h"
#include "packet/cksum.h"

namespace ctgate {

uint16_t stage_forward(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    pkt_meta* m = meta_of(pkts[i]);
    // ip_forward's first check: only a frame addressed to us alone is
    // forwarded, never an L2 broadcast or multicast one.
    if (m->flags & PKT_F_L2_MULTICAST) [[unlikely]] {
      pkt_drop(w, pkts[i], dp_counter::drop_l2_multicast_forward);
      continue;
    }
    auto* ip = rte_pktmbuf_mtod_offset(pkts[i], rte_ipv4_hdr*, m->l3_off);
    if (ip->time_to_live <= 1) {
      send_icmp_error(w, pkts[i], icmp::time_exceeded, 0);  // code 0: TTL exceeded in transit
      pkt_drop(w, pkts[i], dp_counter::drop_ttl_exceeded);
      continue;
    }
    // ip_forward checks the MTU before the FORWARD hook (ip_exceeds_mtu), so
    // a packet too big for its way out never confirms a flow. With DF the
    // sender learns the next-hop MTU (path-MTU discovery); without it the
    // packet is fragmented on output (stage_fragment). A reassembled
    // datagram is judged by its largest fragment: it goes out cut the same
    // way.
    const uint16_t mtu = w.gw->ports[m->out_port].mtu;
    if (static_cast<uint32_t>(m->l4_off - m->l3_off) + m->l4_len > mtu) [[unlikely]] {
      if ((ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) &&
          (m->frag_max_size == 0 || m->frag_max_size > mtu)) {
        send_icmp_error(w, pkts[i], icmp::dest_unreach, icmp::frag_needed, mtu);
        pkt_drop(w, pkts[i], dp_counter::drop_mtu_exceeded);
        continue;
      }
      w.frag_pending++;
    }
    ipv4_decrease_ttl(ip);
    pkts[kept++] = pkts[i];
  }
  w.counters.add(dp_counter::forwarded, kept);
  return kept;
}

}  // namespace ctgate
