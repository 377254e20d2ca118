// IPv4 reassembly in front of conntrack: Linux's nf_defrag_ipv4 and the
// ip_defrag rules it calls (net/ipv4/ip_fragment.c, inet_fragment.c).
//
// Registered with conntrack's hooks at priority -400 (PRE_ROUTING and
// LOCAL_OUT). Each fragment is stolen and held; the fragment that completes
// a datagram is replaced, in the burst, by the whole datagram, which then
// runs the remaining hooks as one packet. Per worker: fragments of one
// datagram reach one worker because RSS hashes IPv4 on addresses only
// (docs/design/fragments.md).
//
// Why not DPDK's rte_ip_frag: its fragment count per datagram is a build
// constant (RTE_LIBRTE_IP_FRAG_MAX_FRAG, 8 in Debian's package: 11 KiB at a
// 1500 MTU), it bounds entries, not bytes, and a duplicate fragment
// discards the whole datagram where Linux drops only the duplicate.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

#include "config/config.h"
#include "hook/hook.h"

struct rte_mempool;

namespace ctgate {

struct worker_ctx;

inline constexpr uint32_t k_defrag_nil = UINT32_MAX;

// One held fragment, in its datagram's list sorted by offset. Linux keeps
// "runs" of fragments that arrived back to back (inet_frag_queue_insert):
// duplicates are judged against runs, so runs are kept here too.
struct defrag_frag {
  rte_mbuf* m = nullptr;
  uint32_t offset = 0;   // payload bytes, from the datagram's start
  uint32_t end = 0;      // offset + payload kept (a non-last one is cut to a multiple of 8)
  uint32_t run_end = 0;  // the run's end, on the run's first fragment
  uint32_t next = k_defrag_nil;
  bool run_head = false;
};

// A datagram being reassembled (Linux's struct ipq).
struct defrag_queue {
  uint32_t src = 0, dst = 0;  // network order
  uint16_t id = 0;            // network order
  uint8_t proto = 0;
  uint8_t flags = 0;  // DEFRAG_FIRST_IN, DEFRAG_LAST_IN, DEFRAG_USED
  uint8_t ecn = 0;    // ip4_frag_ecn bits of every fragment
  uint32_t expires_ms = 0;
  uint32_t len = 0;                        // payload end known so far (q.len)
  uint32_t meat = 0;                       // payload bytes held
  uint16_t max_size = 0, max_df_size = 0;  // largest fragment, largest with DF (IP bytes)
  uint32_t truesize = 0;                   // memory held by its mbufs
  uint32_t frags = k_defrag_nil, tail = k_defrag_nil;
  uint32_t tail_run = k_defrag_nil;                     // first fragment of the run `tail` ends
  uint32_t hnext = k_defrag_nil;                        // hash chain
  uint32_t older = k_defrag_nil, newer = k_defrag_nil;  // age list; `newer` links the free list
};

// Per worker. Memory is bounded in bytes like ipfrag_high_thresh (checked
// when a fragment would start a new datagram, as Linux does).
struct ipv4_defrag {
  uint32_t high_thresh = 0;  // this worker's share of ipfrag.high_thresh
  uint32_t time_ms = 0;
  uint32_t mem = 0;  // bytes held: mbufs of held fragments plus their queues
  uint32_t hash_seed = 0;
  uint32_t n_queues = 0, n_frags = 0, n_buckets = 0;
  uint32_t free_queue = k_defrag_nil, free_frag = k_defrag_nil;
  uint32_t oldest = k_defrag_nil, newest = k_defrag_nil;
  uint32_t held_frags = 0;  // fragments held now
  rte_mempool* reasm_pool = nullptr;
  uint32_t* buckets = nullptr;
  defrag_queue* queues = nullptr;
  defrag_frag* frag = nullptr;
};

// Allocates one worker's state. `reasm_pool` holds 64 KiB buffers for
// reassembled datagrams. Null on allocation failure.
ipv4_defrag* ipv4_defrag_create(const ipfrag_config& cfg, uint16_t workers,
                                rte_mempool* reasm_pool);
// Frees every held fragment, then the state.
void ipv4_defrag_destroy(ipv4_defrag* d);

// The hook callback (ipv4_conntrack_defrag).
uint16_t ipv4_defrag_hook(const hook_entry& e, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                          verdict* v);

// Gives up datagrams older than ipfrag.time_ms (ReasmTimeout), at most
// `budget` of them. Called once per worker loop.
void ipv4_defrag_expire(worker_ctx& w, uint32_t budget = 64);

}  // namespace ctgate
