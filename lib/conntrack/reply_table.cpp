#include "conntrack/reply_table.h"

#include <rte_hash.h>
#include <rte_malloc.h>

#include <cerrno>

#include "conntrack/flow_table.h"

namespace ctgate::ct {

reply_table::~reply_table() {
  if (hash_ != nullptr) rte_hash_free(hash_);
  rte_free(owner_);
}

result<std::unique_ptr<reply_table>> reply_table::create(const std::string& name, uint32_t max,
                                                         rte_rcu_qsbr* qs) {
  std::unique_ptr<reply_table> t(new reply_table());
  // The flow table's slack, for the same reasons: deleted positions wait out a grace period,
  // and cuckoo displacement can fail near full.
  result<rte_hash*> h = create_shared_hash(name, max + max / 8 + 64, qs, "reply table");
  if (!h) return h.error();
  t->hash_ = *h;
  t->capacity_ = static_cast<uint32_t>(rte_hash_max_key_id(t->hash_)) + 1;
  const size_t bytes = sizeof(std::atomic<uint32_t>) * t->capacity_;
  t->owner_ = static_cast<std::atomic<uint32_t>*>(rte_zmalloc("ct_reply_owner", bytes, 64));
  if (t->owner_ == nullptr)
    return error{.message = "reply table: cannot allocate " + std::to_string(bytes) + " bytes"};
  return t;
}

void reply_table::lookup_bulk(const flow_key* const* keys, uint32_t n, int32_t* flow_pos) const {
  shared_hash_lookup_bulk(hash_, keys, n, flow_pos);
  for (uint32_t i = 0; i < n; ++i) {
    if (flow_pos[i] < 0) {  // -ENOENT from rte_hash
      flow_pos[i] = -1;
      continue;
    }
    // Acquire: pairs with add()'s CAS, so the flow it names was published before.
    const uint32_t owner = owner_[flow_pos[i]].load(std::memory_order_acquire);
    flow_pos[i] = owner == 0 ? -1 : static_cast<int32_t>(owner - 1);
  }
}

int32_t reply_table::lookup(const flow_key& k) const {
  const flow_key* keys[1] = {&k};
  int32_t pos;
  lookup_bulk(keys, 1, &pos);
  return pos;
}

int reply_table::add(const flow_key& k, uint32_t flow_pos) {
  // A key already present (another flow's, or one being added by another worker) comes back
  // with its position: the CAS below is the arbiter. Two tries: the second covers a holder
  // that deleted the key between our add and our CAS (below).
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int32_t at = shared_hash_add(hash_, k);
    if (at < 0) return -ENOSPC;
    uint32_t none = 0;
    // Release: the caller's flow (its entry, already published) before the key points at it.
    if (!owner_[at].compare_exchange_strong(none, flow_pos + 1, std::memory_order_release,
                                            std::memory_order_relaxed))
      return -EEXIST;
    // The position may be a deleted key's: its holder deleted it after our add returned it,
    // then cleared the owner word, and our CAS took a position no longer in the hash (it
    // waits out the grace period, which our own burst holds open, so it is not yet another
    // key's). Give it back and add again.
    if (shared_hash_lookup(hash_, k) == at) {
      count_.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    owner_[at].store(0, std::memory_order_relaxed);
  }
  return -EEXIST;
}

void reply_table::del(const flow_key& k, uint32_t flow_pos) {
  const int32_t at = shared_hash_lookup(hash_, k);
  if (at < 0 || owner_[at].load(std::memory_order_relaxed) != flow_pos + 1) return;
  shared_hash_del(hash_, k);
  // After the delete: a worker that adds the key again gets a fresh position (this one waits
  // out the grace period), so clearing now cannot hand this key to a second flow; and a reader
  // that still finds the position sees no owner, a miss.
  owner_[at].store(0, std::memory_order_release);
  count_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace ctgate::ct
