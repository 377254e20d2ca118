// Neighbours (the ARP cache, and IPv6's neighbour cache), shared by all workers: one table
// per family, keyed by the address (IPv4 in host order, IPv6 as in the packet).
//
// Lookups are lock-free (rte_hash with RW_CONCURRENCY_LF). An entry's MAC,
// valid and static bits live in one 64-bit word written with a single
// release store, so a reader sees either the old or the new address, never a
// torn one. Entries are deleted only by the control plane (gc, and remove for
// `ctgatectl neigh del`), one deletion at a time: the key first, then, after an RCU grace period in
// which every worker passed a quiescent state, its rte_hash position and its slot, which go back to
// a free ring for reuse. A reader that found an entry therefore never sees its slot reused under it
// (docs/design/neighbours.md, "Garbage collection").
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/thread_annotations.h"
#include "config/config.h"
#include "packet/build.h"

struct rte_hash;
struct rte_ring;
struct rte_rcu_qsbr;

namespace ctgate {

// What the garbage collector may remove (Linux's neigh_periodic_work): nothing while fewer
// than `thresh1` entries are in use (gc_thresh1); otherwise every entry that is not static and
// is either unresolved with no request for `failed_after_ms` past its last retry (given up on,
// FAILED, and no packet waits for it), or resolved but not confirmed for `stale_ms`
// (gc_staletime).
struct neigh_gc_params {
  uint32_t thresh1 = 128;
  uint32_t failed_after_ms = 3000;
  uint32_t stale_ms = 60000;
};

template <typename Key>
class neighbor_table_t {
 public:
  static constexpr uint32_t k_capacity = 4096;
  static constexpr uint64_t k_valid = 1ull << 63;
  static constexpr uint64_t k_static = 1ull << 62;

  ~neighbor_table_t();
  neighbor_table_t(const neighbor_table_t&) = delete;
  neighbor_table_t& operator=(const neighbor_table_t&) = delete;
  static result<std::unique_ptr<neighbor_table_t>> create(const std::string& name);

  // Returns true and the MAC if `ip` (host order) is resolved; with
  // `confirmed`, also when the neighbour last confirmed it (0: static).
  bool lookup(const Key& ip, mac_addr* mac, uint32_t* confirmed = nullptr) const;
  // Learns or refreshes (never overrides a static entry): the neighbour
  // confirmed its address at `now_ms` on `port`. From the workers and the control thread
  // (which alone runs gc);
  // inserts take rte_hash's writer lock, refreshes do not.
  bool learn(const Key& ip, const mac_addr& mac, bool is_static = false, uint32_t now_ms = 0,
             uint16_t port = 0);
  // Refreshes an entry that exists (Linux's arp_accept=0: gratuitous ARP
  // updates a known neighbour, never creates one). False if unknown or static.
  bool update_if_known(const Key& ip, const mac_addr& mac, uint32_t now_ms, uint16_t port);
  // The neighbour showed it is reachable at `now_ms` without giving its address again (an
  // advertisement answering our solicitation, with no link-layer option). False if unknown,
  // unresolved or static.
  bool confirm(const Key& ip, uint32_t now_ms);
  // When `ip` last confirmed its address (0: never, or static).
  uint32_t confirmed_ms(const Key& ip) const;
  // Forgets the MACs learned on `port` (static entries stay), as Linux flushes
  // a device's neighbours when it goes down: the next packet resolves again.
  // Returns how many were forgotten.
  uint32_t forget_port(uint16_t port);
  // Claims the right to send one ARP request for `ip` now: true at most once
  // per `interval_ms` per address (creates an unresolved entry if needed).
  // `port` is where the request goes (recorded for an entry not resolved yet).
  bool should_request(const Key& ip, uint32_t now_ms, uint32_t interval_ms = 1000,
                      uint16_t port = 0);

  // Removes what `p` allows at `now_ms` and returns how many. Control thread only, one caller
  // at a time; waits for a grace period of `qs` (the workers') when it removed anything
  // (null: no concurrent reader, as in tests).
  uint32_t gc(uint32_t now_ms, const neigh_gc_params& p, rte_rcu_qsbr* qs);
  // Removes `ip`'s entry, static or learned, as gc removes one (`ip neigh del`). Control plane,
  // any thread. False if there is none.
  bool remove(const Key& ip, rte_rcu_qsbr* qs);
  // Whether `ip` has an entry with a MAC, and whether it is static.
  bool resolved(const Key& ip, bool* is_static = nullptr) const;
  // Entries in use (the garbage collector's measure), and removed since the start.
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  uint64_t gc_removed() const { return gc_removed_.load(std::memory_order_relaxed); }

  // For listings: calls fn(ip, word, confirmed_ms, port) for every entry. Not an RCU reader
  // (the telemetry thread): a slot the collector frees and another address reuses meanwhile
  // can be listed with a mix of the two; listings are advisory.
  template <typename F>
  void for_each(F&& fn) const {
    uint32_t n = count_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
      if (!slots_[i].used.load(std::memory_order_acquire)) continue;
      fn(slots_[i].ip, slots_[i].word.load(std::memory_order_acquire),
         slots_[i].confirmed_ms.load(std::memory_order_relaxed),
         slots_[i].port.load(std::memory_order_relaxed));
    }
  }

 private:
  neighbor_table_t() = default;
  int32_t find_or_add(const Key& ip);
  int32_t take_slot();
  void release_slot(uint32_t idx);
  // Removes the entries `doomed(slot)` picks, after a grace period of `qs`. One caller at a time.
  template <typename Pred>
  uint32_t remove_where(Pred doomed, rte_rcu_qsbr* qs) CTGATE_REQUIRES(remove_mu_);

  struct slot {
    std::atomic<uint64_t> word{0};  // mac | k_valid | k_static
    std::atomic<uint32_t> next_request_ms{0};
    std::atomic<uint32_t> confirmed_ms{0};  // last ARP from it
    std::atomic<uint16_t> port{0};          // where it was learned
    std::atomic<bool> used{false};          // holds an entry (false: free, or being freed)
    Key ip{};
  };
  rte_hash* hash_ = nullptr;
  slot* slots_ = nullptr;
  rte_ring* free_ = nullptr;        // slots the garbage collector freed, for reuse
  std::atomic<uint32_t> count_{0};  // slots ever handed out (a high-water mark)
  std::atomic<uint32_t> in_use_{0};
  std::atomic<uint64_t> gc_removed_{0};
  mutex remove_mu_;  // gc (the main loop) and remove (telemetry threads) one at a time
};

// An IPv6 neighbour is one address on one port, as Linux keys neighbours by address and
// device: a link-local address (fe80::1) is only unique on its link.
struct alignas(8) neigh6_key {
  ipv6_addr addr;
  uint32_t port = 0;
  uint32_t pad = 0;  // zero: the key's bytes are hashed
  bool operator==(const neigh6_key&) const = default;
};
static_assert(sizeof(neigh6_key) == 24);

using neighbor_table = neighbor_table_t<uint32_t>;
using neighbor6_table = neighbor_table_t<neigh6_key>;

uint64_t mac_to_u64(const mac_addr& m);
mac_addr u64_to_mac(uint64_t w);

}  // namespace ctgate
