// TCP tracker: Linux's state machine without window tracking.
//
// The transitions are Linux's (nf_conntrack_proto_tcp.c, 6.x). What needs
// sequence numbers (window checks, RST sequence checks, retransmission
// counting, the ack number check of the SYN/ACK resync) is left out; see
// docs/design/trackers.md for each consequence.
#include <cstdint>

#include "conntrack/proto.h"

namespace ctgate::ct {
namespace {

constexpr uint8_t NO = TCP_CT_NONE;
constexpr uint8_t SS = TCP_CT_SYN_SENT;
constexpr uint8_t SR = TCP_CT_SYN_RECV;
constexpr uint8_t ES = TCP_CT_ESTABLISHED;
constexpr uint8_t FW = TCP_CT_FIN_WAIT;
constexpr uint8_t CW = TCP_CT_CLOSE_WAIT;
constexpr uint8_t LA = TCP_CT_LAST_ACK;
constexpr uint8_t TW = TCP_CT_TIME_WAIT;
constexpr uint8_t CL = TCP_CT_CLOSE;
constexpr uint8_t S2 = TCP_CT_SYN_SENT2;
constexpr uint8_t IV = TCP_TRANSITION_INVALID;
constexpr uint8_t IG = TCP_TRANSITION_IGNORE;

constexpr uint8_t dir_original = static_cast<uint8_t>(ct_dir::original);
constexpr uint8_t dir_reply = static_cast<uint8_t>(ct_dir::reply);

// Linux's transition facts, laid out per current state (one row says what
// each kind of packet does in that state) rather than per packet kind as the
// kernel does; the unit test re-states the table in the kernel's layout, so a
// slip in either is caught by the other.
//
// next_state[direction][current state][flag index]
constexpr uint8_t next_state[2][TCP_CT_MAX][TCP_IDX_COUNT] = {
    {
        // original direction:  syn synack fin ack rst none
        /* NONE        */ {SS, IV, IV, ES, IV, IV},  // SYN opens; a bare ACK is a pickup
        /* SYN_SENT    */ {SS, IV, IV, IV, CL, IV},  // SYN retransmitted
        /* SYN_RECV    */ {IG, SR, FW, ES, CL, IV},  // ACK completes the handshake
        /* ESTABLISHED */ {IG, IV, FW, ES, CL, IV},
        /* FIN_WAIT    */ {IG, IV, LA, CW, CL, IV},
        /* CLOSE_WAIT  */ {IG, IV, LA, CW, CL, IV},
        /* LAST_ACK    */ {IG, IV, LA, TW, CL, IV},
        /* TIME_WAIT   */ {SS, IV, TW, TW, CL, IV},  // SYN may reopen (RFC 1122)
        /* CLOSE       */ {SS, IV, CL, CL, CL, IV},
        /* SYN_SENT2   */ {S2, SR, IV, IV, CL, IV},  // simultaneous open: we answer with SYN/ACK
    },
    {
        // reply direction:     syn synack fin ack rst none
        /* NONE        */ {IV, IV, IV, IV, IV, IV},  // no entry exists in NONE
        /* SYN_SENT    */ {S2, SR, IV, IG, CL, IV},  // SYN here is a simultaneous open
        /* SYN_RECV    */ {IV, IG, FW, SR, CL, IV},
        /* ESTABLISHED */ {IV, IG, FW, ES, CL, IV},
        /* FIN_WAIT    */ {IV, IG, LA, CW, CL, IV},
        /* CLOSE_WAIT  */ {IV, IG, LA, CW, CL, IV},
        /* LAST_ACK    */ {IV, IG, LA, TW, CL, IV},
        /* TIME_WAIT   */ {SS, IG, TW, TW, CL, IV},  // server reopens with the roles swapped
        /* CLOSE       */ {IV, IG, CL, CL, CL, IV},
        /* SYN_SENT2   */ {S2, SR, IV, IG, CL, IV},
    },
};

constexpr track_result accepted(uint16_t set_status = 0) {
  track_result r;
  r.set_status = set_status;
  return r;
}

constexpr track_result refused() {
  track_result r;
  r.verdict = track_verdict::invalid;
  return r;
}

void note_last(track_state* st, uint8_t dir, uint8_t index) {
  st->tcp_last_dir = dir;
  st->tcp_last_index = index;
}

// Linux lets a SYN restart a finished connection only when the old one was
// really closing: a FIN was seen, or the same side had reset it. We also
// count a RST that came before any reply, since Linux deletes such entries
// at once and the retry then finds no entry at all.
bool may_reopen(const track_state& st, uint8_t dir) {
  if (st.stream_ms & (TCP_TRK_CLOSE_INIT | TCP_TRK_RESET_UNREPLIED)) return true;
  return st.tcp_last_dir == dir && st.tcp_last_index == TCP_IDX_RST;
}

// Linux kills the old entry and lets the SYN create a fresh one. The tracker
// cannot delete, so it restarts the state machine in place instead. A SYN
// from the reply side (old server reopening from TIME_WAIT) would be the
// original direction of the fresh Linux entry; our tuple cannot flip, so we
// model it as the simultaneous-open start, whose continuation (SYN/ACK from
// the original side, ACK from the reply side) is exactly the mirrored handshake.
track_result reopen(track_state* st, uint16_t status, uint8_t dir, uint8_t index) {
  const bool from_reply = dir == dir_reply;
  st->l4state = from_reply ? S2 : SS;
  st->stream_ms = from_reply ? uint32_t{TCP_TRK_SIMULTANEOUS_OPEN} : 0u;
  note_last(st, dir, index);
  // Linux's fresh entry has seen no reply and is not assured; ours must not
  // carry the old connection's flags either.
  constexpr uint16_t fresh = CT_STATUS_SEEN_REPLY | CT_STATUS_ASSURED;
  st->tclass = timeout_class_for_tcp(st->l4state, status & ~fresh, index);
  track_result r = accepted();
  r.clear_status = fresh;
  return r;
}

// The kernel resyncs when a reply SYN/ACK answers a SYN it had ignored (both
// ends restarted the connection while we held a stale entry). Linux also
// requires the SYN/ACK to acknowledge that SYN's sequence number; we have no
// sequence numbers, so the pattern alone decides.
bool is_resync_synack(const track_state& st, uint8_t dir, uint8_t index) {
  return index == TCP_IDX_SYNACK && st.tcp_last_index == TCP_IDX_SYN && st.tcp_last_dir != dir;
}

// A packet the table cannot judge (it may belong to a connection the ends
// have restarted behind our back): pass it, keep the state, remember it so
// that the answer to it can be recognised.
track_result ignore(track_state* st, uint8_t dir, uint8_t index, uint8_t old) {
  note_last(st, dir, index);
  if (index == TCP_IDX_SYN && dir == dir_original) {
    // Linux restarts its scratch flags for each ignored SYN, which also
    // forgets a simultaneous open; keep that behaviour.
    st->stream_ms &= ~(TCP_TRK_SIMULTANEOUS_OPEN | TCP_TRK_CHALLENGE_ACK);
    // An RFC 5961 peer in LAST_ACK answers a stray SYN with a challenge ACK,
    // which must not be taken for the final ACK.
    if (old == LA) st->stream_ms |= TCP_TRK_CHALLENGE_ACK;
  }
  return accepted();
}

bool is_challenge_ack(const track_state& st, uint8_t dir, uint8_t index, uint8_t old,
                      uint8_t next) {
  return next == TW && old == LA && index == TCP_IDX_ACK && st.tcp_last_dir != dir &&
         st.tcp_last_index == TCP_IDX_SYN && (st.stream_ms & TCP_TRK_CHALLENGE_ACK) != 0;
}

// Linux's condition: the first valid packet in ESTABLISHED that follows
// SYN_RECV (a completed handshake) or ESTABLISHED (an answered pickup), once a
// reply has been seen.
bool becomes_assured(uint16_t status, uint8_t old, uint8_t next) {
  if ((status & CT_STATUS_SEEN_REPLY) == 0 || (status & CT_STATUS_ASSURED) != 0) return false;
  return (old == SR || old == ES) && next == ES;
}

track_result commit(track_state* st, uint16_t status, uint8_t dir, uint8_t index, uint8_t old,
                    uint8_t next) {
  note_last(st, dir, index);
  st->l4state = next;
  if (old != next && next == FW) st->stream_ms |= TCP_TRK_CLOSE_INIT;
  if (index == TCP_IDX_RST && (status & CT_STATUS_SEEN_REPLY) == 0) {
    st->stream_ms |= TCP_TRK_RESET_UNREPLIED;
  }
  st->tclass = timeout_class_for_tcp(next, status, index);
  return accepted(becomes_assured(status, old, next) ? CT_STATUS_ASSURED : 0);
}

bool tcp_new_flow(const l4_info& pkt, const tracker_params& p, uint32_t /*now_ms*/,
                  track_state* st) {
  if (!tcp_flags_valid(pkt.tcp_flags)) return false;
  const uint8_t index = tcp_flag_index(pkt.tcp_flags);
  const uint8_t next = tcp_transition(ct_dir::original, index, NO);
  if (next >= TCP_CT_MAX) return false;
  // Without tcp_loose only a SYN may start tracking; with it, a mid-stream
  // ACK is picked up as ESTABLISHED (capped by the unacknowledged timeout
  // until the other side answers).
  if (next != SS && !p.tcp_loose) return false;
  *st = track_state{};
  st->l4state = next;
  note_last(st, dir_original, index);
  st->tclass = timeout_class_for_tcp(next, 0, index);
  return true;
}

track_result tcp_packet(track_state* st, uint16_t status, ct_dir dir, const l4_info& pkt,
                        const tracker_params& /*p*/, uint32_t /*now_ms*/) {
  if (!tcp_flags_valid(pkt.tcp_flags)) return refused();
  const uint8_t d = static_cast<uint8_t>(dir);
  const uint8_t index = tcp_flag_index(pkt.tcp_flags);
  uint8_t old = st->l4state;
  uint8_t next = tcp_transition(dir, index, old);

  // A SYN after the end of a connection: reopen, or else treat as ignored.
  if (next == SS && old >= TW) {
    if (may_reopen(*st, d)) return reopen(st, status, d, index);
    next = IG;
  }
  if (next == IG) {
    if (!is_resync_synack(*st, d, index)) return ignore(st, d, index, old);
    old = SS;
    next = SR;
    st->stream_ms &= ~(TCP_TRK_CLOSE_INIT | TCP_TRK_CHALLENGE_ACK | TCP_TRK_RESET_UNREPLIED);
  }
  if (next == IV) return refused();
  if (is_challenge_ack(*st, d, index, old, next)) {
    // Passed without touching the state; the challenge is consumed.
    st->stream_ms &= ~TCP_TRK_CHALLENGE_ACK;
    return accepted();
  }
  // The table alone cannot finish a simultaneous open: remember it, so that
  // the reply side's ACK in SYN_RECV completes the handshake.
  if (next == S2) st->stream_ms |= TCP_TRK_SIMULTANEOUS_OPEN;
  if (next == SR && d == dir_reply && index == TCP_IDX_ACK &&
      (st->stream_ms & TCP_TRK_SIMULTANEOUS_OPEN) != 0) {
    next = ES;
  }
  return commit(st, status, d, index, old, next);
}

}  // namespace

const l4_tracker tcp_tracker = {"tcp", tcp_new_flow, tcp_packet};

uint8_t tcp_flag_index(uint8_t tcp_flags) {
  // Precedence matters for nonsense combinations: RST wins over everything,
  // then SYN (split on ACK), then FIN, then ACK.
  if (tcp_flags & TCPF_RST) return TCP_IDX_RST;
  if (tcp_flags & TCPF_SYN) return (tcp_flags & TCPF_ACK) ? TCP_IDX_SYNACK : TCP_IDX_SYN;
  if (tcp_flags & TCPF_FIN) return TCP_IDX_FIN;
  if (tcp_flags & TCPF_ACK) return TCP_IDX_ACK;
  return TCP_IDX_NONE;
}

bool tcp_flags_valid(uint8_t tcp_flags) {
  // PSH, ECE and CWR never make a combination invalid; Linux masks them out.
  const uint8_t core = tcp_flags & (TCPF_FIN | TCPF_SYN | TCPF_RST | TCPF_ACK | TCPF_URG);
  switch (core) {
    case TCPF_SYN:
    case TCPF_SYN | TCPF_URG:
    case TCPF_SYN | TCPF_ACK:
    case TCPF_RST:
    case TCPF_RST | TCPF_ACK:
    case TCPF_FIN | TCPF_ACK:
    case TCPF_FIN | TCPF_ACK | TCPF_URG:
    case TCPF_ACK:
    case TCPF_ACK | TCPF_URG: return true;
    default: return false;
  }
}

uint8_t tcp_transition(ct_dir dir, uint8_t index, uint8_t old_state) {
  const auto d = static_cast<uint8_t>(dir);
  if (d > dir_reply || index >= TCP_IDX_COUNT || old_state >= TCP_CT_MAX) return IV;
  return next_state[d][old_state][index];
}

}  // namespace ctgate::ct
