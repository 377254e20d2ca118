// Neighbours (the ARP cache, and IPv6's neighbour cache), shared by all workers: one table
// per family, keyed by the address (IPv4 in host order, IPv6 as in the packet).
//
// Lookups are lock-free (rte_hash with RW_CONCURRENCY_LF). An entry's MAC,
// valid and static bits live in one 64-bit word written with a single
// release store, so a reader sees either the old or the new address, never a
// torn one. Entries are never deleted: the table is bounded and an address
// only ever gets its MAC refreshed, which avoids any reclamation question.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "packet/build.h"

struct rte_hash;

namespace ctgate {

template <typename Key>
class neighbor_table_t {
 public:
  static constexpr uint32_t k_capacity = 4096;
  static constexpr uint64_t k_valid = 1ull << 63;
  static constexpr uint64_t k_static = 1ull << 62;

  ~neighbor_table_t();
  neighbor_table_t(const neighbor_table_t&) = delete;
  neighbor_table_t& operator=(const neighbor_table_t&) = delete;
  static result<std::unique_ptr<neighbor_table_t>> create(const std::string& name);

  // Returns true and the MAC if `ip` (host order) is resolved; with
  // `confirmed`, also when the neighbour last confirmed it (0: static).
  bool lookup(const Key& ip, mac_addr* mac, uint32_t* confirmed = nullptr) const;
  // Learns or refreshes (never overrides a static entry): the neighbour
  // confirmed its address at `now_ms` on `port`. Safe from any thread;
  // inserts take rte_hash's writer lock, refreshes do not.
  bool learn(const Key& ip, const mac_addr& mac, bool is_static = false, uint32_t now_ms = 0,
             uint16_t port = 0);
  // Refreshes an entry that exists (Linux's arp_accept=0: gratuitous ARP
  // updates a known neighbour, never creates one). False if unknown or static.
  bool update_if_known(const Key& ip, const mac_addr& mac, uint32_t now_ms, uint16_t port);
  // The neighbour showed it is reachable at `now_ms` without giving its address again (an
  // advertisement answering our solicitation, with no link-layer option). False if unknown,
  // unresolved or static.
  bool confirm(const Key& ip, uint32_t now_ms);
  // When `ip` last confirmed its address (0: never, or static).
  uint32_t confirmed_ms(const Key& ip) const;
  // Forgets the MACs learned on `port` (static entries stay), as Linux flushes
  // a device's neighbours when it goes down: the next packet resolves again.
  // Returns how many were forgotten.
  uint32_t forget_port(uint16_t port);
  // Claims the right to send one ARP request for `ip` now: true at most once
  // per `interval_ms` per address (creates an unresolved entry if needed).
  // `port` is where the request goes (recorded for an entry not resolved yet).
  bool should_request(const Key& ip, uint32_t now_ms, uint32_t interval_ms = 1000,
                      uint16_t port = 0);

  // For listings: calls fn(ip, word, confirmed_ms, port) for every entry.
  template <typename F>
  void for_each(F&& fn) const {
    uint32_t n = count_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < n; i++)
      fn(slots_[i].ip, slots_[i].word.load(std::memory_order_acquire),
         slots_[i].confirmed_ms.load(std::memory_order_relaxed),
         slots_[i].port.load(std::memory_order_relaxed));
  }

 private:
  neighbor_table_t() = default;
  int32_t find_or_add(const Key& ip);

  struct slot {
    std::atomic<uint64_t> word{0};  // mac | k_valid | k_static
    std::atomic<uint32_t> next_request_ms{0};
    std::atomic<uint32_t> confirmed_ms{0};  // last ARP from it
    std::atomic<uint16_t> port{0};          // where it was learned
    Key ip{};
  };
  rte_hash* hash_ = nullptr;
  slot* slots_ = nullptr;
  std::atomic<uint32_t> count_{0};
};

// An IPv6 neighbour is one address on one port, as Linux keys neighbours by address and
// device: a link-local address (fe80::1) is only unique on its link.
struct alignas(8) neigh6_key {
  ipv6_addr addr;
  uint32_t port = 0;
  uint32_t pad = 0;  // zero: the key's bytes are hashed
  bool operator==(const neigh6_key&) const = default;
};
static_assert(sizeof(neigh6_key) == 24);

using neighbor_table = neighbor_table_t<uint32_t>;
using neighbor6_table = neighbor_table_t<neigh6_key>;

uint64_t mac_to_u64(const mac_addr& m);
mac_addr u64_to_mac(uint64_t w);

}  // namespace ctgate
