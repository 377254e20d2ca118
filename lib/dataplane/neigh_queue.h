// Packets waiting for their next hop's MAC (Linux's neighbour arp_queue):
// the first packet to a new neighbour is kept, not lost, while ARP resolves
// it. Per worker, bounded like Linux's unres_qlen_bytes; requests are
// retried every arp.retrans_time_ms, and after arp.mcast_solicit unanswered
// requests the queue is dropped with host-unreachable errors.
// docs/design/neighbours.md.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

#include "config/config.h"
#include "packet/build.h"

namespace ctgate {

struct worker_ctx;

inline constexpr uint16_t k_neigh_queue = 101;  // Linux's unres_qlen
inline constexpr uint8_t k_neigh_waits = 8;     // neighbours resolving at once, per worker

struct neigh_wait {
  bool v6 = false;  // an IPv6 next hop: ip6, resolved by neighbour solicitation
  ipv6_addr ip6;
  uint32_t ip = 0;  // next hop, host order
  uint16_t port = 0;
  uint8_t tries = 0;     // requests sent
  uint32_t next_ms = 0;  // when to ask again (or give up)
  uint32_t bytes = 0;    // queued, for arp.unres_qlen_bytes
  uint16_t head = 0;     // oldest queued packet
  uint16_t n = 0;
  rte_mbuf* q[k_neigh_queue] = {};
};

// Queues `m` (past POST_ROUTING, for meta->nexthop on meta->out_port), and
// asks for the neighbour if this is the first packet waiting for it. False
// if every wait slot is taken (the caller drops the packet).
bool neigh_enqueue(worker_ctx& w, rte_mbuf* m);
// The same for an IPv6 packet, whose next hop is `nh`.
bool neigh_enqueue6(worker_ctx& w, rte_mbuf* m, const ipv6_addr& nh);

// Sends what waits for neighbours that have answered, asks again where it
// is time, and gives up (host unreachable) after arp.mcast_solicit tries.
void neigh_tick(worker_ctx& w);

// An ARP request for `target` from `port_idx`: broadcast, or unicast to
// `unicast` (a probe of a stale entry). Rate-limited per neighbour
// (arp.retrans_time_ms) unless `force`.
void send_arp_request(worker_ctx& w, uint16_t port_idx, uint32_t target,
                      const mac_addr* unicast = nullptr, bool force = false);
// IPv6's: a neighbour solicitation for `target` from `port_idx`'s link-local address, to the
// target's solicited-node group, or to `unicast` (a probe). Rate-limited the same way.
void send_ns(worker_ctx& w, uint16_t port_idx, const ipv6_addr& target,
             const mac_addr* unicast = nullptr, bool force = false);

}  // namespace ctgate
