// dyn_table: lock-free lookups (a sequence lock per slot) and lock-free updates (one CAS
// claims a slot). Memory orders follow the seqlock pattern: a writer claims with a CAS,
// fences (release), writes the element, then publishes with a release store; a reader loads
// the state (acquire), reads the element, fences (acquire) and loads the state again.
#include "ruleset/dynset.h"

#include <rte_malloc.h>

#include <algorithm>
#include <bit>
#include <new>

namespace ctgate::nft {

namespace {

constexpr uint32_t kFree = 0, kWriting = 1, kLive = 2;

uint32_t phase(uint32_t state) { return state & 3; }
uint32_t next(uint32_t state, uint32_t phase) { return ((state & ~3u) + 4) | phase; }

uint32_t deadline(uint32_t now_ms, uint32_t timeout_ms) {
  if (timeout_ms == 0) return 0;
  const uint32_t at = now_ms + timeout_ms;
  return at == 0 ? 1 : at;  // 0 means never
}

}  // namespace

dyn_table::dyn_table(uint32_t size, bool limits, bool dpdk_memory)
    : size_(size), limits_(limits), mask_(slots_for(size) - 1) {
  const size_t n = size_t{mask_} + 1;
  void* mem =
      dpdk_memory ? rte_malloc("dynset", n * sizeof(dyn_slot), RTE_CACHE_LINE_SIZE) : nullptr;
  dpdk_memory_ = mem != nullptr;
  if (mem == nullptr) mem = ::operator new (n * sizeof(dyn_slot), std::align_val_t{64});
  slots_ = new (mem) dyn_slot[n];
}

dyn_table::~dyn_table() {
  // dyn_slot is trivially destructible: the memory goes back as it came.
  if (dpdk_memory_)
    rte_free(slots_);
  else
    ::operator delete (slots_, std::align_val_t{64});
}

uint32_t dyn_table::slots_for(uint32_t size) {
  return std::bit_ceil(std::max<uint32_t>(2 * size, kWindow));
}

uint32_t dyn_table::home(const dyn_key& k) const {
  uint64_t x = k.hi * 0x9e3779b97f4a7c15ull ^ k.lo;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ull;
  x ^= x >> 32;
  return static_cast<uint32_t>(x) & mask_;
}

dyn_slot* dyn_table::find(const dyn_key& k, uint32_t h, uint32_t now_ms, uint32_t* seen) const {
  for (uint32_t i = 0; i < kWindow; ++i) {
    dyn_slot& s = slots_[(h + i) & mask_];
    const uint32_t before = s.state.load(std::memory_order_acquire);
    if (before == 0) break;  // never used: the window's elements are all before it
    if (phase(before) != kLive) continue;
    const uint64_t hi = s.key_hi.load(std::memory_order_relaxed);
    const uint64_t lo = s.key_lo.load(std::memory_order_relaxed);
    const uint32_t expires = s.expires_ms.load(std::memory_order_relaxed);
    // Orders the element's loads before the second state load (seqlock reader).
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.state.load(std::memory_order_relaxed) != before) continue;  // rewritten meanwhile
    if (hi == k.hi && lo == k.lo && !expired(expires, now_ms)) {
      if (seen != nullptr) *seen = before;
      return &s;
    }
  }
  return nullptr;
}

bool dyn_table::claim(dyn_slot& s, uint32_t seen) const {
  if (!s.state.compare_exchange_strong(seen, next(seen, kWriting), std::memory_order_acquire,
                                       std::memory_order_relaxed))
    return false;
  // Orders the claim before the element's stores: a reader that sees any new store sees
  // the slot's state changed when it checks again.
  std::atomic_thread_fence(std::memory_order_release);
  return true;
}

void dyn_table::publish(dyn_slot& s, const dyn_key& k, uint32_t timeout_ms, uint32_t now_ms) const {
  s.key_hi.store(k.hi, std::memory_order_relaxed);
  s.key_lo.store(k.lo, std::memory_order_relaxed);
  s.expires_ms.store(deadline(now_ms, timeout_ms), std::memory_order_relaxed);
  s.aux.store(limits_ ? 0 : timeout_ms, std::memory_order_relaxed);
  // Release: the element is whole before readers see it live.
  s.state.store(next(s.state.load(std::memory_order_relaxed), kLive), std::memory_order_release);
}

dyn_table::outcome dyn_table::add(const dyn_key& k, uint32_t h, uint32_t timeout_ms, bool refresh,
                                  uint32_t now_ms, dyn_slot** slot) {
  // One scan finds the element, or the slot to put it in: an expired element's (already
  // counted) before a free one. A claim lost to another worker scans again, once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    dyn_slot* reuse = nullptr;
    dyn_slot* free = nullptr;
    uint32_t reuse_seen = 0, free_seen = 0;
    for (uint32_t i = 0; i < kWindow; ++i) {
      dyn_slot& s = slots_[(h + i) & mask_];
      const uint32_t before = s.state.load(std::memory_order_acquire);
      if (phase(before) == kFree) {
        if (free == nullptr) {
          free = &s;
          free_seen = before;
        }
        if (before == 0) break;  // never used: nothing of this window lies beyond
        continue;
      }
      if (phase(before) != kLive) continue;
      const uint64_t hi = s.key_hi.load(std::memory_order_relaxed);
      const uint64_t lo = s.key_lo.load(std::memory_order_relaxed);
      const uint32_t expires = s.expires_ms.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);  // as in find()
      if (s.state.load(std::memory_order_relaxed) != before) continue;
      const bool dead = expired(expires, now_ms);
      if (hi == k.hi && lo == k.lo && !dead) {
        if (refresh) {
          // A refresh races with other refreshes of this live element (last one wins), and
          // rarely with a reuse of the slot (docs/design/dynamic-sets.md, "Races that
          // remain"). Not stored when the clock has not moved since the last: an element refreshed
          // by every packet would otherwise dirty its line for every worker that reads it.
          const uint32_t at = deadline(now_ms, timeout_ms);
          if (at != expires) s.expires_ms.store(at, std::memory_order_relaxed);
          if (!limits_ && s.aux.load(std::memory_order_relaxed) != timeout_ms)
            s.aux.store(timeout_ms, std::memory_order_relaxed);
        }
        if (slot != nullptr) *slot = &s;
        return outcome::present;
      }
      if (dead && reuse == nullptr) {
        reuse = &s;
        reuse_seen = before;
      }
    }
    if (reuse != nullptr) {
      if (!claim(*reuse, reuse_seen)) continue;
      publish(*reuse, k, timeout_ms, now_ms);
      if (slot != nullptr) *slot = reuse;
      return outcome::added;
    }
    if (free == nullptr) return outcome::full;
    if (count_.fetch_add(1, std::memory_order_relaxed) >= size_) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      return outcome::full;
    }
    if (!claim(*free, free_seen)) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    publish(*free, k, timeout_ms, now_ms);
    if (slot != nullptr) *slot = free;
    return outcome::added;
  }
  return outcome::full;
}

bool dyn_table::remove(const dyn_key& k, uint32_t now_ms) {
  bool removed = false;
  // Every copy: two workers adding one new key at once may both have added it.
  for (uint32_t tries = 0; tries < 2 * kWindow; ++tries) {
    uint32_t seen = 0;
    dyn_slot* s = find(k, home(k), now_ms, &seen);
    if (s == nullptr) break;
    // From the state find() saw: fails if the slot was rewritten since.
    if (s->state.compare_exchange_strong(seen, next(seen, kFree), std::memory_order_release,
                                         std::memory_order_relaxed)) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      removed = true;
    }
  }
  return removed;
}

uint32_t dyn_table::live_state(uint32_t i) const {
  const uint32_t state = slots_[i].state.load(std::memory_order_acquire);
  return phase(state) == kLive ? state : 0;
}

bool dyn_table::remove_at(uint32_t i, uint32_t state) {
  if (!slots_[i].state.compare_exchange_strong(state, next(state, kFree), std::memory_order_release,
                                               std::memory_order_relaxed))
    return false;
  count_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

uint32_t dyn_table::sweep(uint32_t now_ms) {
  uint32_t freed = 0;
  for (uint32_t i = 0; i <= mask_; ++i) {
    dyn_slot& s = slots_[i];
    uint32_t seen = s.state.load(std::memory_order_acquire);
    if (phase(seen) != kLive || !expired(s.expires_ms.load(std::memory_order_relaxed), now_ms))
      continue;
    if (s.state.compare_exchange_strong(seen, next(seen, kFree), std::memory_order_release,
                                        std::memory_order_relaxed)) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      ++freed;
    }
  }
  return freed;
}

void dyn_table::for_each(uint32_t now_ms,
                         const std::function<void(const dyn_key&, uint32_t, uint32_t)>& fn) const {
  for (uint32_t i = 0; i <= mask_; ++i) {
    const dyn_slot& s = slots_[i];
    const uint32_t before = s.state.load(std::memory_order_acquire);
    if (phase(before) != kLive) continue;
    const dyn_key k{s.key_hi.load(std::memory_order_relaxed),
                    s.key_lo.load(std::memory_order_relaxed)};
    const uint32_t timeout =
        limits_ ? 0 : static_cast<uint32_t>(s.aux.load(std::memory_order_relaxed));
    const uint32_t expires = s.expires_ms.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);  // as in find()
    if (s.state.load(std::memory_order_relaxed) != before || expired(expires, now_ms)) continue;
    fn(k, timeout, expires == 0 ? 0 : expires - now_ms);
  }
}

}  // namespace ctgate::nft
