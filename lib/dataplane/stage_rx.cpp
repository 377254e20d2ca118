#include "dataplane/gateway.h"
#include "dataplane/stages.h"

namespace ctgate {

uint16_t stage_rx(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t max) {
  uint16_t n = rte_eth_rx_burst(w.gw->ports[port].port_id, w.id, pkts, max);
  if (n == 0) return 0;
  w.counters.add(dp_counter::rx, n);
  w.port_rx[port].add(n);
  return n;
}

}  // namespace ctgate
