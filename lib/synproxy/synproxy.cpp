#include "synproxy/synproxy.h"

#include <rte_ip.h>
#include <rte_tcp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>

#include "conntrack/conntrack.h"
#include "dataplane/gateway.h"
#include "dataplane/ipv6.h"
#include "packet/cksum.h"
#include "synproxy/seq_adjust.h"
#include "synproxy/tcp_options.h"

namespace ctgate {

namespace {

using namespace synproxy;

rte_tcp_hdr* tcp_of(rte_mbuf* mb, const pkt_meta* m) {
  return rte_pktmbuf_mtod_offset(mb, rte_tcp_hdr*, m->l4_off);
}

// By pointer, not by value: returning the freshly, field-by-field written
// struct in registers made the caller's word loads stall on store forwarding.
void options_of(rte_mbuf* mb, const pkt_meta* m, tcp_opts* o) {
  const rte_tcp_hdr* th = tcp_of(mb, m);
  size_t doff = (th->data_off >> 4) * 4u;
  parse_tcp_options(reinterpret_cast<const uint8_t*>(th) + 20, doff - 20, o);
}

// A packet's flow as synproxy names it: its conntrack tuple, and for IPv6 its addresses,
// whose digests stand for them in the tuple and in the cookie (a keyed PRF of the full
// addresses, as Linux's __cookie_v6_init_sequence hashes them).
// The addresses are a union member so that IPv4's path never zeroes them: callgrind counted
// the stores on every SYN of the automatic defence.
struct flow_id {
  ct::ct_tuple t;
  union {
    ct::ct_addr6 a6;  // written and read for IPv6 only (t.family)
  };
  flow_id() {}
  const ct::ct_addr6* addrs() const { return t.family == ct::k_family_ipv6 ? &a6 : nullptr; }
};

// The flow of a packet of family V6 (a burst is one family: the automatic defence's hook
// knows it once per burst), or of either (flow_of_any, the statement's one packet).
template <bool V6>
[[gnu::always_inline]] inline flow_id flow_of(const worker_ctx& w, const rte_mbuf* mb,
                                              const pkt_meta* m) {
  flow_id f;
  if constexpr (!V6) {
    f.t = ct::tuple_of(*m);
  } else {
    f.a6.src = ip6_src(mb, m);
    f.a6.dst = ip6_dst(mb, m);
    f.t = ct::tuple6_of(*w.ct.rt, *m, f.a6);
  }
  return f;
}
inline flow_id flow_of_any(const worker_ctx& w, const rte_mbuf* mb, const pkt_meta* m) {
  return m->flags & PKT_F_IPV6 ? flow_of<true>(w, mb, m) : flow_of<false>(w, mb, m);
}

struct segment {
  uint32_t src, dst;  // network order; IPv4
  union {
    ct::ct_addr6 addrs6;  // IPv6 (v6): source and destination; unwritten for IPv4, as flow_id's
  };
  bool v6 = false;
  uint16_t sport, dport;  // network order
  uint32_t seq, ack;      // host order
  uint8_t flags;
  uint16_t window;  // host order
  tcp_opts opts;
  bool syn_options = false;  // write SYN-style options (MSS, WS, SACK-perm, TS); else TS only
  segment() {}
};

// Rewrites the packet in place into a bare TCP segment (no payload) with
// fresh IP (or IPv6, with no extension headers) and TCP headers and checksums. The Ethernet
// header is redone at TX.
//
// Every header word is written with one 32-bit store and summed from the
// value in hand; the options are summed by reading back their own 32-bit
// stores. Reading the headers back after narrower field stores, or copying
// them from a local buffer, stalls on store forwarding (a wide load over
// several pending narrower stores), which cost more than the rest of this.
// One instance per family: IPv4's cookie path pays no test for IPv6 (callgrind measured 24
// instructions a SYN for the tests of one function serving both).
template <bool V6>
void write_segment_family(rte_mbuf* mb, pkt_meta* m, const segment& s) {
  uint8_t* ip = rte_pktmbuf_mtod_offset(mb, uint8_t*, m->l3_off);
  constexpr uint16_t ip_hdr_len = V6 ? sizeof(rte_ipv6_hdr) : sizeof(rte_ipv4_hdr);
  uint8_t* tcp = ip + ip_hdr_len;
  uint8_t* opt = tcp + sizeof(rte_tcp_hdr);
  size_t optlen = 0;
  if (s.syn_options) {
    optlen = write_synack_options(opt, 40, s.opts);
  } else if (s.opts.has_ts) {
    tcp_opts ts_only;
    ts_only.has_ts = true;
    ts_only.tsval = s.opts.tsval;
    ts_only.tsecr = s.opts.tsecr;
    optlen = write_synack_options(opt, 40, ts_only);
  }
  const auto tcp_len = static_cast<uint16_t>(sizeof(rte_tcp_hdr) + optlen);
  const auto ip_len = static_cast<uint16_t>(ip_hdr_len + tcp_len);
  auto put = [](uint8_t* p, uint32_t w) { std::memcpy(p, &w, 4); };
  auto pair = [](uint16_t lo, uint16_t hi) {
    return static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16;
  };
  auto bytes = [](uint8_t a, uint8_t b) {
    return static_cast<uint16_t>(a | b << 8);
  };                      // memory order
  uint64_t addr_sum = 0;  // the pseudo-header's addresses
  if constexpr (V6) {
    // IPv6: version 6, traffic class and flow label 0; payload length, TCP, hop limit 64
    // (Linux's synproxy_build_ip6 takes the route's, 64 by default); addresses.
    put(ip, rte_cpu_to_be_32(6u << 28));
    put(ip + 4, pair(rte_cpu_to_be_16(tcp_len), bytes(IPPROTO_TCP, 64)));
    std::memcpy(ip + 8, s.addrs6.src.b, 16);
    std::memcpy(ip + 24, s.addrs6.dst.b, 16);
    for (int i = 0; i < 16; i += 4) {
      uint32_t a, b;
      std::memcpy(&a, s.addrs6.src.b + i, 4);
      std::memcpy(&b, s.addrs6.dst.b + i, 4);
      addr_sum += uint64_t{a} + b;
    }
  } else {
    // IPv4: version/IHL, TOS 0, length; ID 0, DF; TTL 64, TCP, checksum; addresses.
    const uint32_t ip0 = pair(bytes(RTE_IPV4_VHL_DEF, 0), rte_cpu_to_be_16(ip_len));
    const uint32_t ip1 = pair(0, rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG));
    const uint16_t ttl_proto = bytes(64, IPPROTO_TCP);
    const uint16_t ip_ck = static_cast<uint16_t>(
        ~cksum_fold(uint64_t{ip0} + ip1 + ttl_proto + uint64_t{s.src} + s.dst));
    put(ip, ip0);
    put(ip + 4, ip1);
    put(ip + 8, pair(ttl_proto, ip_ck));
    put(ip + 12, s.src);
    put(ip + 16, s.dst);
    addr_sum = uint64_t{s.src} + s.dst;
  }
  // TCP: ports; seq; ack; offset, flags, window; checksum, urgent 0.
  const uint32_t t0 = pair(s.sport, s.dport);
  const uint32_t t1 = rte_cpu_to_be_32(s.seq);
  const uint32_t t2 = rte_cpu_to_be_32(s.ack);
  const uint32_t t3 =
      pair(bytes(static_cast<uint8_t>((tcp_len / 4) << 4), s.flags), rte_cpu_to_be_16(s.window));
  uint64_t sum = addr_sum + rte_cpu_to_be_16(static_cast<uint16_t>(IPPROTO_TCP)) +
                 rte_cpu_to_be_16(tcp_len) + t0 + t1 + t2 + t3;
  sum = cksum_add(sum, opt, optlen);  // its own word stores: forwarded
  put(tcp, t0);
  put(tcp + 4, t1);
  put(tcp + 8, t2);
  put(tcp + 12, t3);
  put(tcp + 16, pair(static_cast<uint16_t>(~cksum_fold(sum)), 0));
  uint32_t len = m->l3_off + ip_len;
  mb->data_len = mb->pkt_len = len;
  // Metadata for the rest of the path.
  m->src = s.src;
  m->dst = s.dst;
  m->sport = s.sport;
  m->dport = s.dport;
  m->l4_off = static_cast<uint16_t>(m->l3_off + ip_hdr_len);
  if constexpr (V6) m->flags |= PKT_F_IPV6;  // a window update's fresh metadata
  m->l4_len = tcp_len;
  m->l4.tcp_flags = s.flags;
  m->l4.payload_len = 0;
}

inline void write_segment(rte_mbuf* mb, pkt_meta* m, const segment& s) {
  if (s.v6) [[unlikely]]
    return write_segment_family<true>(mb, m, s);
  write_segment_family<false>(mb, m, s);
}

uint32_t now_s(const worker_ctx& w) { return w.now_ms / 1000; }

// Client SYN: answer with a cookie, keep nothing. In two halves, so that
// a burst's SYNs can have their cookies computed together (make_cookies):
// what the SYN offers, then the SYN-ACK once the cookie is known.
// The addresses are the flow's (flow_id: an IPv6 packet's digests).
[[gnu::always_inline]] inline void syn_prepare(rte_mbuf* mb, pkt_meta* m, uint32_t saddr,
                                               uint32_t daddr, const synproxy_options& o,
                                               tcp_opts* in, cookie_input* key) {
  options_of(mb, m, in);
  uint16_t client_mss = in->mss != 0 ? in->mss : 536;
  *key = {saddr,
          daddr,
          m->sport,
          m->dport,
          rte_be_to_cpu_32(tcp_of(mb, m)->sent_seq),
          client_mss < o.mss ? client_mss : o.mss};
}

template <bool V6>
synproxy_action syn_answer(worker_ctx& w, rte_mbuf* mb, pkt_meta* m, const synproxy_options& o,
                           const tcp_opts& in, const cookie_input& key, uint32_t cookie) {
  segment s;
  if constexpr (V6) {
    s.v6 = true;
    s.addrs6.src = ip6_dst(mb, m);
    s.addrs6.dst = ip6_src(mb, m);
  }
  s.src = m->dst;
  s.dst = m->src;
  s.sport = m->dport;
  s.dport = m->sport;
  s.seq = cookie;
  s.ack = key.client_isn + 1;
  s.flags = TCPF_SYN | TCPF_ACK;
  s.window = 0;  // the client sends nothing but the ACK until the server is joined
  s.syn_options = true;
  s.opts.mss = mss_value(mss_index(key.client_mss));
  bool ts = o.timestamp && in.has_ts;
  // What the client offered and we agree to; with timestamps it is carried
  // in our TSval, which the client echoes in its ACK.
  uint8_t wscale = (o.wscale != 0xff && in.wscale != k_no_wscale) ? in.wscale : 0xff;
  bool sack = o.sack_perm && in.sack_perm && ts;
  if (ts) {
    s.opts.has_ts = true;
    s.opts.tsval = ts_encode(w.now_ms, wscale == 0xff ? 0xf : wscale, sack, false);
    s.opts.tsecr = in.tsval;
    s.opts.sack_perm = sack;
    s.opts.wscale = wscale != 0xff ? o.wscale : k_no_wscale;
  }
  write_segment_family<V6>(mb, m, s);
  if (!queue_local_out(w, mb)) {
    w.synproxy->counters.add(synproxy_counter::cookies_not_sent);
    return synproxy_action::drop;
  }
  w.synproxy->counters.add(synproxy_counter::cookies_sent);
  return synproxy_action::stolen;
}

// Every SYN synproxy answers, first: counted, and if it reuses the tuple of
// a finished connection (the client reused its port), that entry retired, as
// Linux's reopen would, or the client's ACK would match it instead of
// reaching synproxy. The finished filter spares spoofed SYNs the lookup.
[[gnu::always_inline]] inline void syn_admit(worker_ctx& w, const flow_id& f) {
  w.synproxy->counters.add(synproxy_counter::syn_received);
  if (!w.synproxy->finished->maybe(ct::make_key(f.t))) {
    w.synproxy->counters.add(synproxy_counter::finished_filter_skip);
    return;
  }
  ct::ct_retire_finished(w.ct, f.t, w.now_ms, f.addrs());
}

// One SYN (the ruleset statement), after syn_admit.
synproxy_action on_syn(worker_ctx& w, rte_mbuf* mb, pkt_meta* m, const flow_id& f,
                       const synproxy_options& o) {
  tcp_opts in;
  cookie_input key;
  syn_prepare(mb, m, f.t.src, f.t.dst, o, &in, &key);
  uint32_t cookie;
  make_cookies(w.gw->synproxy->secrets.current(), &key, &cookie, 1, now_s(w));
  if (f.addrs() != nullptr) return syn_answer<true>(w, mb, m, o, in, key, cookie);
  return syn_answer<false>(w, mb, m, o, in, key, cookie);
}

// Client ACK with no entry: a valid cookie opens the connection to the server.
synproxy_action on_ack(worker_ctx& w, rte_mbuf* mb, pkt_meta* m, const flow_id& f,
                       const synproxy_options& o, bool in_place) {
  const rte_tcp_hdr* th = tcp_of(mb, m);
  uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
  uint32_t ack = rte_be_to_cpu_32(th->recv_ack);
  uint16_t window = rte_be_to_cpu_16(th->rx_win);
  tcp_opts in;
  options_of(mb, m, &in);
  uint16_t mss = 0;
  // Our SYN-ACK advertises a zero window, so a client whose ACK was lost
  // can only send zero-window probes, whose seq is its ISN (not ISN + 1).
  // Accepting both keeps such a connection alive (at 2^-27 instead of 2^-28
  // per forged ACK); a repeated ACK for a flow still joining re-sends our SYN
  // (below).
  const cookie_secrets& sec = w.gw->synproxy->secrets.current();
  int which = check_cookie_pair(sec, f.t.src, f.t.dst, m->sport, m->dport, seq - 1, seq, ack - 1,
                                now_s(w), &mss);
  if (which == 0) {
    w.synproxy->counters.add(synproxy_counter::cookies_invalid);
    return synproxy_action::drop;
  }
  const uint32_t client_isn = which == 1 ? seq - 1 : seq;
  uint8_t wscale = k_no_wscale;
  bool sack = false, ecn = false;
  if (in.has_ts && o.timestamp) {
    uint8_t ws = 0;
    if (ts_decode(in.tsecr, &ws, &sack, &ecn) && ws <= k_max_wscale) wscale = ws;
  }
  // A flow with this tuple already: a repeated ACK (or probe) of a handshake we opened, that
  // conntrack found INVALID (or, never opened again, another flow between the same ends). While it
  // is still joining, our SYN may have been lost: send it again (the server sees a retransmitted
  // SYN, same ISN). Once joined there is nothing to open, and our zero window means the packet
  // carries nothing. A copy in the same burst as the ACK that opened it is dropped too: that SYN
  // has not left yet.
  ct::ct_entry* e = ct::ct_find_flow(w.ct, f.t, w.now_ms, f.addrs());
  if (e != nullptr) {
    w.synproxy->counters.add(synproxy_counter::duplicate_acks);
    if (e->pos == ct::k_no_pos ||
        ct::ct_ext_of(e->status.load(std::memory_order_acquire)) != synproxy_join::ext_id)
      return synproxy_action::drop;
  }
  uint8_t syn_opts[8] = {};
  uint8_t n_opts = 0;
  if (wscale != k_no_wscale) {
    syn_opts[n_opts++] = 3;  // window scale, length 3
    syn_opts[n_opts++] = 3;
    syn_opts[n_opts++] = wscale;
  }
  if (sack) {
    syn_opts[n_opts++] = 4;  // SACK permitted, length 2
    syn_opts[n_opts++] = 2;
  }
  if (e == nullptr) {
    // The entry: SYN_SENT as for the SYN we send now, marked as proxied, unconfirmed like the
    // connection Linux's conntrack makes from the SYN's template at LOCAL_OUT. Its window
    // record starts from that SYN, so the server's SYN-ACK and what follows are checked
    // against it.
    ct::track_state ts;
    l4_info syn = m->l4;
    syn.tcp_flags = TCPF_SYN;
    syn.payload_len = 0;
    ct::tcp_segment syn_seg;
    syn_seg.seq = client_isn;
    syn_seg.window = window;
    syn_seg.flags = TCPF_SYN;
    syn_seg.options = syn_opts;
    syn_seg.options_len = n_opts;
    ct::tcp_window win;
    ct::tracker_for(IPPROTO_TCP).new_flow(syn, &syn_seg, w.ct.rt->params, w.now_ms, &ts, &win);
    const synproxy_join js{ack - 1, in.has_ts ? in.tsecr : 0};
    e = ct::ct_create_unconfirmed(w.ct, f.t, ts, &win, ct::ct_ext_status(synproxy_join::ext_id),
                                  ct::ct_ext_make(js), w.now_ms, f.addrs());
    if (e == nullptr) {
      w.synproxy->counters.add(synproxy_counter::table_full);
      return synproxy_action::drop;
    }
    w.synproxy->counters.add(synproxy_counter::cookies_valid);
  }
  segment s;
  if (const ct::ct_addr6* a = f.addrs()) {
    s.v6 = true;
    s.addrs6.src = a->src;
    s.addrs6.dst = a->dst;
  }
  s.src = m->src;
  s.dst = m->dst;
  s.sport = m->sport;
  s.dport = m->dport;
  s.seq = client_isn;  // the client's own ISN: no translation on the client's side
  s.ack = 0;
  s.flags = TCPF_SYN;
  s.window = window;
  s.syn_options = true;
  s.opts.mss = mss;
  s.opts.wscale = wscale;
  s.opts.sack_perm = sack;
  if (in.has_ts) {
    s.opts.has_ts = true;
    s.opts.tsval = in.tsval;
    s.opts.tsecr = 0;
  }
  write_segment(mb, m, s);
  // The SYN leaves as Linux's synproxy_send_server_syn sends it: a packet of the gateway's
  // own, through LOCAL_OUT (whose nat chains may bind the connection: synproxy in front of a
  // dnat'ed service), routing and POST_ROUTING, where its entry is confirmed.
  m->ct = e;
  m->ct_info = CTINFO_NEW;
  m->ct_dir = static_cast<uint8_t>(ct::ct_dir::original);
  // The automatic defence (before conntrack, at prerouting) lets the SYN go on in its place:
  // conntrack leaves the attached entry alone, a prerouting nat chain may bind it, and
  // postrouting (or input) confirms it.
  if (in_place) return synproxy_action::accept;
  m->flags = static_cast<uint8_t>(PKT_F_LOCAL_OUT | (m->flags & (PKT_F_TRACE | PKT_F_IPV6)));
  m->frag_max_size = 0;
  m->mark = 0;
  if (!(s.v6 ? queue_hooked_out6(w, mb) : queue_hooked_out(w, mb)))
    return synproxy_action::drop;  // the drop releases `e`
  return synproxy_action::stolen;
}

// Whether an IPv6 packet's source is one a host can answer from: never multicast, unspecified
// or loopback (Linux drops those in ip6_rcv_core; routing drops them here, after this hook), so
// no SYN-ACK goes to a group.
bool answerable_source6(const rte_mbuf* mb, const pkt_meta* m) {
  const ipv6_addr src = ip6_src(mb, m);
  ipv6_addr loopback;
  loopback.b[15] = 1;
  return !src.is_multicast() && !src.is_zero() && !(src == loopback);
}

// Whether an IPv6 packet may be proxied: conntrack keeps IPv6 flows (some port has an IPv6
// address, so the table holds their addresses), and its source is answerable.
bool proxies_ipv6(const worker_ctx& w, const rte_mbuf* mb, const pkt_meta* m) {
  return w.ct.rt->table->ipv6() && answerable_source6(mb, m);
}

// Replaces the entry's extension id `from` by `to` in the status word (other
// bits may change concurrently). False if the id is no longer `from`.
bool switch_ext(ct::ct_entry* e, ct::ct_ext_id from, ct::ct_ext_id to, std::memory_order order) {
  uint16_t st = e->status.load(std::memory_order_relaxed);
  do {
    if (ct::ct_ext_of(st) != from) return false;
  } while (!e->status.compare_exchange_weak(
      st, static_cast<uint16_t>((st & ~ct::CT_STATUS_EXT_MASK) | ct::ct_ext_status(to)), order,
      std::memory_order_relaxed));
  return true;
}

// The server's SYN-ACK for a proxied flow: record the offsets, answer the
// server with the ACK (this packet, rewritten and turned around), and open
// the client's window with an ACK in the client's sequence space. False if
// another worker is joining (or has joined) the handshake with a copy of the
// same SYN-ACK: the caller drops this one.
bool on_server_synack(worker_ctx& w, rte_mbuf* mb, pkt_meta* m, ct::ct_entry* e) {
  // Claim the join before touching the area (acquire: read the join state
  // the cookie ACK stored).
  if (!switch_ext(e, synproxy_join::ext_id, ct::ct_ext_id::synproxy_joining,
                  std::memory_order_acquire))
    return false;
  const rte_tcp_hdr* th = tcp_of(mb, m);
  uint32_t server_isn = rte_be_to_cpu_32(th->sent_seq);
  uint32_t ack = rte_be_to_cpu_32(th->recv_ack);  // client ISN + 1
  uint16_t window = rte_be_to_cpu_16(th->rx_win);
  tcp_opts in;
  options_of(mb, m, &in);
  const synproxy_join js = ct::ct_ext_get<synproxy_join>(e->ext);
  seq_delta d = make_seq_delta(js.cookie, server_isn, js.our_tsval, in.has_ts ? in.tsval : 0);
  ct::ct_ext_put(e->ext, d);
  // Publish the offsets before the id that says they are there (release).
  switch_ext(e, ct::ct_ext_id::synproxy_joining, seq_delta::ext_id, std::memory_order_release);

  // Window update to the client, as if from the server, in the client's view.
  rte_mbuf* up = rte_pktmbuf_alloc(w.gw->mbuf_pool);
  if (up != nullptr) {
    rte_pktmbuf_append(up, static_cast<uint16_t>(m->l3_off + 80));
    std::memcpy(rte_pktmbuf_mtod(up, uint8_t*), rte_pktmbuf_mtod(mb, uint8_t*), m->l3_off);
    pkt_meta* um = meta_of(up);
    *um = pkt_meta{};
    um->l3_off = m->l3_off;
    um->in_port = m->out_port;  // toward the client: where a link-local answer leaves
    segment u;
    if (m->flags & PKT_F_IPV6) {
      u.v6 = true;
      u.addrs6.src = ip6_src(mb, m);
      u.addrs6.dst = ip6_dst(mb, m);
    }
    u.src = m->src;  // the server
    u.dst = m->dst;  // the client
    u.sport = m->sport;
    u.dport = m->dport;
    u.seq = js.cookie + 1;
    u.ack = ack;
    u.flags = TCPF_ACK;
    u.window = window;
    u.opts.has_ts = in.has_ts;
    u.opts.tsval = in.tsval - d.ts_off;  // the client's view of the server's clock
    u.opts.tsecr = in.tsecr;
    write_segment(up, um, u);
    if (!queue_local_out(w, up)) rte_pktmbuf_free(up);
  }

  // This SYN-ACK becomes the ACK that completes the server's handshake, addressed as the
  // server sees the connection (its reply tuple, turned round): this packet's addresses are
  // already those the client sees, when NAT rewrote them before this hook.
  const ct::ct_tuple r = ct::ct_reply_tuple(*w.ct.rt->table, e);
  segment s;
  if (const ct::ct_addr6* a = ct::ct_addr6_of(*w.ct.rt->table, e)) {
    // The reply's addresses turned round, as the tuple's.
    s.v6 = true;
    if (const ct::ct_addr6* r6 = ct::ct_reply_addr6(*w.ct.rt->table, e)) {
      s.addrs6.src = r6->dst;
      s.addrs6.dst = r6->src;
    } else {
      s.addrs6.src = a->src;
      s.addrs6.dst = a->dst;
    }
  }
  s.src = r.dst;  // the client, or the address its connection was translated to
  s.dst = r.src;  // the server
  s.sport = r.dport;
  s.dport = r.sport;
  s.seq = ack;
  s.ack = server_isn + 1;
  s.flags = TCPF_ACK;
  s.window = window;
  s.opts.has_ts = in.has_ts;
  s.opts.tsval = in.tsecr;  // the client's TSval we sent in the SYN, echoed back
  s.opts.tsecr = in.tsval;
  uint16_t back = m->in_port;
  write_segment(mb, m, s);
  m->out_port = back;
  m->nexthop = rte_be_to_cpu_32(s.dst);
  if (s.v6) {
    // The route to the server (an IPv6 next hop is an index into the route table's gateways).
    const route_nh nh = w.gw->routes6->lookup(s.addrs6.dst);
    const bool routed = nh.kind == route_kind::forward;
    m->out_port = routed ? nh.port : back;
    m->nexthop = routed ? nh.gateway : 0;
  }
  w.synproxy->counters.add(synproxy_counter::handshakes_completed);
  return true;
}

uint16_t synproxy_post_routing(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                               verdict* v) {
  uint16_t dropped = 0;
  for (uint16_t i = 0; i < n; i++) {
    pkt_meta* m = meta_of(pkts[i]);
    ct::ct_entry* e = m->ct;
    if (e == nullptr || m->l4.proto != IPPROTO_TCP || m->l4_invalid != L4_OK) continue;
    const ct::ct_ext_id ext = ct::ct_ext_of(e->status.load(std::memory_order_acquire));
    if (ext == ct::ct_ext_id::synproxy_joining) {
      // Another worker is writing the offsets this packet needs, in the
      // instant between its claim and publish: drop rather than leak an
      // untranslated segment (a copy of the SYN-ACK, or a retransmit).
      v[i] = verdict::drop;
      dropped++;
      w.synproxy->counters.add(synproxy_counter::join_races);
      continue;
    }
    if (ext != synproxy_join::ext_id && ext != seq_delta::ext_id) continue;
    bool reply = m->ct_dir == static_cast<uint8_t>(ct::ct_dir::reply);
    uint8_t f = m->l4.tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST);
    if (ext == synproxy_join::ext_id) {
      if (reply && f == (TCPF_SYN | TCPF_ACK) && !on_server_synack(w, pkts[i], m, e)) {
        v[i] = verdict::drop;
        dropped++;
        w.synproxy->counters.add(synproxy_counter::join_races);
      }
      continue;
    }
    // A server SYN-ACK after the join (our ACK was lost): it is translated
    // to the client, whose ACK then completes the server's side again.
    if (reply && f == (TCPF_SYN | TCPF_ACK))
      w.synproxy->counters.add(synproxy_counter::server_synack_retransmits);
    const seq_delta d = ct::ct_ext_get<seq_delta>(e->ext);
    auto* th = reinterpret_cast<uint8_t*>(tcp_of(pkts[i], m));
    size_t len = m->l4_len;
    if (reply)
      adjust_server_to_client(th, len, d);
    else
      adjust_client_to_server(th, len, d);
    w.synproxy->counters.add(synproxy_counter::translated);
  }
  return dropped;
}

}  // namespace

synproxy_action synproxy_stmt(worker_ctx& w, rte_mbuf* mb, pkt_meta* m, const synproxy_options& o,
                              bool in_place) {
  if (m->l4.proto != IPPROTO_TCP || m->l4_invalid != L4_OK || (m->flags & PKT_F_FRAGMENT))
    return synproxy_action::none;
  if ((m->flags & PKT_F_IPV6) && !proxies_ipv6(w, mb, m)) return synproxy_action::none;
  uint8_t f = m->l4.tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST | TCPF_FIN);
  if (f == TCPF_SYN) {
    const flow_id id = flow_of_any(w, mb, m);
    syn_admit(w, id);
    return on_syn(w, mb, m, id, o);
  }
  if (f == TCPF_ACK && m->ct == nullptr)
    return on_ack(w, mb, m, flow_of_any(w, mb, m), o, in_place);
  return synproxy_action::none;
}

namespace {

// A statement's action as the hook's verdict; 1 if the packet leaves the path.
uint16_t apply(synproxy_action act, verdict* v) {
  switch (act) {
    case synproxy_action::stolen: *v = verdict::stolen; return 1;
    case synproxy_action::drop: *v = verdict::drop; return 1;
    default: return 0;
  }
}

// Before raw (-300) and conntrack (-200): SYNs to protected ports get a
// cookie and allocate nothing; ACKs with no entry are checked as cookies.
//
// SYNs are answered without looking the tuple up, as Linux's synproxy does
// (its SYNs are notrack, whatever the table holds): a SYN for a finished
// connection retires it (the finished filter spares the lookup otherwise),
// and a retransmitted SYN of a handshake begun before the switch gets a
// cookie too, which the client may answer instead of the server's SYN-ACK.
// ACKs are what must be told apart: an ACK of an existing flow (opened
// before the switch, or joined by a cookie) goes on as usual, so ACKs are
// looked up first, in one bulk lookup per burst.
template <bool V6>
uint16_t auto_hook_family(worker_ctx& w, rte_mbuf** pkts, uint16_t n, verdict* v, bool on) {
  synproxy_auto_state& a = w.gw->synproxy->auto_mode;
  constexpr uint16_t k_chunk = 64;  // RTE_HASH_LOOKUP_BULK_MAX
  ct::flow_key keys[k_chunk];
  const ct::flow_key* kp[k_chunk];
  uint16_t index[k_chunk];
  int32_t pos[k_chunk];
  uint16_t rejected = 0;
  const ct::flow_table& table = *w.ct.rt->table;
  // IPv6 is proxied only where conntrack keeps IPv6 flows (proxies_ipv6): once per burst.
  if (V6 && !table.ipv6()) return 0;
  // IPv6 ACKs' flows (their digests), kept for the cookie check of those the table does not
  // hold; an IPv4 flow costs less to take again than to keep.
  std::conditional_t<V6, flow_id[k_chunk], char> ack_ids;
  for (uint16_t base = 0; base < n; base += k_chunk) {
    uint16_t end = static_cast<uint16_t>(n - base > k_chunk ? base + k_chunk : n);
    uint32_t nk = 0, ns = 0;
    // The chunk's SYNs: options, cookie inputs, packet index.
    tcp_opts syn_opts[k_chunk];
    cookie_input syn_keys[k_chunk];
    uint16_t syn_index[k_chunk];
    for (uint16_t i = base; i < end; i++) {
      pkt_meta* m = meta_of(pkts[i]);
      if (m->l4.proto != IPPROTO_TCP || m->l4_invalid != L4_OK || (m->flags & PKT_F_FRAGMENT) ||
          !a.protects(rte_be_to_cpu_16(m->dport)))
        continue;
      if constexpr (V6) {
        if (!answerable_source6(pkts[i], m)) continue;
      }
      uint8_t f = m->l4.tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST | TCPF_FIN);
      if (on && f == TCPF_SYN) {
        const flow_id id = flow_of<V6>(w, pkts[i], m);
        syn_admit(w, id);
        syn_prepare(pkts[i], m, id.t.src, id.t.dst, a.opts, &syn_opts[ns], &syn_keys[ns]);
        syn_index[ns++] = i;
        continue;
      }
      if (f != TCPF_ACK) continue;
      if constexpr (V6) {
        ack_ids[nk] = flow_of<true>(w, pkts[i], m);
        keys[nk] = ct::make_key(ack_ids[nk].t);
      } else {
        keys[nk] = ct::make_key(flow_of<false>(w, pkts[i], m).t);
      }
      kp[nk] = &keys[nk];
      index[nk++] = i;
    }
    if (ns != 0) {
      uint32_t cookies[k_chunk];
      make_cookies(w.gw->synproxy->secrets.current(), syn_keys, cookies, ns, now_s(w));
      for (uint32_t j = 0; j < ns; j++) {
        uint16_t i = syn_index[j];
        rejected += apply(syn_answer<V6>(w, pkts[i], meta_of(pkts[i]), a.opts, syn_opts[j],
                                         syn_keys[j], cookies[j]),
                          &v[i]);
      }
    }
    if (nk == 0) continue;
    table.lookup_bulk(kp, nk, pos);
    // The expiry check reads each found entry: start their misses together.
    for (uint32_t j = 0; j < nk; j++)
      if (pos[j] >= 0) rte_prefetch0(table.at(static_cast<uint32_t>(pos[j])));
    for (uint32_t j = 0; j < nk; j++) {
      // An existing flow goes on to conntrack (an expired one is gone).
      if (pos[j] >= 0 &&
          !ct::ct_live_but_expired(*table.at(static_cast<uint32_t>(pos[j])), w.now_ms))
        continue;
      // synproxy_stmt's ACK path, with the flow already taken: its other checks were made
      // above.
      uint16_t i = index[j];
      pkt_meta* m = meta_of(pkts[i]);
      if (m->ct != nullptr) continue;
      if constexpr (V6)
        rejected += apply(on_ack(w, pkts[i], m, ack_ids[j], a.opts, true), &v[i]);
      else
        rejected +=
            apply(on_ack(w, pkts[i], m, flow_of<false>(w, pkts[i], m), a.opts, true), &v[i]);
    }
  }
  return rejected;
}

uint16_t synproxy_auto_hook(const hook_entry&, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                            verdict* v) {
  synproxy_auto_state& a = w.gw->synproxy->auto_mode;
  bool on = a.on.load(std::memory_order_relaxed);
  bool acks = on || static_cast<int32_t>(a.ack_check_until_ms.load(std::memory_order_relaxed) -
                                         w.now_ms) > 0;
  if (!acks || n == 0) return 0;
  // A burst is one family (hook.h).
  if (meta_of(pkts[0])->flags & PKT_F_IPV6) return auto_hook_family<true>(w, pkts, n, v, on);
  return auto_hook_family<false>(w, pkts, n, v, on);
}

}  // namespace

result<void> register_synproxy_auto_hook(hook_registry::editor& ed) {
  result<int> id = ed.add(hook_point::prerouting, PRI_SYNPROXY_AUTO, "synproxy_auto",
                          synproxy_auto_hook, nullptr, 0, HOOK_FAM_IPV4 | HOOK_FAM_IPV6);
  if (!id) return std::move(id).error();
  return {};
}

result<void> register_synproxy_hook(hook_registry::editor& ed) {
  result<int> id = ed.add(hook_point::postrouting, PRI_SYNPROXY, "synproxy", synproxy_post_routing,
                          nullptr, 0, HOOK_FAM_IPV4 | HOOK_FAM_IPV6);
  if (!id) return std::move(id).error();
  return {};
}

}  // namespace ctgate
