#include "control/gateway.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>

#include "control/ports.h"
#include "control/ruleset_runtime.h"
#include "dataplane/defrag.h"
#include "dataplane/hooks_builtin.h"
#include "synproxy/synproxy.h"

namespace ctgate {

gateway::~gateway() {
  for (auto* w : workers) {
    // Packets still waiting for a neighbour go back to the pool first.
    for (uint8_t i = 0; i < w->n_neigh_waits; i++)
      for (rte_mbuf* m : w->neigh_waits[i].q)
        if (m != nullptr) rte_pktmbuf_free(m);
    if (ct.table != nullptr) ct::ct_worker_fini(&w->ct);
    defrag_destroy(w->defrag);
    defrag_destroy(w->defrag6);
    for (size_t p = 0; p < k_max_ports; p++) {  // a loop's frames still unsent
      rte_pktmbuf_free_bulk(w->tx_pending[p].pkts, w->tx_pending[p].n);
      w->tx_pending[p].n = 0;
    }
    if (w->logs != nullptr) w->logs->~log_ring();
    if (w->traces != nullptr) w->traces->~trace_ring();
    rte_free(w->logs);
    rte_free(w->traces);
    w->~worker_ctx();
    rte_free(w);
  }
  hooks.reset();
  ruleset.reset();
  ct::ct_runtime_fini(&ct);
  routes.reset();
  neighbors.reset();
  rte_free(qs);
  rte_mempool_free(mbuf_pool);
  rte_mempool_free(reasm_pool);
}

namespace {

// conntrack's and synproxy's setup still report `bool` + a message; wrap it.
error plain_error(std::string message) { return error{.message = std::move(message)}; }

// Marks each bridge's members (their VLANs) and makes its FDB, static entries in.
result<void> build_bridges(gateway& gw, const gateway_config& cfg, const std::string& name) {
  gw.port_vlans.resize(cfg.ports.size());
  for (const bridge_config& bc : cfg.bridges) {
    bridge_info br;
    br.name = bc.name;
    br.ageing_s = bc.ageing_time_s;
    std::vector<uint32_t> limits(cfg.ports.size(), 0);
    for (const bridge_port_config& bp : bc.ports) {
      const int idx = port_index(cfg, bp.port);
      port_info& pi = gw.ports[static_cast<size_t>(idx)];
      pi.bridge = static_cast<int8_t>(gw.bridges.size());
      pi.pvid = bp.pvid;
      vlan_set& carried = gw.port_vlans[static_cast<size_t>(idx)];
      for (uint16_t vid : bp.vlans) carried.add(vid);
      if (bp.pvid != 0) carried.add(bp.pvid);
      limits[static_cast<size_t>(idx)] = bp.learning_limit;
      br.members.push_back(static_cast<uint16_t>(idx));
    }
    result<std::unique_ptr<fdb>> table = fdb::create(name + "_" + bc.name, bc.max_entries, limits);
    if (!table) return std::move(table).error();
    br.table = std::move(*table);
    for (const fdb_static_config& e : bc.fdb) {
      uint8_t mac[6];
      parse_mac(e.mac, mac);
      if (!br.table->add_static(e.vlan, mac, static_cast<uint16_t>(port_index(cfg, e.port))))
        return error{.file = cfg.source_file,
                     .line = e.line,
                     .message = "bridge " + bc.name + ": no FDB slot for static entry " + e.mac};
    }
    for (size_t i = 0; i < gw.ports.size(); i++)
      if (gw.ports[i].iface_of == static_cast<int8_t>(gw.bridges.size())) {
        br.ifaces.push_back({gw.ports[i].vlan, static_cast<uint16_t>(i)});
        if (gw.ports[i].name == br.name) br.self_iface = static_cast<uint16_t>(i);
      }
    gw.bridges.push_back(std::move(br));
  }
  set_bridge_iface_macs(gw);
  return {};
}

}  // namespace

result<std::unique_ptr<gateway>> gateway_create(const gateway_config& cfg,
                                                const std::string& name) {
  auto gw = std::make_unique<gateway>();
  gw->cfg = cfg;
  gw->name = name;
  for (const auto& p : cfg.ports) {
    port_info pi;
    pi.name = p.name;
    pi.addr = p.address.addr;
    pi.prefix_len = p.address.len;
    pi.mtu = p.mtu;
    pi.zone = p.zone;
    if (p.address6) {
      pi.has_addr6 = true;
      pi.addr6 = p.address6->addr;
      pi.prefix6_len = p.address6->len;
    }
    uint8_t mac[6] = {};
    if (p.mac) {
      parse_mac(*p.mac, mac);
      pi.filter_mac = true;
    }
    set_port_mac(pi, mac);
    if (!p.bridge.empty()) {
      pi.vlan = p.vlan;
      for (size_t b = 0; b < cfg.bridges.size(); b++)
        if (cfg.bridges[b].name == p.bridge) pi.iface_of = static_cast<int8_t>(b);
    } else if (p.vlan != 0) {
      const int parent = port_index(cfg, p.parent);
      pi.vlan = p.vlan;
      pi.parent = static_cast<uint16_t>(parent);
      gw->ports[static_cast<size_t>(parent)].has_vlans = true;
    }
    gw->ports.push_back(pi);
  }
  gw->vlan_subifs.resize(gw->ports.size());
  for (size_t i = 0; i < gw->ports.size(); i++)
    if (gw->ports[i].vlan != 0 && gw->ports[i].iface_of < 0)
      gw->vlan_subifs[gw->ports[i].parent].push_back({gw->ports[i].vlan, static_cast<uint16_t>(i)});
  if (result<void> b = build_bridges(*gw, cfg, name); !b) return std::move(b).error();
  gw->mbuf_pool =
      rte_pktmbuf_pool_create((name + "_mbufs").c_str(), cfg.mbufs, 256, k_pkt_priv_size,
                              RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (gw->mbuf_pool == nullptr) {
    return plain_error("mbuf pool of " + std::to_string(cfg.mbufs) + ": " +
                       rte_strerror(rte_errno));
  }
  // Reassembled datagrams are built whole in one buffer, so every stage
  // reads them as it reads any packet (docs/design/fragments.md). The
  // buffer is the largest an mbuf can describe.
  gw->reasm_pool =
      rte_pktmbuf_pool_create((name + "_reasm").c_str(), cfg.ipfrag.reasm_buffers * cfg.workers,
                              std::min<unsigned>(cfg.ipfrag.reasm_buffers / 2, 32), k_pkt_priv_size,
                              UINT16_MAX, SOCKET_ID_ANY);
  if (gw->reasm_pool == nullptr)
    return plain_error("reassembly pool of " +
                       std::to_string(cfg.ipfrag.reasm_buffers * cfg.workers) +
                       " x 64 KiB: " + rte_strerror(rte_errno));
  size_t qs_size = rte_rcu_qsbr_get_memsize(cfg.workers);
  gw->qs = static_cast<rte_rcu_qsbr*>(rte_zmalloc("ctgate_qsbr", qs_size, RTE_CACHE_LINE_SIZE));
  if (gw->qs == nullptr || rte_rcu_qsbr_init(gw->qs, cfg.workers) != 0) {
    return plain_error("rcu qsbr init failed");
  }
  result<std::unique_ptr<route_table>> rt = route_table::build(cfg, name + "_fib");
  if (!rt) return std::move(rt).error();
  gw->routes = std::move(*rt);
  {
    lock_guard lock(gw->routes_mu);
    gw->static_routes = cfg.routes;
  }
  result<std::unique_ptr<route6_table>> rt6 = route6_table::build(cfg, name + "_f6");
  if (!rt6) return std::move(rt6).error();
  gw->routes6 = std::move(*rt6);
  result<std::unique_ptr<neighbor_table>> nt = neighbor_table::create(name + "_neigh");
  if (!nt) return std::move(nt).error();
  gw->neighbors = std::move(*nt);
  result<std::unique_ptr<neighbor6_table>> nt6 = neighbor6_table::create(name + "_neigh6");
  if (!nt6) return std::move(nt6).error();
  gw->neighbors6 = std::move(*nt6);
  for (const auto& n : cfg.neighbors) {
    mac_addr mac;
    parse_mac(n.mac, mac.b);
    uint16_t port = 0;
    for (size_t i = 0; i < cfg.ports.size(); i++)
      if (cfg.ports[i].name == n.port) port = static_cast<uint16_t>(i);
    if (n.v6)
      gw->neighbors6->learn(neigh6_key{n.address6, port}, mac, true, 0, port);
    else
      gw->neighbors->learn(n.address, mac, true, 0, port);
  }
  gw->hooks = std::make_unique<hook_registry>(gw->qs);
  if (result<void> ct = ct::ct_runtime_init(&gw->ct, cfg.conntrack, gw->qs, name); !ct)
    return std::move(ct).error();
  // IPv6 flows' addresses (32 bytes a position) only where IPv6 is routed at all.
  if (gw->routes6->enabled())
    if (result<void> on = gw->ct.table->enable_ipv6(); !on) return std::move(on).error();
  gw->ct.mailbox = &gw->mailbox;

  uint32_t now = gw->clock.now_ms();
  for (uint16_t i = 0; i < cfg.workers; i++) {
    void* mem = rte_zmalloc("worker_ctx", sizeof(worker_ctx), RTE_CACHE_LINE_SIZE);
    if (mem == nullptr) {
      return plain_error("cannot allocate worker context");
    }
    auto* w = new (mem) worker_ctx();
    w->id = i;
    w->gw = gw.get();
    w->now_ms = now;
    w->tx_batch_max = cfg.burst;
    gw->workers.push_back(w);
    void* logs = rte_zmalloc("worker_logs", sizeof(log_ring), RTE_CACHE_LINE_SIZE);
    void* traces = rte_zmalloc("worker_traces", sizeof(trace_ring), RTE_CACHE_LINE_SIZE);
    if (logs != nullptr) w->logs = new (logs) log_ring();
    if (traces != nullptr) w->traces = new (traces) trace_ring();
    if (logs == nullptr || traces == nullptr)
      return plain_error("cannot allocate a worker's log and trace rings");
    if (result<void> cw = ct::ct_worker_init(&w->ct, i, &gw->ct, now); !cw)
      return std::move(cw).error();
    w->defrag = defrag_create(cfg.ipfrag, cfg.workers, gw->reasm_pool, false);
    w->defrag6 = defrag_create(cfg.ipfrag6, cfg.workers, gw->reasm_pool, true);
    if (w->defrag == nullptr || w->defrag6 == nullptr)
      return plain_error("cannot allocate the reassembly state");
    rte_rcu_qsbr_thread_register(gw->qs, i);
  }
  // The automatic synproxy opens connections that conntrack's confirm must publish.
  if (cfg.conntrack.enable_hooks || cfg.synproxy.enable) {
    if (result<void> on = enable_conntrack(*gw); !on) return std::move(on).error();
  }
  if (result<void> sp = synproxy_init(*gw); !sp) return std::move(sp).error();
  return gw;
}

result<void> enable_conntrack(gateway& gw) {
  // Under the lock ruleset loads hold while they register conntrack for their tables' families
  // (ruleset_runtime.cpp install): one reads, registers and stores the families at a time.
  lock_guard lock(gw.ruleset_mu);
  // Both families, as Linux's enable_hooks.
  const uint8_t missing =
      static_cast<uint8_t>((HOOK_FAM_IPV4 | HOOK_FAM_IPV6) & ~gw.ct_hooks_registered.load());
  if (missing == 0) return {};
  result<void> on = gw.hooks->edit(
      [missing](hook_registry::editor& ed) { return register_conntrack_hooks(ed, missing); });
  if (!on) return on;
  gw.ct_hooks_registered.fetch_or(missing);
  return {};
}

}  // namespace ctgate
