#include "dataplane/hooks_builtin.h"

#include <algorithm>

#include "dataplane/defrag.h"
#include "dataplane/gateway.h"

namespace ctgate {

uint16_t conntrack_in_hook(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                           verdict* v) {
  return ct::ct_in(w.ct, w.now_ms, pkts, n, v);
}

uint16_t conntrack_in6_hook(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                            verdict* v) {
  return ct::ct_in6(w.ct, w.now_ms, pkts, n, v);
}

namespace {

uint16_t conntrack_confirm(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                           verdict* v) {
  return ct::ct_confirm(w.ct, w.now_ms, pkts, n, v);
}

// nf_conntrack_bridge's prerouting callback (nf_ct_bridge_pre). A bridge's burst mixes
// families: its IPv4 frames go to IPv4's tracker, its IPv6 frames to IPv6's, each as one
// sub-burst, and the rest (ARP, ...) pass with no entry, which `ct state` reads as invalid, as
// Linux's nft_ct_get does for a frame conntrack never saw. A frame for a bridge interface
// (L2F_TO_HOST) is left untracked: the IP path tracks it, where NAT binds it, reassembly holds
// it and the NAT owner takes it (docs/design/bridge.md).
uint16_t conntrack_bridge_in_hook(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                                  verdict* v) {
  rte_mbuf* sub[2][k_max_burst];
  uint16_t at[2][k_max_burst];
  uint16_t k[2] = {0, 0};
  for (uint16_t i = 0; i < n; i++) {
    pkt_meta* m = meta_of(pkts[i]);
    if (m->l2_flags & (L2F_NOT_IP | L2F_TO_HOST)) [[unlikely]] {
      if (m->l2_flags & L2F_TO_HOST) m->ct_info = CTINFO_UNTRACKED;
      continue;
    }
    const int f = (m->flags & PKT_F_IPV6) ? 1 : 0;
    sub[f][k[f]] = pkts[i];
    at[f][k[f]++] = i;
  }
  uint16_t rejected = 0;
  for (int f = 0; f < 2; f++) {
    if (k[f] == 0) continue;
    verdict sv[k_max_burst];
    std::fill(sv, sv + k[f], verdict::accept);
    if ((f == 0 ? ct::ct_in : ct::ct_in6)(w.ct, w.now_ms, sub[f], k[f], sv) == 0) continue;
    for (uint16_t j = 0; j < k[f]; j++) {
      v[at[f][j]] = sv[j];
      rejected += sv[j] != verdict::accept ? 1 : 0;
    }
  }
  return rejected;
}

}  // namespace

result<void> register_conntrack_hooks(hook_registry::editor& ed, uint8_t families) {
  // Names follow Linux's so the listing reads like list-nf-hooks.
  struct {
    uint8_t family;
    hook_point hp;
    int32_t prio;
    const char* name;
    hook_fn fn;
  } const ops[] = {
      // Reassembly first: conntrack sees whole datagrams (nf_defrag_ipv4,
      // registered with conntrack, as Linux's conntrack depends on it).
      {HOOK_FAM_IPV4, hook_point::prerouting, PRI_CONNTRACK_DEFRAG, "ipv4_conntrack_defrag",
       ipv4_defrag_hook},
      {HOOK_FAM_IPV4, hook_point::output, PRI_CONNTRACK_DEFRAG, "ipv4_conntrack_defrag",
       ipv4_defrag_hook},
      {HOOK_FAM_IPV4, hook_point::prerouting, PRI_CONNTRACK, "ipv4_conntrack_in",
       conntrack_in_hook},
      {HOOK_FAM_IPV4, hook_point::output, PRI_CONNTRACK, "ipv4_conntrack_local", conntrack_in_hook},
      {HOOK_FAM_IPV4, hook_point::input, PRI_CONNTRACK_CONFIRM, "ipv4_confirm", conntrack_confirm},
      {HOOK_FAM_IPV4, hook_point::postrouting, PRI_CONNTRACK_CONFIRM, "ipv4_confirm",
       conntrack_confirm},
      // nf_defrag_ipv6 registers its callback as ipv6_defrag.
      {HOOK_FAM_IPV6, hook_point::prerouting, PRI_CONNTRACK_DEFRAG, "ipv6_defrag",
       ipv6_defrag_hook},
      {HOOK_FAM_IPV6, hook_point::output, PRI_CONNTRACK_DEFRAG, "ipv6_defrag", ipv6_defrag_hook},
      {HOOK_FAM_IPV6, hook_point::prerouting, PRI_CONNTRACK, "ipv6_conntrack_in",
       conntrack_in6_hook},
      {HOOK_FAM_IPV6, hook_point::output, PRI_CONNTRACK, "ipv6_conntrack_local",
       conntrack_in6_hook},
      {HOOK_FAM_IPV6, hook_point::input, PRI_CONNTRACK_CONFIRM, "ipv6_confirm", conntrack_confirm},
      {HOOK_FAM_IPV6, hook_point::postrouting, PRI_CONNTRACK_CONFIRM, "ipv6_confirm",
       conntrack_confirm},
      // nf_conntrack_bridge: tracked at the bridge's prerouting, confirmed at its postrouting.
      // What goes up to a bridge interface is tracked and confirmed by the IP path, as Linux's
      // nf_ct_bridge_in leaves a PACKET_HOST frame's entry to IP's confirm.
      {HOOK_FAM_BRIDGE, hook_point::prerouting, PRI_CONNTRACK, "nf_ct_bridge_pre",
       conntrack_bridge_in_hook},
      {HOOK_FAM_BRIDGE, hook_point::postrouting, PRI_CONNTRACK_CONFIRM, "nf_ct_bridge_post",
       conntrack_confirm},
  };
  for (const auto& op : ops)
    if (op.family & families)
      if (result<int> id = ed.add(op.hp, op.prio, op.name, op.fn, nullptr, 0, op.family); !id)
        return std::move(id).error();
  return {};
}

}  // namespace ctgate
