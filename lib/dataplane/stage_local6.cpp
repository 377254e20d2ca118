// IPv6 local delivery. As for IPv4, the gateway has no sockets: neighbour discovery is
// handled (stage_nd), echo requests are answered in place, everything else is consumed and
// counted. ICMPv6 to the gateway is checked as Linux's icmpv6_rcv checks it: the checksum.
#include "dataplane/gateway.h"
#include "dataplane/ipv6.h"
#include "dataplane/stages.h"
#include "packet/cksum.h"

namespace ctgate {

namespace {

// The echo request becomes its reply: from the address it was sent to (for a group, the
// port's address of the sender's scope), hop limit 64, type 129.
void make_echo_reply(worker_ctx& w, rte_mbuf* mb, pkt_meta* m) {
  uint8_t* ip = ip6_hdr(mb, m);
  const ipv6_addr src = ip6_src(mb, m);
  ipv6_addr from = ip6_dst(mb, m);
  if (from.is_multicast()) from = error_source(*w.gw, m->in_port, from, src);
  // The reply carries the message alone, as Linux builds it afresh: extension headers of the
  // request (a routing header, options) are not echoed back.
  const uint16_t ext = static_cast<uint16_t>(m->l4_off - m->l3_off - 40);
  if (ext != 0) {
    std::memmove(ip + 40, ip + 40 + ext, m->l4_len);
    m->l4_off = static_cast<uint16_t>(m->l3_off + 40);
    rte_pktmbuf_trim(mb, ext);
    const uint16_t plen = rte_cpu_to_be_16(m->l4_len);
    std::memcpy(ip + 4, &plen, 2);
  }
  ip[6] = IPPROTO_ICMPV6;
  std::memcpy(ip + 8, from.b, 16);
  std::memcpy(ip + 24, src.b, 16);
  ip[7] = 64;
  uint8_t* l4 = rte_pktmbuf_mtod_offset(mb, uint8_t*, m->l4_off);
  l4[0] = icmp6::echo_reply;
  l4[2] = l4[3] = 0;
  const uint16_t c = ipv6_l4_cksum(ip, l4, m->l4_len, IPPROTO_ICMPV6);
  std::memcpy(l4 + 2, &c, 2);
  m->l4.icmp_type = icmp6::echo_reply;
  m->flags = PKT_F_LOCAL_OUT | PKT_F_IPV6;
  m->frag_max_size = 0;  // a new datagram: cut to the MTU only, as Linux's reply would be
  m->ct = nullptr;
  m->ct_info = CTINFO_NONE;
}

}  // namespace

uint16_t stage_local6(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  uint16_t out = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* mb = pkts[i];
    pkt_meta* m = meta_of(mb);
    if ((m->flags & PKT_F_FRAGMENT) && !is_atomic_fragment6(m)) {
      pkt_drop(w, mb, dp_counter::drop_ip6_fragment_local);
      continue;
    }
    if (m->l4.proto != IPPROTO_ICMPV6 || m->l4_invalid != L4_OK) {
      pkt_drop(w, mb, dp_counter::drop_local_unhandled);
      continue;
    }
    if (!ipv6_l4_cksum_ok(ip6_hdr(mb, m), rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l4_off),
                          m->l4_len, IPPROTO_ICMPV6)) {
      pkt_drop(w, mb, dp_counter::drop_icmp6_bad_checksum);
      continue;
    }
    const uint8_t type = m->l4.icmp_type;
    if (type >= icmp6::router_solicit && type <= icmp6::redirect) {
      stage_nd(w, mb);
      continue;
    }
    if (type != icmp6::echo_request || m->l4.icmp_code != 0 || ip6_src(mb, m).is_zero()) {
      pkt_drop(w, mb, dp_counter::drop_local_unhandled);
      continue;
    }
    make_echo_reply(w, mb, m);
    pkts[out++] = mb;
  }
  w.counters.add(dp_counter::local_out, out);
  return out;
}

}  // namespace ctgate
