// Built-in hook callbacks: conntrack's, wrapping the ct_* burst functions.
#pragma once

#include <string>

#include "hook/hook_registry.h"

namespace ctgate {
// Adds conntrack's callbacks for `families` (HOOK_FAM_* bits) to an edit of the registry, as
// Linux's nf_ct_netns_get does per family.
result<void> register_conntrack_hooks(hook_registry::editor& ed, uint8_t families);
// Conntrack's prerouting callback, where a packet handed off by another worker resumes.
uint16_t conntrack_in_hook(const hook_entry& self, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                           verdict* v);
// IPv6's (ipv6_conntrack_in): a hand-off of an IPv6 packet resumes here.
uint16_t conntrack_in6_hook(const hook_entry& self, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                            verdict* v);
}  // namespace ctgate
