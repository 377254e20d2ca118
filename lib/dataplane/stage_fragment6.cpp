// IPv6 output fragmentation, after POST_ROUTING as Linux's __ip6_finish_output and
// ip6_fragment: a datagram reassembled for conntrack leaves cut to the largest fragment it came
// in (frag_max_size) when it is bigger than that, and a packet the gateway made (an echo reply
// to a reassembled request) is cut to the output MTU. A forwarded packet is never fragmented:
// stage_forward6 refused it with packet too big (RFC 8200 5).
//
// Fragments are sent from here, a datagram's worth at a time, so the burst never grows past
// its array.
#include <rte_random.h>

#include <cstring>

#include "dataplane/fragment_batch.h"
#include "dataplane/gateway.h"
#include "dataplane/ipv6.h"
#include "dataplane/stages.h"
#include "packet/parse.h"

namespace ctgate {

namespace {

// Linux's ip6_find_1stfragopt: the unfragmentable part holds hop-by-hop, routing and the
// destination options before any routing header; it ends at the first other header, or at
// destination options after a routing header. Returns its end (from the IPv6 header) and the
// offset of the next-header byte that will name the fragment header.
uint32_t unfragmentable_end(const uint8_t* ip, uint32_t len, uint32_t* nh_off) {
  uint32_t off = 40;
  *nh_off = 6;
  uint8_t next = ip[6];
  bool routing_seen = false;
  for (unsigned n = 0; n < k_max_ipv6_ext && off + 8 <= len; n++) {
    if (next == IPPROTO_DSTOPTS) {
      if (routing_seen) return off;
    } else if (next == IPPROTO_ROUTING) {
      routing_seen = true;
    } else if (next != IPPROTO_HOPOPTS) {
      return off;
    }
    *nh_off = off;
    next = ip[off];
    off += (ip[off + 1] + 1u) * 8;
  }
  return off;
}

// Cuts `m` into fragments of at most `mtu` IPv6 bytes, sent to stage_tx6. The original is
// consumed. False (nothing sent, `m` untouched) when mbufs ran out or the headers leave no
// room.
bool fragment_and_send6(worker_ctx& w, rte_mbuf* m, uint32_t mtu) {
  pkt_meta* meta = meta_of(m);
  const uint32_t l3 = meta->l3_off;
  const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, l3);
  const uint32_t ip_len = rte_pktmbuf_pkt_len(m) - l3;
  uint32_t nh_off = 0;
  const uint32_t hlen = unfragmentable_end(ip, ip_len, &nh_off);
  if (hlen > ip_len || hlen + 8 + 8 > mtu) return false;
  const uint32_t step = (mtu - hlen - 8) & ~7u;  // payload per fragment but the last
  const uint32_t payload = ip_len - hlen;
  const uint8_t next = ip[nh_off];
  // Linux's ipv6_select_ident hashes the addresses with a secret: not guessable, never 0.
  uint32_t id = static_cast<uint32_t>(rte_rand());
  if (id == 0) id = 1;

  fragment_batch batch(w, stage_tx6);
  for (uint32_t off = 0; off < payload; off += step) {
    const uint32_t len = std::min(step, payload - off);
    const uint32_t flen = l3 + hlen + 8 + len;
    rte_mbuf* f = rte_pktmbuf_alloc(w.gw->mbuf_pool);
    if (f == nullptr || rte_pktmbuf_tailroom(f) < flen) {
      if (f != nullptr) rte_pktmbuf_free(f);
      if (off == 0) return false;
      batch.abandon(m);
      return true;
    }
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(f, static_cast<uint16_t>(flen)));
    std::memcpy(p, rte_pktmbuf_mtod(m, const uint8_t*), l3 + hlen);
    uint8_t* fip = p + l3;
    fip[nh_off] = IPPROTO_FRAGMENT;
    const uint16_t plen = rte_cpu_to_be_16(static_cast<uint16_t>(hlen - 40 + 8 + len));
    std::memcpy(fip + 4, &plen, 2);
    uint8_t* fh = fip + hlen;
    fh[0] = next;
    fh[1] = 0;
    const bool last = off + len >= payload;
    const uint16_t field = rte_cpu_to_be_16(static_cast<uint16_t>(off | (last ? 0 : 1)));
    std::memcpy(fh + 2, &field, 2);
    const uint32_t be_id = rte_cpu_to_be_32(id);
    std::memcpy(fh + 4, &be_id, 4);
    uint8_t* dst = fh + 8;
    if (const void* src = rte_pktmbuf_read(m, l3 + hlen + off, len, dst); src != dst)
      std::memcpy(dst, src, len);

    batch.add(f, *meta, static_cast<uint16_t>(l3 + hlen + 8), static_cast<uint16_t>(len));
  }
  batch.finish(m);
  return true;
}

}  // namespace

uint16_t stage_fragment6(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  w.frag_pending = 0;
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const pkt_meta* meta = meta_of(m);
    const uint32_t ip_len = rte_pktmbuf_pkt_len(m) - meta->l3_off;
    const uint32_t port_mtu = w.gw->ports[meta->out_port].mtu;
    // __ip6_finish_output: cut when over the MTU or over the largest fragment received.
    const uint32_t limit =
        meta->frag_max_size != 0 ? std::min<uint32_t>(meta->frag_max_size, port_mtu) : port_mtu;
    if (ip_len <= limit || (meta->frag_max_size == 0 && !(meta->flags & PKT_F_LOCAL_OUT)))
        [[likely]] {
      pkts[kept++] = m;
      continue;
    }
    // Linux's ip6_fragment reuses the fragments a datagram came in (its fast path over the
    // frag_list) whenever they fit: the kernel here sends 560-byte fragments on as 560-byte
    // fragments, below the 1280 floor of its slow path. Cutting to the largest fragment gives
    // the same sizes or smaller.
    if (!fragment_and_send6(w, m, limit)) {
      w.counters.add(dp_counter::frag_fails);
      pkt_drop(w, m, dp_counter::drop_no_mbuf);
    }
  }
  return kept;
}

}  // namespace ctgate
