// The fragments of one datagram on their way to TX, a burst at a time, for both families'
// fragmentation stages (stage_fragment.cpp, stage_fragment6.cpp): the burst array never grows,
// and the original is accounted for once, whichever way the cutting ends.
#pragma once

#include <rte_mbuf.h>

#include "dataplane/gateway.h"

namespace ctgate {

class fragment_batch {
 public:
  using tx_fn = uint16_t (*)(worker_ctx&, rte_mbuf**, uint16_t);
  fragment_batch(worker_ctx& w, tx_fn tx) : w_(w), tx_(tx) {}

  // `f` carries `len` bytes of the original's payload, its L4 data at `l4_off`; it inherits the
  // original's metadata but not its conntrack entry, which the original keeps and releases.
  void add(rte_mbuf* f, const pkt_meta& orig, uint16_t l4_off, uint16_t len) {
    pkt_meta* fm = meta_of(f);
    *fm = orig;
    fm->ct = nullptr;
    fm->frag_max_size = 0;
    fm->flags |= PKT_F_FRAGMENT;
    fm->l4_off = l4_off;
    fm->l4_len = len;
    out_[k_++] = f;
    n_++;
    if (k_ == k_max_burst) {
      tx_(w_, out_, k_);
      k_ = 0;
    }
  }
  uint32_t added() const { return n_; }

  // Every fragment is made: they leave, and the original is freed with its conntrack reference.
  void finish(rte_mbuf* orig) {
    if (k_ != 0) tx_(w_, out_, k_);
    w_.counters.add(dp_counter::frag_oks);
    w_.counters.add(dp_counter::frag_creates, n_);
    ct::ct_release(w_.ct, meta_of(orig));
    rte_pktmbuf_free(orig);
  }

  // Mbufs ran out after part of the datagram left: the rest is lost, as when Linux's
  // ip_do_fragment or ip6_fragment fails halfway.
  void abandon(rte_mbuf* orig) {
    rte_pktmbuf_free_bulk(out_, k_);
    w_.counters.add(dp_counter::frag_fails);
    pkt_drop(w_, orig, dp_counter::drop_no_mbuf);
  }

 private:
  worker_ctx& w_;
  tx_fn tx_;
  rte_mbuf* out_[k_max_burst];
  uint16_t k_ = 0;
  uint32_t n_ = 0;
};

}  // namespace ctgate
