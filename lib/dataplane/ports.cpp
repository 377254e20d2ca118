#include "dataplane/ports.h"

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include <cstring>

#include "dataplane/gateway.h"

namespace ctgate {

const uint8_t k_symmetric_rss_key[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

std::string devargs_name(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

bool devargs_is_vdev(const std::string& devargs) { return devargs.rfind("net_", 0) == 0; }

std::vector<std::string> port_eal_args(const gateway_config& cfg) {
  std::vector<std::string> args;
  for (const auto& p : cfg.ports) {
    args.push_back(devargs_is_vdev(p.devargs) ? "--vdev" : "-a");
    args.push_back(p.devargs);
  }
  return args;
}

namespace {

// A full TX queue: free what did not fit and count it.
void tx_unsent(rte_mbuf** pkts, uint16_t unsent, void* arg) {
  auto* w = static_cast<worker_ctx*>(arg);
  rte_pktmbuf_free_bulk(pkts, unsent);
  w->counters.add(dp_counter::drop_tx_full, unsent);
}

bool start_port(gateway& gw, size_t idx, std::string* err) {
  const port_config& pc = gw.cfg.ports[idx];
  port_info& pi = gw.ports[idx];
  auto fail = [&](const std::string& what, int rc) {
    *err = gw.cfg.source_file + ":" + std::to_string(pc.line) + ": port '" + pc.name + "' (" +
           pc.devargs + "): " + what + (rc != 0 ? std::string(": ") + rte_strerror(-rc) : "");
    return false;
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
  uint64_t rss_hf = info.flow_type_rss_offloads &
                    (RTE_ETH_RSS_IP | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP);
  if (q > 1 && rss_hf != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(k_symmetric_rss_key);
    conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(k_symmetric_rss_key);
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
  }
  // Checksum verification on the NIC where it can: parse trusts the IPv4
  // verdict and conntrack (nf_conntrack_checksum) the L4 one, and fall back
  // to software for packets the NIC reports as unknown. In software the L4
  // check is the largest single cost conntrack adds to a small packet.
  constexpr uint64_t k_rx_cksum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM |
                                  RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  conf.rxmode.offloads |= info.rx_offload_capa & k_rx_cksum;
  if ((rc = rte_eth_dev_configure(id, q, q, &conf)) != 0) return fail("configure", rc);
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
  if (pc.mac) {
    rte_ether_addr a;
    parse_mac(*pc.mac, a.addr_bytes);
    if ((rc = rte_eth_dev_default_mac_addr_set(id, &a)) != 0) return fail("set mac", rc);
  }
  if ((rc = rte_eth_dev_start(id)) != 0) return fail("start", rc);
  if (pc.promiscuous) rte_eth_promiscuous_enable(id);
  rte_ether_addr mac;
  rte_eth_macaddr_get(id, &mac);
  std::memcpy(pi.mac.b, mac.addr_bytes, 6);
  pi.attached = true;
  for (auto* w : gw.workers) {
    auto* b = static_cast<rte_eth_dev_tx_buffer*>(
        rte_zmalloc_socket("txb", RTE_ETH_TX_BUFFER_SIZE(k_max_burst), 0, socket));
    if (b == nullptr) return fail("tx buffer", 0);
    rte_eth_tx_buffer_init(b, gw.cfg.burst);
    rte_eth_tx_buffer_set_err_callback(b, tx_unsent, w);
    w->txb[idx] = b;
  }
  return true;
}

}  // namespace

bool ports_start(gateway& gw, std::string* err) {
  if (gw.ports.size() > k_max_ports) {
    *err = "too many ports (max " + std::to_string(k_max_ports) + ")";
    return false;
  }
  for (size_t i = 0; i < gw.ports.size(); i++)
    if (!start_port(gw, i, err)) return false;
  return true;
}

void ports_stop(gateway& gw) {
  for (auto& p : gw.ports) {
    if (!p.attached) continue;
    rte_eth_dev_stop(p.port_id);
    rte_eth_dev_close(p.port_id);
    p.attached = false;
  }
}

}  // namespace ctgate
