// IPv6 routing: an rte_fib6 built on the control plane from the ports' IPv6 subnets and
// addresses and the config's IPv6 routes. The trie's first level has 2^24 next hops, so they
// are 4 bytes (64 MiB; 8 would take 128), and the table exists only when a port has an IPv6
// address: an IPv4-only gateway pays nothing.
//
// Live changes (ctgatectl route, reload) build a new trie beside the one in use and publish it
// with one pointer store; the old one is freed after a grace period. Changing DPDK 22.11's trie
// in place is not safe for lookups in flight: it zeroes a tbl8 group it recycles before the
// entry above is rewritten, so a lookup could find no route for a moment (docs/design/
// concurrency.md, "Live routes"). Link-local and multicast destinations never reach it: they
// belong to a port, not to a route (stage_route6).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "route/route_table.h"

struct rte_fib6;

namespace ctgate {

// A next hop is a route_nh whose gateway is an index into gateway() (0: directly
// connected), encoded in 31 bits: kind (2) | port (5) | gateway (24).
class route6_table {
 public:
  // Distinct next-hop addresses a table can name over its life: a slot, once given to an
  // address, keeps it (a lookup in flight may hold its index across a change).
  static constexpr uint32_t k_max_gateways = 1u << 16;

  ~route6_table();
  route6_table(const route6_table&) = delete;
  route6_table& operator=(const route6_table&) = delete;

  // Builds the table; an error names the config line of the route at fault.
  static result<std::unique_ptr<route6_table>> build(const gateway_config& cfg,
                                                     const std::string& name);

  // Addresses as in the packet; fills encoded next hops (0 = no route; decode6).
  void lookup_bulk(const ipv6_addr* ips, uint64_t* nhs, unsigned n) const;
  static constexpr uint64_t encode6(route_nh nh) {
    return static_cast<uint64_t>(nh.kind) << 29 | uint64_t{nh.port} << 24 | nh.gateway;
  }
  static constexpr route_nh decode6(uint64_t v) {
    return {static_cast<route_kind>(v >> 29 & 3), static_cast<uint16_t>(v >> 24 & 31),
            static_cast<uint32_t>(v & 0xffffff)};
  }
  route_nh lookup(const ipv6_addr& ip) const;
  // Whether there are routes at all (a port has an address6): IPv6 forwarding is on. Fixed at
  // build: a live change replaces one trie with another.
  bool enabled() const { return enabled_; }
  // The address of gateway index i (i > 0).
  const ipv6_addr& gateway(uint32_t i) const { return gateways_[i]; }

  struct entry {
    ipv6_prefix prefix;
    route_nh nh;
  };
  const std::vector<entry>& entries() const { return entries_; }

  // A live change (control/routes.cpp; one caller at a time): routes `prefix` to `port` via
  // `via` (zero: connected), replacing its next hop if it has one, or removes it. Either
  // publishes a new trie; the one it replaced stays until release_retired(), which the caller
  // runs after a grace period. Errors leave the table as it was.
  result<void> set(const ipv6_prefix& prefix, uint16_t port, const ipv6_addr& via);
  result<void> remove(const ipv6_prefix& prefix);
  void release_retired();

 private:
  route6_table() = default;
  // The slot of `via`, given it if new; 0 for the zero address. Fails when all are given.
  result<uint32_t> gateway_slot(const ipv6_addr& via);
  result<rte_fib6*> make_fib(const std::vector<entry>& entries);
  result<void> publish(std::vector<entry> entries);

  std::string name_;
  uint32_t generation_ = 0;  // names each trie: rte_fib6 names are unique
  bool enabled_ = false;
  std::atomic<rte_fib6*> fib_{nullptr};
  rte_fib6* retired_ = nullptr;  // replaced by the last change, freed by release_retired
  std::vector<entry> entries_;
  std::unique_ptr<ipv6_addr[]> gateways_;  // [0] unused: connected
  uint32_t n_gateways_ = 1;
  std::map<std::string, uint32_t> gateway_slots_;  // address bytes -> slot
};

}  // namespace ctgate
