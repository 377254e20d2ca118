// Local delivery. The gateway has no sockets: it answers ICMP echo requests
// to its own addresses and consumes everything else (counted). The echo
// request becomes the reply in place, so no allocation happens.
#include <rte_icmp.h>
#include <rte_ip.h>

#include "dataplane/gateway.h"
#include "dataplane/stages.h"
#include "packet/cksum.h"

namespace ctgate {

namespace {

bool is_echo_request(const pkt_meta* m) {
  return m->l4.proto == IPPROTO_ICMP && m->l4_invalid == L4_OK && m->l4.icmp_type == icmp::echo &&
         m->l4.icmp_code == 0 && !(m->flags & PKT_F_FRAGMENT);
}

void make_echo_reply(rte_mbuf* mb, pkt_meta* m) {
  auto* ip = rte_pktmbuf_mtod_offset(mb, rte_ipv4_hdr*, m->l3_off);
  auto* ih = rte_pktmbuf_mtod_offset(mb, rte_icmp_hdr*, m->l4_off);
  rte_be32_t src = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = src;
  ip->time_to_live = 64;
  // The answer to a reassembled request is sent fragmented like any large
  // datagram, never refused for DF (Linux's ICMP socket: IP_PMTUDISC_DONT).
  if (m->frag_max_size != 0) ip->fragment_offset = 0;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  // Echo request -> echo reply: type and code share one 16-bit word.
  ih->icmp_type = icmp::echo_reply;
  ih->icmp_cksum = cksum_replace16(ih->icmp_cksum, rte_cpu_to_be_16(icmp::echo << 8),
                                   rte_cpu_to_be_16(icmp::echo_reply << 8));
  // A fresh trip through LOCAL_OUT: new metadata for the reply.
  std::swap(m->src, m->dst);
  m->l4.icmp_type = icmp::echo_reply;
  m->flags = PKT_F_LOCAL_OUT;
  m->frag_max_size = 0;  // a new datagram: fragmented for the MTU only (icmp_reply)
  m->ct = nullptr;
  m->ct_info = CTINFO_NONE;
}

}  // namespace

uint16_t stage_local(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  uint16_t out = 0;
  for (uint16_t i = 0; i < n; i++) {
    pkt_meta* m = meta_of(pkts[i]);
    if (!is_echo_request(m)) {
      // Delivered, but nothing listens: the entry (if any) was already
      // confirmed at LOCAL_IN, so this is not a conntrack drop.
      pkt_drop(w, pkts[i], dp_counter::drop_local_unhandled);
      continue;
    }
    // A large answer may not fit the port it leaves by.
    const uint32_t ip_len = rte_pktmbuf_pkt_len(pkts[i]) - m->l3_off;
    for (const port_info& p : w.gw->ports)
      if (ip_len > p.mtu) {
        w.frag_pending++;
        break;
      }
    make_echo_reply(pkts[i], m);
    pkts[out++] = pkts[i];
  }
  w.counters.add(dp_counter::local_out, out);
  return out;
}

}  // namespace ctgate
