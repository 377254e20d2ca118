#include "route/route6_table.h"

#include <rte_errno.h>
#include <rte_fib6.h>
#include <rte_memory.h>

#include <algorithm>
#include <cstring>

namespace ctgate {

route6_table::~route6_table() {
  release_retired();
  if (rte_fib6* f = fib_.load(std::memory_order_relaxed); f != nullptr) rte_fib6_free(f);
}

result<std::unique_ptr<route6_table>> route6_table::build(const gateway_config& cfg,
                                                          const std::string& name) {
  // The constructor is private: make_unique cannot reach it.
  std::unique_ptr<route6_table> t(new route6_table());
  t->name_ = name;
  t->gateways_ = std::make_unique<ipv6_addr[]>(k_max_gateways);
  std::vector<entry> entries;
  for (size_t i = 0; i < cfg.ports.size(); i++) {
    const auto& p = cfg.ports[i];
    if (!p.address6) continue;
    const uint16_t port = static_cast<uint16_t>(i);
    entries.push_back({p.address6->network(), {route_kind::forward, port, 0}});
    entries.push_back({{p.address6->addr, 128}, {route_kind::local, port, 0}});
  }
  for (const auto& r : cfg.routes) {
    if (!r.v6) continue;
    const int port = port_index(cfg, r.port);
    if (port < 0) {
      return error{.file = cfg.source_file,
                   .line = r.line,
                   .key = "routes",
                   .message = "unknown port '" + r.port + "'"};
    }
    result<uint32_t> gw = t->gateway_slot(r.via6);
    if (!gw)
      return error{
          .file = cfg.source_file, .line = r.line, .key = "routes", .message = gw.error().message};
    entries.push_back({r.prefix6, {route_kind::forward, static_cast<uint16_t>(port), *gw}});
  }
  if (entries.empty()) return t;  // no IPv6: every lookup finds nothing
  if (cfg.ports.size() > 32)
    return error{.message = "IPv6 routes: too many ports for the encoding"};
  t->enabled_ = true;
  if (result<void> ok = t->publish(std::move(entries)); !ok) return std::move(ok).error();
  return t;
}

result<uint32_t> route6_table::gateway_slot(const ipv6_addr& via) {
  if (via.is_zero()) return 0u;
  const std::string key(reinterpret_cast<const char*>(via.b), sizeof via.b);
  if (auto it = gateway_slots_.find(key); it != gateway_slots_.end()) return it->second;
  if (n_gateways_ == k_max_gateways)
    return error{.message = "IPv6 routes: more than " + std::to_string(k_max_gateways - 1) +
                            " distinct next hops"};
  // Written before any trie names the slot; publish()'s release store orders the two.
  gateways_[n_gateways_] = via;
  gateway_slots_.emplace(key, n_gateways_);
  return n_gateways_++;
}

result<rte_fib6*> route6_table::make_fib(const std::vector<entry>& entries) {
  rte_fib6_conf conf{};
  conf.type = RTE_FIB6_TRIE;
  conf.default_nh = 0;
  conf.max_routes = static_cast<int>(entries.size()) + 16;
  conf.trie.nh_sz = RTE_FIB6_TRIE_4B;
  conf.trie.num_tbl8 = 1 << 12;
  // Two tries exist at most (the one in use and the next): two names. rte_rib6 names a mempool
  // after the trie, and mempool names are short (29 characters).
  const std::string name = name_ + (generation_ % 2 == 0 ? "" : "b");
  rte_fib6* fib = rte_fib6_create(name.c_str(), SOCKET_ID_ANY, &conf);
  if (fib == nullptr)
    return error{.message = "rte_fib6_create: " + std::string(rte_strerror(rte_errno))};
  for (const auto& e : entries) {
    const int rc = rte_fib6_add(fib, e.prefix.addr.b, e.prefix.len, encode6(e.nh));
    if (rc != 0) {
      rte_fib6_free(fib);
      return error{.message =
                       "rte_fib6_add " + format_prefix6(e.prefix) + ": " + rte_strerror(-rc)};
    }
  }
  generation_++;
  return fib;
}

// The new trie is complete before the release store that publishes it: a worker's acquire
// load (lookup_bulk) sees all of it. The old one is retired, not freed: a worker may still be
// inside a lookup of it until its next quiescent report.
result<void> route6_table::publish(std::vector<entry> entries) {
  release_retired();  // the caller waited a grace period since the last change
  result<rte_fib6*> fib = make_fib(entries);
  if (!fib) return std::move(fib).error();
  retired_ = fib_.exchange(*fib, std::memory_order_release);
  entries_ = std::move(entries);
  return {};
}

result<void> route6_table::set(const ipv6_prefix& prefix, uint16_t port, const ipv6_addr& via) {
  if (!enabled_) return error{.message = "no port has an IPv6 address (address6)"};
  result<uint32_t> gw = gateway_slot(via);
  if (!gw) return std::move(gw).error();
  std::vector<entry> next = entries_;
  const entry e{prefix, {route_kind::forward, port, *gw}};
  auto it =
      std::find_if(next.begin(), next.end(), [&](const entry& x) { return x.prefix == prefix; });
  if (it != next.end())
    *it = e;
  else
    next.push_back(e);
  return publish(std::move(next));
}

result<void> route6_table::remove(const ipv6_prefix& prefix) {
  std::vector<entry> next = entries_;
  auto it =
      std::find_if(next.begin(), next.end(), [&](const entry& x) { return x.prefix == prefix; });
  if (it == next.end()) return error{.message = "no such route: " + format_prefix6(prefix)};
  next.erase(it);
  return publish(std::move(next));
}

void route6_table::release_retired() {
  if (retired_ != nullptr) rte_fib6_free(retired_);
  retired_ = nullptr;
}

void route6_table::lookup_bulk(const ipv6_addr* ips, uint64_t* nhs, unsigned n) const {
  // Acquire: pairs with publish's release store, so the trie is seen whole.
  rte_fib6* fib = fib_.load(std::memory_order_acquire);
  if (fib == nullptr) {
    std::fill(nhs, nhs + n, 0);
    return;
  }
  static_assert(sizeof(ipv6_addr) == RTE_FIB6_IPV6_ADDR_SIZE);
  // rte_fib6_lookup_bulk takes a non-const array but does not modify it.
  rte_fib6_lookup_bulk(
      fib, reinterpret_cast<uint8_t(*)[RTE_FIB6_IPV6_ADDR_SIZE]>(const_cast<ipv6_addr*>(ips)), nhs,
      static_cast<int>(n));
}

route_nh route6_table::lookup(const ipv6_addr& ip) const {
  uint64_t nh = 0;
  lookup_bulk(&ip, &nh, 1);
  return decode6(nh);
}

}  // namespace ctgate
