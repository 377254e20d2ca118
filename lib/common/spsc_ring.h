// A bounded single-producer, single-consumer ring of records: a worker hands log lines,
// trace steps and conntrack events to the control plane through one.
#pragma once

#include <atomic>
#include <cstdint>

namespace ctgate {

// Single-producer (the worker), single-consumer (the control thread) ring.
// Bounded: when full, records are dropped and counted, never waited for.
template <typename T, uint32_t N>
class spsc_ring {
 public:
  bool push(const T& r) {
    uint32_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) == N) return false;
    slots_[h % N] = r;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  bool pop(T* r) {
    uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return false;
    *r = slots_[t % N];
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
  T slots_[N];
};

}  // namespace ctgate
