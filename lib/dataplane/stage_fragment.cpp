// Output fragmentation, after POST_ROUTING as Linux's ip_finish_output:
// a datagram larger than its output MTU with DF clear, and every
// reassembled datagram, leave as fragments. A reassembled datagram is cut
// to no more than the largest fragment it arrived in (frag_max_size), so
// ctgate never makes fragments bigger than the sender chose.
//
// Fragments are sent from here, a datagram's worth at a time, so the burst
// never grows past its array.
#include <rte_ip.h>

#include <cstring>

#include "dataplane/fragment_batch.h"
#include "dataplane/gateway.h"
#include "dataplane/icmp_error.h"
#include "dataplane/stages.h"
#include "packet/cksum.h"

namespace ctgate {

namespace {

// Linux's ip_options_fragment: options not marked "copied" appear in the
// first fragment only; later ones carry NOPs in their place, so every
// fragment's header keeps one length.
void strip_uncopied_options(uint8_t* opt, uint32_t len) {
  constexpr uint8_t k_end = 0, k_nop = 1, k_copied = 0x80;
  for (uint32_t i = 0; i < len;) {
    if (opt[i] == k_end) return;
    if (opt[i] == k_nop) {
      i++;
      continue;
    }
    if (i + 1 >= len) return;
    uint32_t olen = opt[i + 1];
    if (olen < 2 || i + olen > len) return;
    if (!(opt[i] & k_copied)) std::memset(opt + i, k_nop, olen);
    i += olen;
  }
}

// Cuts `m` into fragments of at most `mtu` IP bytes, sent to stage_tx. The
// original is consumed. False (nothing sent, `m` untouched) when mbufs ran
// out.
bool fragment_and_send(worker_ctx& w, rte_mbuf* m, uint32_t mtu) {
  pkt_meta* meta = meta_of(m);
  const uint32_t l3 = meta->l3_off;
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, l3);
  const uint32_t ihl = static_cast<uint32_t>(ip->version_ihl & 0x0f) * 4;
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  const uint16_t orig_frag = rte_be_to_cpu_16(ip->fragment_offset);
  const uint32_t base_off = static_cast<uint32_t>(orig_frag & RTE_IPV4_HDR_OFFSET_MASK) * 8;
  const uint16_t keep_bits = orig_frag & RTE_IPV4_HDR_DF_FLAG;
  const bool orig_more = orig_frag & RTE_IPV4_HDR_MF_FLAG;
  const uint32_t step = (mtu - ihl) & ~7u;  // payload per fragment but the last
  const uint32_t payload = total - ihl;
  if (step == 0) return false;

  fragment_batch batch(w, stage_tx);
  uint8_t hdr[60 + RTE_ETHER_HDR_LEN];
  std::memcpy(hdr, rte_pktmbuf_mtod(m, const uint8_t*), l3 + ihl);
  for (uint32_t off = 0; off < payload; off += step) {
    const uint32_t len = std::min(step, payload - off);
    rte_mbuf* f = rte_pktmbuf_alloc(w.gw->mbuf_pool);
    if (f == nullptr || rte_pktmbuf_tailroom(f) < l3 + ihl + len) {
      if (f != nullptr) rte_pktmbuf_free(f);
      if (off == 0) return false;
      batch.abandon(m);
      return true;
    }
    auto* p =
        reinterpret_cast<uint8_t*>(rte_pktmbuf_append(f, static_cast<uint16_t>(l3 + ihl + len)));
    std::memcpy(p, hdr, l3 + ihl);
    // rte_pktmbuf_read points into a contiguous original, copies otherwise.
    uint8_t* dst = p + l3 + ihl;
    if (const void* src = rte_pktmbuf_read(m, l3 + ihl + off, len, dst); src != dst)
      std::memcpy(dst, src, len);
    auto* fip = reinterpret_cast<rte_ipv4_hdr*>(p + l3);
    const bool last = off + len >= payload;
    uint16_t field = keep_bits | static_cast<uint16_t>((base_off + off) / 8);
    if (!last || orig_more) field |= RTE_IPV4_HDR_MF_FLAG;
    fip->fragment_offset = rte_cpu_to_be_16(field);
    fip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(ihl + len));
    fip->hdr_checksum = 0;
    fip->hdr_checksum = ipv4_hdr_cksum(fip);
    if (off == 0)
      strip_uncopied_options(hdr + l3 + sizeof(rte_ipv4_hdr), ihl - sizeof(rte_ipv4_hdr));

    batch.add(f, *meta, meta->l4_off, static_cast<uint16_t>(len));
  }
  batch.finish(m);
  return true;
}

}  // namespace

uint16_t stage_fragment(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  w.frag_pending = 0;
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const pkt_meta* meta = meta_of(m);
    const uint32_t ip_len = rte_pktmbuf_pkt_len(m) - meta->l3_off;
    uint32_t mtu = w.gw->ports[meta->out_port].mtu;
    if (ip_len <= mtu && meta->frag_max_size == 0) [[likely]] {
      pkts[kept++] = m;
      continue;
    }
    if (meta->frag_max_size != 0 && meta->frag_max_size < mtu) mtu = meta->frag_max_size;
    if (ip_len <= mtu) {
      pkts[kept++] = m;
      continue;
    }
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, meta->l3_off);
    // DF: only a reassembled datagram (Linux sets ignore_df on those) may be
    // cut, and stage_forward has already refused one whose fragments were
    // too big. Anything else with DF gets "fragmentation needed".
    if ((ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) &&
        meta->frag_max_size == 0) {
      w.counters.add(dp_counter::frag_fails);
      send_icmp_error(w, m, icmp::dest_unreach, icmp::frag_needed, mtu);
      pkt_drop(w, m, dp_counter::drop_mtu_exceeded);
      continue;
    }
    if (!fragment_and_send(w, m, mtu)) {
      w.counters.add(dp_counter::frag_fails);
      pkt_drop(w, m, dp_counter::drop_no_mbuf);
    }
  }
  return kept;
}

}  // namespace ctgate
