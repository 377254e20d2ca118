// TCP window tracking state and its arithmetic (Linux's ip_ct_tcp and
// tcp_in_window, nf_conntrack_proto_tcp.c): what each direction has sent,
// the furthest it may send, and the largest window it was offered.
//
// Where it lives: one 64-byte record per table position, in an array beside
// the entries (flow_table::window_at), so the record of the entry at position
// p is found without a pointer, and an unconfirmed entry carries its record
// right behind it in the pool element. Only the entry's owner writes it
// (docs/design/conntrack.md, "Window tracking"); other workers, which see a
// flow's packets only under asymmetric RSS, track its state without it.
#pragma once

#include <cstdint>

namespace ctgate::ct {

// Per-direction flags (Linux's IP_CT_TCP_FLAG_*, renumbered).
enum : uint8_t {
  TCPW_WINDOW_SCALE = 1u << 0,  // this side sent the window scale option
  TCPW_SACK_PERM = 1u << 1,     // this side sent SACK-permitted
  TCPW_BE_LIBERAL = 1u << 2,    // window checks never fail for this side (pickup)
  TCPW_DATA_UNACK = 1u << 3,    // this side has data the other has not acknowledged
  TCPW_MAXACK_SET = 1u << 4,    // td_maxack holds a value
};

// What one side has shown (Linux's ip_ct_tcp_state).
struct tcp_seen {
  uint32_t td_end = 0;     // highest seq + len sent
  uint32_t td_maxend = 0;  // highest ack + window the other side offered it
  uint32_t td_maxwin = 0;  // largest window (scaled) it offered; 0 = nothing seen yet
  uint32_t td_maxack = 0;  // highest ack it sent (valid with TCPW_MAXACK_SET)
};

struct alignas(64) tcp_window {
  tcp_seen seen[2];  // by ct_dir
  // The last ACK-only segment (retransmission detection) or the last
  // ignored SYN (resynchronisation): Linux's last_seq, last_ack, last_end,
  // last_win. Their direction and flag index are in track_state.
  uint32_t last_seq = 0;
  uint32_t last_ack = 0;
  uint32_t last_end = 0;
  uint16_t last_win = 0;
  uint8_t scale[2] = {};      // window scale per direction (0..14)
  uint8_t flags[2] = {};      // TCPW_* per direction
  uint8_t retrans = 0;        // identical ACK-only segments in a row
  uint8_t last_wscale = 0;    // options of the last ignored SYN
  uint8_t last_flags = 0;     // TCPW_WINDOW_SCALE | TCPW_SACK_PERM of that SYN
  uint32_t reason_bound = 0;  // the edge the last window verdict named, for the log
};
static_assert(sizeof(tcp_window) == 64, "one cache line per position");

// Sequence-space comparisons, mod 2^32 (Linux's before/after).
inline bool seq_before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool seq_after(uint32_t a, uint32_t b) { return seq_before(b, a); }

// The TCP header fields window tracking reads, in host order.
struct tcp_segment {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 0;
  uint8_t flags = 0;        // TCPF_*
  uint16_t payload = 0;     // bytes after the header
  uint8_t options_len = 0;  // bytes of options (doff * 4 - 20)
  const uint8_t* options = nullptr;
  // Added to ack and to the SACK edges before any check: the sequence offset
  // the gateway applies to the other direction (synproxy's seqadj), so both
  // sides are compared in one space (Linux's nf_ct_seq_offset).
  uint32_t ack_offset = 0;
};

// seq + payload + SYN + FIN: one past the last sequence number the segment uses.
uint32_t tcp_segment_end(const tcp_segment& s);
// The window scale and SACK-permitted options of a SYN or SYN-ACK (Linux's
// tcp_options): *scale capped at 14; *flags gets TCPW_WINDOW_SCALE/SACK_PERM.
void tcp_parse_options(const uint8_t* opts, uint32_t len, uint8_t* scale, uint8_t* flags);
// The highest right edge of the SACK blocks, if above `ack` (Linux's tcp_sack).
uint32_t tcp_highest_sack(const uint8_t* opts, uint32_t len, uint32_t ack);

}  // namespace ctgate::ct
