// IPv6 routing (Linux's ip6_route_input and ip6_forward's scope checks). Multicast and
// link-local destinations belong to the port a packet came in on, never to a route; the rest
// is looked up in rte_fib6 in one bulk per burst.
#include "dataplane/gateway.h"
#include "dataplane/icmp6_error.h"
#include "dataplane/ipv6.h"
#include "dataplane/stages.h"

namespace ctgate {

bool port_owns6(const port_info& port, const ipv6_addr& a) {
  return a == port.link_local || (port.has_addr6 && a == port.addr6);
}

bool gateway_owns6(const gateway& gw, const ipv6_addr& a) {
  for (const port_info& p : gw.ports)
    if (port_owns6(p, a)) return true;
  return false;
}

namespace {

// The groups a port is in (RFC 4291 2.8, as a router): all-nodes, all-routers and the
// solicited-node groups of its addresses.
bool port_in_group(const port_info& port, const ipv6_addr& g) {
  if (g.b[1] != 0x02) return false;  // link-local scope only
  static constexpr uint8_t all_nodes[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr uint8_t all_routers[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  if (std::memcmp(g.b, all_nodes, 16) == 0 || std::memcmp(g.b, all_routers, 16) == 0) return true;
  if (g == solicited_node(port.link_local)) return true;
  return port.has_addr6 && g == solicited_node(port.addr6);
}

bool loopback(const ipv6_addr& a) {
  static constexpr uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(a.b, lo, 16) == 0;
}

// ::ffff:0:0/96, an IPv4-mapped address: never on the wire (ip6_rcv_core drops it as source).
bool v4_mapped(const ipv6_addr& a) {
  static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.b, prefix, 12) == 0;
}

}  // namespace

uint16_t stage_route6(worker_ctx& w, rte_mbuf** pkts, uint16_t n, rte_mbuf** local,
                      uint16_t* n_local) {
  const gateway& gw = *w.gw;
  // Destinations for the fib, in order; `looked` holds their packets.
  ipv6_addr dsts[k_max_burst];
  rte_mbuf* looked[k_max_burst];
  uint16_t nl = 0, nf = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* mb = pkts[i];
    pkt_meta* m = meta_of(mb);
    const ipv6_addr src = ip6_src(mb, m);
    const ipv6_addr dst = ip6_dst(mb, m);
    // ip6_rcv_core: a multicast, loopback or IPv4-mapped source, or a loopback destination,
    // cannot come from the wire.
    if (src.is_multicast() || loopback(src) || v4_mapped(src) || loopback(dst)) {
      pkt_drop(w, mb, dp_counter::drop_ip6_martian_source);
      continue;
    }
    const port_info& in = gw.ports[m->in_port];
    if (dst.is_multicast()) {
      if (!port_in_group(in, dst)) {
        pkt_drop(w, mb, dp_counter::drop_ip6_multicast);
        continue;
      }
      m->flags |= PKT_F_LOCAL;
      local[nl++] = mb;
      continue;
    }
    if (dst.is_link_local()) {
      if (dst != in.link_local) {
        pkt_drop(w, mb, dp_counter::drop_ip6_link_local);
        continue;
      }
      m->flags |= PKT_F_LOCAL;
      local[nl++] = mb;
      continue;
    }
    dsts[nf] = dst;
    looked[nf++] = mb;
  }
  // Without an IPv6 address on any port the gateway is an IPv6 host, not a router (Linux's
  // forwarding=0): what is not for it is dropped without an answer.
  if (nf != 0 && !gw.routes6->enabled()) [[unlikely]] {
    for (uint16_t i = 0; i < nf; i++) pkt_drop(w, looked[i], dp_counter::drop_ip6_not_routing);
    nf = 0;
  }
  uint64_t nhs[k_max_burst];
  if (nf != 0) gw.routes6->lookup_bulk(dsts, nhs, nf);
  uint16_t kept = 0;
  for (uint16_t i = 0; i < nf; i++) {
    rte_mbuf* mb = looked[i];
    pkt_meta* m = meta_of(mb);
    const route_nh nh = route6_table::decode6(nhs[i]);
    m->out_port = nh.port;
    m->nexthop = nh.gateway;
    if (nh.kind == route_kind::local) {
      m->flags |= PKT_F_LOCAL;
      local[nl++] = mb;
      continue;
    }
    if (nh.kind != route_kind::forward) {
      // ip6_pkt_drop: the sender hears there is no route.
      send_icmp6_error(w, mb, icmp6::dest_unreach, icmp6::no_route);
      pkt_drop(w, mb, dp_counter::drop_no_route);
      continue;
    }
    pkts[kept++] = mb;
  }
  w.counters.add(dp_counter::local_in, nl);  // both families
  w.counters.add(dp_counter::ip6_local_in, nl);
  *n_local = nl;
  return kept;
}

uint16_t stage_route_output6(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  const gateway& gw = *w.gw;
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* mb = pkts[i];
    pkt_meta* m = meta_of(mb);
    const ipv6_addr dst = ip6_dst(mb, m);
    if (dst.is_multicast() || dst.is_link_local()) {
      // An answer on the link it is about: out the port the question came in on.
      m->out_port = m->in_port;
      m->nexthop = 0;
      pkts[kept++] = mb;
      continue;
    }
    const route_nh nh = gw.routes6->lookup(dst);
    if (nh.kind != route_kind::forward) {
      pkt_drop(w, mb, dp_counter::drop_no_route);
      continue;
    }
    m->out_port = nh.port;
    m->nexthop = nh.gateway;
    pkts[kept++] = mb;
  }
  return kept;
}

}  // namespace ctgate
