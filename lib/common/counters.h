// Per-lcore counters: defined once per stage, summed per burst, stored relaxed.
//
// A stage declares its counters with a list macro, e.g.
//   #define PARSE_COUNTERS(X) X(rx_ipv4, "IPv4 packets") X(bad_ihl, "IHL < 5")
// and gets an enum, a name table and a cache-aligned per-lcore block from
// CTGATE_DEFINE_COUNTERS. Workers write only their own block; readers (the
// telemetry thread) sum blocks with relaxed loads, so no atomics RMW are on
// the packet path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ctgate {

inline constexpr size_t k_cache_line = 64;

// A counter slot written by exactly one thread. Relaxed store of a plain add
// is enough: readers only need eventually-consistent totals.
struct counter_slot {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

}  // namespace ctgate

#define CTGATE_COUNTER_ENUM(name, desc) name,
#define CTGATE_COUNTER_NAME(name, desc) #name,
#define CTGATE_COUNTER_DESC(name, desc) desc,

// Defines `enum class TAG : uint16_t { ..., count_ }`, TAG_names[], TAG_descs[]
// and `struct alignas(64) TAG_block { counter_slot c[count]; }`.
#define CTGATE_DEFINE_COUNTERS(TAG, LIST)                                   \
  enum class TAG : uint16_t { LIST(CTGATE_COUNTER_ENUM) count_ };           \
  inline constexpr const char* TAG##_names[] = {LIST(CTGATE_COUNTER_NAME)}; \
  inline constexpr const char* TAG##_descs[] = {LIST(CTGATE_COUNTER_DESC)}; \
  inline constexpr size_t TAG##_count = static_cast<size_t>(TAG::count_);   \
  struct alignas(::ctgate::k_cache_line) TAG##_block {                      \
    ::ctgate::counter_slot c[TAG##_count];                                  \
    void add(TAG k, uint64_t n = 1) { c[static_cast<size_t>(k)].add(n); }   \
    uint64_t get(TAG k) const { return c[static_cast<size_t>(k)].get(); }   \
  };
