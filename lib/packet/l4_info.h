// The L4 summary the parse stage fills for every packet: what conntrack's
// trackers, the rule evaluator and synproxy read instead of the header.
#pragma once

#include <cstdint>

namespace ctgate {

// TCP flag bits as they sit in the header's flags byte.
enum : uint8_t {
  TCPF_FIN = 0x01,
  TCPF_SYN = 0x02,
  TCPF_RST = 0x04,
  TCPF_PSH = 0x08,
  TCPF_ACK = 0x10,
  TCPF_URG = 0x20,
  TCPF_ECE = 0x40,
  TCPF_CWR = 0x80,
};

// ICMP types and codes ctgate reads or writes (RFC 792; Linux's names
// without the ICMP_ prefix, which <netinet/ip_icmp.h> takes as macros).
namespace icmp {
inline constexpr uint8_t echo_reply = 0;
inline constexpr uint8_t dest_unreach = 3;
inline constexpr uint8_t source_quench = 4;
inline constexpr uint8_t redirect = 5;
inline constexpr uint8_t echo = 8;
inline constexpr uint8_t time_exceeded = 11;
inline constexpr uint8_t parameter_problem = 12;
inline constexpr uint8_t timestamp = 13;
inline constexpr uint8_t timestamp_reply = 14;
inline constexpr uint8_t info_request = 15;
inline constexpr uint8_t info_reply = 16;
inline constexpr uint8_t address = 17;
inline constexpr uint8_t address_reply = 18;
// dest_unreach codes
inline constexpr uint8_t net_unreach = 0;
inline constexpr uint8_t host_unreach = 1;
inline constexpr uint8_t port_unreach = 3;
inline constexpr uint8_t frag_needed = 4;
inline constexpr uint8_t pkt_filtered = 13;  // communication administratively prohibited
}  // namespace icmp

// ICMPv6 types ctgate reads or writes (RFC 4443, RFC 4861).
namespace icmp6 {
inline constexpr uint8_t dest_unreach = 1;
inline constexpr uint8_t pkt_too_big = 2;
inline constexpr uint8_t time_exceeded = 3;
inline constexpr uint8_t param_problem = 4;
inline constexpr uint8_t echo_request = 128;
inline constexpr uint8_t echo_reply = 129;
inline constexpr uint8_t router_solicit = 133;
inline constexpr uint8_t router_advert = 134;
inline constexpr uint8_t neighbour_solicit = 135;
inline constexpr uint8_t neighbour_advert = 136;
inline constexpr uint8_t redirect = 137;
// dest_unreach codes
inline constexpr uint8_t no_route = 0;
inline constexpr uint8_t adm_prohibited = 1;
inline constexpr uint8_t beyond_scope = 2;
inline constexpr uint8_t addr_unreach = 3;
inline constexpr uint8_t port_unreach = 4;
}  // namespace icmp6

struct l4_info {
  uint8_t proto = 0;
  uint8_t tcp_flags = 0;  // TCPF_* bits
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint16_t payload_len = 0;  // L4 payload bytes
};

}  // namespace ctgate
