// IPv6 through the worker pipeline without ports: forwarding, routing, neighbour discovery,
// ICMPv6 echo and errors, and which hooks see IPv6 (docs/design/ipv6.md).
#include <rte_ether.h>

#include <cstring>

#include "common/test_env.h"
#include "dataplane/ipv6.h"
#include "dataplane/ipv6_env.h"
#include "packet/cksum.h"
#include "packet/parse.h"

namespace ctgate::test {
namespace {

const uint8_t* ip6_of(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, const uint8_t*, 14); }
ipv6_addr addr_at(const uint8_t* p) {
  ipv6_addr a;
  std::memcpy(a.b, p, 16);
  return a;
}
uint16_t ip6_payload(rte_mbuf* m) {
  const uint8_t* ip = ip6_of(m);
  return static_cast<uint16_t>(ip[4] << 8 | ip[5]);
}
// The ICMPv6 message of a sent packet (no extension headers), checksum verified.
const uint8_t* icmp6_of(rte_mbuf* m) {
  const uint8_t* ip = ip6_of(m);
  EXPECT_EQ(ip[6], IPPROTO_ICMPV6);
  EXPECT_TRUE(ipv6_l4_cksum_ok(ip, ip + 40, ip6_payload(m), IPPROTO_ICMPV6));
  return ip + 40;
}
bool mac_is(const uint8_t* at, const char* s) {
  uint8_t want[6];
  parse_mac(s, want);
  return std::memcmp(at, want, 6) == 0;
}

// A solicited advertisement from `from` (MAC 02:00:00:00:00:99) to wan's link-local address,
// with its target link-layer address option unless `bare`; `body` holds the message body.
pkt_spec6 advert(const test_gateway& t, const char* from, uint8_t (&body)[24], bool bare = false) {
  pkt_spec6 na;
  na.src_mac.b[0] = 0x02;
  na.src_mac.b[5] = 0x99;
  na.dst_mac = t.gw->ports[1].mac;
  std::memcpy(na.src, a6(from).b, 16);
  std::memcpy(na.dst, t.gw->ports[1].link_local.b, 16);
  na.proto = IPPROTO_ICMPV6;
  na.hop_limit = 255;
  na.icmp_type = icmp6::neighbour_advert;
  na.icmp_id = 0x6000;  // solicited, override
  std::memset(body, 0, sizeof(body));
  std::memcpy(body, a6(from).b, 16);
  body[16] = 2;
  body[17] = 1;
  std::memcpy(body + 18, na.src_mac.b, 6);
  na.payload = body;
  na.payload_len = bare ? 16 : sizeof(body);
  return na;
}

TEST(Ipv6, ForwardsWithHopLimitDecrementAndL2Rewrite) {
  v6_gateway t;
  pkt_spec6 s = udp6("2001:db8:1::2", "2001:db8:2::2");
  s.hop_limit = 17;
  t.send6(0, s);
  ASSERT_EQ(t.sent.size(), 1u);
  auto [port, m] = t.sent[0];
  EXPECT_EQ(port, 1);
  const uint8_t* ip = ip6_of(m);
  EXPECT_EQ(ip[7], 16);
  EXPECT_TRUE(ipv6_l4_cksum_ok(ip, ip + 40, ip6_payload(m), IPPROTO_UDP));
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  EXPECT_TRUE(mac_is(eth->dst_addr.addr_bytes, "02:00:00:00:02:12"));
  EXPECT_EQ(0, memcmp(eth->src_addr.addr_bytes, t.gw->ports[1].mac.b, 6));
  EXPECT_EQ(t.dp(dp_counter::ip6_forwarded), 1u);
  EXPECT_EQ(t.dp(dp_counter::forwarded), 1u);
}

TEST(Ipv6, RoutesThroughAGatewayAndRefusesWhatHasNoRoute) {
  v6_gateway t;
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:99::5"));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);
  EXPECT_TRUE(mac_is(rte_pktmbuf_mtod(t.sent[0].second, uint8_t*), "02:00:00:00:02:12"));
  t.clear_sent();
  // No route: destination unreachable, code 0, back to the sender from our lan address.
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:77::1"));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 0);
  const uint8_t* ic = icmp6_of(t.sent[0].second);
  EXPECT_EQ(ic[0], icmp6::dest_unreach);
  EXPECT_EQ(ic[1], icmp6::no_route);
  EXPECT_EQ(addr_at(ip6_of(t.sent[0].second) + 8), a6("2001:db8:1::1"));
  EXPECT_EQ(addr_at(ip6_of(t.sent[0].second) + 24), a6("2001:db8:1::2"));
  EXPECT_EQ(addr_at(ic + 8 + 24), a6("2001:db8:77::1"));  // the quoted header's destination
  EXPECT_EQ(t.dp(dp_counter::drop_no_route), 1u);
}

TEST(Ipv6, HopLimitAndMtuAreAnsweredNeverFragmented) {
  v6_gateway t;
  pkt_spec6 s = udp6("2001:db8:1::2", "2001:db8:2::2");
  s.hop_limit = 1;
  t.send6(0, s);
  pkt_spec6 big = udp6("2001:db8:1::2", "2001:db8:2::2");
  big.payload_len = 1500 - 40 - 8 + 1;
  t.send6(0, big);
  ASSERT_EQ(t.sent.size(), 2u);
  const uint8_t* te = icmp6_of(t.sent[0].second);
  EXPECT_EQ(te[0], icmp6::time_exceeded);
  EXPECT_EQ(te[1], 0);
  const uint8_t* ptb = icmp6_of(t.sent[1].second);
  EXPECT_EQ(ptb[0], icmp6::pkt_too_big);
  EXPECT_EQ(ptb[4] << 24 | ptb[5] << 16 | ptb[6] << 8 | ptb[7], 1500);
  // The error fits the minimum MTU.
  EXPECT_LE(rte_pktmbuf_pkt_len(t.sent[1].second) - 14, 1280u);
  EXPECT_EQ(t.dp(dp_counter::drop_hop_limit_exceeded), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_ip6_too_big), 1u);
  EXPECT_EQ(t.dp(dp_counter::frag_creates), 0u);
}

TEST(Ipv6, AnswersSolicitationsAndLearnsTheSender) {
  v6_gateway t;
  const ipv6_addr target = a6("2001:db8:1::1");
  mac_addr sender;
  sender.b[0] = 0x02;
  sender.b[5] = 0x77;
  uint8_t body[24];
  const pkt_spec6 ns = solicitation(sender, a6("2001:db8:1::7"), target, body);
  t.send6(0, ns);
  ASSERT_EQ(t.sent.size(), 1u);
  rte_mbuf* na = t.sent[0].second;
  EXPECT_EQ(t.sent[0].first, 0);
  EXPECT_TRUE(mac_is(rte_pktmbuf_mtod(na, uint8_t*), "02:00:00:00:00:77"));
  EXPECT_EQ(ip6_of(na)[7], 255);
  EXPECT_EQ(addr_at(ip6_of(na) + 8), target);
  EXPECT_EQ(addr_at(ip6_of(na) + 24), a6("2001:db8:1::7"));
  const uint8_t* ic = icmp6_of(na);
  EXPECT_EQ(ic[0], icmp6::neighbour_advert);
  EXPECT_EQ(ic[4], 0xe0);  // router, solicited, override
  EXPECT_EQ(addr_at(ic + 8), target);
  EXPECT_EQ(ic[24], 2);  // target link-layer address: the port's
  EXPECT_EQ(0, std::memcmp(ic + 26, t.gw->ports[0].mac.b, 6));
  t.clear_sent();
  // The sender was learned: a packet to it leaves at once.
  t.send6(1, udp6("2001:db8:2::2", "2001:db8:1::7"));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_TRUE(mac_is(rte_pktmbuf_mtod(t.sent[0].second, uint8_t*), "02:00:00:00:00:77"));
  // A solicitation for an address that is not ours is ignored.
  t.clear_sent();
  std::memcpy(body, a6("2001:db8:1::55").b, 16);
  t.send6(0, ns);
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.dp(dp_counter::drop_nd_ignored), 1u);
}

TEST(Ipv6, ResolvesNextHopsBySolicitationAndSendsWhatWaited) {
  v6_gateway t;
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::9"));
  ASSERT_EQ(t.sent.size(), 1u);  // the solicitation; the packet waits
  rte_mbuf* ns = t.sent[0].second;
  EXPECT_EQ(t.sent[0].first, 1);
  EXPECT_TRUE(mac_is(rte_pktmbuf_mtod(ns, uint8_t*), "33:33:ff:00:00:09"));
  EXPECT_EQ(addr_at(ip6_of(ns) + 8), t.gw->ports[1].link_local);
  EXPECT_EQ(addr_at(ip6_of(ns) + 24), a6("ff02::1:ff00:9"));
  const uint8_t* ic = icmp6_of(ns);
  EXPECT_EQ(ic[0], icmp6::neighbour_solicit);
  EXPECT_EQ(addr_at(ic + 8), a6("2001:db8:2::9"));
  EXPECT_EQ(t.dp(dp_counter::neigh_queued), 1u);
  t.clear_sent();
  // The advertisement: the held packet leaves to the MAC it gave.
  uint8_t body[24];
  t.send6(1, advert(t, "2001:db8:2::9", body));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);
  EXPECT_TRUE(mac_is(rte_pktmbuf_mtod(t.sent[0].second, uint8_t*), "02:00:00:00:00:99"));
  EXPECT_EQ(t.dp(dp_counter::neigh_queue_sent), 1u);
}

TEST(Ipv6, EchoToTheGatewaysAddressesIsAnswered) {
  v6_gateway t;
  pkt_spec6 e;
  std::memcpy(e.src, a6("2001:db8:1::2").b, 16);
  std::memcpy(e.dst, a6("2001:db8:1::1").b, 16);
  e.proto = IPPROTO_ICMPV6;
  e.icmp_type = icmp6::echo_request;
  e.icmp_id = 77;
  e.icmp_seq = 3;
  e.payload_len = 56;
  t.send6(0, e);
  // To the link-local address, from a link-local sender the gateway learns by its NS.
  std::memcpy(e.dst, t.gw->ports[1].link_local.b, 16);
  std::memcpy(e.src, a6("2001:db8:2::2").b, 16);
  t.send6(1, e);
  ASSERT_EQ(t.sent.size(), 2u);
  const uint8_t* r = icmp6_of(t.sent[0].second);
  EXPECT_EQ(r[0], icmp6::echo_reply);
  EXPECT_EQ(r[4] << 8 | r[5], 77);
  EXPECT_EQ(addr_at(ip6_of(t.sent[0].second) + 8), a6("2001:db8:1::1"));
  EXPECT_EQ(addr_at(ip6_of(t.sent[0].second) + 24), a6("2001:db8:1::2"));
  EXPECT_EQ(t.sent[1].first, 1);
  EXPECT_EQ(addr_at(ip6_of(t.sent[1].second) + 8), t.gw->ports[1].link_local);
  // Another host's link-local address is never forwarded.
  t.clear_sent();
  t.send6(0, udp6("2001:db8:1::2", "fe80::1234"));
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.dp(dp_counter::drop_ip6_link_local), 1u);
}

// Neighbours are per port (Linux: address and device): fe80::1 on lan and on wan are two hosts.
TEST(Ipv6, LinkLocalNextHopsArePerPort) {
  gateway_config c = v6_config();
  add_neighbor6(c, "fe80::1", "02:00:00:00:01:99", "lan");
  add_neighbor6(c, "fe80::1", "02:00:00:00:02:99", "wan");
  add_route6(c, "2001:db8:77::", 48, "fe80::1", "wan");
  v6_gateway t(c);
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:77::1"));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);
  EXPECT_TRUE(mac_is(rte_pktmbuf_mtod(t.sent[0].second, uint8_t*), "02:00:00:00:02:99"));
}

// A stale neighbour is probed by a unicast solicitation; Linux answers it with a solicited
// advertisement without a link-layer option, which confirms the neighbour (no more probes).
TEST(Ipv6, ASolicitedAdvertisementWithoutAnAddressConfirms) {
  v6_gateway t;
  uint8_t body[24];
  pkt_spec6 na = advert(t, "2001:db8:2::9", body);
  // Resolve 2001:db8:2::9 (solicitation, then its answer).
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::9"));
  t.send6(1, na);
  EXPECT_EQ(t.dp(dp_counter::neigh_queue_sent), 1u);
  t.clear_sent();
  const uint64_t ns_before = t.dp(dp_counter::nd_ns_sent);
  t.w->now_ms += t.gw->cfg.arp.base_reachable_time_ms + 1000;  // stale now
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::9"));
  EXPECT_EQ(t.dp(dp_counter::nd_ns_sent), ns_before + 1);  // the unicast probe
  t.send6(1, advert(t, "2001:db8:2::9", body, true));      // no target link-layer address
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::9"));
  EXPECT_EQ(t.dp(dp_counter::nd_ns_sent), ns_before + 1);  // confirmed: not probed again
}

// Without an address6 on any port the gateway routes no IPv6 (Linux's forwarding=0): what is
// not for it is dropped without an answer, while its link-local address still answers.
TEST(Ipv6, WithoutAnAddress6NothingIsRouted) {
  v6_gateway t(default_config());
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::2"));
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.dp(dp_counter::drop_ip6_not_routing), 1u);
  EXPECT_EQ(t.dp(dp_counter::icmp_error_sent), 0u);
  pkt_spec6 e;
  std::memcpy(e.src, a6("fe80::2").b, 16);
  std::memcpy(e.dst, t.gw->ports[0].link_local.b, 16);
  e.proto = IPPROTO_ICMPV6;
  e.icmp_type = icmp6::echo_request;
  t.send6(0, e);
  // The reply waits for fe80::2's address: a solicitation goes out first.
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(icmp6_of(t.sent[0].second)[0], icmp6::neighbour_solicit);
}

// An ip table's chains see IPv4 only, an inet table's both; in an inet chain an `ip` match
// never matches an IPv6 packet, and meta nfproto tells the families apart.
// An ip6 table's chains see IPv6 only (Linux registers them for NFPROTO_IPV6), and its ip6
// header fields read the fixed header: hop limit, next header (the first one), flow label,
// traffic class.
TEST(Ipv6, Ip6TablesSeeIpv6OnlyAndMatchTheirHeader) {
  v6_gateway t;
  result<ruleset_summary> r = load_ruleset_text(*t.gw, R"(
table ip6 six {
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    ip6 hoplimit 9 counter drop
    ip6 nexthdr udp ip6 flowlabel 77 counter drop
    ip6 dscp cs1 ip6 ecn ce counter drop
    ip6 nexthdr 60 counter drop
  }
}
)",
                                                "test.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  auto passes = [&](const pkt_spec6& s) {
    t.clear_sent();
    t.send6(0, s);
    return t.sent.size() == 1;
  };
  pkt_spec6 s = udp6("2001:db8:1::2", "2001:db8:2::2", 53);
  EXPECT_TRUE(passes(s));
  s.hop_limit = 9;
  EXPECT_FALSE(passes(s));
  s.hop_limit = 64;
  s.traffic_class = 0x08 << 2 | 3;  // cs1, ce
  EXPECT_FALSE(passes(s));
  s.traffic_class = 0x08 << 2 | 2;  // cs1, ect0
  EXPECT_TRUE(passes(s));
  s.flow_label = 77;
  EXPECT_FALSE(passes(s));
  s.flow_label = 78;
  EXPECT_TRUE(passes(s));
  // A destination options header first: nexthdr is 60, whatever the upper layer.
  static const uint8_t dst_opts[8] = {IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0};
  s.ext = dst_opts;
  s.ext_len = sizeof dst_opts;
  s.ext_first = IPPROTO_DSTOPTS;
  EXPECT_FALSE(passes(s));
  // IPv4 never meets the ip6 table, whatever its TTL.
  pkt_spec four = udp("10.0.1.2", 1, "10.0.2.2", 53);
  four.ttl = 9;
  t.clear_sent();
  t.send(0, four);
  EXPECT_EQ(t.sent.size(), 1u);
  EXPECT_NE(list_ruleset(*t.gw).find("table ip6 six {"), std::string::npos) << list_ruleset(*t.gw);
  EXPECT_NE(list_ruleset(*t.gw).find("ip6 hoplimit 9 counter packets 1 bytes 60 drop"),
            std::string::npos)
      << list_ruleset(*t.gw);
}

// ip6 saddr|daddr: single addresses, prefixes, ranges, != and <, named interval sets, a
// concatenation with a port, a verdict map, a dynamic set the rules fill and a meter per
// source: each decides the packets it should, and never an IPv4 packet (nft's implicit
// `meta nfproto ipv6`).
TEST(Ipv6, Ip6AddressesMatchInRulesSetsMapsAndMeters) {
  v6_gateway t;
  result<ruleset_summary> r = load_ruleset_text(*t.gw, R"(
table inet f {
  set blk { type ipv6_addr; flags interval;
            elements = { 2001:db8:1::100-2001:db8:1::1ff, 2001:db8:1:0:8000::/65 } }
  set pairs { type ipv6_addr . inet_service; elements = { 2001:db8:1::2 . 60 } }
  map vm { type ipv6_addr : verdict; elements = { 2001:db8:1::3 : drop } }
  set seen { type ipv6_addr; flags dynamic; }
  chain fwd {
    type filter hook forward priority 0; policy accept;
    ip6 saddr 2001:db8:1::2 udp dport 50 drop
    ip6 daddr != 2001:db8:2::100/120 udp dport 51 drop
    ip6 saddr @blk drop
    ip6 saddr . udp dport @pairs drop
    ip6 saddr vmap @vm
    ip6 saddr { 2001:db8:1::4, 2001:db8:1::10-2001:db8:1::1f } drop
    udp dport 70 ip6 saddr < 2001:db8:1::5 drop
    ip6 saddr != 2001:db8:1::2 udp dport 90 drop
    update @seen { ip6 saddr }
    udp dport 80 meter m { ip6 saddr limit rate over 1/minute burst 2 packets } drop
    udp dport 81 meter p { ip6 saddr and ffff:ffff:ffff:ffff:: limit rate over 1/minute burst 2 packets } drop
  }
}
)",
                                                "test.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  auto passes = [&](const char* src, uint16_t dport) {
    t.clear_sent();
    t.send6(0, udp6(src, "2001:db8:2::2", dport));
    return t.sent.size() == 1;
  };
  EXPECT_FALSE(passes("2001:db8:1::2", 50));
  EXPECT_TRUE(passes("2001:db8:1::5", 50));
  EXPECT_FALSE(passes("2001:db8:1::5", 51));  // 2::2 is not in 2::100/120
  EXPECT_FALSE(passes("2001:db8:1::100", 53));
  EXPECT_FALSE(passes("2001:db8:1::1ff", 53));
  EXPECT_TRUE(passes("2001:db8:1::200", 53));
  EXPECT_FALSE(passes("2001:db8:1:0:8000::7", 53));  // the /65
  EXPECT_TRUE(passes("2001:db8:1:0:7fff::7", 53));
  EXPECT_FALSE(passes("2001:db8:1::2", 60));  // the pair
  EXPECT_TRUE(passes("2001:db8:1::2", 61));
  EXPECT_FALSE(passes("2001:db8:1::3", 53));  // the map
  EXPECT_FALSE(passes("2001:db8:1::4", 53));
  EXPECT_FALSE(passes("2001:db8:1::1a", 53));
  EXPECT_TRUE(passes("2001:db8:1::20", 53));
  EXPECT_FALSE(passes("2001:db8:1::2", 70));  // below 1::5
  EXPECT_TRUE(passes("2001:db8:1::6", 70));
  EXPECT_FALSE(passes("2001:db8:1::6", 90));
  EXPECT_TRUE(passes("2001:db8:1::2", 90));
  // An IPv4 packet matches no ip6 address, == or !=.
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 1, "10.0.2.2", 90));
  EXPECT_EQ(t.sent.size(), 1u);
  // The meter: two packets a minute per source, then drops; another source has its own.
  EXPECT_TRUE(passes("2001:db8:1::7", 80));
  EXPECT_TRUE(passes("2001:db8:1::7", 80));
  EXPECT_FALSE(passes("2001:db8:1::7", 80));
  EXPECT_TRUE(passes("2001:db8:1::8", 80));
  // Per /64: the sources of one prefix share the meter's element.
  EXPECT_TRUE(passes("2001:db8:1::7", 81));
  EXPECT_TRUE(passes("2001:db8:1::8", 81));
  EXPECT_FALSE(passes("2001:db8:1::9", 81));
  EXPECT_TRUE(passes("2001:db8:1:1::9", 81));
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_NE(listing.find("elements = { 2001:db8:1::2,\n\t\t\t     2001:db8:1::5,"),
            std::string::npos)
      << listing;
}

TEST(Ipv6, IpChainsSeeIpv4OnlyAndInetChainsBoth) {
  v6_gateway t;
  result<ruleset_summary> r = load_ruleset_text(*t.gw, R"(
table ip four {
  chain fwd { type filter hook forward priority 0; policy drop; }
}
table inet both {
  chain fwd {
    type filter hook forward priority 10; policy accept;
    ip saddr 0.0.0.0/0 udp dport 54 drop
    meta nfproto ipv6 udp dport 53 drop
    udp dport 55 reject with icmp host-unreachable
    udp dport 56 reject
  }
}
)",
                                                "test.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::2", 53));  // inet: dropped
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::2", 54));  // ip saddr: no match, accepted
  t.send(0, udp("10.0.1.2", 1, "10.0.2.2", 54));           // ip table's policy: dropped
  ASSERT_EQ(t.sent.size(), 1u);
  const uint8_t* ip = ip6_of(t.sent[0].second);
  EXPECT_EQ(ip[40 + 3], 54);
  EXPECT_EQ(t.dp(dp_counter::drop_hook), 2u);
  // `reject with icmp` is IPv4's (nft's hidden meta nfproto ipv4): IPv6 passes the rule; a
  // plain reject answers IPv6 with ICMPv6 port unreachable.
  t.clear_sent();
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::2", 55));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);
  t.clear_sent();
  t.send6(0, udp6("2001:db8:1::2", "2001:db8:2::2", 56));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 0);
  const uint8_t* un = icmp6_of(t.sent[0].second);
  EXPECT_EQ(un[0], icmp6::dest_unreach);
  EXPECT_EQ(un[1], icmp6::port_unreach);
  EXPECT_NE(list_ruleset(*t.gw).find("udp dport 55 reject with icmp host-unreachable"),
            std::string::npos)
      << list_ruleset(*t.gw);
}

// reject with icmpv6 CODE answers IPv6 with that code and leaves IPv4 to the next rule (nft's
// hidden meta nfproto ipv6); reject with tcp reset answers an IPv6 segment with a RST (an ACK's
// acknowledgment as its sequence) or a RST/ACK (acknowledging a SYN), from the segment's
// destination, checksum complete, as nf_send_reset6 builds it; never about a RST.
TEST(Ipv6, RejectWithIcmpv6CodesAndTcpReset) {
  v6_gateway t;
  result<ruleset_summary> r = load_ruleset_text(*t.gw, R"(
table inet f {
  chain fwd {
    type filter hook forward priority 0; policy accept;
    udp dport 60 reject with icmpv6 admin-prohibited
    udp dport 61 reject with icmpv6 no-route
    tcp dport 62 reject with tcp reset
  }
}
)",
                                                "test.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  auto answer = [&](const pkt_spec6& s) -> const uint8_t* {
    t.clear_sent();
    t.send6(0, s);
    if (t.sent.size() != 1 || t.sent[0].first != 0) return nullptr;
    return ip6_of(t.sent[0].second);
  };
  const uint8_t* ip = answer(udp6("2001:db8:1::2", "2001:db8:2::2", 60));
  ASSERT_NE(ip, nullptr);
  const uint8_t* un = icmp6_of(t.sent[0].second);
  EXPECT_EQ(un[0], icmp6::dest_unreach);
  EXPECT_EQ(un[1], icmp6::adm_prohibited);
  ip = answer(udp6("2001:db8:1::2", "2001:db8:2::2", 61));
  ASSERT_NE(ip, nullptr);
  EXPECT_EQ(icmp6_of(t.sent[0].second)[1], icmp6::no_route);
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 1, "10.0.2.2", 60));  // IPv4: not the icmpv6 rule's
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);

  pkt_spec6 syn = udp6("2001:db8:1::2", "2001:db8:2::2", 62);
  syn.proto = IPPROTO_TCP;
  syn.sport = 40000;
  syn.tcp_flags = TCPF_SYN;
  syn.seq = 1000;
  syn.payload_len = 0;
  ip = answer(syn);
  ASSERT_NE(ip, nullptr);
  EXPECT_EQ(ip[6], IPPROTO_TCP);
  EXPECT_EQ(addr_at(ip + 8), a6("2001:db8:2::2"));
  EXPECT_EQ(addr_at(ip + 24), a6("2001:db8:1::2"));
  const uint8_t* th = ip + 40;
  EXPECT_TRUE(ipv6_l4_cksum_ok(ip, th, ip6_payload(t.sent[0].second), IPPROTO_TCP));
  EXPECT_EQ(th[0] << 8 | th[1], 62);
  EXPECT_EQ(th[2] << 8 | th[3], 40000);
  EXPECT_EQ(th[13], TCPF_RST | TCPF_ACK);
  EXPECT_EQ(static_cast<uint32_t>(th[8] << 24 | th[9] << 16 | th[10] << 8 | th[11]), 1001u);
  pkt_spec6 ack = syn;
  ack.tcp_flags = TCPF_ACK;
  ack.ack = 5000;
  ip = answer(ack);
  ASSERT_NE(ip, nullptr);
  th = ip + 40;
  EXPECT_EQ(th[13], TCPF_RST);
  EXPECT_EQ(static_cast<uint32_t>(th[4] << 24 | th[5] << 16 | th[6] << 8 | th[7]), 5000u);
  pkt_spec6 rst = syn;
  rst.tcp_flags = TCPF_RST;
  t.clear_sent();
  t.send6(0, rst);
  EXPECT_EQ(t.sent.size(), 0u);
  EXPECT_EQ(t.dp(dp_counter::reject_sent), 4u);
}

}  // namespace
}  // namespace ctgate::test
