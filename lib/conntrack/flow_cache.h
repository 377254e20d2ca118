// A worker's cache of the flow table's positions, by key signature, in front of the shared
// table (OVS-DPDK's exact-match cache, in spirit; docs/design/conntrack.md, "The flow cache").
//
// - Only its worker reads or writes it: no atomics, no fences.
// - A slot is a hint, never an answer: flow_table::lookup_bulk takes a cached position only
//   once the entry there is LIVE and holds the key. A slot whose flow was deleted, or whose
//   position was reused for another flow, costs the table lookup it would have cost anyway.
//   An entry seen LIVE is not reused before the worker's next quiescent point, because its
//   owner marks it DELETING before its key leaves the table (ct_entry.h, destroy_owned).
// - 8-way sets of one cache line: the 32-bit signatures first, so that a probe reads one line.
#pragma once

#include <bit>
#include <cstdint>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace ctgate::ct {

struct alignas(64) flow_cache_set {
  static constexpr uint32_t k_ways = 8;
  uint32_t sig[k_ways];
  int32_t pos[k_ways];  // -1: empty
};
static_assert(sizeof(flow_cache_set) == 64);

struct flow_cache {
  // 4,096 flows in 32 KiB: a worker's hot flows, not its share of a large table.
  static constexpr uint32_t k_sets = 512;
  // A hit saves about 70 instructions (15 cycles a packet at 1K flows); a miss costs a probe,
  // an insert and the lines they take from the L1 cache (at 1M flows with no hits, 19 cycles a
  // packet more than the table alone: docs/bench.md, "About the flow cache"). So the cache is
  // used while at least half its lookups hit, among the lookups of flows the table holds (a
  // new flow misses both, whatever the cache). A "burst" below is one ct_in call's chunk of
  // up to 64 packets (each hook's call counts). It is judged over windows of k_judge_bursts;
  // a window with at least k_min_judged lookups that missed more switches it off for
  // k_off_bursts, after which it warms up for k_warm_bursts (filled, not judged: a cold cache
  // misses every flow once) and is judged again.
  static constexpr uint32_t k_warm_bursts = 64;
  static constexpr uint32_t k_judge_bursts = 64;
  static constexpr uint32_t k_off_bursts = 4096;
  static constexpr uint32_t k_min_judged = 64;  // fewer lookups: too few to judge, kept on
  enum class phase : uint8_t { warming, judging, off };

  flow_cache_set sets[k_sets];
  uint32_t next_victim = 0;
  bool in_use = true;
  phase now = phase::warming;
  uint32_t phase_left = k_warm_bursts;  // bursts left in this phase
  uint32_t judged_hits = 0;
  uint32_t judged_lookups = 0;

  // After each burst's lookups: `hits` answered here (none while off) of `lookups` that found
  // a flow. True when this burst ended a window that switched the cache off.
  bool tally(uint32_t hits, uint32_t lookups) {
    if (now == phase::judging) {
      judged_hits += hits;
      judged_lookups += lookups;
    }
    if (--phase_left != 0) return false;
    bool switched_off = false;
    switch (now) {
      case phase::warming: now = phase::judging; break;
      case phase::judging:
        switched_off = judged_lookups >= k_min_judged && judged_hits * 2 < judged_lookups;
        break;
      case phase::off: now = phase::warming; break;
    }
    if (switched_off) now = phase::off;
    in_use = now != phase::off;
    phase_left = now == phase::off       ? k_off_bursts
                 : now == phase::warming ? k_warm_bursts
                                         : k_judge_bursts;
    judged_hits = judged_lookups = 0;
    return switched_off;
  }

  flow_cache() { clear(); }
  void clear() {
    for (flow_cache_set& s : sets)
      for (uint32_t w = 0; w < flow_cache_set::k_ways; w++) {
        s.sig[w] = 0;
        s.pos[w] = -1;
      }
  }
  const flow_cache_set& set_of(uint32_t sig) const { return sets[sig & (k_sets - 1)]; }
  flow_cache_set& set_of(uint32_t sig) { return sets[sig & (k_sets - 1)]; }

  // The cached position for signature `sig`, or -1. An empty way's signature is 0 and its
  // position -1: a key whose signature is 0 finds the first way with signature 0, which is
  // the one insert fills for it.
  int32_t find(uint32_t sig) const {
    const flow_cache_set& s = set_of(sig);
#ifdef __SSE2__
    // The eight signatures in two compares: a probe is a handful of instructions, not a loop.
    const __m128i want = _mm_set1_epi32(static_cast<int>(sig));
    const __m128i lo =
        _mm_cmpeq_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(s.sig)), want);
    const __m128i hi =
        _mm_cmpeq_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(s.sig + 4)), want);
    const unsigned mask = static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(lo))) |
                          static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(hi))) << 4;
    return mask != 0 ? s.pos[std::countr_zero(mask)] : -1;
#else
    for (uint32_t w = 0; w < flow_cache_set::k_ways; w++)
      if (s.sig[w] == sig) return s.pos[w];
    return -1;
#endif
  }

  // Remembers `pos` for `sig`: in the way that has the signature already (two keys with the
  // same signature take turns), else an empty way, else a victim (one turning counter for all
  // sets: a set has no room for its own).
  void insert(uint32_t sig, int32_t pos) {
    flow_cache_set& s = set_of(sig);
    uint32_t at = flow_cache_set::k_ways;
    for (uint32_t w = 0; w < flow_cache_set::k_ways; w++) {
      if (s.sig[w] == sig) {
        at = w;
        break;
      }
      if (s.pos[w] < 0 && at == flow_cache_set::k_ways) at = w;
    }
    if (at == flow_cache_set::k_ways) at = next_victim++ % flow_cache_set::k_ways;
    s.sig[at] = sig;
    s.pos[at] = pos;
  }
};

}  // namespace ctgate::ct
