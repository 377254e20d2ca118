#include "control/ports.h"

#include <net/if.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <atomic>

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include <cstring>

#include <glog/logging.h>

#include "control/rss.h"
#include "dataplane/gateway.h"

namespace ctgate {

std::string devargs_name(const std::string& devargs) {
  return devargs.substr(0, devargs.find(','));
}

bool devargs_is_vdev(const std::string& devargs) { return devargs.rfind("net_", 0) == 0; }

std::vector<std::string> port_eal_args(const gateway_config& cfg) {
  std::vector<std::string> args;
  for (const auto& p : cfg.ports) {
    if (p.vlan != 0)
      continue;  // a VLAN subinterface rides its parent's device; a bridge
                 // interface has none
    args.push_back(devargs_is_vdev(p.devargs) ? "--vdev" : "-a");
    args.push_back(p.devargs);
  }
  return args;
}

namespace {

// One line per port at startup: the key and hash functions in force, read
// back from the device where it can tell, and a warning where flows may not
// be symmetric.
void log_rss(const std::string& port, uint16_t id, uint16_t queues, const rss_plan& plan) {
  if (!plan.warning.empty())
    LOG(WARNING) << "port " << port << ": RSS not symmetric: " << plan.warning;
  if (!plan.enabled) {
    if (queues > 1 && plan.warning.empty())
      LOG(WARNING) << "port " << port << ": no RSS across " << queues << " queues";
    return;
  }
  std::vector<uint8_t> key(plan.key.size() ? plan.key.size() : k_default_rss_key_len);
  rte_eth_rss_conf got{};
  got.rss_key = key.data();
  got.rss_key_len = static_cast<uint8_t>(key.size());
  if (rte_eth_dev_rss_hash_conf_get(id, &got) == 0 && got.rss_key_len != 0) {
    LOG(INFO) << "port " << port << ": RSS over " << queues << " queues, key "
              << int(got.rss_key_len) << " B " << rss_key_hex(key.data(), got.rss_key_len)
              << ", hash " << rss_hf_names(got.rss_hf);
  } else {
    LOG(INFO) << "port " << port << ": RSS over " << queues << " queues, key " << plan.key.size()
              << " B " << rss_key_hex(plan.key.data(), plan.key.size())
              << " (requested; the device cannot report it), hash " << rss_hf_names(plan.hf);
  }
}

// The value of `iface=` in net_af_packet devargs ("" otherwise).
std::string af_packet_iface(const std::string& devargs) {
  if (devargs.rfind("net_af_packet", 0) != 0) return "";
  const size_t at = devargs.find("iface=");
  if (at == std::string::npos) return "";
  const size_t end = devargs.find(',', at);
  return devargs.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
}

unsigned af_packet_ifindex(const std::string& devargs) {
  const std::string iface = af_packet_iface(devargs);
  return iface.empty() ? 0 : if_nametoindex(iface.c_str());
}

result<void> start_port(gateway& gw, size_t idx) {
  const port_config& pc = gw.cfg.ports[idx];
  port_info& pi = gw.ports[idx];
  auto fail = [&](const std::string& what, int rc) {
    return error{.file = gw.cfg.source_file,
                 .line = pc.line,
                 .message = "port '" + pc.name + "' (" + pc.devargs + "): " + what +
                            (rc != 0 ? std::string(": ") + rte_strerror(-rc) : "")};
  };
  uint16_t id = 0;
  if (rte_eth_dev_get_port_by_name(devargs_name(pc.devargs).c_str(), &id) != 0)
    return fail("device not found (check devargs and that the driver is available)", 0);
  pi.port_id = id;
  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(id, &info);
  if (rc != 0) return fail("dev_info_get", rc);
  uint16_t q = gw.cfg.workers;
  if (q > info.max_rx_queues || q > info.max_tx_queues)
    return fail("needs " + std::to_string(q) + " queue pairs (one per worker), device has " +
                    std::to_string(info.max_rx_queues) + "/" + std::to_string(info.max_tx_queues),
                0);
  rte_eth_conf conf{};
  rss_plan rss = plan_rss(info, q);
  // The port keeps the key: ethdev stores the pointer in its configuration,
  // and several PMDs read it again at every start.
  pi.rss_key = rss.key;
  if (rss.enabled) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = pi.rss_key.data();
    conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(pi.rss_key.size());
    conf.rx_adv_conf.rss_conf.rss_hf = rss.hf;
  }
  // Checksum verification on the NIC where it can: parse trusts the IPv4
  // verdict and conntrack (nf_conntrack_checksum) the L4 one, and fall back
  // to software for packets the NIC reports as unknown. In software the L4
  // check is the largest single cost conntrack adds to a small packet.
  constexpr uint64_t k_rx_cksum =
      RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  conf.rxmode.offloads |= info.rx_offload_capa & k_rx_cksum;
  rc = rte_eth_dev_configure(id, q, q, &conf);
  if (rc != 0 && rss.enabled) {
    // Some PMDs take no key at all. Hashing with the device's own key still
    // spreads the load; conntrack stays correct with split flows (one shared
    // table, owner-only timer work), it only costs cross-core traffic.
    conf.rx_adv_conf.rss_conf.rss_key = nullptr;
    conf.rx_adv_conf.rss_conf.rss_key_len = 0;
    rss.warning = std::string("the device refused the symmetric key (") + rte_strerror(-rc) +
                  "): hashing with its default key, so the two directions of a flow may reach "
                  "different workers";
    rc = rte_eth_dev_configure(id, q, q, &conf);
  }
  if (rc != 0) return fail("configure", rc);
  uint16_t rxd = pc.rx_desc, txd = pc.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd);
  int socket = rte_eth_dev_socket_id(id);
  for (uint16_t i = 0; i < q; i++) {
    if ((rc = rte_eth_rx_queue_setup(id, i, rxd, socket, nullptr, gw.mbuf_pool)) != 0)
      return fail("rx queue " + std::to_string(i), rc);
    if ((rc = rte_eth_tx_queue_setup(id, i, txd, socket, nullptr)) != 0)
      return fail("tx queue " + std::to_string(i), rc);
  }
  // MTU is best effort on virtual devices that do not implement it.
  rte_eth_dev_set_mtu(id, pc.mtu);
  // A device that cannot take the configured MAC (memif, pcap: "Operation
  // not supported") keeps it in software: the gateway answers ARP with it,
  // sends from it and accepts frames to it. Those devices do not filter by
  // MAC, so nothing is lost.
  bool software_mac = false;
  if (pc.mac) {
    rte_ether_addr a;
    parse_mac(*pc.mac, a.addr_bytes);
    if ((rc = rte_eth_dev_default_mac_addr_set(id, &a)) != 0) {
      if (rc != -ENOTSUP) return fail("set mac", rc);
      software_mac = true;
      LOG(WARNING) << gw.cfg.source_file << ":" << pc.line << ": port " << pc.name
                   << ": the device "
                   << "cannot take mac " << *pc.mac << " (" << rte_strerror(-rc)
                   << "); using it in software (ARP, source address, frames accepted)";
    }
  }
  if ((rc = rte_eth_dev_start(id)) != 0) return fail("start", rc);
  log_rss(pc.name, id, q, rss);
  if (pc.promiscuous) rte_eth_promiscuous_enable(id);
  if (!software_mac) {
    rte_ether_addr mac;
    rte_eth_macaddr_get(id, &mac);
    set_port_mac(pi, mac.addr_bytes);
  }
  pi.filter_mac = true;
  pi.ifindex = af_packet_ifindex(pc.devargs);
  // Its VLAN subinterfaces send from its MAC and take the frames it takes.
  for (const vlan_subif& s : gw.vlan_subifs[idx]) {
    set_port_mac(gw.ports[s.port], pi.mac.b);
    gw.ports[s.port].filter_mac = true;
  }
  // Last: workers see port_id and the queues before they see the port.
  std::atomic_ref<bool>(pi.attached).store(true, std::memory_order_release);
  return {};
}

// Workers stop using port `idx` (RX skipped, TX dropped as drop_port_detached)
// and, after a grace period, none is inside a burst that read it as attached.
void detach(gateway& gw, size_t idx) {
  std::atomic_ref<bool>(gw.ports[idx].attached).store(false, std::memory_order_release);
  rte_rcu_qsbr_synchronize(gw.qs, RTE_QSBR_THRID_INVALID);
}

// Closes the ethdev of a detached port and probes its vdev again.
result<void> reprobe(gateway& gw, size_t idx) {
  const port_config& pc = gw.cfg.ports[idx];
  const std::string name = devargs_name(pc.devargs);
  rte_eth_dev_stop(gw.ports[idx].port_id);
  rte_eth_dev_close(gw.ports[idx].port_id);
  rte_eal_hotplug_remove("vdev", name.c_str());
  const size_t comma = pc.devargs.find(',');
  const std::string args = comma == std::string::npos ? "" : pc.devargs.substr(comma + 1);
  if (int rc = rte_eal_hotplug_add("vdev", name.c_str(), args.c_str()); rc != 0)
    return error{.message = "probe " + name + ": " + rte_strerror(-rc)};
  result<void> started = start_port(gw, idx);
  if (started) set_bridge_iface_macs(gw);  // a member back with another MAC
  return started;
}

}  // namespace

void set_bridge_iface_macs(gateway& gw) {
  for (const bridge_info& br : gw.bridges) {
    const mac_addr* lowest = nullptr;
    for (uint16_t p : br.members) {
      const mac_addr& m = gw.ports[p].mac;
      if (std::all_of(m.b, m.b + 6, [](uint8_t b) { return b == 0; })) continue;
      if (lowest == nullptr || std::lexicographical_compare(m.b, m.b + 6, lowest->b, lowest->b + 6))
        lowest = &m;
    }
    for (const vlan_subif& itf : br.ifaces) {
      port_info& pi = gw.ports[itf.port];
      if (gw.cfg.ports[itf.port].mac || lowest == nullptr) continue;
      set_port_mac(pi, lowest->b);
      pi.filter_mac = true;
    }
  }
}

result<void> ports_start(gateway& gw) {
  if (gw.ports.size() > k_max_ports) {
    return error{.message = "too many ports (max " + std::to_string(k_max_ports) + ")"};
  }
  for (size_t i = 0; i < gw.ports.size(); i++) {
    // A VLAN subinterface starts with its parent; a bridge interface has no device.
    if (gw.ports[i].vlan != 0) continue;
    if (result<void> started = start_port(gw, i); !started) return started;
  }
  set_bridge_iface_macs(gw);
  return {};
}

void ports_stop(gateway& gw) {
  for (auto& p : gw.ports) {
    if (!p.attached) continue;
    rte_eth_dev_stop(p.port_id);
    rte_eth_dev_close(p.port_id);
    p.attached = false;
  }
}

std::vector<std::string> ports_watch(gateway& gw) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < gw.ports.size(); i++) {
    const port_config& pc = gw.cfg.ports[i];
    const std::string iface = af_packet_iface(pc.devargs);
    port_info& pi = gw.ports[i];
    if (iface.empty() || pi.ifindex == 0) continue;
    const unsigned now = if_nametoindex(iface.c_str());
    if (now == pi.ifindex) continue;
    if (pi.attached) {
      detach(gw, i);
      const uint32_t forgotten = gw.neighbors->forget_port(static_cast<uint16_t>(i));
      lines.push_back("port " + pc.name + ": interface " + iface +
                      (now == 0 ? " is gone" : " was replaced") +
                      "; port detached until it is back (packets to it: drop_port_detached), " +
                      std::to_string(forgotten) + " neighbours forgotten");
    }
    if (now == 0) continue;
    if (result<void> r = reprobe(gw, i); !r) {
      // Retried at the next watch: the interface may be half set up.
      lines.push_back("port " + pc.name + ": interface " + iface +
                      " is back, but the port did not start: " + r.error().message);
      continue;
    }
    lines.push_back("port " + pc.name + ": interface " + iface + " is back (ifindex " +
                    std::to_string(now) + "); port attached again as ethdev " +
                    std::to_string(pi.port_id));
  }
  return lines;
}

uint32_t neighbours_gc(gateway& gw, uint32_t now_ms) {
  const arp_config& a = gw.cfg.arp;
  // Given up on: the workers stopped asking after mcast_solicit requests, one retrans_time_ms
  // apart; a neighbour a packet still waits for is asked again every retrans_time_ms.
  neigh_gc_params p;
  p.thresh1 = a.gc_thresh1;
  p.failed_after_ms = a.mcast_solicit * a.retrans_time_ms;
  p.stale_ms = a.gc_stale_time_ms;
  return gw.neighbors->gc(now_ms, p, gw.qs) + gw.neighbors6->gc(now_ms, p, gw.qs);
}

uint32_t bridges_age(gateway& gw, uint32_t now_ms) {
  uint32_t removed = 0;
  // Workers stamp entries with now_ms / 1000 of the same clock.
  for (bridge_info& br : gw.bridges) removed += br.table->age(now_ms / 1000, br.ageing_s);
  return removed;
}

}  // namespace ctgate
