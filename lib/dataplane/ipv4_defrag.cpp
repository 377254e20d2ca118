#include "dataplane/ipv4_defrag.h"

#include <rte_ip.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include <algorithm>
#include <cstring>

#include "dataplane/gateway.h"
#include "packet/cksum.h"
#include "packet/parse.h"

namespace ctgate {

namespace {

enum : uint8_t {
  DEFRAG_FIRST_IN = 1u << 0,  // the fragment at offset 0 is held
  DEFRAG_LAST_IN = 1u << 1,   // the one without MF is held: len is final
  DEFRAG_USED = 1u << 2,
};

// Linux's ip_frag_ecn_table: the ECN bits of the reassembled datagram from
// the union of its fragments' (bit 1 << (tos & 3)); 0xff: an invalid mix
// of not-ECT with ECT or CE, and the datagram is dropped.
constexpr uint8_t k_ecn_not_ect = 1, k_ecn_ect1 = 2, k_ecn_ect0 = 4, k_ecn_ce = 8;
constexpr uint8_t ecn_result(uint8_t bits) {
  if ((bits & k_ecn_not_ect) && (bits & ~k_ecn_not_ect)) return 0xff;
  if ((bits & k_ecn_ce) && (bits & (k_ecn_ect0 | k_ecn_ect1))) return 3;  // INET_ECN_CE
  return 0;
}

// Linux's IP datagram ceiling; bigger reassembled datagrams are dropped
// ("Oversized IP packet").
constexpr uint32_t k_max_datagram = 65535;
// A reassembled frame must fit one reassembly buffer: the mbuf's 16-bit
// buffer length, less the Ethernet header it carries.
constexpr uint32_t k_reasm_buf = 65535;

uint32_t truesize_of(const rte_mbuf* m) {
  return static_cast<uint32_t>(sizeof(rte_mbuf)) + rte_pktmbuf_priv_size(m->pool) + m->buf_len;
}

uint32_t bucket_of(const ipv4_defrag& d, uint32_t src, uint32_t dst, uint16_t id, uint8_t proto) {
  return rte_jhash_3words(src, dst, static_cast<uint32_t>(id) << 16 | proto, d.hash_seed) &
         (d.n_buckets - 1);
}

// ---- queue bookkeeping ----

void age_unlink(ipv4_defrag& d, uint32_t qi) {
  defrag_queue& q = d.queues[qi];
  if (q.older != k_defrag_nil)
    d.queues[q.older].newer = q.newer;
  else
    d.oldest = q.newer;
  if (q.newer != k_defrag_nil)
    d.queues[q.newer].older = q.older;
  else
    d.newest = q.older;
}

void hash_unlink(ipv4_defrag& d, uint32_t qi) {
  defrag_queue& q = d.queues[qi];
  uint32_t* link = &d.buckets[bucket_of(d, q.src, q.dst, q.id, q.proto)];
  while (*link != qi) link = &d.queues[*link].hnext;
  *link = q.hnext;
}

void free_frag_ref(ipv4_defrag& d, uint32_t fi) {
  d.frag[fi] = defrag_frag{};
  d.frag[fi].next = d.free_frag;
  d.free_frag = fi;
  d.held_frags--;
}

// Returns a datagram's record, its fragments already gone.
void free_queue(ipv4_defrag& d, uint32_t qi) {
  defrag_queue& q = d.queues[qi];
  d.mem -= q.truesize + static_cast<uint32_t>(sizeof(defrag_queue));
  hash_unlink(d, qi);
  age_unlink(d, qi);
  q = defrag_queue{};
  q.newer = d.free_queue;
  d.free_queue = qi;
}

// Gives a datagram up (Linux's inet_frag_kill): its held fragments are
// dropped under `reason`.
void kill_queue(worker_ctx& w, ipv4_defrag& d, uint32_t qi, dp_counter reason) {
  for (uint32_t fi = d.queues[qi].frags; fi != k_defrag_nil;) {
    uint32_t next = d.frag[fi].next;
    pkt_drop(w, d.frag[fi].m, reason);
    free_frag_ref(d, fi);
    fi = next;
  }
  free_queue(d, qi);
}

uint32_t find_queue(const ipv4_defrag& d, uint32_t src, uint32_t dst, uint16_t id, uint8_t proto) {
  for (uint32_t qi = d.buckets[bucket_of(d, src, dst, id, proto)]; qi != k_defrag_nil;
       qi = d.queues[qi].hnext) {
    const defrag_queue& q = d.queues[qi];
    if (q.src == src && q.dst == dst && q.id == id && q.proto == proto) return qi;
  }
  return k_defrag_nil;
}

// Linux's inet_frag_alloc: no new datagram while the worker holds more than
// its share of ipfrag_high_thresh.
uint32_t new_queue(ipv4_defrag& d, uint32_t src, uint32_t dst, uint16_t id, uint8_t proto,
                   uint32_t now_ms) {
  if (d.high_thresh == 0 || d.mem > d.high_thresh || d.free_queue == k_defrag_nil)
    return k_defrag_nil;
  uint32_t qi = d.free_queue;
  defrag_queue& q = d.queues[qi];
  d.free_queue = q.newer;
  q = defrag_queue{};
  q.src = src;
  q.dst = dst;
  q.id = id;
  q.proto = proto;
  q.flags = DEFRAG_USED;
  // The timer starts with the datagram's first fragment and is never
  // pushed back (ip_frag_queue does not re-arm it).
  q.expires_ms = now_ms + d.time_ms;
  uint32_t b = bucket_of(d, src, dst, id, proto);
  q.hnext = d.buckets[b];
  d.buckets[b] = qi;
  q.older = d.newest;
  if (d.newest != k_defrag_nil)
    d.queues[d.newest].newer = qi;
  else
    d.oldest = qi;
  d.newest = qi;
  d.mem += static_cast<uint32_t>(sizeof(defrag_queue));
  return qi;
}

bool expired(const defrag_queue& q, uint32_t now_ms) {
  return static_cast<int32_t>(now_ms - q.expires_ms) >= 0;
}

// ---- inet_frag_queue_insert ----

enum class insert_result : uint8_t { ok, dup, overlap };

insert_result insert_frag(ipv4_defrag& d, defrag_queue& q, uint32_t fi) {
  defrag_frag& f = d.frag[fi];
  if (q.tail == k_defrag_nil) {
    f.run_head = true;
    f.run_end = f.end;
    q.frags = q.tail = q.tail_run = fi;
    return insert_result::ok;
  }
  defrag_frag& last = d.frag[q.tail];
  if (last.end < f.end) {
    // The common case: after everything held.
    if (f.offset < last.end) return insert_result::overlap;
    if (f.offset == last.end) {
      d.frag[q.tail_run].run_end = f.end;  // appended to the last run
    } else {
      f.run_head = true;
      f.run_end = f.end;
      q.tail_run = fi;
    }
    last.next = fi;
    q.tail = fi;
    return insert_result::ok;
  }
  // Inside what is held: a duplicate if one run covers it, an overlap if it
  // touches any run otherwise; else a new run in the hole.
  uint32_t prev = k_defrag_nil;
  for (uint32_t i = q.frags; i != k_defrag_nil; i = d.frag[i].next) {
    const defrag_frag& c = d.frag[i];
    if (c.run_head && f.end > c.offset && f.offset < c.run_end)
      return (f.offset >= c.offset && f.end <= c.run_end) ? insert_result::dup
                                                          : insert_result::overlap;
    if (c.offset < f.offset) prev = i;
  }
  f.run_head = true;
  f.run_end = f.end;
  if (prev == k_defrag_nil) {
    f.next = q.frags;
    q.frags = fi;
  } else {
    f.next = d.frag[prev].next;
    d.frag[prev].next = fi;
  }
  return insert_result::ok;
}

// ---- ip_frag_reasm ----

// Builds the whole datagram in one reassembly buffer, from the fragment at
// offset 0's headers and every fragment's payload. Null (and the datagram
// dropped) when it cannot be built. `last` is the completing fragment,
// whose place in the burst the datagram takes.
rte_mbuf* reassemble(worker_ctx& w, ipv4_defrag& d, uint32_t qi, rte_mbuf* last) {
  defrag_queue& q = d.queues[qi];
  rte_mbuf* head = d.frag[q.frags].m;
  const pkt_meta* hm = meta_of(head);
  const uint32_t hdr_end = hm->l4_off;  // Ethernet + IP header with its options
  const uint32_t ihl = hm->l4_off - hm->l3_off;
  const uint8_t ecn = ecn_result(q.ecn);
  if (ihl + q.len > k_max_datagram || hdr_end + q.len > k_reasm_buf) {
    w.counters.add(dp_counter::reasm_fails);
    kill_queue(w, d, qi, dp_counter::drop_frag_oversize);
    return nullptr;
  }
  if (ecn == 0xff) {
    w.counters.add(dp_counter::reasm_fails);
    kill_queue(w, d, qi, dp_counter::drop_frag_ecn);
    return nullptr;
  }
  rte_mbuf* r = rte_pktmbuf_alloc(d.reasm_pool);
  if (r == nullptr) {
    w.counters.add(dp_counter::reasm_fails);
    kill_queue(w, d, qi, dp_counter::drop_frag_no_buffer);
    return nullptr;
  }
  r->data_off = 0;  // the frame may need the whole buffer
  auto* out =
      reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(hdr_end + q.len)));
  std::memcpy(out, rte_pktmbuf_mtod(head, const uint8_t*), hdr_end);
  for (uint32_t fi = q.frags; fi != k_defrag_nil; fi = d.frag[fi].next) {
    const defrag_frag& f = d.frag[fi];
    const pkt_meta* fm = meta_of(f.m);
    std::memcpy(out + hdr_end + f.offset, rte_pktmbuf_mtod_offset(f.m, const uint8_t*, fm->l4_off),
                f.end - f.offset);
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(out + hm->l3_off);
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(ihl + q.len));
  // DF only if the largest fragment had it (IPSKB_FRAG_PMTU): refragmenting
  // then keeps DF, and path-MTU discovery keeps working through us.
  const bool df = q.max_df_size == q.max_size;
  ip->fragment_offset = df ? rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG) : 0;
  ip->type_of_service |= ecn;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = ipv4_hdr_cksum(ip);

  const pkt_meta* lm = meta_of(last);
  pkt_meta* rm = meta_of(r);
  parse_result pr = parse_frame(out, hdr_end + q.len, false, rm);
  rm->in_port = lm->in_port;
  rm->flags |= lm->flags & (PKT_F_TRACE | PKT_F_L2_MULTICAST | PKT_F_LOCAL_OUT);
  rm->trace_id = lm->trace_id;
  rm->mark = lm->mark;
  rm->zone = lm->zone;
  rm->frag_max_size = q.max_size;
  r->port = last->port;

  // The fragments are now in the datagram: free them, not as drops.
  uint32_t n_frags = 0;
  for (uint32_t fi = q.frags; fi != k_defrag_nil;) {
    uint32_t next = d.frag[fi].next;
    rte_pktmbuf_free(d.frag[fi].m);
    free_frag_ref(d, fi);
    n_frags++;
    fi = next;
  }
  free_queue(d, qi);
  w.counters.add(dp_counter::reasm_frags, n_frags);
  if (pr != parse_result::ipv4) [[unlikely]] {
    // The head fragment parsed before; only a corrupt length could fail.
    w.counters.add(dp_counter::reasm_fails);
    pkt_drop(w, r, dp_counter::drop_frag_discarded);
    return nullptr;
  }
  w.counters.add(dp_counter::reasm_oks);
  w.frag_pending++;  // it leaves cut to its largest fragment
  return r;
}

// ---- ip_frag_queue ----

// Takes one fragment. Returns the reassembled datagram when this fragment
// completes one, else null (the fragment is held or was dropped).
rte_mbuf* gather(worker_ctx& w, ipv4_defrag& d, rte_mbuf* m) {
  pkt_meta* meta = meta_of(m);
  w.counters.add(dp_counter::reasm_reqds);
  auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, meta->l3_off);
  const uint16_t frag_field = rte_be_to_cpu_16(ip->fragment_offset);
  const bool more = frag_field & RTE_IPV4_HDR_MF_FLAG;
  const uint32_t offset = static_cast<uint32_t>(frag_field & RTE_IPV4_HDR_OFFSET_MASK) * 8;
  uint32_t end = offset + meta->l4_len;
  const uint32_t ihl = meta->l4_off - meta->l3_off;

  uint32_t qi = find_queue(d, meta->src, meta->dst, ip->packet_id, meta->l4.proto);
  if (qi != k_defrag_nil && expired(d.queues[qi], w.now_ms)) {
    // Its timer would have fired already (ip_expire).
    w.counters.add(dp_counter::reasm_fails);
    w.counters.add(dp_counter::reasm_timeout);
    kill_queue(w, d, qi, dp_counter::drop_frag_timeout);
    qi = k_defrag_nil;
  }
  if (qi == k_defrag_nil) {
    qi = new_queue(d, meta->src, meta->dst, ip->packet_id, meta->l4.proto, w.now_ms);
    if (qi == k_defrag_nil) {
      w.counters.add(dp_counter::reasm_fails);
      pkt_drop(w, m, dp_counter::drop_frag_mem);
      return nullptr;
    }
  }
  defrag_queue& q = d.queues[qi];

  // Where the fragment sits, and whether it agrees with what is known of
  // the datagram's length.
  bool corrupt = false;
  if (!more) {
    // The last fragment: nothing may lie beyond it, and a second last
    // fragment must end at the same place.
    if (end < q.len || ((q.flags & DEFRAG_LAST_IN) && end != q.len))
      corrupt = true;
    else {
      q.flags |= DEFRAG_LAST_IN;
      q.len = end;
    }
  } else {
    end &= ~7u;  // a non-last fragment carries whole 8-byte blocks
    if (end > q.len) {
      if (q.flags & DEFRAG_LAST_IN)
        corrupt = true;  // bytes beyond the last fragment
      else
        q.len = end;
    }
  }
  if (corrupt || end == offset) {
    w.counters.add(dp_counter::reasm_fails);
    pkt_drop(w, m, dp_counter::drop_frag_discarded);
    kill_queue(w, d, qi, dp_counter::drop_frag_discarded);
    return nullptr;
  }

  if (d.free_frag == k_defrag_nil) {
    // More fragments than the slots sized from high_thresh; Linux would
    // still queue this one. Dropping the fragment keeps the datagram.
    pkt_drop(w, m, dp_counter::drop_frag_mem);
    return nullptr;
  }
  uint32_t fi = d.free_frag;
  d.free_frag = d.frag[fi].next;
  d.held_frags++;
  d.frag[fi] = defrag_frag{};
  d.frag[fi].m = m;
  d.frag[fi].offset = offset;
  d.frag[fi].end = end;
  switch (insert_frag(d, q, fi)) {
    case insert_result::ok: break;
    case insert_result::dup:
      // Dropped; the datagram keeps what it has (RFC 5722 amended).
      free_frag_ref(d, fi);
      pkt_drop(w, m, dp_counter::drop_frag_duplicate);
      return nullptr;
    case insert_result::overlap:
      free_frag_ref(d, fi);
      w.counters.add(dp_counter::reasm_overlaps);
      w.counters.add(dp_counter::reasm_fails);
      pkt_drop(w, m, dp_counter::drop_frag_overlap);
      kill_queue(w, d, qi, dp_counter::drop_frag_overlap);
      return nullptr;
  }
  // Held: the datagram's mbufs count against the memory bound, and this
  // fragment's size against what refragmentation may produce.
  const uint32_t ts = truesize_of(m);
  q.truesize += ts;
  d.mem += ts;
  q.meat += end - offset;
  q.ecn |= static_cast<uint8_t>(1u << (ip->type_of_service & 3));
  if (offset == 0) q.flags |= DEFRAG_FIRST_IN;
  const auto fragsize = static_cast<uint16_t>(end - offset + ihl);
  q.max_size = std::max(q.max_size, fragsize);
  if ((frag_field & RTE_IPV4_HDR_DF_FLAG) && fragsize > q.max_df_size) q.max_df_size = fragsize;

  if ((q.flags & (DEFRAG_FIRST_IN | DEFRAG_LAST_IN)) == (DEFRAG_FIRST_IN | DEFRAG_LAST_IN) &&
      q.meat == q.len)
    return reassemble(w, d, qi, m);
  return nullptr;
}

}  // namespace

ipv4_defrag* ipv4_defrag_create(const ipfrag_config& cfg, uint16_t workers,
                                rte_mempool* reasm_pool) {
  auto* d = static_cast<ipv4_defrag*>(rte_zmalloc("ipv4_defrag", sizeof(ipv4_defrag), 64));
  if (d == nullptr) return nullptr;
  new (d) ipv4_defrag();
  d->high_thresh = cfg.high_thresh / std::max<uint16_t>(workers, 1);
  d->time_ms = cfg.time_ms;
  d->reasm_pool = reasm_pool;
  d->hash_seed = static_cast<uint32_t>(rte_rand());
  // Slots for twice what the memory bound holds in full-size mbufs (a
  // datagram already started may pass the bound, as in Linux), at least 256.
  constexpr uint32_t k_min_truesize = sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE;
  d->n_frags = std::max<uint32_t>(256, 2 * (d->high_thresh / k_min_truesize + 1));
  d->n_queues = d->n_frags;
  d->n_buckets = static_cast<uint32_t>(rte_align32pow2(d->n_queues));
  d->buckets = static_cast<uint32_t*>(rte_malloc("defrag_buckets", d->n_buckets * 4, 64));
  d->queues = static_cast<defrag_queue*>(
      rte_malloc("defrag_queues", d->n_queues * sizeof(defrag_queue), 64));
  d->frag =
      static_cast<defrag_frag*>(rte_malloc("defrag_frags", d->n_frags * sizeof(defrag_frag), 64));
  if (d->buckets == nullptr || d->queues == nullptr || d->frag == nullptr) {
    ipv4_defrag_destroy(d);
    return nullptr;
  }
  std::fill(d->buckets, d->buckets + d->n_buckets, k_defrag_nil);
  for (uint32_t i = 0; i < d->n_queues; i++) {
    new (&d->queues[i]) defrag_queue();
    d->queues[i].newer = i + 1 < d->n_queues ? i + 1 : k_defrag_nil;
  }
  d->free_queue = 0;
  for (uint32_t i = 0; i < d->n_frags; i++) {
    new (&d->frag[i]) defrag_frag();
    d->frag[i].next = i + 1 < d->n_frags ? i + 1 : k_defrag_nil;
  }
  d->free_frag = 0;
  return d;
}

void ipv4_defrag_destroy(ipv4_defrag* d) {
  if (d == nullptr) return;
  if (d->queues != nullptr && d->frag != nullptr)
    for (uint32_t qi = d->oldest; qi != k_defrag_nil; qi = d->queues[qi].newer)
      for (uint32_t fi = d->queues[qi].frags; fi != k_defrag_nil; fi = d->frag[fi].next)
        rte_pktmbuf_free(d->frag[fi].m);
  rte_free(d->buckets);
  rte_free(d->queues);
  rte_free(d->frag);
  rte_free(d);
}

uint16_t ipv4_defrag_hook(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                          verdict* v) {
  // Most bursts hold no fragment: stage_parse said so once for all.
  if (!w.frags_in_burst) [[likely]]
    return 0;
  uint16_t taken = 0;
  for (uint16_t i = 0; i < n; i++) {
    pkt_meta* m = meta_of(pkts[i]);
    // Whole datagrams, and packets already tracked (a LOCAL_OUT answer
    // built with its flow), pass (ipv4_conntrack_defrag).
    if (!(m->flags & PKT_F_FRAGMENT) || m->ct != nullptr) [[likely]]
      continue;
    if (rte_mbuf* whole = gather(w, *w.defrag, pkts[i]); whole != nullptr) {
      pkts[i] = whole;  // the datagram goes on in the completing fragment's place
      continue;
    }
    v[i] = verdict::stolen;  // held, or dropped with its reason
    taken++;
  }
  return taken;
}

void ipv4_defrag_expire(worker_ctx& w, uint32_t budget) {
  ipv4_defrag& d = *w.defrag;
  while (budget-- > 0 && d.oldest != k_defrag_nil && expired(d.queues[d.oldest], w.now_ms)) {
    w.counters.add(dp_counter::reasm_fails);
    w.counters.add(dp_counter::reasm_timeout);
    kill_queue(w, d, d.oldest, dp_counter::drop_frag_timeout);
  }
}

}  // namespace ctgate
