// Millisecond clock for the data plane, read once per burst.
//
// Conntrack timestamps are 32-bit milliseconds: a wrap every 49.7 days is
// handled by comparing with signed differences (time_before/after, as the
// kernel does with jiffies). Tests inject time by setting the worker's now_ms
// directly instead of reading this clock.
#pragma once

#include <cstdint>

#include <rte_cycles.h>

namespace ctgate {

class ms_clock {
 public:
  ms_clock() : hz_(rte_get_tsc_hz()), start_(rte_get_tsc_cycles()) {}
  // Starts at 1 so that 0 can mean "never".
  uint32_t now_ms() const { return static_cast<uint32_t>(now_ns() / 1000000); }
  // Nanoseconds since start, plus 1 ms so that 0 ms can mean "never".
  uint64_t now_ns() const {
    uint64_t c = rte_get_tsc_cycles() - start_;
    return c / hz_ * 1000000000ull + (c % hz_) * 1000000000ull / hz_ + 1000000;
  }

 private:
  uint64_t hz_;
  uint64_t start_;
};

inline bool time_after(uint32_t a, uint32_t b) { return static_cast<int32_t>(b - a) < 0; }
inline bool time_after_eq(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) >= 0; }

}  // namespace ctgate
