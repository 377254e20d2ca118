#include "dataplane/stages.h"

namespace ctgate {

uint16_t compact_verdicts(worker_ctx& w, rte_mbuf** pkts, uint16_t n, const verdict* v,
                          dp_counter reason) {
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (v[i] == verdict::accept)
      pkts[kept++] = pkts[i];
    else if (v[i] == verdict::drop)
      pkt_drop(w, pkts[i], reason);
    // stolen: the callback owns the packet now
  }
  return kept;
}

uint16_t stage_hook(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n) {
  const hook_snapshot::chain& chain = w.hooks->chains[static_cast<int>(hp)];
  verdict v[k_max_burst];
  for (uint16_t c = 0; c < chain.n && n > 0; c++) {
    const hook_entry& e = chain.e[c];
    std::fill(v, v + n, verdict::accept);
    w.hook_pkts[e.id].add(n);
    uint16_t rejected = e.fn(e, w, pkts, n, v);
    if (rejected == 0) continue;
    uint16_t kept = compact_verdicts(w, pkts, n, v, dp_counter::drop_hook);
    w.hook_drops[e.id].add(n - kept);
    n = kept;
  }
  return n;
}

}  // namespace ctgate
