#include "dataplane/neigh_queue.h"

#include <rte_ether.h>

#include <cstring>

#include "common/clock.h"
#include "dataplane/gateway.h"
#include "dataplane/icmp6_error.h"
#include "dataplane/icmp_error.h"
#include "dataplane/ipv6.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

void remove_wait(worker_ctx& w, uint8_t i) {
  w.neigh_waits[i] = w.neigh_waits[--w.n_neigh_waits];
  w.neigh_waits[w.n_neigh_waits] = neigh_wait{};
}

rte_mbuf* pop(neigh_wait& nw) {
  rte_mbuf* m = nw.q[nw.head];
  nw.q[nw.head] = nullptr;
  nw.head = static_cast<uint16_t>((nw.head + 1) % k_neigh_queue);
  nw.n--;
  nw.bytes -= rte_pktmbuf_pkt_len(m);
  return m;
}

}  // namespace

void send_arp_request(worker_ctx& w, uint16_t port_idx, uint32_t target, const mac_addr* unicast,
                      bool force) {
  const port_info& port = w.gw->ports[port_idx];
  if (!w.gw->neighbors->should_request(target, w.now_ms, w.gw->cfg.arp.retrans_time_ms, port_idx) &&
      !force)
    return;
  rte_mbuf* m = rte_pktmbuf_alloc(w.gw->mbuf_pool);
  if (m == nullptr) {
    w.counters.add(dp_counter::drop_no_mbuf);
    return;
  }
  mac_addr dst;
  if (unicast != nullptr)
    dst = *unicast;
  else
    std::memset(dst.b, 0xff, 6);
  mac_addr zero;
  size_t len = build_arp(1, port.mac, port.addr, zero, target, dst, rte_pktmbuf_mtod(m, uint8_t*),
                         rte_pktmbuf_tailroom(m));
  m->data_len = m->pkt_len = static_cast<uint32_t>(len);
  *meta_of(m) = pkt_meta{};
  w.counters.add(unicast != nullptr ? dp_counter::arp_probe_sent : dp_counter::arp_request_sent);
  stage_tx_one(w, port_idx, m);
}

namespace {

// Queues `m` in the wait for its next hop (`same` finds it; `start` fills and asks for a new
// one).
template <typename Same, typename Start>
bool enqueue(worker_ctx& w, rte_mbuf* m, Same same, Start start) {
  pkt_meta* meta = meta_of(m);
  // Past POST_ROUTING: the packet no longer needs its flow (which it does
  // not own: confirmed entries are the table's), and must not hold it
  // across quiescent points while it waits.
  meta->ct = nullptr;
  neigh_wait* nw = nullptr;
  for (uint8_t i = 0; i < w.n_neigh_waits; i++)
    if (w.neigh_waits[i].port == meta->out_port && same(w.neigh_waits[i])) nw = &w.neigh_waits[i];
  if (nw == nullptr) {
    if (w.n_neigh_waits == k_neigh_waits) return false;
    nw = &w.neigh_waits[w.n_neigh_waits++];
    *nw = neigh_wait{};
    nw->port = meta->out_port;
    nw->tries = 1;
    nw->next_ms = w.now_ms + w.gw->cfg.arp.retrans_time_ms;
    start(*nw);
  }
  // Over the bound: the oldest packet goes, as Linux's __neigh_event_send.
  const uint32_t len = rte_pktmbuf_pkt_len(m);
  while (nw->n != 0 &&
         (nw->n == k_neigh_queue || nw->bytes + len > w.gw->cfg.arp.unres_qlen_bytes)) {
    rte_mbuf* old = pop(*nw);
    pkt_drop(w, old, dp_counter::drop_neigh_queue_overflow);
  }
  nw->q[(nw->head + nw->n) % k_neigh_queue] = m;
  nw->n++;
  nw->bytes += len;
  w.counters.add(dp_counter::neigh_queued);
  return true;
}

}  // namespace

void send_ns(worker_ctx& w, uint16_t port_idx, const ipv6_addr& target, const mac_addr* unicast,
             bool force) {
  const port_info& port = w.gw->ports[port_idx];
  if (!w.gw->neighbors6->should_request(neigh6_key{target, port_idx}, w.now_ms,
                                        w.gw->cfg.arp.retrans_time_ms, port_idx) &&
      !force)
    return;
  rte_mbuf* m = rte_pktmbuf_alloc(w.gw->mbuf_pool);
  if (m == nullptr) {
    w.counters.add(dp_counter::drop_no_mbuf);
    return;
  }
  const ipv6_addr dst = unicast != nullptr ? target : solicited_node(target);
  // The target, then our link-layer address (option 1, one 8-byte unit).
  uint8_t body[24] = {};
  std::memcpy(body, target.b, 16);
  body[16] = 1;
  body[17] = 1;
  std::memcpy(body + 18, port.mac.b, 6);
  pkt_spec6 s;
  s.src_mac = port.mac;
  if (unicast != nullptr)
    s.dst_mac = *unicast;
  else
    multicast_mac(dst, s.dst_mac.b);
  std::memcpy(s.src, port.link_local.b, 16);
  std::memcpy(s.dst, dst.b, 16);
  s.proto = IPPROTO_ICMPV6;
  s.hop_limit = 255;  // RFC 4861 7.1.1: proof it never left the link
  s.icmp_type = icmp6::neighbour_solicit;
  s.payload = body;
  s.payload_len = sizeof(body);
  const size_t len = build_frame6(s, rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m));
  m->data_len = m->pkt_len = static_cast<uint32_t>(len);
  *meta_of(m) = pkt_meta{};
  w.counters.add(dp_counter::nd_ns_sent);
  stage_tx_one(w, port_idx, m);
}

bool neigh_enqueue(worker_ctx& w, rte_mbuf* m) {
  const uint32_t ip = meta_of(m)->nexthop;
  const uint16_t port = meta_of(m)->out_port;
  return enqueue(
      w, m, [&](const neigh_wait& nw) { return !nw.v6 && nw.ip == ip; },
      [&](neigh_wait& nw) {
        nw.ip = ip;
        send_arp_request(w, port, ip);
      });
}

bool neigh_enqueue6(worker_ctx& w, rte_mbuf* m, const ipv6_addr& nh) {
  const uint16_t port = meta_of(m)->out_port;
  return enqueue(
      w, m, [&](const neigh_wait& nw) { return nw.v6 && nw.ip6 == nh; },
      [&](neigh_wait& nw) {
        nw.v6 = true;
        nw.ip6 = nh;
        send_ns(w, port, nh);
      });
}

void neigh_tick(worker_ctx& w) {
  for (int i = w.n_neigh_waits - 1; i >= 0; i--) {
    neigh_wait& nw = w.neigh_waits[i];
    mac_addr mac;
    if (nw.v6 ? w.gw->neighbors6->lookup(neigh6_key{nw.ip6, nw.port}, &mac)
              : w.gw->neighbors->lookup(nw.ip, &mac)) {
      // Answered: everything waiting leaves now, in order.
      const port_info& port = w.gw->ports[nw.port];
      while (nw.n != 0) {
        rte_mbuf* m = pop(nw);
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        std::memcpy(eth->dst_addr.addr_bytes, mac.b, 6);
        std::memcpy(eth->src_addr.addr_bytes, port.mac.b, 6);
        w.counters.add(dp_counter::neigh_queue_sent);
        stage_tx_one(w, nw.port, m);
      }
      remove_wait(w, static_cast<uint8_t>(i));
      continue;
    }
    if (!time_after_eq(w.now_ms, nw.next_ms)) continue;
    if (nw.tries < w.gw->cfg.arp.mcast_solicit) {
      nw.tries++;
      nw.next_ms = w.now_ms + w.gw->cfg.arp.retrans_time_ms;
      if (nw.v6)
        send_ns(w, nw.port, nw.ip6, nullptr, true);
      else
        send_arp_request(w, nw.port, nw.ip, nullptr, true);
      continue;
    }
    // No answer: Linux's neigh_invalidate reports each queued packet with
    // host unreachable (arp_error_report) and drops it.
    while (nw.n != 0) {
      rte_mbuf* m = pop(nw);
      if (nw.v6)
        send_icmp6_error(w, m, icmp6::dest_unreach, icmp6::addr_unreach);  // ndisc_error_report
      else
        send_icmp_error(w, m, icmp::dest_unreach, icmp::host_unreach);
      pkt_drop(w, m, dp_counter::drop_neigh_failed);
    }
    remove_wait(w, static_cast<uint8_t>(i));
  }
}

}  // namespace ctgate
