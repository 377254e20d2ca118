// Ethdev setup: one RX and one TX queue per worker on every port, with a
// symmetric RSS key (rss.h) so both directions of a flow land on the same worker.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace ctgate {

struct gateway;

// The EAL arguments for the config's ports: --vdev for virtual devices,
// -a for PCI addresses.
std::vector<std::string> port_eal_args(const gateway_config& cfg);
// Finds, configures and starts every port; fills port_info. An error names
// the port and the config line that declares it.
result<void> ports_start(gateway& gw);
// Gives each bridge interface without a configured MAC the smallest of its bridge's members'
// MACs, as Linux's bridge takes its ports' lowest address (br_stp_recalculate_bridge_id). Run
// when the gateway is built and again once the devices have told their MACs.
void set_bridge_iface_macs(gateway& gw);
void ports_stop(gateway& gw);

// net_af_packet ports whose kernel interface was deleted, or deleted and
// created again: the PMD's socket stays bound to the old interface index, so
// such a port is detached (workers skip it; packets routed to it are counted
// as drop_port_detached) and, once an interface of that name exists again,
// closed, probed and started anew. Called by the control loop, never by a
// worker; returns one log line per change (empty if nothing changed).
std::vector<std::string> ports_watch(gateway& gw);

// Control thread, about once a second: the neighbour caches' garbage collection (Linux's
// neigh_periodic_work, with `arp:`'s gc_thresh1 and gc_stale_time_ms), both families.
// Waits for a workers' grace period when it removes anything. Returns how many it removed.
uint32_t neighbours_gc(gateway& gw, uint32_t now_ms);

// Control thread, about once a second: removes learned FDB entries not seen for their bridge's
// ageing_time_s (Linux's br_fdb_cleanup). Returns how many it removed.
uint32_t bridges_age(gateway& gw, uint32_t now_ms);

// The device name inside devargs ("net_tap0,iface=x" -> "net_tap0").
std::string devargs_name(const std::string& devargs);
bool devargs_is_vdev(const std::string& devargs);

}  // namespace ctgate
