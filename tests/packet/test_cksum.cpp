// The fast checksums against DPDK's reference implementation, on random
// headers and segments of every length up to 1,500 bytes (odd ones too).
#include <gtest/gtest.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <cstring>
#include <random>
#include <vector>

#include "packet/cksum.h"

namespace ctgate {
namespace {

// The textbook fold cksum_fold replaced: mask, shift and add, twice per halving.
uint16_t reference_fold(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  return static_cast<uint16_t>(s);
}

TEST(Cksum, FoldAgreesWithTheTextbookFold) {
  // The edges of each halving: all ones, all zeros and one past them in either half, plus
  // random sums.
  std::vector<uint64_t> sums = {0,
                                1,
                                0xffff,
                                0x10000,
                                0x1fffe,
                                0xffffffffu,
                                0x100000000u,
                                0x1fffffffeu,
                                0xfffffffffffffffeu,
                                0xffffffffffffffffu,
                                0xffffffff00000000u,
                                0x00000000ffffffffu,
                                0xffff0000ffff0000u,
                                0x0000ffff0000ffffu,
                                0x8000000080000000u};
  for (uint32_t hi : {0u, 1u, 0xfffeu, 0xffffu, 0x10000u, 0xfffffffeu, 0xffffffffu})
    for (uint32_t lo : {0u, 1u, 0xfffeu, 0xffffu, 0x10000u, 0xfffffffeu, 0xffffffffu})
      sums.push_back((uint64_t{hi} << 32) | lo);
  std::mt19937_64 rng(16);
  for (int i = 0; i < 200000; i++) sums.push_back(rng() >> (i % 64));
  for (uint64_t s : sums) ASSERT_EQ(cksum_fold(s), reference_fold(s)) << std::hex << s;
  // Every 32-bit sum below 2^24 and around 2^32, where the 16-bit halving carries.
  for (uint64_t s = 0; s < (1u << 24); s++) ASSERT_EQ(cksum_fold(s), reference_fold(s)) << s;
  for (uint64_t s = 0xff000000u; s < 0x101000000u; s++)
    ASSERT_EQ(cksum_fold(s), reference_fold(s)) << s;
}

TEST(Cksum, MatchesRteRawCksumAtEveryLength) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(1500);
  for (size_t len = 0; len <= buf.size(); len++) {
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    ASSERT_EQ(cksum_fold(cksum_add(0, buf.data(), len)), rte_raw_cksum(buf.data(), len)) << len;
  }
}

// Every start alignment, and an accumulator already holding a large sum: the carries out of
// the 64-bit adds must all come back in.
TEST(Cksum, AnyAlignmentAndCarriedInSum) {
  std::mt19937_64 rng(13);
  std::vector<uint8_t> buf(600);
  for (int round = 0; round < 400; round++) {
    for (auto& b : buf) b = static_cast<uint8_t>(round % 3 == 0 ? 0xff : rng());
    const size_t off = static_cast<size_t>(round % 8);
    const size_t len = static_cast<size_t>(rng() % (buf.size() - 8));
    // A carried-in sum of many 32-bit words (kept below 2^62 so the reference cannot overflow).
    const uint64_t in = (rng() >> 2) | (uint64_t{1} << 61);
    uint64_t reference = in;
    for (size_t i = 0; i + 1 < len; i += 2) {
      uint16_t h;
      std::memcpy(&h, &buf[off + i], 2);
      reference += h;
    }
    if (len % 2 != 0) {
      const uint8_t last[2] = {buf[off + len - 1], 0};
      uint16_t h;
      std::memcpy(&h, last, 2);
      reference += h;
    }
    const uint64_t mine = cksum_add(in, &buf[off], len);
    ASSERT_LT(mine, uint64_t{1} << 34) << "len " << len;
    ASSERT_EQ(cksum_fold(mine), cksum_fold(reference)) << "len " << len << " offset " << off;
  }
}

TEST(Cksum, Ipv4HeaderAndL4AgreeWithDpdk) {
  std::mt19937 rng(11);
  alignas(8) uint8_t pkt[20 + 60 + 200];
  for (int round = 0; round < 2000; round++) {
    for (auto& b : pkt) b = static_cast<uint8_t>(rng());
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(pkt);
    uint8_t ihl = static_cast<uint8_t>(5 + round % 11);
    ip->version_ihl = static_cast<uint8_t>(0x40 | ihl);
    size_t l4_len = 20 + static_cast<size_t>(rng() % 200);
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(ihl * 4 + l4_len));
    ip->next_proto_id = IPPROTO_TCP;
    uint16_t mine = ipv4_hdr_cksum(ip);
    ip->hdr_checksum = 0;
    ASSERT_EQ(mine, rte_ipv4_cksum(ip));
    ip->hdr_checksum = mine;
    EXPECT_TRUE(ipv4_hdr_cksum_ok(ip, ihl * 4u));
    ip->hdr_checksum ^= 1;
    EXPECT_FALSE(ipv4_hdr_cksum_ok(ip, ihl * 4u));

    auto* th = reinterpret_cast<rte_tcp_hdr*>(pkt + ihl * 4);
    th->cksum = 0;
    uint16_t l4 = ipv4_l4_cksum(ip, th, l4_len, IPPROTO_TCP);
    ASSERT_EQ(l4, rte_ipv4_udptcp_cksum(ip, th) == 0xffff ? 0 : rte_ipv4_udptcp_cksum(ip, th))
        << "round " << round;
    th->cksum = l4;
    EXPECT_EQ(ipv4_l4_sum(ip, th, l4_len, IPPROTO_TCP), 0xffff);
  }
}

}  // namespace
}  // namespace ctgate
