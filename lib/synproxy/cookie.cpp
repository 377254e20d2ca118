#include "synproxy/cookie.h"

#include <cstring>

#include "common/siphash.h"

namespace ctgate::synproxy {

namespace {

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

using sip_state = siphash24_state;

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void key_from_bytes(uint32_t key[4], const uint8_t b[16]) {
  for (int i = 0; i < 4; i++)
    key[i] = static_cast<uint32_t>(b[4 * i]) | static_cast<uint32_t>(b[4 * i + 1]) << 8 |
             static_cast<uint32_t>(b[4 * i + 2]) << 16 | static_cast<uint32_t>(b[4 * i + 3]) << 24;
}

inline uint32_t count_of(const cookie_secrets& s, uint32_t now_s) {
  const uint32_t p = s.period_s ? s.period_s : 1;
  // Periods are powers of two in practice (64 s): a shift, not a division
  // (~25 cycles) on every SYN.
  return (p & (p - 1)) == 0 ? now_s >> __builtin_ctz(p) : now_s / p;
}

constexpr uint32_t k_low_bits = 4;  // mss index (2), count parity (1), key generation (1)
constexpr uint32_t k_low_mask = (1u << k_low_bits) - 1;

// The 28-bit MAC, already shifted into bits 31..4. The message: the tuple,
// the client's ISN, and the count with the MSS index in its low two bits
// (counts stay below 2^30: now_s is a 32-bit worker clock in seconds).
uint32_t cookie_mac(const uint32_t key[4], uint32_t saddr, uint32_t daddr, uint16_t sport,
                    uint16_t dport, uint32_t client_isn, uint32_t count, uint8_t idx) {
  uint64_t h = siphash24_20(key, saddr, daddr, static_cast<uint32_t>(sport) << 16 | dport,
                            client_isn, count << 2 | idx);
  return static_cast<uint32_t>(h >> 32) & ~k_low_mask;
}

}  // namespace

uint64_t siphash24(const uint32_t key[4], const uint8_t* msg, size_t len) {
  sip_state s = sip_state::init(key);
  const uint8_t* end = msg + (len & ~static_cast<size_t>(7));
  for (const uint8_t* p = msg; p != end; p += 8) s.compress(load_le64(p));
  // Last word: the 0..7 remaining bytes, and len mod 256 in the top byte so
  // messages that differ only by trailing zeros hash differently.
  uint64_t b = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t i = 0; i < (len & 7); i++) b |= static_cast<uint64_t>(end[i]) << (8 * i);
  s.compress(b);
  return s.finish();
}

uint64_t siphash24_20(const uint32_t key[4], uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3,
                      uint32_t w4) {
  sip_state s = sip_state::init(key);
  s.compress(w0 | static_cast<uint64_t>(w1) << 32);
  s.compress(w2 | static_cast<uint64_t>(w3) << 32);
  s.compress(w4 | uint64_t{20} << 56);  // the last 4 bytes and the length
  return s.finish();
}

cookie_secrets secrets_from_bytes(const uint8_t bytes[32], uint32_t period_s) {
  cookie_secrets s;
  key_from_bytes(s.key[0], bytes);
  key_from_bytes(s.key[1], bytes + 16);
  s.period_s = period_s;
  return s;
}

cookie_secrets make_secrets(uint64_t seed, uint32_t period_s) {
  uint8_t b[32];
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) {
    uint64_t v = splitmix64(x);
    std::memcpy(b + 8 * i, &v, 8);
  }
  return secrets_from_bytes(b, period_s);
}

void rotate(cookie_secrets& s, const uint8_t fresh_key[16]) {
  std::memcpy(s.key[1], s.key[0], sizeof(s.key[0]));
  key_from_bytes(s.key[0], fresh_key);
  s.generation++;
}

uint8_t mss_index(uint16_t client_mss) {
  uint8_t i = 3;
  while (i > 0 && client_mss < k_mss_table[i]) i--;
  return i;
}

uint16_t mss_value(uint8_t idx) { return k_mss_table[idx & 3]; }

uint32_t make_cookie(const cookie_secrets& s, uint32_t saddr, uint32_t daddr, uint16_t sport,
                     uint16_t dport, uint32_t client_isn, uint16_t client_mss, uint32_t now_s) {
  const uint32_t count = count_of(s, now_s);
  const uint8_t idx = mss_index(client_mss);
  return cookie_mac(s.key[0], saddr, daddr, sport, dport, client_isn, count, idx) |
         (s.generation & 1) << 3 | (count & 1) << 2 | idx;
}

void make_cookies(const cookie_secrets& s, const cookie_input* in, uint32_t* out, size_t n,
                  uint32_t now_s) {
  const uint32_t count = count_of(s, now_s);
  const uint32_t low = (s.generation & 1) << 3 | (count & 1) << 2;
  auto first = [](const cookie_input& c) { return c.saddr | static_cast<uint64_t>(c.daddr) << 32; };
  auto second = [](const cookie_input& c) {
    return (static_cast<uint32_t>(c.sport) << 16 | c.dport) | static_cast<uint64_t>(c.client_isn)
                                                                  << 32;
  };
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const uint8_t ia = mss_index(in[i].client_mss), ib = mss_index(in[i + 1].client_mss);
    sip_state a = sip_state::init(s.key[0]);
    sip_state b = a;
    a.compress(first(in[i]));
    b.compress(first(in[i + 1]));
    a.compress(second(in[i]));
    b.compress(second(in[i + 1]));
    a.compress((count << 2 | ia) | uint64_t{20} << 56);
    b.compress((count << 2 | ib) | uint64_t{20} << 56);
    const uint64_t ha = a.finish(), hb = b.finish();
    out[i] = (static_cast<uint32_t>(ha >> 32) & ~k_low_mask) | low | ia;
    out[i + 1] = (static_cast<uint32_t>(hb >> 32) & ~k_low_mask) | low | ib;
  }
  if (i < n)
    out[i] = make_cookie(s, in[i].saddr, in[i].daddr, in[i].sport, in[i].dport, in[i].client_isn,
                         in[i].client_mss, now_s);
}

namespace {

// The cookie's candidate (key, count, MSS index), picked by its low bits.
struct cookie_candidate {
  const uint32_t* key;
  uint32_t count;
  uint8_t idx;
};
cookie_candidate candidate_of(const cookie_secrets& s, uint32_t cookie, uint32_t now_s) {
  // Same parity as now: made this period (or 2 ago, which the MAC rejects);
  // otherwise the previous period. k_max_cookie_age = 2 is what makes one
  // bit enough.
  const uint32_t gen_bit = (cookie >> 3) & 1;
  const uint32_t now_count = count_of(s, now_s);
  return {gen_bit == (s.generation & 1) ? s.key[0] : s.key[1],
          ((cookie >> 2) & 1) == (now_count & 1) ? now_count : now_count - 1,
          static_cast<uint8_t>(cookie & 3)};
}

}  // namespace

int check_cookie_pair(const cookie_secrets& s, uint32_t saddr, uint32_t daddr, uint16_t sport,
                      uint16_t dport, uint32_t isn1, uint32_t isn2, uint32_t cookie, uint32_t now_s,
                      uint16_t* mss_out) {
  const cookie_candidate c = candidate_of(s, cookie, now_s);
  const uint32_t ports = static_cast<uint32_t>(sport) << 16 | dport;
  const uint64_t last = (c.count << 2 | c.idx) | uint64_t{20} << 56;
  sip_state a = sip_state::init(c.key);
  a.compress(saddr | static_cast<uint64_t>(daddr) << 32);
  sip_state b = a;  // the shared first word
  a.compress(ports | static_cast<uint64_t>(isn1) << 32);
  b.compress(ports | static_cast<uint64_t>(isn2) << 32);
  a.compress(last);
  b.compress(last);
  const uint32_t want = cookie & ~k_low_mask;
  const bool ok1 = (static_cast<uint32_t>(a.finish() >> 32) & ~k_low_mask) == want;
  const bool ok2 = (static_cast<uint32_t>(b.finish() >> 32) & ~k_low_mask) == want;
  if (!ok1 && !ok2) return 0;
  if (mss_out) *mss_out = mss_value(c.idx);
  return ok1 ? 1 : 2;
}

bool check_cookie(const cookie_secrets& s, uint32_t saddr, uint32_t daddr, uint16_t sport,
                  uint16_t dport, uint32_t client_isn, uint32_t cookie, uint32_t now_s,
                  uint16_t* mss_out) {
  // The low bits pick the single candidate (key, count); the MAC decides.
  const cookie_candidate c = candidate_of(s, cookie, now_s);
  if (cookie_mac(c.key, saddr, daddr, sport, dport, client_isn, c.count, c.idx) !=
      (cookie & ~k_low_mask))
    return false;
  if (mss_out) *mss_out = mss_value(c.idx);
  return true;
}

uint32_t ts_encode(uint32_t now_ts, uint8_t wscale, bool sack, bool ecn) {
  uint32_t opt = wscale <= 14 ? wscale : 0xf;
  if (sack) opt |= 1u << 4;
  if (ecn) opt |= 1u << 5;
  uint32_t ts = (now_ts & ~0x3fu) | opt;
  // Never ahead of the clock: our later segments carry the plain clock and
  // the client's PAWS check wants them not to go backwards.
  if (opt > (now_ts & 0x3f)) ts -= 64;
  // 0 would read as "no echo" on the ACK; one more step back is still
  // behind the clock in serial arithmetic.
  if (ts == 0) ts -= 64;
  return ts;
}

bool ts_decode(uint32_t tsecr, uint8_t* wscale, bool* sack, bool* ecn) {
  if (tsecr == 0) {
    *wscale = 0xff;
    *sack = false;
    *ecn = false;
    return false;
  }
  const uint8_t ws = tsecr & 0xf;
  *wscale = ws == 0xf ? 0xff : ws;
  *sack = (tsecr >> 4) & 1;
  *ecn = (tsecr >> 5) & 1;
  return true;
}

}  // namespace ctgate::synproxy
