// The control-plane side of hooks: registration with Linux's ordering rule
// and snapshot publication.
#pragma once

#include <algorithm>
#include <atomic>
#include <iterator>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/thread_annotations.h"
#include "hook/hook.h"

struct rte_rcu_qsbr;

namespace ctgate {

class hook_registry {
 public:
  // `qs` is the workers' quiescent-state variable; nullptr when no worker
  // thread runs concurrently (single-threaded tests), then old snapshots are
  // freed at once.
  explicit hook_registry(rte_rcu_qsbr* qs);
  ~hook_registry();
  hook_registry(const hook_registry&) = delete;
  hook_registry& operator=(const hook_registry&) = delete;

  // Inserts ahead of the first callback whose priority is >= `priority`
  // (nf_hook_entries_grow): among equal priorities the later registration
  // runs first. Returns the id (> 0). Arguments in editor::add's order.
  result<int> add(hook_point hp, int32_t priority, const std::string& name, hook_fn fn, void* priv,
                  uint32_t group = 0, uint8_t families = HOOK_FAM_IPV4);
  bool remove(int id);

  // Several changes published as one snapshot: workers see all or none.
  class editor {
   public:
    // As hook_registry::add, inside the edit. An editor exists only inside
    // edit(), which holds the registry lock: the analysis cannot follow
    // that through the callback, so these two are exempt.
    result<int> add(hook_point hp, int32_t priority, const std::string& name, hook_fn fn,
                    void* priv, uint32_t group = 0,
                    uint8_t families = HOOK_FAM_IPV4) CTGATE_NO_THREAD_SAFETY_ANALYSIS {
      return r_.add_locked(hp, priority, name, fn, priv, group, families);
    }
    void remove_group(uint32_t group) CTGATE_NO_THREAD_SAFETY_ANALYSIS {
      r_.remove_group_locked(group);
    }

   private:
    friend class hook_registry;
    explicit editor(hook_registry& r) : r_(r) {}
    hook_registry& r_;
  };
  // Runs `fn` (editor& -> result<void>) under the registry lock; if it
  // succeeds the result is published as one snapshot, otherwise every change
  // is rolled back and its error returned.
  template <typename F>
  result<void> edit(F&& fn) {
    lock_guard lock(mu_);
    std::vector<hook_entry> saved[k_hook_count];
    for (int h = 0; h < k_hook_count; h++) saved[h] = chains_[h];
    bool saved_ids[k_max_hook_ids];
    std::copy(std::begin(id_used_), std::end(id_used_), saved_ids);
    editor ed(*this);
    result<void> done = fn(ed);
    if (!done) {
      for (int h = 0; h < k_hook_count; h++) chains_[h] = std::move(saved[h]);
      std::copy(std::begin(saved_ids), std::end(saved_ids), id_used_);
      return done;
    }
    publish_locked();
    return done;
  }

  // The current snapshot (acquire). Data-plane readers must be RCU readers.
  const hook_snapshot* current() const { return cur_.load(std::memory_order_acquire); }
  const std::atomic<const hook_snapshot*>* current_ptr() const { return &cur_; }

  struct listing_entry {
    hook_point hp;
    int32_t priority;
    uint16_t id;
    uint32_t group;
    std::string name;
    uint8_t families;  // HOOK_FAM_* bits
  };
  std::vector<listing_entry> list() const;

 private:
  result<int> add_locked(hook_point hp, int32_t priority, const std::string& name, hook_fn fn,
                         void* priv, uint32_t group, uint8_t families) CTGATE_REQUIRES(mu_);
  void remove_group_locked(uint32_t group) CTGATE_REQUIRES(mu_);
  void publish_locked() CTGATE_REQUIRES(mu_);

  rte_rcu_qsbr* qs_;
  mutable mutex mu_;
  std::vector<hook_entry> chains_[k_hook_count] CTGATE_GUARDED_BY(
      mu_);  // control-plane master copy
  std::atomic<const hook_snapshot*> cur_;
  uint64_t generation_ CTGATE_GUARDED_BY(mu_) = 0;
  bool id_used_[k_max_hook_ids] CTGATE_GUARDED_BY(mu_) = {};
};

}  // namespace ctgate
