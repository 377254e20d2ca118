// TCP tracker: Linux's state machine and window tracking
// (nf_conntrack_proto_tcp.c as of 6.18, the kernel the differential tests
// run against): tcp_packet's special cases and tcp_in_window's four bounds.
// Every deliberate difference is listed in docs/design/trackers.md.
#include <algorithm>
#include <cstdint>
#include <utility>

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

// Inline versions of the exported table functions below: the tracker runs
// them for every packet.
inline uint8_t flag_index_of(uint8_t tcp_flags) {
  // Precedence matters for nonsense combinations: RST wins over everything,
  // then SYN (split on ACK), then FIN, then ACK.
  if (tcp_flags & TCPF_RST) return TCP_IDX_RST;
  if (tcp_flags & TCPF_SYN) return (tcp_flags & TCPF_ACK) ? TCP_IDX_SYNACK : TCP_IDX_SYN;
  if (tcp_flags & TCPF_FIN) return TCP_IDX_FIN;
  if (tcp_flags & TCPF_ACK) return TCP_IDX_ACK;
  return TCP_IDX_NONE;
}

inline bool flags_valid(uint8_t tcp_flags) {
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

inline uint8_t transition(uint8_t d, uint8_t index, uint8_t old_state) {
  if (d > dir_reply || index >= TCP_IDX_COUNT || old_state >= TCP_CT_MAX) return IV;
  return next_state[d][old_state][index];
}

inline uint32_t segment_end(const tcp_segment& s) {
  return s.seq + s.payload + ((s.flags & TCPF_SYN) ? 1 : 0) + ((s.flags & TCPF_FIN) ? 1 : 0);
}

constexpr track_result accepted(uint16_t set_status = 0) {
  track_result r;
  r.set_status = set_status;
  return r;
}

constexpr track_result refused(uint8_t reason) {
  track_result r;
  r.verdict = track_verdict::invalid;
  r.reason = reason;
  return r;
}

constexpr track_result ignored(uint8_t reason) {
  track_result r;
  r.verdict = track_verdict::ignore;
  r.reason = reason;
  return r;
}

void note_last(track_state* st, uint8_t dir, uint8_t index) {
  st->tcp_last_dir = dir;
  st->tcp_last_index = index;
}

// The side that opened the connection: the original direction, unless the
// reply side reopened it (reopen() below), which makes it the opener.
uint8_t opener_of(const track_state& st) {
  return (st.stream_ms & TCP_TRK_MIRRORED) ? dir_reply : dir_original;
}

// ---- window tracking (tcp_in_window) ----

// Linux's MAXACKWINDOW: how far below the receiver's end an ACK may lag.
uint32_t max_ack_window(const tcp_seen& sender) {
  constexpr uint32_t k_min = 66000;
  return sender.td_maxwin > k_min ? sender.td_maxwin : k_min;
}

// A SYN or SYN-ACK initialises its sender's side (tcp_init_sender). Window
// scaling needs the option from both sides (RFC 7323), so the answering side
// turns it off for both when either did not send it.
void init_sender(tcp_window& w, uint8_t dir, const tcp_segment& s, uint32_t end, uint8_t opener) {
  tcp_seen& snd = w.seen[dir];
  snd.td_end = snd.td_maxend = end;
  snd.td_maxwin = s.window == 0 ? 1 : s.window;
  if (s.options_len != 0) {
    w.flags[dir] &= TCPW_BE_LIBERAL;
    tcp_parse_options(s.options, s.options_len, &w.scale[dir], &w.flags[dir]);
  }
  if (dir != opener &&
      !((w.flags[dir] & TCPW_WINDOW_SCALE) && (w.flags[dir ^ 1] & TCPW_WINDOW_SCALE))) {
    w.scale[dir] = 0;
    w.scale[dir ^ 1] = 0;
  }
}

// tcp_new's part for the first packet: the sender's side from the segment.
// A SYN opens; anything else is a mid-stream pickup, tracked liberally (its
// window scale is unknown), as Linux does.
void init_first(tcp_window& w, const tcp_segment& s, bool syn) {
  w = tcp_window{};
  tcp_seen& snd = w.seen[dir_original];
  snd.td_end = segment_end(s);
  snd.td_maxwin = s.window == 0 ? 1 : s.window;
  if (syn) {
    snd.td_maxend = snd.td_end;
    if (s.options_len != 0)
      tcp_parse_options(s.options, s.options_len, &w.scale[dir_original], &w.flags[dir_original]);
  } else {
    snd.td_maxend = snd.td_end + snd.td_maxwin;
    w.flags[dir_original] = w.flags[dir_reply] = TCPW_SACK_PERM | TCPW_BE_LIBERAL;
  }
}

struct window_check {
  track_verdict verdict = track_verdict::accept;
  uint8_t reason = TCP_REASON_NONE;
};

// The updates that follow a segment within all four bounds (the second half
// of tcp_in_window). `win` is already scaled; `raw_win` is the header's.
[[gnu::always_inline]] inline void update_window(tcp_window& w, const track_state& st, uint8_t dir,
                                                 uint8_t index, bool has_ack, uint32_t seq,
                                                 uint32_t ack, uint32_t sack, uint32_t end,
                                                 uint32_t win, uint16_t raw_win) {
  tcp_seen& snd = w.seen[dir];
  tcp_seen& rcv = w.seen[dir ^ 1];
  const uint32_t swin = win + (sack - ack);
  if (snd.td_maxwin < swin) snd.td_maxwin = swin;
  if (seq_after(end, snd.td_end)) {
    snd.td_end = end;
    w.flags[dir] |= TCPW_DATA_UNACK;
  }
  if (has_ack) {
    if (!(w.flags[dir] & TCPW_MAXACK_SET)) {
      snd.td_maxack = ack;
      w.flags[dir] |= TCPW_MAXACK_SET;
    } else if (seq_after(ack, snd.td_maxack)) {
      snd.td_maxack = ack;
    }
  }
  if (rcv.td_maxwin != 0 && seq_after(end, snd.td_maxend)) rcv.td_maxwin += end - snd.td_maxend;
  if (seq_after(sack + win, rcv.td_maxend - 1)) {
    rcv.td_maxend = sack + win;
    if (win == 0) rcv.td_maxend++;
  }
  if (ack == rcv.td_end) w.flags[dir ^ 1] &= static_cast<uint8_t>(~TCPW_DATA_UNACK);

  // Retransmissions: the same ACK-flagged segment again, from the same side.
  if (index == TCP_IDX_ACK) {
    if (st.tcp_last_dir == dir && w.last_seq == seq && w.last_ack == ack && w.last_end == end &&
        w.last_win == raw_win) {
      if (w.retrans < UINT8_MAX) w.retrans++;
    } else {
      w.last_seq = seq;
      w.last_ack = ack;
      w.last_end = end;
      w.last_win = raw_win;
      w.retrans = 0;
    }
  }
}

// Linux's tcp_in_window. `old` is the state before this packet. A failed
// check on a liberal side (or with tcp_be_liberal) passes without updating
// anything, exactly as Linux's nf_tcp_log_invalid makes it.
window_check in_window(tcp_window& w, const track_state& st, uint8_t dir, uint8_t index,
                       uint8_t old, const tcp_segment& s, const tracker_params& p) {
  tcp_seen& snd = w.seen[dir];
  tcp_seen& rcv = w.seen[dir ^ 1];
  const bool syn = s.flags & TCPF_SYN;
  const bool has_ack = s.flags & TCPF_ACK;
  const bool rst = s.flags & TCPF_RST;
  const uint8_t opener = opener_of(st);
  uint32_t seq = s.seq;
  uint32_t ack = s.ack;
  uint32_t sack = ack;
  uint32_t win = s.window;
  uint32_t end = segment_end(s);
  if ((w.flags[dir ^ 1] & TCPW_SACK_PERM) && s.options_len != 0)
    sack = tcp_highest_sack(s.options, s.options_len, ack);
  ack += s.ack_offset;
  sack += s.ack_offset;

  if (snd.td_maxwin == 0) {
    if (syn) {
      init_sender(w, dir, s, end, opener);
      if (!has_ack) return {};  // simultaneous open
    } else {
      // The first packet we see from this side: take what it shows.
      snd.td_end = end;
      const uint32_t swin = win << w.scale[dir];
      snd.td_maxwin = swin == 0 ? 1 : swin;
      snd.td_maxend = end + snd.td_maxwin;
      if (rcv.td_maxwin == 0)
        rcv.td_end = rcv.td_maxend = sack;  // nothing from the other side yet
      else if (sack == rcv.td_end + 1)
        rcv.td_end++;  // likely the answer to a keepalive
    }
  } else if (syn && seq_after(end, snd.td_end) &&
             (old == TCP_CT_SYN_SENT || old == TCP_CT_SYN_RECV)) {
    // A restarted handshake with a higher ISN (RFC 793): start this side again.
    init_sender(w, dir, s, end, opener);
    if (dir != opener && !has_ack) return {};
  }

  if (!has_ack || (rst && ack == 0)) ack = sack = rcv.td_end;  // no ACK, or a broken RST/ACK
  if (rst && seq == 0 && old == TCP_CT_SYN_SENT) seq = end = snd.td_end;  // RST answering a SYN

  const bool liberal = p.tcp_be_liberal || (w.flags[dir] & TCPW_BE_LIBERAL);
  auto fail = [liberal, &w](track_verdict v, uint8_t reason, uint32_t bound) {
    if (liberal) return window_check{};
    w.reason_bound = bound;
    return window_check{v, reason};
  };
  // I: seq <= td_maxend.
  if (!seq_before(seq, snd.td_maxend + 1)) {
    const uint32_t overshot = end - snd.td_maxend + 1;
    const bool ack_ok = seq_after(sack, rcv.td_end - max_ack_window(snd) - 1);
    const bool in_recv_win = rcv.td_maxwin != 0 && seq_after(end, snd.td_end - rcv.td_maxwin - 1);
    if (in_recv_win && ack_ok && overshot <= rcv.td_maxwin && seq_before(sack, rcv.td_end + 1)) {
      // A sender a little past the window: pass it, and remember its data so
      // the receiver's ACK of it is in bounds later.
      snd.td_end = end;
      w.flags[dir] |= TCPW_DATA_UNACK;
      return fail(track_verdict::ignore, TCP_REASON_OVERSHOOT, overshot);
    }
    return fail(track_verdict::invalid, TCP_REASON_SEQ_OVER, snd.td_maxend + 1);
  }
  // III: the (S)ACK acknowledges nothing the receiver has not sent.
  if (!seq_before(sack, rcv.td_end + 1))
    return fail(track_verdict::invalid, TCP_REASON_ACK_OVER, rcv.td_end + 1);
  // II: the segment ends within the receiver's window of what was sent.
  if (rcv.td_maxwin != 0 && !seq_after(end, snd.td_end - rcv.td_maxwin - 1))
    return fail(track_verdict::ignore, TCP_REASON_SEQ_UNDER, snd.td_end - rcv.td_maxwin - 1);
  // IV: the (S)ACK is not too old.
  if (!seq_after(sack, rcv.td_end - max_ack_window(snd) - 1))
    return fail(track_verdict::ignore, TCP_REASON_ACK_UNDER, rcv.td_end - max_ack_window(snd) - 1);

  if (!syn) win <<= w.scale[dir];
  update_window(w, st, dir, index, has_ack, seq, ack, sack, end, win, s.window);
  return {};
}

// ---- the state machine's special cases (tcp_packet) ----

// Linux lets a SYN restart a finished connection only when the old one was
// really closing: a FIN was seen, or the same side had reset it. We also
// count a RST that came before any reply, since Linux deletes such entries
// at once and the retry then finds no entry at all.
bool may_reopen(const track_state& st, uint8_t dir) {
  if (st.stream_ms & (TCP_TRK_CLOSE_INIT | TCP_TRK_RESET_UNREPLIED)) return true;
  return st.tcp_last_dir == dir && st.tcp_last_index == TCP_IDX_RST;
}

bool tcp_first_packet(const l4_info& pkt, const tcp_segment* seg, const tracker_params& p,
                      track_state* st, tcp_window* win);

// Linux kills the old entry and lets the SYN create a fresh one. The tracker
// cannot delete, so it restarts the state machine in place instead. A SYN
// from the reply side (old server reopening from TIME_WAIT) would be the
// original direction of the fresh Linux entry; our tuple cannot flip, so we
// model it as the simultaneous-open start, whose continuation (SYN/ACK from
// the original side, ACK from the reply side) is exactly the mirrored
// handshake, and make the reply side the opener for the window rules.
track_result reopen(track_state* st, tcp_window* w, uint16_t status, uint8_t dir, uint8_t index,
                    const l4_info& pkt, const tcp_segment* seg, const tracker_params& p) {
  const bool from_reply = dir == dir_reply;
  // Linux's fresh entry has seen no reply and is not assured; ours must not
  // carry the old connection's flags either.
  constexpr uint16_t fresh = CT_STATUS_SEEN_REPLY | CT_STATUS_ASSURED;
  if (!from_reply) {
    tcp_first_packet(pkt, seg, p, st, w);
  } else {
    *st = track_state{};
    st->l4state = S2;
    st->stream_ms = TCP_TRK_SIMULTANEOUS_OPEN | TCP_TRK_MIRRORED;
    note_last(st, dir, index);
    st->tclass = timeout_class_for_tcp(st->l4state, status & ~fresh, index, 0, p.timeouts);
    if (w != nullptr && seg != nullptr) {
      init_first(*w, *seg, true);
      // init_first fills the original side; the opener here is the reply side.
      std::swap(w->seen[dir_original], w->seen[dir_reply]);
      std::swap(w->scale[dir_original], w->scale[dir_reply]);
      std::swap(w->flags[dir_original], w->flags[dir_reply]);
    }
  }
  track_result r = accepted();
  r.clear_status = fresh;
  return r;
}

// The kernel resyncs when a reply SYN/ACK answers a SYN it had ignored (both
// ends restarted the connection while we held a stale entry): the SYN/ACK
// must acknowledge that SYN's end. Without a window record, the pattern alone
// decides.
bool is_resync_synack(const track_state& st, const tcp_window* w, const tcp_segment* seg,
                      uint8_t dir, uint8_t index) {
  if (index != TCP_IDX_SYNACK || st.tcp_last_index != TCP_IDX_SYN || st.tcp_last_dir == dir)
    return false;
  return w == nullptr || seg == nullptr || seg->ack == w->last_end;
}

// Takes the ignored SYN's side from what was annotated, and starts the
// SYN/ACK's side afresh (the window check that follows initialises it).
void resync_window(tcp_window& w, const track_state& st, uint8_t dir) {
  tcp_seen& opened = w.seen[st.tcp_last_dir & 1];
  opened.td_end = opened.td_maxend = w.last_end;
  opened.td_maxwin = w.last_win == 0 ? 1 : w.last_win;
  w.scale[st.tcp_last_dir & 1] = w.last_wscale;
  w.flags[st.tcp_last_dir & 1] = w.last_flags;
  w.seen[dir] = tcp_seen{};
  w.scale[dir] = 0;
  w.flags[dir] &= TCPW_BE_LIBERAL;
}

// A packet the table cannot judge (it may belong to a connection the ends
// have restarted behind our back): pass it, keep the state, remember it so
// that the answer to it can be recognised.
track_result ignore(track_state* st, tcp_window* w, const tcp_segment* seg, uint8_t dir,
                    uint8_t index, uint8_t old) {
  note_last(st, dir, index);
  if (w != nullptr && seg != nullptr) {
    w->last_seq = seg->seq;
    w->last_end = segment_end(*seg);
    w->last_win = seg->window;
  }
  if (index == TCP_IDX_SYN && dir == dir_original) {
    // Linux restarts its scratch flags for each ignored SYN, which also
    // forgets a simultaneous open; keep that behaviour.
    st->stream_ms &= ~(TCP_TRK_SIMULTANEOUS_OPEN | TCP_TRK_CHALLENGE_ACK);
    // An RFC 5961 peer in LAST_ACK answers a stray SYN with a challenge ACK,
    // which must not be taken for the final ACK.
    if (old == LA) st->stream_ms |= TCP_TRK_CHALLENGE_ACK;
    if (w != nullptr && seg != nullptr) {
      uint8_t scale = 0, flags = 0;
      if (seg->options_len != 0) tcp_parse_options(seg->options, seg->options_len, &scale, &flags);
      w->last_flags = flags & (TCPW_WINDOW_SCALE | TCPW_SACK_PERM);
      w->last_wscale = (flags & TCPW_WINDOW_SCALE) ? scale : 0;
    }
  }
  // A possible challenge ACK answering the SYN: a RST quoting it is valid.
  if (old == SS && index == TCP_IDX_ACK && dir == dir_reply && w != nullptr && seg != nullptr)
    w->last_ack = seg->ack;
  return ignored(TCP_REASON_IGNORED_STATE);
}

bool is_challenge_ack(const track_state& st, uint8_t dir, uint8_t index, uint8_t old,
                      uint8_t next) {
  return next == TW && old == LA && index == TCP_IDX_ACK && st.tcp_last_dir != dir &&
         st.tcp_last_index == TCP_IDX_SYN && (st.stream_ms & TCP_TRK_CHALLENGE_ACK) != 0;
}

// FIN_WAIT and later: Linux lets a RST close such a flow without sequence
// checks (the tuple may already be in use again).
bool may_early_drop(uint8_t state) {
  return state == FW || state == LA || state == TW || state == CL || state == CW;
}

struct rst_check {
  bool invalid = false;      // spoofed or stale: INVALID
  bool keep_state = false;   // in the window but not exact: the flow stays as it is
  bool skip_window = false;  // accepted without the window check
};

// Linux's RST rules ahead of the window check (tcp_packet, case CLOSE).
rst_check check_rst(const track_state& st, const tcp_window& w, const tcp_segment& s,
                    uint16_t status, uint8_t dir, uint8_t old, const tracker_params& p) {
  rst_check r;
  if (may_early_drop(old)) {
    r.skip_window = true;
    return r;
  }
  const tcp_seen& peer = w.seen[dir ^ 1];
  if ((w.flags[dir ^ 1] & TCPW_MAXACK_SET) && st.tcp_last_index != TCP_IDX_SYN) {
    const bool established = old == ES && (status & CT_STATUS_ASSURED);
    // SEQ 0 outside an established flow: most likely the answer to a SYN we
    // let through; the window check decides.
    if (s.seq == 0 && !established) return r;
    // RFC 5961: a RST below what the peer has acknowledged is spoofed or stale.
    if (seq_before(s.seq, peer.td_maxack) && !p.tcp_ignore_invalid_rst) {
      r.invalid = true;
      return r;
    }
    if (!established || s.seq == peer.td_maxack) return r;
    // The end of a train: data, then a RST at its end.
    if (st.tcp_last_index == TCP_IDX_ACK && st.tcp_last_dir == dir && s.seq == w.last_end) return r;
    // In the window but not exact: keep the connection, so the challenge
    // ACK the receiver sends can be answered by the real peer.
    r.keep_state = true;
  }
  // A RST answering a SYN (after a reply) or ACK (unassured) we let through
  // unchecked: it may acknowledge what we ignored, so skip the window check.
  if ((((status & CT_STATUS_SEEN_REPLY) && st.tcp_last_index == TCP_IDX_SYN) ||
       (!(status & CT_STATUS_ASSURED) && st.tcp_last_index == TCP_IDX_ACK)) &&
      s.ack == w.last_end)
    r.skip_window = true;
  // A RST answering a challenge ACK we let through.
  else if (old == SS && st.tcp_last_index == TCP_IDX_ACK && st.tcp_last_dir == dir_reply &&
           s.seq == w.last_ack)
    r.skip_window = true;
  return r;
}

// Linux's nf_tcp_handle_invalid: an assured flow whose FIN or RST was out of
// window, answering the other side's FIN or RST, is probably dead: lower its
// timeout. Otherwise remember this packet as the last one.
track_result invalid_in_window(track_state* st, uint16_t status, uint8_t dir, uint8_t index,
                               const window_check& wc) {
  track_result r = refused(wc.reason);
  if (!(status & CT_STATUS_ASSURED) || (index != TCP_IDX_RST && index != TCP_IDX_FIN)) return r;
  if (st->tcp_last_dir != dir &&
      (st->tcp_last_index == TCP_IDX_FIN || st->tcp_last_index == TCP_IDX_RST))
    r.lower_to_class = TC_TCP_UNACK;
  else
    note_last(st, dir, index);
  return r;
}

// Linux's condition: the first valid packet in ESTABLISHED that follows
// SYN_RECV (a completed handshake) or ESTABLISHED (an answered pickup), once a
// reply has been seen.
bool becomes_assured(uint16_t status, uint8_t old, uint8_t next) {
  if ((status & CT_STATUS_SEEN_REPLY) == 0 || (status & CT_STATUS_ASSURED) != 0) return false;
  return (old == SR || old == ES) && next == ES;
}

inline uint8_t window_hints(const tcp_window* w, const tracker_params& p) {
  if (w == nullptr) return 0;
  uint8_t h = 0;
  if (w->retrans >= p.tcp_max_retrans) h |= TCP_HINT_RETRANS;
  if ((w->flags[0] | w->flags[1]) & TCPW_DATA_UNACK) h |= TCP_HINT_DATA_UNACK;
  if (w->last_win == 0) h |= TCP_HINT_ZERO_WINDOW;
  return h;
}

inline track_result commit(track_state* st, const tcp_window* w, uint16_t status, uint8_t dir,
                           uint8_t index, uint8_t old, uint8_t next, const tracker_params& p) {
  note_last(st, dir, index);
  st->l4state = next;
  if (old != next && next == FW) st->stream_ms |= TCP_TRK_CLOSE_INIT;
  if (index == TCP_IDX_RST && (status & CT_STATUS_SEEN_REPLY) == 0) {
    st->stream_ms |= TCP_TRK_RESET_UNREPLIED;
  }
  st->tclass = timeout_class_for_tcp(next, status, index, window_hints(w, p), p.timeouts);
  track_result r = accepted(becomes_assured(status, old, next) ? CT_STATUS_ASSURED : 0);
  // A SYN retransmitted before any answer does not renew the timeout, or
  // port reuse could keep the entry alive forever.
  if (!(status & CT_STATUS_SEEN_REPLY) && index == TCP_IDX_SYN && old == SS)
    r.verdict = track_verdict::ignore;
  return r;
}

// The common case, tried first: an ACK-flagged segment (data, pure ACK,
// window update) of an assured ESTABLISHED flow, within all four bounds.
// The transition is ESTABLISHED -> ESTABLISHED and no special case applies,
// so this does exactly what the general path below would, in fewer steps.
// Anything else, or any failed bound, returns false: the general path,
// which is the reference, then judges the packet from the start.
[[gnu::always_inline]] inline bool established_fast(track_state* st, tcp_window& w, uint16_t status,
                                                    uint8_t d, const tcp_segment& s,
                                                    const tracker_params& p, track_result* out) {
  constexpr uint8_t k_core = TCPF_FIN | TCPF_SYN | TCPF_RST | TCPF_ACK | TCPF_URG;
  if ((s.flags & k_core) != TCPF_ACK || st->l4state != ES || !(status & CT_STATUS_ASSURED))
    return false;
  const tcp_seen& snd = w.seen[d];
  const tcp_seen& rcv = w.seen[d ^ 1];
  if (snd.td_maxwin == 0 || rcv.td_maxwin == 0) return false;
  const uint32_t seq = s.seq;
  const uint32_t end = seq + s.payload;
  const uint32_t ack = s.ack + s.ack_offset;
  uint32_t sack = ack;
  if ((w.flags[d ^ 1] & TCPW_SACK_PERM) && s.options_len != 0)
    sack = tcp_highest_sack(s.options, s.options_len, s.ack) + s.ack_offset;
  if (!seq_before(seq, snd.td_maxend + 1) || !seq_before(sack, rcv.td_end + 1) ||
      !seq_after(end, snd.td_end - rcv.td_maxwin - 1) ||
      !seq_after(sack, rcv.td_end - max_ack_window(snd) - 1))
    return false;
  update_window(w, *st, d, TCP_IDX_ACK, true, seq, ack, sack, end, uint32_t{s.window} << w.scale[d],
                s.window);
  note_last(st, d, TCP_IDX_ACK);
  st->tclass = timeout_class_for_tcp(ES, status, TCP_IDX_ACK, window_hints(&w, p), p.timeouts);
  *out = accepted();
  return true;
}

track_result tcp_packet(track_state* st, tcp_window* w, uint16_t status, ct_dir dir,
                        const l4_info& pkt, const tcp_segment* seg, const tracker_params& p,
                        uint32_t /*now_ms*/) {
  if (seg == nullptr) w = nullptr;
  track_result fast;
  if (w != nullptr && established_fast(st, *w, status, static_cast<uint8_t>(dir), *seg, p, &fast))
    return fast;
  if (!flags_valid(pkt.tcp_flags)) return refused(TCP_REASON_FLAGS);
  const uint8_t d = static_cast<uint8_t>(dir);
  const uint8_t index = flag_index_of(pkt.tcp_flags);
  uint8_t old = st->l4state;
  uint8_t next = transition(d, index, old);

  // A SYN after the end of a connection: reopen, or else treat as ignored.
  if (next == SS && old >= TW) {
    if (may_reopen(*st, d)) return reopen(st, w, status, d, index, pkt, seg, p);
    next = IG;
  }
  if (next == IG) {
    if (!is_resync_synack(*st, w, seg, d, index)) return ignore(st, w, seg, d, index, old);
    if (w != nullptr) resync_window(*w, *st, d);
    old = SS;
    next = SR;
    st->stream_ms &= ~(TCP_TRK_CLOSE_INIT | TCP_TRK_CHALLENGE_ACK | TCP_TRK_RESET_UNREPLIED);
  }
  if (next == IV) return refused(TCP_REASON_STATE);
  if (is_challenge_ack(*st, d, index, old, next)) {
    // Passed without touching the state; the challenge is consumed.
    st->stream_ms &= ~TCP_TRK_CHALLENGE_ACK;
    return ignored(TCP_REASON_CHALLENGE_ACK);
  }
  // The table alone cannot finish a simultaneous open: remember it, so that
  // the reply side's ACK in SYN_RECV completes the handshake.
  if (next == S2) st->stream_ms |= TCP_TRK_SIMULTANEOUS_OPEN;
  if (next == SR && d == dir_reply && index == TCP_IDX_ACK &&
      (st->stream_ms & TCP_TRK_SIMULTANEOUS_OPEN) != 0) {
    next = ES;
  }
  if (w == nullptr) return commit(st, nullptr, status, d, index, old, next, p);

  bool check_window = true;
  if (next == CL && index == TCP_IDX_RST) {
    const rst_check rc = check_rst(*st, *w, *seg, status, d, old, p);
    if (rc.invalid) {
      w->reason_bound = w->seen[d ^ 1].td_maxack;
      return refused(TCP_REASON_RST);
    }
    if (rc.keep_state) next = old;
    check_window = !rc.skip_window;
  }
  if (check_window) {
    // The stored state, not `old`: a resync judges the SYN/ACK as Linux does.
    const window_check wc = in_window(*w, *st, d, index, st->l4state, *seg, p);
    if (wc.verdict == track_verdict::ignore) return ignored(wc.reason);
    if (wc.verdict == track_verdict::invalid) return invalid_in_window(st, status, d, index, wc);
  }
  return commit(st, w, status, d, index, old, next, p);
}

// The first packet of a flow, as Linux's tcp_new followed by tcp_packet
// from state NONE.
bool tcp_first_packet(const l4_info& pkt, const tcp_segment* seg, const tracker_params& p,
                      track_state* st, tcp_window* win) {
  if (!flags_valid(pkt.tcp_flags)) return false;
  const uint8_t index = flag_index_of(pkt.tcp_flags);
  const uint8_t next = transition(dir_original, index, NO);
  if (next >= TCP_CT_MAX) return false;
  // Without tcp_loose only a SYN may start tracking; with it, a mid-stream
  // ACK is picked up as ESTABLISHED (capped by the unacknowledged timeout
  // until the other side answers).
  if (next != SS && !p.tcp_loose) return false;
  *st = track_state{};
  st->tcp_last_index = TCP_IDX_NONE;
  if (win != nullptr && seg != nullptr) init_first(*win, *seg, next == SS);
  return tcp_packet(st, win, 0, ct_dir::original, pkt, seg, p, 0).verdict == track_verdict::accept;
}

bool tcp_new_flow(const l4_info& pkt, const tcp_segment* seg, const tracker_params& p,
                  uint32_t /*now_ms*/, track_state* st, tcp_window* win) {
  return tcp_first_packet(pkt, seg, p, st, win);
}

}  // namespace

const l4_tracker tcp_tracker = {"tcp", tcp_new_flow, tcp_packet};

uint8_t tcp_flag_index(uint8_t tcp_flags) { return flag_index_of(tcp_flags); }

bool tcp_flags_valid(uint8_t tcp_flags) { return flags_valid(tcp_flags); }

uint8_t tcp_transition(ct_dir dir, uint8_t index, uint8_t old_state) {
  return transition(static_cast<uint8_t>(dir), index, old_state);
}

}  // namespace ctgate::ct

namespace ctgate::ct {

uint32_t tcp_segment_end(const tcp_segment& s) { return segment_end(s); }

namespace {

constexpr uint8_t k_opt_eol = 0;
constexpr uint8_t k_opt_nop = 1;
constexpr uint8_t k_opt_wscale = 3;
constexpr uint8_t k_opt_sack_perm = 4;
constexpr uint8_t k_opt_sack = 5;
constexpr uint8_t k_max_wscale = 14;

// Walks the options as Linux's parsers do: stop at EOL, at a silly length
// (< 2) and at an option running past the end; calls fn(kind, data, size).
template <typename Fn>
void for_each_option(const uint8_t* p, uint32_t len, Fn fn) {
  uint32_t i = 0;
  while (i < len) {
    const uint8_t kind = p[i];
    if (kind == k_opt_eol) return;
    if (kind == k_opt_nop) {
      i++;
      continue;
    }
    if (len - i < 2) return;
    const uint8_t size = p[i + 1];
    if (size < 2 || size > len - i) return;
    if (fn(kind, p + i + 2, size)) return;
    i += size;
  }
}

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

void tcp_parse_options(const uint8_t* opts, uint32_t len, uint8_t* scale, uint8_t* flags) {
  *scale = 0;
  for_each_option(opts, len, [&](uint8_t kind, const uint8_t* data, uint8_t size) {
    if (kind == k_opt_sack_perm && size == 2) *flags |= TCPW_SACK_PERM;
    if (kind == k_opt_wscale && size == 3) {
      *scale = data[0] > k_max_wscale ? k_max_wscale : data[0];
      *flags |= TCPW_WINDOW_SCALE;
    }
    return false;
  });
}

uint32_t tcp_highest_sack(const uint8_t* opts, uint32_t len, uint32_t ack) {
  // The common case: timestamps alone (NOP NOP TS), no SACK to look for.
  constexpr uint8_t k_ts_only[4] = {k_opt_nop, k_opt_nop, 8, 10};
  if (len == 12 && std::equal(k_ts_only, k_ts_only + 4, opts)) return ack;
  uint32_t sack = ack;
  for_each_option(opts, len, [&](uint8_t kind, const uint8_t* data, uint8_t size) {
    if (kind != k_opt_sack || size < 10 || (size - 2) % 8 != 0) return false;
    for (uint32_t b = 0; b + 8 <= static_cast<uint32_t>(size - 2); b += 8) {
      const uint32_t right = load_be32(data + b + 4);
      if (seq_after(right, sack)) sack = right;
    }
    return true;  // Linux reads the first SACK option only
  });
  return sack;
}

}  // namespace ctgate::ct
