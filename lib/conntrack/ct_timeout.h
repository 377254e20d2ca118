// Per-flow timeout policies (Linux's nf_conntrack_timeout, set by nft's `ct timeout set`): a
// flow that gets one follows the policy's timeout for each of its states instead of the
// gateway's conntrack.timeouts.
//
// The policies in force are an immutable snapshot of up to k_max_timeout_policies slots,
// published by pointer (ct_runtime::policies) and freed after a grace period, as rulesets are.
// A flow names its slot, and the slot's generation, in an inline extension (ct_ext.h id 4). A
// policy the ruleset no longer declares leaves the snapshot: its flows fall back to the
// gateway's timeouts from their next packet, as Linux's nf_ct_untimeout() detaches a deleted
// policy from its flows. A slot given to a new policy takes a new generation, so flows of the
// one before never follow it (docs/design/conntrack.md#timeout-policies).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "conntrack/ct_ext.h"
#include "conntrack/proto.h"

namespace ctgate::ct {

inline constexpr size_t k_max_timeout_policies = 256;

// The extension: which policy the flow follows.
struct ct_timeout_ext {
  static constexpr ct_ext_id ext_id = ct_ext_id::timeout;
  uint8_t slot = 0;
  uint8_t pad = 0;
  uint16_t gen = 0;
};

struct ct_timeout_policy {
  uint16_t gen = 0;       // 0: the slot is empty
  uint8_t l4proto = 0;    // the protocol it applies to
  uint8_t first = 0;      // the class a new flow starts in (Linux refreshes with values[0])
  timeout_table t{};      // the gateway's timeouts with the policy's states in place
  tracker_params params;  // the gateway's, with `timeouts` pointing at t
};

struct ct_timeout_policies {
  std::array<ct_timeout_policy, k_max_timeout_policies> slot;
};

// Packs a slot and its generation for a compiled statement; unpacked by the worker.
inline uint32_t ct_timeout_ref(uint8_t slot, uint16_t gen) {
  return static_cast<uint32_t>(gen) << 8 | slot;
}

// One policy a ruleset declares: who it is (its table's handle, its own handle and serial:
// a load that keeps the object keeps the slot) and what it sets.
struct ct_timeout_request {
  std::tuple<uint64_t, uint64_t, uint64_t> identity;
  uint8_t l4proto = 0;
  uint8_t first = 0;
  std::vector<std::pair<uint8_t, uint32_t>> ms;  // (timeout class, ms) the policy sets
};

// Control plane only (loads are serialized): which slot each declared policy holds.
class ct_timeout_registry {
 public:
  // The snapshot for a ruleset declaring `wanted` (the gateway's `base` timeouts and tracker
  // settings under each), and per request its packed reference (ct_timeout_ref). A policy the
  // last snapshot had keeps its slot; policies no longer declared leave theirs to be reused,
  // the one left longest ago first. nullptr when more than k_max_timeout_policies are declared.
  std::unique_ptr<ct_timeout_policies> assign(const std::vector<ct_timeout_request>& wanted,
                                              const tracker_params& base_params,
                                              const timeout_table& base,
                                              std::vector<uint32_t>* refs);

 private:
  struct held {
    uint8_t slot;
    uint16_t gen;
  };
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, held> by_identity_;
  std::array<uint16_t, k_max_timeout_policies> gen_{};       // the last generation of each slot
  std::array<uint64_t, k_max_timeout_policies> freed_at_{};  // assign() count when released
  uint64_t round_ = 0;
};

}  // namespace ctgate::ct
