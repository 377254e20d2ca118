// VLAN subinterfaces on routed ports (ports[].vlans), as Linux's 8021q does: a frame tagged with
// a subinterface's VID loses its tag and is received by that subinterface; untagged frames (and
// priority-tagged ones, VID 0) stay the port's own; a VID no subinterface takes is dropped, as
// Linux drops it when no vlan device has it. Only bursts of a port with subinterfaces come here.
#include <rte_ether.h>

#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

constexpr uint16_t k_untagged = 0xffff;

// Takes the 802.1Q tag off a frame that has one in its first segment: the two addresses move
// 4 bytes up. A fixed-size copy the compiler inlines: rte_vlan_strip's memmove call and flag
// updates cost about twice as much per frame, and nothing later reads the flags.
uint16_t pop_tag(rte_mbuf* m) {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint16_t tci = static_cast<uint16_t>(p[14] << 8 | p[15]);
  uint8_t addrs[2 * RTE_ETHER_ADDR_LEN];
  std::memcpy(addrs, p, sizeof addrs);
  std::memcpy(p + sizeof(rte_vlan_hdr), addrs, sizeof addrs);
  m->data_off = static_cast<uint16_t>(m->data_off + sizeof(rte_vlan_hdr));
  m->data_len = static_cast<uint16_t>(m->data_len - sizeof(rte_vlan_hdr));
  m->pkt_len -= sizeof(rte_vlan_hdr);
  return tci & 0xfff;
}

// The port index a frame of `port` belongs to (k_untagged: the port itself), its tag removed.
// Drops and returns k_max_ports for a VLAN no subinterface takes.
uint16_t demux_one(worker_ctx& w, const std::vector<vlan_subif>& subifs, rte_mbuf* m) {
  uint16_t vid;
  if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) {  // the device took the tag off
    vid = m->vlan_tci & 0xfff;
  } else {
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) ||
        m->data_len < RTE_ETHER_HDR_LEN + sizeof(rte_vlan_hdr))
      return k_untagged;
    vid = pop_tag(m);
  }
  if (vid == 0) return k_untagged;  // 802.1p priority tag: the port's own frame
  for (const vlan_subif& s : subifs)
    if (s.vid == vid) return s.port;
  pkt_drop(w, m, dp_counter::drop_vlan_unknown);
  return k_max_ports;
}

}  // namespace

uint16_t stage_vlan(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n, rte_mbuf** tagged,
                    uint16_t* tagged_port, uint16_t* n_tagged) {
  const std::vector<vlan_subif>& subifs = w.gw->vlan_subifs[port];
  uint16_t kept = 0, t = 0;
  for (uint16_t i = 0; i < n; i++) {
    const uint16_t to = demux_one(w, subifs, pkts[i]);
    if (to == k_untagged) {
      pkts[kept++] = pkts[i];
    } else if (to != k_max_ports) {
      tagged[t] = pkts[i];
      tagged_port[t++] = to;
    }
  }
  if (t != 0) w.counters.add(dp_counter::vlan_rx, t);
  *n_tagged = t;
  return kept;
}

}  // namespace ctgate
