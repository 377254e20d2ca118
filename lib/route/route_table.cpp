#include "route/route_table.h"

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_hash_crc.h>
#include <rte_memory.h>

#include <algorithm>
#include <atomic>

namespace ctgate {

namespace {

constexpr int k_spare_routes = 4096;
constexpr uint32_t k_tbl8_groups = 1024;

}  // namespace

uint32_t symmetric_flow_hash(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                             uint8_t proto) {
  const uint32_t ports =
      sport < dport ? (uint32_t{sport} << 16 | dport) : (uint32_t{dport} << 16 | sport);
  uint32_t h = rte_hash_crc_4byte(std::min(src, dst), proto);
  h = rte_hash_crc_4byte(std::max(src, dst), h);
  return rte_hash_crc_4byte(ports, h);
}

result<uint32_t> route_table::take_group(const std::vector<route_nh>& hops) {
  free_groups_.insert(free_groups_.end(), retired_groups_.begin(), retired_groups_.end());
  retired_groups_.clear();
  if (free_groups_.empty())
    return error{.message = "no room for another multipath route (" +
                            std::to_string(k_max_multipath_routes) + " at most)"};
  const uint32_t g = free_groups_.back();
  free_groups_.pop_back();
  nexthop_group& group = groups_[g];
  group.n = static_cast<uint32_t>(hops.size());
  std::copy(hops.begin(), hops.end(), group.hops);
  // The group before the fib entry that names it: a worker that reads the entry reads the
  // group through it (on x86 stores are seen in order; the fence says so to the compiler).
  std::atomic_thread_fence(std::memory_order_release);
  return g;
}

void route_table::retire_group(const entry& e) {
  if (e.nh.kind == route_kind::multipath) retired_groups_.push_back(e.nh.gateway);
}

route_table::~route_table() {
  if (fib_ != nullptr) rte_fib_free(fib_);
}

result<std::unique_ptr<route_table>> route_table::build(const gateway_config& cfg,
                                                        const std::string& name) {
  // The constructor is private: make_unique cannot reach it.
  std::unique_ptr<route_table> t(new route_table());
  t->groups_ = std::make_unique<nexthop_group[]>(k_max_multipath_routes);
  for (uint32_t g = k_max_multipath_routes; g-- > 0;) t->free_groups_.push_back(g);
  for (size_t i = 0; i < cfg.ports.size(); i++) {
    const auto& p = cfg.ports[i];
    uint16_t port = static_cast<uint16_t>(i);
    if (p.address.len == 0) continue;  // a bridge member: switched, no address
    ipv4_prefix net{p.address.network(), p.address.len};
    t->entries_.push_back({net, {route_kind::forward, port, 0}});
    t->entries_.push_back({{p.address.addr, 32}, {route_kind::local, port, 0}});
    if (p.address.len <= 30) {
      t->entries_.push_back({{net.addr, 32}, {route_kind::broadcast, port, 0}});
      t->entries_.push_back({{net.addr | ~p.address.mask(), 32}, {route_kind::broadcast, port, 0}});
    }
  }
  for (const auto& r : cfg.routes) {
    if (r.v6) continue;  // route6_table's
    int port = port_index(cfg, r.port);
    if (port < 0) {
      return error{.file = cfg.source_file,
                   .line = r.line,
                   .key = "routes",
                   .message = "unknown port '" + r.port + "'"};
    }
    entry e{r.prefix, {route_kind::forward, static_cast<uint16_t>(port), r.via}, {}};
    for (const route_hop& h : r.nexthops)
      e.hops.push_back(
          {route_kind::forward, static_cast<uint16_t>(port_index(cfg, h.port)), h.via});
    if (e.hops.size() > 1) {
      result<uint32_t> g = t->take_group(e.hops);
      if (!g)
        return error{
            .file = cfg.source_file, .line = r.line, .key = "routes", .message = g.error().message};
      e.nh = {route_kind::multipath, 0, *g};
    }
    t->entries_.push_back(std::move(e));
  }

  rte_fib_conf conf{};
  conf.type = RTE_FIB_DIR24_8;
  conf.default_nh = 0;
  // Room for routes added while running (control/routes.cpp): a rib node each, and a tbl8 group
  // (2 KiB) for each /24 that holds a longer prefix.
  conf.max_routes = static_cast<int>(t->entries_.size()) + k_spare_routes;
  // 255.255.255.255 (limited broadcast) is never forwarded either.
  t->entries_.push_back({{0xffffffffu, 32}, {route_kind::broadcast, 0, 0}});
  conf.dir24_8.nh_sz = RTE_FIB_DIR24_8_8B;
  conf.dir24_8.num_tbl8 = k_tbl8_groups;
  t->fib_ = rte_fib_create(name.c_str(), SOCKET_ID_ANY, &conf);
  if (t->fib_ == nullptr) {
    return error{.message = "rte_fib_create: " + std::string(rte_strerror(rte_errno))};
  }
  for (const auto& e : t->entries_) {
    int rc = rte_fib_add(t->fib_, e.prefix.addr, e.prefix.len, encode_nh(e.nh));
    if (rc != 0) {
      return error{.message = "rte_fib_add " + format_ipv4(e.prefix.addr) + "/" +
                              std::to_string(e.prefix.len) + ": " + rte_strerror(-rc)};
    }
  }
  return t;
}

result<void> route_table::add(const entry& given) {
  entry e = given;
  if (e.hops.size() > 1) {
    result<uint32_t> g = take_group(e.hops);
    if (!g) return std::move(g).error();
    e.nh = {route_kind::multipath, 0, *g};
  } else {
    e.hops.clear();
  }
  if (int rc = rte_fib_add(fib_, e.prefix.addr, e.prefix.len, encode_nh(e.nh)); rc != 0) {
    if (e.nh.kind == route_kind::multipath) free_groups_.push_back(e.nh.gateway);
    return error{.message = "rte_fib_add " + format_prefix(e.prefix) + ": " + rte_strerror(-rc)};
  }
  auto same = [&](const entry& x) {
    return x.prefix.addr == e.prefix.addr && x.prefix.len == e.prefix.len;
  };
  if (auto it = std::find_if(entries_.begin(), entries_.end(), same); it != entries_.end()) {
    retire_group(*it);  // no longer named: reused after the caller's grace period
    *it = e;
  } else {
    entries_.push_back(e);
  }
  return {};
}

result<void> route_table::remove(const ipv4_prefix& prefix) {
  if (int rc = rte_fib_delete(fib_, prefix.addr, prefix.len); rc != 0)
    return error{.message = "rte_fib_delete " + format_prefix(prefix) + ": " + rte_strerror(-rc)};
  std::erase_if(entries_, [&](const entry& x) {
    const bool same = x.prefix.addr == prefix.addr && x.prefix.len == prefix.len;
    if (same) retire_group(x);
    return same;
  });
  return {};
}

void route_table::lookup_bulk(const uint32_t* ips, uint64_t* nhs, unsigned n) const {
  // rte_fib_lookup_bulk takes a non-const array but does not modify it.
  rte_fib_lookup_bulk(fib_, const_cast<uint32_t*>(ips), nhs, static_cast<int>(n));
}

route_nh route_table::lookup(uint32_t ip) const {
  uint64_t nh = 0;
  lookup_bulk(&ip, &nh, 1);
  const route_nh r = decode_nh(nh);
  return r.kind == route_kind::multipath ? pick(r, rte_hash_crc_4byte(ip, 0)) : r;
}

}  // namespace ctgate
