#include "dataplane/defrag.h"

#include <rte_ip.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include <algorithm>
#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/icmp6_error.h"
#include "packet/cksum.h"
#include "packet/parse.h"

namespace ctgate {

namespace {

enum : uint8_t {
  DEFRAG_FIRST_IN = 1u << 0,  // the fragment at offset 0 is held
  DEFRAG_LAST_IN = 1u << 1,   // the one without MF is held: len is final
  DEFRAG_USED = 1u << 2,
};

// Linux's ip_frag_ecn_table: the ECN bits of the reassembled datagram from the union of its
// fragments' (bit 1 << (ecn & 3)); 0xff: an invalid mix of not-ECT with ECT or CE, and the
// datagram is dropped. IPv6 uses the same table.
constexpr uint8_t k_ecn_not_ect = 1, k_ecn_ect1 = 2, k_ecn_ect0 = 4, k_ecn_ce = 8;
constexpr uint8_t ecn_result(uint8_t bits) {
  if ((bits & k_ecn_not_ect) && (bits & ~k_ecn_not_ect)) return 0xff;
  if ((bits & k_ecn_ce) && (bits & (k_ecn_ect0 | k_ecn_ect1))) return 3;  // INET_ECN_CE
  return 0;
}

// Linux's datagram ceilings: an IPv4 total length, an IPv6 payload length (IPV6_MAXPLEN).
constexpr uint32_t k_max_datagram = 65535;
// A reassembled frame must fit one reassembly buffer: the mbuf's 16-bit buffer length.
constexpr uint32_t k_reasm_buf = 65535;

uint32_t truesize_of(const rte_mbuf* m) {
  return static_cast<uint32_t>(sizeof(rte_mbuf)) + rte_pktmbuf_priv_size(m->pool) + m->buf_len;
}

uint32_t bucket_of(const defrag_table& d, const defrag_key& k) {
  // Seeded per worker: chosen ids cannot build long chains.
  return rte_jhash_32b(reinterpret_cast<const uint32_t*>(&k), sizeof(k) / 4, d.hash_seed) &
         (d.n_buckets - 1);
}

// ---- queue bookkeeping ----

void age_unlink(defrag_table& d, uint32_t qi) {
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

void hash_unlink(defrag_table& d, uint32_t qi) {
  defrag_queue& q = d.queues[qi];
  uint32_t* link = &d.buckets[bucket_of(d, q.key)];
  while (*link != qi) link = &d.queues[*link].hnext;
  *link = q.hnext;
}

void free_frag_ref(defrag_table& d, uint32_t fi) {
  d.frag[fi] = defrag_frag{};
  d.frag[fi].next = d.free_frag;
  d.free_frag = fi;
  d.held_frags--;
}

// Returns a datagram's record, its fragments already gone.
void free_queue(defrag_table& d, uint32_t qi) {
  defrag_queue& q = d.queues[qi];
  d.mem -= q.truesize + static_cast<uint32_t>(sizeof(defrag_queue));
  hash_unlink(d, qi);
  age_unlink(d, qi);
  q = defrag_queue{};
  q.newer = d.free_queue;
  d.free_queue = qi;
}

// Gives a datagram up (Linux's inet_frag_kill): its held fragments are dropped under `reason`.
void kill_queue(worker_ctx& w, defrag_table& d, uint32_t qi, dp_counter reason) {
  for (uint32_t fi = d.queues[qi].frags; fi != k_defrag_nil;) {
    uint32_t next = d.frag[fi].next;
    pkt_drop(w, d.frag[fi].m, reason);
    free_frag_ref(d, fi);
    fi = next;
  }
  free_queue(d, qi);
}

uint32_t find_queue(const defrag_table& d, const defrag_key& k) {
  for (uint32_t qi = d.buckets[bucket_of(d, k)]; qi != k_defrag_nil; qi = d.queues[qi].hnext)
    if (std::memcmp(&d.queues[qi].key, &k, sizeof(k)) == 0) return qi;
  return k_defrag_nil;
}

// Linux's inet_frag_alloc: no new datagram while the worker holds more than its share of
// high_thresh.
uint32_t new_queue(defrag_table& d, const defrag_key& k, uint32_t now_ms) {
  if (d.high_thresh == 0 || d.mem > d.high_thresh || d.free_queue == k_defrag_nil)
    return k_defrag_nil;
  uint32_t qi = d.free_queue;
  defrag_queue& q = d.queues[qi];
  d.free_queue = q.newer;
  q = defrag_queue{};
  q.key = k;
  q.flags = DEFRAG_USED;
  // The timer starts with the datagram's first fragment and is never pushed back
  // (ip_frag_queue and nf_ct_frag6_queue do not re-arm it).
  q.expires_ms = now_ms + d.time_ms;
  uint32_t b = bucket_of(d, k);
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

insert_result insert_frag(defrag_table& d, defrag_queue& q, uint32_t fi) {
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
  // Inside what is held: a duplicate if one run covers it, an overlap if it touches any run
  // otherwise; else a new run in the hole.
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

// ---- ip_frag_reasm, nf_ct_frag6_reasm ----

// The datagram's headers, from the fragment at offset 0, written at `out`; returns their
// length (Ethernet included), or 0 when the datagram is too big.
//
// IPv4: the IP header with its options, the total length, DF only if the largest fragment had
// it (IPSKB_FRAG_PMTU: refragmenting keeps DF, so path-MTU discovery works through us).
// IPv6: the headers before the fragment header (Linux's unfragmentable part), the next header
// that named it now naming what it carried, and the payload length; the fragment header goes.
uint32_t rebuild_headers(const defrag_table& d, const defrag_queue& q, const rte_mbuf* head,
                         uint8_t ecn, uint8_t* out) {
  const pkt_meta* hm = meta_of(const_cast<rte_mbuf*>(head));
  const auto* src = rte_pktmbuf_mtod(head, const uint8_t*);
  if (!d.ipv6) {
    const uint32_t hdr_end = hm->l4_off;
    const uint32_t ihl = hm->l4_off - hm->l3_off;
    if (ihl + q.len > k_max_datagram || hdr_end + q.len > k_reasm_buf) return 0;
    std::memcpy(out, src, hdr_end);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(out + hm->l3_off);
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(ihl + q.len));
    const bool df = q.max_df_size == q.max_size;
    ip->fragment_offset = df ? rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG) : 0;
    ip->type_of_service |= ecn;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = ipv4_hdr_cksum(ip);
    return hdr_end;
  }
  const uint32_t hdr_end = q.fhoff;
  const uint32_t payload = hdr_end - hm->l3_off - 40 + q.len;
  if (payload > k_max_datagram || hdr_end + q.len > k_reasm_buf) return 0;
  std::memcpy(out, src, hdr_end);
  out[q.nhoff] = src[q.fhoff];  // the fragment header's next header
  uint8_t* ip = out + hm->l3_off;
  const auto be = rte_cpu_to_be_16(static_cast<uint16_t>(payload));
  std::memcpy(ip + 4, &be, 2);
  ip[1] |= static_cast<uint8_t>(ecn << 4);  // the traffic class's ECN bits
  return hdr_end;
}

// Builds the whole datagram in one reassembly buffer, from the fragment at offset 0's headers
// and every fragment's payload. Null (and the datagram dropped) when it cannot be built. `last`
// is the completing fragment, whose place in the burst the datagram takes.
rte_mbuf* reassemble(worker_ctx& w, defrag_table& d, uint32_t qi, rte_mbuf* last) {
  defrag_queue& q = d.queues[qi];
  rte_mbuf* head = d.frag[q.frags].m;
  const uint8_t ecn = ecn_result(q.ecn);
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
  auto* out = rte_pktmbuf_mtod(r, uint8_t*);
  const uint32_t hdr_end = rebuild_headers(d, q, head, ecn, out);
  if (hdr_end == 0 || hdr_end + q.len > r->buf_len) {
    rte_pktmbuf_free(r);
    w.counters.add(dp_counter::reasm_fails);
    kill_queue(w, d, qi, dp_counter::drop_frag_oversize);
    return nullptr;
  }
  rte_pktmbuf_append(r, static_cast<uint16_t>(hdr_end + q.len));
  for (uint32_t fi = q.frags; fi != k_defrag_nil; fi = d.frag[fi].next) {
    const defrag_frag& f = d.frag[fi];
    std::memcpy(out + hdr_end + f.offset, rte_pktmbuf_mtod_offset(f.m, const uint8_t*, f.data_off),
                f.end - f.offset);
  }

  const pkt_meta* lm = meta_of(last);
  pkt_meta* rm = meta_of(r);
  parse_result pr = parse_frame(out, hdr_end + q.len, false, rm);
  rm->in_port = lm->in_port;
  rm->flags |= lm->flags & (PKT_F_TRACE | PKT_F_L2_MULTICAST | PKT_F_LOCAL_OUT);
  rm->trace_id = lm->trace_id;
  rm->mark = lm->mark;
  rm->zone = lm->zone;
  // Linux's frag_max_size: IPv4 the largest fragment's IP bytes, IPv6 its payload length
  // plus the fixed header; both are the fragment's size on the wire, less Ethernet.
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
  if (pr != (d.ipv6 ? parse_result::ipv6 : parse_result::ipv4)) [[unlikely]] {
    // The head fragment parsed before; only a corrupt length could fail.
    w.counters.add(dp_counter::reasm_fails);
    pkt_drop(w, r, dp_counter::drop_frag_discarded);
    return nullptr;
  }
  w.counters.add(dp_counter::reasm_oks);
  w.frag_pending++;  // it leaves cut to its largest fragment
  return r;
}

// ---- ip_frag_queue, nf_ct_frag6_queue ----

// One fragment, read by its family's front end.
struct frag_view {
  defrag_key key;
  uint32_t offset = 0;  // payload bytes
  uint32_t end = 0;
  bool more = false;
  bool df = false;
  uint8_t ecn = 0;                // the header's ECN bits
  uint16_t size = 0;              // its IP bytes (frag_max_size's unit)
  uint16_t data_off = 0;          // its payload's offset in the frame
  uint16_t nhoff = 0, fhoff = 0;  // IPv6: see defrag_queue
};

// What gather did with a fragment.
struct gather_result {
  rte_mbuf* whole = nullptr;  // the datagram this fragment completed
  bool pass = false;          // the fragment goes on as it is (IPv6 only)
};

// Takes one fragment (Linux's ip_frag_queue and nf_ct_frag6_queue, which differ where noted).
gather_result gather(worker_ctx& w, defrag_table& d, rte_mbuf* m, frag_view& v) {
  w.counters.add(dp_counter::reasm_reqds);
  uint32_t qi = find_queue(d, v.key);
  if (qi != k_defrag_nil && expired(d.queues[qi], w.now_ms)) {
    // Its timer would have fired already (ip_expire).
    w.counters.add(dp_counter::reasm_fails);
    w.counters.add(dp_counter::reasm_timeout);
    kill_queue(w, d, qi, dp_counter::drop_frag_timeout);
    qi = k_defrag_nil;
  }
  if (qi == k_defrag_nil) {
    qi = new_queue(d, v.key, w.now_ms);
    if (qi == k_defrag_nil) {
      w.counters.add(dp_counter::reasm_fails);
      pkt_drop(w, m, dp_counter::drop_frag_mem);
      return {};
    }
  }
  defrag_queue& q = d.queues[qi];
  if (d.ipv6 && v.end > k_max_datagram) {
    // "offset is too large": the fragment goes, the datagram waits for its timer.
    pkt_drop(w, m, dp_counter::drop_frag_oversize);
    return {};
  }

  // Where the fragment sits, and whether it agrees with what is known of the datagram's
  // length.
  bool corrupt = false;
  if (!v.more) {
    // The last fragment: nothing may lie beyond it, and a second last fragment must end at
    // the same place.
    if (v.end < q.len || ((q.flags & DEFRAG_LAST_IN) && v.end != q.len))
      corrupt = true;
    else {
      q.flags |= DEFRAG_LAST_IN;
      q.len = v.end;
    }
  } else {
    if (v.end & 7u) {
      if (d.ipv6) {
        // RFC 8200 wants a parameter problem; conntrack's reassembly gives the datagram up
        // and lets this fragment go on as it is, for IPv6's own input to judge.
        w.counters.add(dp_counter::reasm_fails);
        kill_queue(w, d, qi, dp_counter::drop_frag_discarded);
        return {nullptr, true};
      }
      v.end &= ~7u;  // an IPv4 non-last fragment is cut to whole 8-byte blocks
    }
    if (v.end > q.len) {
      if (q.flags & DEFRAG_LAST_IN)
        corrupt = true;  // bytes beyond the last fragment
      else
        q.len = v.end;
    }
  }
  if (corrupt || v.end == v.offset) {
    w.counters.add(dp_counter::reasm_fails);
    pkt_drop(w, m, dp_counter::drop_frag_discarded);
    kill_queue(w, d, qi, dp_counter::drop_frag_discarded);
    return {};
  }

  if (d.free_frag == k_defrag_nil) {
    // More fragments than the slots sized from high_thresh; Linux would still queue this
    // one. Dropping the fragment keeps the datagram.
    pkt_drop(w, m, dp_counter::drop_frag_mem);
    return {};
  }
  uint32_t fi = d.free_frag;
  d.free_frag = d.frag[fi].next;
  d.held_frags++;
  d.frag[fi] = defrag_frag{};
  d.frag[fi].m = m;
  d.frag[fi].offset = v.offset;
  d.frag[fi].end = v.end;
  d.frag[fi].data_off = v.data_off;
  switch (insert_frag(d, q, fi)) {
    case insert_result::ok: break;
    case insert_result::dup:
      // Dropped; the datagram keeps what it has (RFC 5722 amended).
      free_frag_ref(d, fi);
      pkt_drop(w, m, dp_counter::drop_frag_duplicate);
      return {};
    case insert_result::overlap:
      free_frag_ref(d, fi);
      w.counters.add(dp_counter::reasm_overlaps);
      w.counters.add(dp_counter::reasm_fails);
      pkt_drop(w, m, dp_counter::drop_frag_overlap);
      kill_queue(w, d, qi, dp_counter::drop_frag_overlap);
      return {};
  }
  // Held: the datagram's mbufs count against the memory bound, and this fragment's size
  // against what refragmentation may produce.
  const uint32_t ts = truesize_of(m);
  q.truesize += ts;
  d.mem += ts;
  q.meat += v.end - v.offset;
  q.ecn |= static_cast<uint8_t>(1u << (v.ecn & 3));
  if (v.offset == 0) {
    q.flags |= DEFRAG_FIRST_IN;
    q.nhoff = v.nhoff;
    q.fhoff = v.fhoff;
  }
  q.max_size = std::max(q.max_size, v.size);
  if (v.df && v.size > q.max_df_size) q.max_df_size = v.size;

  if ((q.flags & (DEFRAG_FIRST_IN | DEFRAG_LAST_IN)) == (DEFRAG_FIRST_IN | DEFRAG_LAST_IN) &&
      q.meat == q.len)
    return {reassemble(w, d, qi, m), false};
  return {};
}

// ---- the families' front ends ----

gather_result gather4(worker_ctx& w, rte_mbuf* m) {
  const pkt_meta* meta = meta_of(m);
  auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, meta->l3_off);
  const uint16_t frag_field = rte_be_to_cpu_16(ip->fragment_offset);
  frag_view v;
  std::memset(&v.key, 0, sizeof(v.key));
  v.key.src[0] = meta->src;
  v.key.dst[0] = meta->dst;
  v.key.id = ip->packet_id;
  v.key.proto = meta->l4.proto;
  v.more = frag_field & RTE_IPV4_HDR_MF_FLAG;
  v.df = frag_field & RTE_IPV4_HDR_DF_FLAG;
  v.offset = static_cast<uint32_t>(frag_field & RTE_IPV4_HDR_OFFSET_MASK) * 8;
  v.end = v.offset + meta->l4_len;
  v.ecn = ip->type_of_service;
  v.data_off = meta->l4_off;
  // Its IP bytes as kept: a non-last fragment's payload is cut to whole 8-byte blocks.
  const uint32_t kept = v.more ? (v.end & ~7u) - v.offset : meta->l4_len;
  v.size = static_cast<uint16_t>(kept + (meta->l4_off - meta->l3_off));
  return gather(w, *w.defrag, m, v);
}

// Linux's find_prev_fhdr: the fragment header's offset from the IPv6 header, and the offset of
// the next-header byte naming it, walking only the headers that may precede it. False when
// there is none to find (an unknown header or no-next-header first).
bool find_frag_header(const uint8_t* ip, uint32_t end, uint16_t* nhoff, uint16_t* fhoff) {
  uint8_t next = ip[6];
  uint32_t prev = 6, off = 40;
  for (unsigned n = 0; next != IPPROTO_FRAGMENT; n++) {
    if (n == k_max_ipv6_ext) return false;
    if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_AH &&
        next != IPPROTO_DSTOPTS)
      return false;
    if (off + 8 > end) return false;
    const uint32_t hlen = next == IPPROTO_AH ? (ip[off + 1] + 2u) * 4 : (ip[off + 1] + 1u) * 8;
    prev = off;
    next = ip[off];
    off += hlen;
  }
  if (off + 8 > end) return false;
  *nhoff = static_cast<uint16_t>(prev);
  *fhoff = static_cast<uint16_t>(off);
  return true;
}

// Linux's ipv6frag_thdr_truncated: a first fragment must hold its upper-layer header (RFC 8200
// 4.5); one that does not is let through as it is.
bool first_fragment_truncated(const pkt_meta* m) {
  uint32_t need = 1;
  if (m->l4.proto == IPPROTO_TCP) need = 20;
  if (m->l4.proto == IPPROTO_UDP || m->l4.proto == IPPROTO_ICMPV6) need = 8;
  return m->l4_len < need;
}

// An atomic fragment no datagram is waiting for: a datagram of one fragment, which
// nf_ct_frag6_reasm would rebuild without the fragment header. Done in place: the headers before
// the fragment header move up over it.
gather_result strip_atomic(worker_ctx& w, rte_mbuf* m, const frag_view& v) {
  pkt_meta* meta = meta_of(m);
  auto* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint8_t next = p[v.fhoff];
  std::memmove(p + 8, p, v.fhoff);
  rte_pktmbuf_adj(m, 8);
  p = rte_pktmbuf_mtod(m, uint8_t*);
  p[v.nhoff] = next;
  uint8_t* ip = p + meta->l3_off;
  const uint16_t plen = rte_cpu_to_be_16(static_cast<uint16_t>((ip[4] << 8 | ip[5]) - 8));
  std::memcpy(ip + 4, &plen, 2);
  const pkt_meta before = *meta;
  if (parse_frame(p, rte_pktmbuf_data_len(m), false, meta) != parse_result::ipv6) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_frag_discarded);  // it parsed before: cannot happen
    return {};
  }
  meta->in_port = before.in_port;
  meta->flags |= before.flags & (PKT_F_TRACE | PKT_F_L2_MULTICAST | PKT_F_LOCAL_OUT);
  meta->trace_id = before.trace_id;
  meta->mark = before.mark;
  meta->zone = before.zone;
  w.counters.add(dp_counter::reasm_oks);
  w.counters.add(dp_counter::reasm_frags);
  return {m, false};
}

gather_result gather6(worker_ctx& w, rte_mbuf* m) {
  const pkt_meta* meta = meta_of(m);
  const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, meta->l3_off);
  const uint32_t payload = static_cast<uint32_t>(ip[4]) << 8 | ip[5];
  frag_view v;
  if (!find_frag_header(ip, 40 + payload, &v.nhoff, &v.fhoff)) return {nullptr, true};
  if ((meta->flags & PKT_F_FIRST_FRAGMENT) && first_fragment_truncated(meta))
    return {nullptr, true};
  const uint8_t* fh = ip + v.fhoff;
  const uint16_t frag_field = static_cast<uint16_t>(fh[2] << 8 | fh[3]);
  std::memset(&v.key, 0, sizeof(v.key));
  std::memcpy(v.key.src, ip + 8, 16);
  std::memcpy(v.key.dst, ip + 24, 16);
  std::memcpy(&v.key.id, fh + 4, 4);
  // fe80::/10 or ff00::/8: the same addresses may be another link's datagram.
  if (ip[24] == 0xff || (ip[24] == 0xfe && (ip[25] & 0xc0) == 0x80))
    v.key.iif = static_cast<uint16_t>(meta->in_port + 1);
  v.more = frag_field & 1;
  v.offset = frag_field & ~7u;
  v.end = v.offset + payload - (v.fhoff + 8 - 40);
  v.ecn = static_cast<uint8_t>(ip[1] >> 4);
  v.size = static_cast<uint16_t>(std::min<uint32_t>(40 + payload, UINT16_MAX));
  v.data_off = static_cast<uint16_t>(meta->l3_off + v.fhoff + 8);
  v.nhoff = static_cast<uint16_t>(meta->l3_off + v.nhoff);
  v.fhoff = static_cast<uint16_t>(meta->l3_off + v.fhoff);
  if (v.offset == 0 && !v.more && find_queue(*w.defrag6, v.key) == k_defrag_nil) {
    w.counters.add(dp_counter::reasm_reqds);
    return strip_atomic(w, m, v);
  }
  return gather(w, *w.defrag6, m, v);
}

template <bool V6>
uint16_t defrag_hook(worker_ctx& w, rte_mbuf** pkts, uint16_t n, verdict* v) {
  // Most bursts hold no fragment: stage_parse said so once for all.
  if (!(V6 ? w.frags_in_burst6 : w.frags_in_burst)) [[likely]]
    return 0;
  uint16_t taken = 0;
  for (uint16_t i = 0; i < n; i++) {
    pkt_meta* m = meta_of(pkts[i]);
    // Whole datagrams, and packets already tracked (a LOCAL_OUT answer built with its flow),
    // pass (ipv4_conntrack_defrag, ipv6_defrag).
    if (!(m->flags & PKT_F_FRAGMENT) || m->ct != nullptr) [[likely]]
      continue;
    const gather_result g = V6 ? gather6(w, pkts[i]) : gather4(w, pkts[i]);
    if (g.pass) continue;
    if (g.whole != nullptr) {
      pkts[i] = g.whole;  // the datagram goes on in the completing fragment's place
      continue;
    }
    v[i] = verdict::stolen;  // held, or dropped with its reason
    taken++;
  }
  return taken;
}

void expire_table(worker_ctx& w, defrag_table& d, uint32_t budget) {
  while (budget-- > 0 && d.oldest != k_defrag_nil && expired(d.queues[d.oldest], w.now_ms)) {
    w.counters.add(dp_counter::reasm_fails);
    w.counters.add(dp_counter::reasm_timeout);
    const defrag_queue& q = d.queues[d.oldest];
    // nf_ct_frag6_expire (ip6frag_expire_frag_queue): time exceeded about the first
    // fragment, when it came. IPv4's conntrack reassembly sends nothing (ip_expire skips
    // ICMP for the defrag users on a forwarding path).
    if (d.ipv6 && (q.flags & DEFRAG_FIRST_IN))
      send_icmp6_error(w, d.frag[q.frags].m, icmp6::time_exceeded, 1);  // reassembly time
    kill_queue(w, d, d.oldest, dp_counter::drop_frag_timeout);
  }
}

}  // namespace

defrag_table* defrag_create(const ipfrag_config& cfg, uint16_t workers, rte_mempool* reasm_pool,
                            bool ipv6) {
  auto* d = static_cast<defrag_table*>(rte_zmalloc("defrag_table", sizeof(defrag_table), 64));
  if (d == nullptr) return nullptr;
  new (d) defrag_table();
  d->ipv6 = ipv6;
  d->high_thresh = cfg.high_thresh / std::max<uint16_t>(workers, 1);
  d->time_ms = cfg.time_ms;
  d->reasm_pool = reasm_pool;
  d->hash_seed = static_cast<uint32_t>(rte_rand());
  // Slots for twice what the memory bound holds in full-size mbufs (a datagram already
  // started may pass the bound, as in Linux), at least 256.
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
    defrag_destroy(d);
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

void defrag_destroy(defrag_table* d) {
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
  return defrag_hook<false>(w, pkts, n, v);
}

uint16_t ipv6_defrag_hook(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                          verdict* v) {
  return defrag_hook<true>(w, pkts, n, v);
}

void defrag_expire(worker_ctx& w, uint32_t budget) {
  expire_table(w, *w.defrag, budget);
  expire_table(w, *w.defrag6, budget);
}

}  // namespace ctgate
