#include "dataplane/gateway.h"
#include "dataplane/icmp_error.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

// Looks up destinations in bulk and fills out_port/nexthop. Returns, per
// packet, the route kind in kinds[] and the encoded next hop in nhs[] (a multipath route's
// group: the caller resolves it with resolve_multipath).
void lookup(worker_ctx& w, rte_mbuf** pkts, uint16_t n, route_kind* kinds, uint64_t* nhs) {
  // Sized to the burst; GCC cannot see that n <= k_max_burst fills it.
  uint32_t ips[k_max_burst] = {};
  for (uint16_t i = 0; i < n; i++) ips[i] = rte_be_to_cpu_32(meta_of(pkts[i])->dst);
  w.gw->routes->lookup_bulk(ips, nhs, n);
  for (uint16_t i = 0; i < n; i++) {
    const route_nh nh = decode_nh(nhs[i]);
    pkt_meta* m = meta_of(pkts[i]);
    m->out_port = nh.port;
    m->nexthop = nh.gateway != 0 ? nh.gateway : ips[i];
    kinds[i] = nh.kind;
  }
}

// ECMP: the flow's next hop of multipath route `nh`, the same for each of its packets (and
// both its directions). Out of the lookup loop: routes with one next hop pay nothing for it.
void resolve_multipath(const worker_ctx& w, rte_mbuf* mb, uint64_t nh) {
  pkt_meta* m = meta_of(mb);
  const route_nh hop = w.gw->routes->pick(
      decode_nh(nh), symmetric_flow_hash(m->src, m->dst, m->sport, m->dport, m->l4.proto));
  m->out_port = hop.port;
  m->nexthop = hop.gateway != 0 ? hop.gateway : rte_be_to_cpu_32(m->dst);
}

// Linux's martian source check (ip_route_input_slow): a packet arriving
// from loopback, 0/8, multicast, limited broadcast or one of our own
// addresses cannot be genuine and is never routed.
bool martian_source(const gateway& gw, uint32_t src_be) {
  uint32_t s = rte_be_to_cpu_32(src_be);
  uint8_t top = static_cast<uint8_t>(s >> 24);
  if (top == 127 || top == 0 || top >= 224) return true;
  for (const auto& p : gw.ports)
    if (p.addr == s) return true;
  return false;
}

}  // namespace

uint16_t stage_route(worker_ctx& w, rte_mbuf** pkts, uint16_t n, rte_mbuf** local,
                     uint16_t* n_local) {
  uint16_t sane = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (martian_source(*w.gw, meta_of(pkts[i])->src))
      pkt_drop(w, pkts[i], dp_counter::drop_martian_source);
    else
      pkts[sane++] = pkts[i];
  }
  n = sane;
  route_kind kinds[k_max_burst];
  uint64_t nhs[k_max_burst];
  lookup(w, pkts, n, kinds, nhs);
  uint16_t kept = 0, nl = 0;
  for (uint16_t i = 0; i < n; i++) {
    switch (kinds[i]) {
      case route_kind::local:
        meta_of(pkts[i])->flags |= PKT_F_LOCAL;
        local[nl++] = pkts[i];
        break;
      case route_kind::forward: pkts[kept++] = pkts[i]; break;
      case route_kind::multipath:
        resolve_multipath(w, pkts[i], nhs[i]);
        pkts[kept++] = pkts[i];
        break;
      case route_kind::broadcast: pkt_drop(w, pkts[i], dp_counter::drop_broadcast); break;
      default:
        // Linux's ip_error: the sender hears the network is unreachable.
        send_icmp_error(w, pkts[i], icmp::dest_unreach, icmp::net_unreach);
        pkt_drop(w, pkts[i], dp_counter::drop_no_route);
    }
  }
  w.counters.add(dp_counter::local_in, nl);
  *n_local = nl;
  return kept;
}

uint16_t stage_route_output(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  route_kind kinds[k_max_burst];
  uint64_t nhs[k_max_burst];
  lookup(w, pkts, n, kinds, nhs);
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (kinds[i] == route_kind::forward) {
      pkts[kept++] = pkts[i];
    } else if (kinds[i] == route_kind::multipath) {
      resolve_multipath(w, pkts[i], nhs[i]);
      pkts[kept++] = pkts[i];
    } else {
      pkt_drop(w, pkts[i], dp_counter::drop_no_route);
    }
  }
  return kept;
}

}  // namespace ctgate
