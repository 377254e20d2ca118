#include "conntrack/conntrack.h"

#include <rte_cycles.h>
#include <rte_debug.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "common/clock.h"
#include "conntrack/ct_event.h"
#include "conntrack/ct_nat.h"
#include "conntrack/flow_cache.h"
#include "packet/cksum.h"

namespace ctgate::ct {

namespace {

// An IPv6 flow's original source address (its source key's, nat_source_key); null for IPv4.
const ipv6_addr* source6(const flow_table& table, const ct_entry* e) {
  const ct_addr6* a = ct_addr6_of(table, e);
  return a != nullptr ? &a->src : nullptr;
}

constexpr uint32_t k_wheel_span_ms = 1u << k_wheel_shift;
constexpr int k_claim_spin = 100000;

uint32_t next_claim(uint32_t live, uint32_t state) { return (((live >> 2) + 1) << 2) | state; }

ct_counter invalid_counter(uint8_t reason) {
  switch (reason) {
    case L4_TRUNCATED_TCP: return ct_counter::invalid_truncated_tcp;
    case L4_TCP_DOFF: return ct_counter::invalid_tcp_doff;
    case L4_TRUNCATED_UDP: return ct_counter::invalid_truncated_udp;
    case L4_UDP_LEN: return ct_counter::invalid_udp_len;
    case L4_TRUNCATED_ICMP: return ct_counter::invalid_truncated_icmp;
    default: return ct_counter::error;
  }
}

// ---- unconfirmed list (owner only) ----

void unconfirmed_add(ct_worker& w, ct_entry* e) {
  e->unconfirmed_idx = w.n_unconfirmed;
  w.unconfirmed[w.n_unconfirmed++] = e;
}

void unconfirmed_remove(ct_worker& w, ct_entry* e) {
  uint16_t i = e->unconfirmed_idx;
  ct_entry* last = w.unconfirmed[--w.n_unconfirmed];
  w.unconfirmed[i] = last;
  last->unconfirmed_idx = i;
  e->unconfirmed_idx = k_not_unconfirmed;
}

void unconfirmed_free(ct_worker& w, ct_entry* e) {
  unconfirmed_remove(w, e);
  w.rt->table->unreserve();
  e->~ct_entry();
  rte_mempool_put(w.rt->pool, e);
}

// ---- timer wheel (owner only) ----

static_assert(k_wheel_slots <= k_not_filed, "k_not_filed must name no slot");

uint16_t slot_of(uint32_t ms) {
  return static_cast<uint16_t>((ms >> k_wheel_shift) & (k_wheel_slots - 1));
}

void wheel_insert(ct_worker& w, ct_entry* e) {
  uint32_t exp = e->expires_ms.load(std::memory_order_relaxed);
  // Already past the slot being processed: file it under the current slot so
  // it is seen when that slot closes.
  uint16_t slot = time_after_eq(exp, w.wheel_tick) ? slot_of(exp) : slot_of(w.wheel_tick);
  flow_table& t = *w.rt->table;
  e->wheel_slot = slot;
  e->wheel_prev = k_no_pos;
  e->wheel_next = w.wheel_head[slot];
  if (e->wheel_next != k_no_pos) t.at(e->wheel_next)->wheel_prev = e->pos;
  w.wheel_head[slot] = e->pos;
}

// Idempotent: an entry already unlinked is left alone. (Unlinking it again took the branch
// for a slot's head and cleared that slot, losing whatever had been filed there since.)
void wheel_unlink(ct_worker& w, ct_entry* e) {
  if (e->wheel_slot == k_not_filed) return;
  flow_table& t = *w.rt->table;
  if (e->wheel_prev != k_no_pos) {
    t.at(e->wheel_prev)->wheel_next = e->wheel_next;
  } else if (w.pending_head == e->pos) {
    w.pending_head = e->wheel_next;
  } else {
    w.wheel_head[e->wheel_slot] = e->wheel_next;
  }
  if (e->wheel_next != k_no_pos) t.at(e->wheel_next)->wheel_prev = e->wheel_prev;
  e->wheel_prev = e->wheel_next = k_no_pos;
  e->wheel_slot = k_not_filed;
}

// Removes a confirmed, owned entry: unlink, delete the key, retire the position. The position
// is reused only after a grace period (reclaim_positions), so workers still holding it in this
// burst read a stable entry.
void destroy_owned(ct_worker& w, ct_entry* e, ct_counter why) {
  RTE_ASSERT(is_live(e->live.load(std::memory_order_relaxed)));
  // A flow that failed its confirm was never announced (Linux sends no event for it). The
  // wheel's tick stands for now (within 256 ms): a DESTROY shows whole seconds left, if any.
  if ((w.rt->events.load(std::memory_order_relaxed) & CT_EVENT_DESTROY) &&
      why != ct_counter::insert_failed) [[unlikely]]
    emit_event(w, CT_EVENT_DESTROY, e, w.wheel_tick);
  wheel_unlink(w, e);
  flow_key key = make_key(e->orig);
  // A translated flow's reply key first: once the flow's own key is gone, its position may
  // be claimed again after the grace period, and the reply key must not outlive it.
  if (const uint16_t st = e->status.load(std::memory_order_relaxed); st & CT_STATUS_NAT_MASK)
      [[unlikely]] {
    if (reply_table* replies = w.rt->nat_replies.load(std::memory_order_acquire))
      replies->del(make_key(*w.rt->table->nat_reply_at(e->pos)), e->pos);
    // Its source key, if it is the flow that holds it (another flow of the source may, or
    // none: most translations offer nothing, and an empty table is not looked at).
    if (st & CT_STATUS_SRC_NAT)
      if (reply_table* by_source = w.rt->nat_by_source.load(std::memory_order_acquire);
          by_source != nullptr && by_source->count() > 0)
        by_source->del(nat_source_key(*w.rt, e->orig, source6(*w.rt->table, e)), e->pos);
  }
  // Take the bit off as well: whatever happens to the slot next, the
  // listener hears of this entry's end exactly once.
  if (e->status.fetch_and(static_cast<uint16_t>(~CT_STATUS_FINISH_NOTIFIED),
                          std::memory_order_relaxed) &
      CT_STATUS_FINISH_NOTIFIED)
    w.rt->finish.forgotten(w.rt->finish.ctx, key);
  // DELETING before the key leaves the table, and until the position is given back
  // (flow_table::release stores FREE). The position's grace period starts with a token taken
  // after this store (reclaim_positions); a worker whose quiescent report acknowledges that
  // token has read it after it, so it can no longer see the entry LIVE through a cached
  // position (flow_cache.h) while the position is handed out again. A worker whose add found
  // the key just before the delete cannot claim the entry meanwhile: its confirm fails, as on
  // any DELETING entry (ct_confirm). (emit_event above reads the entry as LIVE: it stays
  // before this store.)
  const uint32_t live = e->live.load(std::memory_order_relaxed);
  e->live.store((live & ~ENTRY_STATE_MASK) | ENTRY_DELETING, std::memory_order_release);
  // The owner's key is in the table until this delete. Were it not, the position would be
  // left out of use rather than given back twice.
  const int32_t deleted = w.rt->table->del(key);
  RTE_ASSERT(deleted == static_cast<int32_t>(e->pos));
  if (deleted == static_cast<int32_t>(e->pos)) [[likely]] {
    // wheel_next is the owner's alone (wheel_unlink cleared it above), and no one else can
    // claim a DELETING entry: readers never follow it.
    e->wheel_next = w.retired_head;
    w.retired_head = e->pos;
  }
  w.rt->table->unreserve();
  w.owned--;
  w.counters.add(why);
}

// Gives the table back the positions waiting since the last token once every online worker
// has reported a quiescent state after it, then starts the positions retired since with a new
// token. Once per housekeeping: one token and one check for all of a loop's deletes, where
// rte_hash's defer queue took a token, a ring slot and two rte_log calls for each.
void reclaim_positions(ct_worker& w) {
  if (w.waiting_head != k_no_pos) {
    if (rte_rcu_qsbr_check(w.rt->qs, w.waiting_token, false) != 1) return;
    w.rt->table->release(w.waiting_head);
    w.waiting_head = k_no_pos;
  }
  if (w.retired_head == k_no_pos) return;
  w.waiting_head = w.retired_head;
  w.retired_head = k_no_pos;
  // rte_rcu_qsbr_start orders these entries' DELETING stores (destroy_owned) before the token
  // (release).
  w.waiting_token = rte_rcu_qsbr_start(w.rt->qs);
}

void note_table_full(ct_worker& w, uint32_t now_ms) {
  w.rt->full_events.fetch_add(1, std::memory_order_relaxed);
  if (w.rt->full_log.allow(now_ms) && w.rt->mailbox != nullptr)
    w.rt->mailbox->raise(log_kind::conntrack_table_full);
}

// nf_conntrack_checksum (nf_ip_checksum, nf_ip6_checksum): received TCP/UDP/ICMP(v6) with a
// bad checksum are INVALID. The NIC's verdict is used when it gave one; packets the gateway
// built itself (LOCAL_OUT) are not checked, nor first fragments (incomplete). A UDP checksum of
// zero passes for both families, as in Linux's udp_error: RFC 8200 forbids it over IPv6, but
// refusing it is the receiving stack's business, not the firewall's.
template <bool V6>
bool l4_checksum_ok(rte_mbuf* mb, const pkt_meta* m) {
  if (m->flags & (PKT_F_LOCAL_OUT | PKT_F_FRAGMENT)) return true;
  // UNKNOWN (0) on every port without RX offload: one test. NONE (the field not filled in, the
  // data sound: a virtio guest's checksum left to offload) has been filled in and marked GOOD
  // by stage_parse or stage_bridge (dataplane/rx_checksum.h) when its field held the TCP or UDP
  // pseudo header's sum; what is left NONE is checked in software, as it stands.
  if (uint64_t l4f = mb->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK; l4f != 0) {
    if (l4f == RTE_MBUF_F_RX_L4_CKSUM_GOOD) return true;
    if (l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD) return false;
  }
  const uint8_t* ip = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off);
  const uint8_t* l4 = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l4_off);
  switch (m->l4.proto) {
    case IPPROTO_UDP:
      if (l4[6] == 0 && l4[7] == 0) return true;  // no checksum
      [[fallthrough]];
    case IPPROTO_TCP:
      // Valid when pseudo-header + segment (checksum field included) sum to 0xffff.
      if constexpr (V6)
        return ipv6_l4_cksum_ok(ip, l4, m->l4_len, m->l4.proto);
      else
        return ipv4_l4_sum(reinterpret_cast<const rte_ipv4_hdr*>(ip), l4, m->l4_len, m->l4.proto) ==
               0xffff;
    case IPPROTO_ICMP:
      if constexpr (V6) return true;  // not ICMP's protocol here: nothing to check
      return cksum_fold(cksum_add(0, l4, m->l4_len)) == 0xffff;
    case IPPROTO_ICMPV6:
      if constexpr (V6) return ipv6_l4_cksum_ok(ip, l4, m->l4_len, m->l4.proto);
      return true;
    default: return true;
  }
}

ct_dir direction_of(const ct_entry& e, const ct_tuple& t) {
  // The ports first: they decide for TCP and UDP, and an ICMP query's id is the same both ways.
  bool same = t.src == e.orig.src && (t.sport == e.orig.sport || is_icmp_like(t.proto));
  return same ? ct_dir::original : ct_dir::reply;
}

// An unconfirmed entry's TCP window record sits right behind it in its pool
// element; a confirmed entry's is the table's record at its position.
tcp_window* unconfirmed_window(ct_entry* e) { return reinterpret_cast<tcp_window*>(e + 1); }
// Pool element layout: entry, window record, accounting, NAT reply tuple, whether a source
// translation offers its mapping (8 bytes, for alignment), an IPv6 flow's addresses, and a
// translated IPv6 flow's reply addresses.
constexpr size_t k_unconfirmed_bytes = sizeof(ct_entry) + sizeof(tcp_window) + sizeof(ct_acct) +
                                       sizeof(ct_tuple) + sizeof(uint64_t) + 2 * sizeof(ct_addr6);
// An unconfirmed entry's accounting: after its window record in the pool element.
ct_acct* unconfirmed_acct(ct_entry* e) {
  return reinterpret_cast<ct_acct*>(reinterpret_cast<char*>(e + 1) + sizeof(tcp_window));
}
// An unconfirmed IPv6 entry's addresses: the element's last field but one.
ct_addr6* unconfirmed_addr6(ct_entry* e) {
  return reinterpret_cast<ct_addr6*>(reinterpret_cast<char*>(e) + k_unconfirmed_bytes -
                                     2 * sizeof(ct_addr6));
}
// Entry e's accounting record: behind it while unconfirmed, else at its position in the
// table's array `acct` (not null: accounting is on).
ct_acct* acct_record(ct_acct* acct, ct_entry* e) {
  return e->pos == k_no_pos ? unconfirmed_acct(e) : &acct[e->pos];
}
// Packet `m`'s turn in its flow's accounting (`acct`: the table's array, loaded once per
// burst; ct_acct.h). Callers test `acct` first: with accounting off, a test and no call.
void account(ct_acct* acct, ct_entry* e, ct_dir dir, const rte_mbuf* mb, const pkt_meta* m) {
  ct_acct* a = acct_record(acct, e);
  // The network layer's length, as Linux counts skb->len: IPv6's payload length leaves out its
  // 40-byte header.
  uint32_t len;
  if (m->flags & PKT_F_IPV6) {
    const auto* ip6 = rte_pktmbuf_mtod_offset(mb, const rte_ipv6_hdr*, m->l3_off);
    len = sizeof(rte_ipv6_hdr) + rte_be_to_cpu_16(ip6->payload_len);
  } else {
    len =
        rte_be_to_cpu_16(rte_pktmbuf_mtod_offset(mb, const rte_ipv4_hdr*, m->l3_off)->total_length);
  }
  a->add(static_cast<unsigned>(dir), len);
}
tcp_window* window_of(ct_worker& w, ct_entry* e) {
  return e->pos == k_no_pos ? unconfirmed_window(e) : w.rt->table->window_at(e->pos);
}

ct_counter reason_counter(uint8_t reason) {
  switch (reason) {
    case TCP_REASON_FLAGS: return ct_counter::invalid_tcp_flags;
    case TCP_REASON_SEQ_OVER: return ct_counter::invalid_tcp_seq_over;
    case TCP_REASON_ACK_OVER: return ct_counter::invalid_tcp_ack_over;
    case TCP_REASON_RST: return ct_counter::invalid_tcp_rst;
    case TCP_REASON_IGNORED_STATE: return ct_counter::ignored_tcp_state;
    case TCP_REASON_OVERSHOOT: return ct_counter::ignored_tcp_overshoot;
    case TCP_REASON_SEQ_UNDER: return ct_counter::ignored_tcp_seq_under;
    case TCP_REASON_ACK_UNDER: return ct_counter::ignored_tcp_ack_under;
    case TCP_REASON_CHALLENGE_ACK: return ct_counter::ignored_tcp_challenge_ack;
    default: return ct_counter::invalid_state;
  }
}

// conntrack.log_invalid: hand the packet to the control thread's log, at
// most once per interval (Linux's nf_ct_l4proto_log_invalid is ratelimited too).
[[gnu::cold, gnu::noinline]] void note_invalid(ct_worker& w, const ct_tuple& t, ct_dir dir,
                                               const tcp_segment& seg, const track_result& r,
                                               const tcp_window* win, uint8_t state,
                                               uint32_t now_ms, const ct_entry* e) {
  if (!w.rt->invalid_log.allow(now_ms) || w.rt->mailbox == nullptr) return;
  ct_invalid_note& n = w.rt->invalid_note;
  n.tuple = t;
  // An IPv6 flow's addresses, as the packet travelled: a translated flow's reply has its own.
  if (const ct_addr6* flow6 = ct_addr6_of(*w.rt->table, e)) {
    const ct_addr6* reply6 = ct_reply_addr6(*w.rt->table, e);
    n.addr6 = dir == ct_dir::original ? *flow6
              : reply6 != nullptr     ? *reply6
                                      : ct_addr6{flow6->dst, flow6->src};
  }
  n.seq = seg.seq;
  n.ack = seg.ack;
  n.window = seg.window;
  n.flags = seg.flags;
  n.reason = r.reason;
  if (r.reason == TCP_REASON_STATE || r.reason == TCP_REASON_IGNORED_STATE)
    n.bound = tcp_state_bound(tcp_flag_index(seg.flags), static_cast<uint8_t>(dir), state);
  else
    n.bound = win != nullptr ? win->reason_bound : 0;
  w.rt->mailbox->raise(log_kind::conntrack_invalid);
}

// The tracker settings (timeouts included) of an entry with a timeout policy (ct_timeout.h):
// the policy's while it is published, else `gateway`.
[[gnu::cold, gnu::noinline]] const tracker_params* policy_params(const ct_worker& w,
                                                                 const ct_entry& e,
                                                                 const tracker_params* gateway) {
  const ct_timeout_policies* all = w.rt->policies.load(std::memory_order_acquire);
  if (all == nullptr) return gateway;
  const auto x = ct_ext_get<ct_timeout_ext>(e.ext);
  const ct_timeout_policy& p = all->slot[x.slot];
  return p.gen == x.gen ? &p.params : gateway;
}

// The tracker settings an entry follows: its policy's or the gateway's (whose `timeouts` is
// w.rt->timeouts). `status` is the entry's: the extension id is in it, so a flow without a
// policy pays one compare.
inline const tracker_params* params_of(const ct_worker& w, uint16_t status, const ct_entry& e) {
  if (ct_ext_of(status) != ct_ext_id::timeout) [[likely]]
    return &w.rt->params;
  return policy_params(w, e, &w.rt->params);
}

// The window check may lower an assured flow's timeout (Linux's
// nf_tcp_handle_invalid): only when it has at least 120 s left and more
// than the lowered value.
[[gnu::cold, gnu::noinline]] void lower_timeout(ct_worker& w, ct_entry* e, uint8_t tclass,
                                                uint32_t now_ms) {
  const uint32_t left = e->expires_ms.load(std::memory_order_relaxed) - now_ms;
  const uint32_t lowered =
      params_of(w, e->status.load(std::memory_order_relaxed), *e)->timeouts->ms[tclass];
  if (ct_expired(*e, now_ms) || left < 120000 || left <= lowered) return;
  e->expires_ms.store(now_ms + lowered, std::memory_order_relaxed);
  w.counters.add(ct_counter::tcp_timeout_lowered);
  if (e->owner == w.id && e->pos != k_no_pos) {
    wheel_unlink(w, e);
    wheel_insert(w, e);
    w.counters.add(ct_counter::refiled);
  }
}

// A packet conntrack refuses before any lookup: INVALID, with its reason counted, and as Linux
// counts it in conntrack -S: an ICMP or ICMPv6 packet refused by its error handler
// (nf_conntrack_handle_icmp: truncated, bad checksum, an error quoting no flow) as `error`,
// every other as `invalid` (checked against the kernel by the differential tests).
void refuse(ct_worker& w, pkt_meta* m, ct_counter reason) {
  m->ct_info = CTINFO_INVALID;
  w.counters.add(is_icmp_like(m->l4.proto) ? ct_counter::error : ct_counter::invalid);
  w.counters.add(reason);
}

// ICMPv6 over IPv4 or ICMP over IPv6: Linux picks the tracker by protocol number, and each
// ICMP tracker refuses the other family's packets (nf_conntrack_icmp_packet's and
// nf_conntrack_icmpv6_packet's family checks): INVALID, counted as `invalid`, no entry.
[[gnu::cold, gnu::noinline]] void other_family_icmp(ct_worker& w, pkt_meta* m) {
  m->ct_info = CTINFO_INVALID;
  w.counters.add(ct_counter::invalid);
  w.counters.add(ct_counter::invalid_icmp_family);
}

// An ICMP error quoting no tracked flow.
void icmp_error_invalid(ct_worker& w, pkt_meta* m) { refuse(w, m, ct_counter::invalid_icmp_error); }

// An ICMP error about a packet of flow e that travelled in direction `quoted`: RELATED to e,
// travelling against it.
void mark_related(ct_worker& w, pkt_meta* m, ct_entry* e, ct_dir quoted) {
  m->ct = e;
  m->ct_dir = static_cast<uint8_t>(quoted == ct_dir::original ? ct_dir::reply : ct_dir::original);
  m->ct_info = CTINFO_RELATED;
  w.counters.add(ct_counter::related);
}

// Whether a packet's addresses `a` (in its own direction) are IPv6 flow f's, in either
// direction: its key matched, so its digests did; this tells a digest collision apart.
inline bool same_flow6(const ct_addr6& f, const ct_addr6& a) {
  return (a.src == f.src && a.dst == f.dst) || (a.src == f.dst && a.dst == f.src);
}

// Whether the flow at `pos` has addresses `a` (either direction); false in a table that holds
// no IPv6 addresses.
inline bool stored_flow6(const flow_table& table, uint32_t pos, const ct_addr6& a) {
  const ct_addr6* f = table.addr6_at(pos);
  return f != nullptr && same_flow6(*f, a);
}

// The flow an ICMP error's quote `t` names: by its key, else (a translated flow's reply, or its
// original as translated) by its reply key, then *via_reply is set. -1 when none holds it.
int32_t find_quoted(const ct_worker& w, const ct_tuple& t, bool* via_reply) {
  int32_t pos = w.rt->table->lookup(make_key(t));
  *via_reply = false;
  if (pos < 0)
    if (const reply_table* replies = w.rt->nat_replies.load(std::memory_order_acquire);
        replies != nullptr && replies->count() > 0) {
      pos = replies->lookup(make_key(t));
      *via_reply = true;
    }
  return pos;
}

// The direction the quoted packet travelled in flow e. A quote found by a translated flow's
// reply key is its reply, or its original as translated.
ct_dir quoted_direction(const ct_worker& w, const ct_entry& e, const ct_tuple& t, bool via_reply) {
  if (!via_reply) return direction_of(e, t);
  const ct_tuple r = ct_reply_tuple(*w.rt->table, &e);
  return t.src == r.src && (is_icmp_like(t.proto) || t.sport == r.sport) ? ct_dir::reply
                                                                         : ct_dir::original;
}

// nf_conntrack_inet_error: an ICMP error RELATED to the flow it quotes (the
// ICMP tracker reads the quote), or INVALID when that flow is not tracked, or when the error
// does not go to the quoted packet's source: Linux checks that the outer destination is the
// found tuple's destination, which is the quote's source, so that an error quoting A->B
// cannot reach a third host as RELATED.
void icmp_error_related(ct_worker& w, rte_mbuf* mb, pkt_meta* m, uint32_t now_ms) {
  auto invalid = [&] { icmp_error_invalid(w, m); };
  ct_tuple t;
  if (!icmp_error_quote(rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l4_off), m->l4_len, m->zone,
                        &t) ||
      t.src != m->dst)
    return invalid();
  bool via_reply;
  const int32_t pos = find_quoted(w, t, &via_reply);
  if (pos < 0) return invalid();
  ct_entry* e = w.rt->table->at(static_cast<uint32_t>(pos));
  if (!is_live(e->live.load(std::memory_order_acquire)) || ct_expired(*e, now_ms)) return invalid();
  // The error travels against the quoted packet.
  mark_related(w, m, e, quoted_direction(w, *e, t, via_reply));
}

// nf_conntrack_icmpv6_error's half of the same: the quote's addresses digested as a packet's,
// and its flow's full addresses compared (ct_entry.h).
[[gnu::noinline]] void icmp6_error_related(ct_worker& w, rte_mbuf* mb, pkt_meta* m,
                                           uint32_t now_ms) {
  ct_tuple t;
  ct_addr6 a;
  if (!icmp6_error_quote(rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l4_off), m->l4_len, m->zone,
                         &t, &a) ||
      std::memcmp(a.src.b, rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off + 24), 16) != 0)
    return icmp_error_invalid(w, m);
  addr6_digests(w.rt->addr6_key, a.src, a.dst, &t.src, &t.dst);
  bool via_reply;
  const int32_t pos = find_quoted(w, t, &via_reply);
  if (pos < 0) return icmp_error_invalid(w, m);
  ct_entry* e = w.rt->table->at(static_cast<uint32_t>(pos));
  const ct_addr6* f = via_reply ? w.rt->table->nat_reply6_at(static_cast<uint32_t>(pos))
                                : w.rt->table->addr6_at(static_cast<uint32_t>(pos));
  if (!is_live(e->live.load(std::memory_order_acquire)) || ct_expired(*e, now_ms) || f == nullptr ||
      !same_flow6(*f, a))
    return icmp_error_invalid(w, m);
  // The digests of one address pair compare as its addresses.
  mark_related(w, m, e, quoted_direction(w, *e, t, via_reply));
}

// Files an owned entry again under its current expiry (which moved earlier).
[[gnu::cold, gnu::noinline]] void refile(ct_worker& w, ct_entry* e) {
  wheel_unlink(w, e);
  wheel_insert(w, e);
  w.counters.add(ct_counter::refiled);
}

// Another worker's entry: ask its owner (the only one that may unlink it)
// to delete it. False if its ring is full.
bool ask_owner_to_delete(ct_worker& w, const ct_entry* e, uint32_t live, bool only_if_expired) {
  ct_worker* owner = e->owner < k_max_workers ? w.rt->workers[e->owner] : nullptr;
  return owner != nullptr && ct_request_delete(*owner, e->pos, live, only_if_expired);
}

// A lookup found `e` live but expired: reap it now if this worker owns it,
// else ask its owner to, once (CT_STATUS_DYING), if the owner still finds
// it expired. Either way it no longer matches packets here.
[[gnu::cold, gnu::noinline]] void reap_expired(ct_worker& w, ct_entry* e) {
  w.counters.add(ct_counter::expired_at_lookup);
  if (e->owner == w.id) {
    destroy_owned(w, e, ct_counter::expired);
    return;
  }
  if (!(e->status.fetch_or(CT_STATUS_DYING, std::memory_order_relaxed) & CT_STATUS_DYING))
    ask_owner_to_delete(w, e, e->live.load(std::memory_order_relaxed), true);
}

// The entry's connection has finished: tell the listener, once. Owner only
// (see ct_finish_listener): the owner is also the only destroyer, so the
// report and the one at destruction cannot interleave.
void note_finished(ct_worker& w, ct_entry* e) {
  if (w.rt->finish.finished == nullptr) return;
  uint16_t old = e->status.fetch_or(CT_STATUS_FINISH_NOTIFIED, std::memory_order_relaxed);
  if (!(old & CT_STATUS_FINISH_NOTIFIED))
    w.rt->finish.finished(w.rt->finish.ctx, make_key(e->orig));
}

// Whether `t` travels as translated flow e's reply tuple says replies do.
[[gnu::cold, gnu::noinline]] bool is_nat_reply(const ct_worker& w, ct_entry* e, const ct_tuple& t) {
  const ct_tuple r = ct_reply_tuple(*w.rt->table, e);
  return make_key(t) == make_key(r) && t.src == r.src &&
         (is_icmp_like(t.proto) || t.sport == r.sport);
}

// Another worker moved flow e's state first (only when RSS is not symmetric), so the first
// try's compare-and-swap lost and left that worker's state in `*raw`: the tracker runs again on
// it, up to 8 more times, without the window record, which is updated in place on the first try
// only. Out of line: as a loop around the tracker call inside track_existing, the retry kept
// enough values live across the call that every established packet spilled and reloaded them.
// Returns the last try's result; `*raw` is left as the last CAS leaves it (the state the last
// try started from, or after 9 lost races the winner's), and `*ts` and `*old_class` (the class
// the last try started from) are the last try's.
[[gnu::noinline]] track_result retry_track(ct_entry* e, const l4_tracker& tr, uint64_t* raw,
                                           track_state* ts, uint8_t* old_class, uint16_t status,
                                           ct_dir dir, const l4_info& l4, const tcp_segment* segp,
                                           const tracker_params& params, uint32_t now_ms) {
  for (int tries = 1;; tries++) {
    const track_state before = std::bit_cast<track_state>(*raw);
    *old_class = before.tclass;
    *ts = before;
    const track_result res = tr.packet(ts, nullptr, status, dir, l4, segp, params, now_ms);
    if (res.state_kept || *ts == before || e->cas_track(*raw, *ts) || tries == 8) return res;
  }
}

// A packet of a known flow: run the tracker and refresh.
// `by_reply`: found by its reply key (the flow is translated). Inlined into both families'
// ct_in: as a call it cost IPv4's established packets 35 instructions (callgrind).
[[gnu::always_inline]] inline void track_existing(ct_worker& w, ct_entry* e, rte_mbuf* mb,
                                                  pkt_meta* m, const ct_tuple& t, bool by_reply,
                                                  uint32_t now_ms, ct_acct* acct) {
  const l4_tracker& tr = tracker_for(t.proto);
  ct_dir dir = direction_of(*e, t);
  uint16_t status = e->status.load(std::memory_order_relaxed);
  if (status & CT_STATUS_NAT_MASK) [[unlikely]] {
    // A translated flow's reply tuple, which its NAT hooks read to rewrite the packet: start
    // the miss now (a line of the 16-byte-per-flow array), many stages before it is needed.
    rte_prefetch0(w.rt->table->nat_reply_at(e->pos));
    // Its key found by a packet that is not one of its two directions: the inverse of its
    // original (its server answering the client's own address), or a packet matching its
    // reply key the other way (the client addressing the server directly, past a dnat). Not
    // this flow's. Linux would start a new flow, which clashes at confirm or has its null
    // binding's port moved (docs/design/nat.md).
    if ((by_reply || dir == ct_dir::reply) && (dir != ct_dir::reply || !is_nat_reply(w, e, t))) {
      m->ct_info = CTINFO_INVALID;
      w.counters.add(ct_counter::invalid);
      w.counters.add(ct_counter::invalid_nat_tuple);
      return;
    }
  }
  uint64_t raw = e->track.load(std::memory_order_acquire);
  // TCP: the window record, which only the owner writes (tcp_window.h).
  tcp_segment seg;
  const tcp_segment* segp = nullptr;
  tcp_window* win = nullptr;
  if (t.proto == IPPROTO_TCP) {
    seg = tcp_segment_of(mb, *m);
    if (dir == ct_dir::original && ct_ext_of(status) == ct_ext_id::seqadj)
      seg.ack_offset = ct_seqadj_seq_offset(e->ext);
    segp = &seg;
    if (e->owner == w.id)
      win = window_of(w, e);
    else
      w.counters.add(ct_counter::tcp_window_not_owner);
  }
  const tracker_params& params = *params_of(w, status, *e);
  const timeout_table& timeouts = *params.timeouts;
  const track_state before = std::bit_cast<track_state>(raw);
  uint8_t old_class = before.tclass;
  track_state ts = before;
  track_result res = tr.packet(&ts, win, status, dir, m->l4, segp, params, now_ms);
  // Unchanged (most packets of an established flow): nothing to publish, and no locked
  // instruction. A tracker that knows it kept the state says so, and the compare is skipped.
  // Changed (a TCP flow's packets in turn from each side): published lock-free, inline.
  if (!res.state_kept && !(ts == before) && !e->cas_track(raw, ts)) [[unlikely]]
    res = retry_track(e, tr, &raw, &ts, &old_class, status, dir, m->l4, segp, params, now_ms);
  if (res.verdict != track_verdict::accept) [[unlikely]] {
    if (res.reason != TCP_REASON_NONE) w.counters.add(reason_counter(res.reason));
    if (res.verdict == track_verdict::invalid) {
      w.counters.add(ct_counter::invalid);
      if (res.reason == TCP_REASON_NONE) w.counters.add(ct_counter::invalid_state);
      if (res.lower_to_class != TC_COUNT) lower_timeout(w, e, res.lower_to_class, now_ms);
      if (w.rt->log_invalid && segp != nullptr)
        note_invalid(w, t, dir, seg, res, win, ts.l4state, now_ms, e);
      m->ct_info = CTINFO_INVALID;
      return;
    }
    // Ignored: the packet keeps the flow's ct state; nothing is refreshed.
    // A reply still counts as one (Linux sets SEEN_REPLY for every packet
    // the tracker did not call invalid).
    if (dir == ct_dir::reply && !(status & CT_STATUS_SEEN_REPLY))
      e->status.fetch_or(CT_STATUS_SEEN_REPLY, std::memory_order_relaxed);
    m->ct = e;
    m->ct_dir = static_cast<uint8_t>(dir);
    bool replied = dir == ct_dir::reply || (status & CT_STATUS_SEEN_REPLY);
    m->ct_info = replied ? CTINFO_ESTABLISHED : CTINFO_NEW;
    w.counters.add(ct_counter::found);
    return;
  }
  if (res.clear_status != 0) {
    // A reopened connection is a new one for Linux: fresh flags, mark 0.
    e->status.fetch_and(static_cast<uint16_t>(~res.clear_status), std::memory_order_relaxed);
    e->mark.store(0, std::memory_order_relaxed);
    status &= static_cast<uint16_t>(~res.clear_status);
  }
  uint16_t set = res.set_status;
  if (dir == ct_dir::reply && !(status & CT_STATUS_SEEN_REPLY)) set |= CT_STATUS_SEEN_REPLY;
  if (t.proto == IPPROTO_TCP && tcp_finished(ts.l4state) && !(status & CT_STATUS_FINISH_NOTIFIED) &&
      e->owner == w.id)
    note_finished(w, e);
  const uint16_t newly_set = set & ~status;
  if (newly_set != 0) e->status.fetch_or(set, std::memory_order_relaxed);
  e->expires_ms.store(now_ms + timeouts.ms[ts.tclass], std::memory_order_relaxed);
  // conntrack -E's UPDATE: Linux's IPCT_PROTOINFO (the TCP state moved), IPCT_REPLY and
  // IPCT_ASSURED, one event per packet. Most packets change none of these and skip the load.
  // `raw` still holds the state this packet started from (the CAS leaves it when it succeeds;
  // after 9 lost races it holds the winner's, and that packet's event is the winner's).
  if ((newly_set & (CT_STATUS_SEEN_REPLY | CT_STATUS_ASSURED) ||
       ts.l4state != std::bit_cast<track_state>(raw).l4state) &&
      e->pos != k_no_pos && (w.rt->events.load(std::memory_order_relaxed) & CT_EVENT_UPDATE))
      [[unlikely]]
    emit_event(w, CT_EVENT_UPDATE, e, now_ms);
  // A shorter timeout (ESTABLISHED -> CLOSE after an RST, SYN_SENT ->
  // SYN_RECV, ...) would leave the entry filed under its old, later expiry:
  // file it again so the wheel reaps it on time. Class changes are rare, and
  // only the owner may move its wheel links.
  if (ts.tclass != old_class && e->owner == w.id && timeouts.ms[ts.tclass] < timeouts.ms[old_class])
    refile(w, e);
  if (acct != nullptr) account(acct, e, dir, mb, m);
  m->ct = e;
  m->ct_dir = static_cast<uint8_t>(dir);
  bool replied = dir == ct_dir::reply || (status & CT_STATUS_SEEN_REPLY);
  m->ct_info = replied ? CTINFO_ESTABLISHED : CTINFO_NEW;
  w.counters.add(ct_counter::found);
}

// Takes one unit of `max` for a new flow: free room, or room made by early
// drop (an unassured entry among the positions the new flow's hash samples, found
// as often as Linux's early_drop finds one). On failure the new flow is dropped:
// counted, and "table full" logged, rate-limited.
bool reserve_or_evict(ct_worker& w, const flow_key& key, bool privileged, uint32_t now_ms) {
  flow_table& table = *w.rt->table;
  if (table.try_reserve(privileged) ||
      (ct_early_drop(w, shared_hash_sig(key), now_ms) && table.try_reserve(privileged)))
    return true;
  w.counters.add(ct_counter::drop);
  note_table_full(w, now_ms);
  return false;
}

// A packet of a translated flow another worker owns goes to that worker's hand-off ring, to
// be tracked there from conntrack on (docs/design/nat.md, Workers): only the owner keeps the
// TCP window record and the expiry wheel. False (drop it) when the ring is full.
[[gnu::noinline]] bool hand_off(ct_worker& w, uint16_t owner_id, rte_mbuf* mb, pkt_meta* m) {
  ct_worker* owner = owner_id < k_max_workers ? w.rt->workers[owner_id] : nullptr;
  m->ct = nullptr;
  if (owner == nullptr || owner->handoff_ring == nullptr ||
      rte_ring_mp_enqueue(owner->handoff_ring, mb) != 0) {
    w.counters.add(ct_counter::handoff_full);
    return false;
  }
  w.counters.add(ct_counter::handoff);
  return true;
}

// Keys the flow table missed, looked up as translated flows' reply keys (a second bulk
// lookup, paid only while some flow is translated; called once NAT is enabled): pos[j]
// becomes the flow's position.
// Returns the keys found here, bit j for key j.
[[gnu::noinline]] uint64_t lookup_replies(const reply_table& replies, const flow_key* const* kp,
                                          uint32_t nk, int32_t* pos) {
  const flow_key* missed[64];
  uint32_t at[64];
  uint32_t n = 0;
  for (uint32_t j = 0; j < nk; j++)
    if (pos[j] < 0) {
      missed[n] = kp[j];
      at[n++] = j;
    }
  // The table's count is a line every worker writes under NAT churn: read only when some key
  // missed (a burst of known flows never touches it).
  if (n == 0 || replies.count() == 0) return 0;
  int32_t found[64];
  replies.lookup_bulk(missed, n, found);
  uint64_t hit = 0;
  for (uint32_t k = 0; k < n; k++) {
    pos[at[k]] = found[k];
    if (found[k] >= 0) hit |= uint64_t{1} << at[k];
  }
  return hit;
}

// An IPv6 packet whose key another flow holds, with other addresses (a digest collision,
// ct_entry.h): it cannot have an entry of its own, and is INVALID, counted.
[[gnu::cold, gnu::noinline]] void digest_clash(ct_worker& w, pkt_meta* m) {
  m->ct_info = CTINFO_INVALID;
  w.counters.add(ct_counter::invalid);
  w.counters.add(ct_counter::clash_addr6);
}

// A packet of an unknown flow: an unconfirmed entry, or a verdict.
// `a6`: an IPv6 packet's addresses (null for IPv4).
bool create_unconfirmed(ct_worker& w, rte_mbuf* mb, pkt_meta* m, const ct_tuple& t,
                        const flow_key& key, uint32_t now_ms, ct_acct* acct, const ct_addr6* a6) {
  track_state ts;
  // The window record is filled in a local first: the pool element is taken
  // only once the packet may open a flow.
  tcp_window win;
  tcp_segment seg;
  const bool tcp = t.proto == IPPROTO_TCP;
  if (tcp) seg = tcp_segment_of(mb, *m);
  if (!tracker_for(t.proto).new_flow(m->l4, tcp ? &seg : nullptr, w.rt->params, now_ms, &ts,
                                     tcp ? &win : nullptr)) {
    w.counters.add(ct_counter::invalid);
    w.counters.add(ct_counter::invalid_state);
    m->ct_info = CTINFO_INVALID;
    return true;
  }
  flow_table& table = *w.rt->table;
  if (!reserve_or_evict(w, key, (m->mark & w.rt->reserved_mark) != 0, now_ms)) return false;
  void* obj = nullptr;
  if (w.n_unconfirmed >= k_max_unconfirmed || rte_mempool_get(w.rt->pool, &obj) != 0) {
    table.unreserve();
    w.counters.add(ct_counter::alloc_failed);
    return false;
  }
  auto* e = new (obj) ct_entry();
  if (tcp) *unconfirmed_window(e) = win;
  unconfirmed_acct(e)->clear();
  if (a6 != nullptr) *unconfirmed_addr6(e) = *a6;
  e->orig = t;
  e->owner = w.id;
  e->store_track(ts);
  e->expires_ms.store(now_ms + w.rt->timeouts.ms[ts.tclass], std::memory_order_relaxed);
  unconfirmed_add(w, e);
  if (acct != nullptr) account(acct, e, ct_dir::original, mb, m);
  m->ct = e;
  m->ct_dir = static_cast<uint8_t>(ct_dir::original);
  m->ct_info = CTINFO_NEW;
  w.counters.add(ct_counter::new_);
  return true;
}

}  // namespace

// Linux's early_drop looks only at NF_CT_EVICTION_RANGE buckets from the new flow's, so a
// sparse table (the article's max=7) almost never finds a victim while a full, dense one almost
// always does. At a full table those 8 buckets hold a Poisson number of flows with mean
// lambda = 16 * max / buckets (each flow is chained twice): they hold one with probability
// T = 1 - exp(-lambda). n positions, each live with p = max / capacity, hold one with
// probability 1 - (1 - p)^n, and n + f positions (one more with probability f) with
// 1 - (1 - p)^n * (1 - f * p). So n is the largest whole number with 1 - (1 - p)^n <= T, and f
// makes up the rest: about 16 * capacity / buckets positions while p is small.
uint32_t early_drop_samples_x256(uint32_t capacity, uint32_t max, uint32_t buckets) {
  const double p = std::min(0.999, static_cast<double>(max) / std::max<uint32_t>(capacity, 1));
  if (p <= 0) return 0;
  const double lambda = 16.0 * max / std::max<uint32_t>(buckets, 1);
  const double whole = std::floor(lambda / -std::log1p(-p));
  if (whole >= k_early_drop_max_samples) return 256 * k_early_drop_max_samples;
  const double f = (1 - std::exp(-lambda - whole * std::log1p(-p))) / p;
  return static_cast<uint32_t>(256 * whole + std::clamp(std::round(f * 256), 0.0, 255.0));
}

uint32_t early_drop_positions(uint32_t hash, uint32_t samples_x256, uint32_t capacity,
                              uint32_t* out) {
  // splitmix64 over the hash: uniform positions, and a draw for the fraction, from one seed.
  uint64_t state = hash;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  uint32_t n = samples_x256 >> 8;
  if ((next() & 255) < (samples_x256 & 255)) n++;
  n = std::min(n, k_early_drop_max_samples);
  for (uint32_t i = 0; i < n; i++)
    out[i] = static_cast<uint32_t>(((next() >> 32) * capacity) >> 32);
  return n;
}

bool ct_early_drop(ct_worker& w, uint32_t hash, uint32_t now_ms) {
  flow_table& t = *w.rt->table;
  uint32_t pos[k_early_drop_max_samples];
  const uint32_t n = early_drop_positions(hash, w.rt->early_drop_samples_x256, t.capacity(), pos);
  // Up to 64 scattered lines, each likely a miss in a large table: start them all at once.
  for (uint32_t i = 0; i < n; i++) rte_prefetch0(t.at(pos[i]));
  for (uint32_t i = 0; i < n; i++) {
    ct_entry* e = t.at(pos[i]);
    if (!is_live(e->live.load(std::memory_order_acquire)) || e->owner != w.id) continue;
    if (ct_expired(*e, now_ms)) {  // timed out, the wheel not there yet: free room
      destroy_owned(w, e, ct_counter::expired);
      return true;
    }
    if (e->status.load(std::memory_order_relaxed) & CT_STATUS_ASSURED) continue;
    destroy_owned(w, e, ct_counter::early_drop);
    return true;
  }
  return false;
}

ct_worker::ct_worker() {
  for (auto& h : wheel_head) h = k_no_pos;
}

result<void> ct_runtime_init(ct_runtime* rt, const conntrack_config& cfg, rte_rcu_qsbr* qs,
                             const std::string& name) {
  result<std::unique_ptr<flow_table>> table = flow_table::create(name + "_flows", cfg.max);
  if (!table) return std::move(table).error();
  rt->table = table->release();
  static_assert(sizeof(ct_entry) % alignof(tcp_window) == 0);
  rt->qs = qs;
  rt->name = name;
  // The IPv6 digests' key: secret, so that nobody can choose addresses whose digests collide
  // with a victim flow's. The TSC only if getrandom fails, which it does not once the pool is up.
  if (getrandom(rt->addr6_key, sizeof rt->addr6_key, 0) !=
      static_cast<ssize_t>(sizeof rt->addr6_key))
    for (uint32_t& k : rt->addr6_key)
      k = static_cast<uint32_t>(rte_rdtsc() * 0x9e3779b97f4a7c15ull >> 32);
  rt->pool = rte_mempool_create((name + "_unconf").c_str(), 8191, k_unconfirmed_bytes, 64, 0,
                                nullptr, nullptr, nullptr, nullptr, SOCKET_ID_ANY, 0);
  if (rt->pool == nullptr)
    return error{.message =
                     "conntrack: unconfirmed entry pool: " + std::string(rte_strerror(rte_errno))};
  rt->params.tcp_loose = cfg.tcp_loose;
  rt->params.tcp_be_liberal = cfg.tcp_be_liberal;
  rt->params.tcp_ignore_invalid_rst = cfg.tcp_ignore_invalid_rst;
  rt->params.tcp_max_retrans = cfg.tcp_max_retrans;
  rt->params.timeouts = &rt->timeouts;
  rt->log_invalid = cfg.log_invalid;
  rt->invalid_log.set_interval(cfg.log_interval_ms);
  rt->check_checksums = cfg.checksum;
  rt->early_drop_samples_x256 =
      early_drop_samples_x256(rt->table->capacity(), cfg.max, cfg.buckets);
  if (cfg.acct)
    if (result<void> on = rt->table->enable_accounting(); !on) return std::move(on).error();
  rt->reserved_mark = cfg.reserved_mark;
  rt->table->set_reserved(cfg.reserved);
  rt->timeouts = make_timeout_table(cfg.timeouts);
  rt->full_log.set_interval(cfg.log_interval_ms);
  rt->nat_log.set_interval(cfg.log_interval_ms);
  return {};
}

void ct_runtime_fini(ct_runtime* rt) {
  delete rt->nat_replies.exchange(nullptr);
  delete rt->nat_by_source.exchange(nullptr);
  delete rt->table;
  rt->table = nullptr;
  rte_mempool_free(rt->pool);
  rt->pool = nullptr;
}

result<void> ct_worker_init(ct_worker* w, uint16_t id, ct_runtime* rt, uint32_t now_ms) {
  w->id = id;
  w->rt = rt;
  // Translated ports must not be predictable across boots (an off-path attacker who knows
  // them can inject into the connection): seed from the kernel's CSPRNG. The worker id and
  // TSC only matter if getrandom fails, which it does not once the pool is initialised.
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) seed = rte_rdtsc();
  w->nat_rand ^= seed ^ (static_cast<uint64_t>(id) + 1) * 0xbf58476d1ce4e5b9ull;
  if (w->nat_rand == 0) w->nat_rand = 0x9e3779b97f4a7c15ull;  // xorshift's one fixed point
  if (id < k_max_workers) rt->workers[id] = w;
  w->wheel_tick = now_ms & ~(k_wheel_span_ms - 1);
  std::string name = "ct_kill_" + std::to_string(id) + "_" +
                     std::to_string(reinterpret_cast<uintptr_t>(w) & 0xffffff);
  w->kill_ring = rte_ring_create(name.c_str(), 65536, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (w->kill_ring == nullptr)
    return error{.message = "conntrack: kill ring: " + std::string(rte_strerror(rte_errno))};
  name = "ct_hand_" + std::to_string(id) + "_" +
         std::to_string(reinterpret_cast<uintptr_t>(w) & 0xffffff);
  w->handoff_ring = rte_ring_create(name.c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
  if (w->handoff_ring == nullptr)
    return error{.message = "conntrack: hand-off ring: " + std::string(rte_strerror(rte_errno))};
  // In DPDK's memory, as the worker's context that points at it (and so where a leak checker
  // that scans only the process heap does not look for the pointer).
  void* ring = rte_zmalloc("ct_events", sizeof(ct_event_ring), alignof(ct_event_ring));
  if (ring == nullptr)
    return error{.message = "conntrack: event ring: " + std::string(rte_strerror(rte_errno))};
  w->events = new (ring) ct_event_ring;
  void* cache = rte_malloc("ct_flow_cache", sizeof(flow_cache), alignof(flow_cache));
  if (cache == nullptr)
    return error{.message = "conntrack: flow cache: " + std::string(rte_strerror(rte_errno))};
  w->cache = new (cache) flow_cache;
  return {};
}

void emit_event(ct_worker& w, uint8_t type, const ct_entry* e, uint32_t now_ms) {
  ct_event ev;
  ev.at_ms = now_ms;
  ev.type = type;
  const flow_table& t = *w.rt->table;
  const uint32_t p = e->pos;
  if (!read_entry(*e, p, &ev.view, t.acct_at(p), t.nat_reply_at(p), t.addr6_at(p),
                  t.nat_reply6_at(p)))
    return;
  if (!w.events->push(ev)) w.counters.add(ct_counter::event_dropped);
}

void ct_worker_fini(ct_worker* w) {
  rte_free(w->cache);
  w->cache = nullptr;
  if (w->events != nullptr) {
    w->events->~ct_event_ring();
    rte_free(w->events);
    w->events = nullptr;
  }
  rte_ring_free(w->kill_ring);
  w->kill_ring = nullptr;
  // Packets still waiting for this worker (it stopped first): free them.
  if (w->handoff_ring != nullptr) {
    void* left[64];
    while (unsigned n = rte_ring_dequeue_burst(w->handoff_ring, left, 64, nullptr))
      rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(left), n);
  }
  rte_ring_free(w->handoff_ring);
  w->handoff_ring = nullptr;
}

namespace {

// An IPv6 packet's tuple (family k_family_ipv6; its addresses' digests are the caller's to
// compute, ct_in6 does a burst's in pairs) and addresses, or false when conntrack gave it its
// state here: a bad checksum, an ICMPv6 error (RELATED or INVALID), or neighbour discovery
// (untracked, as Linux).
bool ipv6_tuple(ct_worker& w, rte_mbuf* mb, pkt_meta* m, uint32_t now_ms, ct_tuple* t,
                ct_addr6* a) {
  if (m->l4.proto == IPPROTO_ICMP) [[unlikely]] {
    other_family_icmp(w, m);
    return false;
  }
  if (w.rt->check_checksums && !l4_checksum_ok<true>(mb, m)) {
    refuse(w, m, ct_counter::invalid_checksum);
    return false;
  }
  if (m->l4.proto == IPPROTO_ICMPV6) {
    if (icmp6_is_error(m->l4.icmp_type)) {
      icmp6_error_related(w, mb, m, now_ms);
      return false;
    }
    if (icmp6_is_untracked(m->l4.icmp_type)) {
      m->ct_info = CTINFO_UNTRACKED;
      w.counters.add(ct_counter::untracked);
      return false;
    }
  }
  const auto* ip6 = rte_pktmbuf_mtod_offset(mb, const rte_ipv6_hdr*, m->l3_off);
  std::memcpy(a->src.b, ip6->src_addr, 16);
  std::memcpy(a->dst.b, ip6->dst_addr, 16);
  *t = tuple_of(*m);
  t->family = k_family_ipv6;
  return true;
}

// The digests of tuples[0..n) from their addresses, k_digest_lanes at a time.
constexpr int k_digest_lanes = 2;  // 4 measured no better (docs/design/ipv6.md)
void digest_tuples6(const ct_worker& w, ct_tuple* tuples, const ct_addr6* addrs, uint32_t n) {
  uint32_t j = 0;
  for (; j + k_digest_lanes <= n; j += k_digest_lanes) {
    const ipv6_addr* src[k_digest_lanes];
    const ipv6_addr* dst[k_digest_lanes];
    uint32_t* sd[k_digest_lanes];
    uint32_t* dd[k_digest_lanes];
    for (int i = 0; i < k_digest_lanes; i++) {
      src[i] = &addrs[j + i].src;
      dst[i] = &addrs[j + i].dst;
      sd[i] = &tuples[j + i].src;
      dd[i] = &tuples[j + i].dst;
    }
    addr6_digests_n<k_digest_lanes>(w.rt->addr6_key, src, dst, sd, dd);
  }
  for (; j < n; j++)
    addr6_digests(w.rt->addr6_key, addrs[j].src, addrs[j].dst, &tuples[j].src, &tuples[j].dst);
}

// ct_in for one family: a burst is all IPv4 or all IPv6 (hook.h), and IPv4's pays nothing for
// IPv6's addresses.
template <bool V6>
uint16_t ct_in_family(ct_worker& w, uint32_t now_ms, rte_mbuf** pkts, uint16_t n, verdict* v) {
  constexpr uint16_t k_chunk = 64;  // RTE_HASH_LOOKUP_BULK_MAX
  flow_key keys[k_chunk];
  const flow_key* kp[k_chunk];
  ct_tuple tuples[k_chunk];
  uint16_t index[k_chunk];
  int32_t pos[k_chunk];
  // IPv6: the packets' addresses, compared with their flows' on a hit.
  std::conditional_t<V6, ct_addr6[k_chunk], char> addrs;
  uint16_t drops = 0;

  for (uint16_t base = 0; base < n; base += k_chunk) {
    uint16_t end = static_cast<uint16_t>(n - base > k_chunk ? base + k_chunk : n);
    uint32_t nk = 0;
    for (uint16_t i = base; i < end; i++) {
      pkt_meta* m = meta_of(pkts[i]);
      if (m->ct != nullptr) continue;  // already attached (e.g. re-entered)
      if (m->flags & PKT_F_NOTRACK) {
        m->ct_info = CTINFO_UNTRACKED;
        w.counters.add(ct_counter::untracked);
        continue;
      }
      if (m->l4_invalid != L4_OK) [[unlikely]] {
        if (m->l4_invalid == L4_FRAGMENT) {
          // A later fragment reassembly let through (IPv6's, for a length that is not a
          // multiple of 8): no L4 header, so INVALID and counted `invalid`, as Linux's
          // get_l4proto refuses it; rules see `ct state invalid`.
          m->ct_info = CTINFO_INVALID;
          w.counters.add(ct_counter::invalid);
          w.counters.add(ct_counter::invalid_fragment);
        } else {
          refuse(w, m, invalid_counter(m->l4_invalid));
        }
        continue;
      }
      if constexpr (V6) {
        if (!ipv6_tuple(w, pkts[i], m, now_ms, &tuples[nk], &addrs[nk])) continue;
      } else {
        if (m->l4.proto == IPPROTO_ICMPV6) [[unlikely]] {
          other_family_icmp(w, m);
          continue;
        }
        if (w.rt->check_checksums && !l4_checksum_ok<false>(pkts[i], m)) {
          refuse(w, m, ct_counter::invalid_checksum);
          continue;
        }
        if (m->l4.proto == IPPROTO_ICMP && icmp_is_error(m->l4.icmp_type)) {
          icmp_error_related(w, pkts[i], m, now_ms);
          continue;
        }
        tuples[nk] = tuple_of(*m);
        keys[nk] = make_key(tuples[nk]);
      }
      kp[nk] = &keys[nk];
      index[nk++] = i;
    }
    if (nk == 0) continue;
    if constexpr (V6) {
      digest_tuples6(w, tuples, addrs, nk);
      for (uint32_t j = 0; j < nk; j++) keys[j] = make_key(tuples[j]);
    }
    // The cache is judged by the flows the table holds (`known`): a new flow misses both. It is
    // not judged while off, so the table's answers need no count then.
    uint32_t cached = 0, known = 0;
    if (w.cache->in_use) {
      cached = w.rt->table->lookup_bulk(kp, nk, pos, *w.cache, &known);
      w.counters.add(ct_counter::flow_cache_hit, cached);
      w.counters.add(ct_counter::flow_cache_miss, nk - cached);
    } else {
      w.rt->table->lookup_bulk(kp, nk, pos);
    }
    if (w.cache->tally(cached, known)) w.counters.add(ct_counter::flow_cache_off);
    uint64_t by_reply = 0;
    const reply_table* replies = w.rt->nat_replies.load(std::memory_order_acquire);
    if (replies != nullptr) [[unlikely]]
      by_reply = lookup_replies(*replies, kp, nk, pos);
    ct_acct* const acct = w.rt->table->acct_array();
    // Start every entry's cache miss before the first is needed: at 1M flows
    // the entry load was the largest single cost of tracking a packet. (An entry the flow cache
    // answered for has been read already; its prefetch costs an instruction.)
    for (uint32_t j = 0; j < nk; j++) {
      if (pos[j] < 0) continue;
      rte_prefetch0(w.rt->table->at(static_cast<uint32_t>(pos[j])));
      // A TCP flow's window record is its second line.
      if (tuples[j].proto == IPPROTO_TCP)
        rte_prefetch0(w.rt->table->window_at(static_cast<uint32_t>(pos[j])));
      if (acct != nullptr) rte_prefetch0(&acct[pos[j]]);
      if constexpr (V6) rte_prefetch0(w.rt->table->addr6_at(static_cast<uint32_t>(pos[j])));
      // With NAT on, a translated IPv6 flow's reply addresses: read below for a reply and at
      // the rewrite (its reply tuple is prefetched by track_existing, once it is known
      // translated).
      if constexpr (V6)
        if (replies != nullptr) [[unlikely]]
          rte_prefetch0(w.rt->table->nat_reply6_at(static_cast<uint32_t>(pos[j])));
    }
    for (uint32_t j = 0; j < nk; j++) {
      pkt_meta* m = meta_of(pkts[index[j]]);
      if (pos[j] >= 0) {
        ct_entry* e = w.rt->table->at(static_cast<uint32_t>(pos[j]));
        if (is_live(e->live.load(std::memory_order_acquire))) {
          if (!ct_expired(*e, now_ms)) {
            if constexpr (V6) {
              // A translated flow found by its reply key has its reply's addresses.
              const uint32_t p = static_cast<uint32_t>(pos[j]);
              const ct_addr6* f =
                  ((by_reply >> j) & 1) ? w.rt->table->nat_reply6_at(p) : w.rt->table->addr6_at(p);
              if (f == nullptr || !same_flow6(*f, addrs[j])) [[unlikely]] {
                digest_clash(w, m);
                continue;
              }
            }
            if (e->owner != w.id &&
                (e->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK) &&
                !(m->flags & PKT_F_LOCAL_OUT) && !(m->l2_flags & L2F_BRIDGED)) [[unlikely]] {
              v[index[j]] =
                  hand_off(w, e->owner, pkts[index[j]], m) ? verdict::stolen : verdict::drop;
              drops++;
              continue;
            }
            track_existing(w, e, pkts[index[j]], m, tuples[j], (by_reply >> j) & 1, now_ms, acct);
            continue;
          }
          // Timed out, not reaped yet: gone, as in Linux. This packet may
          // start a new flow; its owner's wheel would have been late.
          reap_expired(w, e);
        } else {
          // Claimed by another worker but not yet published, or being
          // deleted: take the new-flow path; confirm resolves any clash.
          w.counters.add(ct_counter::search_restart);
        }
      }
      const ct_addr6* a6 = nullptr;
      if constexpr (V6) a6 = &addrs[j];
      if (!create_unconfirmed(w, pkts[index[j]], m, tuples[j], keys[j], now_ms, acct, a6)) {
        v[index[j]] = verdict::drop;
        drops++;
      }
    }
  }
  return drops;
}

}  // namespace

uint16_t ct_in(ct_worker& w, uint32_t now_ms, rte_mbuf** pkts, uint16_t n, verdict* v) {
  return ct_in_family<false>(w, now_ms, pkts, n, v);
}

uint16_t ct_in6(ct_worker& w, uint32_t now_ms, rte_mbuf** pkts, uint16_t n, verdict* v) {
  // Conntrack for IPv6 off (no port has address6, so no addresses array): once per burst, every
  // packet not already attached passes untracked.
  if (!w.rt->table->ipv6()) [[unlikely]] {
    for (uint16_t i = 0; i < n; i++)
      if (pkt_meta* m = meta_of(pkts[i]); m->ct == nullptr) {
        m->ct_info = CTINFO_UNTRACKED;
        w.counters.add(ct_counter::untracked_ipv6_off);
      }
    return 0;
  }
  return ct_in_family<true>(w, now_ms, pkts, n, v);
}

namespace {

// Claims table slot `t` (position p) for the flow described by `src` and
// publishes it: CAS FREE -> CLAIMING, fill, release-store LIVE, file on the
// owner's wheel. False if another worker holds the slot (a clash).
bool claim_and_publish(ct_worker& w, ct_entry* t, uint32_t p, const ct_entry& src,
                       const tcp_window* src_win, const ct_acct* src_acct,
                       const ct_tuple* src_reply) {
  uint32_t live = t->live.load(std::memory_order_acquire);
  if ((live & ENTRY_STATE_MASK) != ENTRY_FREE ||
      !t->live.compare_exchange_strong(live, next_claim(live, ENTRY_CLAIMING),
                                       std::memory_order_acq_rel))
    return false;
  // We own the slot: fill it, then publish with a release store so a reader
  // that sees LIVE sees every field.
  t->orig = src.orig;
  t->owner = w.id;
  t->status.store(src.status.load(std::memory_order_relaxed) | CT_STATUS_CONFIRMED,
                  std::memory_order_relaxed);
  t->track.store(src.track.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->expires_ms.store(src.expires_ms.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->mark.store(src.mark.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->ext = src.ext;
  if (src.orig.proto == IPPROTO_TCP) {
    tcp_window* tw = w.rt->table->window_at(p);
    if (src_win != nullptr)
      *tw = *src_win;
    else
      *tw = tcp_window{};
  }
  if (ct_acct* a = w.rt->table->acct_at(p)) {
    if (src_acct != nullptr)
      a->copy_from(*src_acct);
    else
      a->clear();
  }
  // A translated flow's reply tuple, before the entry is LIVE: a reader that finds the flow
  // by its original key reads it to tell a reply from a stray packet.
  if (src.status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK) {
    *w.rt->table->nat_reply_at(p) = *src_reply;
    if (src.orig.family == k_family_ipv6)
      *w.rt->table->nat_reply6_at(p) = *ct_unconfirmed_reply6(const_cast<ct_entry*>(&src));
  }
  // An IPv6 flow's addresses, before it is LIVE: a reader that finds its key compares them.
  if (src.orig.family == k_family_ipv6)
    *w.rt->table->addr6_at(p) = *unconfirmed_addr6(const_cast<ct_entry*>(&src));
  t->pos = p;
  t->unconfirmed_idx = k_not_unconfirmed;
  t->live.store(next_claim(live, ENTRY_LIVE), std::memory_order_release);
  wheel_insert(w, t);
  w.owned++;
  return true;
}

// Whether the flow at position p (found by a lookup) is another flow that still holds its
// key: being published or live. An expired one that this worker owns is reaped, and no longer
// holds it; one another worker owns is asked for (reap_expired) but holds the key until its
// owner removes it (Linux kills an expired holder at once; ctgate cannot destroy another
// worker's entry, so the new flow is dropped and its client's retry finds the key free).
bool holds_key(ct_worker& w, int32_t p, const ct_entry* self, uint32_t now_ms) {
  if (p < 0) return false;
  ct_entry* o = w.rt->table->at(static_cast<uint32_t>(p));
  if (o == self) return false;
  const uint32_t live = o->live.load(std::memory_order_acquire);
  if ((live & ENTRY_STATE_MASK) == ENTRY_FREE) return false;
  if (is_live(live) && ct_expired(*o, now_ms)) {
    const bool owned = o->owner == w.id;
    reap_expired(w, o);
    return !owned;
  }
  return true;
}

// Adds confirmed translated flow t's reply key; false when another flow holds it. A holder
// that expired but is not reaped yet is reaped here when this worker owns it, and the key
// added again (it would otherwise block the tuple until the wheel comes round).
bool publish_reply_key(ct_worker& w, ct_entry* t, uint32_t now_ms) {
  reply_table* replies = w.rt->nat_replies.load(std::memory_order_acquire);
  if (replies == nullptr) return false;
  const flow_key key = make_key(*w.rt->table->nat_reply_at(t->pos));
  if (replies->add(key, t->pos) == 0) return true;
  const int32_t p = replies->lookup(key);
  if (p < 0 || holds_key(w, p, t, now_ms)) return false;
  return replies->add(key, t->pos) == 0;
}

// A source-translated flow that offers its mapping to its source's next connections
// (find_appropriate_src, ct_nat.cpp): its source key, unless another live flow of the source
// holds it already (one flow per source; when it ends, the next flow that offers takes it).
void publish_source_key(ct_worker& w, const ct_entry* t) {
  if (reply_table* by_source = w.rt->nat_by_source.load(std::memory_order_acquire))
    by_source->add(nat_source_key(*w.rt, t->orig, source6(*w.rt->table, t)), t->pos);
}

// Linux keeps both tuples of every flow in one hash and refuses, at confirm, a flow either of
// whose tuples another flow has. ctgate's two tables are checked across after the insert, so
// a flow's key and another flow's reply key that are taken in the same instant do not both
// stay: each side publishes, then (after a full fence, so that at least one of two racing
// workers sees the other) looks in the other table; a translated flow looks up both its keys
// there. Only while NAT is on.
bool key_taken_across(ct_worker& w, const ct_entry* t, uint16_t nat, uint32_t now_ms) {
  reply_table* replies = w.rt->nat_replies.load(std::memory_order_acquire);
  if (replies == nullptr) return false;
  // A plain flow skips the fence while the reply table is empty: a translated flow that
  // publishes its first reply key in the same instant can then miss it, and both stay.
  if (nat == 0 && replies->count() == 0) return false;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (nat != 0 &&
      holds_key(w, w.rt->table->lookup(make_key(*w.rt->table->nat_reply_at(t->pos))), t, now_ms))
    return true;
  return holds_key(w, replies->lookup(make_key(t->orig)), t, now_ms);
}

// Clash resolution adopts the winner's entry only when the loser's packet would have been
// translated the same way (Linux's nf_ct_resolve_clash compares both tuples).
bool same_nat(const ct_worker& w, const ct_entry& winner, ct_entry* loser) {
  const uint16_t a = winner.status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK;
  const uint16_t b = loser->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK;
  if (a != b) return false;
  if (a == 0) return true;
  if (!(*w.rt->table->nat_reply_at(winner.pos) == *ct_unconfirmed_reply(loser))) return false;
  return loser->orig.family != k_family_ipv6 ||
         *w.rt->table->nat_reply6_at(winner.pos) == *ct_unconfirmed_reply6(loser);
}

}  // namespace

ct_tuple* ct_unconfirmed_reply(ct_entry* e) {
  return reinterpret_cast<ct_tuple*>(reinterpret_cast<char*>(e + 1) + sizeof(tcp_window) +
                                     sizeof(ct_acct));
}

ct_addr6* ct_unconfirmed_reply6(ct_entry* e) {
  return reinterpret_cast<ct_addr6*>(reinterpret_cast<char*>(e) + k_unconfirmed_bytes -
                                     sizeof(ct_addr6));
}

const ct_addr6* ct_reply_addr6(const flow_table& table, const ct_entry* e) {
  if (e->orig.family != k_family_ipv6 ||
      !(e->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK))
    return nullptr;
  if (e->pos == k_no_pos) return ct_unconfirmed_reply6(const_cast<ct_entry*>(e));
  return table.nat_reply6_at(e->pos);
}

bool* ct_unconfirmed_offers_source(ct_entry* e) {
  return reinterpret_cast<bool*>(ct_unconfirmed_reply(e) + 1);
}

ct_tuple ct_reply_tuple(const flow_table& table, const ct_entry* e) {
  if (!(e->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK)) return invert(e->orig);
  if (e->pos == k_no_pos) return *ct_unconfirmed_reply(const_cast<ct_entry*>(e));
  const ct_tuple* r = table.nat_reply_at(e->pos);
  return r != nullptr ? *r : invert(e->orig);
}

result<void> ct_enable_nat(ct_runtime* rt) {
  if (rt->nat_replies.load(std::memory_order_acquire) != nullptr) return {};
  if (result<void> r = rt->table->enable_nat_replies(); !r) return r;
  auto replies = reply_table::create(rt->name + "_nat", rt->table->max(), rt->qs);
  if (!replies) return std::move(replies).error();
  auto by_source = reply_table::create(rt->name + "_nsrc", rt->table->max(), rt->qs);
  if (!by_source) return std::move(by_source).error();
  // The source table first: a worker that sees the reply table finds it too.
  rt->nat_by_source.store(by_source->release(), std::memory_order_release);
  rt->nat_replies.store(replies->release(), std::memory_order_release);
  return {};
}

ct_entry* ct_create_unconfirmed(ct_worker& w, const ct_tuple& t, const track_state& ts,
                                const tcp_window* win, uint16_t status, const ct_ext_area& ext,
                                uint32_t now_ms, const ct_addr6* a6) {
  flow_table& table = *w.rt->table;
  if (a6 != nullptr && !table.ipv6()) return nullptr;  // no port has IPv6: nowhere to keep them
  if (!reserve_or_evict(w, make_key(t), false, now_ms)) return nullptr;
  void* obj = nullptr;
  if (w.n_unconfirmed >= k_max_unconfirmed || rte_mempool_get(w.rt->pool, &obj) != 0) {
    table.unreserve();
    w.counters.add(ct_counter::alloc_failed);
    return nullptr;
  }
  auto* e = new (obj) ct_entry();
  if (t.proto == IPPROTO_TCP) *unconfirmed_window(e) = win != nullptr ? *win : tcp_window{};
  unconfirmed_acct(e)->clear();
  e->orig = t;
  e->owner = w.id;
  e->status.store(status, std::memory_order_relaxed);
  e->store_track(ts);
  e->expires_ms.store(now_ms + w.rt->timeouts.ms[ts.tclass], std::memory_order_relaxed);
  e->ext = ext;
  if (a6 != nullptr) *unconfirmed_addr6(e) = *a6;
  unconfirmed_add(w, e);
  w.counters.add(ct_counter::new_);
  return e;
}

ct_entry* ct_find_flow(ct_worker& w, const ct_tuple& t, uint32_t now_ms, const ct_addr6* a6) {
  const flow_key key = make_key(t);
  // This worker's unconfirmed entries first: a packet earlier in this burst opened it.
  for (uint16_t i = 0; i < w.n_unconfirmed; i++)
    if (make_key(w.unconfirmed[i]->orig) == key &&
        (a6 == nullptr || same_flow6(*unconfirmed_addr6(w.unconfirmed[i]), *a6)))
      return w.unconfirmed[i];
  const int32_t p = w.rt->table->lookup(key);
  if (p < 0) return nullptr;
  ct_entry* e = w.rt->table->at(static_cast<uint32_t>(p));
  if (!is_live(e->live.load(std::memory_order_acquire))) return nullptr;
  if (a6 != nullptr && !stored_flow6(*w.rt->table, static_cast<uint32_t>(p), *a6)) return nullptr;
  if (ct_expired(*e, now_ms)) {
    // Timed out, not reaped yet: gone, as in Linux (and its key free again, when it is ours).
    reap_expired(w, e);
    return nullptr;
  }
  return e;
}

bool ct_retire_finished(ct_worker& w, const ct_tuple& t, uint32_t now_ms, const ct_addr6* a6) {
  int32_t p = w.rt->table->lookup(make_key(t));
  if (p < 0) return false;
  const auto pos = static_cast<uint32_t>(p);
  ct_entry* e = w.rt->table->at(pos);
  uint32_t live = e->live.load(std::memory_order_acquire);
  if (!is_live(live) || e->orig.proto != IPPROTO_TCP) return false;
  if (a6 != nullptr && !stored_flow6(*w.rt->table, pos, *a6)) return false;
  if (ct_expired(*e, now_ms)) {
    reap_expired(w, e);  // gone already; make it so in the table too
    return true;
  }
  if (!tcp_finished(e->load_track().l4state)) return false;
  if (e->owner == w.id) {
    destroy_owned(w, e, ct_counter::deleted);
    return true;
  }
  return ask_owner_to_delete(w, e, live, false);
}

bool ct_nat_evict_finished(ct_worker& w, const ct_entry* e, const flow_key& reply_key,
                           uint32_t now_ms) {
  reply_table* replies = w.rt->nat_replies.load(std::memory_order_acquire);
  if (replies == nullptr || e->orig.proto != IPPROTO_TCP) return false;
  const int32_t p = replies->lookup(reply_key);
  if (p < 0) return false;
  flow_table& table = *w.rt->table;
  ct_entry* o = table.at(static_cast<uint32_t>(p));
  const uint32_t live = o->live.load(std::memory_order_acquire);
  if (!is_live(live) || o->orig.proto != IPPROTO_TCP || ct_expired(*o, now_ms)) return false;
  // nf_nat_may_kill: a finished, source-translated flow not already on its way out.
  const uint16_t st = o->status.load(std::memory_order_relaxed);
  // Linux's test is state >= TIME_WAIT: CLOSE and SYN_SENT2 as well.
  if (!(st & CT_STATUS_SRC_NAT) || (st & CT_STATUS_DYING) ||
      o->load_track().l4state < TCP_CT_TIME_WAIT)
    return false;
  // nf_seq_has_advanced: the new SYN starts past what the old connection's client sent, so
  // the server cannot take the SYN for an old duplicate.
  // The old flow's record is its owner's to write: read with a relaxed atomic load.
  const tcp_window* now = unconfirmed_window(const_cast<ct_entry*>(e));
  const uint32_t old_end =
      std::atomic_ref<uint32_t>(table.window_at(static_cast<uint32_t>(p))->seen[0].td_end)
          .load(std::memory_order_relaxed);
  if (static_cast<int32_t>(now->seen[0].td_end - old_end) <= 0) return false;
  if (o->owner == w.id) {
    destroy_owned(w, o, ct_counter::nat_evicted);
    return true;
  }
  // Another worker's: its owner removes it (counted there as `deleted`). CT_STATUS_DYING marks
  // the request sent; a full kill ring leaves it unmarked, to be asked again.
  if (!(o->status.fetch_or(CT_STATUS_DYING, std::memory_order_relaxed) & CT_STATUS_DYING)) {
    if (!ask_owner_to_delete(w, o, live, false)) {
      o->status.fetch_and(static_cast<uint16_t>(~CT_STATUS_DYING), std::memory_order_relaxed);
      return false;
    }
    w.counters.add(ct_counter::nat_evicted);
  }
  return false;
}

const ct_addr6* ct_addr6_of(const flow_table& table, const ct_entry* e) {
  if (e->orig.family != k_family_ipv6) return nullptr;
  return e->pos == k_no_pos ? unconfirmed_addr6(const_cast<ct_entry*>(e)) : table.addr6_at(e->pos);
}

const ct_acct* ct_acct_of(const flow_table& table, const ct_entry* e) {
  ct_acct* acct = table.accounting() ? table.acct_array() : nullptr;
  return acct != nullptr ? acct_record(acct, const_cast<ct_entry*>(e)) : nullptr;
}

uint16_t ct_confirm(ct_worker& w, uint32_t now_ms, rte_mbuf** pkts, uint16_t n, verdict* v) {
  flow_table& table = *w.rt->table;
  uint16_t drops = 0;
  for (uint16_t i = 0; i < n; i++) {
    pkt_meta* m = meta_of(pkts[i]);
    ct_entry* e = m->ct;
    if (e == nullptr || e->pos != k_no_pos) continue;  // untracked or already confirmed
    int32_t p = table.add(make_key(e->orig));
    if (p < 0) {
      w.counters.add(ct_counter::insert_failed);
      v[i] = verdict::drop;
      drops++;
      continue;
    }
    ct_entry* t = table.at(static_cast<uint32_t>(p));
    const uint16_t nat = e->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK;
    const bool offers_source = (nat & CT_STATUS_SRC_NAT) && *ct_unconfirmed_offers_source(e);
    if (claim_and_publish(w, t, static_cast<uint32_t>(p), *e, unconfirmed_window(e),
                          unconfirmed_acct(e), ct_unconfirmed_reply(e))) {
      // The flow's reservation moves to the confirmed entry.
      unconfirmed_remove(w, e);
      e->~ct_entry();
      rte_mempool_put(w.rt->pool, e);
      m->ct = t;
      if ((nat != 0 && !publish_reply_key(w, t, now_ms)) || key_taken_across(w, t, nat, now_ms))
          [[unlikely]] {
        // Another flow holds the reply tuple or this key (chosen by another worker in the same
        // moment, as between CPUs in Linux): the loser's packet is dropped, its client retries.
        m->ct = nullptr;
        destroy_owned(w, t, ct_counter::insert_failed);
        w.counters.add(ct_counter::drop);
        v[i] = verdict::drop;
        drops++;
        continue;
      }
      if (offers_source) publish_source_key(w, t);
      w.counters.add(ct_counter::insert);
      if (w.rt->events.load(std::memory_order_relaxed) & CT_EVENT_NEW) [[unlikely]]
        emit_event(w, CT_EVENT_NEW, t, now_ms);
      continue;
    }
    // Clash: another worker (or an earlier packet of this burst) inserted
    // the same flow. Adopt its entry, as Linux's clash resolution does, but
    // never an expired one (its owner has been asked to reap it).
    // Wait only while the winner is publishing (CLAIMING): a slot being deleted (DELETING) or
    // freed will not turn LIVE before this worker's next quiescent point.
    int spins = 0;
    uint32_t state;
    while (((state = t->live.load(std::memory_order_acquire)) & ENTRY_STATE_MASK) ==
               ENTRY_CLAIMING &&
           spins++ < k_claim_spin)
      rte_pause();
    if (!is_live(state) || ct_expired(*t, now_ms) || !same_nat(w, *t, e)) {
      w.counters.add(ct_counter::insert_failed);
      v[i] = verdict::drop;
      drops++;
      continue;
    }
    // Another IPv6 flow whose key is this one's (a digest collision, ct_entry.h): never adopted.
    if (e->orig.family == k_family_ipv6 && !same_flow6(*table.addr6_at(static_cast<uint32_t>(p)),
                                                       *unconfirmed_addr6(e))) [[unlikely]] {
      w.counters.add(ct_counter::insert_failed);
      w.counters.add(ct_counter::clash_addr6);
      v[i] = verdict::drop;
      drops++;
      continue;
    }
    if (ct_acct* a = table.acct_at(static_cast<uint32_t>(p))) a->merge_from(*unconfirmed_acct(e));
    ct_release(w, m);
    m->ct = t;
    w.counters.add(ct_counter::clash_resolve);
  }
  return drops;
}

void ct_release(ct_worker& w, pkt_meta* m) {
  ct_entry* e = m->ct;
  m->ct = nullptr;
  if (e == nullptr || e->pos != k_no_pos) return;
  unconfirmed_free(w, e);
  w.counters.add(ct_counter::unconfirmed_freed);
}

uint16_t ct_unconfirmed_sweep(ct_worker& w) {
  uint16_t n = w.n_unconfirmed;
  while (w.n_unconfirmed > 0) unconfirmed_free(w, w.unconfirmed[w.n_unconfirmed - 1]);
  return n;
}

void ct_housekeeping(ct_worker& w, uint32_t now_ms, uint32_t budget) {
  flow_table& t = *w.rt->table;
  // Delete requests from the control plane, checked against the claim word
  // so a request for a flow that already ended cannot hit its successor.
  uint64_t req[32];
  unsigned got = rte_ring_dequeue_burst(w.kill_ring, reinterpret_cast<void**>(req), 32, nullptr);
  for (unsigned i = 0; i < got; i++) {
    const bool only_if_expired = (req[i] >> 63) != 0;
    auto pos = static_cast<uint32_t>(req[i] >> 32) & ~k_delete_if_expired;
    auto live = static_cast<uint32_t>(req[i]);
    ct_entry* e = t.at(pos);
    // Only a LIVE word: a request may carry the word of an entry already DELETING (reap_expired
    // reloads it), which stays so until its position is given back, and must not destroy it
    // twice.
    const uint32_t cur = e->live.load(std::memory_order_acquire);
    if (cur != live || !is_live(cur) || e->owner != w.id) continue;
    if (!only_if_expired) {
      destroy_owned(w, e, ct_counter::deleted);
    } else if (ct_expired(*e, now_ms)) {
      destroy_owned(w, e, ct_counter::expired);
    } else {
      // Refreshed by its owner since: alive after all; a later expiry may
      // be reported again.
      e->status.fetch_and(static_cast<uint16_t>(~CT_STATUS_DYING), std::memory_order_relaxed);
    }
  }
  // Expiry: close slots whose whole span has passed.
  while (budget > 0) {
    if (w.pending_head == k_no_pos) {
      if (!time_after_eq(now_ms, w.wheel_tick + k_wheel_span_ms)) break;
      uint16_t slot = slot_of(w.wheel_tick);
      w.pending_head = w.wheel_head[slot];
      w.wheel_head[slot] = k_no_pos;
      w.wheel_tick += k_wheel_span_ms;
      budget--;
      continue;
    }
    ct_entry* e = t.at(w.pending_head);
    if (ct_expired(*e, now_ms)) {
      destroy_owned(w, e, ct_counter::expired);  // unlinks it from the pending list
    } else {
      wheel_unlink(w, e);
      wheel_insert(w, e);  // refreshed since it was filed: file it again
    }
    budget--;
  }
  reclaim_positions(w);
}

std::string format_invalid_note(const ct_invalid_note& n) {
  std::string flags;
  constexpr std::pair<uint8_t, const char*> names[] = {
      {TCPF_CWR, "CWR"}, {TCPF_ECE, "ECE"}, {TCPF_URG, "URG"}, {TCPF_ACK, "ACK"},
      {TCPF_PSH, "PSH"}, {TCPF_RST, "RST"}, {TCPF_SYN, "SYN"}, {TCPF_FIN, "FIN"}};
  for (const auto& [bit, name] : names)
    if (n.flags & bit) flags += std::string(" ") + name;
  auto addr = [&](bool src) {
    if (n.tuple.family != k_family_ipv6)
      return format_ipv4(rte_be_to_cpu_32(src ? n.tuple.src : n.tuple.dst));
    return format_ipv6(src ? n.addr6.src : n.addr6.dst);
  };
  return "nf_ct_proto_6: " + tcp_reason_message(n.reason, n.bound) + " SRC=" + addr(true) +
         " DST=" + addr(false) +
         " PROTO=TCP SPT=" + std::to_string(rte_be_to_cpu_16(n.tuple.sport)) +
         " DPT=" + std::to_string(rte_be_to_cpu_16(n.tuple.dport)) +
         " SEQ=" + std::to_string(n.seq) + " ACK=" + std::to_string(n.ack) +
         " WINDOW=" + std::to_string(n.window) + flags;
}

bool ct_request_delete(ct_worker& owner, uint32_t pos, uint32_t live, bool only_if_expired) {
  const uint32_t tagged = pos | (only_if_expired ? k_delete_if_expired : 0);
  uint64_t v = (static_cast<uint64_t>(tagged) << 32) | live;
  return rte_ring_enqueue(owner.kill_ring, reinterpret_cast<void*>(v)) == 0;
}

void ct_set_timeout_policy(ct_worker& w, ct_entry* e, uint8_t l4proto, uint32_t ref,
                           uint32_t now_ms) {
  // Unconfirmed entries belong to this worker alone: plain stores, published at confirm.
  if (e == nullptr || e->pos != k_no_pos || e->orig.proto != l4proto) return;
  const ct_timeout_policies* all = w.rt->policies.load(std::memory_order_acquire);
  const ct_timeout_ext x{
      .slot = static_cast<uint8_t>(ref & 0xff), .pad = 0, .gen = static_cast<uint16_t>(ref >> 8)};
  if (all == nullptr || x.gen == 0 || all->slot[x.slot].gen != x.gen) return;
  const uint16_t status = e->status.load(std::memory_order_relaxed);
  if (ct_ext_of(status) != ct_ext_id::none && ct_ext_of(status) != ct_ext_id::timeout) return;
  ct_ext_put(e->ext, x);
  e->status.store(
      static_cast<uint16_t>((status & ~CT_STATUS_EXT_MASK) | ct_ext_status(ct_ext_id::timeout)),
      std::memory_order_relaxed);
  e->expires_ms.store(now_ms + all->slot[x.slot].t.ms[all->slot[x.slot].first],
                      std::memory_order_relaxed);
  w.counters.add(ct_counter::timeout_policy_set);
}

}  // namespace ctgate::ct
