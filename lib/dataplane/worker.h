// The per-worker context and the one drop function.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "common/counters.h"
#include "conntrack/conntrack.h"
#include "dataplane/counters.h"
#include "dataplane/icmp_error.h"
#include "dataplane/neigh_queue.h"
#include "hook/hook.h"
#include "packet/build.h"
#include "packet/pkt_meta.h"

namespace ctgate {

struct gateway;
struct synproxy_worker;  // synproxy/synproxy.h
struct defrag_table;     // dataplane/defrag.h

inline constexpr uint16_t k_max_ports = 32;

// A `log` statement's line, handed to the control thread (workers never log).
struct nft_log_record {
  char prefix[48] = {};
  uint32_t src = 0, dst = 0;  // network order
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  uint8_t level = 4;  // syslog's: emerg 0 ... debug 7
  uint8_t flags = 0;  // nft::LOG_F_*: what else was copied below
  uint8_t n_ip_opts = 0, n_tcp_opts = 0;
  uint16_t in_port = 0;
  uint32_t seq = 0, ack = 0;  // flags tcp sequence; network order
  uint8_t mac[14] = {};       // flags ether: destination, source, EtherType, as on the wire
  uint8_t ip_opts[40] = {};   // flags ip options
  uint8_t tcp_opts[40] = {};  // flags tcp options
  bool v6 = false;            // an IPv6 packet: src6 and dst6 instead of src and dst
  uint8_t src6[16] = {}, dst6[16] = {};
};

// Single-producer (the worker), single-consumer (the control thread) ring.
// Bounded: when full, records are dropped and counted, never waited for.
template <typename T, uint32_t N>
class spsc_ring {
 public:
  bool push(const T& r) {
    uint32_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) == N) return false;
    slots_[h % N] = r;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  bool pop(T* r) {
    uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return false;
    *r = slots_[t % N];
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
  T slots_[N];
};
using log_ring = spsc_ring<nft_log_record, 256>;

// One step of a traced packet's path (nft monitor trace's lines).
enum class trace_kind : uint8_t { packet, hook, rule, policy };
struct trace_record {
  uint32_t id = 0;  // trace id: worker << 24 | sequence
  trace_kind kind = trace_kind::packet;
  uint8_t hook = 0;     // hook_point
  uint8_t verdict = 0;  // ctgate::verdict
  uint8_t proto = 0;
  uint16_t hook_id = 0;  // registry id of the callback (hook records)
  uint16_t in_port = 0;
  uint32_t group = 0;  // ruleset generation (rule/policy records)
  uint32_t chain = 0;  // compiled chain index
  uint32_t rule = 0;   // compiled rule index
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  uint8_t tcp_flags = 0;
  uint8_t ct_info = 0;
  bool v6 = false;  // packet records of IPv6 packets: the addresses are src6, dst6
  uint8_t src6[16] = {}, dst6[16] = {};
  char name[32] = {};  // callback name (hook records)
};
using trace_ring = spsc_ring<trace_record, 1024>;

// Where transmitted packets go when no ethdev is attached (in-process tests
// and benchmarks): the sink takes ownership of the packets.
using tx_sink_fn = void (*)(void* arg, uint16_t port, rte_mbuf** pkts, uint16_t n);

// Fault injection: the control plane asks a worker to take mbufs out of the
// pool, which only the worker can do for its own per-lcore cache. `slots` is
// the control plane's memory (the worker never allocates).
struct fault_hold_request {
  rte_mbuf** slots = nullptr;
  uint32_t want = 0;
  uint32_t got = 0;               // written by the worker before `done`
  std::atomic<bool> done{false};  // release: `got` and the slots are written
};

struct alignas(64) worker_ctx {
  uint16_t id = 0;
  unsigned lcore = 0;
  gateway* gw = nullptr;
  uint32_t now_ms = 1;                    // read once per burst (tests set it directly)
  uint64_t now_ns = 1;                    // for rate limiters; derived from now_ms unless set
  rte_mbuf* local_out[k_max_burst] = {};  // answers the gateway built this burst: routed, sent
  uint16_t n_local_out = 0;
  // What the gateway originates this burst through OUTPUT and POST_ROUTING, as Linux's
  // ip_local_out: ICMP errors, synproxy's SYN to the server.
  rte_mbuf* hooked_out[k_max_burst] = {};
  uint16_t n_hooked_out = 0;
  rte_mbuf* hooked_out6[k_max_burst] = {};  // the same for IPv6 (ICMPv6 errors)
  uint16_t n_hooked_out6 = 0;
  icmp_peer icmp_peers[k_icmp_peers];     // per-destination ICMP error rate limit
  neigh_wait neigh_waits[k_neigh_waits];  // packets waiting for their next hop's MAC
  uint8_t n_neigh_waits = 0;
  // Packets of this burst that may leave in fragments (over an MTU without
  // DF, reassembled, a large local answer): stage_fragment runs only then,
  // so whole-packet bursts never pay for it.
  uint16_t frag_pending = 0;
  bool frags_in_burst = false;   // stage_parse saw an IPv4 fragment: reassembly has work
  bool frags_in_burst6 = false;  // and an IPv6 one
  // The rings are cold (only log and trace statements write them) and large: they live in
  // their own allocations so that the hot fields around them share fewer pages and lines.
  log_ring* logs = nullptr;
  trace_ring* traces = nullptr;
  uint32_t trace_seq = 0;
  const hook_snapshot* hooks = nullptr;  // loaded once per burst
  rte_eth_dev_tx_buffer* txb[k_max_ports] = {};
  tx_sink_fn tx_sink = nullptr;
  void* tx_sink_arg = nullptr;
  std::atomic<bool> running{false};

  dp_counter_block counters;
  synproxy_worker* synproxy = nullptr;  // that module's per-worker state
  defrag_table* defrag = nullptr;       // IPv4 datagrams being reassembled
  defrag_table* defrag6 = nullptr;      // IPv6 datagrams being reassembled
  ct::ct_worker ct;
  alignas(64) counter_slot hook_pkts[k_max_hook_ids];
  counter_slot trace_lost;
  counter_slot hook_drops[k_max_hook_ids];
  counter_slot port_rx[k_max_ports];
  counter_slot port_tx[k_max_ports];

  // Liveness, written by this worker once per loop, read by the control
  // plane (relaxed: a gauge). The longest time between two loop starts is
  // the longest packets waited unpolled and RCU grace periods waited for
  // this worker: a stall shows here, whatever caused it.
  alignas(64) std::atomic<uint64_t> loops{0};
  std::atomic<uint64_t> loop_gap_max_ns{0};
  uint64_t last_loop_ns = 0;
  // Fault injection (config `fault_injection`, tests only): the control
  // plane sets it; the worker stalls this long at the end of one loop,
  // before reporting quiescence, then clears it.
  std::atomic<uint32_t> fault_stall_ms{0};
  std::atomic<fault_hold_request*> fault_hold{nullptr};
};

// The only way a packet is dropped: releases its unconfirmed conntrack
// entry (as Linux's skb destructor does), frees the mbuf, counts the reason.
inline void pkt_drop(worker_ctx& w, rte_mbuf* m, dp_counter reason) {
  ct::ct_release(w.ct, meta_of(m));
  rte_pktmbuf_free(m);
  w.counters.add(reason);
}

// Whether queue_local_out can take one more; counts local_out_full if not.
// A caller that would build the packet first asks before allocating.
inline bool local_out_has_room(worker_ctx& w) {
  if (w.n_local_out < k_max_burst) return true;
  w.counters.add(dp_counter::local_out_full);
  return false;
}

// Queues an answer the gateway built (a reject, synproxy's cookie SYN-ACK and window update)
// for routing and TX at the end of the burst, past the hooks; IPv6 ones (PKT_F_IPV6 kept) by
// IPv6's stages. The queue holds one burst; when it is full this counts local_out_full and
// returns false, and the caller still owns the packet.
inline bool queue_local_out(worker_ctx& w, rte_mbuf* mb) {
  if (!local_out_has_room(w)) return false;
  pkt_meta* m = meta_of(mb);
  m->flags = static_cast<uint8_t>(PKT_F_LOCAL_OUT | (m->flags & PKT_F_IPV6));
  // The packet it was made from is gone (Linux consumes it): so is that packet's unconfirmed
  // entry, if it had one (a SYN synproxy answers without notrack in front of it).
  ct::ct_release(w.ct, m);
  w.local_out[w.n_local_out++] = mb;
  return true;
}

// Whether queue_hooked_out can take one more; counts local_out_full if not.
inline bool hooked_out_has_room(worker_ctx& w) {
  if (w.n_hooked_out < k_max_burst) return true;
  w.counters.add(dp_counter::local_out_full);
  return false;
}

// Queues a packet the gateway originates for the OUTPUT hooks, routing, POST_ROUTING and TX
// at the end of the burst (Linux's ip_local_out). Its metadata is the caller's: the headers
// parsed, PKT_F_LOCAL_OUT set, and its conntrack entry, if it has one, attached (conntrack at
// OUTPUT leaves an attached entry alone: the entry Linux makes there from a template is made
// by the caller). When the
// queue is full this counts local_out_full and returns false; the caller still owns it.
inline bool queue_hooked_out(worker_ctx& w, rte_mbuf* mb) {
  if (!hooked_out_has_room(w)) return false;
  w.hooked_out[w.n_hooked_out++] = mb;
  return true;
}

// The same for IPv6 packets, which run the IPv6 hooks.
inline bool hooked_out6_has_room(worker_ctx& w) {
  if (w.n_hooked_out6 < k_max_burst) return true;
  w.counters.add(dp_counter::local_out_full);
  return false;
}
inline bool queue_hooked_out6(worker_ctx& w, rte_mbuf* mb) {
  if (!hooked_out6_has_room(w)) return false;
  w.hooked_out6[w.n_hooked_out6++] = mb;
  return true;
}

// Records one trace event for a packet marked PKT_F_TRACE.
void trace_event(worker_ctx& w, const rte_mbuf* m, trace_record r);

// Keeps pkts[i] where v[i] == accept, drops those with v[i] == drop (counted
// under `reason`, and in *dropped), forgets stolen ones. Returns the new count.
uint16_t compact_verdicts(worker_ctx& w, rte_mbuf** pkts, uint16_t n, const verdict* v,
                          dp_counter reason, uint16_t* dropped);

}  // namespace ctgate
