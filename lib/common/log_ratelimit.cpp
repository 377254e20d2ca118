#include "common/log_ratelimit.h"

namespace ctgate {

bool log_ratelimit::allow(uint64_t now_ms) {
  uint64_t next = next_ms_.load(std::memory_order_relaxed);
  if (now_ms < next) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // One winner per interval when several workers race here.
  if (!next_ms_.compare_exchange_strong(next, now_ms + interval_ms_, std::memory_order_relaxed)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  emitted_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace ctgate
