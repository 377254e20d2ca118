// NAT through the whole pipeline (lib/conntrack/ct_nat.cpp, lib/ruleset/nft_nat.cpp): nat
// chains bind a new connection once, every packet after is rewritten from the entry, replies
// find their connection by the translated tuple, and conntrack -L shows both tuples as
// conntrack-tools does. The lan port is 10.0.1.1/24, the wan port 10.0.2.1/24 (test_env.h).
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>
#include <set>

#include "common/test_env.h"
#include "conntrack/ct_format.h"
#include "conntrack/ct_nat.h"
#include "dataplane/stages.h"
#include "packet/cksum.h"
#include "synproxy/synproxy.h"

namespace ctgate::test {
namespace {

void load(test_gateway& t, const std::string& text) {
  result<ruleset_summary> r = load_ruleset_text(*t.gw, text, "nat.nft");
  ASSERT_TRUE(r) << r.error().to_string();
}

// What left the gateway: port, addresses and ports (host order), and whether every checksum
// (IPv4 header, TCP/UDP with its pseudo-header, ICMP) is right.
struct seen {
  uint16_t port = 0;
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;  // ICMP: id in sport
  uint8_t proto = 0;
  bool checksums_ok = false;
};

seen look(uint16_t port, rte_mbuf* m) {
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  const auto* l4 = reinterpret_cast<const uint8_t*>(ip) + (ip->version_ihl & 0xf) * 4;
  const size_t l4_len = rte_be_to_cpu_16(ip->total_length) - (ip->version_ihl & 0xf) * 4u;
  seen s;
  s.port = port;
  s.src = rte_be_to_cpu_32(ip->src_addr);
  s.dst = rte_be_to_cpu_32(ip->dst_addr);
  s.proto = ip->next_proto_id;
  bool l4_ok = true;
  if (s.proto == IPPROTO_TCP || s.proto == IPPROTO_UDP) {
    s.sport = static_cast<uint16_t>(l4[0] << 8 | l4[1]);
    s.dport = static_cast<uint16_t>(l4[2] << 8 | l4[3]);
    l4_ok = ipv4_l4_sum(ip, l4, l4_len, s.proto) == 0xffff;
  } else if (s.proto == IPPROTO_ICMP) {
    s.sport = static_cast<uint16_t>(l4[4] << 8 | l4[5]);
    l4_ok = cksum_fold(cksum_add(0, l4, l4_len)) == 0xffff;
  }
  s.checksums_ok = rte_ipv4_cksum(ip) == 0 && l4_ok;
  return s;
}

// The packets sent since the last call, and forgets them.
std::vector<seen> take(test_gateway& t) {
  std::vector<seen> out;
  for (auto& [port, m] : t.sent) out.push_back(look(port, m));
  t.clear_sent();
  return out;
}

pkt_spec syn(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  return tcp(src, sport, dst, dport, RTE_TCP_SYN_FLAG);
}

bool has_line(test_gateway& t, const std::string& want) {
  for (const std::string& l : t.conntrack_lines())
    if (l == want) return true;
  ADD_FAILURE() << "no conntrack line\n  " << want << "\nin:\n"
                << [&] {
                     std::string all;
                     for (const std::string& l : t.conntrack_lines()) all += "  " + l + "\n";
                     return all;
                   }();
  return false;
}

// An ICMP error from the server 10.0.2.2 to the gateway's wan address quoting `quote` (an IPv4
// header and 8 bytes), with a right checksum.
rte_mbuf* icmp_error(test_gateway& t, uint8_t type, uint8_t code, const uint8_t (&quote)[28]) {
  pkt_spec e;
  e.src = ip("10.0.2.2");
  e.dst = ip("10.0.2.1");
  e.proto = IPPROTO_ICMP;
  e.icmp_type = type;
  e.icmp_code = code;
  e.payload_len = sizeof(quote);
  rte_mbuf* m = t.make(e);
  // The payload follows the 8-byte ICMP header: put the quote there and sum the message again.
  auto* ip4 = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  auto* ic = reinterpret_cast<uint8_t*>(ip4 + 1);
  std::memset(ic + 4, 0, 4);
  std::memcpy(ic + 8, quote, sizeof(quote));
  ic[2] = ic[3] = 0;
  const uint16_t c = static_cast<uint16_t>(~cksum_fold(cksum_add(0, ic, 8 + sizeof(quote))));
  std::memcpy(ic + 2, &c, 2);
  return m;
}

inline constexpr const char* k_snat = R"(
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.0.1.0/24 oifname "wan" snat to 10.0.2.1
  }
})";

// snat to one address: the client's port is kept while the tuple is free; the reply comes back
// to the client; both tuples are listed as conntrack-tools lists them.
TEST(Nat, SnatKeepsThePortAndRepliesReturnToTheClient) {
  test_gateway t;
  load(t, k_snat);
  t.send(0, syn("10.0.1.5", 40000, "10.0.2.2", 80));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].sport, 40000);
  EXPECT_EQ(out[0].dst, ip("10.0.2.2"));
  EXPECT_TRUE(out[0].checksums_ok);
  has_line(t,
           "tcp      6 120 SYN_SENT src=10.0.1.5 dst=10.0.2.2 sport=40000 dport=80 [UNREPLIED] "
           "src=10.0.2.2 dst=10.0.2.1 sport=80 dport=40000 mark=0 use=1");
  t.send(1, tcp("10.0.2.2", 80, "10.0.2.1", 40000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].dst, ip("10.0.1.5"));
  EXPECT_EQ(out[0].dport, 40000);
  EXPECT_EQ(out[0].src, ip("10.0.2.2"));
  EXPECT_TRUE(out[0].checksums_ok);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_bound), 1u);
  // Filters as conntrack-tools': the flow is source-translated only.
  auto count = [&](const char* f) {
    return ct::list_lines(*t.gw->ct.table, *ct::parse_filter(f), t.w->now_ms).size();
  };
  EXPECT_EQ(count("nat=src"), 1u);
  EXPECT_EQ(count("nat=dst"), 0u);
  EXPECT_EQ(count("nat=any"), 1u);
}

// Two clients with the same source port to one server: the second cannot keep its port
// behind the one address, gets another from 1024-65535, and its replies reach it.
TEST(Nat, SnatMovesAClashingPortAndEachReplyFindsItsClient) {
  test_gateway t;
  load(t, k_snat);
  t.send(0, udp("10.0.1.5", 5000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.6", 5000, "10.0.2.2", 53));
  auto out = take(t);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].sport, 5000);
  EXPECT_NE(out[1].sport, 5000);
  EXPECT_GE(out[1].sport, 1024);
  EXPECT_TRUE(out[1].checksums_ok);
  t.send(1, udp("10.0.2.2", 53, "10.0.2.1", out[1].sport));
  t.send(1, udp("10.0.2.2", 53, "10.0.2.1", 5000));
  auto back = take(t);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].dst, ip("10.0.1.6"));
  EXPECT_EQ(back[0].dport, 5000);
  EXPECT_EQ(back[1].dst, ip("10.0.1.5"));
  EXPECT_EQ(back[1].dport, 5000);
  EXPECT_TRUE(back[0].checksums_ok && back[1].checksums_ok);
  // Ports below 1024 stay in their class: 600-1023 for 512-1023.
  t.send(0, udp("10.0.1.5", 800, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.6", 800, "10.0.2.2", 53));
  out = take(t);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].sport, 800);
  EXPECT_GE(out[1].sport, 600);
  EXPECT_LE(out[1].sport, 1023);
  EXPECT_NE(out[1].sport, 800);
}

// Linux's find_appropriate_src: a client whose first connection was moved to another port
// keeps that port for its next connections (to other servers here), rather than a fresh pick
// from the range; a client with no earlier connection gets a fresh pick.
TEST(Nat, ASourceKeepsItsMapping) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" meta l4proto udp snat to 10.0.2.1:20000-20015
  }
})");
  t.send(0, udp("10.0.1.5", 5000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.6", 5000, "10.0.2.2", 53));
  auto out = take(t);
  ASSERT_EQ(out.size(), 2u);
  const uint16_t pb = out[1].sport;
  EXPECT_NE(out[0].sport, pb);
  for (const char* server : {"10.0.2.3", "10.0.2.4", "10.0.2.5", "10.0.2.6"}) {
    SCOPED_TRACE(server);
    t.send(0, udp("10.0.1.6", 5000, server, 53));
    out = take(t);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].sport, pb);
    EXPECT_EQ(out[0].src, ip("10.0.2.1"));
    // Its replies reach the client.
    t.send(1, udp(server, 53, "10.0.2.1", pb));
    out = take(t);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].dst, ip("10.0.1.6"));
    EXPECT_EQ(out[0].dport, 5000);
  }
  // A client with no earlier connection gets a fresh pick, never a port taken toward its server.
  t.send(0, udp("10.0.1.7", 5000, "10.0.2.2", 53));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].sport, pb);
}

// The issue's exhaustion case: a 16-port range and 40 flows give 16 entries and 24 drops,
// counted as nat_no_port (and as Linux counts a NAT clash: insert_failed and drop). Most of
// the flows come in one burst, so unconfirmed choices must see each other.
TEST(Nat, ExhaustedRangeDropsAndCounts) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    meta l4proto udp snat to 10.0.2.1:20000-20015
  }
})");
  std::vector<rte_mbuf*> pkts;
  for (int i = 0; i < 40; i++)
    pkts.push_back(t.make(udp(("10.0.1." + std::to_string(2 + i % 20)).c_str(),
                              static_cast<uint16_t>(7000 + i), "10.0.2.2", 53)));
  t.burst(0, pkts);
  auto out = take(t);
  EXPECT_EQ(out.size(), 16u);
  std::set<uint16_t> ports;
  for (const seen& s : out) {
    EXPECT_GE(s.sport, 20000);
    EXPECT_LE(s.sport, 20015);
    ports.insert(s.sport);
  }
  EXPECT_EQ(ports.size(), 16u);
  EXPECT_EQ(t.conntrack_lines().size(), 16u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_no_port), 24u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::insert_failed), 24u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::drop), 24u);
}

// Two packets of one new connection in one burst (a resolver's A and AAAA queries from one
// socket): the second takes the first's binding and is forwarded alike, not dropped.
TEST(Nat, PacketsOfANewFlowInOneBurstShareItsBinding) {
  test_gateway t;
  load(t, std::string(k_snat) + R"(
table ip dn {
  chain pre {
    type nat hook prerouting priority dstnat;
    udp dport 5353 dnat to 10.0.2.3
  }
})");
  // 10.0.1.6:5000 takes port 5000 first, so 10.0.1.5:5000's binding needs a random port.
  t.send(0, udp("10.0.1.6", 5000, "10.0.2.2", 53));
  t.clear_sent();
  t.burst(0, {t.make(udp("10.0.1.5", 5000, "10.0.2.2", 53)),
              t.make(udp("10.0.1.5", 5000, "10.0.2.2", 53)),
              t.make(udp("10.0.1.5", 5001, "10.0.2.2", 5353)),
              t.make(udp("10.0.1.5", 5001, "10.0.2.2", 5353))});
  auto out = take(t);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].sport, out[1].sport);
  EXPECT_NE(out[0].sport, 5000);
  EXPECT_EQ(out[2].dst, ip("10.0.2.3"));
  EXPECT_EQ(out[3].dst, ip("10.0.2.3"));
  EXPECT_EQ(t.ct_counter(ct::ct_counter::insert_failed), 0u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_no_port), 0u);
  EXPECT_EQ(t.conntrack_lines().size(), 3u);
}

// Port forwarding: dnat at prerouting, routed to the inside server; its replies leave with the
// public address and port.
TEST(Nat, DnatForwardsAPortAndRepliesLeaveFromThePublicAddress) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    iifname "wan" tcp dport 8080 dnat to 10.0.1.5:80
  }
})");
  t.send(1, syn("10.0.2.2", 5555, "10.0.2.1", 8080));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].dst, ip("10.0.1.5"));
  EXPECT_EQ(out[0].dport, 80);
  EXPECT_EQ(out[0].src, ip("10.0.2.2"));
  EXPECT_TRUE(out[0].checksums_ok);
  has_line(t,
           "tcp      6 120 SYN_SENT src=10.0.2.2 dst=10.0.2.1 sport=5555 dport=8080 [UNREPLIED] "
           "src=10.0.1.5 dst=10.0.2.2 sport=80 dport=5555 mark=0 use=1");
  t.send(0, tcp("10.0.1.5", 80, "10.0.2.2", 5555, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].sport, 8080);
  EXPECT_TRUE(out[0].checksums_ok);
  auto count = [&](const char* f) {
    return ct::list_lines(*t.gw->ct.table, *ct::parse_filter(f), t.w->now_ms).size();
  };
  EXPECT_EQ(count("nat=dst"), 1u);
  EXPECT_EQ(count("nat=src"), 0u);
}

// masquerade takes the egress port's address; a port without one drops (nat_no_addr).
TEST(Nat, MasqueradeTakesTheEgressAddress) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" masquerade
  }
})");
  t.send(0, udp("10.0.1.7", 6000, "10.0.2.3", 123));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].sport, 6000);
  t.send(1, udp("10.0.2.3", 123, "10.0.2.1", 6000));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, ip("10.0.1.7"));
  // Traffic the rule does not translate (to the lan) is untouched.
  t.send(1, udp("10.0.2.3", 999, "10.0.1.7", 999));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, ip("10.0.2.3"));
}

// ICMP echo through snat: two clients with the same id; the second's id is moved, and each
// echo reply goes back to its own client with its own id.
TEST(Nat, EchoIdsAreTranslated) {
  test_gateway t;
  load(t, k_snat);
  pkt_spec a = echo_request("10.0.1.5", "10.0.2.2");
  a.icmp_id = 77;
  pkt_spec b = echo_request("10.0.1.6", "10.0.2.2");
  b.icmp_id = 77;
  t.send(0, a);
  t.send(0, b);
  auto out = take(t);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].sport, 77);
  EXPECT_NE(out[1].sport, 77);
  EXPECT_TRUE(out[1].checksums_ok);
  for (int k = 0; k < 2; k++) {
    pkt_spec r = echo_request("10.0.2.2", "10.0.2.1");
    r.icmp_type = 0;
    r.icmp_id = out[k].sport;
    t.send(1, r);
  }
  auto back = take(t);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].dst, ip("10.0.1.5"));
  EXPECT_EQ(back[0].sport, 77);
  EXPECT_EQ(back[1].dst, ip("10.0.1.6"));
  EXPECT_EQ(back[1].sport, 77);
  EXPECT_TRUE(back[0].checksums_ok && back[1].checksums_ok);
  // The reply tuple keeps the echo reply's type (the differential test found 255 here once).
  EXPECT_NE(t.conntrack_lines()[0].find("src=10.0.2.2 dst=10.0.2.1 type=0 code=0"),
            std::string::npos)
      << t.conntrack_lines()[0];
}

// An ICMP port unreachable from the server about a translated datagram: RELATED, its outer
// destination and the header it quotes translated back to the client's.
TEST(Nat, IcmpErrorsAboutATranslatedFlowAreTranslatedBack) {
  test_gateway t;
  load(t, k_snat);
  t.send(0, udp("10.0.1.5", 5000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.6", 5000, "10.0.2.2", 53));  // moved to another port
  ASSERT_EQ(t.sent.size(), 2u);
  // The server's error quotes the second datagram as it arrived.
  rte_mbuf* quoted = t.sent[1].second;
  const auto* qip = rte_pktmbuf_mtod_offset(quoted, const uint8_t*, sizeof(rte_ether_hdr));
  const uint16_t moved = static_cast<uint16_t>(qip[20] << 8 | qip[21]);
  uint8_t quote[28];
  std::memcpy(quote, qip, sizeof(quote));
  t.clear_sent();
  rte_mbuf* m = icmp_error(t, 3, 3, quote);
  t.burst(1, {m});
  ASSERT_EQ(t.sent.size(), 1u);
  const seen s = look(t.sent[0].first, t.sent[0].second);
  EXPECT_EQ(s.port, 0);
  EXPECT_EQ(s.dst, ip("10.0.1.6"));
  EXPECT_TRUE(s.checksums_ok);
  const auto* oip =
      rte_pktmbuf_mtod_offset(t.sent[0].second, const uint8_t*, sizeof(rte_ether_hdr));
  // The quoted header sits at no particular alignment: read it through a copy.
  alignas(8) uint8_t inner[28];
  std::memcpy(inner, oip + 20 + 8, sizeof(inner));
  uint32_t quoted_src;
  std::memcpy(&quoted_src, inner + 12, 4);
  EXPECT_EQ(rte_be_to_cpu_32(quoted_src), ip("10.0.1.6"));
  EXPECT_EQ(inner[20] << 8 | inner[21], 5000);
  EXPECT_NE(moved, 5000);
  EXPECT_EQ(rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(inner)), 0);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::related), 1u);
}

// Hairpin: an inside client reaches the inside server by the public address (dnat), and the
// usual masquerade makes the server answer through the gateway.
TEST(Nat, HairpinWithDnatAndMasquerade) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr 10.0.2.1 tcp dport 80 dnat to 10.0.1.5
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    ip saddr 10.0.1.0/24 ip daddr 10.0.1.0/24 masquerade
  }
})");
  t.send(0, syn("10.0.1.6", 41000, "10.0.2.1", 80));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].dst, ip("10.0.1.5"));
  EXPECT_EQ(out[0].src, ip("10.0.1.1"));
  EXPECT_TRUE(out[0].checksums_ok);
  has_line(t,
           "tcp      6 120 SYN_SENT src=10.0.1.6 dst=10.0.2.1 sport=41000 dport=80 [UNREPLIED] "
           "src=10.0.1.5 dst=10.0.1.1 sport=80 dport=41000 mark=0 use=1");
  t.send(0, tcp("10.0.1.5", 80, "10.0.1.1", out[0].sport, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, ip("10.0.1.6"));
  EXPECT_EQ(out[0].dport, 41000);
  EXPECT_EQ(out[0].src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].sport, 80);
  EXPECT_TRUE(out[0].checksums_ok);
}

// A translated flow's entry found by its original key with the inverse of its original (the
// server answering the client's own address) is not the flow's reply: INVALID, counted.
TEST(Nat, StrayReplyToTheUntranslatedAddressIsInvalid) {
  test_gateway t;
  load(t, k_snat);
  t.send(0, udp("10.0.1.5", 5000, "10.0.2.2", 53));
  t.clear_sent();
  t.send(1, udp("10.0.2.2", 53, "10.0.1.5", 5000));
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_nat_tuple), 1u);
}

// `ct status snat` and the tuples' addresses: the reply tuple carries the translation once
// the binding is made (at postrouting: a forward chain sees it from the second packet on).
TEST(Nat, CtStatusAndTupleAddressesSeeTheTranslation) {
  test_gateway t;
  load(t, std::string(k_snat) + R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter;
    ct reply ip daddr 10.0.2.1 ct status snat counter accept
    ct direction reply ct original ip saddr 10.0.1.5 ct reply ip saddr 10.0.2.2 counter accept
    counter
  }
})");
  t.send(0, udp("10.0.1.5", 5000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.5", 5000, "10.0.2.2", 53));
  t.send(1, udp("10.0.2.2", 53, "10.0.2.1", 5000));
  EXPECT_EQ(t.sent.size(), 3u);
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_NE(listing.find("ct reply ip daddr 10.0.2.1 ct status snat counter packets 2 bytes 56 "
                         "accept"),
            std::string::npos)
      << listing;
  EXPECT_NE(listing.find("\t\tcounter packets 1 bytes 28\n"), std::string::npos) << listing;
}

// Two workers: a translated flow's reply that RSS gives to the worker that does not own the
// flow is handed to the owner, which tracks it (TCP window included) and sends it on.
TEST(Nat, RepliesOnAnotherWorkerAreHandedToTheOwner) {
  gateway_config c = default_config();
  c.workers = 2;
  test_gateway t(c);
  load(t, k_snat);
  t.send(0, syn("10.0.1.5", 40000, "10.0.2.2", 80));  // worker 0 owns the flow
  ASSERT_EQ(take(t).size(), 1u);
  worker_ctx& w1 = t.other_worker(1);
  rte_mbuf* reply =
      t.make(tcp("10.0.2.2", 80, "10.0.2.1", 40000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG));
  t.burst_on(w1, 1, reply);
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(w1.ct.counters.get(ct::ct_counter::handoff), 1u);
  // The owner's next loop takes it from its ring.
  EXPECT_EQ(t.take_handoffs(), 1u);
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].dst, ip("10.0.1.5"));
  EXPECT_EQ(out[0].dport, 40000);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::handoff_in), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::tcp_window_not_owner), 0u);
  EXPECT_EQ(w1.ct.counters.get(ct::ct_counter::tcp_window_not_owner), 0u);
  has_line(t,
           "tcp      6 60 SYN_RECV src=10.0.1.5 dst=10.0.2.2 sport=40000 dport=80 "
           "src=10.0.2.2 dst=10.0.2.1 sport=80 dport=40000 mark=0 use=1");
}

// A redirect about a translated connection would let its two ends talk past the translation:
// dropped, as Linux's nf_nat_icmp_reply_translation does.
TEST(Nat, RedirectsAboutATranslatedFlowAreDropped) {
  test_gateway t;
  load(t, k_snat);
  t.send(0, udp("10.0.1.5", 5000, "10.0.2.2", 53));
  ASSERT_EQ(t.sent.size(), 1u);
  const auto* qip =
      rte_pktmbuf_mtod_offset(t.sent[0].second, const uint8_t*, sizeof(rte_ether_hdr));
  uint8_t quote[28];
  std::memcpy(quote, qip, sizeof(quote));
  t.clear_sent();
  t.burst(1, {icmp_error(t, 5, 1, quote)});  // redirect for the host
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.ct_counter(ct::ct_counter::related), 1u);
  t.burst(1, {icmp_error(t, 3, 3, quote)});  // a port unreachable still goes through
  EXPECT_EQ(t.sent.size(), 1u);
}

// A packet that matches a dnat flow's reply key the other way round (the client addressing
// the server directly, past the dnat) is not that flow's: INVALID, counted, and the flow's
// state is left alone.
TEST(Nat, AClientAddressingTheServerPastTheDnatIsNotTheFlow) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    iifname "wan" tcp dport 8080 dnat to 10.0.1.5:80
  }
})");
  t.send(1, syn("10.0.2.2", 5555, "10.0.2.1", 8080));
  t.clear_sent();
  t.send(1, tcp("10.0.2.2", 5555, "10.0.1.5", 80, RTE_TCP_ACK_FLAG));
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_nat_tuple), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::found), 0u);
  has_line(t,
           "tcp      6 120 SYN_SENT src=10.0.2.2 dst=10.0.2.1 sport=5555 dport=8080 [UNREPLIED] "
           "src=10.0.1.5 dst=10.0.2.2 sport=80 dport=5555 mark=0 use=1");
}

// Packets handed to the owning worker are not drops: no hook drop is counted for them.
TEST(Nat, HandedOffPacketsAreNotHookDrops) {
  gateway_config c = default_config();
  c.workers = 2;
  test_gateway t(c);
  load(t, k_snat);
  t.send(0, syn("10.0.1.5", 40000, "10.0.2.2", 80));  // worker 0 owns the flow
  t.clear_sent();
  worker_ctx& w1 = t.other_worker(1);
  rte_mbuf* reply =
      t.make(tcp("10.0.2.2", 80, "10.0.2.1", 40000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG));
  t.burst_on(w1, 1, reply);
  EXPECT_EQ(w1.ct.counters.get(ct::ct_counter::handoff), 1u);
  uint64_t hook_drops = 0;
  for (const counter_slot& d : w1.hook_drops) hook_drops += d.get();
  EXPECT_EQ(hook_drops, 0u);
  EXPECT_EQ(w1.counters.get(dp_counter::drop_hook), 0u);
  EXPECT_EQ(t.take_handoffs(), 1u);
  EXPECT_EQ(t.sent.size(), 1u);
}

// `--src-nat` lists what libnetfilter_conntrack's is_snat/is_spat call translated: the SRC_NAT
// DONE bit and a changed address or port. An echo flow that no nat hook decided is not listed.
TEST(Nat, NatFiltersNeedTheDoneBits) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway t(c);
  t.send(0, echo_request("10.0.1.5", "10.0.2.2"));
  auto count = [&](const char* f) {
    return ct::list_lines(*t.gw->ct.table, *ct::parse_filter(f), t.w->now_ms).size();
  };
  ASSERT_EQ(count(""), 1u);
  EXPECT_EQ(count("nat=src"), 0u);
  EXPECT_EQ(count("nat=any"), 0u);
}

// A connection rejected past a dnat is answered from the public address, as its client sent
// it: Linux attaches the connection to the RST or ICMP error, and its NAT hooks translate it.
TEST(Nat, RejectsPastADnatAnswerFromThePublicAddress) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    iifname "wan" tcp dport 8080 dnat to 10.0.1.5:80
    iifname "wan" udp dport 5353 dnat to 10.0.1.5:53
  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter;
    tcp dport 80 reject with tcp reset
    udp dport 53 reject
  }
})");
  t.send(1, syn("10.0.2.2", 5555, "10.0.2.1", 8080));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].proto, IPPROTO_TCP);
  EXPECT_EQ(out[0].src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].sport, 8080);
  EXPECT_EQ(out[0].dst, ip("10.0.2.2"));
  EXPECT_EQ(out[0].dport, 5555);
  EXPECT_TRUE(out[0].checksums_ok);
  t.send(1, udp("10.0.2.2", 6000, "10.0.2.1", 5353));
  ASSERT_EQ(t.sent.size(), 1u);
  const seen s = look(t.sent[0].first, t.sent[0].second);
  EXPECT_EQ(s.proto, IPPROTO_ICMP);
  EXPECT_EQ(s.src, ip("10.0.2.1"));
  EXPECT_EQ(s.dst, ip("10.0.2.2"));
  EXPECT_TRUE(s.checksums_ok);
  const auto* oip =
      rte_pktmbuf_mtod_offset(t.sent[0].second, const uint8_t*, sizeof(rte_ether_hdr));
  alignas(8) uint8_t inner[28];
  std::memcpy(inner, oip + 20 + 8, sizeof(inner));
  uint32_t quoted_dst;
  std::memcpy(&quoted_dst, inner + 16, 4);
  EXPECT_EQ(rte_be_to_cpu_32(quoted_dst), ip("10.0.2.1"));
  EXPECT_EQ(inner[22] << 8 | inner[23], 5353);
  EXPECT_EQ(rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(inner)), 0);
}

// A flow that has expired but is not reaped yet still holds its reply key: a new binding that
// picks the same reply tuple reaps it at confirm and goes through (it was dropped).
TEST(Nat, AnExpiredUnreapedFlowDoesNotBlockItsReplyTuple) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" meta l4proto udp snat to 10.0.2.1:5000
  }
})");
  t.send(0, udp("10.0.1.5", 1111, "10.0.2.2", 53));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sport, 5000);
  t.w->now_ms += 200 * 1000;  // past UDP's timeout; no housekeeping before the next packet
  t.send(0, udp("10.0.1.6", 2222, "10.0.2.2", 53));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sport, 5000);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::insert_failed), 0u);
  t.send(1, udp("10.0.2.2", 53, "10.0.2.1", 5000));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, ip("10.0.1.6"));
  EXPECT_EQ(out[0].dport, 2222);
}

// dnat through a map (`dnat ip addr . port to ip daddr . tcp dport map { ... }`, and a named
// map of addresses): the key picks the server; a key the map lacks ends the rule, so the next
// one runs.
TEST(Nat, DnatThroughAMapPicksTheServerByKey) {
  test_gateway t;
  load(t, R"(
table ip nat {
  map hosts {
    type ipv4_addr : ipv4_addr
    elements = { 10.0.2.1 : 10.0.1.7 }
  }
  chain prerouting {
    type nat hook prerouting priority dstnat;
    iifname "wan" dnat ip addr . port to ip daddr . tcp dport map { 10.0.2.1 . 8080 : 10.0.1.5 . 80, 10.0.2.1 . 8081 : 10.0.1.6 . 81 }
    iifname "wan" udp dport 53 dnat to ip daddr map @hosts
  }
})");
  t.send(1, syn("10.0.2.2", 5555, "10.0.2.1", 8081));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, ip("10.0.1.6"));
  EXPECT_EQ(out[0].dport, 81);
  EXPECT_TRUE(out[0].checksums_ok);
  t.send(1, syn("10.0.2.2", 5556, "10.0.2.1", 8080));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, ip("10.0.1.5"));
  EXPECT_EQ(out[0].dport, 80);
  // Not in the first map: the second rule maps the address, the port is kept.
  t.send(1, udp("10.0.2.2", 7000, "10.0.2.1", 53));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, ip("10.0.1.7"));
  EXPECT_EQ(out[0].dport, 53);
  // The replies leave from the public address and port.
  t.send(0, tcp("10.0.1.6", 81, "10.0.2.2", 5555, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].sport, 8081);
}

// Linux's last resort in a full range (nf_nat_used_tuple_harder): a new TCP connection takes
// the port of a finished (TIME_WAIT) source-translated connection whose client sent less than
// its SYN's sequence number; that connection is evicted, counted.
TEST(Nat, AFullRangeEvictsATimeWaitFlowForANewSyn) {
  test_gateway t;
  load(t, R"(
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" meta l4proto tcp snat to 10.0.2.1:5000-5001
  }
})");
  auto seg = [](const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
                uint32_t seq, uint32_t ack) {
    pkt_spec p = tcp(src, sport, dst, dport, flags);
    p.seq = seq;
    p.ack = ack;
    return p;
  };
  constexpr uint8_t S = RTE_TCP_SYN_FLAG, A = RTE_TCP_ACK_FLAG, F = RTE_TCP_FIN_FLAG;
  t.send(0, seg("10.0.1.5", 1000, "10.0.2.2", 80, S, 1000, 0));
  auto out = take(t);
  ASSERT_EQ(out.size(), 1u);
  const uint16_t port_a = out[0].sport;
  t.send(1, seg("10.0.2.2", 80, "10.0.2.1", port_a, S | A, 5000, 1001));
  t.send(0, seg("10.0.1.5", 1000, "10.0.2.2", 80, A, 1001, 5001));
  t.send(0, seg("10.0.1.5", 1000, "10.0.2.2", 80, F | A, 1001, 5001));
  t.send(1, seg("10.0.2.2", 80, "10.0.2.1", port_a, F | A, 5001, 1002));
  t.send(0, seg("10.0.1.5", 1000, "10.0.2.2", 80, A, 1002, 5002));
  t.clear_sent();
  has_line(t,
           "tcp      6 120 TIME_WAIT src=10.0.1.5 dst=10.0.2.2 sport=1000 dport=80 "
           "src=10.0.2.2 dst=10.0.2.1 sport=80 dport=" +
               std::to_string(port_a) + " [ASSURED] mark=0 use=1");
  t.send(0, seg("10.0.1.6", 1000, "10.0.2.2", 80, S, 1000, 0));  // the other port
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].sport, port_a);
  // The range is full: the third client's SYN, past the old connection's sequence, evicts it.
  t.send(0, seg("10.0.1.7", 1000, "10.0.2.2", 80, S, 90000, 0));
  out = take(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sport, port_a);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_evicted), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_no_port), 0u);
  // A fourth finds nothing to evict (both live connections are open): dropped.
  t.send(0, seg("10.0.1.8", 1000, "10.0.2.2", 80, S, 90000, 0));
  EXPECT_TRUE(take(t).empty());
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_no_port), 1u);
}

// Synproxy in front of a dnat'ed service, as Linux 6.18 has it (docs/design/nat.md): the SYN
// untracked, synproxy at input for the public address, the dnat in an output nat chain. The
// cookie ACK's SYN to the server leaves through LOCAL_OUT, where the output chain binds the
// connection; the server's SYN-ACK becomes the ACK to the server, and the client's window
// update comes from the public address; every later packet is rewritten both ways.
TEST(Nat, SynproxyInFrontOfADnatedService) {
  gateway_config c = default_config();
  c.conntrack.tcp_loose = false;  // the client's ACK must be INVALID, not a pickup
  test_gateway t(c);
  load(t, R"(
table ip raw {
  chain prerouting {
    type filter hook prerouting priority raw;
    iifname "wan" ip daddr 10.0.2.1 tcp dport 8080 tcp flags syn notrack
  }
}
table ip nat {
  chain out {
    type nat hook output priority -100;
    ip daddr 10.0.2.1 tcp dport 8080 dnat to 10.0.1.5:80
  }
}
table ip filter {
  chain input {
    type filter hook input priority filter;
    tcp dport 8080 ct state invalid,untracked synproxy mss 1460
    ct state invalid drop
  }
})");
  struct tcp_seen {
    seen s;
    uint32_t seq = 0, ack = 0;
    uint8_t flags = 0;
  };
  auto take_tcp = [&] {
    std::vector<tcp_seen> out;
    for (auto& [port, m] : t.sent) {
      tcp_seen x;
      x.s = look(port, m);
      const auto* th = rte_pktmbuf_mtod_offset(m, const rte_tcp_hdr*, 34);
      x.seq = rte_be_to_cpu_32(th->sent_seq);
      x.ack = rte_be_to_cpu_32(th->recv_ack);
      x.flags = th->tcp_flags;
      out.push_back(x);
    }
    t.clear_sent();
    return out;
  };
  auto seg = [](const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
                uint32_t seq, uint32_t ack, uint16_t payload = 0) {
    pkt_spec p = tcp(src, sport, dst, dport, flags);
    p.seq = seq;
    p.ack = ack;
    p.payload_len = payload;
    return p;
  };
  constexpr uint8_t S = RTE_TCP_SYN_FLAG, A = RTE_TCP_ACK_FLAG;
  t.send(1, seg("10.0.2.2", 5555, "10.0.2.1", 8080, S, 7000, 0));
  auto out = take_tcp();
  ASSERT_EQ(out.size(), 1u);  // the cookie, from the public address
  EXPECT_EQ(out[0].flags, S | A);
  EXPECT_EQ(out[0].s.src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].s.sport, 8080);
  const uint32_t cookie = out[0].seq;
  EXPECT_EQ(t.gw->ct.table->count(), 0);  // nothing allocated for the SYN

  t.send(1, seg("10.0.2.2", 5555, "10.0.2.1", 8080, A, 7001, cookie + 1));
  out = take_tcp();
  ASSERT_EQ(out.size(), 1u);  // our SYN, translated by the output chain's binding
  EXPECT_EQ(out[0].flags, S);
  EXPECT_EQ(out[0].s.port, 0);
  EXPECT_EQ(out[0].s.src, ip("10.0.2.2"));
  EXPECT_EQ(out[0].s.sport, 5555);
  EXPECT_EQ(out[0].s.dst, ip("10.0.1.5"));
  EXPECT_EQ(out[0].s.dport, 80);
  EXPECT_EQ(out[0].seq, 7000u);
  EXPECT_TRUE(out[0].s.checksums_ok);
  has_line(t,
           "tcp      6 120 SYN_SENT src=10.0.2.2 dst=10.0.2.1 sport=5555 dport=8080 [UNREPLIED] "
           "src=10.0.1.5 dst=10.0.2.2 sport=80 dport=5555 mark=0 use=1");

  t.send(0, seg("10.0.1.5", 80, "10.0.2.2", 5555, S | A, 90000, 7001));
  out = take_tcp();
  ASSERT_EQ(out.size(), 2u);
  const tcp_seen& to_server = out[0].s.port == 0 ? out[0] : out[1];
  const tcp_seen& to_client = out[0].s.port == 0 ? out[1] : out[0];
  EXPECT_EQ(to_server.flags, A);  // completes the server's handshake, as the server sees it
  EXPECT_EQ(to_server.s.src, ip("10.0.2.2"));
  EXPECT_EQ(to_server.s.sport, 5555);
  EXPECT_EQ(to_server.s.dst, ip("10.0.1.5"));
  EXPECT_EQ(to_server.s.dport, 80);
  EXPECT_EQ(to_server.seq, 7001u);
  EXPECT_EQ(to_server.ack, 90001u);
  EXPECT_TRUE(to_server.s.checksums_ok);
  EXPECT_EQ(to_client.flags, A);  // the window update, from the address the client called
  EXPECT_EQ(to_client.s.port, 1);
  EXPECT_EQ(to_client.s.src, ip("10.0.2.1"));
  EXPECT_EQ(to_client.s.sport, 8080);
  EXPECT_EQ(to_client.s.dst, ip("10.0.2.2"));
  EXPECT_EQ(to_client.seq, cookie + 1);
  EXPECT_EQ(to_client.ack, 7001u);
  EXPECT_TRUE(to_client.s.checksums_ok);

  // Data both ways: addresses and sequence numbers translated.
  t.send(1, seg("10.0.2.2", 5555, "10.0.2.1", 8080, A, 7001, cookie + 1, 100));
  out = take_tcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].s.dst, ip("10.0.1.5"));
  EXPECT_EQ(out[0].s.dport, 80);
  EXPECT_EQ(out[0].ack, 90001u);
  EXPECT_TRUE(out[0].s.checksums_ok);
  t.send(0, seg("10.0.1.5", 80, "10.0.2.2", 5555, A, 90001, 7101, 50));
  out = take_tcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].s.port, 1);
  EXPECT_EQ(out[0].s.src, ip("10.0.2.1"));
  EXPECT_EQ(out[0].s.sport, 8080);
  EXPECT_EQ(out[0].seq, cookie + 1);
  EXPECT_TRUE(out[0].s.checksums_ok);
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::handshakes_completed), 1u);
  EXPECT_EQ(t.dp(dp_counter::unconfirmed_leaked), 0u);
  // 300: the server's 50 bytes are not acknowledged yet (Linux's timeout_unacknowledged).
  has_line(t,
           "tcp      6 300 ESTABLISHED src=10.0.2.2 dst=10.0.2.1 sport=5555 dport=8080 "
           "src=10.0.1.5 dst=10.0.2.2 sport=80 dport=5555 [ASSURED] mark=0 use=1");
}

}  // namespace
}  // namespace ctgate::test
