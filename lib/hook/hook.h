// Netfilter-style hook points with priority-ordered callbacks.
//
// The data plane sees an immutable hook_snapshot: per hook point, a sorted
// array of callbacks. The control plane (hook_registry) builds a new
// snapshot on every change, publishes it with one release store, and frees
// the old one after an RCU grace period. Workers load the pointer once per
// burst, so a burst never sees two different chains.
#pragma once

#include <rte_mbuf.h>

#include <climits>
#include <cstdint>

namespace ctgate {

struct worker_ctx;  // defined by the data plane; hooks only pass it through

enum class hook_point : uint8_t { prerouting = 0, input, forward, output, postrouting, count_ };
inline constexpr int k_hook_count = static_cast<int>(hook_point::count_);
const char* hook_point_name(hook_point hp);  // Linux's names: PRE_ROUTING, LOCAL_IN, ...

enum class verdict : uint8_t { accept = 0, drop, stolen };

// Linux's priorities for the built-ins (enum nf_ip_hook_priorities).
enum hook_priority : int32_t {
  PRI_CONNTRACK_DEFRAG = -400,
  PRI_RAW = -300,
  PRI_CONNTRACK = -200,
  PRI_MANGLE = -150,
  PRI_NAT_DST = -100,
  PRI_FILTER = 0,
  PRI_SECURITY = 50,
  PRI_NAT_SRC = 100,
  // Linux's ipv4 synproxy hooks sit just before confirm
  // (NF_IP_PRI_CONNTRACK_CONFIRM - 1).
  PRI_SYNPROXY = INT_MAX - 1,
  PRI_CONNTRACK_CONFIRM = INT_MAX,
  // ctgate's own: synproxy's automatic defence answers SYNs ahead of the raw
  // table, so a flood never reaches a rule.
  PRI_SYNPROXY_AUTO = PRI_RAW - 10,
};

// Linux's priorities on the bridge's hooks (enum nf_br_hook_priorities); nft's bridge family
// names -300 dstnat, -200 filter, 100 out and 300 srcnat. nf_conntrack_bridge uses the IPv4
// ones above (PRI_CONNTRACK in prerouting, PRI_CONNTRACK_CONFIRM in postrouting).
enum bridge_hook_priority : int32_t {
  PRI_BR_NAT_DST_BRIDGED = -300,
  PRI_BR_FILTER_BRIDGED = -200,
  PRI_BR_BRNF = 0,
  PRI_BR_NAT_DST_OTHER = 100,
  PRI_BR_FILTER_OTHER = 200,
  PRI_BR_NAT_SRC = 300,
};

struct hook_entry;

// The packet families a callback is for (Linux registers hooks per family: an ip table's
// chains see IPv4, an inet table's both). Bursts are one family: an IPv6 burst runs the
// callbacks that have HOOK_FAM_IPV6. HOOK_FAM_BRIDGE is Linux's NFPROTO_BRIDGE: the hooks
// a bridge's switched frames meet (a bridge table's chains, nf_conntrack_bridge), whatever
// their EtherType.
enum : uint8_t { HOOK_FAM_IPV4 = 1u << 0, HOOK_FAM_IPV6 = 1u << 1, HOOK_FAM_BRIDGE = 1u << 2 };

// A callback processes a whole burst. v[] arrives all `accept`; the callback
// sets drop or stolen for the packets it rejects or takes, and returns how
// many it did not accept (0 lets the runner skip compaction). It must not
// free a packet it marks drop: the runner drops it through the one drop
// function, which also releases an unconfirmed conntrack entry.
using hook_fn = uint16_t (*)(const hook_entry& self, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                             verdict* v);

inline constexpr int k_hook_name_len = 40;
inline constexpr uint16_t k_max_hook_ids = 256;  // ids index per-worker counters
inline constexpr uint16_t k_max_hooks_per_point = 32;

struct hook_entry {
  hook_fn fn;
  void* priv;
  int32_t priority;
  uint16_t id;       // registration id, 1..k_max_hook_ids-1, stable while registered
  uint32_t group;    // who registered it: 0 built-ins, others e.g. a ruleset generation
  uint8_t families;  // HOOK_FAM_* bits
  char name[k_hook_name_len];
};

struct hook_snapshot {
  struct chain {
    uint16_t n = 0;
    uint8_t families = 0;  // the union of the entries' families: whom the chain has work for
    hook_entry e[k_max_hooks_per_point];
  } chains[k_hook_count];
  uint64_t generation = 0;
};

}  // namespace ctgate
