// Timeout policy slots: see ct_timeout.h.
#include "conntrack/ct_timeout.h"

#include <algorithm>

namespace ctgate::ct {

std::unique_ptr<ct_timeout_policies> ct_timeout_registry::assign(
    const std::vector<ct_timeout_request>& wanted, const tracker_params& base_params,
    const timeout_table& base, std::vector<uint32_t>* refs) {
  refs->clear();
  if (wanted.size() > k_max_timeout_policies) return nullptr;
  ++round_;
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, held> next;
  std::array<bool, k_max_timeout_policies> taken{};
  for (const ct_timeout_request& r : wanted)
    if (auto it = by_identity_.find(r.identity); it != by_identity_.end()) {
      next.emplace(r.identity, it->second);
      taken[it->second.slot] = true;
    }
  for (const auto& [id, h] : by_identity_)
    if (!next.contains(id)) freed_at_[h.slot] = round_;
  for (const ct_timeout_request& r : wanted) {
    if (next.contains(r.identity)) continue;
    // The slot left longest ago (never used ones first). Flows of the policy that held it
    // carry the old generation and follow the gateway's timeouts, whichever slot is chosen;
    // spreading reuse keeps the 16-bit generations from coming round.
    size_t best = k_max_timeout_policies;
    for (size_t s = 0; s < k_max_timeout_policies; ++s)
      if (!taken[s] && (best == k_max_timeout_policies || freed_at_[s] < freed_at_[best])) best = s;
    taken[best] = true;
    gen_[best] = static_cast<uint16_t>(gen_[best] + 1 == 0 ? 1 : gen_[best] + 1);
    next.emplace(r.identity, held{static_cast<uint8_t>(best), gen_[best]});
  }
  by_identity_ = std::move(next);
  auto out = std::make_unique<ct_timeout_policies>();
  for (const ct_timeout_request& r : wanted) {
    const held h = by_identity_.at(r.identity);
    refs->push_back(ct_timeout_ref(h.slot, h.gen));
    ct_timeout_policy& p = out->slot[h.slot];
    p.gen = h.gen;
    p.l4proto = r.l4proto;
    p.first = r.first;
    p.t = base;
    for (const auto& [tclass, ms] : r.ms) p.t.ms[tclass] = ms;
    p.params = base_params;
    p.params.timeouts = &p.t;
  }
  return out;
}

}  // namespace ctgate::ct
