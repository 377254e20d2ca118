// Protocol trackers: pure functions behind a table indexed by IP protocol.
//
// A tracker never touches the flow table, the entry's links or any shared
// state: it reads the packet's L4 summary and the entry's tracker state and
// returns the new state plus the status bits to set. The caller (the
// conntrack stage) owns publication and refresh. The mapping from state to
// timeout lives in one place: timeout_class_for_tcp() below.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "conntrack/tcp_window.h"
#include "packet/l4_info.h"

namespace ctgate {
struct conntrack_timeouts;  // config/config.h
}

namespace ctgate::ct {

enum class ct_dir : uint8_t { original = 0, reply = 1 };

// Status bits, at Linux's IPS_* bit positions so the numbers read the same.
enum : uint16_t {
  CT_STATUS_SEEN_REPLY = 1u << 1,
  CT_STATUS_ASSURED = 1u << 2,
  CT_STATUS_CONFIRMED = 1u << 3,
  // NAT (ct_nat.h): the connection's source or destination is translated, and the
  // translation of each kind has been decided (a null binding sets DONE alone).
  CT_STATUS_SRC_NAT = 1u << 4,
  CT_STATUS_DST_NAT = 1u << 5,
  CT_STATUS_SRC_NAT_DONE = 1u << 7,
  CT_STATUS_DST_NAT_DONE = 1u << 8,
  CT_STATUS_DYING = 1u << 9,
  // Bits 12..14: the id of the entry's inline extension (ct_ext.h). Linux
  // keeps TEMPLATE/HELPER/OFFLOAD there, which ctgate does not use.
  // ctgate's own: the finish listener was told this entry's TCP connection
  // finished (TIME_WAIT or CLOSE seen). Never printed or exported; in Linux
  // bit 15 is IPS_HW_OFFLOAD, which ctgate does not use.
  CT_STATUS_FINISH_NOTIFIED = 1u << 15,
};
inline constexpr uint16_t CT_STATUS_NAT_MASK = CT_STATUS_SRC_NAT | CT_STATUS_DST_NAT;
inline constexpr uint16_t CT_STATUS_NAT_DONE_MASK = CT_STATUS_SRC_NAT_DONE | CT_STATUS_DST_NAT_DONE;

// TCP states with Linux's names and order (enum tcp_conntrack).
enum tcp_state : uint8_t {
  TCP_CT_NONE = 0,
  TCP_CT_SYN_SENT,
  TCP_CT_SYN_RECV,
  TCP_CT_ESTABLISHED,
  TCP_CT_FIN_WAIT,
  TCP_CT_CLOSE_WAIT,
  TCP_CT_LAST_ACK,
  TCP_CT_TIME_WAIT,
  TCP_CT_CLOSE,
  TCP_CT_SYN_SENT2,
  TCP_CT_MAX,
};

// A TCP connection that has finished (Linux's already_closed): a SYN may reopen it, and
// connlimit no longer counts it.
constexpr bool tcp_finished(uint8_t l4state) {
  return l4state == TCP_CT_TIME_WAIT || l4state == TCP_CT_CLOSE;
}

// Timeout classes. Each has one duration, configured in conntrack.timeouts.
enum timeout_class : uint8_t {
  TC_TCP_SYN_SENT = 0,
  TC_TCP_SYN_RECV,
  TC_TCP_ESTABLISHED,
  TC_TCP_FIN_WAIT,
  TC_TCP_CLOSE_WAIT,
  TC_TCP_LAST_ACK,
  TC_TCP_TIME_WAIT,
  TC_TCP_CLOSE,
  TC_TCP_UNACK,
  TC_TCP_RETRANS,
  TC_UDP,
  TC_UDP_STREAM,
  TC_ICMP,
  TC_GENERIC,
  TC_ICMPV6,
  TC_COUNT,
};

// The tracker-owned part of a conntrack entry (8 bytes).
struct track_state {
  uint8_t l4state = 0;          // tcp_state for TCP; 0 for the others
  uint8_t tclass = TC_GENERIC;  // timeout class in force
  uint8_t tcp_last_dir = 0;     // direction of the last packet that changed/probed state
  uint8_t tcp_last_index = 0;   // flag index (syn/synack/fin/ack/rst/none) of that packet
  uint32_t stream_ms = 0;       // UDP: time after which a replied flow counts as a stream
  // Field by field on purpose: a tracker has just written these with narrow
  // stores, and one 8-byte load of them would stall on store forwarding.
  bool operator==(const track_state&) const = default;
};

enum class track_verdict : uint8_t {
  accept,   // state updated (possibly unchanged); refresh with st->tclass
  invalid,  // packet is INVALID for this flow; st may carry bookkeeping, timeout untouched
  ignore,   // packet passes with the flow's ct state, but neither changes the
            // state machine nor refreshes the timeout (Linux's NF_ACCEPT
            // before nf_ct_refresh); st may carry bookkeeping
};

// Why a TCP packet was invalid or ignored: one counter each, and Linux's log
// text (tcp_reason_text).
enum tcp_reason : uint8_t {
  TCP_REASON_NONE = 0,
  // invalid
  TCP_REASON_FLAGS,     // "invalid tcp flag combination"
  TCP_REASON_STATE,     // "packet (index %d) in dir %d invalid, state %s"
  TCP_REASON_SEQ_OVER,  // "SEQ is over upper bound %u (over the window of the receiver)"
  TCP_REASON_ACK_OVER,  // "ACK is over upper bound %u (ACKed data not seen yet)"
  TCP_REASON_RST,       // "invalid rst"
  // ignored
  TCP_REASON_IGNORED_STATE,  // "packet (index %d) in dir %d ignored, state %s"
  TCP_REASON_OVERSHOOT,      // "%u bytes more than expected"
  TCP_REASON_SEQ_UNDER,      // "SEQ is under lower bound %u (already ACKed data retransmitted)"
  TCP_REASON_ACK_UNDER,      // "ignored ACK under lower bound %u (possible overly delayed)"
  TCP_REASON_CHALLENGE_ACK,  // "challenge-ack ignored"
  TCP_REASON_COUNT,
};

struct track_result {
  track_verdict verdict = track_verdict::accept;
  // No padding left undefined: with one, GCC assembled the returned value in
  // memory with narrow stores and reloaded it whole, a store-forwarding stall
  // on every tracked packet.
  uint8_t reason = TCP_REASON_NONE;  // tcp_reason, for invalid and ignore
  uint16_t set_status = 0;           // CT_STATUS_* bits to OR into the entry
  uint16_t clear_status = 0;         // bits to clear first: a reopened connection starts fresh
  // Linux's nf_tcp_handle_invalid: an out-of-window FIN or RST answering the
  // other side's FIN or RST lowers an assured flow's timeout to this class's
  // (if the flow has at least 120 s left and more than that). TC_COUNT: no.
  // Eight bytes in all, and no padding: the value is returned in one register.
  // (The window edge a reason names, for the log line, is in the window
  // record: tcp_window::reason_bound.)
  uint8_t lower_to_class = TC_COUNT;
  // 1: the tracker left the state as it found it, and says so, so the caller skips comparing
  // the state field by field (about 17 instructions per packet of an established UDP flow).
  // 0 promises nothing: the caller compares (TCP always leaves it 0).
  uint8_t state_kept = 0;
};
static_assert(sizeof(track_result) == 8, "returned in a register");

struct timeout_table;

struct tracker_params {
  bool tcp_loose = true;                // nf_conntrack_tcp_loose
  bool tcp_be_liberal = false;          // nf_conntrack_tcp_be_liberal
  bool tcp_ignore_invalid_rst = false;  // nf_conntrack_tcp_ignore_invalid_rst
  uint8_t tcp_max_retrans = 3;          // nf_conntrack_tcp_max_retrans
  // The configured timeouts: the TCP tracker compares them, as Linux does,
  // to pick the shorter of a state's timeout and the unacknowledged or
  // retransmission caps. Null: Linux's defaults.
  const timeout_table* timeouts = nullptr;
};

struct l4_tracker {
  const char* name;  // "tcp", "udp", "icmp", "unknown" (as conntrack -L prints it)
  // May a packet that matched no entry create one? If so fills *st (state and
  // timeout class) and, for TCP with `win`, the window record, and returns
  // true; false means INVALID and no entry. `seg` is the TCP header (null
  // for other protocols, or where no header is at hand).
  bool (*new_flow)(const l4_info& pkt, const tcp_segment* seg, const tracker_params& p,
                   uint32_t now_ms, track_state* st, tcp_window* win);
  // A packet of an existing entry, travelling in `dir`. `status` is the
  // entry's status before this packet (SEEN_REPLY is set by the caller after
  // the first reply-direction packet, as Linux does after the l4 handler).
  // TCP checks and updates `win` when both it and `seg` are given; without
  // them it runs the state machine alone (as with be_liberal).
  track_result (*packet)(track_state* st, tcp_window* win, uint16_t status, ct_dir dir,
                         const l4_info& pkt, const tcp_segment* seg, const tracker_params& p,
                         uint32_t now_ms);
};

// The value a state-machine reason's log text names.
inline uint32_t tcp_state_bound(uint8_t index, uint8_t dir, uint8_t state) {
  return index | (uint32_t{dir} << 8) | (uint32_t{state} << 16);
}

// Linux's log text for a TCP reason, with its value: `bound` is the window
// edge for the window reasons (tcp_window::reason_bound), and
// tcp_state_bound() for the state machine's.
std::string tcp_reason_message(uint8_t reason, uint32_t bound);

struct ct_tuple;  // ct_entry.h

// ICMP errors (nf_conntrack_icmpv4_error). Destination unreachable, source
// quench, redirect, time exceeded and parameter problem quote the header
// of the packet they are about, and are RELATED to that packet's flow.
inline bool icmp_is_error(uint8_t type) {
  return type == icmp::dest_unreach || type == icmp::source_quench || type == icmp::redirect ||
         type == icmp::time_exceeded || type == icmp::parameter_problem;
}
// Reads the quote of the ICMP error at `icmp` (l4_len bytes to the end of
// the datagram) into the tuple of the quoted packet. False if the quote is
// truncated or malformed, or quotes an ICMP error (only queries have flows).
// Pure: the caller looks the tuple up.
bool icmp_error_quote(const uint8_t* icmp, uint32_t l4_len, uint16_t zone, ct_tuple* quoted);

// ICMPv6 (nf_conntrack_proto_icmpv6.c). Types below 128 are errors, which quote the IPv6
// packet they are about and are RELATED to its flow.
inline bool icmp6_is_error(uint8_t type) { return type < 128; }
// Neighbour discovery and multicast listener messages (Linux's noct_valid_new): link-local
// chatter conntrack leaves untracked, as Linux does.
inline bool icmp6_is_untracked(uint8_t type) { return (type >= 130 && type <= 136) || type == 143; }
// The quote of the ICMPv6 error at `icmp`, as icmp_error_quote: the tuple (its src and dst
// left 0: the caller digests `addrs`) and the quoted packet's addresses. The quoted header's
// extension chain is walked as the packet's own (ipv6_skip_ext).
struct ct_addr6;  // ct_entry.h
bool icmp6_error_quote(const uint8_t* icmp, uint32_t l4_len, uint16_t zone, ct_tuple* quoted,
                       ct_addr6* addrs);

// The table, indexed by IP protocol; protocols without their own tracker get
// the generic one. Built at compile time (proto.cpp), so a lookup on the packet path is one
// indexed load, inline, and the table needs no start-up code.
extern const std::array<const l4_tracker*, 256> tracker_table;
inline const l4_tracker& tracker_for(uint8_t ip_proto) { return *tracker_table[ip_proto]; }

// Linux's flag index for a TCP flags byte: 0 syn, 1 syn+ack, 2 fin, 3 ack, 4 rst, 5 none.
uint8_t tcp_flag_index(uint8_t tcp_flags);
// Whether a TCP flag combination is valid at all (Linux tcp_valid_flags).
bool tcp_flags_valid(uint8_t tcp_flags);
// Pure transition: Linux's tcp_conntracks[dir][index][old]; returns TCP_CT_MAX
// for "invalid" (sIV) and TCP_CT_MAX+1 for "ignore" (sIG).
uint8_t tcp_transition(ct_dir dir, uint8_t index, uint8_t old_state);
inline constexpr uint8_t TCP_TRANSITION_INVALID = TCP_CT_MAX;
inline constexpr uint8_t TCP_TRANSITION_IGNORE = TCP_CT_MAX + 1;

const char* tcp_state_name(uint8_t state);       // "SYN_SENT", ... ("NONE" for 0)
const char* timeout_class_name(uint8_t tclass);  // config key, e.g. "tcp_syn_sent"

// ---- Additions used by the tracker implementations (proto*.cpp) ----

// The trackers themselves; tracker_for() is the usual way to reach them.
extern const l4_tracker tcp_tracker;
extern const l4_tracker udp_tracker;
extern const l4_tracker icmp_tracker;
extern const l4_tracker icmpv6_tracker;
extern const l4_tracker generic_tracker;

// Names for tcp_flag_index() results (Linux's enum tcp_bit_set order).
enum : uint8_t {
  TCP_IDX_SYN = 0,
  TCP_IDX_SYNACK,
  TCP_IDX_FIN,
  TCP_IDX_ACK,
  TCP_IDX_RST,
  TCP_IDX_NONE,
  TCP_IDX_COUNT,
};

// How the non-TCP-named fields of track_state are used per protocol:
// - ICMP keeps the request type (8, 13, 15, 17) in l4state, because the flow
//   key ignores the type and a reply must still be matched to its request.
// - TCP never needs stream_ms as a time, so it keeps there the per-connection
//   facts Linux holds in ip_ct_tcp's flag words and the table cannot express:
enum : uint32_t {
  TCP_TRK_SIMULTANEOUS_OPEN = 1u << 0,  // a SYN came from the reply side (SYN_SENT2)
  TCP_TRK_CLOSE_INIT = 1u << 1,         // a side has sent the first FIN (FIN_WAIT reached)
  TCP_TRK_CHALLENGE_ACK = 1u << 2,      // SYN ignored in LAST_ACK: next ACK may be a challenge
  TCP_TRK_RESET_UNREPLIED = 1u << 3,    // RST before any reply: Linux would have deleted the entry
  TCP_TRK_MIRRORED = 1u << 4,           // reopened by the reply side: it is the opener now
};

// Window facts that shorten a TCP timeout (Linux's tcp_packet tail).
enum : uint8_t {
  TCP_HINT_RETRANS = 1u << 0,      // retransmissions reached tcp_max_retrans
  TCP_HINT_DATA_UNACK = 1u << 1,   // a side has unacknowledged data
  TCP_HINT_ZERO_WINDOW = 1u << 2,  // the last ACK-only segment offered a zero window
};

// Timeouts in milliseconds, indexed by timeout_class; built once from config.
struct timeout_table {
  uint32_t ms[TC_COUNT];
};

// Linux's default timeouts (conntrack_timeouts{}), for callers with no table.
const timeout_table& linux_default_timeouts();

// What a TCP state costs when nothing special applies. SYN_SENT2 has no
// class of its own (Linux has a separate, not configurable 120 s value; ours
// follows tcp_syn_sent). NONE never lives in an entry; Linux also makes its
// slot equal to SYN_SENT.
inline timeout_class tcp_state_class(uint8_t state) {
  switch (state) {
    case TCP_CT_NONE:
    case TCP_CT_SYN_SENT:
    case TCP_CT_SYN_SENT2: return TC_TCP_SYN_SENT;
    case TCP_CT_SYN_RECV: return TC_TCP_SYN_RECV;
    case TCP_CT_ESTABLISHED: return TC_TCP_ESTABLISHED;
    case TCP_CT_FIN_WAIT: return TC_TCP_FIN_WAIT;
    case TCP_CT_CLOSE_WAIT: return TC_TCP_CLOSE_WAIT;
    case TCP_CT_LAST_ACK: return TC_TCP_LAST_ACK;
    case TCP_CT_TIME_WAIT: return TC_TCP_TIME_WAIT;
    default:
      // CLOSE, and any corrupt value: the shortest TCP lifetime is the safe bet.
      return TC_TCP_CLOSE;
  }
}

// THE mapping from TCP state to timeout class. `status` is the entry's status
// before the packet, `flag_index` the packet's tcp_flag_index(), `hints` the
// TCP_HINT_* window facts; `t` the configured timeouts (null: Linux's
// defaults), which decide whether a cap is shorter than the state's own.
// Inline: the TCP tracker runs it for every packet.
inline timeout_class timeout_class_for_tcp(uint8_t state, uint16_t status, uint8_t flag_index,
                                           uint8_t hints = 0, const timeout_table* t = nullptr) {
  const timeout_class own = tcp_state_class(state);
  timeout_class c = own;
  // The common case: an answered flow, no RST, no cap in play.
  if (hints == 0 && flag_index != TCP_IDX_RST &&
      (state != TCP_CT_ESTABLISHED || (status & CT_STATUS_SEEN_REPLY) != 0))
    return c;
  const timeout_table& ms = t != nullptr ? *t : linux_default_timeouts();
  // Linux's order (tcp_packet): the retransmission cap first, then any RST,
  // then unacknowledged data, then a zero window; each cap only when it is
  // shorter than the state's own timeout.
  if ((hints & TCP_HINT_RETRANS) && ms.ms[own] > ms.ms[TC_TCP_RETRANS])
    c = TC_TCP_RETRANS;
  else if (flag_index == TCP_IDX_RST)
    c = TC_TCP_CLOSE;
  else if ((hints & TCP_HINT_DATA_UNACK) && ms.ms[own] > ms.ms[TC_TCP_UNACK])
    c = TC_TCP_UNACK;
  else if ((hints & TCP_HINT_ZERO_WINDOW) && ms.ms[own] > ms.ms[TC_TCP_RETRANS])
    c = TC_TCP_RETRANS;
  // ESTABLISHED before any reply is a loose mid-stream pickup: Linux caps it
  // at the "unacknowledged" timeout so one stray ACK cannot pin an entry for
  // five days.
  if (state == TCP_CT_ESTABLISHED && (status & CT_STATUS_SEEN_REPLY) == 0 &&
      ms.ms[c] > ms.ms[TC_TCP_UNACK])
    c = TC_TCP_UNACK;
  return c;
}

// conntrack.timeouts (seconds) -> per-class milliseconds, saturating at UINT32_MAX.
timeout_table make_timeout_table(const conntrack_timeouts& t);

}  // namespace ctgate::ct
