#include "conntrack/ct_event.h"

namespace ctgate::ct {

void ct_event_log::drain_locked(ct_runtime& rt, uint16_t n_workers) {
  ct_event ev;
  for (uint16_t i = 0; i < n_workers; i++) {
    ct_worker* w = rt.workers[i];
    if (w == nullptr || w->events == nullptr) continue;
    // Bounded: at most a ring's worth per worker per drain.
    for (int n = 0; n < 4096 && w->events->pop(&ev); n++) {
      events_.push_back(ev);
      next_seq_++;
      if (events_.size() > k_capacity) events_.pop_front();
    }
  }
}

void ct_event_log::drain(ct_runtime& rt, uint16_t n_workers) {
  lock_guard lock(mu_);
  drain_locked(rt, n_workers);
}

std::string ct_event_log::read(ct_runtime& rt, uint16_t n_workers, uint32_t now_ms,
                               std::optional<uint64_t> cursor, uint8_t mask, const ct_filter& f,
                               bool json, uint64_t* next, uint64_t* lost, size_t* count) {
  lock_guard lock(mu_);
  last_poll_ms_ = now_ms;
  if (!on_) {
    on_ = true;
    rt.events.store(CT_EVENT_ALL, std::memory_order_relaxed);
  }
  drain_locked(rt, n_workers);
  *next = next_seq_ - 1;
  *lost = 0;
  *count = 0;
  std::string out;
  if (!cursor) return out;  // a new reader: from the next event on
  const uint64_t first = next_seq_ - events_.size();
  if (*cursor + 1 < first) *lost = first - *cursor - 1;
  for (uint64_t seq = std::max(*cursor + 1, first); seq < next_seq_; seq++) {
    const ct_event& ev = events_[seq - first];
    if (!(ev.type & mask) || !f.matches(ev.view)) continue;
    out += json ? format_event_json(ev) : format_event(ev, f.extended);
    out += '\n';
    ++*count;
  }
  return out;
}

void ct_event_log::tick(ct_runtime& rt, uint16_t n_workers, uint32_t now_ms) {
  lock_guard lock(mu_);
  if (!on_) return;
  drain_locked(rt, n_workers);
  if (now_ms - last_poll_ms_ < k_idle_off_ms) return;
  // Nobody has asked for a while: workers stop making events; what they made meanwhile goes.
  rt.events.store(0, std::memory_order_relaxed);
  on_ = false;
  drain_locked(rt, n_workers);
  events_.clear();
}

}  // namespace ctgate::ct
