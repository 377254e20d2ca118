#include "dataplane/gateway.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

// Looks up destinations in bulk and fills out_port/nexthop. Returns, per
// packet, the route kind in kinds[].
void lookup(worker_ctx& w, rte_mbuf** pkts, uint16_t n, route_kind* kinds) {
  // Sized to the burst; GCC cannot see that n <= k_max_burst fills it.
  uint32_t ips[k_max_burst] = {};
  uint64_t nhs[k_max_burst];
  for (uint16_t i = 0; i < n; i++) ips[i] = rte_be_to_cpu_32(meta_of(pkts[i])->dst);
  w.gw->routes->lookup_bulk(ips, nhs, n);
  for (uint16_t i = 0; i < n; i++) {
    route_nh nh = decode_nh(nhs[i]);
    pkt_meta* m = meta_of(pkts[i]);
    m->out_port = nh.port;
    m->nexthop = nh.gateway != 0 ? nh.gateway : ips[i];
    kinds[i] = nh.kind;
  }
}

}  // namespace

uint16_t stage_route(worker_ctx& w, rte_mbuf** pkts, uint16_t n, rte_mbuf** local,
                     uint16_t* n_local) {
  route_kind kinds[k_max_burst];
  lookup(w, pkts, n, kinds);
  uint16_t kept = 0, nl = 0;
  for (uint16_t i = 0; i < n; i++) {
    switch (kinds[i]) {
      case route_kind::local:
        meta_of(pkts[i])->flags |= PKT_F_LOCAL;
        local[nl++] = pkts[i];
        break;
      case route_kind::forward:
        pkts[kept++] = pkts[i];
        break;
      default:
        pkt_drop(w, pkts[i], dp_counter::drop_no_route);
    }
  }
  w.counters.add(dp_counter::local_in, nl);
  *n_local = nl;
  return kept;
}

uint16_t stage_route_output(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  route_kind kinds[k_max_burst];
  lookup(w, pkts, n, kinds);
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (kinds[i] == route_kind::forward)
      pkts[kept++] = pkts[i];
    else
      pkt_drop(w, pkts[i], dp_counter::drop_no_route);
  }
  return kept;
}

}  // namespace ctgate
