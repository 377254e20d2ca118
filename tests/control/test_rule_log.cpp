// nft `log` lines against the kernel's (lib/control/rule_log.cpp): the frames below were sent
// through a Linux router (this machine's kernel, 6.18) whose forward chain held the rules of
// kernel_log_rules.nft, and the lines are what its nf_log_syslog wrote (dmesg, with
// nf_log_all_netns=1), its interfaces renamed lan and wan. The same frames through ctgate, with the
// same rules, must give the same lines, byte for byte. How they were made: docs/design/log.md.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_env.h"
#include "control/kernel_log_corpus.h"
#include "control/rule_log.h"
#include "control/ruleset_runtime.h"

namespace ctgate::test {
namespace {

// The kernel's rules (kernel_log_rules.nft, the file kernel_log_oracle.sh loads).
std::string kernel_rules() {
  std::ifstream in(CTGATE_KERNEL_LOG_RULES);
  EXPECT_TRUE(in) << "cannot read " << CTGATE_KERNEL_LOG_RULES;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The frames the client sent (scapy), in order, from its Ethernet header.
const char* const k_frames[] = {
    "020000000101020000000102080045b9003c10e140004006116f0a5801020a5802029c401b59000003e8"
    "00000000a002faf049a10000020405b40402080a000030390000000001030307",
    "02000000010102000000010208004500004610e200004006521d0a5801020a5802029c411b5a000007d0"
    "00000bb8a03801f5d8590007020405b40402080a00003039000000000103030778787878787878787878",
    "02000000010102000000010208004500002810e300004011522f0a5801020a58020214e91b5b0014f70d"
    "757575757575757575757575",
    "02000000010102000000010208004500002410e40000400152420a5801020a580202080035ee004d0003"
    "7070707070707070",
    "02000000010102000000010208004500003810e500004001522d0a5801020a580202030314ca00000000"
    "4500001c00090000321171150a5802020a5801021b5b14e90014b7da",
    "02000000010102000000010208004500004410e60000400152200a5801020a58020203040f5200000578"
    "45000028000a0000400663130a5802020a5801021b599c40000000050000000650102000c07c0000",
    "02000000010102000000010208004500002c10e70000402f52090a5801020a5802020000080067676767"
    "67676767676767676767676767676767",
    "02000000010102000000010208004500002c10e82000401132260a5801020a58020200011b5b0018997b"
    "66666666666666666666666666666666",
    "02000000010102000000010208004500002410e800034011522b0a5801020a5802026666666666666666"
    "6666666666666666",
    "02000000010102000000010208004600002c10e9000040064f2f0a5801020a580202010101009c421b61"
    "000000090000000050022000c0820000",
    "02000000010102000000010208004500002810ea0000400653340a5801020a5801019c431b620000000a"
    "0000000050022000c1800000",
    "02000000010102000000010286dd6b8123450028064020010db800880001000000000000000220010db8"
    "0088000200000000000000029c441b590000000b00000000a002fd2006750000020405b40402080a0000"
    "30390000000001030307",
    "02000000010102000000010286dd600000000028064020010db800880001000000000000000220010db8"
    "0088000200000000000000029c451b5a0000000c00000000a0422000e3520000020405b40402080a0000"
    "30390000000001030307",
    "02000000010102000000010286dd6000000000103a4020010db800880001000000000000000220010db8"
    "00880002000000000000000280008d8b000500066565656565656565",
    "02000000010102000000010286dd6000000000383a4020010db800880001000000000000000220010db8"
    "00880002000000000000000202002ad500000500600000000008114020010db800880002000000000000"
    "000220010db80088000100000000000000021b5b14e900087311",
    "02000000010102000000010286dd6000000000202c4020010db800880001000000000000000220010db8"
    "008800020000000000000002110000010000abcd00021b5b0018fc4c7171717171717171717171717171"
    "7171",
    "02000000010102000000010286dd6000000000182c4020010db800880001000000000000000220010db8"
    "008800020000000000000002110000180000abcd71717171717171717171717171717171",
    "02000000010102000000010286dd60000000001c004020010db800880001000000000000000220010db8"
    "0088000200000000000000023c00010400000000110001040000000000031b5b000cb71e68686868"};

// The kernel's lines for them, in order (a frame two rules log gives two).
const char* const k_kernel_lines[] = {
    "KA: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=60 TOS=0x18 PREC=0xA0 TTL=63 ID=4321 DF PROTO=TCP SPT=40000 DPT=7001 WI"
    "NDOW=64240 RES=0x00 SYN URGP=0 ",
    "KB: IN=lan OUT=wan MACSRC=02:00:00:00:01:02 MACDST=02:00:00:00:01:01 MACPROTO=0800 S"
    "RC=10.88.1.2 DST=10.88.2.2 LEN=70 TOS=0x00 PREC=0x00 TTL=63 ID=4322 PROTO=TCP SPT=40"
    "001 DPT=7002 SEQ=2000 ACK=3000 WINDOW=501 RES=0x00 URG ACK PSH URGP=7 OPT (020405B40"
    "402080A000030390000000001030307) ",
    "KC: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=4323 PROTO=UDP SPT=5353 DPT=7003 LEN=20"
    " MARK=0x5 ",
    "KD: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=36 TOS=0x00 PREC=0x00 TTL=63 ID=4324 PROTO=ICMP TYPE=8 CODE=0 ID=77 SEQ"
    "=3 ",
    "KD: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=56 TOS=0x00 PREC=0x00 TTL=63 ID=4325 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.8"
    "8.2.2 DST=10.88.1.2 LEN=28 TOS=0x00 PREC=0x00 TTL=50 ID=9 PROTO=UDP SPT=7003 DPT=535"
    "3 LEN=20 ] ",
    "KD: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=68 TOS=0x00 PREC=0x00 TTL=63 ID=4326 PROTO=ICMP TYPE=3 CODE=4 [SRC=10.8"
    "8.2.2 DST=10.88.1.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=10 PROTO=TCP SPT=7001 DPT=40"
    "000 WINDOW=8192 RES=0x00 ACK URGP=0 ] MTU=1400 ",
    "KG: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=44 TOS=0x00 PREC=0x00 TTL=63 ID=4327 PROTO=47 ",
    "KC: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=44 TOS=0x00 PREC=0x00 TTL=63 ID=4328 MF PROTO=UDP SPT=1 DPT=7003 LEN=24"
    " MARK=0x5 ",
    "KH: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=36 TOS=0x00 PREC=0x00 TTL=63 ID=4328 FRAG:3 PROTO=UDP ",
    "KJ: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=1"
    "0.88.2.2 LEN=44 TOS=0x00 PREC=0x00 TTL=63 ID=4329 OPT (01010100) PROTO=TCP SPT=40002"
    " DPT=7009 WINDOW=8192 RES=0x00 SYN URGP=0 ",
    "KK: IN=lan OUT= MAC=02:00:00:00:01:01:02:00:00:00:01:02:08:00 SRC=10.88.1.2 DST=10.8"
    "8.1.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=4330 PROTO=TCP SPT=40003 DPT=7010 WINDOW=8"
    "192 RES=0x00 SYN URGP=0 ",
    "KA: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:86:dd SRC=2001:0db8:0088:"
    "0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:0002 LEN=80 TC=184 H"
    "OPLIMIT=63 FLOWLBL=74565 PROTO=TCP SPT=40004 DPT=7001 WINDOW=64800 RES=0x00 SYN URGP"
    "=0 ",
    "KB: IN=lan OUT=wan MACSRC=02:00:00:00:01:02 MACDST=02:00:00:00:01:01 MACPROTO=86dd S"
    "RC=2001:0db8:0088:0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:00"
    "02 LEN=80 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=TCP SPT=40005 DPT=7002 SEQ=12 ACK=0 WINDO"
    "W=8192 RES=0x00 ECE SYN URGP=0 OPT (020405B40402080A000030390000000001030307) ",
    "KE: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:86:dd SRC=2001:0db8:0088:"
    "0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:0002 LEN=56 TC=0 HOP"
    "LIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=5 SEQ=6 ",
    "KE: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:86:dd SRC=2001:0db8:0088:"
    "0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:0002 LEN=96 TC=0 HOP"
    "LIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=2 CODE=0 [SRC=2001:0db8:0088:0002:0000:0000:000"
    "0:0002 DST=2001:0db8:0088:0001:0000:0000:0000:0002 LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0"
    " PROTO=UDP SPT=7003 DPT=5353 LEN=8 ] MTU=1280 ",
    "KC: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:86:dd SRC=2001:0db8:0088:"
    "0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:0002 LEN=72 TC=0 HOP"
    "LIMIT=63 FLOWLBL=0 FRAG:0 INCOMPLETE ID:0000abcd PROTO=UDP SPT=2 DPT=7003 LEN=24 MAR"
    "K=0x5 ",
    "KF: IN=lan OUT=wan MACSRC=02:00:00:00:01:02 MACDST=02:00:00:00:01:01 MACPROTO=86dd S"
    "RC=2001:0db8:0088:0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:00"
    "02 LEN=72 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( FRAG:0 INCOMPLETE ID:0000abcd ) PROTO=UDP"
    " SPT=2 DPT=7003 LEN=24 MARK=0x5 ",
    "KF: IN=lan OUT=wan MACSRC=02:00:00:00:01:02 MACDST=02:00:00:00:01:01 MACPROTO=86dd S"
    "RC=2001:0db8:0088:0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:00"
    "02 LEN=64 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( FRAG:24 ID:0000abcd ) PROTO=UDP ",
    "KC: IN=lan OUT=wan MAC=02:00:00:00:01:01:02:00:00:00:01:02:86:dd SRC=2001:0db8:0088:"
    "0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:0002 LEN=68 TC=0 HOP"
    "LIMIT=63 FLOWLBL=0 PROTO=UDP SPT=3 DPT=7003 LEN=12 MARK=0x5 ",
    "KI: IN=lan OUT=wan MACSRC=02:00:00:00:01:02 MACDST=02:00:00:00:01:01 MACPROTO=86dd S"
    "RC=2001:0db8:0088:0001:0000:0000:0000:0002 DST=2001:0db8:0088:0002:0000:0000:0000:00"
    "02 LEN=68 TC=0 HOPLIMIT=63 FLOWLBL=0 OPT ( ) OPT ( ) PROTO=UDP SPT=3 DPT=7003 LEN=12"
    " MARK=0x5 "};

std::vector<uint8_t> unhex(const std::string& h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// The kernel's router: lan 10.88.1.1/24 and 2001:db8:88:1::1/64 (MAC 02:00:00:00:01:01), wan
// 10.88.2.1/24 and 2001:db8:88:2::1/64, the server .2 on wan; no conntrack, so fragments
// reach the rules as they came, as in the kernel's namespace.
gateway_config router_config() {
  gateway_config c = default_config();
  c.ports[0].address = {ip("10.88.1.1"), 24};
  parse_ipv6_prefix("2001:db8:88:1::1/64", &c.ports[0].address6.emplace());
  c.ports[1].address = {ip("10.88.2.1"), 24};
  parse_ipv6_prefix("2001:db8:88:2::1/64", &c.ports[1].address6.emplace());
  c.neighbors = {{ip("10.88.2.2"), "02:00:00:00:02:02", "wan", 0}};
  neighbor_config n6;
  n6.v6 = true;
  parse_ipv6("2001:db8:88:2::2", &n6.address6);
  n6.mac = "02:00:00:00:02:02";
  n6.port = "wan";
  c.neighbors.push_back(n6);
  return c;
}

TEST(RuleLog, LinesAreTheKernels) {
  test_gateway t(router_config());
  set_port_mac(t.gw->ports[0], mac_addr{{0x02, 0, 0, 0, 0x01, 0x01}}.b);
  result<ruleset_summary> r = load_ruleset_text(*t.gw, kernel_rules(), "kernel_log_rules.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  for (const char* hex : k_frames) {
    const std::vector<uint8_t> f = unhex(hex);
    rte_mbuf* m = rte_pktmbuf_alloc(t.gw->mbuf_pool);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), f.data(), f.size());
    m->data_len = m->pkt_len = static_cast<uint32_t>(f.size());
    t.burst(0, {m});
  }
  std::vector<std::string> lines;
  nft_log_record rec;
  while (t.w->logs->pop(&rec)) lines.push_back(rule_log_line(*t.gw, rec));
  const size_t n = sizeof(k_kernel_lines) / sizeof(k_kernel_lines[0]);
  for (size_t i = 0; i < std::min(n, lines.size()); i++)
    EXPECT_EQ(lines[i], k_kernel_lines[i]) << "line " << i;
  EXPECT_EQ(lines.size(), n);
}

// What the kernel's source prints where the corpus has no packet: a later IPv4 fragment of AH
// prints no protocol at all (ESP's prints its name), and TCP options cut short print
// "OPT (TRUNCATED)".
TEST(RuleLog, AhFragmentsAndTruncatedTcpOptions) {
  gateway_config c = router_config();
  c.neighbors.clear();
  test_gateway t(c);
  nft_log_record r;
  r.hook = static_cast<uint8_t>(nft::hook::input);
  const uint8_t ah_frag[] = {0x45, 0, 0,  40, 0, 1, 0x00, 0x03, 63, 51, 0, 0, 10, 88,
                             1,    2, 10, 88, 2, 2, 0,    0,    0,  0,  0, 0, 0,  0};
  std::memcpy(r.net, ah_frag, sizeof(ah_frag));
  r.copied = r.l3_len = sizeof(ah_frag);
  EXPECT_EQ(rule_log_line(*t.gw, r),
            "IN=lan OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:00:00 SRC=10.88.1.2 "
            "DST=10.88.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=1 FRAG:3 ");
  r.net[9] = 50;  // ESP
  EXPECT_EQ(rule_log_line(*t.gw, r),
            "IN=lan OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:00:00 SRC=10.88.1.2 "
            "DST=10.88.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=1 FRAG:3 PROTO=ESP ");
  // A TCP header that says 60 bytes in a 40-byte datagram, with tcp options asked for.
  const uint8_t tcp[] = {0x45, 0, 0,  40, 0,    2,    0, 0,   63, 6,  0, 0, 10, 88,
                         1,    2, 10, 88, 2,    2,    0, 80,  0,  22, 0, 0, 0,  1,
                         0,    0, 0,  0,  0xf0, 0x02, 0, 100, 0,  0,  0, 0};
  std::memcpy(r.net, tcp, sizeof(tcp));
  r.copied = r.l3_len = sizeof(tcp);
  r.flags = nft::LOG_F_TCPOPT;
  EXPECT_EQ(rule_log_line(*t.gw, r),
            "IN=lan OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:00:00 SRC=10.88.1.2 "
            "DST=10.88.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=2 PROTO=TCP SPT=80 DPT=22 "
            "WINDOW=100 RES=0x00 SYN URGP=0 OPT (TRUNCATED)");
}

// The formatter alone over the kernel's corpus (kernel_log_corpus.h): 71 packets, TCP, UDP,
// UDP-Lite, ICMP and ICMPv6 of every kind with their quotes, fragments of both families, IP
// options, extension headers, AH, ESP, GRE, SCTP, truncated headers, marks; each logged in the
// forward chain with every flag combination. The record is what log_packet copies for the
// packet at the forward hook, where its TTL or hop limit is already one less.
TEST(RuleLog, EveryLineOfTheKernelsCorpus) {
  gateway_config c = router_config();
  c.ports[0].name = "rc0";
  c.ports[1].name = "rs0";
  c.neighbors.clear();
  test_gateway t(c);
  size_t checked = 0;
  for (const kernel_log::line& l : kernel_log::k_lines) {
    const kernel_log::packet& p = kernel_log::k_packets[l.packet];
    std::vector<uint8_t> net = unhex(p.l3_hex);
    const bool v6 = (net[0] >> 4) == 6;
    net[v6 ? 7 : 8]--;  // forwarded: hop limit or TTL decremented before the forward hook
    nft_log_record r;
    const std::string text = l.text;
    const std::string prefix = text.substr(0, text.find("IN="));
    std::strncpy(r.prefix, prefix.c_str(), sizeof(r.prefix) - 1);
    r.flags = l.flags;
    r.mark = l.mark;
    r.hook = static_cast<uint8_t>(nft::hook::forward);
    r.v6 = v6;
    r.in_port = 0;
    r.out_port = 1;
    r.l3_len = static_cast<uint16_t>(net.size());
    r.copied = static_cast<uint16_t>(std::min<size_t>(k_log_copy, net.size()));
    std::memcpy(r.net, net.data(), r.copied);
    mac_addr dst, src;
    ASSERT_TRUE(parse_mac(p.eth_dst, dst.b));
    ASSERT_TRUE(parse_mac(p.eth_src, src.b));
    std::memcpy(r.mac, dst.b, 6);
    std::memcpy(r.mac + 6, src.b, 6);
    r.mac[12] = v6 ? 0x86 : 0x08;
    r.mac[13] = v6 ? 0xdd : 0x00;
    EXPECT_EQ(rule_log_line(*t.gw, r), text) << p.name;
    checked++;
  }
  EXPECT_EQ(checked, sizeof(kernel_log::k_lines) / sizeof(kernel_log::k_lines[0]));
}

}  // namespace
}  // namespace ctgate::test
