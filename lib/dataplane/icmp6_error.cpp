#include "dataplane/icmp6_error.h"

#include <rte_random.h>

#include <algorithm>
#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/ipv6.h"
#include "dataplane/worker.h"
#include "packet/build.h"
#include "packet/manip.h"
#include "packet/parse.h"

namespace ctgate {

namespace {

constexpr uint32_t k_min_mtu = 1280;  // IPV6_MIN_MTU: an error never exceeds it

// Whether Linux's icmp6_send would answer this packet at all.
bool may_answer(const rte_mbuf* mb, const pkt_meta& m, uint8_t type) {
  if (m.flags & PKT_F_LOCAL_OUT) return false;  // ours: the sender is us
  const ipv6_addr src = ip6_src(mb, &m);
  const ipv6_addr dst = ip6_dst(mb, &m);
  if (src.is_zero() || src.is_multicast()) return false;
  const bool group = dst.is_multicast() || (m.flags & PKT_F_L2_MULTICAST);
  if (group && type != icmp6::pkt_too_big) return false;
  // Never an error about an error (is_ineligible): an ICMPv6 message below 128, or one whose
  // type cannot be read.
  if (m.l4.proto == IPPROTO_ICMPV6) {
    if (m.l4_invalid != L4_OK) return false;
    if (m.l4.icmp_type < icmp6::echo_request) return false;
  }
  return true;
}

// A 32-bit key for the per-destination buckets (Linux keys inet_peer by the whole address).
uint32_t peer_key(const ipv6_addr& a) {
  uint32_t k = 0;
  for (int i = 0; i < 16; i += 4) {
    uint32_t x;
    std::memcpy(&x, a.b + i, 4);
    k = (k ^ x) * 0x9e3779b1u;
  }
  return k == 0 ? 1 : k;
}

}  // namespace

// icmp6_send's source: the packet's destination if it is ours; else, for a link-local
// destination, the port's link-local address; else a global address: the port's, or another
// port's (RFC 6724 rule 2: never a link-local source to a global destination), the port's
// link-local one only when the gateway has no global address at all.
ipv6_addr error_source(const gateway& gw, uint16_t in_port, const ipv6_addr& orig_dst,
                       const ipv6_addr& to) {
  if (gateway_owns6(gw, orig_dst)) return orig_dst;
  const port_info& in = gw.ports[in_port];
  if (to.is_link_local()) return in.link_local;
  if (in.has_addr6) return in.addr6;
  for (const port_info& p : gw.ports)
    if (p.has_addr6) return p.addr6;
  return in.link_local;
}

// The quote of an error about a translated packet, as its sender sent it (`as`), and the
// message's checksum summed again over the new pseudo header.
void quote_as_sent(uint8_t* ip6, uint32_t quote_len, const icmp6_as_sent& as) {
  uint8_t* icmp = ip6 + 40;
  uint8_t* quote = icmp + 8;
  ipv6_chain c;
  if (ipv6_skip_ext(quote, quote_len, &c) == parse_result::ipv6 && quote_len >= c.l4_off + 8) {
    const uint32_t l4_len = quote_len - c.l4_off;
    ipv6_manip(quote, c.proto, quote + c.l4_off, l4_len, manip_kind::src, as.src.b, as.sport);
    ipv6_manip(quote, c.proto, quote + c.l4_off, l4_len, manip_kind::dst, as.dst.b, as.dport);
  }
  icmp[2] = icmp[3] = 0;
  const uint16_t sum = ipv6_l4_cksum(ip6, icmp, 8 + quote_len, IPPROTO_ICMPV6);
  std::memcpy(icmp + 2, &sum, 2);
}

bool send_icmp6_error(worker_ctx& w, const rte_mbuf* orig, uint8_t type, uint8_t code,
                      uint32_t info, const icmp6_as_sent* as_sent) {
  const gateway& gw = *w.gw;
  const pkt_meta& m = *meta_of(const_cast<rte_mbuf*>(orig));
  if (!may_answer(orig, m, type)) {
    w.counters.add(dp_counter::icmp_error_not_allowed);
    return false;
  }
  const ipv6_addr to = as_sent != nullptr ? as_sent->src : ip6_src(orig, &m);
  if (type != icmp6::pkt_too_big) {
    const uint32_t key = peer_key(to);
    icmp_peer& peer = w.icmp_peers[key % k_icmp_peers];
    if (!icmp_peer_allow(peer, key, w.now_ms, gw.cfg.icmp.ratelimit_ms) ||
        !icmp_global_allow(w.gw->icmp_global, w.now_ms, gw.cfg.icmp.msgs_per_sec,
                           gw.cfg.icmp.msgs_burst, static_cast<uint32_t>(rte_rand() % 3))) {
      w.counters.add(dp_counter::icmp_error_ratelimited);
      return false;
    }
  }
  if (!hooked_out6_has_room(w)) return false;
  rte_mbuf* r = rte_pktmbuf_alloc(gw.mbuf_pool);
  if (r == nullptr) {
    w.counters.add(dp_counter::drop_no_mbuf);
    return false;
  }
  const ipv6_addr from =
      as_sent != nullptr ? as_sent->answer_src : error_source(gw, m.in_port, ip6_dst(orig, &m), to);
  const uint32_t ip_len = m.l4_off + m.l4_len - m.l3_off;  // the datagram as parsed
  const uint16_t quote = static_cast<uint16_t>(std::min<uint32_t>(ip_len, k_min_mtu - 40 - 8));
  pkt_spec6 s;
  std::memcpy(s.src, from.b, 16);
  std::memcpy(s.dst, to.b, 16);
  s.proto = IPPROTO_ICMPV6;
  s.icmp_type = type;
  s.icmp_code = code;
  s.icmp_id = static_cast<uint16_t>(info >> 16);
  s.icmp_seq = static_cast<uint16_t>(info);
  s.payload = rte_pktmbuf_mtod_offset(orig, const uint8_t*, m.l3_off);
  s.payload_len = quote;
  const size_t len = build_frame6(s, rte_pktmbuf_mtod(r, uint8_t*), rte_pktmbuf_tailroom(r));
  if (len == 0) {
    rte_pktmbuf_free(r);
    w.counters.add(dp_counter::drop_no_mbuf);
    return false;
  }
  r->data_len = r->pkt_len = static_cast<uint32_t>(len);
  if (as_sent != nullptr)
    quote_as_sent(rte_pktmbuf_mtod_offset(r, uint8_t*, sizeof(rte_ether_hdr)), quote, *as_sent);
  pkt_meta* rm = meta_of(r);
  *rm = pkt_meta{};
  rm->l3_off = sizeof(rte_ether_hdr);
  rm->l4_off = static_cast<uint16_t>(sizeof(rte_ether_hdr) + 40);
  rm->l4_len = static_cast<uint16_t>(8 + quote);
  rm->l4.proto = IPPROTO_ICMPV6;
  rm->l4.icmp_type = type;
  rm->l4.icmp_code = code;
  rm->l4.payload_len = quote;
  rm->flags = PKT_F_LOCAL_OUT | PKT_F_IPV6;
  rm->in_port = m.in_port;
  queue_hooked_out6(w, r);
  w.counters.add(dp_counter::icmp_error_sent);
  return true;
}

}  // namespace ctgate
