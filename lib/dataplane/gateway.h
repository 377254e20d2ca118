// The gateway runtime: ports, pools, tables, hooks and workers. Workers read
// it; only the control plane writes it, through snapshots (hooks) or
// atomics. The control plane builds and destroys it (control/gateway.h).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bridge/fdb.h"
#include "common/clock.h"
#include "common/log_ratelimit.h"
#include "common/thread_annotations.h"
#include "config/config.h"
#include "conntrack/conntrack.h"
#include "conntrack/ct_event.h"
#include "dataplane/worker.h"
#include "hook/hook_registry.h"
#include "route/neighbor_table.h"
#include "route/route6_table.h"
#include "route/route_table.h"

struct rte_mempool;
struct rte_rcu_qsbr;

namespace ctgate {

struct loaded_ruleset;  // control/ruleset_runtime.h
struct synproxy_state;  // synproxy/synproxy.h

struct port_info {
  std::string name;
  uint16_t port_id = 0;  // ethdev id; meaningless when attached == false
  // false in in-process tests (tx goes to the sink), and while a port whose
  // interface went away waits for it (control/ports.h). Workers read it with
  // acquire (is_attached) before port_id; the control plane stores it with
  // release after port_id, and waits for a grace period after clearing it.
  bool attached = false;
  unsigned ifindex = 0;  // net_af_packet: the kernel interface the PMD bound to
  uint32_t addr = 0;     // host order
  uint8_t prefix_len = 0;
  // IPv6: the configured address (if has_addr6) and the EUI-64 link-local address, derived
  // from `mac` whenever it is set (set_port_mac).
  bool has_addr6 = false;
  uint8_t prefix6_len = 0;
  ipv6_addr addr6;
  ipv6_addr link_local;
  mac_addr mac;
  // Whether unicast frames to another MAC are dropped (Linux's
  // PACKET_OTHERHOST): set once the port has a MAC, from the device or from
  // config. In-process test ports without a configured MAC accept any.
  bool filter_mac = false;
  uint16_t mtu = 1500;
  uint16_t zone = 0;             // conntrack zone of what it receives (config ports[].zone)
  std::vector<uint8_t> rss_key;  // the device's configuration points here (control/rss.h)
  // A bridge member (bridge >= 0, an index in gateway::bridges): its frames are switched
  // (stage_bridge). It carries the VLANs of gateway::port_vlans[its index]; untagged frames
  // belong to `pvid` (0: none), and frames of the PVID leave untagged. (The VLAN set lives
  // apart: 512 bytes here would widen the stride of every stage's port lookup.)
  int8_t bridge = -1;
  uint16_t pvid = 0;
  // A VLAN subinterface (vlan != 0) has no device: it receives what its `parent` receives
  // tagged `vlan` (stage_vlan), and what it sends leaves by the parent, tagged (stage_tx). The
  // parent has `has_vlans`, its subinterfaces listed in gateway::vlan_subifs[its index].
  uint16_t vlan = 0;
  uint16_t parent = 0;
  bool has_vlans = false;
  // A bridge's interface (iface_of >= 0, an index in gateway::bridges) has no device either: it
  // receives what the bridge switches to its MAC in VLAN `vlan` (stage_bridge hands it on), and
  // what it sends is switched by the bridge in `vlan` (bridge_output). parent is unused.
  int8_t iface_of = -1;
};

// A port's VLAN subinterface: the VID it takes and its port index.
struct vlan_subif {
  uint16_t vid;
  uint16_t port;
};

// The VLANs a bridge member carries, one bit per VID.
struct vlan_set {
  std::array<uint64_t, 64> bits{};
  bool has(uint16_t vid) const { return (bits[vid >> 6] >> (vid & 63)) & 1; }
  void add(uint16_t vid) { bits[vid >> 6] |= uint64_t{1} << (vid & 63); }
};

// A bridge: its member ports and its FDB. Fixed once the gateway is built; the FDB's entries
// change under workers and the control thread (bridge/fdb.h).
struct bridge_info {
  std::string name;
  std::vector<uint16_t> members;   // port indexes, in config order
  std::vector<vlan_subif> ifaces;  // its interfaces: each one's VLAN and port index
  // The interface named as the bridge (Linux's br0 itself, which takes its VLAN untagged), or
  // k_max_ports; the others are a VLAN's (br0.10), which take it tagged.
  uint16_t self_iface = k_max_ports;
  uint32_t ageing_s = 300;
  std::unique_ptr<fdb> table;
};

// Sets a port's MAC and the link-local address that follows from it.
inline void set_port_mac(port_info& p, const uint8_t mac[6]) {
  std::copy(mac, mac + 6, p.mac.b);
  p.link_local = ipv6_link_local_from_mac(mac);
}

inline bool is_attached(const port_info& p) {
  return std::atomic_ref<const bool>(p.attached).load(std::memory_order_acquire);
}

struct gateway {
  gateway_config cfg;
  std::string name;  // unique prefix for DPDK object names
  std::vector<port_info> ports;
  std::vector<bridge_info> bridges;
  std::vector<vlan_set> port_vlans;  // by port index: what each bridge member carries
  std::vector<std::vector<vlan_subif>> vlan_subifs;  // by port index: its VLAN subinterfaces
  rte_mempool* mbuf_pool = nullptr;
  rte_mempool* reasm_pool = nullptr;  // 64 KiB buffers for reassembled datagrams
  rte_rcu_qsbr* qs = nullptr;
  // The IPv4 routes. Workers look up; control/routes.cpp changes routes in place, one at a
  // time, under routes_mu (which also guards the table's list of entries).
  std::unique_ptr<route_table> routes;
  mutex routes_mu;
  std::vector<route_config> static_routes CTGATE_GUARDED_BY(routes_mu);  // the config's, then live
  std::unique_ptr<neighbor_table> neighbors;
  std::unique_ptr<route6_table> routes6;
  std::unique_ptr<neighbor6_table> neighbors6;
  std::unique_ptr<hook_registry> hooks;
  ct::ct_runtime ct;
  ct::ct_event_log ct_events;  // conntrack -E (conntrack/ct_event.h)
  log_mailbox mailbox;
  std::vector<worker_ctx*> workers;
  ms_clock clock;
  std::atomic<bool> stop{false};
  std::atomic<uint8_t> ct_hooks_registered{0};  // HOOK_FAM_* bits: the families tracked
  icmp_global_bucket icmp_global;               // icmp.msgs_per_sec / msgs_burst, all workers
  // The live nftables ruleset (control/ruleset_runtime.h). Workers never
  // read these: they reach the compiled chains through the hook snapshot.
  mutex ruleset_mu;
  std::unique_ptr<loaded_ruleset> ruleset CTGATE_GUARDED_BY(ruleset_mu);
  uint32_t next_ruleset_group CTGATE_GUARDED_BY(ruleset_mu) = 1;
  // Tracing: the optional trace selector chain (ctgatectl trace EXPR) and a
  // flag workers check once per hook before looking for traced packets.
  std::unique_ptr<loaded_ruleset> trace_ruleset CTGATE_GUARDED_BY(ruleset_mu);
  // The ruleset's `ct timeout` policies: their slots, and the snapshot conntrack reads
  // (ct.policies points at it; conntrack/ct_timeout.h).
  ct::ct_timeout_registry ct_timeout_slots CTGATE_GUARDED_BY(ruleset_mu);
  std::unique_ptr<ct::ct_timeout_policies> ct_timeout_policies CTGATE_GUARDED_BY(ruleset_mu);
  // Synproxy's state (cookie keys, automatic defence, finished filter),
  // opaque here: the module sits above the data plane.
  std::unique_ptr<synproxy_state> synproxy;
  std::atomic<bool> tracing{false};

  // Defined with gateway_create (control/gateway.cpp), where the control
  // plane's parts (loaded_ruleset) are complete types.
  ~gateway();

  // Worker index for the current thread's view (tests drive worker 0).
  worker_ctx& worker(uint16_t i) { return *workers[i]; }
  // Index in ports of an attached ethdev port, or -1.
  int port_by_id(uint16_t port_id) const {
    for (size_t i = 0; i < ports.size(); i++)
      if (ports[i].attached && ports[i].port_id == port_id) return static_cast<int>(i);
    return -1;
  }
};

}  // namespace ctgate
