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

// An IPv6 packet. Addresses as on the wire; numbers host order.
struct pkt_spec6 {
  mac_addr src_mac;
  mac_addr dst_mac;
  uint8_t src[16] = {};
  uint8_t dst[16] = {};
  uint8_t proto = 17;  // 6 tcp, 17 udp, 58 icmpv6, other: raw payload
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;  // 20 bits
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t tcp_flags = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 65535;
  uint8_t icmp_type = 128;  // echo request
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;   // the ICMPv6 header's second word, high half (echo id, ND flags)
  uint16_t icmp_seq = 0;  // ... and low half
  uint16_t payload_len = 0;
  const uint8_t* payload = nullptr;  // the payload's bytes; zeros when null
  // Extension headers between the IPv6 header and the upper layer, as raw bytes: `ext_first`
  // is the IPv6 header's next header, each extension's own next-header byte is the caller's.
  const uint8_t* ext = nullptr;
  uint16_t ext_len = 0;
  uint8_t ext_first = 0;
  uint16_t min_frame = 60;
};

// Writes the frame; returns its length, or 0 if cap is too small. Checksums are complete.
size_t build_frame6(const pkt_spec6& s, uint8_t* buf, size_t cap);

// ARP over Ethernet. op: 1 request, 2 reply. Returns the frame length (60).
size_t build_arp(uint16_t op, const mac_addr& sha, uint32_t spa, const mac_addr& tha, uint32_t tpa,
                 const mac_addr& eth_dst, uint8_t* buf, size_t cap);

}  // namespace ctgate
