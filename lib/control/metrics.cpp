#include "control/metrics.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>
#include <utility>

#include <glog/logging.h>

#include "conntrack/conntrack.h"
#include "control/gateway.h"
#include "control/routes.h"
#include "control/ruleset_runtime.h"
#include "dataplane/defrag.h"
#include "ruleset/fields.h"
#include "synproxy/synproxy.h"

namespace ctgate {

namespace {

using label = std::pair<std::string_view, std::string_view>;

// Prometheus's text format, version 0.0.4: each family's HELP and TYPE once, then its samples
// together. Label values escape backslash, double quote and newline; HELP text backslash and
// newline.
class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    for (char c : help) text_ += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
  }
  void sample(std::span<const label> labels, uint64_t v) {
    start_sample(labels);
    text_ += std::to_string(v);
    text_ += '\n';
  }
  void sample(std::initializer_list<label> labels, uint64_t v) {
    sample(std::span<const label>(labels.begin(), labels.size()), v);
  }
  void sample_seconds(std::initializer_list<label> labels, uint64_t ms) {
    start_sample(std::span<const label>(labels.begin(), labels.size()));
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ms) / 1000.0);
    text_ += buf;
    text_ += '\n';
  }
  std::string take() { return std::move(text_); }

 private:
  void start_sample(std::span<const label> labels) {
    text_ += name_;
    if (!labels.empty()) {
      text_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) text_ += ',';
        first = false;
        text_ += k;
        text_ += "=\"";
        for (char c : v)
          text_ += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : std::string(1, c);
        text_ += '"';
      }
      text_ += '}';
    }
    text_ += ' ';
  }
  std::string name_;
  std::string text_;
};

// A counter block's names as ctgatectl stats prints them: `new_` (a C++ keyword dodged) is new.
std::string counter_name(const char* name) {
  std::string s = name;
  if (s.back() == '_') s.pop_back();
  return s;
}

// One family per counter of a block, one sample per worker: ctgate_PREFIX_NAME_total{worker}.
// Counters whose name starts with `skip_prefix` (drops, given by reason elsewhere) are left out.
template <typename Slots>
void per_worker_counters(exposition& ex, gateway& gw, std::string_view prefix,
                         const char* const* names, const char* const* descs, size_t n, Slots slots,
                         std::string_view skip_prefix = {}) {
  for (size_t i = 0; i < n; i++) {
    const std::string name = counter_name(names[i]);
    if (!skip_prefix.empty() && name.starts_with(skip_prefix)) continue;
    ex.family(std::string(prefix) + name + "_total", "counter", descs[i]);
    for (worker_ctx* w : gw.workers)
      ex.sample({{"worker", std::to_string(w->id)}}, slots(*w)[i].get());
  }
}

void port_metrics(exposition& ex, gateway& gw) {
  ex.family("ctgate_port_info", "gauge",
            "1 per port: its device, address or bridge, VLAN and MAC (ctgatectl stats ports)");
  for (const port_info& pi : gw.ports) {
    char dev[RTE_ETH_NAME_MAX_LEN] = "";
    if (pi.attached && pi.vlan == 0) rte_eth_dev_get_name_by_port(pi.port_id, dev);
    const std::string addr =
        pi.bridge >= 0 ? "" : format_ipv4(pi.addr) + "/" + std::to_string(pi.prefix_len);
    const std::string bridge = pi.bridge >= 0 ? gw.bridges[size_t(pi.bridge)].name : "";
    const std::string vlan = pi.vlan != 0 ? std::to_string(pi.vlan) : "";
    ex.sample({{"port", pi.name},
               {"ethdev", dev},
               {"address", addr},
               {"bridge", bridge},
               {"vlan", vlan},
               {"mac", format_mac(pi.mac.b)}},
              1);
  }
  // Counted by the workers: what ctgate took from and gave to each port (a VLAN subinterface's
  // frames on the subinterface, not its parent).
  auto per_port = [&](const char* name, const char* help, auto get) {
    ex.family(name, "counter", help);
    for (size_t p = 0; p < gw.ports.size(); p++) {
      uint64_t v = 0;
      for (worker_ctx* w : gw.workers) v += get(*w, p);
      ex.sample({{"port", gw.ports[p].name}}, v);
    }
  };
  per_port("ctgate_port_rx_packets_total", "Packets the workers received on the port",
           [](worker_ctx& w, size_t p) { return w.port_rx[p].get(); });
  per_port("ctgate_port_tx_packets_total", "Packets the workers handed to the port's TX queues",
           [](worker_ctx& w, size_t p) { return w.port_tx[p].get(); });
  // The device's own counters (rte_eth_stats), for ports with a device of their own.
  struct device_counter {
    const char* name;
    const char* help;
    uint64_t rte_eth_stats::*field;
  };
  static constexpr device_counter k_device[] = {
      {"ctgate_port_device_rx_packets_total", "Packets the device received",
       &rte_eth_stats::ipackets},
      {"ctgate_port_device_tx_packets_total", "Packets the device sent", &rte_eth_stats::opackets},
      {"ctgate_port_device_rx_bytes_total", "Bytes the device received", &rte_eth_stats::ibytes},
      {"ctgate_port_device_tx_bytes_total", "Bytes the device sent", &rte_eth_stats::obytes},
      {"ctgate_port_device_rx_missed_total",
       "Packets the device dropped: its RX queues were full (imissed)", &rte_eth_stats::imissed},
      {"ctgate_port_device_rx_errors_total", "Erroneous packets the device received",
       &rte_eth_stats::ierrors},
      {"ctgate_port_device_tx_errors_total", "Packets the device failed to send",
       &rte_eth_stats::oerrors},
      {"ctgate_port_device_rx_nombuf_total", "RX mbuf allocation failures",
       &rte_eth_stats::rx_nombuf},
  };
  std::vector<std::pair<size_t, rte_eth_stats>> stats;
  for (size_t p = 0; p < gw.ports.size(); p++) {
    const port_info& pi = gw.ports[p];
    rte_eth_stats st{};
    if (pi.attached && pi.vlan == 0 && rte_eth_stats_get(pi.port_id, &st) == 0)
      stats.emplace_back(p, st);
  }
  for (const device_counter& dc : k_device) {
    ex.family(dc.name, "counter", dc.help);
    for (const auto& [p, st] : stats) ex.sample({{"port", gw.ports[p].name}}, st.*dc.field);
  }
}

void worker_metrics(exposition& ex, gateway& gw) {
  per_worker_counters(
      ex, gw, "ctgate_dataplane_", dp_counter_names, dp_counter_descs, dp_counter_count,
      [](const worker_ctx& w) { return w.counters.c; }, "drop_");
  ex.family("ctgate_dataplane_drops_total", "counter",
            "Packets dropped, by reason (ctgatectl stats drops; docs/cli.md lists the reasons)");
  for (worker_ctx* w : gw.workers) {
    const std::string id = std::to_string(w->id);
    for (size_t i = 0; i < dp_counter_count; i++) {
      const std::string_view name = dp_counter_names[i];
      if (name.starts_with("drop_"))
        ex.sample({{"worker", id}, {"reason", name.substr(5)}}, w->counters.c[i].get());
    }
    ex.sample({{"worker", id}, {"reason", "conntrack_table_full"}},
              w->ct.counters.get(ct::ct_counter::drop));
    ex.sample({{"worker", id}, {"reason", "conntrack_insert_failed"}},
              w->ct.counters.get(ct::ct_counter::insert_failed));
  }
  ex.family("ctgate_worker_running", "gauge", "1 while the worker's loop runs");
  for (worker_ctx* w : gw.workers)
    ex.sample({{"worker", std::to_string(w->id)}}, w->running.load() ? 1 : 0);
  ex.family("ctgate_worker_loops_total", "counter", "Passes of the worker's poll loop");
  for (worker_ctx* w : gw.workers)
    ex.sample({{"worker", std::to_string(w->id)}}, w->loops.load(std::memory_order_relaxed));
  ex.family("ctgate_worker_loop_gap_max_seconds", "gauge",
            "Longest time between two passes of the worker's loop since it started");
  for (worker_ctx* w : gw.workers)
    ex.sample_seconds({{"worker", std::to_string(w->id)}},
                      w->loop_gap_max_ns.load(std::memory_order_relaxed) / 1000000);
  ex.family("ctgate_ipfrag_held_fragments", "gauge",
            "Fragments the worker holds for reassembly, IPv4 and IPv6");
  for (worker_ctx* w : gw.workers)
    ex.sample({{"worker", std::to_string(w->id)}}, w->defrag->held_frags + w->defrag6->held_frags);
  ex.family("ctgate_ipfrag_memory_bytes", "gauge",
            "Memory the worker's held fragments take (ipfrag.high_thresh bounds it)");
  for (worker_ctx* w : gw.workers)
    ex.sample({{"worker", std::to_string(w->id)}}, w->defrag->mem + w->defrag6->mem);
}

void conntrack_metrics(exposition& ex, gateway& gw) {
  ex.family("ctgate_conntrack_entries", "gauge", "Entries in the table (conntrack -C)");
  ex.sample({}, static_cast<uint64_t>(gw.ct.table->count()));
  ex.family("ctgate_conntrack_max", "gauge", "Entries the table holds at most (conntrack.max)");
  ex.sample({}, gw.ct.table->max());
  // node_exporter's names for conntrack -S (node_nf_conntrack_stat_*), as counters.
  per_worker_counters(ex, gw, "ctgate_conntrack_stat_", ct::ct_counter_names, ct::ct_counter_descs,
                      ct::ct_counter_count, [](const worker_ctx& w) { return w.ct.counters.c; });
  ex.family("ctgate_conntrack_unconfirmed", "gauge",
            "Entries created for packets still on their way through the hooks");
  for (worker_ctx* w : gw.workers)
    ex.sample({{"worker", std::to_string(w->id)}}, w->ct.n_unconfirmed);
  ex.family("ctgate_conntrack_table_full_events_total", "counter",
            "Times a new flow found the table full (logged at a limited rate)");
  ex.sample({}, gw.ct.full_events.load());
  ex.family("ctgate_conntrack_hooks_registered", "gauge",
            "1 while conntrack tracks the family (registered lazily, as Linux)");
  const uint8_t fams = gw.ct_hooks_registered.load();
  ex.sample({{"family", "ipv4"}}, (fams & HOOK_FAM_IPV4) ? 1 : 0);
  ex.sample({{"family", "ipv6"}}, (fams & HOOK_FAM_IPV6) ? 1 : 0);
  ex.sample({{"family", "bridge"}}, (fams & HOOK_FAM_BRIDGE) ? 1 : 0);
}

void synproxy_metrics(exposition& ex, gateway& gw) {
  per_worker_counters(ex, gw, "ctgate_synproxy_", synproxy_counter_names, synproxy_counter_descs,
                      synproxy_counter_count,
                      [](const worker_ctx& w) { return w.synproxy->counters.c; });
  const synproxy_auto_state& a = gw.synproxy->auto_mode;
  ex.family("ctgate_synproxy_auto_on", "gauge",
            "1 while the automatic SYN-flood defence answers SYNs with cookies");
  ex.sample({}, a.configured && a.on.load() ? 1 : 0);
  ex.family("ctgate_synproxy_auto_switches_total", "counter",
            "Times the automatic defence switched cookies on or off");
  ex.sample({{"to", "on"}}, a.switches_on.load());
  ex.sample({{"to", "off"}}, a.switches_off.load());
}

void hook_metrics(exposition& ex, gateway& gw) {
  const auto hooks = gw.hooks->list();
  auto per_hook = [&](const char* name, const char* help, bool drops) {
    ex.family(name, "counter", help);
    for (const auto& e : hooks) {
      uint64_t v = 0;
      for (worker_ctx* w : gw.workers) v += (drops ? w->hook_drops : w->hook_pkts)[e.id].get();
      ex.sample({{"hook", hook_point_name(e.hp)},
                 {"priority", std::to_string(e.priority)},
                 {"callback", e.name}},
                v);
    }
  };
  per_hook("ctgate_hook_packets_total", "Packets each hook callback saw (ctgatectl hooks)", false);
  per_hook("ctgate_hook_drops_total", "Packets each hook callback dropped", true);
}

// The live ruleset's counters, named objects and limits, under the ruleset's lock (the
// control plane's: a load waits for the scrape, a worker never does).
void ruleset_metrics(exposition& ex, gateway& gw) {
  lock_guard lock(gw.ruleset_mu);
  const nft::compiled_ruleset* rs = gw.ruleset ? gw.ruleset->rs.get() : nullptr;
  ex.family("ctgate_ruleset_rules", "gauge", "Rules in the live ruleset");
  ex.sample({}, rs != nullptr ? rs->rules.size() : 0);
  if (rs == nullptr) return;
  const auto& tables = rs->ast.tables;
  // A rule by family, table, chain and handle (nft -a list ruleset), a named object by family,
  // table and name.
  auto for_rules = [&](const std::vector<nft::crule>& where, bool objects, auto emit) {
    for (uint32_t i = 0; i < where.size(); i++) {
      const nft::crule& cr = where[i];
      if ((cr.chain == nft::k_none) != objects) continue;
      const nft::table& t = tables[cr.table];
      std::vector<label> l{{"family", nft::detail::family_name(t.fam)}, {"table", t.name}};
      std::string handle;
      if (objects) {
        l.emplace_back("name", t.objects[cr.index].name);
      } else {
        const nft::chain& c = t.chains[cr.chain];
        handle = std::to_string(c.rules[cr.index].handle);
        l.emplace_back("chain", c.name);
        l.emplace_back("handle", handle);
      }
      emit(i, l);
    }
  };
  using labels = std::vector<label>;
  auto counters = [&](const char* name, const char* help, bool objects, bool bytes) {
    ex.family(name, "counter", help);
    for_rules(rs->counter_rule, objects, [&](uint32_t i, const labels& l) {
      const nft::counter_value v = rs->counter_total(i);
      ex.sample(l, bytes ? v.bytes : v.packets);
    });
  };
  counters("ctgate_rule_packets_total", "Packets a rule's counter statement counted", false, false);
  counters("ctgate_rule_bytes_total", "Bytes a rule's counter statement counted", false, true);
  counters("ctgate_counter_packets_total",
           "Packets a named counter counted (nft list counters; nft reset zeroes it)", true, false);
  counters("ctgate_counter_bytes_total", "Bytes a named counter counted", true, true);
  ex.family("ctgate_quota_used_bytes", "gauge", "Bytes a named quota has used");
  for_rules(rs->quota_rule, true, [&](uint32_t i, const labels& l) {
    ex.sample(l, rs->quotas[i].consumed.load(std::memory_order_relaxed));
  });
  // Limits: packets within and over the rate, per limit statement (a rule's or a named one).
  const size_t n_limits = rs->limit_rule.size();
  auto limits = [&](const char* name, const char* help, bool objects) {
    ex.family(name, "counter", help);
    for (const bool over : {false, true})
      for_rules(rs->limit_rule, objects, [&](uint32_t i, const labels& l) {
        uint64_t v = 0;
        for (uint16_t wk = 0; wk < rs->n_workers; wk++) {
          const auto& lc = rs->limit_counters[wk * n_limits + i];
          v += (over ? lc.over : lc.within).get();
        }
        labels with = l;
        with.emplace_back("result", over ? "over" : "within");
        ex.sample(with, v);
      });
  };
  limits("ctgate_rule_limit_packets_total",
         "Packets a rule's limit statement let through (within) or not (over)", false);
  limits("ctgate_limit_packets_total",
         "Packets a named limit let through (within) or not (over), every rule naming it", true);
}

void table_metrics(exposition& ex, gateway& gw) {
  ex.family("ctgate_routes", "gauge", "Routes in force (ctgatectl route): connected and static");
  ex.sample({{"family", "ipv4"}}, route_count(gw, false));
  ex.sample({{"family", "ipv6"}}, route_count(gw, true));
  ex.family("ctgate_neighbours", "gauge", "Neighbour entries in use: resolved, resolving, failed");
  ex.sample({{"family", "ipv4"}}, gw.neighbors->in_use());
  ex.sample({{"family", "ipv6"}}, gw.neighbors6->in_use());
  ex.family("ctgate_neighbours_gc_removed_total", "counter",
            "Neighbour entries the garbage collector removed");
  ex.sample({{"family", "ipv4"}}, gw.neighbors->gc_removed());
  ex.sample({{"family", "ipv6"}}, gw.neighbors6->gc_removed());
  ex.family("ctgate_bridge_fdb_entries", "gauge", "MAC addresses in the bridge's FDB");
  for (const bridge_info& br : gw.bridges) ex.sample({{"bridge", br.name}}, br.table->count());
  ex.family("ctgate_bridge_fdb_max", "gauge", "MAC addresses the bridge's FDB holds at most");
  for (const bridge_info& br : gw.bridges)
    ex.sample({{"bridge", br.name}}, br.table->max_entries());
}

void process_metrics(exposition& ex, gateway& gw) {
  ex.family("ctgate_build_info", "gauge", "1, with the config file the gateway runs");
  ex.sample({{"config", gw.cfg.source_file}}, 1);
  ex.family("ctgate_uptime_seconds", "gauge", "Seconds since the gateway started");
  ex.sample_seconds({}, gw.clock.now_ms());
  ex.family("ctgate_workers", "gauge", "Worker lcores");
  ex.sample({}, gw.workers.size());
  ex.family("ctgate_mbufs", "gauge", "Packet buffers in the pool (mbufs)");
  ex.sample({}, gw.mbuf_pool->size);
  ex.family("ctgate_mbufs_in_use", "gauge",
            "Packet buffers in rings, queues, reassembly, flight (per-lcore caches count too)");
  ex.sample({}, rte_mempool_in_use_count(gw.mbuf_pool));
  const struct mallinfo2 mi = mallinfo2();
  ex.family("ctgate_heap_in_use_bytes", "gauge", "The C++ heap's live bytes (what a leak grows)");
  ex.sample({}, mi.uordblks + mi.hblkhd);
}

}  // namespace

std::string metrics_text(gateway& gw) {
  exposition ex;
  process_metrics(ex, gw);
  port_metrics(ex, gw);
  worker_metrics(ex, gw);
  conntrack_metrics(ex, gw);
  synproxy_metrics(ex, gw);
  hook_metrics(ex, gw);
  ruleset_metrics(ex, gw);
  table_metrics(ex, gw);
  return ex.take();
}

// --- the HTTP server ------------------------------------------------------------------------

namespace {

constexpr char k_content_type[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char k_index[] =
    "<html><head><title>ctgate</title></head><body><h1>ctgate</h1>"
    "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

MHD_Result reply(MHD_Connection* c, unsigned status, std::string_view body, const char* type,
                 const char* allow = nullptr) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (allow != nullptr) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  const MHD_Result q = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return q;
}

// One request: GET or HEAD of /metrics (or / for a link to it); a body is never read.
MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char*, const char*, size_t* upload_size, void**) {
  auto* server = static_cast<metrics_server*>(cls);
  if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    *upload_size = 0;
    return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n", "text/plain", "GET, HEAD");
  }
  if (std::strcmp(url, "/metrics") == 0) {
    const std::string text = metrics_text(server->gw());
    malloc_trim(0);  // a large ruleset's text, handed back (telemetry.cpp then_trim's reason)
    return reply(c, MHD_HTTP_OK, text, k_content_type);
  }
  if (std::strcmp(url, "/") == 0) return reply(c, MHD_HTTP_OK, k_index, "text/html");
  return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n", "text/plain");
}

void on_mhd_error(void*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  std::string line = buf;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  // libmicrohttpd 0.9.75 says this of its logger however the options are ordered; nothing
  // went to its own logger (stderr) before.
  if (line.starts_with("MHD_OPTION_EXTERNAL_LOGGER is not the first option")) return;
  LOG(WARNING) << "metrics: " << line;
}

}  // namespace

result<std::unique_ptr<metrics_server>> metrics_server::start(gateway& gw,
                                                              const metrics_config& mc) {
  auto fail = [&](const std::string& why) {
    return error{.file = gw.cfg.source_file,
                 .line = mc.line,
                 .key = "metrics.listen",
                 .message = "cannot serve metrics on " + mc.listen + ": " + why};
  };
  sockaddr_storage ss{};
  if (mc.ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(mc.port);
    if (inet_pton(AF_INET6, mc.host.c_str(), &a->sin6_addr) != 1) return fail("bad address");
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(mc.port);
    if (inet_pton(AF_INET, mc.host.c_str(), &a->sin_addr) != 1) return fail("bad address");
  }
  std::unique_ptr<metrics_server> s(new metrics_server(gw));
  // One thread of its own (MHD_USE_INTERNAL_POLLING_THREAD) answers scrapes in turn; a few
  // connections at once, each given 10 s: a stuck client cannot hold the server.
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (mc.ipv6) flags |= MHD_USE_IPv6;
  errno = 0;
  s->daemon_ =
      MHD_start_daemon(flags, mc.port, nullptr, nullptr, &on_request, s.get(), MHD_OPTION_SOCK_ADDR,
                       reinterpret_cast<sockaddr*>(&ss), MHD_OPTION_CONNECTION_LIMIT, 16u,
                       MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_EXTERNAL_LOGGER,
                       &on_mhd_error, nullptr, MHD_OPTION_END);
  if (s->daemon_ == nullptr)
    return fail(errno != 0 ? std::strerror(errno) : "libmicrohttpd could not start (see above)");
  const MHD_DaemonInfo* info = MHD_get_daemon_info(s->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  s->port_ = info != nullptr ? info->port : mc.port;
  return s;
}

metrics_server::~metrics_server() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace ctgate
