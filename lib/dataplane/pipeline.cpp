#include "dataplane/pipeline.h"

#include <rte_rcu_qsbr.h>

#include <algorithm>

#include "dataplane/defrag.h"
#include "dataplane/gateway.h"
#include "dataplane/hooks_builtin.h"
#include "dataplane/neigh_queue.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

// The stages one family's generated packets take after they are made (Linux's ip_local_out
// and ip6_local_out).
struct output_stages {
  uint16_t (*hook)(worker_ctx&, hook_point, rte_mbuf**, uint16_t);
  uint16_t (*route_output)(worker_ctx&, rte_mbuf**, uint16_t);
  uint16_t (*tx)(worker_ctx&, rte_mbuf**, uint16_t);
};
constexpr output_stages k_ipv4_stages{stage_hook, stage_route_output, stage_tx};
constexpr output_stages k_ipv6_stages{stage_hook6, stage_route_output6, stage_tx6};

// Sends a queue of generated packets through OUTPUT, routing, POST_ROUTING and TX. The queue
// is emptied first: a chain may reject, which queues more.
void send_hooked_out(worker_ctx& w, rte_mbuf** queue, uint16_t* n, const output_stages& f) {
  rte_mbuf* out[k_max_burst];
  uint16_t k = *n;
  std::copy(queue, queue + k, out);
  *n = 0;
  w.counters.add(dp_counter::local_out, k);
  k = f.hook(w, hook_point::output, out, k);
  k = f.route_output(w, out, k);
  k = f.hook(w, hook_point::postrouting, out, k);
  f.tx(w, out, k);
}

// What the gateway generated during a burst (or a tick): answers (rejects, synproxy's
// cookies and its ACKs) straight to routing and TX; ICMP errors and synproxy's SYNs through
// the output hooks.
void send_generated(worker_ctx& w) {
  // ICMP errors about packets this burst could not forward, and synproxy's SYNs to servers:
  // through LOCAL_OUT (conntrack finds the flow an error is RELATED to; the nat chains bind a
  // proxied connection) and POST_ROUTING, as Linux's ip_local_out. First: their chains may
  // reject, which queues an answer below.
  // ICMPv6 errors the same way, through the IPv6 hooks.
  if (w.n_hooked_out > 0) send_hooked_out(w, w.hooked_out, &w.n_hooked_out, k_ipv4_stages);
  if (w.n_hooked_out6 > 0) send_hooked_out(w, w.hooked_out6, &w.n_hooked_out6, k_ipv6_stages);

  // Resets and ICMP errors built by reject, synproxy's cookies and window updates: routed and
  // sent directly, like Linux's nf_send_reset (they are answers, not new flows).
  if (w.n_local_out > 0) {
    // IPv6's (synproxy's) after IPv4's, each family by its own stages.
    rte_mbuf* v6[k_max_burst];
    uint16_t n4 = 0, n6 = 0;
    for (uint16_t i = 0; i < w.n_local_out; i++) {
      rte_mbuf* mb = w.local_out[i];
      if (meta_of(mb)->flags & PKT_F_IPV6)
        v6[n6++] = mb;
      else
        w.local_out[n4++] = mb;
    }
    w.n_local_out = 0;
    stage_tx(w, w.local_out, stage_route_output(w, w.local_out, n4));
    if (n6 != 0) stage_tx6(w, v6, stage_route_output6(w, v6, n6));
  }
}

// An IPv6 burst after parsing, through IPv6's stages and the hooks registered for IPv6
// (docs/design/ipv6.md), from prerouting's first callback or, handed off, from conntrack's
// (`resume`). What it generates is sent with the IPv4 burst's (process_parsed).
void process_parsed6(worker_ctx& w, rte_mbuf** pkts, uint16_t n, hook_fn resume = nullptr) {
  n = stage_hook6_from(w, hook_point::prerouting, pkts, n, resume);
  rte_mbuf* local[k_max_burst];
  uint16_t n_local = 0;
  n = stage_route6(w, pkts, n, local, &n_local);
  n = stage_forward6(w, pkts, n);
  n = stage_hook6(w, hook_point::forward, pkts, n);
  if (n_local > 0) {
    n_local = stage_hook6(w, hook_point::input, local, n_local);
    n_local = stage_local6(w, local, n_local);
    n_local = stage_hook6(w, hook_point::output, local, n_local);
    n_local = stage_route_output6(w, local, n_local);
    for (uint16_t i = 0; i < n_local; i++) pkts[n++] = local[i];
  }
  n = stage_hook6(w, hook_point::postrouting, pkts, n);
  if (w.frag_pending != 0) [[unlikely]]
    n = stage_fragment6(w, pkts, n);
  stage_tx6(w, pkts, n);
}

// A burst after parsing: from prerouting's first callback, or, for packets handed off by
// another worker, from conntrack's (`resume`).
void process_parsed(worker_ctx& w, rte_mbuf** pkts, uint16_t n, hook_fn resume) {
  n = stage_hook_from(w, hook_point::prerouting, pkts, n, resume);

  rte_mbuf* local[k_max_burst];
  uint16_t n_local = 0;
  n = stage_route(w, pkts, n, local, &n_local);

  // Forward path.
  n = stage_forward(w, pkts, n);
  n = stage_hook(w, hook_point::forward, pkts, n);

  // Local path: LOCAL_IN, delivery, then replies through LOCAL_OUT.
  if (n_local > 0) {
    n_local = stage_hook(w, hook_point::input, local, n_local);
    n_local = stage_local(w, local, n_local);
    n_local = stage_hook(w, hook_point::output, local, n_local);
    n_local = stage_route_output(w, local, n_local);
    for (uint16_t i = 0; i < n_local; i++) pkts[n++] = local[i];
  }

  n = stage_hook(w, hook_point::postrouting, pkts, n);
  if (w.frag_pending != 0) [[unlikely]]
    n = stage_fragment(w, pkts, n);
  stage_tx(w, pkts, n);

  if (w.n_neigh_waits != 0) neigh_tick(w);
  send_generated(w);

  // Every packet has now been sent or dropped, so every unconfirmed entry
  // has been confirmed or freed. Anything left is a bug: free and count it.
  if (w.ct.n_unconfirmed != 0) {
    w.counters.add(dp_counter::unconfirmed_leaked, ct::ct_unconfirmed_sweep(w.ct));
    RTE_ASSERT(false);
  }
}

// The start of a burst: one hook snapshot per burst (a concurrent registration takes effect
// at the next burst, never in the middle of one).
void begin_burst(worker_ctx& w) {
  w.hooks = w.gw->hooks->current();
  w.counters.add(dp_counter::bursts);
  w.frag_pending = 0;
}

}  // namespace

namespace {

void process_port_burst(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n);

// A burst of a port with VLAN subinterfaces: its untagged frames, then each subinterface's
// frames as a burst of that subinterface (in the order their first frame came).
[[gnu::noinline]] void process_vlans(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n) {
  rte_mbuf* tagged[k_max_burst];
  uint16_t to[k_max_burst];
  uint16_t n_tagged = 0;
  n = stage_vlan(w, port, pkts, n, tagged, to, &n_tagged);
  if (n != 0) process_port_burst(w, port, pkts, n);
  while (n_tagged != 0) {
    const uint16_t sub = to[0];
    uint16_t mine = 0, rest = 0;
    for (uint16_t i = 0; i < n_tagged; i++) {
      if (to[i] == sub) {
        pkts[mine++] = tagged[i];
      } else {
        tagged[rest] = tagged[i];
        to[rest++] = to[i];
      }
    }
    w.port_rx[sub].add(mine);
    process_port_burst(w, sub, pkts, mine);
    n_tagged = rest;
  }
}

// What a bridge handed up (stage_bridge), as a burst of each interface it went to: parsed and
// routed as any routed port's, within the member's burst (one hook snapshot). They carry no
// conntrack entry: the IP path tracks them.
[[gnu::noinline]] void process_bridge_up(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  while (n != 0) {
    const uint16_t itf = meta_of(pkts[0])->in_port;
    rte_mbuf* mine[k_max_burst];
    uint16_t n_mine = 0, rest = 0;
    for (uint16_t i = 0; i < n; i++) {
      if (meta_of(pkts[i])->in_port == itf)
        mine[n_mine++] = pkts[i];
      else
        pkts[rest++] = pkts[i];
    }
    n = rest;
    w.frag_pending = 0;
    w.port_rx[itf].add(n_mine);
    rte_mbuf* v6[k_max_burst];
    uint16_t n6 = 0;
    const uint16_t n4 = stage_parse(w, mine, n_mine, v6, &n6);
    if (n6 != 0) process_parsed6(w, v6, n6);
    process_parsed(w, mine, n4, nullptr);
  }
}

void process_port_burst(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n) {
  begin_burst(w);
  for (uint16_t i = 0; i < n; i++) meta_of(pkts[i])->in_port = port;
  // A bridge member's frames are switched; routed ports' bursts pay this one test.
  if (w.gw->ports[port].bridge >= 0) [[unlikely]] {
    if ((n = stage_bridge(w, pkts, n)) != 0) process_bridge_up(w, pkts, n);
    return;
  }
  rte_mbuf* v6[k_max_burst];
  uint16_t n6 = 0;
  n = stage_parse(w, pkts, n, v6, &n6);
  if (n6 != 0) [[unlikely]]
    process_parsed6(w, v6, n6);
  process_parsed(w, pkts, n, nullptr);
}

}  // namespace

void process_burst(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n) {
  if (w.gw->ports[port].has_vlans) [[unlikely]] {
    process_vlans(w, port, pkts, n);
    return;
  }
  process_port_burst(w, port, pkts, n);
}

uint16_t process_handoffs(worker_ctx& w, uint16_t burst) {
  rte_mbuf* pkts[k_max_burst];
  const uint16_t n = static_cast<uint16_t>(rte_ring_sc_dequeue_burst(
      w.ct.handoff_ring, reinterpret_cast<void**>(pkts), std::min(burst, k_max_burst), nullptr));
  if (n == 0) return 0;
  begin_burst(w);
  w.ct.counters.add(ct::ct_counter::handoff_in, n);
  // A reassembled datagram must leave cut to its largest fragment (stage_fragment): the
  // worker that reassembled it marked its own burst, not this one.
  // IPv6 packets (of translated IPv6 flows) go through IPv6's stages, before the IPv4 burst,
  // as process_burst orders them.
  // Each family's count is its own: IPv6's stages clear it.
  rte_mbuf* v6[k_max_burst];
  uint16_t n4 = 0, n6 = 0, reassembled4 = 0, reassembled6 = 0;
  for (uint16_t i = 0; i < n; i++) {
    const pkt_meta* m = meta_of(pkts[i]);
    if (m->flags & PKT_F_IPV6) {
      reassembled6 += m->frag_max_size != 0 ? 1 : 0;
      v6[n6++] = pkts[i];
    } else {
      reassembled4 += m->frag_max_size != 0 ? 1 : 0;
      pkts[n4++] = pkts[i];
    }
  }
  if (n6 != 0) {
    w.frag_pending = reassembled6;
    process_parsed6(w, v6, n6, conntrack_in6_hook);
  }
  w.frag_pending = reassembled4;
  process_parsed(w, pkts, n4, conntrack_in_hook);
  return n;
}

// A worker that stops polling (fault injection): busy, not sleeping, like a
// thread the scheduler took away, and still holding what it read this loop.
[[gnu::noinline, gnu::cold]] void fault_stall(worker_ctx& w) {
  const uint32_t ms = w.fault_stall_ms.exchange(0, std::memory_order_relaxed);
  const uint64_t until = w.gw->clock.now_ns() + uint64_t{ms} * 1000000;
  while (w.gw->clock.now_ns() < until) rte_pause();
}

// Takes mbufs until the pool (this lcore's cache first) gives no more.
[[gnu::noinline, gnu::cold]] void fault_hold(worker_ctx& w) {
  fault_hold_request* r = w.fault_hold.exchange(nullptr, std::memory_order_acquire);
  if (r == nullptr) return;
  uint32_t n = 0;
  while (n < r->want) {
    rte_mbuf* m = rte_pktmbuf_alloc(w.gw->mbuf_pool);
    if (m == nullptr) break;
    r->slots[n++] = m;
  }
  r->got = n;
  r->done.store(true, std::memory_order_release);
}

void defrag_tick(worker_ctx& w, uint32_t budget) {
  defrag_expire(w, budget);
  if (w.n_hooked_out6 != 0) {          // IPv6's "fragment reassembly time exceeded"
    w.hooks = w.gw->hooks->current();  // send_generated runs the output hooks
    send_generated(w);
  }
}

void worker_loop_once(worker_ctx& w, uint16_t burst) {
  gateway& gw = *w.gw;
  rte_mbuf* pkts[k_max_burst];
  bool idle = true;
  w.now_ns = gw.clock.now_ns();
  w.now_ms = static_cast<uint32_t>(w.now_ns / 1000000);
  if (w.last_loop_ns != 0 &&
      w.now_ns - w.last_loop_ns > w.loop_gap_max_ns.load(std::memory_order_relaxed))
    w.loop_gap_max_ns.store(w.now_ns - w.last_loop_ns, std::memory_order_relaxed);
  w.last_loop_ns = w.now_ns;
  w.loops.store(w.loops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  for (uint16_t p = 0; p < gw.ports.size(); p++) {
    if (!is_attached(gw.ports[p])) continue;
    uint16_t n = stage_rx(w, p, pkts, burst);
    if (n == 0) continue;
    idle = false;
    process_burst(w, p, pkts, n);
  }
  // Neighbours resolving: held packets leave as soon as the answer is in,
  // and requests are retried, even when no port has traffic.
  if (w.n_neigh_waits != 0) {
    w.hooks = gw.hooks->current();  // send_generated runs the output hooks
    neigh_tick(w);
    send_generated(w);
  }
  // Packets of flows this worker owns that RSS gave to others (translated flows' replies).
  if (!rte_ring_empty(w.ct.handoff_ring)) [[unlikely]]
    if (process_handoffs(w, burst) != 0) idle = false;
  if (w.defrag->oldest != k_defrag_nil || w.defrag6->oldest != k_defrag_nil) [[unlikely]]
    defrag_tick(w);
  stage_tx_flush(w);
  if (idle) w.counters.add(dp_counter::idle_polls);
  ct::ct_housekeeping(w.ct, w.now_ms);
  if (w.fault_stall_ms.load(std::memory_order_relaxed) != 0) [[unlikely]]
    fault_stall(w);
  if (w.fault_hold.load(std::memory_order_relaxed) != nullptr) [[unlikely]]
    fault_hold(w);
  // Quiescent once per loop, never inside a burst: nothing this worker read
  // from a snapshot or the flow table is held past this point.
  rte_rcu_qsbr_quiescent(gw.qs, w.id);
}

int worker_main(void* arg) {
  auto& w = *static_cast<worker_ctx*>(arg);
  gateway& gw = *w.gw;
  rte_rcu_qsbr_thread_online(gw.qs, w.id);
  w.running.store(true, std::memory_order_release);
  uint16_t burst = gw.cfg.burst;
  while (!gw.stop.load(std::memory_order_relaxed)) worker_loop_once(w, burst);
  rte_rcu_qsbr_thread_offline(gw.qs, w.id);
  w.running.store(false, std::memory_order_release);
  return 0;
}

}  // namespace ctgate
