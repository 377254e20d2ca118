// ARP: answer for our own addresses, learn senders. Consumes the packet.
#include <rte_arp.h>

#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/stages.h"

namespace ctgate {

void stage_arp(worker_ctx& w, rte_mbuf* m) {
  w.counters.add(dp_counter::arp_in);
  pkt_meta* meta = meta_of(m);
  const port_info& port = w.gw->ports[meta->in_port];
  if (rte_pktmbuf_data_len(m) < meta->l3_off + sizeof(rte_arp_hdr)) {
    pkt_drop(w, m, dp_counter::drop_arp_ignored);
    return;
  }
  auto* arp = rte_pktmbuf_mtod_offset(m, rte_arp_hdr*, meta->l3_off);
  if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != 6 ||
      arp->arp_plen != 4) {
    pkt_drop(w, m, dp_counter::drop_arp_ignored);
    return;
  }
  uint32_t sip = rte_be_to_cpu_32(arp->arp_data.arp_sip);
  uint32_t tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
  mac_addr sha;
  std::memcpy(sha.b, arp->arp_data.arp_sha.addr_bytes, 6);
  // Like Linux with arp_ignore=0: answer for any of our addresses, with the
  // MAC of the port the request came in on.
  bool for_us = false;
  for (const auto& p : w.gw->ports) for_us |= tip == p.addr;
  // Learn from anything aimed at us, and from replies (answers to our
  // requests); any other ARP (a gratuitous one announcing a new MAC, a
  // request for another host) only refreshes a neighbour we know, as Linux
  // with arp_accept=0.
  if (sip != 0) {
    if (for_us || arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY))
      w.gw->neighbors->learn(sip, sha, false, w.now_ms, meta->in_port);
    else if (w.gw->neighbors->update_if_known(sip, sha, w.now_ms, meta->in_port))
      w.counters.add(dp_counter::arp_neigh_updated);
  }
  if (!for_us || arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
    pkt_drop(w, m, dp_counter::drop_arp_ignored);
    return;
  }
  // Turn the request into the reply in place.
  size_t len =
      build_arp(RTE_ARP_OP_REPLY, port.mac, tip, sha, sip, sha, rte_pktmbuf_mtod(m, uint8_t*),
                rte_pktmbuf_tailroom(m) + rte_pktmbuf_data_len(m));
  m->data_len = m->pkt_len = static_cast<uint32_t>(len);
  meta->out_port = meta->in_port;
  meta->nexthop = sip;
  meta->ct = nullptr;
  w.counters.add(dp_counter::arp_reply_sent);
  // Straight to TX: L2 is complete, and ARP has no inet hooks (as in Linux).
  stage_tx_one(w, meta->out_port, m);
}

}  // namespace ctgate
