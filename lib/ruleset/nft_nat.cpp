#include "ruleset/nft_nat.h"

#include <rte_byteorder.h>

#include "dataplane/gateway.h"
#include "dataplane/ipv6.h"
#include "ruleset/nft_chain.h"

namespace ctgate {

namespace {

ct::nat_manip manip_of(nft::nat_kind k) {
  return k == nft::nat_kind::snat || k == nft::nat_kind::masquerade ? ct::nat_manip::src
                                                                    : ct::nat_manip::dst;
}

// The address masquerade or redirect takes: the egress port's (masquerade), the ingress
// port's (redirect), 127.0.0.1 for the gateway's own packets redirected; 0 when the port
// has none.
uint32_t port_addr(const worker_ctx& w, const pkt_meta* m, nft::nat_kind k) {
  const std::vector<port_info>& ports = w.gw->ports;
  if (k == nft::nat_kind::redirect) {
    if (m->flags & PKT_F_LOCAL_OUT) return 0x7f000001;
    return m->in_port < ports.size() ? ports[m->in_port].addr : 0;
  }
  return m->out_port < ports.size() ? ports[m->out_port].addr : 0;
}

// The same for an IPv6 packet: the egress port's address for masquerade (the link-local one
// toward a link-local destination, as source address selection picks), the ingress port's for
// redirect (::1 for the gateway's own packets). False when the port has none.
bool port_addr6(const worker_ctx& w, rte_mbuf* mb, const pkt_meta* m, nft::nat_kind k,
                ipv6_addr* out) {
  const std::vector<port_info>& ports = w.gw->ports;
  if (k == nft::nat_kind::redirect && (m->flags & PKT_F_LOCAL_OUT)) {
    *out = ipv6_addr{};
    out->b[15] = 1;
    return true;
  }
  const uint16_t port = k == nft::nat_kind::redirect ? m->in_port : m->out_port;
  if (port >= ports.size()) return false;
  const port_info& p = ports[port];
  if (p.has_addr6 && !ip6_dst(mb, m).is_link_local()) {
    *out = p.addr6;
    return true;
  }
  if (p.link_local.is_zero()) return false;
  *out = p.link_local;
  return true;
}

ipv6_addr addr6_of(nft::uint128 a) {
  ipv6_addr out;
  for (int i = 15; i >= 0; i--, a >>= 8) out.b[i] = static_cast<uint8_t>(a);
  return out;
}

}  // namespace

verdict nft_nat_stmt(worker_ctx& w, const nft::compiled_ruleset& rs, uint32_t nat, rte_mbuf* mb,
                     const uint64_t* mapped) {
  pkt_meta* m = meta_of(mb);
  ct::ct_entry* e = m->ct;
  // Linux binds only a new connection (the NAT hook runs the chains for nothing else); a
  // second binding of a kind already decided is ignored (nf_nat_setup_info's check).
  if (e == nullptr || e->pos != ct::k_no_pos) return verdict::accept;
  const nft::nat_spec& ns = rs.nats[nat];
  const ct::nat_manip manip = manip_of(ns.kind);
  if (ct::nat_done(e->status.load(std::memory_order_relaxed), manip)) return verdict::accept;
  // A statement of the other family never gets here: the chain skips it (nft_eval_chain), and
  // the parser refuses IPv6 NAT from maps.
  const bool v6 = m->flags & PKT_F_IPV6;
  ct::nat_range r;
  r.flags = ns.flags & (ct::NAT_RANGE_PROTO_RANDOM_ALL | ct::NAT_RANGE_PERSISTENT);
  if (v6 && (ns.kind == nft::nat_kind::masquerade || ns.kind == nft::nat_kind::redirect)) {
    if (!port_addr6(w, mb, m, ns.kind, &r.addr6_min)) {
      w.ct.counters.add(ct::ct_counter::nat_no_addr);
      return verdict::drop;
    }
    r.flags |= ct::NAT_RANGE_MAP_IPS;
    r.addr6_max = r.addr6_min;
  } else if (v6 && ns.has_addr) {
    r.flags |= ct::NAT_RANGE_MAP_IPS;
    r.addr6_min = addr6_of(ns.addr6_min);
    r.addr6_max = addr6_of(ns.addr6_max);
  } else if (ns.kind == nft::nat_kind::masquerade || ns.kind == nft::nat_kind::redirect) {
    const uint32_t a = port_addr(w, m, ns.kind);
    if (a == 0) {
      // Linux's masquerade without a source address on the device: NF_DROP.
      w.ct.counters.add(ct::ct_counter::nat_no_addr);
      return verdict::drop;
    }
    r.flags |= ct::NAT_RANGE_MAP_IPS;
    r.addr_min = r.addr_max = a;
  } else if (mapped != nullptr && ns.map_addr_port) {
    r.flags |= ct::NAT_RANGE_MAP_IPS | ct::NAT_RANGE_PROTO_SPECIFIED;
    r.addr_min = r.addr_max = static_cast<uint32_t>(*mapped);
    r.port_min = r.port_max = static_cast<uint16_t>(*mapped >> 32);
  } else if (mapped != nullptr) {
    r.flags |= ct::NAT_RANGE_MAP_IPS;
    r.addr_min = static_cast<uint32_t>(*mapped);
    r.addr_max = static_cast<uint32_t>(*mapped >> 32);
  } else if (ns.has_addr) {
    r.flags |= ct::NAT_RANGE_MAP_IPS;
    r.addr_min = ns.addr_min;
    r.addr_max = ns.addr_max;
  }
  if (ns.has_port) {
    r.flags |= ct::NAT_RANGE_PROTO_SPECIFIED;
    r.port_min = ns.port_min;
    r.port_max = ns.port_max;
  }
  if (ct::nat_setup(w.ct, e, r, manip, w.now_ms) == ct::nat_setup_result::no_port) {
    // Linux keeps the last tuple it tried and drops at confirm, counting these two; ctgate
    // drops here, counts the same two and nat_no_port (nat_setup).
    w.ct.counters.add(ct::ct_counter::insert_failed);
    w.ct.counters.add(ct::ct_counter::drop);
    return verdict::drop;
  }
  return verdict::accept;
}

uint16_t nft_nat_hook(const hook_entry& self, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                      verdict* v) {
  const auto* ref = static_cast<const nft_nat_ref*>(self.priv);
  uint16_t rejected = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* mb = pkts[i];
    pkt_meta* m = meta_of(mb);
    ct::ct_entry* e = m->ct;
    if (e == nullptr) continue;  // untracked
    if (m->ct_info == CTINFO_RELATED) {
      // ICMP errors about a connection: their quote is translated back (a related flow of
      // another protocol would need a helper, which ctgate does not have).
      if ((m->l4.proto == IPPROTO_ICMP || m->l4.proto == IPPROTO_ICMPV6) &&
          !ct::nat_icmp_error(w.ct, mb, m, ref->manip)) {
        v[i] = verdict::drop;
        rejected++;
      }
      continue;
    }
    if (m->ct_info != CTINFO_NEW && m->ct_info != CTINFO_ESTABLISHED) continue;
    if (!ct::nat_done(e->status.load(std::memory_order_relaxed), ref->manip) &&
        e->pos == ct::k_no_pos) [[unlikely]] {
      // A new connection: its nat chains decide, in order, until one binds it.
      verdict cv = verdict::accept;
      for (uint32_t chain : ref->chains) {
        cv = nft_eval_chain(w, *ref->rs, chain, mb);
        if (cv != verdict::accept ||
            ct::nat_done(e->status.load(std::memory_order_relaxed), ref->manip))
          break;
      }
      if (cv != verdict::accept) {
        v[i] = cv;
        rejected++;
        continue;
      }
      if (!ct::nat_done(e->status.load(std::memory_order_relaxed), ref->manip))
        ct::nat_null_binding(e, ref->manip);
    }
    if (ct::nat_rewrites(e->status.load(std::memory_order_relaxed), ref->manip, m->ct_dir))
      ct::nat_packet(w.ct, mb, m, ref->manip);
  }
  return rejected;
}

}  // namespace ctgate
