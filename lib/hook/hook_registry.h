// The control-plane side of hooks: registration with Linux's ordering rule
// and snapshot publication.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

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
  // runs first. Returns the id (> 0), or -1 with *err set.
  int add(hook_point hp, int32_t priority, const std::string& name, hook_fn fn, void* priv,
          std::string* err);
  bool remove(int id);

  // The current snapshot (acquire). Data-plane readers must be RCU readers.
  const hook_snapshot* current() const { return cur_.load(std::memory_order_acquire); }
  const std::atomic<const hook_snapshot*>* current_ptr() const { return &cur_; }

  struct listing_entry {
    hook_point hp;
    int32_t priority;
    uint16_t id;
    std::string name;
  };
  std::vector<listing_entry> list() const;

 private:
  void publish_locked();

  rte_rcu_qsbr* qs_;
  mutable std::mutex mu_;
  std::vector<hook_entry> chains_[k_hook_count];  // control-plane master copy
  std::atomic<const hook_snapshot*> cur_;
  uint64_t generation_ = 0;
  bool id_used_[k_max_hook_ids] = {};
};

}  // namespace ctgate
