// The shared, bounded flow table: an rte_hash cuckoo table in lock-free
// read mode plus a flat array of entries indexed by the hash's key position.
//
// - Readers (every worker) look keys up in bulk with no locks.
// - The entry for key position p lives at entries_[p], its TCP window
//   record at windows_[p]. A deleted position goes back to rte_hash only
//   after an RCU grace period: its owner keeps it on a retired list and
//   hands it back (release) once every worker has passed a quiescent point
//   (conntrack.cpp, reclaim_positions). So an entry a reader found stays
//   valid memory, and unchanged, until that reader's next quiescent point.
//   A worker's flow cache (flow_cache.h) holds positions across quiescent
//   points; it relies on the owner marking an entry DELETING before its delete.
// - The number of flows, unconfirmed ones included as in Linux, is enforced
//   by our own counter against `max`; the hash is sized with slack so "full"
//   means `max`, not a cuckoo accident or slots still awaiting reclamation.
// - Inserting threads must be EAL threads (workers are): rte_hash's
//   multi-writer mode keeps its free-slot caches per lcore id.
// See docs/design/conntrack.md for the memory orders.
#pragma once

#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "conntrack/ct_acct.h"
#include "conntrack/ct_entry.h"

struct rte_hash;
struct rte_rcu_qsbr;

namespace ctgate::ct {

struct flow_cache;

// An rte_hash of flow keys as the flow and reply tables use it: lock-free reads, multi-writer
// adds and an extendable bucket table. A deleted position is reused only after a grace period:
// with `qs`, rte_hash's defer queue waits for it; with null, the caller does, and then frees
// the position (rte_hash_free_key_with_position). `what` names the table in errors.
result<rte_hash*> create_shared_hash(const std::string& name, uint32_t entries, rte_rcu_qsbr* qs,
                                     const char* what);
// A table made by create_shared_hash, with the keys' signatures computed inline (flow_table.cpp):
// rte_hash_lookup_bulk, rte_hash_lookup, rte_hash_add_key and rte_hash_del_key, same results.
// Bulk lookup takes n <= RTE_HASH_LOOKUP_BULK_MAX; pos[i] is the key's position, or negative.
void shared_hash_lookup_bulk(const rte_hash* h, const flow_key* const* keys, uint32_t n,
                             int32_t* pos);
int32_t shared_hash_lookup(const rte_hash* h, const flow_key& k);
int32_t shared_hash_add(const rte_hash* h, const flow_key& k);
int32_t shared_hash_del(const rte_hash* h, const flow_key& k);
// The signature such a table computes for `k` (rte_hash_crc over its 16 bytes, initial value 0).
uint32_t shared_hash_sig(const flow_key& k);

class flow_table {
 public:
  ~flow_table();
  flow_table(const flow_table&) = delete;
  flow_table& operator=(const flow_table&) = delete;

  static result<std::unique_ptr<flow_table>> create(const std::string& name, uint32_t max);

  // Bulk lookup (n <= 64). pos[i] = position or -1.
  void lookup_bulk(const flow_key* const* keys, uint32_t n, int32_t* pos) const;
  // The same, through a worker's flow cache (flow_cache.h): a cached position is taken when the
  // entry there is live and holds the key; the other keys are looked up in the table, and what
  // they find is cached. Returns how many keys the cache answered; *found is how many keys
  // were found, by the cache or the table.
  uint32_t lookup_bulk(const flow_key* const* keys, uint32_t n, int32_t* pos, flow_cache& cache,
                       uint32_t* found) const;
  int32_t lookup(const flow_key& k) const;

  // Inserts the key; returns its position (>= 0), or -ENOSPC. When the key
  // was already present (another worker won the race) the same position is
  // returned: the caller resolves the clash through the entry's claim word.
  int32_t add(const flow_key& k);
  // Owner only. Deletes the key and returns its position, or -ENOENT. rte_hash does not hand
  // the position out again until release() returns it.
  int32_t del(const flow_key& k);
  // Gives rte_hash back the positions linked from `head` through their entries' wheel_next
  // (an owner's retired list of DELETING entries, ending in k_no_pos), once a grace period has
  // passed since each was deleted, and marks their entries FREE. Workers may call it at once:
  // the calls are serialised (one lock a list), because rte_hash recycles an emptied
  // extendable bucket with a single-producer enqueue. An EAL thread only (rte_hash's free
  // positions are cached per lcore). Returns how many positions it gave back.
  uint32_t release(uint32_t head);

  ct_entry* at(uint32_t pos) const { return &entries_[pos]; }
  // The TCP window record of the entry at `pos` (written by its owner only).
  tcp_window* window_at(uint32_t pos) const { return &windows_[pos]; }
  // The accounting of the entry at `pos`, or null while accounting is off (ct_acct.h).
  ct_acct* acct_at(uint32_t pos) const {
    ct_acct* a = acct_.load(std::memory_order_acquire);
    return a != nullptr ? &a[pos] : nullptr;
  }
  bool accounting() const { return acct_.load(std::memory_order_acquire) != nullptr; }
  // The whole array (null while off): loaded once per burst, indexed by position.
  ct_acct* acct_array() const { return acct_.load(std::memory_order_acquire); }
  // Control plane: turns accounting on (for good, as Linux's nf_ct_set_acct), allocating the
  // array; flows confirmed before count from now. Fails only when memory runs out.
  result<void> enable_accounting();
  // The reply tuple of a translated flow at `pos` (its status has CT_STATUS_SRC_NAT or
  // _DST_NAT), written before the entry is published; null while no ruleset translates.
  ct_tuple* nat_reply_at(uint32_t pos) const {
    ct_tuple* r = nat_replies_.load(std::memory_order_acquire);
    return r != nullptr ? &r[pos] : nullptr;
  }
  // Control plane: makes room for translated flows' reply tuples (for good, as accounting),
  // 16 bytes per position. Fails only when memory runs out.
  result<void> enable_nat_replies();
  // ... and, when IPv6 is on too, translated IPv6 flows' reply addresses (32 bytes per position).
  result<void> enable_nat_replies6();
  // The reply addresses of the translated IPv6 flow at `pos` (as its reply tuple: the
  // reply's sender first), written with its reply tuple; null while no ruleset translates or
  // no port has IPv6.
  ct_addr6* nat_reply6_at(uint32_t pos) const {
    return nat_replies_.load(std::memory_order_acquire) != nullptr && nat_replies6_ != nullptr
               ? &nat_replies6_[pos]
               : nullptr;
  }
  // The addresses of the IPv6 flow at `pos` (ct_entry.h), written before the entry is
  // published and unchanged while it lives; null until enable_ipv6.
  ct_addr6* addr6_at(uint32_t pos) const { return addrs6_ != nullptr ? &addrs6_[pos] : nullptr; }
  bool ipv6() const { return addrs6_ != nullptr; }
  // Control plane, before the workers start: makes room for IPv6 flows' addresses, 32 bytes
  // per position. Without it IPv6 packets are not tracked (ct_in6). Fails only when memory runs
  // out.
  result<void> enable_ipv6();
  uint32_t capacity() const { return capacity_; }  // positions in entries_
  // Positions rte_hash counts as taken: the keys in the table, and the positions deleted but
  // not yet given back (release).
  uint32_t positions_taken() const;
  uint32_t max() const { return max_; }

  // Flow accounting against max (unconfirmed entries included). Ordinary
  // flows stop at max - reserved; privileged ones (management traffic) may
  // use the reserved share up to max.
  bool try_reserve(bool privileged = false);
  void set_reserved(uint32_t n) { reserved_ = n < max_ ? n : max_; }
  void unreserve() { count_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t count() const { return count_.load(std::memory_order_relaxed); }

  // Memory the table occupies (entries + hash), for bytes-per-flow figures.
  size_t memory_bytes() const { return memory_bytes_; }

 private:
  flow_table() = default;
  rte_hash* hash_ = nullptr;
  ct_entry* entries_ = nullptr;
  tcp_window* windows_ = nullptr;
  std::atomic<ct_acct*> acct_{nullptr};
  std::atomic<ct_tuple*> nat_replies_{nullptr};
  ct_addr6* addrs6_ = nullptr;
  ct_addr6* nat_replies6_ = nullptr;  // allocated before nat_replies_ is published
  uint32_t capacity_ = 0;
  uint32_t max_ = 0;
  uint32_t reserved_ = 0;
  size_t memory_bytes_ = 0;
  alignas(64) std::atomic<int64_t> count_{0};
  alignas(64) rte_spinlock_t release_lock_ = RTE_SPINLOCK_INITIALIZER;
};

}  // namespace ctgate::ct
