#include "control/telemetry.h"

#include <malloc.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>
#include <vector>

#include <glog/logging.h>

#include "conntrack/ct_event.h"
#include "conntrack/ct_format.h"
#include "control/gateway.h"
#include "control/reload.h"
#include "control/routes.h"
#include "control/ruleset_runtime.h"
#include "dataplane/defrag.h"
#include "synproxy/synproxy.h"

namespace ctgate {

namespace {

gateway* g_gw = nullptr;
std::vector<rte_mbuf*> g_held_mbufs;  // fault injection: taken out of the pool
std::string g_reply_dir = "/tmp";

uint64_t dp_total(const gateway& gw, dp_counter c) {
  uint64_t s = 0;
  for (auto* w : gw.workers) s += w->counters.get(c);
  return s;
}

uint64_t ct_total(const gateway& gw, ct::ct_counter c) {
  uint64_t s = 0;
  for (auto* w : gw.workers) s += w->ct.counters.get(c);
  return s;
}

// Per-port (and per-bridge) replies are keyed by index, the name inside: telemetry keys may hold
// only [A-Za-z0-9_/], and port and bridge names may have '-' (a VLAN subinterface's a '.'),
// which it would refuse.
std::string port_key(size_t index) { return std::to_string(index); }

int cmd_ports(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (size_t p = 0; p < g_gw->ports.size(); p++) {
    const port_info& pi = g_gw->ports[p];
    rte_tel_data* c = rte_tel_data_alloc();
    rte_tel_data_start_dict(c);
    rte_tel_data_add_dict_string(c, "name", pi.name.c_str());
    uint64_t rx = 0, tx = 0;
    for (auto* w : g_gw->workers) {
      rx += w->port_rx[p].get();
      tx += w->port_tx[p].get();
    }
    rte_tel_data_add_dict_u64(c, "rx_packets", rx);
    rte_tel_data_add_dict_u64(c, "tx_packets", tx);
    if (pi.bridge >= 0)
      rte_tel_data_add_dict_string(c, "bridge", g_gw->bridges[size_t(pi.bridge)].name.c_str());
    else
      rte_tel_data_add_dict_string(
          c, "address", (format_ipv4(pi.addr) + "/" + std::to_string(pi.prefix_len)).c_str());
    if (pi.iface_of >= 0) {
      rte_tel_data_add_dict_string(c, "interface_of",
                                   g_gw->bridges[size_t(pi.iface_of)].name.c_str());
      rte_tel_data_add_dict_u64(c, "vlan", pi.vlan);
    } else if (pi.vlan != 0) {
      rte_tel_data_add_dict_string(c, "vlan_of", g_gw->ports[pi.parent].name.c_str());
      rte_tel_data_add_dict_u64(c, "vlan", pi.vlan);
    }
    rte_tel_data_add_dict_string(c, "mac", format_mac(pi.mac.b).c_str());
    // The DPDK device behind the port: dpdk-dumpcap's -i takes its name or port_id.
    if (char dev[RTE_ETH_NAME_MAX_LEN];
        pi.attached && pi.vlan == 0 && rte_eth_dev_get_name_by_port(pi.port_id, dev) == 0) {
      rte_tel_data_add_dict_string(c, "ethdev", dev);
      rte_tel_data_add_dict_u64(c, "port_id", pi.port_id);
    }
    rte_eth_stats st{};
    if (pi.attached && rte_eth_stats_get(pi.port_id, &st) == 0) {
      rte_tel_data_add_dict_u64(c, "hw_ipackets", st.ipackets);
      rte_tel_data_add_dict_u64(c, "hw_opackets", st.opackets);
      rte_tel_data_add_dict_u64(c, "hw_ibytes", st.ibytes);
      rte_tel_data_add_dict_u64(c, "hw_obytes", st.obytes);
      rte_tel_data_add_dict_u64(c, "hw_imissed", st.imissed);
      rte_tel_data_add_dict_u64(c, "hw_ierrors", st.ierrors);
      rte_tel_data_add_dict_u64(c, "hw_oerrors", st.oerrors);
      rte_tel_data_add_dict_u64(c, "hw_rx_nombuf", st.rx_nombuf);
    }
    rte_tel_data_add_dict_container(d, port_key(p).c_str(), c, 0);
  }
  return 0;
}

// Adds a counter block to `d`: one worker's (`only`) or the sum over all.
// `slots` picks the block's slots out of a worker context.
template <typename Slots>
void add_counters(rte_tel_data* d, const char* const* names, size_t n, Slots slots,
                  const worker_ctx* only) {
  for (size_t i = 0; i < n; i++) {
    uint64_t v = 0;
    for (auto* w : g_gw->workers)
      if (only == nullptr || w == only) v += slots(*w)[i].get();
    std::string name = names[i];
    if (name.back() == '_') name.pop_back();  // names that dodge C++ keywords: new_ -> new
    rte_tel_data_add_dict_u64(d, name.c_str(), v);
  }
}

void add_dp_counters(rte_tel_data* d, const worker_ctx* only) {
  add_counters(
      d, dp_counter_names, dp_counter_count, [](const worker_ctx& w) { return w.counters.c; },
      only);
}

int cmd_workers(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (auto* w : g_gw->workers) {
    rte_tel_data* c = rte_tel_data_alloc();
    rte_tel_data_start_dict(c);
    rte_tel_data_add_dict_u64(c, "lcore", w->lcore);
    rte_tel_data_add_dict_u64(c, "running", w->running.load() ? 1 : 0);
    add_dp_counters(c, w);
    rte_tel_data_add_dict_u64(c, "ct_owned", w->ct.owned);
    // Gauges, read without synchronisation like ct_owned: a snapshot. Both families.
    rte_tel_data_add_dict_u64(c, "ipfrag_held", w->defrag->held_frags + w->defrag6->held_frags);
    rte_tel_data_add_dict_u64(c, "ipfrag_mem", w->defrag->mem + w->defrag6->mem);
    rte_tel_data_add_dict_u64(c, "loops", w->loops.load(std::memory_order_relaxed));
    rte_tel_data_add_dict_u64(c, "loop_gap_max_us",
                              w->loop_gap_max_ns.load(std::memory_order_relaxed) / 1000);
    rte_tel_data_add_dict_container(d, ("worker" + std::to_string(w->id)).c_str(), c, 0);
  }
  return 0;
}

int cmd_drops(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (size_t i = 0; i < dp_counter_count; i++) {
    std::string name = dp_counter_names[i];
    if (name.rfind("drop_", 0) != 0) continue;
    rte_tel_data_add_dict_u64(d, name.substr(5).c_str(),
                              dp_total(*g_gw, static_cast<dp_counter>(i)));
  }
  rte_tel_data_add_dict_u64(d, "conntrack_table_full", ct_total(*g_gw, ct::ct_counter::drop));
  rte_tel_data_add_dict_u64(d, "conntrack_insert_failed",
                            ct_total(*g_gw, ct::ct_counter::insert_failed));
  return 0;
}

int cmd_counters(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  add_dp_counters(d, nullptr);
  return 0;
}

int cmd_hooks(const char*, const char* params, rte_tel_data* d) {
  // An array of "HOOK PRIORITY NAME PACKETS DROPS" rows, in run order, of one family's
  // callbacks: "ipv4" (the default), "ipv6" or "bridge", as Linux lists hooks per family.
  const std::string fam = params != nullptr ? params : "";
  if (!fam.empty() && fam != "ipv4" && fam != "ipv6" && fam != "bridge") {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "error", "expected ipv4, ipv6 or bridge after /ctgate/hooks,");
    return 0;
  }
  const uint8_t want = fam == "ipv6"     ? HOOK_FAM_IPV6
                       : fam == "bridge" ? HOOK_FAM_BRIDGE
                                         : HOOK_FAM_IPV4;
  rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
  for (const auto& e : g_gw->hooks->list()) {
    if (!(e.families & want)) continue;
    uint64_t pk = 0, dr = 0;
    for (auto* w : g_gw->workers) {
      pk += w->hook_pkts[e.id].get();
      dr += w->hook_drops[e.id].get();
    }
    char row[RTE_TEL_MAX_STRING_LEN];
    std::snprintf(row, sizeof(row), "%s %d %s %lu %lu", hook_point_name(e.hp), e.priority,
                  e.name.c_str(), static_cast<unsigned long>(pk), static_cast<unsigned long>(dr));
    rte_tel_data_add_array_string(d, row);
  }
  return 0;
}

void add_ct_counters(rte_tel_data* d, const worker_ctx* only) {
  add_counters(
      d, ct::ct_counter_names, ct::ct_counter_count,
      [](const worker_ctx& w) { return w.ct.counters.c; }, only);
}

int cmd_ct_stats(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "count", static_cast<uint64_t>(g_gw->ct.table->count()));
  rte_tel_data_add_dict_u64(d, "max", g_gw->ct.table->max());
  // 1 while any family is tracked (as before IPv6); the families apart in the two below.
  const uint8_t fams = g_gw->ct_hooks_registered.load();
  rte_tel_data_add_dict_u64(d, "hooks_registered", fams != 0 ? 1 : 0);
  rte_tel_data_add_dict_u64(d, "hooks_registered_ipv4", (fams & HOOK_FAM_IPV4) ? 1 : 0);
  rte_tel_data_add_dict_u64(d, "hooks_registered_ipv6", (fams & HOOK_FAM_IPV6) ? 1 : 0);
  rte_tel_data_add_dict_u64(d, "hooks_registered_bridge", (fams & HOOK_FAM_BRIDGE) ? 1 : 0);
  rte_tel_data_add_dict_u64(d, "table_full_events", g_gw->ct.full_events.load());
  rte_tel_data_add_dict_u64(d, "table_full_logged", g_gw->ct.full_log.emitted());
  for (auto* w : g_gw->workers) {
    rte_tel_data* c = rte_tel_data_alloc();
    rte_tel_data_start_dict(c);
    add_ct_counters(c, w);
    rte_tel_data_add_dict_u64(c, "unconfirmed", w->ct.n_unconfirmed);
    rte_tel_data_add_dict_container(d, ("worker" + std::to_string(w->id)).c_str(), c, 0);
  }
  return 0;
}

int cmd_ct_count(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "count", static_cast<uint64_t>(g_gw->ct.table->count()));
  rte_tel_data_add_dict_u64(d, "max", g_gw->ct.table->max());
  return 0;
}

// Replies can be far larger than a telemetry reply (16 KiB) or a telemetry
// string (128 B), so text goes to a private file the client reads and
// removes; the reply names it. mkstemp: an unpredictable name created with
// O_EXCL, so a planted symlink cannot redirect a root-owned write.
bool write_reply_file(rte_tel_data* d, const std::string& text) {
  std::string path = g_reply_dir + "/ctgate-reply-XXXXXX";
  int fd = mkstemp(path.data());
  FILE* fp = fd >= 0 ? fdopen(fd, "w") : nullptr;
  if (fp == nullptr) {
    if (fd >= 0) close(fd);
    rte_tel_data_add_dict_string(d, "error", "cannot write reply file");
    return false;
  }
  std::fputs(text.c_str(), fp);
  std::fclose(fp);
  rte_tel_data_add_dict_string(d, "file", path.c_str());
  return true;
}

int cmd_ct_list(const char*, const char* params, rte_tel_data* d) {
  ct::ct_filter f;
  rte_tel_data_start_dict(d);
  if (params != nullptr) {
    result<ct::ct_filter> parsed = ct::parse_filter(params);
    if (!parsed) {
      rte_tel_data_add_dict_string(d, "error", parsed.error().message.c_str());
      return 0;
    }
    f = *parsed;
  }
  auto lines = ct::list_lines(*g_gw->ct.table, f, g_gw->clock.now_ms());
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  if (!write_reply_file(d, text)) return 0;
  rte_tel_data_add_dict_u64(d, "count", lines.size());
  return 0;
}

// /ctgate/conntrack/events,cursor=N|start [events=NEW,UPDATE,DESTROY] [output=json|extended]
// [filters]: conntrack -E's events after the reader's cursor (start: from now on), in a reply
// file;
// the reply gives the next cursor and how many events fell off the log meanwhile. A poll turns
// events on for 10 s (ct_event_log).
int cmd_ct_events(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  std::optional<uint64_t> cursor;  // none: cursor=start, a new reader
  uint8_t mask = ct::CT_EVENT_ALL;
  bool json = false;
  std::string filter;
  std::istringstream in(params != nullptr ? params : "");
  for (std::string word; in >> word;) {
    if (word == "cursor=start") {
      cursor.reset();
    } else if (word.starts_with("cursor=")) {
      cursor = std::strtoull(word.c_str() + 7, nullptr, 10);
    } else if (word.starts_with("events=")) {
      mask = ct::parse_event_mask(word.substr(7));
      if (mask == 0) {
        rte_tel_data_add_dict_string(
            d, "error",
            ("events: '" + word.substr(7) + "': expected NEW, UPDATE, DESTROY or ALL")
                .substr(0, RTE_TEL_MAX_STRING_LEN - 1)
                .c_str());
        return 0;
      }
    } else if (word == "output=json") {
      json = true;
    } else {
      filter += word + " ";
    }
  }
  result<ct::ct_filter> f = ct::parse_filter(filter);
  if (!f) {
    rte_tel_data_add_dict_string(d, "error", f.error().message.c_str());
    return 0;
  }
  uint64_t next = 0, lost = 0;
  size_t count = 0;
  const std::string text =
      g_gw->ct_events.read(g_gw->ct, static_cast<uint16_t>(g_gw->workers.size()),
                           g_gw->clock.now_ms(), cursor, mask, *f, json, &next, &lost, &count);
  if (!write_reply_file(d, text)) return 0;
  rte_tel_data_add_dict_u64(d, "cursor", next);
  rte_tel_data_add_dict_u64(d, "count", count);
  rte_tel_data_add_dict_u64(d, "lost", lost);
  rte_tel_data_add_dict_u64(d, "dropped_by_workers",
                            ct_total(*g_gw, ct::ct_counter::event_dropped));
  return 0;
}

// One family's `ip neigh` lines: "10.0.2.2 dev wan lladdr 02:00:00:00:02:02 REACHABLE".
template <typename Table, typename Format, typename Waited>
size_t neigh_lines(const Table& table, Format format, Waited waited, std::string* text) {
  const uint32_t now = g_gw->clock.now_ms();
  const arp_config& arp = g_gw->cfg.arp;
  size_t count = 0;
  table.for_each([&](const auto& ip, uint64_t word, uint32_t confirmed, uint16_t port) {
    std::string line = format(ip);
    if (port < g_gw->ports.size()) line += " dev " + g_gw->ports[port].name;
    if (word & Table::k_valid) {
      line += " lladdr " + format_mac(u64_to_mac(word).b);
      if (word & Table::k_static)
        line += " PERMANENT";
      else if (now - confirmed <= arp.base_reachable_time_ms)
        line += " REACHABLE";
      else
        line += " STALE";
    } else {
      // Asked for, never answered: still resolving, or given up on.
      bool resolving = false;
      for (auto* w : g_gw->workers)
        for (uint8_t i = 0; i < w->n_neigh_waits; i++) resolving |= waited(w->neigh_waits[i], ip);
      line += resolving ? " INCOMPLETE" : " FAILED";
    }
    *text += line + "\n";
    count++;
  });
  return count;
}

// `ip neigh`: IPv4's neighbours (ARP), then IPv6's (neighbour discovery).
int cmd_neigh(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  std::string text;
  size_t count = neigh_lines(
      *g_gw->neighbors, [](uint32_t ip) { return format_ipv4(ip); },
      [](const neigh_wait& nw, uint32_t ip) { return !nw.v6 && nw.ip == ip; }, &text);
  count += neigh_lines(
      *g_gw->neighbors6, [](const neigh6_key& k) { return format_ipv6(k.addr); },
      [](const neigh_wait& nw, const neigh6_key& k) {
        return nw.v6 && nw.ip6 == k.addr && nw.port == k.port;
      },
      &text);
  if (!write_reply_file(d, text)) return 0;
  rte_tel_data_add_dict_u64(d, "count", count);
  rte_tel_data_add_dict_u64(d, "gc_removed",
                            g_gw->neighbors->gc_removed() + g_gw->neighbors6->gc_removed());
  return 0;
}

// `ip route`: the IPv4 routes in force.
int cmd_route_list(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const bool v6 = params != nullptr && std::string_view(params) == "6";
  const std::string text = v6 ? route6_list(*g_gw) : route_list(*g_gw);
  if (!write_reply_file(d, text)) return 0;
  rte_tel_data_add_dict_u64(d, "count", route_count(*g_gw, v6));
  return 0;
}

// A live change's reply: {"done": what changed} (also logged) or {"error": why not}.
void reply_change(rte_tel_data* d, const char* what, const result<std::string>& r) {
  if (!r) {
    rte_tel_data_add_dict_string(d, "error", r.error().to_string().c_str());
    return;
  }
  LOG(INFO) << what << ": " << *r;
  rte_tel_data_add_dict_string(d, "done", r->c_str());
}

// `ip route add|replace|del ...`.
int cmd_route_change(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  reply_change(d, "route", route_command(*g_gw, params != nullptr ? params : ""));
  return 0;
}

// `ip neigh add|replace|del ...`.
int cmd_neigh_change(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  borrowed_lcore_id lcore;
  if (!lcore.ok()) {
    rte_tel_data_add_dict_string(d, "error", "neigh: no free lcore id for this request");
    return 0;
  }
  reply_change(d, "neigh", neigh_command(*g_gw, params != nullptr ? params : ""));
  return 0;
}

// bridge fdb show: MAC dev PORT vlan VID master BRIDGE [static].
int cmd_fdb(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  std::string text;
  uint64_t count = 0;
  rte_tel_data* bridges = rte_tel_data_alloc();
  rte_tel_data_start_dict(bridges);
  for (size_t bi = 0; bi < g_gw->bridges.size(); bi++) {
    const bridge_info& br = g_gw->bridges[bi];
    std::vector<fdb_entry> es = br.table->entries();
    std::sort(es.begin(), es.end(), [](const fdb_entry& a, const fdb_entry& b) {
      if (a.port != b.port || a.vlan != b.vlan)
        return std::tie(a.port, a.vlan) < std::tie(b.port, b.vlan);
      return std::memcmp(a.mac, b.mac, 6) < 0;
    });
    for (const fdb_entry& e : es) {
      text += format_mac(e.mac) + " dev " + g_gw->ports[e.port].name + " vlan " +
              std::to_string(e.vlan) + " master " + br.name + (e.is_static ? " static" : "") + "\n";
    }
    count += es.size();
    rte_tel_data* b = rte_tel_data_alloc();
    rte_tel_data_start_dict(b);
    rte_tel_data_add_dict_string(b, "name", br.name.c_str());
    rte_tel_data_add_dict_u64(b, "entries", br.table->count());
    rte_tel_data_add_dict_u64(b, "max_entries", br.table->max_entries());
    rte_tel_data_add_dict_u64(b, "ageing_time_s", br.ageing_s);
    rte_tel_data_add_dict_u64(b, "memory_bytes", br.table->memory_bytes());
    rte_tel_data_add_dict_container(bridges, port_key(bi).c_str(), b, 0);
  }
  if (!write_reply_file(d, text)) {
    rte_tel_data_free(bridges);
    return 0;
  }
  rte_tel_data_add_dict_u64(d, "count", count);
  rte_tel_data_add_dict_container(d, "bridges", bridges, 0);
  return 0;
}

// bridge vlan show: per member, its PVID and the VLANs it carries.
int cmd_bridge_vlan(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (const bridge_info& br : g_gw->bridges)
    for (uint16_t p : br.members) {
      const port_info& pi = g_gw->ports[p];
      rte_tel_data* c = rte_tel_data_alloc();
      rte_tel_data_start_dict(c);
      rte_tel_data_add_dict_string(c, "name", pi.name.c_str());
      rte_tel_data_add_dict_string(c, "bridge", br.name.c_str());
      rte_tel_data_add_dict_u64(c, "pvid", pi.pvid);
      rte_tel_data* vl = rte_tel_data_alloc();
      rte_tel_data_start_array(vl, RTE_TEL_U64_VAL);
      for (uint16_t vid = 1; vid <= k_vlan_max; vid++)
        if (g_gw->port_vlans[p].has(vid)) rte_tel_data_add_array_u64(vl, vid);
      rte_tel_data_add_dict_container(c, "vlans", vl, 0);
      rte_tel_data_add_dict_u64(c, "fdb_entries", br.table->port_count(p));
      rte_tel_data_add_dict_container(d, port_key(p).c_str(), c, 0);
    }
  return 0;
}

int cmd_ct_unconfirmed(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (auto* w : g_gw->workers)
    rte_tel_data_add_dict_u64(d, ("worker" + std::to_string(w->id)).c_str(), w->ct.n_unconfirmed);
  return 0;
}

int cmd_ct_delete(const char* cmd, const char* params, rte_tel_data* d) {
  ct::ct_filter f;
  rte_tel_data_start_dict(d);
  bool flush = std::string(cmd) == "/ctgate/conntrack/flush";
  if (!flush && params != nullptr) {
    result<ct::ct_filter> parsed = ct::parse_filter(params);
    if (!parsed) {
      rte_tel_data_add_dict_string(d, "error", parsed.error().message.c_str());
      return 0;
    }
    f = *parsed;
  }
  std::vector<ct::ct_worker*> ws;
  for (auto* w : g_gw->workers) ws.push_back(&w->ct);
  uint64_t n = ct::delete_matching(*g_gw->ct.table, f, ws.data(), static_cast<uint16_t>(ws.size()));
  rte_tel_data_add_dict_u64(d, "deleted", n);
  return 0;
}

int cmd_ct_enable(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  if (result<void> on = enable_conntrack(*g_gw); !on) {
    rte_tel_data_add_dict_string(d, "error", on.error().to_string().c_str());
    return 0;
  }
  rte_tel_data_add_dict_u64(d, "hooks_registered", 1);
  for (const auto& w : ruleset_ordering_warnings(*g_gw)) LOG(WARNING) << w;
  return 0;
}

// A load's reply: its counts, and its error (nft's shape) or warnings in a
// reply file. A failed load reports zeros (no newline after the error).
void reply_load(rte_tel_data* d, const result<ruleset_summary>& r, const char* source,
                const std::vector<std::string>& changes = {}) {
  const ruleset_summary s = r ? *r : ruleset_summary{};
  std::string text = r ? "" : r.error().to_string();
  for (const std::string& c : changes) {
    text += "reload: " + c + "\n";
    LOG(INFO) << "reload: " << c;
  }
  for (const auto& w : s.warnings) {
    text += w + "\n";
    LOG(WARNING) << w;
  }
  if (r && s.in_place)
    LOG(INFO) << "ruleset " << source << ": " << s.elements_added << " elements added, "
              << s.elements_deleted << " deleted, in place";
  else if (r)
    LOG(INFO) << "ruleset " << source << " loaded: " << s.tables << " tables, " << s.chains
              << " chains, " << s.rules << " rules";
  rte_tel_data_add_dict_u64(d, "ok", r ? 1 : 0);
  rte_tel_data_add_dict_u64(d, "tables", s.tables);
  rte_tel_data_add_dict_u64(d, "chains", s.chains);
  rte_tel_data_add_dict_u64(d, "rules", s.rules);
  rte_tel_data_add_dict_u64(d, "warnings", s.warnings.size());
  if (s.in_place) {
    rte_tel_data_add_dict_u64(d, "in_place", 1);
    rte_tel_data_add_dict_u64(d, "elements_added", s.elements_added);
    rte_tel_data_add_dict_u64(d, "elements_deleted", s.elements_deleted);
  }
  write_reply_file(d, text);
}

// /ctgate/ruleset/load,PATH: the path is read by the daemon and its commands
// applied to the live ruleset (nft -f).
int cmd_ruleset_load(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  if (params == nullptr || *params == '\0') {
    rte_tel_data_add_dict_string(d, "error", "usage: /ctgate/ruleset/load,PATH");
    return 0;
  }
  // The path comes from a client: a FIFO or a device would block this
  // thread (and every later command) or never end. Files only.
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(params, ec);
  result<ruleset_summary> r =
      std::filesystem::exists(st) && !std::filesystem::is_regular_file(st) &&
              !std::filesystem::is_directory(st)
          ? result<ruleset_summary>(
                error{.file = params,
                      .severity = "error",
                      .message = std::string("cannot open '") + params + "': not a regular file"})
          : load_ruleset_file(*g_gw, params);
  reply_load(d, r, params);
  return 0;
}

// /ctgate/reload: the config's ruleset file again, replacing the live ruleset (SIGHUP's).
// /ctgate/reload: the config file again (reload.h): its ruleset replaces the live one, its
// routes, neighbours, timeouts and metrics endpoint apply; a key that takes a restart is
// refused with its line. SIGHUP's.
int cmd_reload(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  borrowed_lcore_id lcore;  // the config's neighbours go into the neighbour table
  if (!lcore.ok()) {
    rte_tel_data_add_dict_string(d, "error", "reload: no free lcore id for this request");
    return 0;
  }
  result<reload_summary> r = reload_config(*g_gw);
  const std::string source = config_ruleset_path(g_gw->cfg);
  if (!r) {
    reply_load(d, std::move(r).error(), source.c_str());
  } else {
    reply_load(d, r->ruleset, source.c_str(), r->changes);
    rte_tel_data_add_dict_u64(d, "ruleset", r->has_ruleset ? 1 : 0);
  }
  return 0;
}

// /ctgate/nft,COMMANDS: nft commands given on the command line (ctgatectl
// nft '...'), applied like a file; errors name the source "<cmdline>".
int cmd_nft(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  if (params == nullptr || *params == '\0') {
    rte_tel_data_add_dict_string(d, "error", "usage: /ctgate/nft,COMMANDS");
    return 0;
  }
  reply_load(d, load_ruleset_text(*g_gw, params, "<cmdline>"), "<cmdline>");
  return 0;
}

// /ctgate/ruleset/list[,handles]: `nft list ruleset` (`nft -a list ruleset`).
int cmd_ruleset_list(const char* cmd, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  bool limits = std::string(cmd) == "/ctgate/ruleset/limits";
  const bool handles = params != nullptr && std::string_view(params) == "handles";
  write_reply_file(d, limits ? list_limits(*g_gw) : list_ruleset(*g_gw, handles));
  return 0;
}

// /ctgate/ruleset/reset,KIND[,FAMILY,TABLE[,NAME]]: `nft reset counters|quotas ...` (KIND:
// counter or quota): the listing with the selected named objects' values before they were
// zeroed.
int cmd_ruleset_reset(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  std::vector<std::string> p;
  std::stringstream in(params != nullptr ? params : "");
  for (std::string part; std::getline(in, part, ',');) p.push_back(part);
  if (p.empty() || (p[0] != "counter" && p[0] != "quota") || p.size() == 2 || p.size() > 4) {
    rte_tel_data_add_dict_string(
        d, "error", "usage: /ctgate/ruleset/reset,counter|quota[,FAMILY,TABLE[,NAME]]");
    return 0;
  }
  p.resize(4);
  write_reply_file(d, reset_objects(*g_gw, p[0], p[1], p[2], p[3]));
  return 0;
}

int cmd_trace(const char* cmd, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  std::string c = cmd;
  if (c == "/ctgate/trace/start") {
    result<ruleset_summary> r = trace_start(*g_gw, params != nullptr ? params : "");
    if (!r) {
      write_reply_file(d, r.error().to_string() + "\n");
      rte_tel_data_add_dict_string(d, "error", "bad trace expression (see file)");
      return 0;
    }
    rte_tel_data_add_dict_u64(d, "tracing", 1);
  } else if (c == "/ctgate/trace/stop") {
    trace_stop(*g_gw);
    rte_tel_data_add_dict_u64(d, "tracing", 0);
  } else {
    size_t packets = 0;
    std::string lines = trace_read(*g_gw, &packets);
    write_reply_file(d, lines);
    rte_tel_data_add_dict_u64(d, "packets", packets);
    uint64_t lost = 0;
    for (auto* w : g_gw->workers) lost += w->trace_lost.get();
    rte_tel_data_add_dict_u64(d, "lost", lost);
  }
  return 0;
}

int cmd_synproxy(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  add_counters(
      d, synproxy_counter_names, synproxy_counter_count,
      [](const worker_ctx& w) { return w.synproxy->counters.c; }, nullptr);
  rte_tel_data_add_dict_u64(d, "hook_registered", g_gw->synproxy->hook_registered ? 1 : 0);
  const synproxy_auto_state& a = g_gw->synproxy->auto_mode;
  const char* mode = a.configured ? (a.on.load() ? "auto: cookies on" : "auto: standby")
                                  : (g_gw->synproxy->hook_registered ? "ruleset" : "off");
  rte_tel_data_add_dict_string(d, "mode", mode);
  rte_tel_data_add_dict_u64(d, "auto_switches_on", a.switches_on.load());
  rte_tel_data_add_dict_u64(d, "auto_switches_off", a.switches_off.load());
  return 0;
}

int cmd_info(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "config", g_gw->cfg.source_file.c_str());
  rte_tel_data_add_dict_u64(d, "workers", g_gw->workers.size());
  rte_tel_data_add_dict_u64(d, "ports", g_gw->ports.size());
  rte_tel_data_add_dict_u64(d, "uptime_ms", g_gw->clock.now_ms());
  rte_tel_data_add_dict_u64(d, "pid", static_cast<uint64_t>(getpid()));
  // ctgatectl capture asks first: a secondary process cannot attach without hugepages.
  rte_tel_data_add_dict_string(d, "capture",
                               g_gw->cfg.eal.no_huge ? "unavailable: eal.no_huge" : "available");
  // In use: in rings, held (reassembly, neighbour queues, fault injection)
  // or in flight; counted by the pool, so per-lcore caches count as in use.
  rte_tel_data_add_dict_u64(d, "mbufs_total", g_gw->mbuf_pool->size);
  rte_tel_data_add_dict_u64(d, "mbufs_in_use", rte_mempool_in_use_count(g_gw->mbuf_pool));
  rte_tel_data_add_dict_u64(d, "mbufs_held_by_fault_injection", g_held_mbufs.size());
  // The C++ heap's live bytes (every arena, mmapped blocks included): what a
  // leak grows. RSS also holds what the allocator keeps after frees.
  const struct mallinfo2 mi = mallinfo2();
  rte_tel_data_add_dict_u64(d, "heap_in_use_bytes", mi.uordblks + mi.hblkhd);
  return 0;
}

// --- fault injection (config `fault_injection`; tests only) -------------------------------

// /ctgate/fault/stall_worker,ID MS: worker ID stops polling for MS ms at the
// end of its current loop, before it reports quiescence.
int cmd_fault_stall(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  unsigned id = 0, ms = 0;
  if (params == nullptr || std::sscanf(params, "%u %u", &id, &ms) != 2 ||
      id >= g_gw->workers.size() || ms == 0 || ms > 60000) {
    rte_tel_data_add_dict_string(d, "error",
                                 "usage: /ctgate/fault/stall_worker,WORKER MS (1..60000)");
    return 0;
  }
  g_gw->workers[id]->fault_stall_ms.store(ms, std::memory_order_relaxed);
  rte_tel_data_add_dict_u64(d, "stalling_ms", ms);
  return 0;
}

// /ctgate/fault/hold_mbufs,N: takes up to N mbufs out of the pool and holds
// them (an exhausted pool, as a leak or a slow consumer would leave it);
// /ctgate/fault/release_mbufs gives them all back.
int cmd_fault_mbufs(const char* cmd, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  if (std::string(cmd) == "/ctgate/fault/release_mbufs") {
    rte_tel_data_add_dict_u64(d, "released", g_held_mbufs.size());
    for (rte_mbuf* m : g_held_mbufs) rte_pktmbuf_free(m);
    g_held_mbufs.clear();
    return 0;
  }
  unsigned long n = params != nullptr ? std::strtoul(params, nullptr, 10) : 0;
  n = std::min<unsigned long>(n, g_gw->mbuf_pool->size);
  // Each worker empties its own lcore cache (only it can), then this thread
  // takes what is left in the pool's ring. What other lcores' caches keep
  // (the main lcore's, from port setup) stays out of the workers' reach.
  uint64_t by_workers = 0;
  for (worker_ctx* w : g_gw->workers) {
    if (!w->running.load(std::memory_order_acquire)) continue;
    std::vector<rte_mbuf*> slots(n);
    fault_hold_request req;
    req.slots = slots.data();
    req.want = static_cast<uint32_t>(n);
    w->fault_hold.store(&req, std::memory_order_release);
    for (int i = 0; i < 2000 && !req.done.load(std::memory_order_acquire); i++) usleep(1000);
    if (!req.done.load(std::memory_order_acquire)) {
      // Not taken within 2 s: take the request back, or wait for the worker
      // that has just taken it (it finishes in microseconds).
      fault_hold_request* expected = &req;
      if (!w->fault_hold.compare_exchange_strong(expected, nullptr))
        while (!req.done.load(std::memory_order_acquire)) usleep(1000);
    }
    g_held_mbufs.insert(g_held_mbufs.end(), slots.begin(), slots.begin() + req.got);
    by_workers += req.got;
    n -= req.got;
  }
  rte_tel_data_add_dict_u64(d, "held_by_workers", by_workers);
  while (n-- > 0) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_gw->mbuf_pool);
    if (m == nullptr) break;
    g_held_mbufs.push_back(m);
  }
  rte_tel_data_add_dict_u64(d, "held", g_held_mbufs.size());
  return 0;
}

const telemetry_command k_fault_commands[] = {
    {"/ctgate/fault/stall_worker", cmd_fault_stall,
     "Fault injection: worker WORKER stops polling for MS ms. Params: WORKER MS"},
    {"/ctgate/fault/hold_mbufs", cmd_fault_mbufs,
     "Fault injection: take up to N mbufs out of the pool. Param: N"},
    {"/ctgate/fault/release_mbufs", cmd_fault_mbufs, "Fault injection: give held mbufs back"},
};

// Commands that build large text (a listing of the whole table is about
// 300 bytes an entry, twice over while it is formatted) or a whole ruleset:
// afterwards the heap is handed back to the system. glibc keeps freed
// memory in its arenas otherwise, and the daemon would sit on the largest
// listing it ever made (tens of MiB at 100k entries, found by the soak).
template <int (*Handler)(const char*, const char*, rte_tel_data*)>
int then_trim(const char* cmd, const char* params, rte_tel_data* d) {
  const int rc = Handler(cmd, params, d);
  malloc_trim(0);
  return rc;
}

const telemetry_command k_commands[] = {
    {"/ctgate/info", cmd_info, "Gateway summary. No parameters"},
    {"/ctgate/ports", cmd_ports, "Per-port packet counts. No parameters"},
    {"/ctgate/neigh", then_trim<cmd_neigh>,
     "Neighbour table (ARP and IPv6 ND), as ip neigh. No parameters"},
    {"/ctgate/workers", cmd_workers, "Per-worker counters. No parameters"},
    {"/ctgate/neigh/change", cmd_neigh_change,
     "Change the neighbours live. Param: add|replace|del ADDRESS [lladdr MAC] [dev PORT]"},
    {"/ctgate/route/list", cmd_route_list,
     "Routes, as ip route. Param: 6 for IPv6's (ip -6 route); none for IPv4's"},
    {"/ctgate/route/change", cmd_route_change,
     "Change the routes live. Param: add|replace|del PREFIX [via ADDRESS] [dev PORT]"},
    {"/ctgate/fdb", then_trim<cmd_fdb>, "Bridges' forwarding databases, as bridge fdb show"},
    {"/ctgate/bridge/vlan", cmd_bridge_vlan, "Bridge members' VLANs, as bridge vlan show"},
    {"/ctgate/drops", cmd_drops, "Drop counters by reason. No parameters"},
    {"/ctgate/counters", cmd_counters, "All data-plane counters summed"},
    {"/ctgate/hooks", cmd_hooks,
     "Callbacks per hook: HOOK PRIORITY NAME PACKETS DROPS. Param: ipv4 (default) or ipv6"},
    {"/ctgate/conntrack/stats", cmd_ct_stats, "conntrack -S"},
    {"/ctgate/conntrack/count", cmd_ct_count, "conntrack -C"},
    {"/ctgate/conntrack/list", then_trim<cmd_ct_list>,
     "conntrack -L. Params: filters like 'proto=tcp dport=80'"},
    {"/ctgate/conntrack/events", cmd_ct_events,
     "conntrack -E. Params: cursor=N|start [events=NEW,UPDATE,DESTROY] [output=json] [filters]"},
    {"/ctgate/conntrack/unconfirmed", cmd_ct_unconfirmed, "Unconfirmed entries per worker"},
    {"/ctgate/conntrack/delete", cmd_ct_delete, "conntrack -D. Params: filters"},
    {"/ctgate/conntrack/flush", cmd_ct_delete, "conntrack -F"},
    {"/ctgate/conntrack/enable_hooks", cmd_ct_enable,
     "Register conntrack's hooks now (Linux's enable_hooks)"},
    {"/ctgate/ruleset/load", then_trim<cmd_ruleset_load>,
     "Apply an nft file to the ruleset atomically, as nft -f. Param: path"},
    {"/ctgate/reload", then_trim<cmd_reload>,
     "Reread the config file, as SIGHUP: ruleset, routes, neighbours, timeouts, metrics. No "
     "parameters"},
    {"/ctgate/nft", then_trim<cmd_nft>,
     "Apply nft commands atomically, as nft 'CMD'. Param: commands"},
    {"/ctgate/trace/start", then_trim<cmd_trace>,
     "Trace packets matching an nft expression. Param: expression"},
    {"/ctgate/trace/read", then_trim<cmd_trace>, "Trace lines since the last read"},
    {"/ctgate/trace/stop", then_trim<cmd_trace>, "Stop tracing"},
    {"/ctgate/synproxy/stats", cmd_synproxy,
     "Synproxy: cookies sent/valid/invalid, handshakes, mode"},
    {"/ctgate/ruleset/limits", then_trim<cmd_ruleset_list>,
     "Per-rule limit/meter counters: packets within and over the rate"},
    {"/ctgate/ruleset/reset", then_trim<cmd_ruleset_reset>,
     "Zero named counters or quotas, as nft reset. Param: counter|quota[,FAMILY,TABLE[,NAME]]"},
    {"/ctgate/ruleset/list", then_trim<cmd_ruleset_list>,
     "The live ruleset with counters, like nft list ruleset. Param: handles (nft -a)"},
};

}  // namespace

std::span<const telemetry_command> telemetry_commands() { return k_commands; }

void telemetry_attach(gateway* gw) { g_gw = gw; }

void telemetry_register(gateway* gw) {
  telemetry_attach(gw);
  for (const telemetry_command& c : k_commands)
    rte_telemetry_register_cmd(c.name, c.handler, c.help);
  if (gw->cfg.fault_injection) {
    for (const telemetry_command& c : k_fault_commands)
      rte_telemetry_register_cmd(c.name, c.handler, c.help);
    LOG(WARNING) << "fault injection on: /ctgate/fault/ commands can stall workers and empty "
                    "the mbuf pool (config fault_injection; tests only)";
  }
}

void telemetry_set_reply_dir(const std::string& dir) { g_reply_dir = dir; }

std::string stats_summary(const gateway& gw) {
  std::ostringstream o;
  o << "rx=" << dp_total(gw, dp_counter::rx) << " tx=" << dp_total(gw, dp_counter::tx)
    << " forwarded=" << dp_total(gw, dp_counter::forwarded)
    << " local_in=" << dp_total(gw, dp_counter::local_in);
  uint64_t drops = 0;
  for (size_t i = 0; i < dp_counter_count; i++)
    if (std::string(dp_counter_names[i]).rfind("drop_", 0) == 0)
      drops += dp_total(gw, static_cast<dp_counter>(i));
  o << " dropped=" << drops << " ct_count=" << gw.ct.table->count()
    << " ct_insert=" << ct_total(gw, ct::ct_counter::insert)
    << " ct_drop=" << ct_total(gw, ct::ct_counter::drop);
  // Switching, once a bridge switched anything.
  const uint64_t bridged = dp_total(gw, dp_counter::bridged);
  const uint64_t flooded = dp_total(gw, dp_counter::bridge_flooded);
  if (bridged != 0 || flooded != 0) {
    uint64_t entries = 0;
    for (const bridge_info& br : gw.bridges) entries += br.table->count();
    o << " bridged=" << bridged << " bridge_flooded=" << flooded
      << " fdb_learned=" << dp_total(gw, dp_counter::fdb_learned) << " fdb_entries=" << entries;
  }
  // Fragments change packet counts: n in, one datagram on; one out, n sent.
  // Printed once there were any, with what is held now and the mbufs out of
  // the pool (held fragments, plus any a device's rings hold).
  const uint64_t reasm = dp_total(gw, dp_counter::reasm_reqds);
  const uint64_t frags = dp_total(gw, dp_counter::frag_oks);
  if (reasm != 0 || frags != 0) {
    uint64_t held = 0, mem = 0;
    for (const auto* w : gw.workers) {
      held += w->defrag->held_frags + w->defrag6->held_frags;
      mem += w->defrag->mem + w->defrag6->mem;
    }
    o << " reasm_reqds=" << reasm << " reasm_oks=" << dp_total(gw, dp_counter::reasm_oks)
      << " reasm_frags=" << dp_total(gw, dp_counter::reasm_frags) << " frag_oks=" << frags
      << " frag_creates=" << dp_total(gw, dp_counter::frag_creates) << " ipfrag_held=" << held
      << " ipfrag_mem=" << mem << " mbufs_in_use=" << rte_mempool_in_use_count(gw.mbuf_pool);
  }
  return o.str();
}

}  // namespace ctgate
