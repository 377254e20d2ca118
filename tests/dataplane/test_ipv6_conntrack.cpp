// Conntrack for IPv6 through the worker pipeline: tuples keyed by address digests with the
// full addresses compared, the ICMPv6 tracker, errors RELATED through their quote, neighbour
// discovery untracked, per-family hook registration, and conntrack -L as conntrack-tools
// prints IPv6 (checked against this machine's kernel, docs/design/ipv6.md).
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <cstring>
#include <set>
#include <vector>

#include "common/test_env.h"
#include "conntrack/ct_format.h"
#include "control/ruleset_runtime.h"
#include "dataplane/ipv6_env.h"
#include "packet/cksum.h"
#include "synproxy/synproxy.h"

namespace ctgate::test {
namespace {

constexpr const char* k_client = "2001:db8:1::2";
constexpr const char* k_server = "2001:db8:2::2";

// A stateful inet forward policy: replies and related errors in, new flows from lan only.
constexpr const char* k_stateful = R"(table inet f {
  chain fwd {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct state invalid counter drop
    iifname "lan" ct state new accept
  }
}
)";

class ct6_gateway : public v6_gateway {
 public:
  explicit ct6_gateway(bool acct = false) : v6_gateway(config(acct)) {}
  static gateway_config config(bool acct) {
    gateway_config c = v6_config();
    c.conntrack.tcp_loose = false;
    c.conntrack.acct = acct;
    return c;
  }
  void load(const std::string& text) {
    result<ruleset_summary> r = load_ruleset_text(*gw, text, "test.nft");
    ASSERT_TRUE(r) << r.error().to_string();
  }
  std::vector<std::string> lines(const std::string& filter) {
    result<ct::ct_filter> f = ct::parse_filter(filter);
    EXPECT_TRUE(f) << f.error().message;
    return ct::list_lines(*gw->ct.table, f ? *f : ct::ct_filter{}, w->now_ms);
  }
  // How many packets a burst of one packet sent out.
  size_t pass6(uint16_t port, const pkt_spec6& s) {
    clear_sent();
    send6(port, s);
    return sent.size();
  }
};

// The TCP handshake through an inet table, listed exactly as conntrack-tools lists the
// kernel's IPv6 entries (plain: no family; -o extended: "ipv6     10").
TEST(Ipv6Conntrack, TcpLifecycleThroughAnInetTableListsAsConntrackTools) {
  ct6_gateway t;
  t.load(k_stateful);
  EXPECT_EQ(t.gw->ct_hooks_registered.load(), HOOK_FAM_IPV4 | HOOK_FAM_IPV6);
  EXPECT_EQ(t.pass6(0, tcp6(k_client, 40000, k_server, 80, TCPF_SYN, 1000, 0)), 1u);
  std::vector<std::string> l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "tcp      6 120 SYN_SENT src=2001:db8:1::2 dst=2001:db8:2::2 sport=40000 dport=80 "
            "[UNREPLIED] src=2001:db8:2::2 dst=2001:db8:1::2 sport=80 dport=40000 mark=0 use=1");
  EXPECT_EQ(t.pass6(1, tcp6(k_server, 80, k_client, 40000, TCPF_SYN | TCPF_ACK, 5000, 1001)), 1u);
  EXPECT_EQ(t.pass6(0, tcp6(k_client, 40000, k_server, 80, TCPF_ACK, 1001, 5001)), 1u);
  l = t.lines("family=ipv6 output=extended");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "ipv6     10 tcp      6 432000 ESTABLISHED src=2001:db8:1::2 dst=2001:db8:2::2 "
            "sport=40000 dport=80 src=2001:db8:2::2 dst=2001:db8:1::2 sport=80 dport=40000 "
            "[ASSURED] mark=0 use=1");
  EXPECT_TRUE(t.lines("family=ipv4").empty());
  EXPECT_EQ(t.lines("src=2001:db8:1::2 dport=80").size(), 1u);
  EXPECT_TRUE(t.lines("src=2001:db8:2::2").empty());
  EXPECT_TRUE(t.lines("src=10.0.1.2").empty());  // an IPv4 address never matches IPv6
  // A new flow from wan is refused; a stray ACK is INVALID (tcp_loose off), dropped.
  EXPECT_EQ(t.pass6(1, tcp6(k_server, 81, k_client, 40001, TCPF_SYN, 1, 0)), 0u);
  EXPECT_EQ(t.pass6(0, tcp6(k_client, 40002, k_server, 80, TCPF_ACK, 1, 1)), 0u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::insert), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::found), 2u);
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
}

// ICMPv6 echo: a flow of its own, replied with 129, on the icmpv6 timeout (30 s); neighbour
// discovery stays untracked, as Linux leaves it.
TEST(Ipv6Conntrack, EchoIsTrackedAndNeighbourDiscoveryIsNot) {
  ct6_gateway t;
  t.load(k_stateful);
  EXPECT_EQ(t.pass6(0, echo6(k_client, k_server, icmp6::echo_request, 7)), 1u);
  EXPECT_EQ(t.pass6(1, echo6(k_server, k_client, icmp6::echo_reply, 7)), 1u);
  const std::vector<std::string> l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "icmpv6   58 30 src=2001:db8:1::2 dst=2001:db8:2::2 type=128 code=0 id=7 "
            "src=2001:db8:2::2 dst=2001:db8:1::2 type=129 code=0 id=7 mark=0 use=1");
  // An unsolicited reply is no query: INVALID, dropped; a reply of the wrong id is a new
  // (invalid) flow too.
  EXPECT_EQ(t.pass6(1, echo6(k_server, k_client, icmp6::echo_reply, 8)), 0u);
  // A neighbour solicitation for the gateway is answered, untracked.
  pkt_spec6 ns = echo6("fe80::99", "ff02::1:ff00:1", icmp6::neighbour_solicit, 0);
  ns.hop_limit = 255;
  uint8_t body[16];
  std::memcpy(body, a6("2001:db8:1::1").b, 16);
  ns.payload = body;
  ns.payload_len = sizeof body;
  const uint64_t untracked = t.ct_counter(ct::ct_counter::untracked);
  t.clear_sent();
  t.send6(0, ns);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::untracked), untracked + 1);
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
  // Echo to the gateway itself is tracked on the input path.
  EXPECT_EQ(t.pass6(0, echo6(k_client, "2001:db8:1::1", icmp6::echo_request, 9)), 1u);
  EXPECT_EQ(t.lines("proto=icmpv6 dst=2001:db8:1::1").size(), 1u);
}

// An ICMPv6 error is RELATED to the flow its quote names (the quoted header's addresses,
// compared in full), and INVALID when it names none.
TEST(Ipv6Conntrack, ErrorsAreRelatedThroughTheirQuote) {
  ct6_gateway t;
  t.load(k_stateful);
  pkt_spec6 u = udp6(k_client, "2001:db8:99::5", 53);
  ASSERT_EQ(t.pass6(0, u), 1u);
  // The router behind wan answers port unreachable, quoting the datagram.
  rte_mbuf* sent = t.sent[0].second;
  std::vector<uint8_t> quote(rte_pktmbuf_mtod_offset(sent, const uint8_t*, 14),
                             rte_pktmbuf_mtod_offset(sent, const uint8_t*, 14) + 40 + 8 + 12);
  auto error_from = [&](const std::vector<uint8_t>& q) {
    pkt_spec6 e = echo6("2001:db8:99::1", k_client, icmp6::dest_unreach, 0);
    e.icmp_code = 4;
    e.icmp_seq = 0;
    e.payload = q.data();
    e.payload_len = static_cast<uint16_t>(q.size());
    return e;
  };
  EXPECT_EQ(t.pass6(1, error_from(quote)), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::related), 1u);
  // The same quote with another source address: no such flow.
  std::vector<uint8_t> other = quote;
  other[8 + 15] ^= 0x40;
  EXPECT_EQ(t.pass6(1, error_from(other)), 0u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_icmp_error), 1u);
}

// Two flows whose keys are equal with different addresses (a digest collision, forced here by
// rewriting the stored addresses: SipHash under a random key gives no way to find one) are
// never merged: the packet is INVALID, counted, and the flow keeps its entry.
TEST(Ipv6Conntrack, ADigestCollisionNeverMergesTwoFlows) {
  ct6_gateway t;
  t.load(k_stateful);
  ASSERT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 1u);
  ASSERT_EQ(t.conntrack_lines().size(), 1u);
  ct::entry_view v{};
  bool found = false;
  ct::scan(*t.gw->ct.table, {}, [&](const ct::entry_view& e) {
    v = e;
    found = true;
  });
  ASSERT_TRUE(found);
  ct::ct_addr6* stored = t.gw->ct.table->addr6_at(v.pos);
  const ct::ct_addr6 real = *stored;
  stored->src = a6("2001:db8:1::77");
  EXPECT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 0u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::clash_addr6), 1u);
  *stored = real;
  EXPECT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::found), 1u);
}

// Linux registers conntrack per family: an ip table's ct rule tracks IPv4 only, and IPv6
// passes untracked until an inet table asks for it. The hook listing is per family too.
TEST(Ipv6Conntrack, AnIpTableTracksIpv4OnlyAnInetTableBoth) {
  ct6_gateway t;
  t.load(
      "table ip f { chain fwd { type filter hook forward priority 0; ct state new counter } }\n");
  EXPECT_EQ(t.gw->ct_hooks_registered.load(), HOOK_FAM_IPV4);
  EXPECT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 1u);
  EXPECT_TRUE(t.conntrack_lines().empty());
  bool v6_hooks = false;
  for (const auto& e : t.gw->hooks->list()) v6_hooks |= (e.families & HOOK_FAM_IPV6) != 0;
  EXPECT_FALSE(v6_hooks);
  t.load(
      "table inet g { chain fwd { type filter hook forward priority 0; ct state new counter } }\n");
  EXPECT_EQ(t.gw->ct_hooks_registered.load(), HOOK_FAM_IPV4 | HOOK_FAM_IPV6);
  std::vector<std::string> v6_names;
  for (const auto& e : t.gw->hooks->list())
    if (e.families == HOOK_FAM_IPV6) v6_names.push_back(e.name);
  EXPECT_EQ(v6_names,
            (std::vector<std::string>{"ipv6_defrag", "ipv6_conntrack_in", "ipv6_confirm",
                                      "ipv6_defrag", "ipv6_conntrack_local", "ipv6_confirm"}));
  EXPECT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 1u);
  EXPECT_EQ(t.lines("family=ipv6 proto=udp").size(), 1u);
}

// Accounting counts IPv6's whole datagram (header included), as Linux counts skb->len. A bad
// checksum is INVALID; a UDP checksum of zero passes, as Linux's udp_error lets it for IPv6 too.
TEST(Ipv6Conntrack, AccountingAndTheZeroUdpChecksum) {
  ct6_gateway t(true);
  t.load(k_stateful);
  ASSERT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 1u);  // 40 + 8 + 12 bytes
  const std::vector<std::string> l = t.lines("family=ipv6");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0].find("sport=4000 dport=53 packets=1 bytes=60 [UNREPLIED]"), std::string::npos)
      << l[0];
  rte_mbuf* m = t.make6(udp6(k_client, k_server, 54));
  uint8_t* udp = rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 40);
  udp[6] ^= 0x01;
  t.clear_sent();
  t.burst(0, {m});
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), 1u);
  m = t.make6(udp6(k_client, k_server, 55));
  udp = rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 40);
  udp[6] = udp[7] = 0;
  t.clear_sent();
  t.burst(0, {m});
  EXPECT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_checksum), 1u);
}

// The seed experiments over IPv6 (test_seed_experiments.cpp has IPv4's).

// Table full: conntrack.max = 7 and 10 SYNs of distinct IPv6 flows give 7 entries and 3 drops
// (or early drops), counted and logged once; IPv6 and IPv4 flows share the one bound.
TEST(Ipv6SeedExperiments, TableFullDropsNewFlows) {
  gateway_config c = v6_config();
  c.conntrack.enable_hooks = true;
  c.conntrack.max = 7;
  v6_gateway t(c);
  counting_hook raw, mangle;
  ASSERT_TRUE(t.gw->hooks->add(hook_point::prerouting, PRI_RAW, "raw", counting_hook::fn, &raw, 0,
                               HOOK_FAM_IPV6));
  ASSERT_TRUE(t.gw->hooks->add(hook_point::prerouting, PRI_MANGLE, "mangle", counting_hook::fn,
                               &mangle, 0, HOOK_FAM_IPV6));
  for (uint16_t p = 10000; p < 10010; p++)
    t.send6(0, tcp6(k_client, p, "2001:db8:1::1", 80, TCPF_SYN, 1, 0));
  // Early drop samples positions drawn from a new flow's hash, which for IPv6 comes from the
  // addresses' keyed digests, a new key per gateway: in a table this sparse it rarely finds a
  // victim, but it may (IPv4's test, with fixed hashes, never does). Each eviction lets one
  // more flow in.
  const uint64_t evicted = t.ct_counter(ct::ct_counter::early_drop);
  EXPECT_EQ(raw.packets, 10u);
  EXPECT_EQ(mangle.packets, 7u + evicted);
  const std::vector<std::string> lines = t.conntrack_lines();
  EXPECT_EQ(lines.size(), 7u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::drop) + evicted, 3u);
  EXPECT_EQ(t.gw->ct.full_log.emitted(), t.ct_counter(ct::ct_counter::drop) != 0 ? 1u : 0u);
  // An IPv4 flow finds the table full too.
  t.send(0, tcp("10.0.1.2", 10000, "10.0.1.1", 80, TCPF_SYN));
  EXPECT_EQ(t.ct_counter(ct::ct_counter::drop) + t.ct_counter(ct::ct_counter::early_drop), 4u);
  // Packets of existing flows are never affected.
  ASSERT_FALSE(lines.empty());
  const size_t at = lines[0].find("sport=");
  ASSERT_NE(at, std::string::npos);
  const auto sport = static_cast<uint16_t>(std::stoi(lines[0].substr(at + 6)));
  const uint64_t mangled = mangle.packets, dropped = t.ct_counter(ct::ct_counter::drop);
  t.send6(0, tcp6(k_client, sport, "2001:db8:1::1", 80, TCPF_SYN, 1, 0));
  EXPECT_EQ(mangle.packets, mangled + 1);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::drop), dropped);
}

// The first article's last experiment over IPv6: an ip6 chain at 2147483647 registered before
// conntrack runs after ipv6_confirm, and the load warns about it by that name.
TEST(Ipv6SeedExperiments, IntMaxChainAfterIpv6ConfirmIsWarnedAbout) {
  v6_gateway t;
  result<ruleset_summary> r = load_ruleset_text(*t.gw, R"(
table ip6 late {
  chain in {
    type filter hook input priority 2147483647; policy accept;
    tcp dport 2570 counter drop
  }
}
table inet stateful {
  chain forward {
    type filter hook forward priority filter;
    ct state established,related accept
  }
}
)",
                                                "test.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("runs AFTER ipv6_confirm"), std::string::npos) << r->warnings[0];
}

// Loose mode picks up a stray ACK (ESTABLISHED, 300 s, unreplied); strict mode calls it INVALID
// and rules decide.
TEST(Ipv6SeedExperiments, StrayAckLooseVersusStrict) {
  {
    gateway_config c = v6_config();
    c.conntrack.enable_hooks = true;
    v6_gateway t(c);
    t.send6(0, tcp6(k_client, 5555, k_server, 80, TCPF_ACK, 1, 1));
    const std::vector<std::string> l = t.conntrack_lines();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0],
              "tcp      6 300 ESTABLISHED src=2001:db8:1::2 dst=2001:db8:2::2 sport=5555 "
              "dport=80 [UNREPLIED] src=2001:db8:2::2 dst=2001:db8:1::2 sport=80 dport=5555 "
              "mark=0 use=1");
  }
  {
    gateway_config c = v6_config();
    c.conntrack.enable_hooks = true;
    c.conntrack.tcp_loose = false;
    v6_gateway t(c);
    t.send6(0, tcp6(k_client, 5555, k_server, 80, TCPF_ACK, 1, 1));
    EXPECT_TRUE(t.conntrack_lines().empty());
    EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid), 1u);
    EXPECT_EQ(t.sent.size(), 1u);
  }
}

// Idle IPv6 flows expire on the injected clock: UDP at 30 s, an echo at the icmpv6 timeout.
TEST(Ipv6SeedExperiments, IdleFlowsExpire) {
  gateway_config c = v6_config();
  c.conntrack.enable_hooks = true;
  c.conntrack.timeouts.icmpv6 = 10;
  v6_gateway t(c);
  t.send6(0, udp6(k_client, k_server, 53));
  t.send6(0, echo6(k_client, k_server, icmp6::echo_request, 3));
  ASSERT_EQ(t.conntrack_lines().size(), 2u);
  t.w->now_ms += 11000;
  t.tick();
  ASSERT_EQ(t.conntrack_lines().size(), 1u);
  EXPECT_EQ(t.conntrack_lines()[0].rfind("udp      17 ", 0), 0u) << t.conntrack_lines()[0];
  t.w->now_ms += 20000;
  t.tick();
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_EQ(t.ct_counter(ct::ct_counter::expired), 2u);
}

}  // namespace
}  // namespace ctgate::test

namespace ctgate::test {
namespace {

// symhash reads an IPv6 packet's addresses (each folded to 32 bits): both directions of a flow
// get one number, and flows between different hosts spread over the range.
TEST(Ipv6Rules, SymhashIsTheSameBothWaysOverIpv6) {
  ct6_gateway t;
  t.load(R"(table inet f {
  chain fwd { type filter hook forward priority 0; meta mark set symhash mod 4 offset 10; }
})");
  std::set<uint32_t> seen;
  for (uint16_t p = 1000; p < 1040; ++p) {
    pkt_spec6 there = udp6(k_client, k_server, 53);
    there.sport = p;
    pkt_spec6 back = udp6(k_server, k_client, p);
    back.sport = 53;
    ASSERT_EQ(t.pass6(0, there), 1u);
    const uint32_t a = meta_of(t.sent[0].second)->mark;
    ASSERT_EQ(t.pass6(1, back), 1u);
    const uint32_t b = meta_of(t.sent[0].second)->mark;
    EXPECT_EQ(a, b) << "port " << p;
    EXPECT_GE(a, 10u);
    EXPECT_LT(a, 14u);
    seen.insert(a);
  }
  EXPECT_GE(seen.size(), 3u);  // 40 flows over 4 values
}

// ct original|reply ip6 saddr|daddr read the connection's tuples, the same for both
// directions; an IPv4 connection matches neither == nor != (nft's `meta nfproto ipv6`).
TEST(Ipv6Rules, CtIp6AddressesReadTheConnection) {
  ct6_gateway t;
  t.load(R"(table inet f {
  chain fwd { type filter hook forward priority 0; policy accept;
    ct original ip6 saddr . ct reply ip6 saddr { 2001:db8:1::2 . 2001:db8:2::2 } meta mark set 7
    ct original ip6 daddr != 2001:db8:2::2 drop
    ct reply ip6 daddr 2001:db8:1::3 drop
  }
})");
  pkt_spec6 back = udp6(k_server, k_client, 4000);
  back.sport = 53;
  ASSERT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 1u);
  EXPECT_EQ(meta_of(t.sent[0].second)->mark, 7u);
  ASSERT_EQ(t.pass6(1, back), 1u);
  EXPECT_EQ(meta_of(t.sent[0].second)->mark, 7u);
  EXPECT_EQ(t.pass6(0, udp6("2001:db8:1::3", k_server, 53)), 0u);
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 4000, "10.0.2.2", 53));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(meta_of(t.sent[0].second)->mark, 0u);
}

// ctgatectl trace names an IPv6 packet by its ip6 addresses and next header.
TEST(Ipv6Rules, TraceListsIpv6Addresses) {
  ct6_gateway t;
  t.load(R"(table inet f {
  chain fwd { type filter hook forward priority 0; udp dport 53 meta nftrace set 1; accept; }
})");
  ASSERT_EQ(t.pass6(0, udp6(k_client, k_server, 53)), 1u);
  size_t packets = 0;
  const std::string lines = trace_read(*t.gw, &packets);
  EXPECT_EQ(packets, 1u) << lines;
  EXPECT_NE(lines.find("packet: iif \"lan\" ip6 saddr 2001:db8:1::2 ip6 daddr 2001:db8:2::2 "
                       "ip6 nexthdr udp udp sport 4000 udp dport 53"),
            std::string::npos)
      << lines;
}

// ---------------------------------------------------------------- synproxy over IPv6

// The synproxy ruleset nft users write, in an inet table: it now answers IPv6 SYNs too.
constexpr const char* k_synproxy6 = R"(table inet raw {
  chain pre { type filter hook prerouting priority raw; tcp dport 80 tcp flags syn notrack; }
}
table inet filter {
  chain fwd {
    type filter hook forward priority filter;
    tcp dport 80 ct state invalid,untracked synproxy mss 1460
    ct state invalid drop
  }
}
)";

// One TCP segment the gateway sent: where, its addresses, numbers and whether its checksum
// (over IPv6's pseudo-header) holds.
struct seg6 {
  uint16_t port = 0;
  ipv6_addr src, dst;
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  bool checksum_ok = false;
};

std::vector<seg6> take_segments6(ct6_gateway& t) {
  std::vector<seg6> out;
  for (auto& [port, mb] : t.sent) {
    const auto* ip = rte_pktmbuf_mtod_offset(mb, const rte_ipv6_hdr*, sizeof(rte_ether_hdr));
    EXPECT_EQ(ip->proto, IPPROTO_TCP);
    const auto* th = reinterpret_cast<const rte_tcp_hdr*>(ip + 1);
    seg6 x;
    x.port = port;
    std::memcpy(x.src.b, ip->src_addr, 16);
    std::memcpy(x.dst.b, ip->dst_addr, 16);
    x.sport = rte_be_to_cpu_16(th->src_port);
    x.dport = rte_be_to_cpu_16(th->dst_port);
    x.seq = rte_be_to_cpu_32(th->sent_seq);
    x.ack = rte_be_to_cpu_32(th->recv_ack);
    x.flags = th->tcp_flags;
    x.window = rte_be_to_cpu_16(th->rx_win);
    const uint16_t len = rte_be_to_cpu_16(ip->payload_len);
    x.checksum_ok = len == mb->pkt_len - sizeof(rte_ether_hdr) - sizeof(rte_ipv6_hdr) &&
                    ipv6_l4_cksum_ok(reinterpret_cast<const uint8_t*>(ip),
                                     reinterpret_cast<const uint8_t*>(th), len, IPPROTO_TCP);
    out.push_back(x);
  }
  t.clear_sent();
  return out;
}

// The whole proxied handshake over IPv6, as over IPv4: the SYN answered with a cookie and
// nothing allocated; the cookie ACK opens the entry (with its full addresses) and sends our
// SYN to the server; the server's SYN-ACK becomes the ACK that completes its handshake and a
// window update to the client; data is translated both ways for the connection's life.
TEST(Ipv6Synproxy, HandshakeAndTranslationThroughAnInetTable) {
  ct6_gateway t;
  t.load(k_synproxy6);
  const ipv6_addr client = a6(k_client), server = a6(k_server);
  constexpr uint8_t S = TCPF_SYN, A = TCPF_ACK;
  t.send6(0, tcp6(k_client, 40000, k_server, 80, S, 7000, 0));
  std::vector<seg6> out = take_segments6(t);
  ASSERT_EQ(out.size(), 1u);  // the cookie, back to the client, from the server's address
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].flags, S | A);
  EXPECT_TRUE(out[0].src == server);
  EXPECT_TRUE(out[0].dst == client);
  EXPECT_EQ(out[0].sport, 80);
  EXPECT_EQ(out[0].ack, 7001u);
  EXPECT_EQ(out[0].window, 0);
  EXPECT_TRUE(out[0].checksum_ok);
  const uint32_t cookie = out[0].seq;
  EXPECT_EQ(t.gw->ct.table->count(), 0);  // nothing allocated for the SYN

  // A forged ACK: dropped, nothing allocated.
  t.send6(0, tcp6(k_client, 40000, k_server, 80, A, 7001, cookie + 2));
  EXPECT_TRUE(take_segments6(t).empty());
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_invalid), 1u);
  // The cookie from another client address (the same digest key, another pair): refused.
  t.send6(0, tcp6("2001:db8:1::3", 40000, k_server, 80, A, 7001, cookie + 1));
  EXPECT_TRUE(take_segments6(t).empty());
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_invalid), 2u);

  t.send6(0, tcp6(k_client, 40000, k_server, 80, A, 7001, cookie + 1));
  out = take_segments6(t);
  ASSERT_EQ(out.size(), 1u);  // our SYN to the server, with the client's ISN
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].flags, S);
  EXPECT_TRUE(out[0].src == client);
  EXPECT_TRUE(out[0].dst == server);
  EXPECT_EQ(out[0].seq, 7000u);
  EXPECT_TRUE(out[0].checksum_ok);
  std::vector<std::string> l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "tcp      6 120 SYN_SENT src=2001:db8:1::2 dst=2001:db8:2::2 sport=40000 dport=80 "
            "[UNREPLIED] src=2001:db8:2::2 dst=2001:db8:1::2 sport=80 dport=40000 mark=0 use=1");

  t.send6(1, tcp6(k_server, 80, k_client, 40000, S | A, 90000, 7001));
  out = take_segments6(t);
  ASSERT_EQ(out.size(), 2u);
  const seg6& to_server = out[0].port == 1 ? out[0] : out[1];
  const seg6& to_client = out[0].port == 1 ? out[1] : out[0];
  EXPECT_EQ(to_server.flags, A);  // completes the server's handshake
  EXPECT_TRUE(to_server.src == client);
  EXPECT_TRUE(to_server.dst == server);
  EXPECT_EQ(to_server.seq, 7001u);
  EXPECT_EQ(to_server.ack, 90001u);
  EXPECT_TRUE(to_server.checksum_ok);
  EXPECT_EQ(to_client.port, 0);  // the window update, in the client's sequence space
  EXPECT_EQ(to_client.flags, A);
  EXPECT_TRUE(to_client.src == server);
  EXPECT_TRUE(to_client.dst == client);
  EXPECT_EQ(to_client.seq, cookie + 1);
  EXPECT_EQ(to_client.ack, 7001u);
  EXPECT_GT(to_client.window, 0);
  EXPECT_TRUE(to_client.checksum_ok);

  // Data both ways: the server's sequence numbers translated to the cookie's and back.
  pkt_spec6 up = tcp6(k_client, 40000, k_server, 80, A, 7001, cookie + 1);
  up.payload_len = 100;
  t.send6(0, up);
  out = take_segments6(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(out[0].ack, 90001u);
  EXPECT_TRUE(out[0].checksum_ok);
  pkt_spec6 down = tcp6(k_server, 80, k_client, 40000, A, 90001, 7101);
  down.payload_len = 50;
  t.send6(1, down);
  out = take_segments6(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].seq, cookie + 1);
  EXPECT_TRUE(out[0].checksum_ok);
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::handshakes_completed), 1u);
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_valid), 1u);
  EXPECT_EQ(t.dp(dp_counter::unconfirmed_leaked), 0u);
  l = t.lines("family=ipv6");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0].find("ESTABLISHED src=2001:db8:1::2 dst=2001:db8:2::2 sport=40000 dport=80"),
            std::string::npos)
      << l[0];
}

// An ip6 table takes the statement now; IPv4 SYNs do not reach it (its chains see IPv6 only),
// and the hook listing shows synproxy's callback for both families.
TEST(Ipv6Synproxy, AnIp6TableProxiesIpv6Only) {
  ct6_gateway t;
  t.load(R"(table ip6 raw {
  chain pre { type filter hook prerouting priority raw; tcp dport 80 tcp flags syn notrack; }
}
table ip6 filter {
  chain fwd {
    type filter hook forward priority filter;
    tcp dport 80 ct state invalid,untracked synproxy mss 1460
  }
}
)");
  EXPECT_EQ(t.pass6(0, tcp6(k_client, 40000, k_server, 80, TCPF_SYN, 1, 0)), 1u);
  EXPECT_EQ(t.sent[0].first, 0);  // the cookie
  t.clear_sent();
  t.send(0, tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_SYN));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);  // IPv4: forwarded
  t.clear_sent();
  int found = 0;
  for (const hook_registry::listing_entry& h : t.gw->hooks->list()) {
    if (h.name != "synproxy") continue;
    found++;
    EXPECT_EQ(h.hp, hook_point::postrouting);
    EXPECT_EQ(h.families, HOOK_FAM_IPV4 | HOOK_FAM_IPV6);
  }
  EXPECT_EQ(found, 1);
}

// The automatic defence protects IPv6 ports as well: with cookie mode on, a SYN to a
// protected port is answered with a cookie and allocates nothing, and the cookie ACK opens
// the connection to the server in its place.
TEST(Ipv6Synproxy, AutomaticDefenceAnswersIpv6Syns) {
  gateway_config c = ct6_gateway::config(false);
  c.synproxy.enable = true;
  c.synproxy.ports = {80};
  v6_gateway t(c);
  t.gw->synproxy->auto_mode.on.store(true);
  t.send6(0, tcp6(k_client, 40000, k_server, 80, TCPF_SYN, 7000, 0));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 0);
  const auto* th = rte_pktmbuf_mtod_offset(t.sent[0].second, const rte_tcp_hdr*,
                                           sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr));
  EXPECT_EQ(th->tcp_flags, TCPF_SYN | TCPF_ACK);
  const uint32_t cookie = rte_be_to_cpu_32(th->sent_seq);
  t.clear_sent();
  EXPECT_EQ(t.gw->ct.table->count(), 0);
  t.send6(0, tcp6(k_client, 40000, k_server, 80, TCPF_ACK, 7001, cookie + 1));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);  // the SYN, to the server
  th = rte_pktmbuf_mtod_offset(t.sent[0].second, const rte_tcp_hdr*,
                               sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr));
  EXPECT_EQ(th->tcp_flags, TCPF_SYN);
  t.clear_sent();
  EXPECT_EQ(t.gw->ct.table->count(), 1);
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_valid), 1u);
}

// What synproxy leaves alone over IPv6: a SYN from a multicast source (no SYN-ACK to a group;
// routing drops it as a martian), and any IPv6 packet when no port has IPv6, where conntrack
// keeps no IPv6 addresses (a gateway with no address6 still sees IPv6 frames). Both through
// the automatic defence and through the statement, whose chain is shown to see the packets.
TEST(Ipv6Synproxy, NoCookieToAGroupNorWithoutIpv6) {
  for (bool with_v6 : {true, false}) {
    gateway_config c = with_v6 ? ct6_gateway::config(false) : default_config();
    c.synproxy.enable = true;
    c.synproxy.ports = {80};
    v6_gateway t(c);
    t.gw->synproxy->auto_mode.on.store(true);
    t.send6(0, tcp6("ff02::1", 40000, k_server, 80, TCPF_SYN, 7000, 0));
    t.send6(0, tcp6(with_v6 ? k_client : "fe80::2", 40000, with_v6 ? k_server : "fe80::1", 80,
                    TCPF_SYN, 7000, 0));
    t.send6(0, tcp6(with_v6 ? k_client : "fe80::2", 40000, with_v6 ? k_server : "fe80::1", 80,
                    TCPF_ACK, 7001, 1));
    EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_sent), with_v6 ? 1u : 0u);
    EXPECT_EQ(t.dp(dp_counter::unconfirmed_leaked), 0u);
    t.clear_sent();
  }
  // The statement, without IPv6 in conntrack: a SYN and an ACK to the lan port's link-local
  // address reach the input chain (local: no route needed) and get no cookie.
  v6_gateway t(default_config());
  result<ruleset_summary> r = load_ruleset_text(
      *t.gw,
      "table inet f { chain input { type filter hook input priority 0; tcp dport 80 synproxy "
      "mss 1460 wscale 7; } }\n",
      "test.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  pkt_spec6 syn = tcp6("fe80::2", 40000, "fe80::1", 80, TCPF_SYN, 7000, 0);
  std::memcpy(syn.dst, t.gw->ports[0].link_local.b, 16);
  pkt_spec6 ack = syn;
  ack.tcp_flags = TCPF_ACK;
  ack.seq = 7001;
  ack.ack = 1;
  t.send6(0, syn);
  t.send6(0, ack);
  uint64_t seen = 0;
  for (const hook_registry::listing_entry& h : t.gw->hooks->list())
    if (h.name == "nft f input") seen = t.w->hook_pkts[h.id].get();
  EXPECT_EQ(seen, 2u);
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_sent), 0u);
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_invalid), 0u);
  EXPECT_EQ(t.dp(dp_counter::unconfirmed_leaked), 0u);
}

}  // namespace
}  // namespace ctgate::test
