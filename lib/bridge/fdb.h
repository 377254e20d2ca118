// A bridge's forwarding database: (VLAN, MAC) -> port, learned by every worker and read by
// every worker with no lock (docs/design/bridge.md).
//
// Layout: buckets of 8 slots, one cache line of keys and one of values. A key hashes to two
// buckets (two choices keep a table at half load nearly free of overflow); a lookup reads the
// two key lines and, on a hit, one value line.
//
// Concurrency. A slot is a key word and a value word, each an atomic 64-bit word.
//   - Insert (any worker): CAS the key from empty to the key, then store the value (release).
//     Until then the value reads 0 and the slot is not an entry yet.
//   - Refresh or move (any worker): CAS the value from what it read to the new one. A lost
//     race is a refresh that another worker or the ager made first: dropped, the next frame
//     retries.
//   - Delete (the control thread only: ageing, flush): CAS the value to `dead`, then clear the
//     key. A refresh racing it fails its CAS. Readers treat 0 and `dead` as no entry.
// Two workers learning the same new MAC at once may insert it twice: a lookup takes the first
// live slot, the other is never refreshed and ages out.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace ctgate {

inline constexpr uint16_t k_fdb_max_ports = 32;

// What learning did with one source address (each a data-plane counter).
enum class fdb_learn : uint8_t {
  known,    // already there, on this port (refreshed at most once a second)
  learned,  // a new entry
  moved,    // was on another port: moved here
  full,     // not learned: the FDB holds max_entries
  limited,  // not learned: the port holds its learning_limit
  fixed,    // a static entry on another port: not moved
};

struct fdb_entry {
  uint8_t mac[6] = {};
  uint16_t vlan = 0;
  uint16_t port = 0;
  bool is_static = false;
  uint32_t seen_s = 0;  // last refresh, seconds of the data plane's clock
};

class fdb {
 public:
  // `max_entries` bounds the entries (the table has room for twice as many); `port_limits[i]`
  // bounds port i's learned entries (0: no bound of its own). `name` names the allocation.
  static result<std::unique_ptr<fdb>> create(const std::string& name, uint32_t max_entries,
                                             const std::vector<uint32_t>& port_limits);
  ~fdb();
  fdb(const fdb&) = delete;
  fdb& operator=(const fdb&) = delete;

  // Data plane. A (VLAN, MAC) key with its hash, made once per frame and address: a burst
  // makes them all and prefetches their buckets before it learns or looks up any (the table
  // outgrows the caches at a few thousand hosts).
  struct lookup_key {
    uint64_t word = 0;
    uint64_t hash = 0;
  };
  lookup_key make_key(uint16_t vlan, const uint8_t mac[6]) const;
  void prefetch(const lookup_key& k) const;
  // The port the key's MAC is on in its VLAN, or -1.
  int lookup(const lookup_key& k) const;
  // The key's MAC was seen on `port` at `now_s`.
  fdb_learn learn(const lookup_key& k, uint16_t port, uint32_t now_s);
  int lookup(uint16_t vlan, const uint8_t mac[6]) const { return lookup(make_key(vlan, mac)); }
  fdb_learn learn(uint16_t vlan, const uint8_t mac[6], uint16_t port, uint32_t now_s) {
    return learn(make_key(vlan, mac), port, now_s);
  }

  // Control plane (one thread: the control loop, telemetry and setup share it).
  // Adds a static entry; false if no slot was free.
  bool add_static(uint16_t vlan, const uint8_t mac[6], uint16_t port);
  // Removes learned entries not refreshed for `ageing_s` (Linux's br_fdb_cleanup). Returns how
  // many it removed.
  uint32_t age(uint32_t now_s, uint32_t ageing_s);
  // Removes every learned entry (of one port, or all with port < 0): bridge fdb flush.
  uint32_t flush(int port);
  std::vector<fdb_entry> entries() const;
  uint32_t count() const { return count_.load(std::memory_order_relaxed); }
  uint32_t port_count(uint16_t port) const {
    return port_count_[port].load(std::memory_order_relaxed);
  }
  uint32_t max_entries() const { return max_entries_; }
  size_t memory_bytes() const;

 private:
  struct bucket;
  fdb() = default;
  uint64_t hash(uint64_t key) const;
  bucket* first(uint64_t h) const;
  bucket* second(uint64_t h) const;
  // Inserts a key known to be absent; false if both buckets are full.
  bool insert(const lookup_key& k, uint64_t value);
  bool remove_slot(bucket* b, unsigned i, uint64_t value);

  bucket* buckets_ = nullptr;
  uint32_t mask_ = 0;  // buckets - 1
  uint32_t max_entries_ = 0;
  uint64_t seed_ = 0;
  std::atomic<uint32_t> count_{0};
  uint32_t port_limit_[k_fdb_max_ports] = {};
  std::atomic<uint32_t> port_count_[k_fdb_max_ports] = {};
};

}  // namespace ctgate
