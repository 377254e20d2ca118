#include "control/rss.h"

#include <rte_ethdev.h>

#include <cstdio>

namespace ctgate {

std::vector<uint8_t> symmetric_rss_key(size_t len) {
  std::vector<uint8_t> key(len);
  for (size_t i = 0; i < len; i++) key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
  return key;
}

uint64_t wanted_rss_hf() {
  // Addresses only, for every IPv4 (and IPv6) packet: the fragments of a
  // datagram carry no ports, so hashing ports for whole TCP/UDP packets
  // would send a reassembled datagram to another worker than the rest of
  // its flow (docs/design/fragments.md).
  return RTE_ETH_RSS_IP;
}

rss_plan plan_rss(const rte_eth_dev_info& info, uint16_t queues) {
  rss_plan p;
  if (queues <= 1) return p;
  p.hf = info.flow_type_rss_offloads & wanted_rss_hf();
  if (!(p.hf & RTE_ETH_RSS_IPV4)) {
    // The device has no "any IPv4 packet on addresses" type, only per
    // packet type ones: take those, ports included where that is all
    // there is. Flows stay symmetric; only fragmented datagrams may be
    // handled by another worker than their flow (correct through the
    // shared table, without TCP window tracking for those packets).
    constexpr uint64_t k_per_type = RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER |
                                    RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
    p.hf |= info.flow_type_rss_offloads & k_per_type;
    if (p.hf & (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP))
      p.warning =
          "the device hashes TCP/UDP with ports and fragments without: a reassembled datagram "
          "may be handled by another worker than its flow (counted as tcp_window_not_owner for "
          "TCP)";
  }
  if (!(p.hf & RTE_ETH_RSS_IPV6)) {
    // The same for IPv6: per packet type where the device has no "any IPv6 packet" type.
    constexpr uint64_t k_per_type6 = RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER |
                                     RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP;
    p.hf |= info.flow_type_rss_offloads & k_per_type6;
  }
  constexpr uint64_t k_ipv4 = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 |
                              RTE_ETH_RSS_NONFRAG_IPV4_OTHER | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
                              RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  if ((p.hf & k_ipv4) == 0) {
    p.warning =
        "the device hashes no IPv4 flow type: every packet arrives on queue 0, so one "
        "worker receives all traffic";
    return p;
  }
  p.enabled = true;
  p.key = symmetric_rss_key(info.hash_key_size != 0 ? info.hash_key_size : k_default_rss_key_len);
  return p;
}

std::string rss_hf_names(uint64_t hf) {
  static const struct {
    uint64_t bit;
    const char* name;
  } k_names[] = {
      {RTE_ETH_RSS_IPV4, "ipv4"},
      {RTE_ETH_RSS_FRAG_IPV4, "ipv4-frag"},
      {RTE_ETH_RSS_NONFRAG_IPV4_TCP, "ipv4-tcp"},
      {RTE_ETH_RSS_NONFRAG_IPV4_UDP, "ipv4-udp"},
      {RTE_ETH_RSS_NONFRAG_IPV4_OTHER, "ipv4-other"},
      {RTE_ETH_RSS_IPV6, "ipv6"},
      {RTE_ETH_RSS_FRAG_IPV6, "ipv6-frag"},
      {RTE_ETH_RSS_NONFRAG_IPV6_TCP, "ipv6-tcp"},
      {RTE_ETH_RSS_NONFRAG_IPV6_UDP, "ipv6-udp"},
      {RTE_ETH_RSS_NONFRAG_IPV6_OTHER, "ipv6-other"},
      {RTE_ETH_RSS_IPV6_EX, "ipv6-ex"},
  };
  std::string s;
  for (const auto& n : k_names)
    if (hf & n.bit) s += (s.empty() ? "" : " ") + std::string(n.name);
  return s.empty() ? "none" : s;
}

std::string rss_key_hex(const uint8_t* key, size_t len) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < len; i++) {
    std::snprintf(b, sizeof b, "%02x", key[i]);
    s += b;
  }
  return s;
}

}  // namespace ctgate
