// The per-worker context and the one drop function.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "common/counters.h"
#include "conntrack/conntrack.h"
#include "dataplane/counters.h"
#include "hook/hook.h"
#include "packet/build.h"
#include "packet/pkt_meta.h"

namespace ctgate {

struct gateway;

inline constexpr uint16_t k_max_ports = 32;
inline constexpr uint16_t k_max_burst = 64;

// Where transmitted packets go when no ethdev is attached (in-process tests
// and benchmarks): the sink takes ownership of the packets.
using tx_sink_fn = void (*)(void* arg, uint16_t port, rte_mbuf** pkts, uint16_t n);

struct alignas(64) worker_ctx {
  uint16_t id = 0;
  unsigned lcore = 0;
  gateway* gw = nullptr;
  uint32_t now_ms = 1;               // read once per burst (tests set it directly)
  const hook_snapshot* hooks = nullptr;  // loaded once per burst
  rte_eth_dev_tx_buffer* txb[k_max_ports] = {};
  tx_sink_fn tx_sink = nullptr;
  void* tx_sink_arg = nullptr;
  std::atomic<bool> running{false};

  dp_counter_block counters;
  ct::ct_worker ct;
  alignas(64) counter_slot hook_pkts[k_max_hook_ids];
  counter_slot hook_drops[k_max_hook_ids];
  counter_slot port_rx[k_max_ports];
  counter_slot port_tx[k_max_ports];
};

// The only way a packet is dropped: releases its unconfirmed conntrack
// entry (as Linux's skb destructor does), frees the mbuf, counts the reason.
inline void pkt_drop(worker_ctx& w, rte_mbuf* m, dp_counter reason) {
  ct::ct_release(w.ct, meta_of(m));
  rte_pktmbuf_free(m);
  w.counters.add(reason);
}

// Keeps pkts[i] where v[i] == accept, drops those with v[i] == drop (counted
// under `reason`), forgets stolen ones. Returns the new count.
uint16_t compact_verdicts(worker_ctx& w, rte_mbuf** pkts, uint16_t n, const verdict* v,
                          dp_counter reason);

}  // namespace ctgate
