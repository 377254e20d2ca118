#include "dataplane/hooks_builtin.h"

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
  };
  for (const auto& op : ops)
    if (op.family & families)
      if (result<int> id = ed.add(op.hp, op.prio, op.name, op.fn, nullptr, 0, op.family); !id)
        return std::move(id).error();
  return {};
}

}  // namespace ctgate
