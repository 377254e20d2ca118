// Per-flow accounting (Linux's nf_conn_acct, sysctl nf_conntrack_acct; ctgate's
// conntrack.acct, or a ruleset that reads `ct bytes|packets|avgpkt`): packets and bytes per
// direction, counted for every packet the tracker accepts, bytes being the IP datagram's
// length (Linux's skb->len at conntrack).
//
// Where it lives: a flat array beside the entries, indexed by table position, allocated the
// first time accounting is turned on (32 bytes per position); an unconfirmed entry keeps its
// counts in its pool element, after its TCP window record, until confirmation copies them.
// Flows without accounting pay one load of the array's pointer.
//
// Written by whichever worker handles the packet with a relaxed load and store, not a locked
// add: with symmetric RSS all of a flow's packets reach one worker; under asymmetric RSS two
// workers counting one direction at once may lose an update.
#pragma once

#include <atomic>
#include <cstdint>

namespace ctgate::ct {

struct ct_acct {
  std::atomic<uint64_t> packets[2];
  std::atomic<uint64_t> bytes[2];

  // One packet of `len` bytes in direction `dir` (0 original, 1 reply).
  void add(unsigned dir, uint32_t len) {
    packets[dir].store(packets[dir].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bytes[dir].store(bytes[dir].load(std::memory_order_relaxed) + len, std::memory_order_relaxed);
  }
  void clear() {
    for (unsigned d = 0; d < 2; d++) {
      packets[d].store(0, std::memory_order_relaxed);
      bytes[d].store(0, std::memory_order_relaxed);
    }
  }
  // A clash's loser's counts go to the winner (Linux's nf_ct_acct_merge); rare, so a locked
  // add, the winner being another worker's.
  void merge_from(const ct_acct& o) {
    for (unsigned d = 0; d < 2; d++) {
      packets[d].fetch_add(o.packets[d].load(std::memory_order_relaxed), std::memory_order_relaxed);
      bytes[d].fetch_add(o.bytes[d].load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
  }
  void copy_from(const ct_acct& o) {
    for (unsigned d = 0; d < 2; d++) {
      packets[d].store(o.packets[d].load(std::memory_order_relaxed), std::memory_order_relaxed);
      bytes[d].store(o.bytes[d].load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
  }
};
static_assert(sizeof(ct_acct) == 32);

}  // namespace ctgate::ct
