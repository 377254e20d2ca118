#include "route/route6_table.h"

#include <rte_errno.h>
#include <rte_fib6.h>
#include <rte_memory.h>

#include <algorithm>

namespace ctgate {

route6_table::~route6_table() {
  if (fib_ != nullptr) rte_fib6_free(fib_);
}

result<std::unique_ptr<route6_table>> route6_table::build(const gateway_config& cfg,
                                                          const std::string& name) {
  // The constructor is private: make_unique cannot reach it.
  std::unique_ptr<route6_table> t(new route6_table());
  for (size_t i = 0; i < cfg.ports.size(); i++) {
    const auto& p = cfg.ports[i];
    if (!p.address6) continue;
    const uint16_t port = static_cast<uint16_t>(i);
    ipv6_prefix net = *p.address6;
    for (unsigned b = net.len; b < 128; b++)
      net.addr.b[b / 8] &= static_cast<uint8_t>(~(0x80u >> (b % 8)));
    t->entries_.push_back({net, {route_kind::forward, port, 0}});
    t->entries_.push_back({{p.address6->addr, 128}, {route_kind::local, port, 0}});
  }
  for (const auto& r : cfg.routes) {
    if (!r.v6) continue;
    int port = -1;
    for (size_t i = 0; i < cfg.ports.size(); i++)
      if (cfg.ports[i].name == r.port) port = static_cast<int>(i);
    if (port < 0) {
      return error{.file = cfg.source_file,
                   .line = r.line,
                   .key = "routes",
                   .message = "unknown port '" + r.port + "'"};
    }
    uint32_t gw = 0;
    if (!r.via6.is_zero()) {
      gw = static_cast<uint32_t>(t->gateways_.size());
      t->gateways_.push_back(r.via6);
    }
    t->entries_.push_back({r.prefix6, {route_kind::forward, static_cast<uint16_t>(port), gw}});
  }

  if (t->entries_.empty()) return t;  // no IPv6: every lookup finds nothing
  if (t->gateways_.size() > 0xffffff || cfg.ports.size() > 32)
    return error{.message = "IPv6 routes: too many next hops or ports for the encoding"};

  rte_fib6_conf conf{};
  conf.type = RTE_FIB6_TRIE;
  conf.default_nh = 0;
  conf.max_routes = static_cast<int>(t->entries_.size()) + 16;
  conf.trie.nh_sz = RTE_FIB6_TRIE_4B;
  conf.trie.num_tbl8 = 1 << 12;
  t->fib_ = rte_fib6_create(name.c_str(), SOCKET_ID_ANY, &conf);
  if (t->fib_ == nullptr) {
    return error{.message = "rte_fib6_create: " + std::string(rte_strerror(rte_errno))};
  }
  for (const auto& e : t->entries_) {
    int rc = rte_fib6_add(t->fib_, e.prefix.addr.b, e.prefix.len, encode6(e.nh));
    if (rc != 0) {
      return error{.message = "rte_fib6_add " + format_ipv6(e.prefix.addr) + "/" +
                              std::to_string(e.prefix.len) + ": " + rte_strerror(-rc)};
    }
  }
  return t;
}

void route6_table::lookup_bulk(const ipv6_addr* ips, uint64_t* nhs, unsigned n) const {
  if (fib_ == nullptr) {
    std::fill(nhs, nhs + n, 0);
    return;
  }
  static_assert(sizeof(ipv6_addr) == RTE_FIB6_IPV6_ADDR_SIZE);
  // rte_fib6_lookup_bulk takes a non-const array but does not modify it.
  rte_fib6_lookup_bulk(
      fib_, reinterpret_cast<uint8_t(*)[RTE_FIB6_IPV6_ADDR_SIZE]>(const_cast<ipv6_addr*>(ips)), nhs,
      static_cast<int>(n));
}

route_nh route6_table::lookup(const ipv6_addr& ip) const {
  uint64_t nh = 0;
  lookup_bulk(&ip, &nh, 1);
  return decode6(nh);
}

}  // namespace ctgate
