// SipHash (Aumasson and Bernstein): a keyed PRF. Without the 128-bit key an attacker can
// neither predict outputs nor find inputs that collide, which is why it keys whatever an
// attacker's packets choose: SYN cookies (SipHash-2-4) and conntrack's IPv6 address digests
// (SipHash-1-3, the variant hash tables use: Linux's hsiphash, Rust's HashMap).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ctgate {

// The state, parameterised by the rounds per message word (C) and at the end (D).
template <int C, int D>
struct sip_state {
  uint64_t v0, v1, v2, v3;

  static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  // The key as four 32-bit words, word 0 = key bytes 0..3, little endian.
  static sip_state init(const uint32_t key[4]) {
    const uint64_t k0 = key[0] | static_cast<uint64_t>(key[1]) << 32;
    const uint64_t k1 = key[2] | static_cast<uint64_t>(key[3]) << 32;
    // Initialisation constants: "somepseudorandomlygeneratedbytes".
    return {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull, k0 ^ 0x6c7967656e657261ull,
            k1 ^ 0x7465646279746573ull};
  }
  void compress(uint64_t m) {
    v3 ^= m;
    // Unrolled: as a loop the cookie's hash cost 37 more instructions (callgrind).
#pragma GCC unroll 4
    for (int i = 0; i < C; i++) round();
    v0 ^= m;
  }
  uint64_t finish() {
    v2 ^= 0xff;
#pragma GCC unroll 4
    for (int i = 0; i < D; i++) round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

using siphash24_state = sip_state<2, 4>;
using siphash13_state = sip_state<1, 3>;

}  // namespace ctgate
