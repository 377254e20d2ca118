// IPv6 output: the next hop's MAC from the neighbour cache (solicited when unknown, the packet
// held meanwhile, as for IPv4), a group's MAC from its address (RFC 2464), L2 rewrite and TX.
// A neighbour not confirmed for arp.base_reachable_time_ms is still used and probed with a
// unicast solicitation (Linux's STALE -> PROBE).
#include <rte_ether.h>

#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/ipv6.h"
#include "dataplane/neigh_queue.h"
#include "dataplane/stages.h"

namespace ctgate {

uint16_t stage_tx6(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  const gateway& gw = *w.gw;
  uint16_t sent = 0;
  ipv6_addr last_nh;
  uint16_t last_port = 0;
  mac_addr last_mac;
  bool last_ok = false;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* mb = pkts[i];
    pkt_meta* m = meta_of(mb);
    const ipv6_addr dst = ip6_dst(mb, m);
    mac_addr mac;
    if (dst.is_multicast()) {
      multicast_mac(dst, mac.b);
    } else {
      const ipv6_addr nh = m->nexthop != 0 ? gw.routes6->gateway(m->nexthop) : dst;
      if (!last_ok || !(nh == last_nh) || m->out_port != last_port) {
        last_nh = nh;
        last_port = m->out_port;
        uint32_t confirmed = 0;
        last_ok = gw.neighbors6->lookup(neigh6_key{nh, last_port}, &last_mac, &confirmed);
        if (last_ok && confirmed != 0 && w.now_ms - confirmed > gw.cfg.arp.base_reachable_time_ms)
            [[unlikely]]
          send_ns(w, m->out_port, nh, &last_mac);
      }
      if (!last_ok) {
        if (!neigh_enqueue6(w, mb, nh)) pkt_drop(w, mb, dp_counter::drop_neigh_unresolved);
        continue;
      }
      mac = last_mac;
    }
    auto* eth = rte_pktmbuf_mtod(mb, rte_ether_hdr*);
    std::memcpy(eth->dst_addr.addr_bytes, mac.b, 6);
    std::memcpy(eth->src_addr.addr_bytes, gw.ports[m->out_port].mac.b, 6);
    stage_tx_one(w, m->out_port, mb);
    sent++;
  }
  return sent;
}

}  // namespace ctgate
