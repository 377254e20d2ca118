// The symmetric RSS key at every length a device may ask for: both
// directions of a flow hash alike (checked with DPDK's software Toeplitz),
// and the plan follows the device's hash_key_size and flow types.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_thash.h>

#include <algorithm>
#include <random>

#include "control/rss.h"

namespace ctgate {
namespace {

// Key lengths PMDs report in hash_key_size: 40 (ixgbe, mlx5, most),
// 52 (i40e, ice), 48 (cnxk), 64 and 128 for some SmartNICs.
constexpr size_t k_lengths[] = {40, 48, 52, 64, 128};

// rte_softrss reads the key as 32-bit words.
std::vector<uint8_t> aligned_key(size_t len) {
  auto k = symmetric_rss_key(len);
  EXPECT_EQ(k.size(), len);
  return k;
}

TEST(Rss, KeyIsThePatternAtTheRequestedLength) {
  for (size_t len : k_lengths) {
    auto k = symmetric_rss_key(len);
    ASSERT_EQ(k.size(), len);
    for (size_t i = 0; i < len; i += 2) {
      EXPECT_EQ(k[i], 0x6d) << len << " @" << i;
      EXPECT_EQ(k[i + 1], 0x5a) << len << " @" << i;
    }
  }
}

TEST(Rss, Ipv4BothDirectionsHashAlikeAtEveryLength) {
  std::mt19937 rng(1);
  for (size_t len : k_lengths) {
    auto key = aligned_key(len);
    for (int i = 0; i < 2000; i++) {
      uint32_t src = rng(), dst = rng();
      uint16_t sport = rng(), dport = rng();
      rte_ipv4_tuple fwd{}, rev{};
      fwd.src_addr = src, fwd.dst_addr = dst, fwd.sport = sport, fwd.dport = dport;
      rev.src_addr = dst, rev.dst_addr = src, rev.sport = dport, rev.dport = sport;
      ASSERT_EQ(rte_softrss(reinterpret_cast<uint32_t*>(&fwd), RTE_THASH_V4_L4_LEN, key.data()),
                rte_softrss(reinterpret_cast<uint32_t*>(&rev), RTE_THASH_V4_L4_LEN, key.data()))
          << "key length " << len;
      // Fragments and other protocols: addresses only.
      ASSERT_EQ(rte_softrss(reinterpret_cast<uint32_t*>(&fwd), RTE_THASH_V4_L3_LEN, key.data()),
                rte_softrss(reinterpret_cast<uint32_t*>(&rev), RTE_THASH_V4_L3_LEN, key.data()));
    }
  }
}

TEST(Rss, Ipv6BothDirectionsHashAlikeAtEveryLength) {
  std::mt19937 rng(2);
  for (size_t len : k_lengths) {
    auto key = aligned_key(len);
    for (int i = 0; i < 2000; i++) {
      rte_ipv6_tuple fwd{}, rev{};
      for (int b = 0; b < 16; b++) fwd.src_addr[b] = rng(), fwd.dst_addr[b] = rng();
      fwd.sport = rng(), fwd.dport = rng();
      std::copy(fwd.src_addr, fwd.src_addr + 16, rev.dst_addr);
      std::copy(fwd.dst_addr, fwd.dst_addr + 16, rev.src_addr);
      rev.sport = fwd.dport, rev.dport = fwd.sport;
      ASSERT_EQ(rte_softrss(reinterpret_cast<uint32_t*>(&fwd), RTE_THASH_V6_L4_LEN, key.data()),
                rte_softrss(reinterpret_cast<uint32_t*>(&rev), RTE_THASH_V6_L4_LEN, key.data()))
          << "key length " << len;
    }
  }
}

// The whole key is used: the longest input a key of `len` bytes can hash
// (len/4 - 1 words) is still symmetric when its two halves swap.
TEST(Rss, LongestInputOfEachLengthIsSymmetric) {
  std::mt19937 rng(3);
  for (size_t len : k_lengths) {
    auto key = aligned_key(len);
    size_t words = (len / 4 - 1) & ~size_t{1};
    std::vector<uint32_t> fwd(words), rev(words);
    for (int i = 0; i < 500; i++) {
      for (auto& w : fwd) w = rng();
      std::copy(fwd.begin() + words / 2, fwd.end(), rev.begin());
      std::copy(fwd.begin(), fwd.begin() + words / 2, rev.begin() + words / 2);
      ASSERT_EQ(rte_softrss(fwd.data(), words, key.data()),
                rte_softrss(rev.data(), words, key.data()))
          << "key length " << len;
    }
  }
}

// The old fixed 40-byte key would be wrong for ice: the plan follows the device.
TEST(Rss, PlanTakesTheDevicesKeyLengthAndFlowTypes) {
  rte_eth_dev_info info{};
  info.flow_type_rss_offloads = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
  info.hash_key_size = 52;
  rss_plan p = plan_rss(info, 2);
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.key.size(), 52u);
  EXPECT_EQ(p.hf, wanted_rss_hf());
  EXPECT_TRUE(p.warning.empty());

  info.hash_key_size = 0;  // driver does not say: the 40-byte default
  EXPECT_EQ(plan_rss(info, 2).key.size(), size_t{k_default_rss_key_len});

  EXPECT_FALSE(plan_rss(info, 1).enabled);  // one queue: nothing to spread

  info.flow_type_rss_offloads = RTE_ETH_RSS_IPV6;  // no IPv4 flow type at all
  p = plan_rss(info, 2);
  EXPECT_FALSE(p.enabled);
  EXPECT_NE(p.warning.find("queue 0"), std::string::npos);

  // Addresses only, so fragments and whole packets of a flow meet on one
  // worker: ports are never asked for where "ipv4" exists.
  info.flow_type_rss_offloads = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  p = plan_rss(info, 4);
  EXPECT_EQ(p.hf, RTE_ETH_RSS_IPV4);
  EXPECT_EQ(rss_hf_names(p.hf), "ipv4");
  EXPECT_TRUE(p.warning.empty());

  // A device with per-packet-type hashing only: ports where it must, and a
  // warning that fragmented datagrams may meet another worker.
  info.flow_type_rss_offloads =
      RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  p = plan_rss(info, 4);
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(rss_hf_names(p.hf), "ipv4-frag ipv4-tcp ipv4-udp");
  EXPECT_NE(p.warning.find("another worker"), std::string::npos);
  // ... and IPv6's per-type hashing beside it.
  info.flow_type_rss_offloads |= RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP;
  p = plan_rss(info, 4);
  EXPECT_EQ(rss_hf_names(p.hf), "ipv4-frag ipv4-tcp ipv4-udp ipv6-frag ipv6-tcp");
}

TEST(Rss, KeyHex) {
  auto k = symmetric_rss_key(4);
  EXPECT_EQ(rss_key_hex(k.data(), k.size()), "6d5a6d5a");
}

}  // namespace
}  // namespace ctgate
