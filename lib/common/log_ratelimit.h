// A rate limiter for log lines emitted from the data plane.
//
// Workers never log synchronously: they call allow() (two relaxed loads and a
// CAS at most once per interval) and, when it says yes, hand the line to the
// control thread through log_mailbox. The control thread prints it with glog.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace ctgate {

class log_ratelimit {
 public:
  explicit log_ratelimit(uint64_t interval_ms = 1000) : interval_ms_(interval_ms) {}
  void set_interval(uint64_t ms) { interval_ms_ = ms; }
  // True at most once per interval; counts the suppressed calls in between.
  bool allow(uint64_t now_ms);
  uint64_t suppressed() const { return suppressed_.load(std::memory_order_relaxed); }
  uint64_t emitted() const { return emitted_.load(std::memory_order_relaxed); }

 private:
  uint64_t interval_ms_;
  std::atomic<uint64_t> next_ms_{0};
  std::atomic<uint64_t> suppressed_{0};
  std::atomic<uint64_t> emitted_{0};
};

// Lines from workers to the control thread: a flag per message kind, raised
// by the worker, drained and printed by the control loop. Bounded by design:
// a kind is either pending or not.
enum class log_kind : uint8_t {
  conntrack_table_full = 0,
  neighbor_unresolved,
  conntrack_invalid,
  nat_no_port,
  count_
};

class log_mailbox {
 public:
  void raise(log_kind k) { pending_[static_cast<int>(k)].store(true, std::memory_order_release); }
  bool take(log_kind k) {
    return pending_[static_cast<int>(k)].exchange(false, std::memory_order_acq_rel);
  }

 private:
  std::atomic<bool> pending_[static_cast<int>(log_kind::count_)]{};
};

}  // namespace ctgate
