// IPv6 test fixtures shared by the dataplane tests: a dual-stack gateway and packet makers.
#pragma once

#include <cstring>

#include "common/test_env.h"
#include "dataplane/ipv6.h"

namespace ctgate::test {

inline ipv6_addr a6(const char* s) {
  ipv6_addr a;
  EXPECT_TRUE(parse_ipv6(s, &a)) << s;
  return a;
}

// A neighbour solicitation from `src` (MAC `mac`) for `target`, to the target's solicited-node
// group, with the source link-layer address option. Its body lives in `body`, which must
// outlive the spec.
inline pkt_spec6 solicitation(const mac_addr& mac, const ipv6_addr& src, const ipv6_addr& target,
                              uint8_t (&body)[24]) {
  pkt_spec6 ns;
  ns.src_mac = mac;
  multicast_mac(solicited_node(target), ns.dst_mac.b);
  std::memcpy(ns.src, src.b, 16);
  std::memcpy(ns.dst, solicited_node(target).b, 16);
  ns.proto = IPPROTO_ICMPV6;
  ns.hop_limit = 255;
  ns.icmp_type = icmp6::neighbour_solicit;
  std::memset(body, 0, sizeof body);
  std::memcpy(body, target.b, 16);
  body[16] = 1;  // source link-layer address
  body[17] = 1;
  std::memcpy(body + 18, mac.b, 6);
  ns.payload = body;
  ns.payload_len = sizeof body;
  return ns;
}

// A static IPv6 neighbour of the config.
inline void add_neighbor6(gateway_config& c, const char* addr, const char* mac, const char* port) {
  neighbor_config n;
  n.v6 = true;
  n.address6 = a6(addr);
  n.mac = mac;
  n.port = port;
  c.neighbors.push_back(n);
}

// An IPv6 route of the config: `prefix`/`len` via `via` out of `port`.
inline void add_route6(gateway_config& c, const char* prefix, uint8_t len, const char* via,
                       const char* port) {
  route_config r;
  r.v6 = true;
  r.prefix6 = {a6(prefix), len};
  r.via6 = a6(via);
  r.port = port;
  c.routes.push_back(r);
}

// default_config with IPv6: lan 2001:db8:1::1/64 (hosts ::2 ...), wan 2001:db8:2::1/64
// (server ::2, a static neighbour), and 2001:db8:99::/48 via the server.
inline gateway_config v6_config() {
  gateway_config c = default_config();
  c.ports[0].address6 = ipv6_prefix{a6("2001:db8:1::1"), 64};
  c.ports[1].address6 = ipv6_prefix{a6("2001:db8:2::1"), 64};
  add_neighbor6(c, "2001:db8:2::2", "02:00:00:00:02:12", "wan");
  add_neighbor6(c, "2001:db8:1::2", "02:00:00:00:01:12", "lan");
  add_route6(c, "2001:db8:99::", 48, "2001:db8:2::2", "wan");
  return c;
}

inline pkt_spec6 udp6(const char* src, const char* dst, uint16_t dport = 53) {
  pkt_spec6 s;
  std::memcpy(s.src, a6(src).b, 16);
  std::memcpy(s.dst, a6(dst).b, 16);
  s.proto = IPPROTO_UDP;
  s.sport = 4000;
  s.dport = dport;
  s.payload_len = 12;
  return s;
}

// A TCP segment and an ICMPv6 echo (request 128 or reply 129) between two hosts.
inline pkt_spec6 tcp6(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                      uint8_t flags, uint32_t seq, uint32_t ack) {
  pkt_spec6 s = udp6(src, dst, dport);
  s.proto = IPPROTO_TCP;
  s.sport = sport;
  s.tcp_flags = flags;
  s.seq = seq;
  s.ack = ack;
  s.payload_len = 0;
  return s;
}

inline pkt_spec6 echo6(const char* src, const char* dst, uint8_t type, uint16_t id) {
  pkt_spec6 s = udp6(src, dst);
  s.proto = IPPROTO_ICMPV6;
  s.icmp_type = type;
  s.icmp_id = id;
  s.icmp_seq = 1;
  s.payload_len = 8;
  return s;
}

class v6_gateway : public test_gateway {
 public:
  explicit v6_gateway(const gateway_config& c = v6_config()) : test_gateway(c) {}
  rte_mbuf* make6(const pkt_spec6& s) {
    rte_mbuf* m = rte_pktmbuf_alloc(gw->mbuf_pool);
    size_t len = build_frame6(s, rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m));
    m->data_len = m->pkt_len = static_cast<uint32_t>(len);
    return m;
  }
  void send6(uint16_t port, const pkt_spec6& s) { burst(port, {make6(s)}); }
};

}  // namespace ctgate::test
