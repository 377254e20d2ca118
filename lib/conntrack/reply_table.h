// The reply keys of translated flows (docs/design/nat.md, "Keys"). A plain flow's one
// symmetric key in the flow table serves both directions; once NAT makes a flow's reply tuple
// differ from its original's inverse, the reply tuple's key goes here, pointing at the flow's
// position in the flow table.
//
// - An rte_hash of flow keys in lock-free read mode, multi-writer, whose key positions index
//   `owner_`: the flow table position (plus one) of the flow that holds the key, 0 while none
//   does.
// - Two workers adding one key (two new connections that chose the same reply tuple) get the
//   same key position from rte_hash; the CAS on its owner word decides which holds it, as the
//   flow table's claim word decides a clash. The loser gets -EEXIST and drops its packet, as
//   Linux drops a NAT clash at confirm.
// - Deleted positions are reused after an RCU grace period (rte_hash_rcu_qsbr_add on the
//   workers' QSBR variable), so a reader that found a position reads its owner word in that
//   period; the owner word is cleared after the key is deleted, before any reuse.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "conntrack/ct_entry.h"

struct rte_hash;
struct rte_rcu_qsbr;

namespace ctgate::ct {

class reply_table {
 public:
  ~reply_table();
  reply_table(const reply_table&) = delete;
  reply_table& operator=(const reply_table&) = delete;

  // Room for `max` keys (conntrack.max); `qs` is the workers' QSBR variable.
  static result<std::unique_ptr<reply_table>> create(const std::string& name, uint32_t max,
                                                     rte_rcu_qsbr* qs);
  // Bulk lookup (n <= 64): flow_pos[i] = the position in the flow table of the flow whose reply
  // key keys[i] is, or -1.
  void lookup_bulk(const flow_key* const* keys, uint32_t n, int32_t* flow_pos) const;
  int32_t lookup(const flow_key& k) const;
  // Adds `k` as the reply key of the flow at `flow_pos`: 0, or -EEXIST when another flow holds
  // it (its reply tuple is taken), or -ENOSPC when the table is full. Inserting threads must
  // be EAL threads (rte_hash's multi-writer caches are per lcore).
  int add(const flow_key& k, uint32_t flow_pos);
  // The flow's owner only: removes `k`, which the flow at `flow_pos` holds.
  void del(const flow_key& k, uint32_t flow_pos);
  // Keys held: a reader skips the second lookup while it is 0.
  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint32_t capacity() const { return capacity_; }

 private:
  reply_table() = default;
  rte_hash* hash_ = nullptr;
  std::atomic<uint32_t>* owner_ = nullptr;  // by key position: flow position + 1, 0 none
  uint32_t capacity_ = 0;
  alignas(64) std::atomic<int64_t> count_{0};
};

}  // namespace ctgate::ct
