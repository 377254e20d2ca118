// Unit tests of the synproxy's pure functions: SYN cookies, timestamp
// cookies, TCP option parse/build, and sequence/timestamp translation with
// incremental checksums.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "synproxy/cookie.h"
#include "synproxy/seq_adjust.h"
#include "synproxy/tcp_options.h"

namespace sp = ctgate::synproxy;

namespace {

// ---------------------------------------------------------------- helpers

constexpr uint32_t k_saddr = 0x0a000001;  // any fixed values: the hash only
constexpr uint32_t k_daddr = 0xc0a80102;  // needs the same bytes twice
constexpr uint16_t k_sport = 0xd431;
constexpr uint16_t k_dport = 0x0050;

uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void append32(std::vector<uint8_t>& v, uint32_t x) {
  v.push_back(static_cast<uint8_t>(x >> 24));
  v.push_back(static_cast<uint8_t>(x >> 16));
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}

// Reference TCP checksum, computed from scratch over the IPv4 pseudo-header
// and the whole segment with the checksum field taken as zero.
uint16_t ref_tcp_checksum(uint32_t saddr, uint32_t daddr, const uint8_t* seg, size_t len) {
  uint64_t sum = 0;
  sum += (saddr >> 16) + (saddr & 0xffff) + (daddr >> 16) + (daddr & 0xffff);
  sum += 6;  // zero, protocol
  sum += len;
  for (size_t i = 0; i < len; i += 2) {
    if (i == 16) continue;  // checksum field
    uint32_t w = static_cast<uint32_t>(seg[i]) << 8;
    if (i + 1 < len) w |= seg[i + 1];
    sum += w;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
uint16_t field_checksum(const std::vector<uint8_t>& seg) {
  return static_cast<uint16_t>(seg[16] << 8 | seg[17]);
}
void set_checksum(std::vector<uint8_t>& seg) {
  uint16_t c = ref_tcp_checksum(k_saddr, k_daddr, seg.data(), seg.size());
  seg[16] = static_cast<uint8_t>(c >> 8);
  seg[17] = static_cast<uint8_t>(c);
}
bool checksum_ok(const std::vector<uint8_t>& seg) {
  return field_checksum(seg) == ref_tcp_checksum(k_saddr, k_daddr, seg.data(), seg.size());
}

// A TCP segment: 20-byte header, `opts` (padded with EOL to a multiple of
// 4), `payload_len` bytes of payload; checksum set by the reference.
std::vector<uint8_t> make_segment(uint32_t seq, uint32_t ack, std::vector<uint8_t> opts,
                                  size_t payload_len, uint8_t payload_seed = 0x5a) {
  while (opts.size() % 4) opts.push_back(sp::TCPOPT_EOL);
  // Sized up front: GCC 12 at -O2 warns (falsely) on inserting at end().
  std::vector<uint8_t> s(20 + opts.size());
  s[0] = k_sport >> 8;
  s[1] = k_sport & 0xff;
  s[2] = k_dport >> 8;
  s[3] = k_dport & 0xff;
  put32(&s[4], seq);
  put32(&s[8], ack);
  s[12] = static_cast<uint8_t>((20 + opts.size()) / 4 << 4);
  s[13] = 0x10;  // ACK
  s[14] = 0xfa;
  s[15] = 0xf0;
  std::copy(opts.begin(), opts.end(), s.begin() + 20);
  for (size_t i = 0; i < payload_len; i++) s.push_back(static_cast<uint8_t>(payload_seed + i * 7));
  set_checksum(s);
  return s;
}

std::vector<uint8_t> ts_opt(uint32_t tsval, uint32_t tsecr) {
  std::vector<uint8_t> o = {sp::TCPOPT_TS, 10};
  append32(o, tsval);
  append32(o, tsecr);
  return o;
}
std::vector<uint8_t> sack_opt(const std::vector<uint32_t>& edges) {
  std::vector<uint8_t> o = {sp::TCPOPT_SACK, static_cast<uint8_t>(2 + 4 * edges.size())};
  for (uint32_t e : edges) append32(o, e);
  return o;
}
std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> r;
  for (const auto& p : parts) r.insert(r.end(), p.begin(), p.end());
  return r;
}
const std::vector<uint8_t> k_nop = {sp::TCPOPT_NOP};

// Exact-size heap copy so AddressSanitizer flags any read past len.
bool parse_exact(const std::vector<uint8_t>& b, size_t len, sp::tcp_opts* o) {
  auto p = std::make_unique<uint8_t[]>(len ? len : 1);
  if (len) std::memcpy(p.get(), b.data(), len);
  return sp::parse_tcp_options(p.get(), len, o);
}

// ---------------------------------------------------------------- SipHash

TEST(SipHash, ReferenceVectors) {
  // Key 00..0f, message 00 01 02 ..., from the SipHash paper and the
  // reference implementation's vector table.
  const uint32_t key[4] = {0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c};
  uint8_t msg[16];
  for (int i = 0; i < 16; i++) msg[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(sp::siphash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(sp::siphash24(key, msg, 1), 0x74f839c593dc67fdull);
  EXPECT_EQ(sp::siphash24(key, msg, 8), 0x93f5f5799a932462ull);
  EXPECT_EQ(sp::siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
}

// ---------------------------------------------------------------- MSS table

// The cookie's fixed-size SipHash is SipHash-2-4 of the same 20 bytes.
TEST(SipHash, TwentyByteFormMatchesTheGenericOne) {
  uint64_t x = 99;
  for (int i = 0; i < 1000; i++) {
    uint32_t key[4], w[5];
    auto next = [&x] {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<uint32_t>(x >> 29);
    };
    for (auto& k : key) k = next();
    for (auto& v : w) v = next();
    uint8_t msg[20];
    for (int j = 0; j < 5; j++)
      for (int b = 0; b < 4; b++) msg[4 * j + b] = static_cast<uint8_t>(w[j] >> (8 * b));
    ASSERT_EQ(sp::siphash24_20(key, w[0], w[1], w[2], w[3], w[4]), sp::siphash24(key, msg, 20));
  }
}

TEST(Cookie, MssIndexIsLargestTableEntryNotAboveClient) {
  struct {
    uint16_t mss;
    uint16_t want;
  } cases[] = {{0, 536},     {1, 536},     {535, 536},   {536, 536},   {537, 536},
               {1299, 536},  {1300, 1300}, {1439, 1300}, {1440, 1440}, {1459, 1440},
               {1460, 1460}, {1461, 1460}, {9000, 1460}, {65535, 1460}};
  for (auto c : cases) EXPECT_EQ(sp::mss_value(sp::mss_index(c.mss)), c.want) << c.mss;
  for (uint8_t i = 0; i < 4; i++) EXPECT_EQ(sp::mss_index(sp::k_mss_table[i]), i);
}

// ---------------------------------------------------------------- cookies

TEST(Cookie, RoundTripEveryTableEntryAndEdgeMss) {
  const auto s = sp::make_secrets(42);
  const uint16_t mss_list[] = {0, 535, 536, 1299, 1300, 1440, 1460, 9000, 65535};
  const uint32_t now = 1'000'000;
  uint32_t isn = 0x12345678;
  for (uint16_t mss : mss_list) {
    uint32_t c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, mss, now);
    uint16_t got = 0;
    ASSERT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, now, &got)) << mss;
    EXPECT_EQ(got, sp::mss_value(sp::mss_index(mss))) << mss;
    if (mss >= 536) {
      EXPECT_LE(got, mss);  // never promise the server more than the client takes
    }
    isn += 0x01000193;
  }
  for (uint16_t mss : sp::k_mss_table) {
    uint32_t c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, mss, now);
    uint16_t got = 0;
    ASSERT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, now, &got));
    EXPECT_EQ(got, mss);
  }
}

TEST(Cookie, RandomTuplesValidate) {
  const auto s = sp::make_secrets(7);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20000; i++) {
    uint32_t sa = static_cast<uint32_t>(rng()), da = static_cast<uint32_t>(rng());
    uint16_t spt = static_cast<uint16_t>(rng()), dpt = static_cast<uint16_t>(rng());
    uint32_t isn = static_cast<uint32_t>(rng());
    uint16_t mss = static_cast<uint16_t>(rng());
    uint32_t now = static_cast<uint32_t>(rng());
    uint32_t c = sp::make_cookie(s, sa, da, spt, dpt, isn, mss, now);
    uint16_t got = 0;
    // Checked in the same second and 64 s later (the next count period).
    ASSERT_TRUE(sp::check_cookie(s, sa, da, spt, dpt, isn, c, now, &got));
    EXPECT_EQ(got, sp::mss_value(sp::mss_index(mss)));
    if (now <= UINT32_MAX - 64) {
      ASSERT_TRUE(sp::check_cookie(s, sa, da, spt, dpt, isn, c, now + 64, &got));
    }
  }
}

TEST(Cookie, ExpiresAfterMaxAge) {
  const auto s = sp::make_secrets(9);    // period 64 s
  const uint32_t made = 64 * 1000 + 10;  // count 1000
  const uint32_t isn = 0xdeadbeef;
  uint32_t c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 1460, made);
  auto ok_at = [&](uint32_t t) {
    uint16_t m = 0;
    return sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, t, &m);
  };
  EXPECT_TRUE(ok_at(made));
  EXPECT_TRUE(ok_at(64 * 1000 + 63));  // same count
  EXPECT_TRUE(ok_at(64 * 1001));       // previous count: still valid (age 1)
  EXPECT_TRUE(ok_at(64 * 1001 + 63));
  EXPECT_FALSE(ok_at(64 * 1002));  // age 2: expired
  EXPECT_FALSE(ok_at(64 * 1003));  // age 3, opposite parity
  EXPECT_FALSE(ok_at(64 * 1100));
  EXPECT_FALSE(ok_at(64 * 999));  // from the future: clock went back a period
}

TEST(Cookie, CountBoundaryAndPeriod) {
  auto s = sp::make_secrets(10, 8);  // short period: 8 s
  const uint32_t isn = 77;
  uint32_t c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 536, 15);  // count 1
  uint16_t m = 0;
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, 16, &m));
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, 23, &m));
  EXPECT_FALSE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, 24, &m));
  // count 0 and now_s near 2^32: the previous-count arithmetic is mod 2^32 too.
  s.period_s = 1;
  c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 536, UINT32_MAX);
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, UINT32_MAX, &m));
  c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 536, 0);
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, 1, &m));
  // period 0 is treated as 1 rather than dividing by zero
  s.period_s = 0;
  c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 536, 100);
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, 101, &m));
  EXPECT_FALSE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, 102, &m));
}

TEST(Cookie, KeyRotation) {
  auto s = sp::make_secrets(11);
  const uint32_t now = 5000, isn = 0x01020304;
  uint16_t m = 0;
  uint32_t c0 = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 1300, now);
  uint8_t fresh1[16], fresh2[16], fresh3[16];
  for (int i = 0; i < 16; i++) {
    fresh1[i] = static_cast<uint8_t>(0xa0 + i);
    fresh2[i] = static_cast<uint8_t>(0x30 + 3 * i);
    fresh3[i] = static_cast<uint8_t>(0x07 * i + 1);
  }
  sp::rotate(s, fresh1);
  EXPECT_EQ(s.generation, 1u);
  // Made before the rotation: validates with the previous key.
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c0, now, &m));
  EXPECT_EQ(m, 1300);
  // Made after: the new key.
  uint32_t c1 = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 1300, now);
  EXPECT_NE(c1, c0);
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c1, now, &m));
  sp::rotate(s, fresh2);
  // Two rotations later c0's key is gone; c1's is now the previous one.
  EXPECT_FALSE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c0, now, &m));
  EXPECT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c1, now, &m));
  // (A fresh key each time: reusing fresh1 here would revive c1, since its
  // generation bit would name fresh1 again.)
  sp::rotate(s, fresh3);
  EXPECT_FALSE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c1, now, &m));
  // Unrelated secrets never validate each other's cookies.
  const auto other = sp::make_secrets(12);
  uint32_t c2 = sp::make_cookie(other, k_saddr, k_daddr, k_sport, k_dport, isn, 1300, now);
  EXPECT_FALSE(
      sp::check_cookie(sp::make_secrets(13), k_saddr, k_daddr, k_sport, k_dport, isn, c2, now, &m));
}

TEST(Cookie, SecretsFromBytesLayout) {
  uint8_t b[32];
  for (int i = 0; i < 32; i++) b[i] = static_cast<uint8_t>(i);
  auto s = sp::secrets_from_bytes(b);
  EXPECT_EQ(s.key[0][0], 0x03020100u);
  EXPECT_EQ(s.key[0][3], 0x0f0e0d0cu);
  EXPECT_EQ(s.key[1][0], 0x13121110u);
  EXPECT_EQ(s.period_s, 64u);
  sp::rotate(s, b + 16);
  EXPECT_EQ(s.key[1][0], 0x03020100u);  // old current is now previous
  EXPECT_EQ(s.key[0][0], 0x13121110u);
}

// The batch form gives each SYN the cookie make_cookie gives it, for odd
// and even batch sizes.
TEST(Cookie, BatchEqualsOneByOne) {
  const auto s = sp::make_secrets(3);
  std::mt19937 rng(9);
  for (size_t n = 1; n <= 9; n++) {
    std::vector<sp::cookie_input> in(n);
    for (auto& c : in)
      c = {static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
           static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()),
           static_cast<uint32_t>(rng()), static_cast<uint16_t>(rng() % 2000)};
    std::vector<uint32_t> out(n);
    sp::make_cookies(s, in.data(), out.data(), n, 777);
    for (size_t i = 0; i < n; i++)
      EXPECT_EQ(out[i], sp::make_cookie(s, in[i].saddr, in[i].daddr, in[i].sport, in[i].dport,
                                        in[i].client_isn, in[i].client_mss, 777))
          << n << "/" << i;
  }
}

// The pair check (an ACK's seq - 1 and seq) agrees with two single checks,
// for the right candidate, the other one, both MSS ends, and forgeries.
TEST(Cookie, PairCheckAgreesWithSingleChecks) {
  const auto s = sp::make_secrets(7);
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; i++) {
    const uint32_t now = 1000 + static_cast<uint32_t>(rng() % 100000);
    const uint32_t isn = static_cast<uint32_t>(rng());
    const uint16_t mss = (i & 1) ? 1460 : 500;
    uint32_t cookie = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, mss, now);
    if (i % 3 == 2) cookie ^= 1u << (4 + rng() % 28);                 // forged
    const uint32_t later = now + static_cast<uint32_t>(rng() % 200);  // sometimes expired
    for (uint32_t seq : {isn + 1, isn}) {  // the ACK, or a zero-window probe
      uint16_t m1 = 0, m2 = 0, mp = 0;
      bool first =
          sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, seq - 1, cookie, later, &m1);
      bool second =
          sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, seq, cookie, later, &m2);
      int which = sp::check_cookie_pair(s, k_saddr, k_daddr, k_sport, k_dport, seq - 1, seq, cookie,
                                        later, &mp);
      ASSERT_EQ(which, first ? 1 : second ? 2 : 0) << i;
      if (which != 0) {
        ASSERT_EQ(mp, first ? m1 : m2);
      }
    }
  }
}

TEST(Cookie, ValidAndForgedAck) {
  const auto s = sp::make_secrets(99);
  const uint32_t now = 123456, client_isn = 0xabcdef01;
  uint32_t cookie = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, client_isn, 1460, now);
  // The client's ACK: seq = isn + 1, ack = cookie + 1.
  uint32_t ack_seq = client_isn + 1, ack_ack = cookie + 1;
  uint16_t m = 0;
  EXPECT_TRUE(
      sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, ack_seq - 1, ack_ack - 1, now, &m));
  EXPECT_EQ(m, 1460);
  // Every other setting of the four attacker-chosen low bits fails.
  for (uint32_t low = 0; low < 16; low++) {
    uint32_t c = (cookie & ~0xfu) | low;
    if (c == cookie) continue;
    EXPECT_FALSE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, client_isn, c, now, &m))
        << low;
  }
  // Blind guesses: 1,000,000 random ack values for one tuple. Each guess
  // picks the 4 low bits (MSS index, count parity, key bit) for free and
  // must hit the 28-bit MAC: p = 2^-28 per guess, expected 0.0037 hits.
  // P(two or more) is about 7e-6, so allow at most one.
  std::mt19937 rng(2024);
  int accepted = 0;
  const int n = 1'000'000;
  for (int i = 0; i < n; i++) {
    uint32_t guess = static_cast<uint32_t>(rng()) - 1;  // ack - 1
    if (sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, client_isn, guess, now, &m))
      accepted++;
  }
  EXPECT_LE(accepted, 1);
}

TEST(Cookie, AnyBitFlipFails) {
  const auto s = sp::make_secrets(5);
  const uint32_t now = 99999, isn = 0x55aa33cc;
  const uint32_t c = sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, 1440, now);
  uint16_t m = 0;
  ASSERT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c, now, &m));
  int failures = 0, trials = 0;
  for (int b = 0; b < 32; b++) {
    const uint32_t f = 1u << b;
    failures += !sp::check_cookie(s, k_saddr ^ f, k_daddr, k_sport, k_dport, isn, c, now, &m);
    failures += !sp::check_cookie(s, k_saddr, k_daddr ^ f, k_sport, k_dport, isn, c, now, &m);
    failures += !sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn ^ f, c, now, &m);
    failures += !sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, isn, c ^ f, now, &m);
    trials += 4;
    if (b < 16) {
      const uint16_t f16 = static_cast<uint16_t>(f);
      failures += !sp::check_cookie(s, k_saddr, k_daddr, k_sport ^ f16, k_dport, isn, c, now, &m);
      failures += !sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport ^ f16, isn, c, now, &m);
      trials += 2;
    }
  }
  EXPECT_EQ(failures, trials);
  // Swapping the direction of the tuple is a different tuple too.
  EXPECT_FALSE(sp::check_cookie(s, k_daddr, k_saddr, k_dport, k_sport, isn, c, now, &m));
}

// ---------------------------------------------------------------- timestamp cookie

TEST(TsCookie, EncodeDecodeAllCombinations) {
  const uint32_t clocks[] = {64, 1000, 0x12345678, 0x7fffffff, 0xffffffc0, 0xffffffff, 100000};
  for (uint32_t now : clocks) {
    for (int ws = 0; ws <= 15; ws++) {
      for (int sack = 0; sack < 2; sack++) {
        for (int ecn = 0; ecn < 2; ecn++) {
          const uint8_t in_ws = ws == 15 ? sp::k_no_wscale : static_cast<uint8_t>(ws);
          const uint32_t ts = sp::ts_encode(now, in_ws, sack, ecn);
          // Not ahead of the clock, at most 64 ticks behind, never 0.
          const int32_t behind = static_cast<int32_t>(now - ts);
          EXPECT_GE(behind, 0) << now << " " << ws;
          EXPECT_LE(behind, 63) << now << " " << ws;
          EXPECT_NE(ts, 0u);
          uint8_t w = 0;
          bool sk = false, ec = false;
          ASSERT_TRUE(sp::ts_decode(ts, &w, &sk, &ec));
          EXPECT_EQ(w, in_ws);
          EXPECT_EQ(sk, sack == 1);
          EXPECT_EQ(ec, ecn == 1);
        }
      }
    }
  }
}

TEST(TsCookie, EdgeCases) {
  uint8_t w = 0;
  bool sk = true, ec = true;
  // No echo: nothing to decode.
  EXPECT_FALSE(sp::ts_decode(0, &w, &sk, &ec));
  EXPECT_EQ(w, sp::k_no_wscale);
  EXPECT_FALSE(sk);
  EXPECT_FALSE(ec);
  // A clock at 0 with all-zero options would give 0; it steps back instead.
  uint32_t ts = sp::ts_encode(0, 0, false, false);
  EXPECT_NE(ts, 0u);
  EXPECT_EQ(ts & 0x3f, 0u);
  // 0xf and any value above 14 mean "no window scale".
  EXPECT_EQ(sp::ts_encode(1000, 0xf, false, false), sp::ts_encode(1000, 0xff, false, false));
  EXPECT_EQ(sp::ts_encode(1000, 200, false, false) & 0xf, 0xfu);
  // Monotonic over a run of clock values: the encoded value tracks the clock.
  uint32_t prev = sp::ts_encode(64, 7, true, false);
  for (uint32_t now = 65; now < 5000; now++) {
    uint32_t t = sp::ts_encode(now, 7, true, false);
    EXPECT_GE(static_cast<int32_t>(t - prev), 0);
    prev = t;
  }
}

// ---------------------------------------------------------------- TCP options

TEST(TcpOptions, ParseLinuxSyn) {
  // mss 1460,sackOK,TS val 0x11223344 ecr 0,nop,wscale 7
  const std::vector<uint8_t> b = {2,    4,    0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22,
                                  0x33, 0x44, 0,    0,    0, 0, 1, 3,  3,    7};
  sp::tcp_opts o;
  ASSERT_TRUE(parse_exact(b, b.size(), &o));
  EXPECT_EQ(o.mss, 1460);
  EXPECT_TRUE(o.sack_perm);
  EXPECT_TRUE(o.has_ts);
  EXPECT_EQ(o.tsval, 0x11223344u);
  EXPECT_EQ(o.tsecr, 0u);
  EXPECT_EQ(o.wscale, 7);
}

TEST(TcpOptions, ParseOtherStacks) {
  // Windows: mss 1460,nop,wscale 8,nop,nop,sackOK
  const std::vector<uint8_t> win = {2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2};
  sp::tcp_opts o;
  ASSERT_TRUE(parse_exact(win, win.size(), &o));
  EXPECT_EQ(o.mss, 1460);
  EXPECT_EQ(o.wscale, 8);
  EXPECT_TRUE(o.sack_perm);
  EXPECT_FALSE(o.has_ts);
  // macOS: mss 1460,nop,wscale 6,nop,nop,TS,sackOK,eol,eol
  std::vector<uint8_t> mac =
      cat({{2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1}, ts_opt(0x01020304, 0), {4, 2, 0, 0}});
  ASSERT_TRUE(parse_exact(mac, mac.size(), &o));
  EXPECT_EQ(o.wscale, 6);
  EXPECT_TRUE(o.has_ts);
  EXPECT_EQ(o.tsval, 0x01020304u);
  EXPECT_TRUE(o.sack_perm);
  // A bare SYN: no options at all.
  ASSERT_TRUE(parse_exact({}, 0, &o));
  EXPECT_EQ(o.mss, 0);
  EXPECT_EQ(o.wscale, sp::k_no_wscale);
  EXPECT_FALSE(o.sack_perm);
  EXPECT_FALSE(o.has_ts);
  // An ACK with SACK blocks and an unknown kind: skipped, TS still found.
  std::vector<uint8_t> ack =
      cat({k_nop, k_nop, sack_opt({100, 200}), {0xfe, 4, 0xaa, 0xbb}, k_nop, k_nop, ts_opt(5, 6)});
  ASSERT_TRUE(parse_exact(ack, ack.size(), &o));
  EXPECT_TRUE(o.has_ts);
  EXPECT_EQ(o.tsecr, 6u);
}

TEST(TcpOptions, Malformed) {
  sp::tcp_opts o;
  // EOL ends the list: what follows is padding even if it looks like options.
  ASSERT_TRUE(parse_exact({2, 4, 5, 0xb4, 0, 3, 3, 7}, 8, &o));
  EXPECT_EQ(o.mss, 1460);
  EXPECT_EQ(o.wscale, sp::k_no_wscale);
  // Kind as the last byte, no length byte.
  EXPECT_FALSE(parse_exact({1, 1, 1, 2}, 4, &o));
  EXPECT_FALSE(parse_exact({8}, 1, &o));
  // Length 0 and 1 (would never advance / go backwards).
  EXPECT_FALSE(parse_exact({2, 0, 5, 0xb4}, 4, &o));
  EXPECT_FALSE(parse_exact({0xfe, 1, 0, 0}, 4, &o));
  // Overlong: the option claims more bytes than remain.
  EXPECT_FALSE(parse_exact({2, 4, 5, 0xb4, 8, 10, 1, 2, 3, 4}, 10, &o));
  EXPECT_EQ(o.mss, 1460);  // partial: what came before the fault is kept
  EXPECT_FALSE(o.has_ts);
  EXPECT_FALSE(parse_exact({0xfe, 255, 0, 0}, 4, &o));
  // Truncated: a valid block cut short by len.
  const std::vector<uint8_t> linux_syn = {2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2,
                                          3, 4, 0, 0,    0, 0, 1, 3,  3, 7};
  for (size_t len = 0; len < linux_syn.size(); len++) {
    bool ok = parse_exact(linux_syn, len, &o);
    // Cuts that fall exactly between options are well formed.
    bool boundary = len == 0 || len == 4 || len == 6 || len == 16 || len == 17;
    EXPECT_EQ(ok, boundary) << len;
  }
  // Known kinds with the wrong length.
  EXPECT_FALSE(parse_exact({2, 3, 5, 1}, 4, &o));                     // MSS len 3
  EXPECT_FALSE(parse_exact({3, 4, 7, 0}, 4, &o));                     // WS len 4
  EXPECT_FALSE(parse_exact({4, 3, 0, 1}, 4, &o));                     // SACK_PERM len 3
  EXPECT_FALSE(parse_exact({8, 9, 0, 0, 0, 0, 0, 0, 0, 1}, 10, &o));  // TS len 9
  // Window scale above 14 is read as 14 (RFC 7323).
  ASSERT_TRUE(parse_exact({1, 3, 3, 15}, 4, &o));
  EXPECT_EQ(o.wscale, 14);
}

TEST(TcpOptions, FuzzNeverReadsPastLen) {
  sp::tcp_opts o;
  // Every 1- and 2-byte block.
  for (int a = 0; a < 256; a++) {
    parse_exact({static_cast<uint8_t>(a)}, 1, &o);
    for (int b = 0; b < 256; b++)
      parse_exact({static_cast<uint8_t>(a), static_cast<uint8_t>(b)}, 2, &o);
  }
  // Random blocks up to 60 bytes, biased towards small kinds and lengths.
  std::mt19937 rng(77);
  std::vector<uint8_t> buf(60);
  for (int it = 0; it < 200000; it++) {
    size_t len = rng() % 61;
    for (auto& x : buf) x = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : rng() % 12);
    bool ok = parse_exact(buf, len, &o);
    if (ok && o.wscale != sp::k_no_wscale) {
      EXPECT_LE(o.wscale, 14);
    }
  }
}

TEST(TcpOptions, BuildLinuxLayout) {
  sp::tcp_opts o;
  o.mss = 1460;
  o.sack_perm = true;
  o.has_ts = true;
  o.tsval = 0x11223344;
  o.tsecr = 0x55667788;
  o.wscale = 7;
  uint8_t buf[40];
  ASSERT_EQ(sp::write_synack_options(buf, sizeof(buf), o), 20u);
  const uint8_t want[20] = {2,    4,    5,    0xb4, 4,    2,    8, 10, 0x11, 0x22,
                            0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1, 3,  3,    7};
  EXPECT_EQ(std::memcmp(buf, want, 20), 0);
  // Too small a buffer: nothing written.
  EXPECT_EQ(sp::write_synack_options(buf, 19, o), 0u);
  // SACK_PERM without timestamps is padded with two NOPs.
  o.has_ts = false;
  o.wscale = sp::k_no_wscale;
  ASSERT_EQ(sp::write_synack_options(buf, sizeof(buf), o), 8u);
  const uint8_t want2[8] = {2, 4, 5, 0xb4, 1, 1, 4, 2};
  EXPECT_EQ(std::memcmp(buf, want2, 8), 0);
  // Window scale above 14 is written as 14.
  o = sp::tcp_opts{};
  o.wscale = 20;
  ASSERT_EQ(sp::write_synack_options(buf, sizeof(buf), o), 4u);
  EXPECT_EQ(buf[3], 14);
}

TEST(TcpOptions, BuildParseRoundTrip) {
  const uint16_t msses[] = {0, 536, 1460, 65535};
  const uint8_t wss[] = {sp::k_no_wscale, 0, 7, 14};
  int combos = 0;
  for (uint16_t mss : msses)
    for (uint8_t ws : wss)
      for (int sack = 0; sack < 2; sack++)
        for (int ts = 0; ts < 2; ts++) {
          sp::tcp_opts in;
          in.mss = mss;
          in.wscale = ws;
          in.sack_perm = sack;
          in.has_ts = ts;
          if (ts) {
            in.tsval = 0xfedcba98 + combos;
            in.tsecr = 0x01234567 * combos;
          }
          uint8_t buf[40];
          size_t n = sp::write_synack_options(buf, sizeof(buf), in);
          EXPECT_EQ(n, sp::synack_options_size(in));
          EXPECT_EQ(n % 4, 0u);
          EXPECT_LE(n, 20u);
          std::vector<uint8_t> v(buf, buf + n);
          sp::tcp_opts out;
          ASSERT_TRUE(parse_exact(v, n, &out));
          EXPECT_EQ(out.mss, in.mss);
          EXPECT_EQ(out.wscale, in.wscale);
          EXPECT_EQ(out.sack_perm, in.sack_perm);
          EXPECT_EQ(out.has_ts, in.has_ts);
          EXPECT_EQ(out.tsval, in.tsval);
          EXPECT_EQ(out.tsecr, in.tsecr);
          combos++;
        }
  EXPECT_EQ(combos, 64);
}

// ---------------------------------------------------------------- seq adjust

TEST(SeqAdjust, ReferenceChecksumSanity) {
  auto seg = make_segment(1, 2, {}, 5);
  EXPECT_TRUE(checksum_ok(seg));
  seg[24] ^= 1;  // the last payload byte (odd position: padded with zero)
  EXPECT_FALSE(checksum_ok(seg));
}

TEST(SeqAdjust, ClientToServer) {
  const sp::seq_delta d{0x10000000, 0x00abcdef};
  auto seg = make_segment(
      1000, 5000,
      cat({k_nop, k_nop, ts_opt(777, 888), k_nop, k_nop, sack_opt({6000, 7000, 8000, 9000})}), 33);
  const auto before = seg;
  ASSERT_TRUE(sp::adjust_client_to_server(seg.data(), seg.size(), d));
  EXPECT_TRUE(checksum_ok(seg));
  EXPECT_EQ(be32(&seg[4]), 1000u);                // seq: the client's own
  EXPECT_EQ(be32(&seg[8]), 5000u + 0x10000000);   // ack: into server space
  EXPECT_EQ(be32(&seg[24]), 777u);                // TSval: the client's own
  EXPECT_EQ(be32(&seg[28]), 888u + 0x00abcdef);   // TSecr: into server clock
  EXPECT_EQ(be32(&seg[36]), 6000u + 0x10000000);  // SACK edges: server bytes
  EXPECT_EQ(be32(&seg[40]), 7000u + 0x10000000);
  EXPECT_EQ(be32(&seg[44]), 8000u + 0x10000000);
  EXPECT_EQ(be32(&seg[48]), 9000u + 0x10000000);
  EXPECT_TRUE(std::equal(seg.begin() + 52, seg.end(), before.begin() + 52));  // payload
}

TEST(SeqAdjust, ServerToClient) {
  const sp::seq_delta d{0x10000000, 0x00abcdef};
  auto seg = make_segment(
      0x20000000, 4242,
      cat({k_nop, k_nop, ts_opt(0x01000000, 321), k_nop, k_nop, sack_opt({11, 22})}), 7);
  ASSERT_TRUE(sp::adjust_server_to_client(seg.data(), seg.size(), d));
  EXPECT_TRUE(checksum_ok(seg));
  EXPECT_EQ(be32(&seg[4]), 0x10000000u);                // seq: into cookie space
  EXPECT_EQ(be32(&seg[8]), 4242u);                      // ack: client's numbers
  EXPECT_EQ(be32(&seg[24]), 0x01000000u - 0x00abcdef);  // TSval: into our clock
  EXPECT_EQ(be32(&seg[28]), 321u);                      // TSecr: client's clock
  EXPECT_EQ(be32(&seg[36]), 11u);                       // SACK of client bytes
  EXPECT_EQ(be32(&seg[40]), 22u);
}

TEST(SeqAdjust, Wraparound) {
  const sp::seq_delta d{0x20, 0x40};
  // A server seq just above 0 moves back below 2^32; a client ack just
  // below 2^32 wraps past 0.
  auto s2c = make_segment(0x00000010, 0, ts_opt(0x00000010, 0), 0);
  ASSERT_TRUE(sp::adjust_server_to_client(s2c.data(), s2c.size(), d));
  EXPECT_EQ(be32(&s2c[4]), 0xfffffff0u);
  EXPECT_EQ(be32(&s2c[22]), 0xffffffd0u);
  EXPECT_TRUE(checksum_ok(s2c));
  auto c2s = make_segment(
      1, 0xfffffff0, cat({ts_opt(1, 0xffffffe0), k_nop, k_nop, sack_opt({0xfffffff0, 0x00000008})}),
      1);
  ASSERT_TRUE(sp::adjust_client_to_server(c2s.data(), c2s.size(), d));
  EXPECT_EQ(be32(&c2s[8]), 0x10u);
  EXPECT_EQ(be32(&c2s[26]), 0x20u);
  EXPECT_EQ(be32(&c2s[34]), 0x10u);
  EXPECT_EQ(be32(&c2s[38]), 0x28u);
  EXPECT_TRUE(checksum_ok(c2s));
}

TEST(SeqAdjust, OddOffsetOptions) {
  // One NOP before TS and before SACK puts their 32-bit fields at odd
  // offsets: the incremental checksum must still match a full recompute.
  const sp::seq_delta d{0x01234567, 0x89abcdef};
  auto seg = make_segment(
      0x11111111, 0x22222222,
      cat({k_nop, ts_opt(0xa1b2c3d4, 0x01020304), k_nop, sack_opt({0xdeadbeef, 0xfeedface})}), 3);
  ASSERT_EQ(seg[20 + 1], sp::TCPOPT_TS);  // TSval at offset 23
  ASSERT_TRUE(sp::adjust_client_to_server(seg.data(), seg.size(), d));
  EXPECT_TRUE(checksum_ok(seg));
  EXPECT_EQ(be32(&seg[27]), 0x01020304u + 0x89abcdef);
  EXPECT_EQ(be32(&seg[34]), 0xdeadbeefu + 0x01234567);
  ASSERT_TRUE(sp::adjust_server_to_client(seg.data(), seg.size(), d));
  EXPECT_TRUE(checksum_ok(seg));
  EXPECT_EQ(be32(&seg[23]), 0xa1b2c3d4u - 0x89abcdef);
}

TEST(SeqAdjust, InverseDeltaRestoresBytes) {
  // Random segments and layouts: after each adjustment the incrementally
  // updated checksum equals a full recompute, and the inverse delta gives
  // back the exact original bytes.
  std::mt19937_64 rng(31337);
  auto r32 = [&] { return static_cast<uint32_t>(rng()); };
  for (int it = 0; it < 20000; it++) {
    std::vector<uint8_t> opts;
    int layout = static_cast<int>(rng() % 5);
    if (layout == 1) opts = cat({k_nop, k_nop, ts_opt(r32(), r32())});
    if (layout == 2) opts = cat({k_nop, ts_opt(r32(), r32()), k_nop, sack_opt({r32(), r32()})});
    if (layout == 3)
      opts =
          cat({k_nop, k_nop, sack_opt({r32(), r32(), r32(), r32(), r32(), r32(), r32(), r32()})});
    if (layout == 4)
      opts = cat({ts_opt(r32(), r32()), k_nop, k_nop,
                  sack_opt({r32(), r32(), r32(), r32(), r32(), r32()})});
    auto seg = make_segment(r32(), r32(), opts, rng() % 40, static_cast<uint8_t>(rng()));
    const auto orig = seg;
    const sp::seq_delta d{r32(), r32()};
    const sp::seq_delta inv{0u - d.seq_off, 0u - d.ts_off};
    const bool c2s = rng() & 1;
    auto fwd = c2s ? sp::adjust_client_to_server : sp::adjust_server_to_client;
    ASSERT_TRUE(fwd(seg.data(), seg.size(), d));
    ASSERT_TRUE(checksum_ok(seg)) << it;
    ASSERT_TRUE(fwd(seg.data(), seg.size(), inv));
    ASSERT_TRUE(checksum_ok(seg)) << it;
    ASSERT_EQ(seg, orig) << it;
  }
}

TEST(SeqAdjust, DirectionsCompose) {
  // The server sends 100 bytes at S with TSval T; the client acks them and
  // echoes the TSval; the server must see S + 100 and T.
  const uint32_t cookie = 0xfffffff8, server_isn = 0x00001000;
  const uint32_t our_ts = 0x80000000, server_ts = 0x00000040;
  const sp::seq_delta d = sp::make_seq_delta(cookie, server_isn, our_ts, server_ts);
  const uint32_t S = server_isn + 1, T = server_ts + 500;
  auto data = make_segment(S, 777, cat({k_nop, k_nop, ts_opt(T, 9)}), 100);
  ASSERT_TRUE(sp::adjust_server_to_client(data.data(), data.size(), d));
  const uint32_t client_sees_seq = be32(&data[4]);
  const uint32_t client_sees_ts = be32(&data[24]);
  EXPECT_EQ(client_sees_seq, cookie + 1);   // continues right after our SYN-ACK
  EXPECT_EQ(client_sees_ts, our_ts + 500);  // continues our SYN-ACK's clock
  auto ack =
      make_segment(777, client_sees_seq + 100, cat({k_nop, k_nop, ts_opt(10, client_sees_ts)}), 0);
  ASSERT_TRUE(sp::adjust_client_to_server(ack.data(), ack.size(), d));
  EXPECT_EQ(be32(&ack[8]), S + 100);
  EXPECT_EQ(be32(&ack[28]), T);
  EXPECT_TRUE(checksum_ok(ack));
}

TEST(SeqAdjust, MalformedAndNoop) {
  const sp::seq_delta d{0x100, 0x200};
  // Shorter than a header, doff < 5, doff beyond the buffer: untouched.
  auto seg = make_segment(1, 2, ts_opt(3, 4), 0);
  auto orig = seg;
  EXPECT_FALSE(sp::adjust_client_to_server(seg.data(), 19, d));
  seg[12] = 4 << 4;
  EXPECT_FALSE(sp::adjust_client_to_server(seg.data(), seg.size(), d));
  seg[12] = 15 << 4;
  EXPECT_FALSE(sp::adjust_server_to_client(seg.data(), seg.size(), d));
  seg[12] = orig[12];
  EXPECT_EQ(seg, orig);
  // Zero delta: nothing changes.
  EXPECT_TRUE(sp::adjust_client_to_server(seg.data(), seg.size(), sp::seq_delta{}));
  EXPECT_EQ(seg, orig);
  // Broken option block: fixed header still translated, checksum still
  // right, false reported.
  auto bad = make_segment(1, 2, {sp::TCPOPT_NOP, sp::TCPOPT_TS, 0, 0}, 0);
  EXPECT_FALSE(sp::adjust_client_to_server(bad.data(), bad.size(), d));
  EXPECT_EQ(be32(&bad[8]), 2u + 0x100);
  EXPECT_TRUE(checksum_ok(bad));
  // SACK with a length that is not 2 + 8n, and TS of the wrong length: left alone.
  auto odd = make_segment(1, 2, {sp::TCPOPT_SACK, 6, 0, 0, 0, 9, sp::TCPOPT_TS, 6, 0, 0, 0, 5}, 0);
  EXPECT_TRUE(sp::adjust_client_to_server(odd.data(), odd.size(), d));
  EXPECT_EQ(be32(&odd[22]), 9u);
  EXPECT_EQ(be32(&odd[28]), 5u);
  EXPECT_TRUE(checksum_ok(odd));
}

// ---------------------------------------------------------------- the whole handshake

TEST(Synproxy, HandshakeWalkthrough) {
  const auto s = sp::make_secrets(2718);
  const uint32_t now_s = 1'700'000'000, now_ts = 123456789;
  // 1. Client SYN: isn, mss 1460, sackOK, TS, wscale 7.
  const uint32_t client_isn = 0x9abcdef0;
  const std::vector<uint8_t> syn_opts = {2, 4,  5, 0xb4, 4, 2, 8, 10, 0, 0,
                                         0, 42, 0, 0,    0, 0, 1, 3,  3, 7};
  sp::tcp_opts syn;
  ASSERT_TRUE(parse_exact(syn_opts, syn_opts.size(), &syn));
  // 2. Our SYN-ACK: cookie ISN, options from the synproxy statement, TS cookie.
  const uint32_t cookie =
      sp::make_cookie(s, k_saddr, k_daddr, k_sport, k_dport, client_isn, syn.mss, now_s);
  sp::tcp_opts synack;
  synack.mss = 1460;
  synack.sack_perm = syn.sack_perm;
  synack.wscale = 9;
  synack.has_ts = syn.has_ts;
  synack.tsval = sp::ts_encode(now_ts, syn.wscale, syn.sack_perm, false);
  synack.tsecr = syn.tsval;
  uint8_t buf[40];
  ASSERT_EQ(sp::write_synack_options(buf, sizeof(buf), synack), 20u);
  // 3. Client ACK: seq isn+1, ack cookie+1, TSecr echoes our TSval.
  uint16_t mss = 0;
  ASSERT_TRUE(sp::check_cookie(s, k_saddr, k_daddr, k_sport, k_dport, (client_isn + 1) - 1,
                               (cookie + 1) - 1, now_s + 3, &mss));
  EXPECT_EQ(mss, 1460);
  uint8_t ws = 0;
  bool sack = false, ecn = true;
  ASSERT_TRUE(sp::ts_decode(synack.tsval, &ws, &sack, &ecn));
  EXPECT_EQ(ws, 7);
  EXPECT_TRUE(sack);
  EXPECT_FALSE(ecn);
  // 4. Server SYN-ACK: its own ISN and clock; from now on translate.
  const uint32_t server_isn = 0x00c0ffee, server_ts = 555;
  const sp::seq_delta d = sp::make_seq_delta(cookie, server_isn, synack.tsval, server_ts);
  auto first = make_segment(server_isn + 1, client_isn + 1,
                            cat({k_nop, k_nop, ts_opt(server_ts + 1, 43)}), 10);
  ASSERT_TRUE(sp::adjust_server_to_client(first.data(), first.size(), d));
  EXPECT_EQ(be32(&first[4]), cookie + 1);
  EXPECT_EQ(be32(&first[24]), synack.tsval + 1);
  EXPECT_TRUE(checksum_ok(first));
}

}  // namespace
