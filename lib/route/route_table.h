// IPv4 routing: an rte_fib (DIR-24-8) built on the control plane from the
// config's connected subnets, local addresses and static routes.
//
// Workers look up while the control plane changes a route in place (add, remove), one change
// at a time with a grace period after each: control/routes.h says why a lookup then sees the
// old next hop or the new one, never a mix (docs/design/concurrency.md, "Live routes").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

struct rte_fib;

namespace ctgate {

// A next hop as stored in the fib (8 bytes): kind | port | gateway.
// broadcast: a connected subnet's network or broadcast address, which a
// router never forwards or resolves (Linux's RTN_BROADCAST).
// multipath: an ECMP route; `gateway` holds its next-hop group (route_table::pick resolves it).
enum class route_kind : uint8_t { none = 0, forward = 1, local = 2, broadcast = 3, multipath = 4 };

struct route_nh {
  route_kind kind;
  uint16_t port;
  uint32_t gateway;  // host order; 0 = directly connected (the destination is the next hop)
};

inline uint64_t encode_nh(route_nh nh) {
  return (static_cast<uint64_t>(nh.kind) << 48) | (static_cast<uint64_t>(nh.port) << 32) |
         nh.gateway;
}
inline route_nh decode_nh(uint64_t v) {
  return {static_cast<route_kind>(v >> 48), static_cast<uint16_t>(v >> 32),
          static_cast<uint32_t>(v)};
}

inline constexpr size_t k_max_nexthops = 16;             // per multipath route
inline constexpr uint32_t k_max_multipath_routes = 256;  // groups in a table

// A multipath route's next hops, as workers read them: written whole before the fib entry that
// names it is published, and not written again until a grace period after it is unlinked.
struct nexthop_group {
  uint32_t n = 0;
  route_nh hops[k_max_nexthops];
};

// A flow's hash that is the same both ways (addresses and ports each ordered), so that a
// connection's two directions, when both are routed over multipath routes, hash alike; cheap
// (three CRC32 instructions). `src`, `dst`, ports in network order, as the packet has them.
uint32_t symmetric_flow_hash(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                             uint8_t proto);

class route_table {
 public:
  struct entry {
    ipv4_prefix prefix;
    route_nh nh;                 // multipath: its group's
    std::vector<route_nh> hops;  // a multipath route's next hops (two or more); else empty
  };

  ~route_table();
  route_table(const route_table&) = delete;
  route_table& operator=(const route_table&) = delete;

  // Builds the table; an error names the config line of the route at fault.
  static result<std::unique_ptr<route_table>> build(const gateway_config& cfg,
                                                    const std::string& name);

  // Routes the config did not have, and their removal (control/routes.cpp; not thread-safe:
  // one caller at a time). add replaces the next hop of an existing prefix. Errors are
  // rte_fib's: no room (ENOSPC: the table's spare routes or tbl8 groups are used up).
  result<void> add(const entry& e);
  result<void> remove(const ipv4_prefix& prefix);

  // ips in host order; fills encoded next hops (0 = no route).
  void lookup_bulk(const uint32_t* ips, uint64_t* nhs, unsigned n) const;
  // One destination; a multipath route's next hop is picked by the destination alone.
  route_nh lookup(uint32_t ip) const;
  // A multipath next hop (kind multipath) resolved for a flow: the member its hash picks.
  route_nh pick(route_nh nh, uint32_t flow_hash) const {
    const nexthop_group& g = groups_[nh.gateway];
    return g.hops[flow_hash % g.n];
  }

  const std::vector<entry>& entries() const { return entries_; }

 private:
  route_table() = default;
  // A group for `hops` (two or more): a free slot, filled. Slots freed by the previous change
  // become free first: its caller has waited a grace period since (the class's contract).
  result<uint32_t> take_group(const std::vector<route_nh>& hops);
  void retire_group(const entry& e);
  rte_fib* fib_ = nullptr;
  std::vector<entry> entries_;
  std::unique_ptr<nexthop_group[]> groups_;
  std::vector<uint32_t> free_groups_, retired_groups_;
};

}  // namespace ctgate
