// Connection tracking on the data plane: the shared runtime, the per-worker
// state (unconfirmed list, timer wheel, counters) and the two burst
// functions the conntrack callbacks wrap: ct_in (lookup or create) and
// ct_confirm (publish into the shared table).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <rte_byteorder.h>
#include <rte_tcp.h>

#include "common/counters.h"
#include "common/log_ratelimit.h"
#include "config/config.h"
#include "conntrack/ct_timeout.h"
#include "conntrack/flow_table.h"
#include "conntrack/proto.h"
#include "conntrack/reply_table.h"
#include "hook/hook.h"
#include "packet/pkt_meta.h"

struct rte_mempool;
struct rte_ring;

namespace ctgate::ct {

// Linux's conntrack -S names first, then ours.
#define CT_COUNTERS(X)                                                                    \
  X(found, "packets that matched an entry")                                               \
  X(invalid, "packets conntrack could not track (all reasons)")                           \
  X(insert, "entries confirmed into the table")                                           \
  X(insert_failed, "confirm failed: hash insert error")                                   \
  X(drop, "new flows dropped: table full, or NAT found no free tuple")                    \
  X(early_drop, "non-assured entries evicted to make room")                               \
  X(error, "ICMP/ICMPv6 refused: truncated, bad checksum, an error quoting no flow")      \
  X(clash_resolve, "confirm races resolved by adopting the winner's entry")               \
  X(search_restart, "lookups retried because an entry was being claimed")                 \
  X(new_, "unconfirmed entries created")                                                  \
  X(expired, "entries removed by timeout")                                                \
  X(deleted, "entries removed by request (conntrack -D/-F)")                              \
  X(unconfirmed_freed, "unconfirmed entries freed with their dropped packet")             \
  X(untracked, "packets marked notrack")                                                  \
  X(alloc_failed, "entry pool exhausted")                                                 \
  X(invalid_truncated_tcp, "invalid: truncated TCP header")                               \
  X(invalid_tcp_doff, "invalid: TCP data offset")                                         \
  X(invalid_truncated_udp, "invalid: truncated UDP header")                               \
  X(invalid_udp_len, "invalid: UDP length")                                               \
  X(invalid_truncated_icmp, "invalid: truncated ICMP header")                             \
  X(invalid_icmp_family, "invalid: ICMP over IPv6 or ICMPv6 over IPv4")                   \
  X(invalid_fragment, "invalid: a non-first fragment reassembly let through")             \
  X(invalid_checksum, "invalid: bad TCP/UDP/ICMP checksum")                               \
  X(related, "ICMP errors matched to a tracked flow (RELATED)")                           \
  X(invalid_icmp_error, "invalid: ICMP error quoting no flow, or not to its source")      \
  X(invalid_state, "invalid: tracker refused the packet (flags, state)")                  \
  X(expired_at_lookup,                                                                    \
    "expired entries a lookup found before the wheel reaped them (treated as gone)")      \
  X(refiled, "entries moved to an earlier wheel slot: their timeout shortened")           \
  X(invalid_tcp_flags, "invalid: TCP flag combination")                                   \
  X(invalid_tcp_seq_over, "invalid: TCP SEQ over the receiver's window")                  \
  X(invalid_tcp_ack_over, "invalid: TCP ACK of data not seen yet")                        \
  X(invalid_tcp_rst, "invalid: TCP RST below what the peer acknowledged (RFC 5961)")      \
  X(ignored_tcp_state, "passed, state untouched: TCP packet the state machine ignores")   \
  X(ignored_tcp_overshoot, "passed, state untouched: TCP data slightly past the window")  \
  X(ignored_tcp_seq_under, "passed, state untouched: retransmitted acknowledged data")    \
  X(ignored_tcp_ack_under, "passed, state untouched: TCP ACK far below the window")       \
  X(ignored_tcp_challenge_ack, "passed, state untouched: RFC 5961 challenge ACK")         \
  X(tcp_timeout_lowered,                                                                  \
    "assured flows given the unacknowledged timeout: "                                    \
    "out-of-window FIN/RST answering a FIN/RST")                                          \
  X(tcp_window_not_owner, "TCP packets tracked without the window: not the owner worker") \
  X(timeout_policy_set, "new flows given a timeout policy (nft ct timeout set)")          \
  X(count_list_full, "ct count: a new connection not remembered, the worker's list full") \
  X(nat_bound, "new flows given a NAT binding (source or destination)")                   \
  X(nat_no_port, "new flows dropped: every address and port of the NAT range taken")      \
  X(nat_no_addr, "new flows dropped: masquerade or redirect found no port address")       \
  X(invalid_nat_tuple, "invalid: a translated flow's packet matching neither tuple")      \
  X(nat_evicted, "TIME_WAIT flows evicted for a new connection's NAT port")               \
  X(handoff, "packets of translated flows passed to the worker that owns them")           \
  X(handoff_full, "packets dropped: the owner's hand-off ring was full")                  \
  X(handoff_in, "packets handed off by other workers, tracked here")                      \
  X(clash_addr6, "invalid: an IPv6 packet whose key another flow's addresses hold")       \
  X(untracked_ipv6_off, "IPv6 packets untracked: conntrack for IPv6 is off")              \
  X(event_dropped, "conntrack events lost: the worker's event ring was full")             \
  X(flow_cache_hit, "lookups the worker's flow cache answered")                           \
  X(flow_cache_miss, "lookups the flow cache, in use, left to the table (new flows too)") \
  X(flow_cache_off, "flow cache trials that switched it off: under half the lookups hit")

CTGATE_DEFINE_COUNTERS(ct_counter, CT_COUNTERS)

// Shared by all workers; built on the control plane at startup.
// Connections finishing, for a module above conntrack that keeps an index of
// them (synproxy's finished-flow filter). Both calls run on the entry's
// owner worker, at most once each per entry: `finished` when its TCP
// connection first reaches TIME_WAIT or CLOSE (CT_STATUS_FINISH_NOTIFIED is
// set then), `forgotten` when such an entry is destroyed. The owner is also
// the only destroyer, so the two never race for one entry. A finish seen only
// by another worker (asymmetric RSS) goes unreported.
struct ct_finish_listener {
  void (*finished)(void* ctx, const flow_key& key) = nullptr;
  void (*forgotten)(void* ctx, const flow_key& key) = nullptr;
  void* ctx = nullptr;
};

// The last INVALID TCP packet worth a log line (conntrack.log_invalid):
// written by a worker when invalid_log allows it (at most once per interval,
// so writers do not overlap), read by the control thread after the mailbox
// says it is there.
struct ct_invalid_note {
  ct_tuple tuple;  // as the packet travelled
  ct_addr6 addr6;  // an IPv6 packet's addresses (tuple.family k_family_ipv6)
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint32_t bound = 0;  // track_result::bound
  uint16_t window = 0;
  uint8_t flags = 0;   // TCPF_*
  uint8_t reason = 0;  // tcp_reason
};

struct ct_event_ring;  // ct_event.h

struct ct_runtime {
  flow_table* table = nullptr;
  // The event types someone listens to (CT_EVENT_* bits, ct_event.h; conntrack -E): 0 while
  // nobody does, and then an event costs one relaxed load where it would be made. Set by the
  // control plane.
  std::atomic<uint8_t> events{0};
  rte_mempool* pool = nullptr;  // unconfirmed entries, each followed by its TCP window record
  tracker_params params;
  bool check_checksums = true;
  uint32_t reserved_mark = 0;            // packets with these mark bits may use the reserved share
  uint32_t early_drop_samples_x256 = 0;  // from conntrack.max, .buckets and the table's positions
  timeout_table timeouts;
  // The timeout policies rules may give flows (nft ct timeout set): published by the control
  // plane, read by workers between quiescent states (ct_timeout.h). Null: none.
  std::atomic<const ct_timeout_policies*> policies{nullptr};
  log_ratelimit full_log{1000};
  bool log_invalid = false;  // conntrack.log_invalid
  log_ratelimit invalid_log{1000};
  ct_invalid_note invalid_note;
  log_mailbox* mailbox = nullptr;  // where "table full" lines go; may be null
  std::atomic<uint64_t> full_events{0};
  ct_finish_listener finish;                      // set before the workers start
  struct ct_worker* workers[k_max_workers] = {};  // by worker id: where to send delete requests
  // NAT (docs/design/nat.md): the reply keys of translated flows, created by ct_enable_nat
  // when the first ruleset with a nat chain loads; null until then.
  std::atomic<reply_table*> nat_replies{nullptr};
  // The source keys of source-translated flows (nat_source_key: original source address,
  // port, protocol and zone), one flow per source, for Linux's find_appropriate_src: a
  // source's next connection is offered the mapping its earlier one got. Created with
  // nat_replies.
  std::atomic<reply_table*> nat_by_source{nullptr};
  // The last full NAT range worth a log line (written by a worker nat_log allows, at most
  // once per interval; read by the control thread after the mailbox says so): host order.
  log_ratelimit nat_log{1000};
  struct {
    uint32_t addr_min, addr_max;
    uint16_t port_min, port_max;
    uint8_t manip;  // nat_manip
    bool v6;        // an IPv6 range: addr6_min..addr6_max
    ipv6_addr addr6_min, addr6_max;
  } nat_full_note{};
  // SipHash key of the IPv6 address digests (ct_entry.h), random at start.
  uint32_t addr6_key[4] = {};
  rte_rcu_qsbr* qs = nullptr;  // the workers' QSBR variable, for tables created later
  std::string name;            // DPDK object name prefix
};

// Control plane: readies conntrack for translated flows (the reply table and the flow
// table's reply tuples). Idempotent; before the first ruleset that translates is published.
result<void> ct_enable_nat(ct_runtime* rt);

// The reply tuple of entry `e` (confirmed in `table`, or unconfirmed): the stored one for a
// translated flow, else the inverse of its original.
ct_tuple ct_reply_tuple(const flow_table& table, const ct_entry* e);
// Where a translated unconfirmed entry keeps its reply tuple until confirm.
ct_tuple* ct_unconfirmed_reply(ct_entry* e);
// Where a translated unconfirmed IPv6 entry keeps its reply's addresses until confirm (as its
// reply tuple: the reply's sender first).
ct_addr6* ct_unconfirmed_reply6(ct_entry* e);
// The reply addresses of translated IPv6 entry `e` (confirmed in `table`, or unconfirmed);
// null for an IPv4 entry or one that is not translated (its reply has its original's
// addresses swapped).
const ct_addr6* ct_reply_addr6(const flow_table& table, const ct_entry* e);
// Whether source-translated unconfirmed entry e offers its mapping to its source's later
// connections (find_appropriate_src): written by nat_setup, read at confirm.
bool* ct_unconfirmed_offers_source(ct_entry* e);

// Timer wheel geometry: 4096 slots of 256 ms span ~17.5 minutes. Entries
// whose expiry is further out are re-filed when their slot comes round, so
// an idle flow is removed at most one slot (256 ms) plus one loop late.
inline constexpr uint32_t k_wheel_shift = 8;
inline constexpr uint32_t k_wheel_slots = 4096;
inline constexpr uint16_t k_max_unconfirmed = 512;

// Per-worker state. Only its worker touches it, except the counters (read
// relaxed by telemetry) and kill_ring (filled by the control plane).
struct ct_worker {
  uint16_t id = 0;
  ct_runtime* rt = nullptr;
  rte_ring* kill_ring = nullptr;  // (position << 32 | live word) from the control plane
  // Packets of translated flows this worker owns, from the workers RSS gave them to (their
  // replies hash elsewhere: docs/design/nat.md, Workers). Many producers, this consumer.
  rte_ring* handoff_ring = nullptr;

  // Conntrack events for the control plane (ct_event.h), made only while rt->events asks.
  ct_event_ring* events = nullptr;

  // unconfirmed list: swap-remove array, no links, no atomics
  uint16_t n_unconfirmed = 0;
  ct_entry* unconfirmed[k_max_unconfirmed] = {};

  // timer wheel of owned, confirmed entries (positions)
  uint32_t wheel_head[k_wheel_slots];
  uint32_t wheel_tick = 0;           // next tick to process
  uint32_t pending_head = k_no_pos;  // detached slot being worked through
  uint32_t owned = 0;                // confirmed entries owned

  // Positions of flows this worker deleted, not yet given back to the table (flow_table::
  // release), linked through their dead entries' wheel_next: `retired` since the last token,
  // `waiting` for every worker to pass a quiescent point after `waiting_token`
  // (docs/design/conntrack.md, "Reclamation").
  uint32_t retired_head = k_no_pos;
  uint32_t waiting_head = k_no_pos;
  uint64_t waiting_token = 0;

  ct_counter_block counters;

  // The positions of the flows this worker saw last (flow_cache.h), in DPDK's memory: made by
  // ct_worker_init.
  flow_cache* cache = nullptr;

  // NAT's random port offsets (Linux's get_random_u16): xorshift64* seeded from getrandom()
  // at start, with the TSC mixed in at every draw (no syscall, no lock on the packet path).
  uint64_t nat_rand = 0x9e3779b97f4a7c15ull;

  ct_worker();
};

// Create the runtime; `max` etc. from config.
result<void> ct_runtime_init(ct_runtime* rt, const conntrack_config& cfg, rte_rcu_qsbr* qs,
                             const std::string& name);
void ct_runtime_fini(ct_runtime* rt);
// Per-worker init (kill ring); `now_ms` starts the wheel.
result<void> ct_worker_init(ct_worker* w, uint16_t id, ct_runtime* rt, uint32_t now_ms);
void ct_worker_fini(ct_worker* w);

// PRE_ROUTING / LOCAL_OUT at -200: attach an entry (found or new,
// unconfirmed) to each packet and set meta->ct_info. Sets v[i] = drop for
// packets that cannot get an entry (table full), and v[i] = stolen for a received packet of
// a translated flow another worker owns, which goes to that worker's hand-off ring. Returns
// how many packets it did not accept.
uint16_t ct_in(ct_worker& w, uint32_t now_ms, rte_mbuf** pkts, uint16_t n, verdict* v);
// The same for a burst of IPv6 packets (ipv6_conntrack_in/local): their tuples carry the
// addresses' digests (ct_entry.h), their full addresses are compared on every hit. ND and MLD
// messages are untracked; ICMPv6 errors are RELATED to the flow they quote.
uint16_t ct_in6(ct_worker& w, uint32_t now_ms, rte_mbuf** pkts, uint16_t n, verdict* v);

// LOCAL_IN / POST_ROUTING at INT_MAX: publish unconfirmed entries. Drops
// (v[i] = drop) a packet whose entry cannot be inserted.
uint16_t ct_confirm(ct_worker& w, uint32_t now_ms, rte_mbuf** pkts, uint16_t n, verdict* v);

// An unconfirmed entry for a connection the gateway itself opens (synproxy's SYN to the
// server, after a valid cookie), as Linux's conntrack makes one from the template the SYN
// carries through LOCAL_OUT: the packet that carries it passes the output hook (its nat
// chains bind it), routing and postrouting, whose confirm publishes it. The usual bound
// applies (early drop, then fail: nullptr, counted). `win` is the flow's TCP window record
// (null: an empty one); `status` and `ext` its extension; `a6` an IPv6 flow's addresses
// (t.family k_family_ipv6, its digests from tuple6_of), null for IPv4.
ct_entry* ct_create_unconfirmed(ct_worker& w, const ct_tuple& t, const track_state& ts,
                                const tcp_window* win, uint16_t status, const ct_ext_area& ext,
                                uint32_t now_ms, const ct_addr6* a6 = nullptr);

// The entry that holds `t`'s key (its flow, in either direction): one of this worker's
// unconfirmed entries, or a live one in the table; nullptr if none. An expired entry found is
// reaped (or its owner asked to), never returned. (A translated flow found by its reply
// tuple is not looked for.) For an IPv6 tuple `a6` holds its addresses: a flow whose
// addresses differ (a digest collision) is not it.
ct_entry* ct_find_flow(ct_worker& w, const ct_tuple& t, uint32_t now_ms,
                       const ct_addr6* a6 = nullptr);

// nft `ct timeout set` (Linux's nft_ct_timeout_obj_eval): an unconfirmed entry of protocol
// `l4proto` follows the policy `ref` (ct_timeout_ref) from now, and its timeout becomes the
// policy's for a new flow (Linux's values[0]: syn_sent, unreplied, timeout). A confirmed
// entry, one of another protocol, or a policy no longer published (or ref 0) is left alone.
void ct_set_timeout_policy(ct_worker& w, ct_entry* e, uint8_t l4proto, uint32_t ref,
                           uint32_t now_ms);

// The TCP header of a parsed packet, for the trackers (seq, ack, window,
// options, payload length). The options are read in place: the parse stage
// checked that the header, options included, is in the datagram.
inline tcp_segment tcp_segment_of(const rte_mbuf* mb, const pkt_meta& m) {
  const auto* th = rte_pktmbuf_mtod_offset(mb, const rte_tcp_hdr*, m.l4_off);
  tcp_segment s;
  s.seq = rte_be_to_cpu_32(th->sent_seq);
  s.ack = rte_be_to_cpu_32(th->recv_ack);
  s.window = rte_be_to_cpu_16(th->rx_win);
  s.flags = th->tcp_flags;
  s.payload = m.l4.payload_len;
  s.options_len = static_cast<uint8_t>(((th->data_off >> 4) * 4) - sizeof(rte_tcp_hdr));
  s.options = reinterpret_cast<const uint8_t*>(th + 1);
  return s;
}

// The log line for an invalid TCP packet, in Linux's words
// ("nf_ct_proto_6: SEQ is over upper bound ... SRC=... DST=...").
std::string format_invalid_note(const ct_invalid_note& n);

// A SYN for a tuple whose tracked TCP connection has finished (TIME_WAIT or
// CLOSE) reopens it in Linux. Synproxy answers such SYNs untracked, so it
// retires the old entry here instead; otherwise the client's next ACK would
// match the finished connection. Returns true if an entry was retired (or its
// owner asked to). Costs a flow-table lookup: a caller facing floods rules
// tuples out first (synproxy's finished filter, fed by ct_finish_listener). `a6` as for
// ct_find_flow.
bool ct_retire_finished(ct_worker& w, const ct_tuple& t, uint32_t now_ms,
                        const ct_addr6* a6 = nullptr);

// NAT's last resort in a full port range (Linux's nf_nat_used_tuple_harder): the flow whose
// reply key is `reply_key` is evicted for new TCP connection `e` (unconfirmed, SYN_SENT) when
// it is a source-translated TCP flow in TIME_WAIT, CLOSE or SYN_SENT2 and `e`'s SYN is past
// its last sequence number (nat_evicted counts each flow evicted or asked for, once). True when the
// key is free now (this worker owned the flow and removed it); another worker's flow is only asked
// for, so its key is still taken this time.
bool ct_nat_evict_finished(ct_worker& w, const ct_entry* e, const flow_key& reply_key,
                           uint32_t now_ms);

// The drop path's half: release the packet's unconfirmed entry, if any.
// Every packet leaving the data plane without being confirmed goes here.
void ct_release(ct_worker& w, pkt_meta* m);

// Once per worker loop: expire due entries (bounded work) and serve delete
// requests from the control plane.
void ct_housekeeping(ct_worker& w, uint32_t now_ms, uint32_t budget = 256);

// Early drop's sample (docs/design/conntrack.md, "Early drop"). Linux's early_drop walks
// NF_CT_EVICTION_RANGE (8) hash buckets from the new flow's, where each flow is chained twice
// (original and reply): in a full table it finds a flow with probability 1 - exp(-16 * max /
// nf_conntrack_buckets). ct_early_drop looks at as many of the table's positions as give the same
// probability when `max` of its `capacity` positions are live, drawn from the new flow's hash, so
// the sample does not depend on the order in which the table reuses positions. In 1/256ths of a
// position, at most k_early_drop_max_samples positions (Linux's chains are bounded by their
// length alone).
inline constexpr uint32_t k_early_drop_max_samples = 64;
uint32_t early_drop_samples_x256(uint32_t capacity, uint32_t max, uint32_t buckets);
// The positions (below `capacity`) a new flow whose key hashes to `hash` samples: the fraction of
// `samples_x256` decides by the hash whether one more is drawn. Returns how many were written to
// `out` (at most k_early_drop_max_samples).
uint32_t early_drop_positions(uint32_t hash, uint32_t samples_x256, uint32_t capacity,
                              uint32_t* out);

// Table full: free the first entry owned by `w`, among the positions a new flow hashing to `hash`
// samples, that has expired (the wheel has not reaped it yet) or is not ASSURED (Linux's
// early_drop frees both). Bounded work.
bool ct_early_drop(ct_worker& w, uint32_t hash, uint32_t now_ms);

// The addresses of IPv6 entry `e` (confirmed in `table`, or unconfirmed); null for IPv4.
const ct_addr6* ct_addr6_of(const flow_table& table, const ct_entry* e);

// The accounting of entry `e` (confirmed in `table`, or unconfirmed), or null while
// accounting is off (ct_acct.h).
const ct_acct* ct_acct_of(const flow_table& table, const ct_entry* e);

// Frees whatever is still on the unconfirmed list (must be empty at the end
// of a burst); returns how many it had to free.
uint16_t ct_unconfirmed_sweep(ct_worker& w);

// Whether an entry's timeout has run out (Linux's nf_ct_is_expired). An
// expired entry is never found, listed or adopted, even before the owner's
// wheel reaps it: lookups treat it as absent and reap it on the spot.
inline bool ct_expired_at(uint32_t expires_ms, uint32_t now_ms) {
  return static_cast<int32_t>(expires_ms - now_ms) <= 0;
}
inline bool ct_expired(const ct_entry& e, uint32_t now_ms) {
  return ct_expired_at(e.expires_ms.load(std::memory_order_relaxed), now_ms);
}
// Published (not being claimed or freed) but expired: what a lookup outside
// conntrack (synproxy's ACK check) must treat as absent.
inline bool ct_live_but_expired(const ct_entry& e, uint32_t now_ms) {
  return is_live(e.live.load(std::memory_order_acquire)) && ct_expired(e, now_ms);
}

// Builds the packet's original-direction tuple from its metadata.
inline ct_tuple tuple_of(const pkt_meta& m) {
  ct_tuple t;
  t.src = m.src;
  t.dst = m.dst;
  t.sport = m.sport;
  t.proto = m.l4.proto;
  t.zone = m.zone;
  t.dport = is_icmp_like(m.l4.proto) ? static_cast<uint16_t>((m.l4.icmp_type << 8) | m.l4.icmp_code)
                                     : m.dport;
  return t;
}

// The original-direction tuple of an IPv6 packet whose addresses are `a`: its addresses'
// digests under the runtime's key stand for them (ct_entry.h), as conntrack's own.
inline ct_tuple tuple6_of(const ct_runtime& rt, const pkt_meta& m, const ct_addr6& a) {
  ct_tuple t = tuple_of(m);
  t.family = k_family_ipv6;
  addr6_digests(rt.addr6_key, a.src, a.dst, &t.src, &t.dst);
  return t;
}

// Control plane: ask the owner to delete the entry at `pos` if it still has
// claim word `live`. False if the owner's ring is full (retry later).
// With `only_if_expired`, the owner deletes it only if it is still expired
// by the owner's clock: a worker that saw it expired may be a little ahead
// of the owner, which may have refreshed the flow meanwhile.
inline constexpr uint32_t k_delete_if_expired = 1u << 31;  // request tag; positions are smaller
bool ct_request_delete(ct_worker& owner, uint32_t pos, uint32_t live, bool only_if_expired = false);

}  // namespace ctgate::ct
