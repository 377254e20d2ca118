// Building frames: ARP and ICMP replies on the data plane, and test and
// benchmark traffic. Checksums are always complete (no offload assumed).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ctgate {

struct mac_addr {
  uint8_t b[6] = {};
};

// Everything host byte order.
struct pkt_spec {
  mac_addr src_mac;
  mac_addr dst_mac;
  uint32_t src = 0;
  uint32_t dst = 0;
  uint8_t proto = 17;  // 6 tcp, 17 udp, 1 icmp, other: raw payload
  uint8_t ttl = 64;
  uint8_t tos = 0;  // DSCP << 2 | ECN
  uint16_t ip_id = 0;
  uint16_t frag = 0;  // flags+offset field, host order
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t tcp_flags = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 65535;
  uint16_t tcp_mss = 0;  // nonzero: an MSS option (the header grows to 24 bytes)
  uint8_t icmp_type = 8;
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;
  uint16_t icmp_seq = 0;
  uint16_t payload_len = 0;  // zero-filled payload bytes after the L4 header
  uint16_t min_frame = 60;   // pad to this size (Ethernet minimum without FCS)
};

// Writes the frame to buf; returns its length, or 0 if cap is too small.
size_t build_frame(const pkt_spec& s, uint8_t* buf, size_t cap);

// ARP over Ethernet. op: 1 request, 2 reply. Returns the frame length (60).
size_t build_arp(uint16_t op, const mac_addr& sha, uint32_t spa, const mac_addr& tha, uint32_t tpa,
                 const mac_addr& eth_dst, uint8_t* buf, size_t cap);

}  // namespace ctgate
