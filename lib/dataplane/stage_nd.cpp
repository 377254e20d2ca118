// Neighbour discovery (RFC 4861) for the gateway's own addresses: solicitations for them are
// answered, and what they and advertisements say about their senders is learned, as Linux's
// ndisc_recv_ns and ndisc_recv_na do. Router solicitations, advertisements and redirects are
// ignored (the gateway is a router with static routes). Consumes the packet. Like ARP, the
// answers go straight to TX: docs/design/ipv6.md says why they skip the OUTPUT hooks.
#include <rte_ether.h>

#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/ipv6.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

constexpr uint8_t k_opt_source_lla = 1;
constexpr uint8_t k_opt_target_lla = 2;
constexpr uint8_t k_na_router = 0x80, k_na_solicited = 0x40, k_na_override = 0x20;

// Finds a link-layer address option of `type` in [p, end), as ndisc_parse_options and
// ndisc_opt_addr_data read them: the first of duplicates counts, and an Ethernet address
// option is exactly one 8-byte unit. *bad: the options are malformed (a zero length, one past
// the end, an address option of another size) and the message is dropped.
bool find_lla(const uint8_t* p, const uint8_t* end, uint8_t type, mac_addr* out, bool* bad) {
  bool found = false;
  while (end - p >= 2) {
    const size_t len = size_t{p[1]} * 8;
    if (len == 0 || static_cast<size_t>(end - p) < len || (p[0] == type && len != 8)) {
      *bad = true;
      return false;
    }
    if (p[0] == type && !found) {
      std::memcpy(out->b, p + 2, 6);
      found = true;
    }
    p += len;
  }
  return found;
}

void consume(worker_ctx& w, rte_mbuf* m, bool ignored) {
  if (ignored)
    pkt_drop(w, m, dp_counter::drop_nd_ignored);
  else
    rte_pktmbuf_free(m);
}

// Answers a solicitation for `target` (ours) in place: the advertisement goes back to the
// sender, or to all nodes for duplicate address detection (an unspecified sender).
void answer(worker_ctx& w, rte_mbuf* m, const ipv6_addr& target, const ipv6_addr& to,
            const mac_addr& to_mac) {
  pkt_meta* meta = meta_of(m);
  const port_info& port = w.gw->ports[meta->in_port];
  const bool dad = to.is_zero();
  if (m->nb_segs > 1) {  // the answer is built in the first segment alone
    rte_pktmbuf_free(m->next);
    m->next = nullptr;
    m->nb_segs = 1;
  }
  static constexpr uint8_t all_nodes[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  uint8_t body[24] = {};
  std::memcpy(body, target.b, 16);
  body[16] = k_opt_target_lla;
  body[17] = 1;
  std::memcpy(body + 18, port.mac.b, 6);
  pkt_spec6 s;
  s.src_mac = port.mac;
  std::memcpy(s.src, target.b, 16);
  if (dad) {
    std::memcpy(s.dst, all_nodes, 16);
    ipv6_addr g;
    std::memcpy(g.b, all_nodes, 16);
    multicast_mac(g, s.dst_mac.b);
  } else {
    std::memcpy(s.dst, to.b, 16);
    s.dst_mac = to_mac;
  }
  s.proto = IPPROTO_ICMPV6;
  s.hop_limit = 255;
  s.icmp_type = icmp6::neighbour_advert;
  s.icmp_id =
      static_cast<uint16_t>((k_na_router | k_na_override | (dad ? 0 : k_na_solicited)) << 8);
  s.payload = body;
  s.payload_len = sizeof(body);
  const size_t len = build_frame6(s, rte_pktmbuf_mtod(m, uint8_t*),
                                  rte_pktmbuf_tailroom(m) + rte_pktmbuf_data_len(m));
  m->data_len = m->pkt_len = static_cast<uint32_t>(len);
  meta->out_port = meta->in_port;
  meta->ct = nullptr;
  w.counters.add(dp_counter::nd_na_sent);
  stage_tx_one(w, meta->out_port, m);
}

}  // namespace

void stage_nd(worker_ctx& w, rte_mbuf* m) {
  w.counters.add(dp_counter::nd_in);
  pkt_meta* meta = meta_of(m);
  const uint8_t* ip = ip6_hdr(m, meta);
  const uint8_t* l4 = rte_pktmbuf_mtod_offset(m, const uint8_t*, meta->l4_off);
  const uint8_t* end = l4 + meta->l4_len;
  const uint8_t type = meta->l4.icmp_type;
  // RFC 4861 7.1: only from the link (hop limit 255), code 0, room for the target.
  if ((type != icmp6::neighbour_solicit && type != icmp6::neighbour_advert) || ip[7] != 255 ||
      meta->l4.icmp_code != 0 || meta->l4_len < 24) {
    consume(w, m, true);
    return;
  }
  ipv6_addr target;
  std::memcpy(target.b, l4 + 8, 16);
  const ipv6_addr src = ip6_src(m, meta);
  const ipv6_addr dst = ip6_dst(m, meta);
  if (target.is_multicast()) {
    consume(w, m, true);
    return;
  }
  bool bad = false;
  mac_addr lla;
  const uint16_t port = meta->in_port;
  if (type == icmp6::neighbour_solicit) {
    const bool has_lla = find_lla(l4 + 24, end, k_opt_source_lla, &lla, &bad);
    // Duplicate address detection comes from the unspecified address to the solicited-node
    // group, without a source link-layer address.
    if (bad || (src.is_zero() && (!(dst == solicited_node(target)) || has_lla)) ||
        !port_owns6(w.gw->ports[port], target)) {
      consume(w, m, true);
      return;
    }
    if (!src.is_zero() && has_lla)
      w.gw->neighbors6->learn(neigh6_key{src, port}, lla, false, w.now_ms, port);
    // Without the option the answer goes back to the frame's sender.
    if (!has_lla) std::memcpy(lla.b, rte_pktmbuf_mtod_offset(m, const uint8_t*, 6), 6);
    answer(w, m, target, src, lla);
    return;
  }
  // An advertisement: it updates a neighbour the gateway knows or is asking about, never
  // creates one (Linux without accept_untracked_na).
  const bool solicited = l4[4] & k_na_solicited;
  if (dst.is_multicast() && solicited) {
    consume(w, m, true);
    return;
  }
  const bool override_ = l4[4] & k_na_override;
  const neigh6_key key{target, port};
  const bool has_lla = find_lla(l4 + 24, end, k_opt_target_lla, &lla, &bad);
  if (bad) {
    consume(w, m, true);
    return;
  }
  // ndisc_recv_na's neigh_update: a solicited answer confirms the neighbour (REACHABLE); an
  // unsolicited one with a new address only makes it stale (probed before it is trusted);
  // without the override flag a different address already known is kept.
  mac_addr known;
  const bool is_known = w.gw->neighbors6->lookup(key, &known);
  const bool same = is_known && std::memcmp(known.b, lla.b, 6) == 0;
  if (!has_lla || (!override_ && is_known && !same)) {
    if (solicited && (!has_lla || same)) w.gw->neighbors6->confirm(key, w.now_ms);
  } else {
    const uint32_t reachable = w.gw->cfg.arp.base_reachable_time_ms;
    const uint32_t stale = w.now_ms - reachable - 1;
    w.gw->neighbors6->update_if_known(key, lla, solicited ? w.now_ms : (stale == 0 ? 1 : stale),
                                      port);
  }
  consume(w, m, false);
}

}  // namespace ctgate
