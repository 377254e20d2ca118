// Sequence and timestamp translation for connections opened by the
// synproxy, applied to every packet for the life of the connection.
//
// Why: the client completed its handshake with us. It saw our cookie as the
// server's ISN and our clock in the TSval of our SYN-ACK. The server then
// answered our SYN with its own ISN and its own clock. Neither side may
// notice, so the gateway maps the server's numbers into the spaces the client
// saw, and back. The client's own numbers are untouched: our SYN to the
// server reused the client's ISN and TSval.
//
//   seq_off = server_isn - cookie_isn         (mod 2^32)
//   ts_off  = server_synack_tsval - our_synack_tsval   (0 if no timestamps)
//
// Server -> client (reply direction): numbers the server generates move into
// the client's view.
//   seq   -= seq_off    server's byte numbers -> the cookie space
//   TSval -= ts_off     server's clock -> the clock of our SYN-ACK
//   (ack, SACK edges and TSecr name the client's own numbers: unchanged)
// Client -> server (original direction): numbers that echo the server's,
// as the client knows them, move back into the server's spaces.
//   ack         += seq_off   acknowledges server bytes
//   SACK edges  += seq_off   selectively acknowledge server bytes
//   TSecr       += ts_off    echoes a (translated) server TSval
//   (seq and TSval are the client's own: unchanged)
//
// So a server seq S reaches the client as S - seq_off, the client acks
// S - seq_off + len, and the server receives S + len: the two directions
// compose to the identity, as do a TSval and its echo.
//
// All arithmetic is mod 2^32, so wraparound needs no special case. The TCP
// checksum is updated incrementally (RFC 1624, eqn. 3), so payload bytes are
// never read; fields at odd offsets (options after a lone NOP) are handled.
#pragma once

#include <cstddef>
#include <cstdint>

#include "conntrack/ct_ext.h"

namespace ctgate::synproxy {

// A proxied flow's offsets: its conntrack extension (ct_ext_id::seqadj),
// which fits the entry's inline area.
struct seq_delta {
  static constexpr ct::ct_ext_id ext_id = ct::ct_ext_id::seqadj;
  uint32_t seq_off = 0;
  uint32_t ts_off = 0;
};
static_assert(sizeof(seq_delta) == 8);
static_assert(offsetof(seq_delta, seq_off) == 0, "conntrack reads it: ct_seqadj_seq_offset");

// From the handshake: cookie_isn = our SYN-ACK's seq (= client's ACK's
// ack - 1); server_isn = the server SYN-ACK's seq; our_tsval = TSval of our
// SYN-ACK (= TSecr of the client's ACK); server_tsval = TSval of the server's
// SYN-ACK. Pass 0, 0 for the timestamps when the client did not use them.
inline seq_delta make_seq_delta(uint32_t cookie_isn, uint32_t server_isn, uint32_t our_tsval,
                                uint32_t server_tsval) {
  return seq_delta{server_isn - cookie_isn, server_tsval - our_tsval};
}

// tcp_hdr: the TCP header in network order, followed by at least its
// options (tcp_len >= doff * 4; payload may follow and is not read).
// Return false, touching nothing, if tcp_len < 20 or doff is < 5 or beyond
// tcp_len. Return false too if the option block is malformed: the fixed
// header has been translated (and the checksum kept right), options up to
// the fault as well; the caller may drop the packet as Linux does. Known
// options of the wrong length are left alone.
bool adjust_client_to_server(uint8_t* tcp_hdr, size_t tcp_len, const seq_delta& d);
bool adjust_server_to_client(uint8_t* tcp_hdr, size_t tcp_len, const seq_delta& d);

}  // namespace ctgate::synproxy
