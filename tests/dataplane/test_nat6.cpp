// IPv6 NAT through the whole pipeline (lib/conntrack/ct_nat.cpp, lib/ruleset/nft_nat.cpp,
// docs/design/nat.md "IPv6"): snat, dnat, masquerade and redirect of IPv6 connections, replies
// found by their translated tuple and its full addresses, the transport checksums under the
// pseudo header, ICMPv6 echo ids and errors, and conntrack -L's reply tuple. The lan port is
// 2001:db8:1::1/64, the wan port 2001:db8:2::1/64 (ipv6_env.h).
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <cstring>
#include <set>
#include <vector>

#include "common/test_env.h"
#include "conntrack/ct_format.h"
#include "dataplane/ipv6_env.h"
#include "dataplane/stages.h"
#include "packet/cksum.h"

namespace ctgate::test {
namespace {

constexpr const char* k_client = "2001:db8:1::2";
constexpr const char* k_server = "2001:db8:2::2";
constexpr const char* k_wan = "2001:db8:2::1";

// What left the gateway: port, addresses, ports (ICMPv6: the echo id in sport), and whether
// the transport checksum sums right under the pseudo header.
struct seen6 {
  uint16_t port = 0;
  ipv6_addr src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  bool checksum_ok = false;
  std::vector<uint8_t> l4;  // the transport bytes
};

seen6 look6(uint16_t port, rte_mbuf* m) {
  const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, sizeof(rte_ether_hdr));
  const uint8_t* l4 = ip + 40;
  const size_t l4_len = static_cast<size_t>(ip[4] << 8 | ip[5]);
  seen6 s;
  s.port = port;
  std::memcpy(s.src.b, ip + 8, 16);
  std::memcpy(s.dst.b, ip + 24, 16);
  s.proto = ip[6];
  if (s.proto == IPPROTO_ICMPV6) {
    s.sport = static_cast<uint16_t>(l4[4] << 8 | l4[5]);
  } else {
    s.sport = static_cast<uint16_t>(l4[0] << 8 | l4[1]);
    s.dport = static_cast<uint16_t>(l4[2] << 8 | l4[3]);
  }
  s.checksum_ok = ipv6_l4_cksum_ok(ip, l4, l4_len, s.proto);
  s.l4.assign(l4, l4 + l4_len);
  return s;
}

// A TCP segment: a SYN at 1000; with ACK, at 5000 acknowledging 1001 (these tests look at
// addresses and ports, not at windows).
pkt_spec6 seg6(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags) {
  return tcp6(src, sport, dst, dport, flags, flags & TCPF_ACK ? 5000 : 1000,
              flags & TCPF_ACK ? 1001 : 0);
}

class nat6_gateway : public v6_gateway {
 public:
  explicit nat6_gateway(uint16_t workers = 1) : v6_gateway(config(workers)) {}
  static gateway_config config(uint16_t workers) {
    gateway_config c = v6_config();
    c.workers = workers;
    c.conntrack.tcp_loose = false;
    add_neighbor6(c, "2001:db8:1::3", "02:00:00:00:01:13", "lan");
    add_neighbor6(c, "2001:db8:1::4", "02:00:00:00:01:14", "lan");
    add_neighbor6(c, "2001:db8:2::3", "02:00:00:00:02:13", "wan");
    add_neighbor6(c, "2001:db8:2::4", "02:00:00:00:02:14", "wan");
    return c;
  }
  void load(const std::string& text) {
    result<ruleset_summary> r = load_ruleset_text(*gw, text, "nat6.nft");
    ASSERT_TRUE(r) << r.error().to_string();
  }
  // The IPv6 packets one packet sent out.
  std::vector<seen6> pass6(uint16_t port, const pkt_spec6& s) {
    clear_sent();
    send6(port, s);
    std::vector<seen6> out;
    for (auto& [p, m] : sent) out.push_back(look6(p, m));
    clear_sent();
    return out;
  }
  bool has_line(const std::string& want) {
    std::string all;
    for (const std::string& l : conntrack_lines()) {
      if (l == want) return true;
      all += "  " + l + "\n";
    }
    ADD_FAILURE() << "no conntrack line\n  " << want << "\nin:\n" << all;
    return false;
  }
};

// Masquerade in an inet table: the IPv6 client leaves from the wan port's IPv6 address with its
// port kept, the server's answer comes back to the client, every checksum is right, and
// conntrack -L shows the reply tuple as conntrack-tools does. The same rule translates IPv4.
TEST(Nat6, MasqueradeInAnInetTableTranslatesBothFamilies) {
  nat6_gateway t;
  t.load(R"(table inet nat {
  chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
})");
  std::vector<seen6> out = t.pass6(0, seg6(k_client, 40000, k_server, 80, TCPF_SYN));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].src, a6(k_wan));
  EXPECT_EQ(out[0].dst, a6(k_server));
  EXPECT_EQ(out[0].sport, 40000);
  EXPECT_TRUE(out[0].checksum_ok);
  t.has_line(
      "tcp      6 120 SYN_SENT src=2001:db8:1::2 dst=2001:db8:2::2 sport=40000 dport=80 "
      "[UNREPLIED] src=2001:db8:2::2 dst=2001:db8:2::1 sport=80 dport=40000 mark=0 use=1");
  out = t.pass6(1, seg6(k_server, 80, k_wan, 40000, TCPF_SYN | TCPF_ACK));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].src, a6(k_server));
  EXPECT_EQ(out[0].dst, a6(k_client));
  EXPECT_EQ(out[0].dport, 40000);
  EXPECT_TRUE(out[0].checksum_ok);
  out = t.pass6(0, seg6(k_client, 40000, k_server, 80, TCPF_ACK));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, a6(k_wan));
  EXPECT_TRUE(out[0].checksum_ok);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_bound), 1u);
  // conntrack -L's filters compare the addresses: source-translated, not destination.
  auto count = [&](const char* filter) {
    result<ct::ct_filter> f = ct::parse_filter(filter);
    EXPECT_TRUE(f);
    return ct::list_lines(*t.gw->ct.table, *f, t.w->now_ms).size();
  };
  EXPECT_EQ(count("nat=src"), 1u);
  EXPECT_EQ(count("nat=dst"), 0u);
  // IPv4 through the same rule.
  t.clear_sent();
  t.send(0, tcp("10.0.1.5", 41000, "10.0.2.2", 80, RTE_TCP_SYN_FLAG));
  ASSERT_EQ(t.sent.size(), 1u);
  const auto* ip4 =
      rte_pktmbuf_mtod_offset(t.sent[0].second, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  EXPECT_EQ(rte_be_to_cpu_32(ip4->src_addr), ip("10.0.2.1"));
  t.clear_sent();
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_bound), 2u);
}

// dnat with a port in an ip6 table: a client on the far side reaches the inside server through
// the wan address; replies leave from the public address and port. The hooks are IPv6's.
TEST(Nat6, DnatForwardsAPortAndRepliesLeaveFromThePublicAddress) {
  nat6_gateway t;
  t.load(R"(table ip6 nat {
  chain pre { type nat hook prerouting priority dstnat;
    iifname "wan" tcp dport 8080 dnat to [2001:db8:1::2]:80
  }
})");
  std::set<std::string> names;
  for (const hook_registry::listing_entry& h : t.gw->hooks->list())
    if (h.families & HOOK_FAM_IPV6) names.insert(h.name);
  EXPECT_TRUE(names.count("nf_nat_ipv6_in"));
  EXPECT_TRUE(names.count("nf_nat_ipv6_out"));
  EXPECT_FALSE(names.count("nf_nat_ipv4_pre_routing"));
  const char* far = "2001:db8:99::7";
  std::vector<seen6> out = t.pass6(1, seg6(far, 50000, k_wan, 8080, TCPF_SYN));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].dst, a6(k_client));
  EXPECT_EQ(out[0].dport, 80);
  EXPECT_EQ(out[0].src, a6(far));
  EXPECT_TRUE(out[0].checksum_ok);
  t.has_line(
      "tcp      6 120 SYN_SENT src=2001:db8:99::7 dst=2001:db8:2::1 sport=50000 dport=8080 "
      "[UNREPLIED] src=2001:db8:1::2 dst=2001:db8:99::7 sport=80 dport=50000 mark=0 use=1");
  out = t.pass6(0, seg6(k_client, 80, far, 50000, TCPF_SYN | TCPF_ACK));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].src, a6(k_wan));
  EXPECT_EQ(out[0].sport, 8080);
  EXPECT_TRUE(out[0].checksum_ok);
}

// Two clients on one source port snat'ed to one address: the second's port moves, and each
// reply finds its own client by the translated tuple and its full addresses.
TEST(Nat6, SnatMovesAClashingPortAndEachReplyFindsItsClient) {
  nat6_gateway t;
  t.load(R"(table ip6 nat {
  chain post { type nat hook postrouting priority srcnat; oifname "wan" snat to 2001:db8:2::100; }
})");
  std::vector<seen6> a = t.pass6(0, seg6("2001:db8:1::2", 40000, k_server, 80, TCPF_SYN));
  std::vector<seen6> b = t.pass6(0, seg6("2001:db8:1::3", 40000, k_server, 80, TCPF_SYN));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].src, a6("2001:db8:2::100"));
  EXPECT_EQ(b[0].src, a6("2001:db8:2::100"));
  EXPECT_EQ(a[0].sport, 40000);
  EXPECT_NE(b[0].sport, 40000);
  EXPECT_GE(b[0].sport, 1024);
  EXPECT_TRUE(b[0].checksum_ok);
  std::vector<seen6> ra =
      t.pass6(1, seg6(k_server, 80, "2001:db8:2::100", 40000, TCPF_SYN | TCPF_ACK));
  std::vector<seen6> rb =
      t.pass6(1, seg6(k_server, 80, "2001:db8:2::100", b[0].sport, TCPF_SYN | TCPF_ACK));
  ASSERT_EQ(ra.size(), 1u);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(ra[0].dst, a6("2001:db8:1::2"));
  EXPECT_EQ(rb[0].dst, a6("2001:db8:1::3"));
  EXPECT_EQ(rb[0].dport, 40000);
  EXPECT_TRUE(rb[0].checksum_ok);
  // A reply to the translated port from another server is no reply: its key differs.
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_bound), 2u);
}

// ICMPv6 echo through snat: the id is the port; an error about the translated flow comes back
// to the client with its quote as the client sent it and a right checksum.
TEST(Nat6, EchoIdsAndErrorsAreTranslated) {
  nat6_gateway t;
  t.load(R"(table inet nat {
  chain post { type nat hook postrouting priority srcnat; oifname "wan" snat ip6 to 2001:db8:2::100; }
})");
  std::vector<seen6> out = t.pass6(0, echo6(k_client, k_server, icmp6::echo_request, 7));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, a6("2001:db8:2::100"));
  EXPECT_EQ(out[0].sport, 7);
  EXPECT_TRUE(out[0].checksum_ok);
  out = t.pass6(1, echo6(k_server, "2001:db8:2::100", icmp6::echo_reply, 7));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, a6(k_client));
  EXPECT_TRUE(out[0].checksum_ok);
  t.has_line(
      "icmpv6   58 30 src=2001:db8:1::2 dst=2001:db8:2::2 type=128 code=0 id=7 "
      "src=2001:db8:2::2 dst=2001:db8:2::100 type=129 code=0 id=7 mark=0 use=1");

  // A UDP datagram, translated, and the server's port unreachable quoting it as it arrived.
  pkt_spec6 u = udp6(k_client, k_server, 53);
  u.sport = 33000;
  t.clear_sent();
  t.send6(0, u);
  ASSERT_EQ(t.sent.size(), 1u);
  rte_mbuf* sent = t.sent[0].second;
  const auto* q = rte_pktmbuf_mtod_offset(sent, const uint8_t*, sizeof(rte_ether_hdr));
  std::vector<uint8_t> quote(q, q + 40 + 8 + 12);
  t.clear_sent();
  pkt_spec6 e = echo6(k_server, "2001:db8:2::100", icmp6::dest_unreach, 0);
  e.icmp_code = 4;
  e.icmp_seq = 0;
  e.payload = quote.data();
  e.payload_len = static_cast<uint16_t>(quote.size());
  out = t.pass6(1, e);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].dst, a6(k_client));
  EXPECT_EQ(out[0].src, a6(k_server));
  EXPECT_TRUE(out[0].checksum_ok);
  // The quote: the client's own address and port, as it sent the datagram.
  ipv6_addr quoted_src;
  std::memcpy(quoted_src.b, out[0].l4.data() + 8 + 8, 16);
  EXPECT_EQ(quoted_src, a6(k_client));
  EXPECT_EQ(out[0].l4[8 + 40] << 8 | out[0].l4[8 + 41], 33000);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::related), 1u);
}

// An echo id is searched over 0-65535 for ICMPv6 as for ICMP, for a destination binding too
// (nf_nat_l4proto_unique_tuple): a client pinging the server directly and through a dnat'ed
// address with the same id gets its second echo's id moved, not dropped.
TEST(Nat6, EchoIdsAreSearchedForADestinationBinding) {
  nat6_gateway t;
  t.load(R"(table ip6 nat {
  chain pre { type nat hook prerouting priority dstnat;
    iifname "lan" ip6 daddr 2001:db8:2::50 dnat to 2001:db8:2::2
  }
})");
  std::vector<seen6> out = t.pass6(0, echo6(k_client, k_server, icmp6::echo_request, 7));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sport, 7);
  out = t.pass6(0, echo6(k_client, "2001:db8:2::50", icmp6::echo_request, 7));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dst, a6(k_server));
  EXPECT_EQ(out[0].sport, 0);  // the search starts at the bottom for a destination binding
  EXPECT_TRUE(out[0].checksum_ok);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_no_port), 0u);
  out = t.pass6(1, echo6(k_server, k_client, icmp6::echo_reply, 0));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, a6("2001:db8:2::50"));
  EXPECT_EQ(out[0].sport, 7);
}

// An inet table's `snat ip to` does nothing to IPv6 packets (nft_nat_inet_eval), and the rule
// goes on: the next rule's `snat ip6 to` binds them.
TEST(Nat6, AStatementOfTheOtherFamilyDoesNothing) {
  nat6_gateway t;
  t.load(R"(table inet nat {
  chain post { type nat hook postrouting priority srcnat;
    oifname "wan" snat ip to 10.0.2.100
    oifname "wan" udp dport 53 snat ip6 to 2001:db8:2::100
  }
})");
  std::vector<seen6> out = t.pass6(0, seg6(k_client, 40000, k_server, 80, TCPF_SYN));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, a6(k_client));
  EXPECT_EQ(t.ct_counter(ct::ct_counter::nat_bound), 0u);
  out = t.pass6(0, udp6(k_client, k_server, 53));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, a6("2001:db8:2::100"));
  EXPECT_TRUE(out[0].checksum_ok);
}

// An address range: the address is picked by Linux's hash of the source (persistent: whatever
// the destination), always in the range, the same for every connection of a client.
TEST(Nat6, AnAddressRangeKeepsAClientOnOneAddress) {
  nat6_gateway t;
  t.load(R"(table ip6 nat {
  chain post { type nat hook postrouting priority srcnat;
    oifname "wan" snat to 2001:db8:2::100-2001:db8:2::1ff persistent
  }
})");
  std::set<std::string> picked;
  for (uint16_t sport = 40000; sport < 40004; sport++) {
    std::vector<seen6> out = t.pass6(0, seg6(k_client, sport, k_server, 80, TCPF_SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].src.b[13], 0);
    EXPECT_TRUE(out[0].src.b[14] == 1);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02x%02x", out[0].src.b[14], out[0].src.b[15]);
    picked.insert(buf);
    EXPECT_TRUE(out[0].checksum_ok);
  }
  EXPECT_EQ(picked.size(), 1u);
}

// A reply that arrives on another worker than the flow's owner (its translated addresses hash
// elsewhere) is handed to the owner, which runs it from IPv6's conntrack on.
TEST(Nat6, RepliesOnAnotherWorkerAreHandedToTheOwner) {
  nat6_gateway t(2);
  t.load(R"(table ip6 nat {
  chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
})");
  ASSERT_EQ(t.pass6(0, seg6(k_client, 40000, k_server, 80, TCPF_SYN)).size(), 1u);
  worker_ctx& w1 = t.other_worker(1);
  rte_mbuf* reply = t.make6(seg6(k_server, 80, k_wan, 40000, TCPF_SYN | TCPF_ACK));
  t.burst_on(w1, 1, reply);
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(w1.ct.counters.get(ct::ct_counter::handoff), 1u);
  EXPECT_EQ(t.take_handoffs(), 1u);
  ASSERT_EQ(t.sent.size(), 1u);
  const seen6 out = look6(t.sent[0].first, t.sent[0].second);
  t.clear_sent();
  EXPECT_EQ(out.port, 0);
  EXPECT_EQ(out.dst, a6(k_client));
  EXPECT_EQ(out.dport, 40000);
  EXPECT_TRUE(out.checksum_ok);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::handoff_in), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::tcp_window_not_owner), 0u);
  t.has_line(
      "tcp      6 60 SYN_RECV src=2001:db8:1::2 dst=2001:db8:2::2 sport=40000 dport=80 "
      "src=2001:db8:2::2 dst=2001:db8:2::1 sport=80 dport=40000 mark=0 use=1");
}

// find_appropriate_src over IPv6: a client whose first connection's port was moved keeps that
// mapping for its next connections to other servers (its source key is a digest of its
// address alone); a client with no earlier connection gets a fresh pick.
TEST(Nat6, ASourceKeepsItsMapping) {
  nat6_gateway t;
  t.load(R"(table ip6 nat {
  chain post { type nat hook postrouting priority srcnat;
    oifname "wan" meta l4proto udp snat to [2001:db8:2::1]:20000-20015
  }
})");
  pkt_spec6 a = udp6("2001:db8:1::2", k_server, 53), b = udp6("2001:db8:1::3", k_server, 53);
  a.sport = b.sport = 5000;
  std::vector<seen6> out = t.pass6(0, a);
  ASSERT_EQ(out.size(), 1u);
  const uint16_t pa = out[0].sport;
  out = t.pass6(0, b);
  ASSERT_EQ(out.size(), 1u);
  const uint16_t pb = out[0].sport;
  EXPECT_NE(pa, pb);
  for (const char* server : {"2001:db8:2::3", "2001:db8:2::4", "2001:db8:99::5"}) {
    SCOPED_TRACE(server);
    pkt_spec6 next = udp6("2001:db8:1::3", server, 53);
    next.sport = 5000;
    out = t.pass6(0, next);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].sport, pb);
    EXPECT_EQ(out[0].src, a6(k_wan));
    EXPECT_TRUE(out[0].checksum_ok);
  }
  pkt_spec6 fresh = udp6("2001:db8:1::4", k_server, 53);
  fresh.sport = 5000;
  out = t.pass6(0, fresh);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].sport, pb);
  EXPECT_NE(out[0].sport, pa);
}

// A reject past a dnat answers from the public address and port, as the client addressed it:
// for an established connection the RST, built from the translated packet, passes the output
// hooks as the connection's reply and is translated there (as Linux translates the answer it
// attaches to the connection); for a new connection's SYN, which has no confirmed entry to
// find, the RST is built from the connection's original tuple.
TEST(Nat6, RejectsPastADnatAnswerFromThePublicAddress) {
  nat6_gateway t;
  t.load(R"(table ip6 nat {
  chain pre { type nat hook prerouting priority dstnat;
    iifname "wan" tcp dport { 8080, 8081 } dnat to [2001:db8:1::2]:80
  }
}
table inet f {
  chain fwd { type filter hook forward priority 0;
    tcp dport 80 tcp flags & (psh) == psh reject with tcp reset
    tcp dport 80 ip6 saddr 2001:db8:99::8 reject with tcp reset
    tcp dport 80 ip6 saddr 2001:db8:99::9 reject
  }
})");
  const char* far = "2001:db8:99::7";
  ASSERT_EQ(t.pass6(1, seg6(far, 50000, k_wan, 8080, TCPF_SYN)).size(), 1u);
  ASSERT_EQ(t.pass6(0, seg6(k_client, 80, far, 50000, TCPF_SYN | TCPF_ACK)).size(), 1u);
  pkt_spec6 psh = tcp6(far, 50000, k_wan, 8080, TCPF_ACK | TCPF_PSH, 1001, 5001);
  psh.payload_len = 10;
  std::vector<seen6> out = t.pass6(1, psh);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].src, a6(k_wan));
  EXPECT_EQ(out[0].sport, 8080);
  EXPECT_EQ(out[0].dst, a6(far));
  EXPECT_EQ(out[0].dport, 50000);
  EXPECT_TRUE(out[0].l4.size() >= 14 && (out[0].l4[13] & TCPF_RST));
  EXPECT_TRUE(out[0].checksum_ok);
  // A new connection's SYN, rejected.
  out = t.pass6(1, seg6("2001:db8:99::8", 50001, k_wan, 8081, TCPF_SYN));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].src, a6(k_wan));
  EXPECT_EQ(out[0].sport, 8081);
  EXPECT_EQ(out[0].dst, a6("2001:db8:99::8"));
  EXPECT_TRUE(out[0].checksum_ok);
  // Its ICMPv6 port unreachable: from the public address, quoting the SYN as it was sent.
  out = t.pass6(1, seg6("2001:db8:99::9", 50002, k_wan, 8081, TCPF_SYN));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].proto, IPPROTO_ICMPV6);
  EXPECT_EQ(out[0].src, a6(k_wan));
  EXPECT_EQ(out[0].dst, a6("2001:db8:99::9"));
  EXPECT_TRUE(out[0].checksum_ok);
  ASSERT_GE(out[0].l4.size(), 8u + 40 + 8);
  ipv6_addr quoted_src, quoted_dst;
  std::memcpy(quoted_src.b, out[0].l4.data() + 8 + 8, 16);
  std::memcpy(quoted_dst.b, out[0].l4.data() + 8 + 24, 16);
  EXPECT_EQ(quoted_src, a6("2001:db8:99::9"));
  EXPECT_EQ(quoted_dst, a6(k_wan));
  EXPECT_EQ(out[0].l4[8 + 40 + 2] << 8 | out[0].l4[8 + 40 + 3], 8081);
  // The quoted TCP header's checksum is right for the quoted addresses, as the client sent it.
  EXPECT_TRUE(ipv6_l4_cksum_ok(out[0].l4.data() + 8, out[0].l4.data() + 8 + 40,
                               out[0].l4.size() - 8 - 40, IPPROTO_TCP));
}

}  // namespace
}  // namespace ctgate::test
