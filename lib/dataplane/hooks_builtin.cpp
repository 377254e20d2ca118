#include "dataplane/hooks_builtin.h"

#include "dataplane/gateway.h"
#include "dataplane/ipv4_defrag.h"

namespace ctgate {

uint16_t conntrack_in_hook(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                           verdict* v) {
  return ct::ct_in(w.ct, w.now_ms, pkts, n, v);
}

namespace {

uint16_t conntrack_confirm(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                           verdict* v) {
  return ct::ct_confirm(w.ct, w.now_ms, pkts, n, v);
}

}  // namespace

result<void> register_conntrack_hooks(hook_registry::editor& ed) {
  // Names follow Linux's so the listing reads like list-nf-hooks.
  struct {
    hook_point hp;
    int32_t prio;
    const char* name;
    hook_fn fn;
  } const ops[] = {
      // Reassembly first: conntrack sees whole datagrams (nf_defrag_ipv4,
      // registered with conntrack, as Linux's conntrack depends on it).
      {hook_point::prerouting, PRI_CONNTRACK_DEFRAG, "ipv4_conntrack_defrag", ipv4_defrag_hook},
      {hook_point::output, PRI_CONNTRACK_DEFRAG, "ipv4_conntrack_defrag", ipv4_defrag_hook},
      {hook_point::prerouting, PRI_CONNTRACK, "ipv4_conntrack_in", conntrack_in_hook},
      {hook_point::output, PRI_CONNTRACK, "ipv4_conntrack_local", conntrack_in_hook},
      {hook_point::input, PRI_CONNTRACK_CONFIRM, "ipv4_confirm", conntrack_confirm},
      {hook_point::postrouting, PRI_CONNTRACK_CONFIRM, "ipv4_confirm", conntrack_confirm},
  };
  for (const auto& op : ops)
    if (result<int> id = ed.add(op.hp, op.prio, op.name, op.fn, nullptr); !id)
      return std::move(id).error();
  return {};
}

}  // namespace ctgate
