// Reassembly in front of conntrack, one table per family and worker: Linux's nf_defrag_ipv4
// (the ip_defrag rules of net/ipv4/ip_fragment.c and inet_fragment.c) and nf_defrag_ipv6
// (net/ipv6/netfilter/nf_conntrack_reasm.c). docs/design/fragments.md.
//
// Registered with conntrack's hooks at priority -400 (PRE_ROUTING and LOCAL_OUT). Each
// fragment is stolen and held; the fragment that completes a datagram is replaced, in the
// burst, by the whole datagram, which then runs the remaining hooks as one packet. Fragments
// of one datagram reach one worker because RSS hashes on addresses only.
//
// Why not DPDK's rte_ip_frag: its fragment count per datagram is a build constant
// (RTE_LIBRTE_IP_FRAG_MAX_FRAG, 8 in Debian's package: 11 KiB at a 1500 MTU), it bounds
// entries, not bytes, and a duplicate fragment discards the whole datagram where Linux drops
// only the duplicate.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

#include "config/config.h"
#include "hook/hook.h"

struct rte_mempool;

namespace ctgate {

struct worker_ctx;

inline constexpr uint32_t k_defrag_nil = UINT32_MAX;

// One held fragment, in its datagram's list sorted by offset. Linux keeps "runs" of fragments
// that arrived back to back (inet_frag_queue_insert): duplicates are judged against runs, so
// runs are kept here too.
struct defrag_frag {
  rte_mbuf* m = nullptr;
  uint32_t offset = 0;   // payload bytes, from the datagram's start
  uint32_t end = 0;      // offset + payload kept (an IPv4 non-last one is cut to a multiple of 8)
  uint32_t run_end = 0;  // the run's end, on the run's first fragment
  uint32_t next = k_defrag_nil;
  uint16_t data_off = 0;  // where its payload starts in its frame
  bool run_head = false;
};

// What tells datagrams apart. IPv4: addresses in word 0, a 16-bit id and the protocol
// (ip4_frag_match). IPv6: addresses, the 32-bit id, and for a link-local or multicast
// destination the input port (nf_ct_frag6's fq_find). Zeroed before it is filled, so it
// compares as bytes.
struct defrag_key {
  uint32_t src[4];
  uint32_t dst[4];
  uint32_t id;
  uint16_t iif;  // IPv6 to a link-local or multicast address: input port + 1; else 0
  uint8_t proto;
  uint8_t pad;
};
static_assert(sizeof(defrag_key) == 40);

// A datagram being reassembled (Linux's struct ipq, struct frag_queue).
struct defrag_queue {
  defrag_key key{};
  uint8_t flags = 0;              // DEFRAG_FIRST_IN, DEFRAG_LAST_IN, DEFRAG_USED
  uint8_t ecn = 0;                // ECN bits of every fragment, as 1 << ecn
  uint16_t nhoff = 0, fhoff = 0;  // IPv6, from the first fragment: the next-header byte
                                  // naming the fragment header, and that header's offset
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

// Per worker and family. Memory is bounded in bytes like ipfrag_high_thresh (checked when a
// fragment would start a new datagram, as Linux does).
struct defrag_table {
  bool ipv6 = false;
  uint32_t high_thresh = 0;  // this worker's share of the family's high_thresh
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

// Allocates one worker's table for one family. `reasm_pool` holds 64 KiB buffers for
// reassembled datagrams (shared by both families). Null on allocation failure.
defrag_table* defrag_create(const ipfrag_config& cfg, uint16_t workers, rte_mempool* reasm_pool,
                            bool ipv6);
// Frees every held fragment, then the table.
void defrag_destroy(defrag_table* d);

// The hook callbacks (ipv4_conntrack_defrag, ipv6_defrag).
uint16_t ipv4_defrag_hook(const hook_entry& e, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                          verdict* v);
uint16_t ipv6_defrag_hook(const hook_entry& e, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                          verdict* v);

// Gives up datagrams older than their table's time_ms (ReasmTimeout), at most `budget` of
// each table. For IPv6 whose first fragment is in, ICMPv6 time exceeded (fragment reassembly
// time exceeded) is queued about it, as nf_ct_frag6_expire does. Called once per worker loop.
void defrag_expire(worker_ctx& w, uint32_t budget = 64);

}  // namespace ctgate
