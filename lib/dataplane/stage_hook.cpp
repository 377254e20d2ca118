#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/stages.h"

namespace ctgate {

uint16_t compact_verdicts(worker_ctx& w, rte_mbuf** pkts, uint16_t n, const verdict* v,
                          dp_counter reason, uint16_t* dropped) {
  uint16_t kept = 0, drops = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (v[i] == verdict::accept) {
      pkts[kept++] = pkts[i];
    } else if (v[i] == verdict::drop) {
      pkt_drop(w, pkts[i], reason);
      drops++;
    }
    // stolen: the callback owns the packet now (queued, or handed to another worker)
  }
  *dropped = drops;
  return kept;
}

void trace_event(worker_ctx& w, const rte_mbuf* m, trace_record r) {
  const pkt_meta* meta = meta_of(const_cast<rte_mbuf*>(m));
  r.id = meta->trace_id;
  if (!w.traces->push(r)) w.trace_lost.add(1);
}

namespace {

// Slow path, only for bursts that hold traced packets.
void trace_hook(worker_ctx& w, hook_point hp, const hook_entry& e, rte_mbuf** pkts, uint16_t n,
                const verdict* v) {
  for (uint16_t i = 0; i < n; i++) {
    if (!(meta_of(pkts[i])->flags & PKT_F_TRACE)) continue;
    trace_record r;
    r.kind = trace_kind::hook;
    r.hook = static_cast<uint8_t>(hp);
    r.hook_id = e.id;
    r.verdict = static_cast<uint8_t>(v[i]);
    // The first bytes of the name (a longer one is cut; the record's last byte stays 0).
    static_assert(sizeof(r.name) < sizeof(e.name));
    std::memcpy(r.name, e.name, sizeof(r.name) - 1);
    trace_event(w, pkts[i], r);
  }
}

bool any_traced(rte_mbuf** pkts, uint16_t n) {
  for (uint16_t i = 0; i < n; i++)
    if (meta_of(pkts[i])->flags & PKT_F_TRACE) return true;
  return false;
}

// One callback over the burst, its verdicts in `v`: counted, and traced when asked. Returns how
// many it did not accept.
[[gnu::always_inline]] inline uint16_t call_hook(worker_ctx& w, hook_point hp, const hook_entry& e,
                                                 bool tracing, rte_mbuf** pkts, uint16_t n,
                                                 verdict* v) {
  std::fill(v, v + n, verdict::accept);
  w.hook_pkts[e.id].add(n);
  const uint16_t rejected = e.fn(e, w, pkts, n, v);
  if (tracing && any_traced(pkts, n)) [[unlikely]]
    trace_hook(w, hp, e, pkts, n, v);
  return rejected;
}

// Every callback from the first one (`first`) for packets of `family`, over the burst.
template <uint8_t family>
uint16_t run_chain(worker_ctx& w, hook_point hp, const hook_snapshot::chain& chain, uint16_t first,
                   rte_mbuf** pkts, uint16_t n) {
  verdict v[k_max_burst];
  bool tracing = w.gw->tracing.load(std::memory_order_relaxed);
  for (uint16_t c = first; c < chain.n && n > 0; c++) {
    const hook_entry& e = chain.e[c];
    if (!(e.families & family)) continue;  // once per callback and burst
    if (call_hook(w, hp, e, tracing, pkts, n, v) == 0) continue;
    uint16_t dropped = 0;
    uint16_t kept = compact_verdicts(w, pkts, n, v, dp_counter::drop_hook, &dropped);
    w.hook_drops[e.id].add(dropped);
    n = kept;
  }
  return n;
}

}  // namespace

uint16_t stage_hook_bridge(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n) {
  return run_chain<HOOK_FAM_BRIDGE>(w, hp, w.hooks->chains[static_cast<int>(hp)], 0, pkts, n);
}

verdict bridge_hook_verdict(worker_ctx& w, hook_point hp, rte_mbuf* m) {
  const hook_snapshot::chain& chain = w.hooks->chains[static_cast<int>(hp)];
  const bool tracing = w.gw->tracing.load(std::memory_order_relaxed);
  for (uint16_t c = 0; c < chain.n; c++) {
    const hook_entry& e = chain.e[c];
    if (!(e.families & HOOK_FAM_BRIDGE)) continue;
    verdict v;
    if (call_hook(w, hp, e, tracing, &m, 1, &v) != 0) {
      w.hook_drops[e.id].add(1);
      return v;
    }
  }
  return verdict::accept;
}

uint16_t stage_hook6(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n) {
  return run_chain<HOOK_FAM_IPV6>(w, hp, w.hooks->chains[static_cast<int>(hp)], 0, pkts, n);
}

namespace {

// Where a chain resumes at callback `from` (null: its start).
uint16_t resume_at(const hook_snapshot::chain& chain, hook_fn from) {
  uint16_t first = 0;
  if (from != nullptr) {
    while (first < chain.n && chain.e[first].fn != from) first++;
    // Gone since (conntrack unregistered): what would have run after it.
    if (first == chain.n)
      for (first = 0; first < chain.n && chain.e[first].priority < PRI_CONNTRACK;) first++;
  }
  return first;
}

}  // namespace

uint16_t stage_hook6_from(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n, hook_fn from) {
  const hook_snapshot::chain& chain = w.hooks->chains[static_cast<int>(hp)];
  return run_chain<HOOK_FAM_IPV6>(w, hp, chain, resume_at(chain, from), pkts, n);
}

uint16_t stage_hook_from(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n, hook_fn from) {
  const hook_snapshot::chain& chain = w.hooks->chains[static_cast<int>(hp)];
  return run_chain<HOOK_FAM_IPV4>(w, hp, chain, resume_at(chain, from), pkts, n);
}

uint16_t stage_hook(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n) {
  return stage_hook_from(w, hp, pkts, n, nullptr);
}

}  // namespace ctgate
