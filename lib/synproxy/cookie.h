// SYN cookies for the synproxy statement: the ISN of our SYN-ACK carries
// everything we need to finish the handshake later, so a SYN costs no state.
//
// Cookie layout (32 bits, the ISN of our SYN-ACK; the client's ACK brings it
// back as ack - 1):
//
//   31                               4    3      2      1 0
//   | MAC: 28 bits of SipHash-2-4     | key | count | mss  |
//   |                                 | gen | par.  | index|
//
//   MAC    top 28 bits of SipHash-2-4(key[gen], saddr, daddr, sport, dport,
//          client_isn, count << 2 | mss_index), a 20-byte message hashed
//          in three SipHash words (siphash24_20). Everything the cookie asserts is
//          under the MAC, including the three low fields, so none of them can
//          be altered without recomputing it.
//   gen    parity of the key generation that made the cookie: tells check
//          which of the two keys to use, so an ACK costs exactly one hash.
//   count  parity of count = now_s / period_s: with a maximum age of two
//          periods (current or previous count, as Linux's MAX_SYNCOOKIE_AGE
//          of 2) one bit names the candidate; an older cookie has the same
//          parity as the current count and fails the MAC.
//   mss    index into the MSS table (Linux's table: 536, 1300, 1440, 1460).
//
// A forged ACK chooses the four low bits freely, so each guess succeeds with
// probability 2^-28 (about 3.7e-9). Linux keeps 24 hash bits plus an 8-bit
// counter; we spend fewer bits on time and more on the MAC.
//
// The hash only needs the same input at make and check time: pass addresses
// and ports as pkt_meta holds them (network order).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ctgate::synproxy {

// SipHash-2-4 (Aumasson and Bernstein) of `len` bytes with a 128-bit key
// given as four 32-bit words (word 0 = key bytes 0..3, little endian). A PRF:
// without the key an attacker cannot predict or forge outputs.
uint64_t siphash24(const uint32_t key[4], const uint8_t* msg, size_t len);

// The same for a 20-byte message given as five little-endian 32-bit words,
// without the byte handling: what a cookie costs (10 SipHash rounds).
uint64_t siphash24_20(const uint32_t key[4], uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3,
                      uint32_t w4);

// Two keys: key[0] is current, key[1] the one it replaced. `generation`
// counts rotations; its parity labels key[0] inside cookies.
struct cookie_secrets {
  uint32_t key[2][4] = {};
  uint32_t period_s = 64;  // length of one count period; cookies live 1..2 periods
  uint32_t generation = 0;
};

// Production: fill the 32 bytes from getrandom() once at start-up (bytes
// 0..15 current key, 16..31 previous key).
cookie_secrets secrets_from_bytes(const uint8_t bytes[32], uint32_t period_s = 64);
// Tests: both keys derived from `seed` (splitmix64), deterministic.
cookie_secrets make_secrets(uint64_t seed, uint32_t period_s = 64);
// Current key becomes previous, `fresh_key` (16 random bytes) current.
// Cookies made with the old current key keep validating until the next
// rotation; rotate no more often than every 2 * period_s or cookies die
// early. Not thread-safe against concurrent checks: the caller publishes a
// new cookie_secrets (e.g. RCU or a per-worker copy).
void rotate(cookie_secrets& s, const uint8_t fresh_key[16]);

// MSS table. Index = largest entry <= the client's MSS; below 536 (including
// 0 = no MSS option) index 0, because 536 is the IPv4 default every host
// must accept.
inline constexpr uint16_t k_mss_table[4] = {536, 1300, 1440, 1460};
uint8_t mss_index(uint16_t client_mss);
uint16_t mss_value(uint8_t idx);  // idx & 3

inline constexpr uint32_t k_max_cookie_age = 2;  // counts: current and previous

// Our ISN for the SYN-ACK answering a SYN (client_isn = the SYN's seq).
uint32_t make_cookie(const cookie_secrets& s, uint32_t saddr, uint32_t daddr, uint16_t sport,
                     uint16_t dport, uint32_t client_isn, uint16_t client_mss, uint32_t now_s);

// make_cookie for several SYNs at once: SipHash is a chain of dependent
// rounds, so two computed side by side take little more than one.
struct cookie_input {
  uint32_t saddr, daddr;
  uint16_t sport, dport;
  uint32_t client_isn;
  uint16_t client_mss;
};
void make_cookies(const cookie_secrets& s, const cookie_input* in, uint32_t* out, size_t n,
                  uint32_t now_s);

// Validates the cookie of an ACK: client_isn = ACK's seq - 1, cookie = ACK's
// ack - 1. True and *mss_out = the table MSS encoded at SYN time, or false
// (forged, wrong tuple, key rotated out twice, older than two periods).
bool check_cookie(const cookie_secrets& s, uint32_t saddr, uint32_t daddr, uint16_t sport,
                  uint16_t dport, uint32_t client_isn, uint32_t cookie, uint32_t now_s,
                  uint16_t* mss_out);

// The same for two candidate ISNs at once (an ACK's seq - 1, and seq for a
// zero-window probe): returns 1 or 2 for the candidate that validates, 0 if
// neither. Both MACs share the key, the count and their first message word,
// and are computed side by side, so a forged ACK (which fails both) costs
// little more than one check.
int check_cookie_pair(const cookie_secrets& s, uint32_t saddr, uint32_t daddr, uint16_t sport,
                      uint16_t dport, uint32_t isn1, uint32_t isn2, uint32_t cookie, uint32_t now_s,
                      uint16_t* mss_out);

// Timestamp cookie. When the client offers timestamps, the TSval of our
// SYN-ACK carries the SYN's other options in its low 6 bits (Linux's
// layout): bits 0-3 window scale (0xf = none), bit 4 SACK permitted, bit 5
// ECN. The client echoes it as TSecr of its ACK.
//
// `now_ts` is our timestamp clock; the result is <= now_ts (serial
// arithmetic, at most 63 ticks behind) so the TSvals that follow never go
// backwards, and never 0 (a zero TSecr means "no echo"; avoiding it costs
// another 64 ticks, only while the clock reads 0..63). wscale: 0..14,
// anything above 14 (0xf, 0xff) means the SYN had no window scale option.
uint32_t ts_encode(uint32_t now_ts, uint8_t wscale, bool sack, bool ecn);
// Decodes the echo. False if tsecr is 0 (nothing echoed: options unknown,
// outputs set to none/false). *wscale = 0..14 or 0xff for none (tcp_opts
// convention).
bool ts_decode(uint32_t tsecr, uint8_t* wscale, bool* sack, bool* ecn);

}  // namespace ctgate::synproxy
