#include "hook/hook_registry.h"

#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstring>

namespace ctgate {

const char* hook_point_name(hook_point hp) {
  static constexpr const char* names[] = {"PRE_ROUTING", "LOCAL_IN", "FORWARD", "LOCAL_OUT",
                                          "POST_ROUTING"};
  return names[static_cast<int>(hp)];
}

hook_registry::hook_registry(rte_rcu_qsbr* qs) : qs_(qs), cur_(new hook_snapshot()) {
  id_used_[0] = true;  // 0 is "no id"
}

hook_registry::~hook_registry() { delete cur_.load(std::memory_order_relaxed); }

result<int> hook_registry::add(hook_point hp, int32_t priority, const std::string& name, hook_fn fn,
                               void* priv, uint32_t group, uint8_t families) {
  lock_guard lock(mu_);
  result<int> id = add_locked(hp, priority, name, fn, priv, group, families);
  if (id) publish_locked();
  return id;
}

void hook_registry::remove_group_locked(uint32_t group) {
  for (auto& chain : chains_) {
    for (const auto& e : chain)
      if (e.group == group) id_used_[e.id] = false;
    std::erase_if(chain, [&](const hook_entry& e) { return e.group == group; });
  }
}

result<int> hook_registry::add_locked(hook_point hp, int32_t priority, const std::string& name,
                                      hook_fn fn, void* priv, uint32_t group, uint8_t families) {
  auto& chain = chains_[static_cast<int>(hp)];
  if (chain.size() >= k_max_hooks_per_point) {
    return error{.message = std::string("too many callbacks on ") + hook_point_name(hp)};
  }
  uint16_t id = 0;
  for (uint16_t i = 1; i < k_max_hook_ids; i++) {
    if (!id_used_[i]) {
      id = i;
      break;
    }
  }
  if (id == 0) return error{.message = "too many registered callbacks"};
  id_used_[id] = true;
  hook_entry e{};
  e.fn = fn;
  e.priv = priv;
  e.priority = priority;
  e.id = id;
  e.group = group;
  e.families = families;
  std::strncpy(e.name, name.c_str(), k_hook_name_len - 1);
  // Linux's rule: insert before the first entry with priority >= ours.
  auto pos = std::find_if(chain.begin(), chain.end(),
                          [&](const hook_entry& x) { return x.priority >= priority; });
  chain.insert(pos, e);
  return id;
}

bool hook_registry::remove(int id) {
  lock_guard lock(mu_);
  for (auto& chain : chains_) {
    auto it =
        std::find_if(chain.begin(), chain.end(), [&](const hook_entry& x) { return x.id == id; });
    if (it != chain.end()) {
      chain.erase(it);
      id_used_[id] = false;
      publish_locked();
      return true;
    }
  }
  return false;
}

void hook_registry::publish_locked() {
  auto* next = new hook_snapshot();
  for (int h = 0; h < k_hook_count; h++) {
    next->chains[h].n = static_cast<uint16_t>(chains_[h].size());
    std::copy(chains_[h].begin(), chains_[h].end(), next->chains[h].e);
    for (const hook_entry& e : chains_[h]) next->chains[h].families |= e.families;
  }
  next->generation = ++generation_;
  // Release: a worker that loads the new pointer sees a fully built array.
  const hook_snapshot* old = cur_.exchange(next, std::memory_order_acq_rel);
  // Free the old array only once every worker has passed a quiescent point,
  // i.e. finished the burst that might still be walking it.
  if (qs_ != nullptr) rte_rcu_qsbr_synchronize(qs_, RTE_QSBR_THRID_INVALID);
  delete old;
}

std::vector<hook_registry::listing_entry> hook_registry::list() const {
  lock_guard lock(mu_);
  std::vector<listing_entry> out;
  for (int h = 0; h < k_hook_count; h++)
    for (const auto& e : chains_[h])
      out.push_back({static_cast<hook_point>(h), e.priority, e.id, e.group, e.name, e.families});
  return out;
}

}  // namespace ctgate
