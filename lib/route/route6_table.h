// IPv6 routing: an rte_fib6 built on the control plane from the ports' IPv6 subnets and
// addresses and the config's IPv6 routes. The trie's first level has 2^24 next hops, so they
// are 4 bytes (64 MiB; 8 would take 128), and the table exists only when a port has an IPv6
// address: an IPv4-only gateway pays nothing.
//
// Like the IPv4 table, built once at startup and immutable after that. Link-local and
// multicast destinations never reach it: they belong to a port, not to a route
// (stage_route6).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "route/route_table.h"

struct rte_fib6;

namespace ctgate {

// A next hop is a route_nh whose gateway is an index into gateways() (0: directly
// connected), encoded in 31 bits: kind (2) | port (5) | gateway (24).
class route6_table {
 public:
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
  // Whether there are routes at all (a port has an address6): IPv6 forwarding is on.
  bool enabled() const { return fib_ != nullptr; }
  // The address of gateway index i (i > 0).
  const ipv6_addr& gateway(uint32_t i) const { return gateways_[i]; }

  struct entry {
    ipv6_prefix prefix;
    route_nh nh;
  };
  const std::vector<entry>& entries() const { return entries_; }

 private:
  route6_table() = default;
  rte_fib6* fib_ = nullptr;
  std::vector<entry> entries_;
  std::vector<ipv6_addr> gateways_{ipv6_addr{}};  // [0] unused: connected
};

}  // namespace ctgate
