// Output: next-hop MAC, L2 rewrite, batched TX (worker.h's tx_batch). A packet whose next hop is
// unresolved waits for it (neigh_queue.h); a neighbour not confirmed for
// arp.base_reachable_time_ms is still used, and probed with a unicast ARP
// request (Linux's STALE -> PROBE).
#include <rte_ether.h>

#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/neigh_queue.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

uint16_t tx_enqueue(worker_ctx& w, uint16_t port_idx, const port_info& port, rte_mbuf* m);
inline void tx_append(worker_ctx& w, size_t port_idx, rte_mbuf* m);

// Whether a tag can be written in front of `m`: not into a shared or indirect mbuf, nor without
// headroom.
inline bool can_tag(const rte_mbuf* m) {
  return RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1 &&
         rte_pktmbuf_headroom(m) >= sizeof(rte_vlan_hdr);
}

inline void write_tag(uint8_t* at, uint16_t vid) {
  const uint8_t tag[4] = {0x81, 0x00, static_cast<uint8_t>(vid >> 8), static_cast<uint8_t>(vid)};
  std::memcpy(at, tag, sizeof tag);
}

// A frame of a VLAN subinterface leaves by its parent, tagged (out of line: only VLAN
// subinterfaces and bridge interfaces, which have vlan != 0, come here). The addresses move 4 bytes
// down by a fixed-size copy the compiler inlines (rte_vlan_insert's memmove call costs about twice
// as much a frame). A bridge interface's frame (vlan != 0 too) is switched by its bridge instead.
// Returns how many frames went to device batches: one, or none if dropped; a bridge interface's are
// counted by bridge_output, so none here.
[[gnu::noinline]] uint16_t tx_tagged(worker_ctx& w, const port_info& sub, rte_mbuf* m) {
  if (sub.iface_of >= 0) {
    bridge_output(w, sub, m);
    return 0;
  }
  if (!can_tag(m) || m->data_len < RTE_ETHER_HDR_LEN) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_vlan_tag);
    return 0;
  }
  uint8_t* old = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t addrs[2 * RTE_ETHER_ADDR_LEN];
  std::memcpy(addrs, old, sizeof addrs);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, sizeof(rte_vlan_hdr)));
  std::memcpy(p, addrs, sizeof addrs);
  write_tag(p + sizeof addrs, sub.vlan);
  tx_append(w, sub.parent, m);
  return 1;
}

// A routed frame of a VLAN subinterface (stage_tx, once per run of such frames knows it): the
// tag's room is made first, then the addresses are written once, where they go. Counted as
// tx_tagged counts.
[[gnu::noinline]] uint16_t tx_tagged_routed(worker_ctx& w, const port_info& sub, rte_mbuf* m,
                                            const mac_addr& dst) {
  if (sub.iface_of >= 0) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    std::memcpy(eth->dst_addr.addr_bytes, dst.b, RTE_ETHER_ADDR_LEN);
    std::memcpy(eth->src_addr.addr_bytes, sub.mac.b, RTE_ETHER_ADDR_LEN);
    bridge_output(w, sub, m);
    return 0;
  }
  if (!can_tag(m)) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_vlan_tag);
    return 0;
  }
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, sizeof(rte_vlan_hdr)));
  std::memcpy(p, dst.b, RTE_ETHER_ADDR_LEN);
  std::memcpy(p + RTE_ETHER_ADDR_LEN, sub.mac.b, RTE_ETHER_ADDR_LEN);
  write_tag(p + 2 * RTE_ETHER_ADDR_LEN, sub.vlan);
  tx_append(w, sub.parent, m);
  return 1;
}

// Sends port_idx's batch to the device's queue w.id, or to the test/bench sink. What the
// queue does not take is dropped as drop_tx_full. A port detached since the frames were
// batched drops them as drop_port_detached: detach's grace period waits for this loop, so the
// device is not used after it.
void tx_flush_port(worker_ctx& w, size_t port_idx) {
  tx_batch& b = w.tx_pending[port_idx];
  const uint16_t n = b.n;
  b.n = 0;
  if (w.tx_sink != nullptr) [[unlikely]] {
    w.tx_sink(w.tx_sink_arg, static_cast<uint16_t>(port_idx), b.pkts, n);
    return;
  }
  const port_info& port = w.gw->ports[port_idx];
  if (!is_attached(port)) [[unlikely]] {
    for (uint16_t i = 0; i < n; i++) pkt_drop(w, b.pkts[i], dp_counter::drop_port_detached);
    return;
  }
  const uint16_t sent = rte_eth_tx_burst(port.port_id, w.id, b.pkts, n);
  if (sent < n) [[unlikely]] {
    rte_pktmbuf_free_bulk(b.pkts + sent, n - sent);
    w.counters.add(dp_counter::drop_tx_full, n - sent);
  }
}

// Adds one frame to a device port's batch.
inline void tx_append(worker_ctx& w, size_t port_idx, rte_mbuf* m) {
  tx_batch& b = w.tx_pending[port_idx];
  b.pkts[b.n++] = m;
  if (b.n >= w.tx_batch_max) [[unlikely]]
    tx_flush_port(w, port_idx);
}

// Adds one frame, its addresses written, to its port's batch; a VLAN subinterface's goes to
// its parent's, tagged; a bridge interface's through its bridge. `port` is
// w.gw->ports[port_idx], which callers have at hand. Returns the frames to count as `tx`
// (tx_tagged's count); counting them is the caller's.
uint16_t tx_enqueue(worker_ctx& w, uint16_t port_idx, const port_info& port, rte_mbuf* m) {
  if (port.vlan != 0) [[unlikely]]
    return tx_tagged(w, port, m);
  tx_append(w, port_idx, m);
  return 1;
}

}  // namespace

void stage_tx_frame(worker_ctx& w, uint16_t port_idx, rte_mbuf* m) {
  tx_enqueue(w, port_idx, w.gw->ports[port_idx], m);
}

void stage_tx_one(worker_ctx& w, uint16_t port_idx, rte_mbuf* m) {
  w.port_tx[port_idx].add(1);
  w.counters.add(dp_counter::tx, tx_enqueue(w, port_idx, w.gw->ports[port_idx], m));
}

uint16_t stage_tx(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  uint16_t sent = 0;
  uint32_t last_ip = 0;
  mac_addr last_mac;
  bool last_ok = false;
  // Per-port counts are added per run of packets to one port (a burst is
  // mostly one or two runs), the total once per burst; whether the run's port is a VLAN
  // subinterface is asked once a run.
  uint16_t run_port = k_max_ports, run_len = 0;
  bool run_tagged = false;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    pkt_meta* meta = meta_of(m);
    const port_info& port = w.gw->ports[meta->out_port];
    // Bursts are mostly one flow or one next hop: cache the last answer.
    if (!last_ok || meta->nexthop != last_ip) {
      last_ip = meta->nexthop;
      uint32_t confirmed = 0;
      last_ok = w.gw->neighbors->lookup(last_ip, &last_mac, &confirmed);
      if (last_ok && confirmed != 0 && w.now_ms - confirmed > w.gw->cfg.arp.base_reachable_time_ms)
          [[unlikely]]
        send_arp_request(w, meta->out_port, last_ip, &last_mac);
    }
    if (!last_ok) {
      if (!neigh_enqueue(w, m)) pkt_drop(w, m, dp_counter::drop_neigh_unresolved);
      continue;
    }
    if (meta->out_port != run_port) {
      if (run_len != 0) w.port_tx[run_port].add(run_len);
      run_port = meta->out_port;
      run_len = 0;
      run_tagged = port.vlan != 0;
    }
    run_len++;
    sent++;
    if (run_tagged) [[unlikely]] {
      // Counted above as one: a bridge interface's frames are counted where the bridge sends
      // them, and a dropped one is not sent.
      sent = static_cast<uint16_t>(sent - 1 + tx_tagged_routed(w, port, m, last_mac));
      continue;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    std::memcpy(eth->dst_addr.addr_bytes, last_mac.b, 6);
    std::memcpy(eth->src_addr.addr_bytes, port.mac.b, 6);
    tx_append(w, meta->out_port, m);
  }
  if (run_len != 0) w.port_tx[run_port].add(run_len);
  if (sent != 0) w.counters.add(dp_counter::tx, sent);
  return sent;
}

void stage_tx_flush(worker_ctx& w) {
  const size_t n_ports = w.gw->ports.size();
  for (size_t p = 0; p < n_ports; p++)
    if (w.tx_pending[p].n != 0) tx_flush_port(w, p);
}

}  // namespace ctgate
