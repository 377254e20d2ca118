#include "synproxy/finished_filter.h"

#include <random>

namespace ctgate::synproxy {

finished_filter::finished_filter() {
  std::random_device rd;
  for (auto& s : seed_) s = static_cast<uint64_t>(rd()) << 32 | rd();
}

void finished_filter::add(uint32_t slot) {
  std::atomic<uint8_t>& c = counts_[slot];
  uint8_t v = c.load(std::memory_order_relaxed);
  while (v != UINT8_MAX && !c.compare_exchange_weak(v, static_cast<uint8_t>(v + 1))) {
  }
  sync_summary(slot);
}

void finished_filter::remove(uint32_t slot) {
  std::atomic<uint8_t>& c = counts_[slot];
  uint8_t v = c.load(std::memory_order_relaxed);
  // A saturated counter no longer knows its count: it stays (a lookup too many).
  while (v != UINT8_MAX && v != 0 && !c.compare_exchange_weak(v, static_cast<uint8_t>(v - 1))) {
  }
  sync_summary(slot);
}

// Sequentially consistent throughout: a writer that clears the bit after
// another set it re-reads the other's count and sets it again.
void finished_filter::sync_summary(uint32_t slot) {
  std::atomic<uint64_t>& word = summary_[slot / 64];
  const uint64_t bit = uint64_t{1} << (slot % 64);
  for (;;) {
    uint8_t v = counts_[slot].load();
    if (v != 0)
      word.fetch_or(bit);
    else
      word.fetch_and(~bit);
    if (counts_[slot].load() == v) return;
  }
}

ct::ct_finish_listener finished_filter_listener(finished_filter* f) {
  ct::ct_finish_listener l;
  l.finished = [](void* ctx, const ct::flow_key& k) {
    auto* ff = static_cast<finished_filter*>(ctx);
    ff->add(ff->slot_of(k));
  };
  l.forgotten = [](void* ctx, const ct::flow_key& k) {
    auto* ff = static_cast<finished_filter*>(ctx);
    ff->remove(ff->slot_of(k));
  };
  l.ctx = f;
  return l;
}

}  // namespace ctgate::synproxy
