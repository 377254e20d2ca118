// Internet checksums (RFC 1071) over headers and short segments.
//
// Why not rte_raw_cksum: it adds 16-bit words one at a time with a 32-bit
// accumulator, which costs ~2 cycles per 4 bytes on the paths that checksum
// every packet (IPv4 header verify in parse, nf_conntrack_checksum, the
// SYN-ACKs synproxy writes). Here 64-bit words are added with their carries
// counted apart, an add and an add-with-carry per 8 bytes (RFC 1071 2(C):
// one's-complement sums may be taken over any word size, the carries out of the
// word added back at the end), 16 bytes per loop turn; the fixed 20-byte IPv4
// header is summed unrolled, with no loop at all.
//
// Sums are taken over the bytes as they lie in memory, in host order. The
// one's-complement sum is byte-order independent (RFC 1071, 2(B)), so a
// result stored back in host order is the right checksum in network order.
#pragma once

#include <rte_ip.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ctgate {

// Folds a 64-bit accumulator to 16 bits (one's-complement), in two halvings of one rotate, one
// add and one shift each. Adding a k-bit-half word to itself rotated by k puts lo + hi, plus the
// carry out of the low half's lo + hi, in the high half: the end-around-carry sum of the two
// halves. It cannot wrap twice: when the low half carries, (lo + hi) - 2^k + 1 <= 2^k - 1. So
// the result is the one the textbook fold (mask, shift, add, twice per halving) gives for every
// input, a nonzero sum of zero value included (0xffff, never 0): tests/packet/test_cksum.cpp
// checks the two against each other. About half the instructions, on every checksummed packet.
inline uint16_t cksum_fold(uint64_t s) {
  const uint32_t x = static_cast<uint32_t>((s + std::rotr(s, 32)) >> 32);
  return static_cast<uint16_t>((x + std::rotr(x, 16)) >> 16);
}

// Incremental update (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')), as Linux's
// csum_replace2/csum_replace4. Works in whichever byte order the caller
// keeps the checksum and the values, as long as it is the same for all.
// `delta` is a sum of (~old + new) 16-bit words; the replace functions
// build it for one field.
inline uint16_t cksum_adjust(uint16_t check, uint64_t delta) {
  return static_cast<uint16_t>(~cksum_fold(static_cast<uint16_t>(~check) + delta));
}
inline uint16_t cksum_replace16(uint16_t check, uint16_t from, uint16_t to) {
  return cksum_adjust(check, static_cast<uint16_t>(~from) + uint64_t{to});
}
inline uint16_t cksum_replace32(uint16_t check, uint32_t from, uint32_t to) {
  return cksum_adjust(check,
                      uint64_t{~from >> 16} + (~from & 0xffffu) + (to >> 16) + (to & 0xffffu));
}

// Adds a 64-bit word to a sum, counting the carry out in `carries` (each worth one: 2^64 = 1
// mod 0xffff). The compiler makes an add and an add-with-carry of it.
inline void cksum_add64(uint64_t& sum, uint64_t& carries, uint64_t w) {
  sum += w;
  carries += sum < w;
}

// Adds `len` bytes at p to the accumulator (an odd last byte is padded with
// zero, as RFC 1071 says). For any `sum` and any len below 2^32 the result is
// below 2^34, so callers may keep adding 32-bit words and results of this
// function to it.
inline uint64_t cksum_add(uint64_t sum, const void* p, size_t len) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t carries = 0;
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    uint64_t w[2];
    std::memcpy(w, b + i, 16);
    cksum_add64(sum, carries, w[0]);
    cksum_add64(sum, carries, w[1]);
  }
  if (i + 8 <= len) {
    uint64_t w;
    std::memcpy(&w, b + i, 8);
    cksum_add64(sum, carries, w);
    i += 8;
  }
  uint64_t tail = 0;  // below 2^32 + 2^17
  if (i + 4 <= len) {
    uint32_t w;
    std::memcpy(&w, b + i, 4);
    tail += w;
    i += 4;
  }
  if (i + 2 <= len) {
    uint16_t h;
    std::memcpy(&h, b + i, 2);
    tail += h;
    i += 2;
  }
  if (i < len) {
    uint8_t last[2] = {b[i], 0};
    uint16_t h;
    std::memcpy(&h, last, 2);
    tail += h;
  }
  // The sum's halves (below 2^33), its carries (at most one per 8 bytes, below 2^29 while len
  // is below 2^32) and the tail: below 2^34.
  return (sum & 0xffffffffu) + (sum >> 32) + carries + tail;
}

// The IPv4 header's checksum field value (computed with the field as zero is
// not required: the field is skipped).
inline uint16_t ipv4_hdr_cksum(const rte_ipv4_hdr* ip) {
  size_t ihl = static_cast<size_t>(ip->version_ihl & 0x0f) * 4;
  uint64_t s = cksum_add(0, ip, 10);  // up to the checksum field
  s = cksum_add(s, reinterpret_cast<const uint8_t*>(ip) + 12, ihl - 12);
  return static_cast<uint16_t>(~cksum_fold(s));
}

// Decrements the TTL and patches the header checksum: the TTL is the high
// byte of its 16-bit word, so the sum grows by 0x0100 (Linux's
// ip_decrease_ttl; cheaper than cksum_replace16 on every forwarded packet).
inline void ipv4_decrease_ttl(rte_ipv4_hdr* ip) {
  ip->time_to_live--;
  uint32_t sum = static_cast<uint32_t>(ip->hdr_checksum) + rte_cpu_to_be_16(0x0100);
  ip->hdr_checksum = static_cast<uint16_t>(sum + (sum >> 16));
}

// True if the IPv4 header (checksum field included) sums to 0xffff.
inline bool ipv4_hdr_cksum_ok(const void* ip, size_t ihl) {
  // Almost every header has no options: a constant length unrolls the sum.
  if (ihl == sizeof(rte_ipv4_hdr)) [[likely]]
    return cksum_fold(cksum_add(0, ip, sizeof(rte_ipv4_hdr))) == 0xffff;
  return cksum_fold(cksum_add(0, ip, ihl)) == 0xffff;
}

// The IPv4 pseudo header's words (addresses, protocol, L4 length), unfolded.
inline uint64_t ipv4_pseudo_sum(const rte_ipv4_hdr* ip, size_t l4_len, uint8_t proto) {
  return static_cast<uint64_t>(ip->src_addr) + ip->dst_addr +
         rte_cpu_to_be_16(static_cast<uint16_t>(proto)) +
         rte_cpu_to_be_16(static_cast<uint16_t>(l4_len));
}

// The IPv6 pseudo header's (RFC 8200 8.1: the 40-byte header `ip6`'s addresses, the upper-layer
// length and protocol), unfolded.
inline uint64_t ipv6_pseudo_sum(const void* ip6, size_t l4_len, uint8_t proto) {
  return cksum_add(0, static_cast<const uint8_t*>(ip6) + 8, 32) +
         rte_cpu_to_be_32(static_cast<uint32_t>(l4_len)) + uint64_t{rte_cpu_to_be_32(proto)};
}

// Pseudo header (addresses, protocol, L4 length) plus the L4 bytes.
inline uint16_t ipv4_l4_sum(const rte_ipv4_hdr* ip, const void* l4, size_t l4_len, uint8_t proto) {
  return cksum_fold(cksum_add(ipv4_pseudo_sum(ip, l4_len, proto), l4, l4_len));
}

// The TCP/UDP checksum field value for an L4 segment whose checksum field is
// zero. (For UDP a result of 0 must be sent as 0xffff; the caller knows.)
inline uint16_t ipv4_l4_cksum(const rte_ipv4_hdr* ip, const void* l4, size_t l4_len,
                              uint8_t proto) {
  return static_cast<uint16_t>(~ipv4_l4_sum(ip, l4, l4_len, proto));
}

// The IPv6 upper-layer checksum (RFC 8200 8.1) of `l4_len` bytes at l4, whose checksum field
// is zero, under the pseudo header of `ip6` (the 40-byte header: its addresses) and `proto`.
inline uint16_t ipv6_l4_cksum(const void* ip6, const void* l4, size_t l4_len, uint8_t proto) {
  return static_cast<uint16_t>(
      ~cksum_fold(cksum_add(ipv6_pseudo_sum(ip6, l4_len, proto), l4, l4_len)));
}

// Whether an upper-layer segment (checksum field included) sums right under the pseudo header.
inline bool ipv6_l4_cksum_ok(const void* ip6, const void* l4, size_t l4_len, uint8_t proto) {
  return cksum_fold(cksum_add(ipv6_pseudo_sum(ip6, l4_len, proto), l4, l4_len)) == 0xffff;
}

}  // namespace ctgate
