// TCP options on raw bytes: what the synproxy reads from a SYN or an ACK,
// and the option block of the SYN-ACK (and of our SYN to the server).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ctgate::synproxy {

enum : uint8_t {
  TCPOPT_EOL = 0,
  TCPOPT_NOP = 1,
  TCPOPT_MSS = 2,        // len 4
  TCPOPT_WSCALE = 3,     // len 3
  TCPOPT_SACK_PERM = 4,  // len 2
  TCPOPT_SACK = 5,       // len 2 + 8n
  TCPOPT_TS = 8,         // len 10
};

inline constexpr uint8_t k_no_wscale = 0xff;
inline constexpr uint8_t k_max_wscale = 14;  // RFC 7323 2.3: larger values mean 14

struct tcp_opts {
  uint16_t mss = 0;              // 0: no MSS option
  uint8_t mss_at = 0;            // where its value is in the block (0: no MSS option)
  uint8_t wscale = k_no_wscale;  // 0..14, or k_no_wscale
  bool sack_perm = false;
  bool has_ts = false;
  uint32_t tsval = 0;  // host order
  uint32_t tsecr = 0;
};

// Parses the option block (the bytes after the 20-byte TCP header, len =
// doff * 4 - 20) into *out, which is reset first. Never reads past len.
// Returns true if the block is well formed (walked to its end or to EOL);
// false on a malformed block: an option whose length byte is missing, < 2,
// or runs past the end, or a known option with the wrong length. On false
// *out still holds what was parsed before the fault; the caller decides
// whether that is usable. Unknown kinds are skipped by their length.
bool parse_tcp_options(const uint8_t* opts, size_t len, tcp_opts* out);

// Writes the option block of a SYN-ACK / SYN in the layout Linux uses:
//   MSS | SACK_PERM,TS or NOP,NOP,TS | NOP,NOP,SACK_PERM (no TS) | NOP,WS
// each part only if present (mss != 0, has_ts, sack_perm, wscale <= 14;
// wscale > 14 is clamped to 14 except k_no_wscale). The length is a
// multiple of 4 (at most 20); returns it, or 0 if cap is too small.
size_t write_synack_options(uint8_t* out, size_t cap, const tcp_opts& o);

// Bytes write_synack_options will need for `o`.
size_t synack_options_size(const tcp_opts& o);

}  // namespace ctgate::synproxy
