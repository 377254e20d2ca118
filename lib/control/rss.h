// Symmetric receive-side scaling: both directions of a flow must reach the
// same worker, because a worker owns its flows' timers and unconfirmed
// entries, and a flow split across two cores bounces its entry's cache line
// between them on every packet.
//
// Toeplitz hashing is symmetric when the key repeats with a 16-bit period
// (0x6d5a 0x6d5a ...): every field of the hashed tuple starts at a multiple
// of 16 bits, so swapping source and destination (addresses, then ports)
// moves each bit under an identical key window. Devices take keys of
// different lengths (rte_eth_dev_info::hash_key_size: 40 bytes for ixgbe and
// mlx5, 52 for i40e and ice); the key is built at the device's length.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct rte_eth_dev_info;

namespace ctgate {

// Length used when a driver reports no hash_key_size: the Microsoft RSS
// specification's 40 bytes, which covers an IPv6 4-tuple (36 bytes) plus the
// 4-byte window.
inline constexpr uint8_t k_default_rss_key_len = 40;

// The 0x6d5a pattern, `len` bytes long.
std::vector<uint8_t> symmetric_rss_key(size_t len);

// The flow types ctgate hashes on (where the device has them): addresses
// only, for every IP packet, so a fragment and the rest of its flow meet on
// one worker.
uint64_t wanted_rss_hf();

// What one port's RSS will be, decided from the device's capabilities.
struct rss_plan {
  bool enabled = false;      // more than one queue and some flow type to hash on
  std::vector<uint8_t> key;  // the symmetric key at the device's length
  uint64_t hf = 0;           // RTE_ETH_RSS_* the device will hash on
  std::string warning;       // non-empty: why flows may not be symmetric
};
rss_plan plan_rss(const rte_eth_dev_info& info, uint16_t queues);

// "ipv4 ipv4-frag ipv4-tcp ..." for the log line.
std::string rss_hf_names(uint64_t hf);
// "6d5a6d5a..." (hex) for the log line.
std::string rss_key_hex(const uint8_t* key, size_t len);

}  // namespace ctgate
