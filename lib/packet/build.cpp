#include "packet/build.h"

#include <cstring>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "packet/cksum.h"

namespace ctgate {

namespace {

size_t l4_header_len(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP: return sizeof(rte_tcp_hdr);
    case IPPROTO_UDP: return sizeof(rte_udp_hdr);
    case IPPROTO_ICMP: return sizeof(rte_icmp_hdr);
    default: return 0;
  }
}

void write_eth(uint8_t* buf, const mac_addr& dst, const mac_addr& src, uint16_t type) {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(buf);
  std::memcpy(eth->dst_addr.addr_bytes, dst.b, 6);
  std::memcpy(eth->src_addr.addr_bytes, src.b, 6);
  eth->ether_type = rte_cpu_to_be_16(type);
}

// A TCP header with `opts_len` bytes of options after it (checksum left to the caller), for
// either family's spec.
template <typename Spec>
void write_tcp(rte_tcp_hdr* th, const Spec& s, size_t opts_len) {
  th->src_port = rte_cpu_to_be_16(s.sport);
  th->dst_port = rte_cpu_to_be_16(s.dport);
  th->sent_seq = rte_cpu_to_be_32(s.seq);
  th->recv_ack = rte_cpu_to_be_32(s.ack);
  th->data_off = static_cast<uint8_t>(((sizeof(rte_tcp_hdr) + opts_len) / 4) << 4);
  th->tcp_flags = s.tcp_flags;
  th->rx_win = rte_cpu_to_be_16(s.window);
}

}  // namespace

size_t build_frame(const pkt_spec& s, uint8_t* buf, size_t cap) {
  const size_t tcp_opts = s.proto == IPPROTO_TCP && s.tcp_mss != 0 ? 4 : 0;
  size_t l4len = l4_header_len(s.proto) + tcp_opts + s.payload_len;
  size_t ip_total = sizeof(rte_ipv4_hdr) + l4len;
  size_t len = sizeof(rte_ether_hdr) + ip_total;
  size_t frame = len < s.min_frame ? s.min_frame : len;
  if (frame > cap || ip_total > 65535) return 0;
  std::memset(buf, 0, frame);
  write_eth(buf, s.dst_mac, s.src_mac, RTE_ETHER_TYPE_IPV4);

  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(buf + sizeof(rte_ether_hdr));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = s.tos;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(ip_total));
  ip->packet_id = rte_cpu_to_be_16(s.ip_id);
  ip->fragment_offset = rte_cpu_to_be_16(s.frag);
  ip->time_to_live = s.ttl;
  ip->next_proto_id = s.proto;
  ip->src_addr = rte_cpu_to_be_32(s.src);
  ip->dst_addr = rte_cpu_to_be_32(s.dst);
  ip->hdr_checksum = rte_ipv4_cksum(ip);

  uint8_t* l4 = reinterpret_cast<uint8_t*>(ip) + sizeof(rte_ipv4_hdr);
  switch (s.proto) {
    case IPPROTO_TCP: {
      auto* th = reinterpret_cast<rte_tcp_hdr*>(l4);
      write_tcp(th, s, tcp_opts);
      if (tcp_opts != 0) {  // MSS: kind 2, length 4, value
        uint8_t* o = l4 + sizeof(rte_tcp_hdr);
        o[0] = 2;
        o[1] = 4;
        o[2] = static_cast<uint8_t>(s.tcp_mss >> 8);
        o[3] = static_cast<uint8_t>(s.tcp_mss);
      }
      th->cksum = rte_ipv4_udptcp_cksum(ip, th);
      break;
    }
    case IPPROTO_UDP: {
      auto* uh = reinterpret_cast<rte_udp_hdr*>(l4);
      uh->src_port = rte_cpu_to_be_16(s.sport);
      uh->dst_port = rte_cpu_to_be_16(s.dport);
      uh->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(l4len));
      uh->dgram_cksum = rte_ipv4_udptcp_cksum(ip, uh);
      break;
    }
    case IPPROTO_ICMP: {
      auto* ih = reinterpret_cast<rte_icmp_hdr*>(l4);
      ih->icmp_type = s.icmp_type;
      ih->icmp_code = s.icmp_code;
      ih->icmp_ident = rte_cpu_to_be_16(s.icmp_id);
      ih->icmp_seq_nb = rte_cpu_to_be_16(s.icmp_seq);
      ih->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(ih, l4len));
      break;
    }
    default: break;
  }
  return frame;
}

size_t build_frame6(const pkt_spec6& s, uint8_t* buf, size_t cap) {
  const size_t l4h = s.proto == IPPROTO_ICMPV6 ? 8 : l4_header_len(s.proto);
  const size_t l4len = l4h + s.payload_len;
  const size_t payload = s.ext_len + l4len;
  const size_t len = sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr) + payload;
  const size_t frame = len < s.min_frame ? s.min_frame : len;
  if (frame > cap || payload > 65535) return 0;
  std::memset(buf, 0, frame);
  write_eth(buf, s.dst_mac, s.src_mac, RTE_ETHER_TYPE_IPV6);
  uint8_t* ip = buf + sizeof(rte_ether_hdr);
  const uint32_t vtc =
      rte_cpu_to_be_32(6u << 28 | uint32_t{s.traffic_class} << 20 | (s.flow_label & 0xfffff));
  std::memcpy(ip, &vtc, 4);
  const uint16_t plen = rte_cpu_to_be_16(static_cast<uint16_t>(payload));
  std::memcpy(ip + 4, &plen, 2);
  ip[6] = s.ext_len != 0 ? s.ext_first : s.proto;
  ip[7] = s.hop_limit;
  std::memcpy(ip + 8, s.src, 16);
  std::memcpy(ip + 24, s.dst, 16);
  if (s.ext_len != 0) std::memcpy(ip + 40, s.ext, s.ext_len);
  uint8_t* l4 = ip + 40 + s.ext_len;
  if (s.payload != nullptr) std::memcpy(l4 + l4h, s.payload, s.payload_len);
  auto put16 = [](uint8_t* at, uint16_t v) {
    v = rte_cpu_to_be_16(v);
    std::memcpy(at, &v, 2);
  };
  switch (s.proto) {
    case IPPROTO_TCP: {
      auto* th = reinterpret_cast<rte_tcp_hdr*>(l4);
      write_tcp(th, s, 0);
      th->cksum = ipv6_l4_cksum(ip, l4, l4len, IPPROTO_TCP);
      break;
    }
    case IPPROTO_UDP: {
      put16(l4, s.sport);
      put16(l4 + 2, s.dport);
      put16(l4 + 4, static_cast<uint16_t>(l4len));
      uint16_t c = ipv6_l4_cksum(ip, l4, l4len, IPPROTO_UDP);
      if (c == 0) c = 0xffff;
      std::memcpy(l4 + 6, &c, 2);
      break;
    }
    case IPPROTO_ICMPV6: {
      l4[0] = s.icmp_type;
      l4[1] = s.icmp_code;
      put16(l4 + 4, s.icmp_id);
      put16(l4 + 6, s.icmp_seq);
      const uint16_t c = ipv6_l4_cksum(ip, l4, l4len, IPPROTO_ICMPV6);
      std::memcpy(l4 + 2, &c, 2);
      break;
    }
    default: break;
  }
  return frame;
}

size_t build_arp(uint16_t op, const mac_addr& sha, uint32_t spa, const mac_addr& tha, uint32_t tpa,
                 const mac_addr& eth_dst, uint8_t* buf, size_t cap) {
  constexpr size_t frame = 60;
  if (cap < frame) return 0;
  std::memset(buf, 0, frame);
  write_eth(buf, eth_dst, sha, RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(buf + sizeof(rte_ether_hdr));
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(op);
  std::memcpy(arp->arp_data.arp_sha.addr_bytes, sha.b, 6);
  std::memcpy(arp->arp_data.arp_tha.addr_bytes, tha.b, 6);
  arp->arp_data.arp_sip = rte_cpu_to_be_32(spa);
  arp->arp_data.arp_tip = rte_cpu_to_be_32(tpa);
  return frame;
}

}  // namespace ctgate
