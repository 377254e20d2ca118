// Synproxy's finished-flow filter: which tuples may have a finished TCP
// connection in the conntrack table, so a SYN-cookie answer looks the table
// up (to retire such an entry on port reuse) only when it might.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "conntrack/conntrack.h"

namespace ctgate::synproxy {

// A counting filter over the flows whose TCP connection has finished
// (TIME_WAIT or CLOSE), indexed by the key's hash: a zero count proves the
// tuple has no finished entry, so a SYN-cookie answer can skip the flow-table
// lookup that ct_retire_finished would otherwise do for every spoofed SYN.
// Conntrack reports each finished entry once, from its owner, and again when
// it is destroyed (ct::ct_finish_listener), so counting never races
// destruction; a finish seen only by another worker goes uncounted, which
// costs only the port-reuse retire for that flow. Reopening in place leaves
// it counted, which costs a lookup, never a miss. A counter that
// reaches 255 sticks there, for the same reason.
//
// Readers test one bit per slot (an 8 KiB summary, count != 0) rather than
// the 64 KiB of counts: under a flood every SYN hits a random slot, and the
// summary stays in L1 where the counts did not (~30 cycles per SYN).
// Writers (connections finishing or dying, far rarer) keep both: after
// changing a count they set the summary bit from it and re-read the count,
// so the last writer always leaves the bit matching the count.
//
// The slot is a keyed multiply-shift of the key, inline: cheap, and its
// random seed keeps an attacker from aiming SYNs at the slots of known
// finished flows (which would only cost lookups, not correctness).
class finished_filter {
 public:
  static constexpr uint32_t k_slots = 1u << 16;
  finished_filter();
  // From the fields, not by loading the key's bytes: a key just built field
  // by field and read back as words stalls on store forwarding.
  uint32_t slot_of(const ct::flow_key& k) const {
    const uint64_t a = k.src | uint64_t{k.dst} << 32;
    const uint64_t b =
        k.sport | uint64_t{k.dport} << 16 | uint64_t{k.proto} << 32 | uint64_t{k.zone} << 48;
    uint64_t h =
        ((a ^ seed_[0]) * 0x9e3779b97f4a7c15ull) ^ ((b ^ seed_[1]) * 0xc2b2ae3d27d4eb4full);
    return static_cast<uint32_t>(h >> (64 - 16));
  }
  bool maybe(const ct::flow_key& k) const {
    uint32_t s = slot_of(k);
    return (summary_[s / 64].load(std::memory_order_relaxed) >> (s % 64)) & 1;
  }
  void add(uint32_t slot);
  void remove(uint32_t slot);

 private:
  void sync_summary(uint32_t slot);
  uint64_t seed_[2] = {};
  std::unique_ptr<std::atomic<uint8_t>[]> counts_ { new std::atomic<uint8_t>[ k_slots ]() };
  std::unique_ptr<std::atomic<uint64_t>[]> summary_ { new std::atomic<uint64_t>[ k_slots / 64 ]() };
};

// Feeds the filter from conntrack: install with
// `rt.finish = finished_filter_listener(&filter)` before the workers start.
ct::ct_finish_listener finished_filter_listener(finished_filter* f);

}  // namespace ctgate::synproxy
