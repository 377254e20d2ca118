// The element store of dynamic sets (`add @s { ip saddr }` from the packet path), of sets
// with timeouts, and of meters: a fixed-size open-addressing table that workers read and
// write without locks. See docs/design/dynamic-sets.md for the concurrency argument.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace ctgate::nft {

// A key of up to four 32-bit fields (a concatenation's parts, the first highest).
struct dyn_key {
  uint64_t hi = 0, lo = 0;
  bool operator==(const dyn_key&) const = default;
  // parts[0..3]: the fields' values (each at most 32 bits), zero beyond the key's width.
  static dyn_key of(const uint64_t* parts) {
    return {parts[0] << 32 | parts[1], parts[2] << 32 | parts[3]};
  }
  uint32_t part(unsigned i) const {
    const uint64_t w = i < 2 ? hi : lo;
    return static_cast<uint32_t>(i % 2 == 0 ? w >> 32 : w);
  }
};

// One element, half a cache line. `state` is a sequence lock: its low two bits say free (0),
// being written (1) or live (2), and every change adds 4, so a reader that sees the same word
// before and after reading the key read a whole, unchanged element. A state of 0 is a slot
// never used: no element of its probe window lies beyond it, so scans stop there.
struct alignas(32) dyn_slot {
  std::atomic<uint32_t> state{0};
  std::atomic<uint32_t> expires_ms{0};  // worker clock; 0: never
  std::atomic<uint64_t> key_hi{0}, key_lo{0};
  // Tables with per-element limits (meters, `update @s { KEY limit ... }`): the limit's GCRA
  // word (ns). Others: the element's timeout in ms (for listings; 0: none).
  std::atomic<uint64_t> aux{0};
};
static_assert(sizeof(dyn_slot) == 32);

class dyn_table {
 public:
  // Holds at most `size` elements (nft's `size`). Time is the workers' millisecond clock.
  // `limits`: slots keep a limit's state (dyn_slot::aux) instead of their timeout.
  // `dpdk_memory`: the slots come from DPDK's memory (hugepages, when EAL has them: no TLB
  // miss per lookup in a large set) rather than the heap; EAL must be running.
  dyn_table(uint32_t size, bool limits, bool dpdk_memory = false);
  ~dyn_table();
  dyn_table(const dyn_table&) = delete;
  dyn_table& operator=(const dyn_table&) = delete;

  // What add() did.
  enum class outcome : uint8_t { added, present, full };

  // Adds `k` unless present (then, with `refresh`, restarts its timeout: `update`). A
  // timeout of 0 never expires. `slot` (may be null) receives the element's slot, whose
  // limit state the caller may use until its next lookup. Full: no free slot within the
  // key's probe window, or `size` elements already.
  outcome add(const dyn_key& k, uint32_t timeout_ms, bool refresh, uint32_t now_ms,
              dyn_slot** slot) {
    return add(k, home(k), timeout_ms, refresh, now_ms, slot);
  }
  // The same with k's home(), computed ahead (when its slot was prefetched).
  outcome add(const dyn_key& k, uint32_t home, uint32_t timeout_ms, bool refresh, uint32_t now_ms,
              dyn_slot** slot);
  bool contains(const dyn_key& k, uint32_t now_ms) const {
    return find(k, home(k), now_ms) != nullptr;
  }
  bool contains(const dyn_key& k, uint32_t home, uint32_t now_ms) const {
    return find(k, home, now_ms) != nullptr;
  }
  // Removes `k`; false if it was not there.
  bool remove(const dyn_key& k, uint32_t now_ms);
  // Control plane: frees expired elements, returns how many.
  uint32_t sweep(uint32_t now_ms);
  // Control plane: every live element (key, timeout_ms (0: none, or not kept: limits),
  // ms until it expires; 0: never).
  void for_each(uint32_t now_ms,
                const std::function<void(const dyn_key&, uint32_t, uint32_t)>& fn) const;

  // Slots by index, for per-element state kept beside the table (ct count lists): an
  // element's slot index and its state word (`live_state`: 0 unless a live element is there)
  // stay the same while it lives; a new element in the slot has another state.
  uint32_t n_slots() const { return mask_ + 1; }
  uint32_t index_of(const dyn_slot* s) const { return static_cast<uint32_t>(s - slots_); }
  uint32_t live_state(uint32_t i) const;
  // Removes the element in slot `i` if its state is still `state`.
  bool remove_at(uint32_t i, uint32_t state);

  uint32_t size() const { return size_; }
  bool limits() const { return limits_; }
  // Where k's probe window starts: its index (a hash of k), and the slot's address there (to
  // prefetch before a lookup).
  uint32_t home(const dyn_key& k) const;
  const void* slot_at(uint32_t home) const { return &slots_[home]; }
  // The bytes of the slots of a table of `size` elements.
  static size_t bytes_for(uint32_t size) { return sizeof(dyn_slot) * slots_for(size); }
  uint32_t count() const { return count_.load(std::memory_order_relaxed); }
  size_t bytes() const { return sizeof(dyn_slot) * (mask_ + 1); }
  // Probe window: an element lives in one of the kWindow slots after its hash.
  static constexpr uint32_t kWindow = 16;

 private:
  static bool expired(uint32_t expires_ms, uint32_t now_ms) {
    return expires_ms != 0 && static_cast<int32_t>(now_ms - expires_ms) >= 0;
  }
  static uint32_t slots_for(uint32_t size);
  // The live, unexpired slot holding k (whose home is `h`), or null; `seen`: its state when
  // read.
  dyn_slot* find(const dyn_key& k, uint32_t h, uint32_t now_ms, uint32_t* seen = nullptr) const;
  bool claim(dyn_slot& s, uint32_t seen) const;
  void publish(dyn_slot& s, const dyn_key& k, uint32_t timeout_ms, uint32_t now_ms) const;

  uint32_t size_;
  bool limits_;
  uint32_t mask_;
  dyn_slot* slots_ = nullptr;
  bool dpdk_memory_ = false;
  alignas(64) std::atomic<uint32_t> count_{0};
};

}  // namespace ctgate::nft
