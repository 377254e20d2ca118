// The bridge family (`table bridge NAME`): its chains, priorities and link-layer fields (ether
// saddr|daddr|type, vlan id, meta ibrname|obrname) parse and list as nft lists them (the
// expected listings were printed by `nft list ruleset` on this machine's kernel, 6.18, for
// the same files, but for meta ibrname|obrname and ct, which this kernel has no modules for);
// what a bridge table refuses; and the compiled chains matching crafted frames the way the
// bridge path hands them over (pkt_meta::l2_flags, vlan, in_port and out_port).
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/worker.h"
#include "nft_test_util.h"
#include "packet/pkt_meta.h"
#include "ruleset/ast.h"
#include "ruleset/compiled.h"
#include "ruleset/nft_chain.h"

namespace ctgate::nft {
namespace {

std::string parse_err(const std::string& text) {
  result<ruleset> rs = parse_string(text, "rs.nft");
  EXPECT_FALSE(rs.ok()) << text;
  return rs ? "" : rs.error().to_string();
}

// The error of `rule` in a forward chain of a bridge table (line 3).
std::string bridge_rule_err(const std::string& rule) {
  return parse_err("table bridge t {\n  chain c {\n    " + rule + "\n  }\n}\n");
}

// --- parsing and listing ----------------------------------------------------------------------

constexpr const char* k_input = R"(table bridge filter {
	set macs {
		type ether_addr
		elements = { 02:00:00:00:0B:05, 2:0:0:0:0:1, 0a:bb:cc:dd:ee:ff }
	}
	set vendor {
		type ether_addr
		flags interval
		elements = { 02:00:00:00:00:00-02:00:00:00:00:ff }
	}
	set seen {
		typeof ether saddr
		elements = { 02:00:00:00:0b:05 }
	}
	set types {
		type ether_type
		flags interval
		elements = { ip, 0x0806, 0x88b5-0x88b6 }
	}
	map by_mac {
		type ether_addr : verdict
		elements = { 02:00:00:00:00:01 : accept, 02:00:00:00:00:02 : drop }
	}
	set mac_type {
		type ether_addr . ether_type
		elements = { 02:00:00:00:00:01 . ip, 02:00:00:00:00:01 . arp }
	}
	chain early {
		type filter hook prerouting priority dstnat; policy accept;
		ether saddr 02:00:00:00:0B:05 drop
		ether daddr { 02:00:00:00:0b:05, 0a:bb:cc:dd:ee:ff } counter
		ether saddr @macs accept
		ether saddr != @vendor drop
		ether daddr != 2:0:0:0:0:1 accept
		ether saddr 02:00:00:00:00:00-02:00:00:00:00:ff accept
		ether daddr ff:ff:ff:ff:ff:ff ether type arp accept
		ether type ip6 accept
		ether type 0x1234 accept
		ether type != vlan accept
		ether type { ip, ip6, arp } accept
		ether type 0x0800-0x0806 accept
		ether type @types accept
		ether saddr . ether type @mac_type accept
		ether saddr vmap @by_mac
		ether type vmap { ip : accept, arp : drop }
	}
	chain through {
		type filter hook forward priority filter + 10; policy drop;
		vlan id 20 drop
		vlan id { 1, 20-30 } accept
		vlan id != 5 accept
		vlan id > 4000 drop
		ether type 8021q vlan id 10 accept
		meta protocol ip accept
		meta protocol vlan accept
		meta protocol { ip, ip6 } accept
		ether type ip ip saddr 10.0.0.0/8 accept
		meta protocol ip6 ip6 daddr ::1 accept
		ether type ip ether saddr 02:00:00:00:00:01 ip daddr 10.0.0.1 accept
		ether type 0x1234 ip saddr 10.0.0.1 accept
		ether type != ip ip saddr 10.0.0.1 accept
		ether type ip6 tcp dport 22 accept
		iifname "lo" ether saddr 02:00:00:00:00:01 tcp dport { 22, 80 } counter accept
		meta mark set 0x10 log prefix "fwd " limit rate 10/second quota 10 mbytes accept
	}
	chain leaving {
		type filter hook output priority out; policy accept;
	}
	chain last {
		type filter hook postrouting priority srcnat - 5; policy accept;
	}
	chain local {
		type filter hook input priority 0; policy accept;
	}
	chain first {
		type filter hook prerouting priority -310; policy accept;
	}
	chain after {
		type filter hook forward priority 100; policy accept;
	}
}
)";

// What the kernel's nft listed for k_input.
constexpr const char* k_listed = R"(table bridge filter {
	set macs {
		type ether_addr
		elements = { 02:00:00:00:00:01,
			     02:00:00:00:0b:05,
			     0a:bb:cc:dd:ee:ff }
	}

	set vendor {
		type ether_addr
		flags interval
		elements = { 02:00:00:00:00:00-02:00:00:00:00:ff }
	}

	set seen {
		typeof ether saddr
		elements = { 02:00:00:00:0b:05 }
	}

	set types {
		type ether_type
		flags interval
		elements = { ip,
			     arp,
			     0x88b5-0x88b6 }
	}

	map by_mac {
		type ether_addr : verdict
		elements = { 02:00:00:00:00:01 : accept,
			     02:00:00:00:00:02 : drop }
	}

	set mac_type {
		type ether_addr . ether_type
		elements = { 02:00:00:00:00:01 . ip,
			     02:00:00:00:00:01 . arp }
	}

	chain early {
		type filter hook prerouting priority dstnat; policy accept;
		ether saddr 02:00:00:00:0b:05 drop
		ether daddr { 02:00:00:00:0b:05, 0a:bb:cc:dd:ee:ff } counter packets 0 bytes 0
		ether saddr @macs accept
		ether saddr != @vendor drop
		ether daddr != 02:00:00:00:00:01 accept
		ether saddr 02:00:00:00:00:00-02:00:00:00:00:ff accept
		ether daddr ff:ff:ff:ff:ff:ff ether type arp accept
		ether type ip6 accept
		ether type 0x1234 accept
		ether type != 8021q accept
		ether type { ip, arp, ip6 } accept
		ether type 0x0800-0x0806 accept
		ether type @types accept
		ether saddr . ether type @mac_type accept
		ether saddr vmap @by_mac
		ether type vmap { ip : accept, arp : drop }
	}

	chain through {
		type filter hook forward priority filter + 10; policy drop;
		vlan id 20 drop
		vlan id { 1, 20-30 } accept
		vlan id != 5 accept
		vlan id > 4000 drop
		vlan id 10 accept
		meta protocol ip accept
		meta protocol 8021q accept
		meta protocol { ip, ip6 } accept
		ip saddr 10.0.0.0/8 accept
		ip6 daddr ::1 accept
		ether saddr 02:00:00:00:00:01 ip daddr 10.0.0.1 accept
		ether type 0x1234 ip saddr 10.0.0.1 accept
		ether type != ip ip saddr 10.0.0.1 accept
		ether type ip6 tcp dport 22 accept
		iifname "lo" ether saddr 02:00:00:00:00:01 tcp dport { 22, 80 } counter packets 0 bytes 0 accept
		meta mark set 0x00000010 log prefix "fwd " limit rate 10/second quota 10 mbytes accept
	}

	chain leaving {
		type filter hook output priority out; policy accept;
	}

	chain last {
		type filter hook postrouting priority srcnat - 5; policy accept;
	}

	chain local {
		type filter hook input priority 0; policy accept;
	}

	chain first {
		type filter hook prerouting priority dstnat - 10; policy accept;
	}

	chain after {
		type filter hook forward priority 100; policy accept;
	}
}
)";

TEST(BridgeFamily, ListsAsNft) {
  const ruleset rs = test::expect_lists_as(k_input, k_listed);
  ASSERT_EQ(rs.tables.size(), 1u);
  EXPECT_EQ(rs.tables[0].fam, family::bridge);
  EXPECT_EQ(rs.tables[0].chains[0].priority, -300);
  EXPECT_EQ(rs.tables[0].chains[1].priority, -190);
  EXPECT_EQ(rs.tables[0].chains[2].priority, 100);
  EXPECT_EQ(rs.tables[0].chains[3].priority, 295);
  EXPECT_TRUE(compile(rs, "rs.nft", {"lo"}, 1).ok());
}

// nft's meta expression prints the bridge names qualified (meta_key_is_unqualified: iif, oif,
// iifname, oifname, iifgroup, oifgroup only), and takes them unqualified too. ct reads as in
// the other families.
TEST(BridgeFamily, BridgeNamesAndConntrackList) {
  test::expect_lists_as(R"(table bridge t {
  chain c {
    type filter hook forward priority filter; policy accept
    ibrname "br0" obrname { "br1", "br2*" } accept
    meta ibrname != "br0" ct state established,related accept
    ct state invalid drop
  }
}
)",
                        R"(table bridge t {
	chain c {
		type filter hook forward priority filter; policy accept;
		meta ibrname "br0" meta obrname { "br1", "br2*" } accept
		meta ibrname != "br0" ct state established,related accept
		ct state invalid drop
	}
}
)");
}

// nft's std_prios for the bridge family, and the NAT names at their one hook (as the kernel's
// nft took and listed them); the ip family's names are not the bridge's.
TEST(BridgeFamily, NamedPriorities) {
  EXPECT_EQ(named_priority("dstnat", family::bridge), -300);
  EXPECT_EQ(named_priority("filter", family::bridge), -200);
  EXPECT_EQ(named_priority("out", family::bridge), 100);
  EXPECT_EQ(named_priority("srcnat", family::bridge), 300);
  EXPECT_EQ(named_priority("raw", family::bridge), std::nullopt);
  EXPECT_EQ(named_priority("out"), std::nullopt);
  EXPECT_EQ(named_priority("filter"), 0);
  for (const char* p : {"out", "dstnat", "srcnat", "raw", "mangle", "security"}) {
    const std::string text = std::string(
                                 "table bridge t {\n  chain c { type filter hook forward "
                                 "priority ") +
                             p + "; }\n}\n";
    EXPECT_NE(parse_err(text).find("error: invalid priority expression value in this context."),
              std::string::npos)
        << p;
  }
}

// An `ether type` (or, outside inet tables, `meta protocol`) nft would put in front of the match
// after it itself is dropped; one that names another protocol contradicts it (nft's words).
TEST(BridgeFamily, LinkLayerDependencies) {
  EXPECT_EQ(bridge_rule_err("ether type arp ip saddr 1.2.3.4 accept"),
            "rs.nft:3:20: error: conflicting protocols specified: arp vs. ip\n"
            "    ether type arp ip saddr 1.2.3.4 accept\n"
            "                   ^^^^^^^^");
  EXPECT_EQ(bridge_rule_err("ether type ip ip6 saddr ::1 accept"),
            "rs.nft:3:19: error: conflicting protocols specified: ip vs. ip6\n"
            "    ether type ip ip6 saddr ::1 accept\n"
            "                  ^^^^^^^^^");
  EXPECT_EQ(bridge_rule_err("ether type ip vlan id 10 accept"),
            "rs.nft:3:19: error: conflicting protocols specified: ether vs. vlan\n"
            "    ether type ip vlan id 10 accept\n"
            "                  ^^^^^^^");
  EXPECT_EQ(bridge_rule_err("meta protocol arp tcp dport 22 accept"),
            "rs.nft:3:23: error: conflicting protocols specified: arp vs. tcp\n"
            "    meta protocol arp tcp dport 22 accept\n"
            "                      ^^^^^^^^^");
  // In every family `ether type ip` goes; `meta protocol ip` in ip, ip6 and bridge tables, not
  // in inet ones (the kernel's nft listings).
  test::expect_lists_as(R"(table inet t {
  chain c {
    ether type ip ip saddr 1.2.3.4 accept
    meta protocol ip ip saddr 1.2.3.4 accept
    ether type ip ether type ip ip saddr . tcp dport { 1.2.3.4 . 22 } accept
  }
}
)",
                        R"(table inet t {
	chain c {
		ip saddr 1.2.3.4 accept
		meta protocol ip ip saddr 1.2.3.4 accept
		ip saddr . tcp dport { 1.2.3.4 . 22 } accept
	}
}
)");
  // nft forgets all but the last of several (and lists `ether type ip ip saddr ...` above,
  // which then reads back as `ip saddr ...`); ctgate takes them all as one.
  test::expect_lists_as(R"(table ip6 t {
  chain c {
    meta protocol ip6 ip6 saddr ::1 accept
    meta protocol ip6 meta protocol ip6 ip6 saddr ::1 accept
    meta protocol ip6 ether type ip6 ip6 saddr ::1 accept
  }
}
)",
                        R"(table ip6 t {
	chain c {
		ip6 saddr ::1 accept
		ip6 saddr ::1 accept
		ip6 saddr ::1 accept
	}
}
)");
  EXPECT_EQ(bridge_rule_err("ether type ip6 ether type ip ip saddr 1.2.3.4"),
            "rs.nft:3:34: error: conflicting protocols specified: ip6 vs. ip\n"
            "    ether type ip6 ether type ip ip saddr 1.2.3.4\n"
            "                                 ^^^^^^^^");
}

TEST(BridgeFamily, RefusedChainsAndStatements) {
  EXPECT_EQ(parse_err("table bridge t {\n  chain c { type nat hook postrouting priority srcnat; }\n"
                      "}\n"),
            "rs.nft:2:18: error: not supported: chain type nat in a bridge table (its chains are "
            "of type filter)\n"
            "  chain c { type nat hook postrouting priority srcnat; }\n"
            "                 ^^^");
  EXPECT_EQ(parse_err("table bridge t {\n  chain c { type route hook output priority out; }\n}\n"),
            "rs.nft:2:18: error: not supported: chain type route in a bridge table (its chains "
            "are of type filter)\n"
            "  chain c { type route hook output priority out; }\n"
            "                 ^^^^^");
  EXPECT_EQ(bridge_rule_err("tcp dport 22 reject with tcp reset"),
            "rs.nft:3:18: error: not supported: reject in a bridge table (the bridge path sends no "
            "packets of its own)\n"
            "    tcp dport 22 reject with tcp reset\n"
            "                 ^^^^^^");
  EXPECT_EQ(bridge_rule_err("tcp dport 80 synproxy"),
            "rs.nft:3:18: error: not supported: synproxy in a bridge table (the bridge path sends "
            "no packets of its own)\n"
            "    tcp dport 80 synproxy\n"
            "                 ^^^^^^^^");
  for (const char* nat : {"snat to 10.0.0.1", "dnat to 10.0.0.1", "masquerade", "redirect"}) {
    const std::string word = std::string(nat).substr(0, std::string(nat).find(' '));
    EXPECT_NE(bridge_rule_err(nat).find("rs.nft:3:5: error: not supported: " + word +
                                        " in a bridge table (a bridge neither routes nor "
                                        "translates)"),
              std::string::npos)
        << nat;
  }
  EXPECT_EQ(bridge_rule_err("udp dport 53 notrack"),
            "rs.nft:3:18: error: not supported: notrack in a bridge table (conntrack on the "
            "bridge path tracks every IP frame)\n"
            "    udp dport 53 notrack\n"
            "                 ^^^^^^^");
  EXPECT_EQ(bridge_rule_err("tcp flags syn tcp option maxseg size set rt mtu"),
            "rs.nft:3:19: error: not supported: rt mtu in a bridge table (the bridge path has no "
            "routes)\n"
            "    tcp flags syn tcp option maxseg size set rt mtu\n"
            "                  ^^^");
  EXPECT_EQ(bridge_rule_err("dup to 10.0.0.1"),
            "rs.nft:3:5: error: not supported: dup\n"
            "    dup to 10.0.0.1\n"
            "    ^^^");
  EXPECT_EQ(bridge_rule_err("fwd to \"p1\""),
            "rs.nft:3:5: error: not supported: fwd\n"
            "    fwd to \"p1\"\n"
            "    ^^^");
  // What the bridge path does have: clamping to a given MSS, marks, counters, sets.
  EXPECT_TRUE(parse_string("table bridge t {\n  set s { type ipv4_addr; flags dynamic; }\n"
                           "  counter n { }\n  chain c {\n"
                           "    tcp flags syn tcp option maxseg size set 1400\n"
                           "    ct state new add @s { ip saddr } counter name \"n\"\n"
                           "    meta mark set 1 ct mark set meta mark\n  }\n}\n",
                           "rs.nft")
                  .ok());
  // A timeout policy says which frames it is for: the table's own family is no layer 3.
  EXPECT_EQ(parse_err("table bridge t {\n  ct timeout slow { protocol tcp; }\n}\n"),
            "rs.nft:2:14: error: ct timeout 'slow' in a bridge table needs an l3proto: ip, ip6 or "
            "inet (the frames conntrack tracks)\n"
            "  ct timeout slow { protocol tcp; }\n"
            "             ^^^^");
  test::expect_lists_as(
      "table bridge t {\n  ct timeout slow { protocol tcp; l3proto ip; }\n}\n",
      "table bridge t {\n\tct timeout slow {\n\t\tprotocol tcp\n\t\tl3proto ip\n\t\tpolicy = {  "
      "}\n\t}\n}\n");
  EXPECT_EQ(parse_err("table netdev t { }\n"),
            "rs.nft:1:7: error: not supported: family netdev (ctgate reads ip, ip6, inet and "
            "bridge tables)\n"
            "table netdev t { }\n"
            "      ^^^^^^");
}

TEST(BridgeFamily, FieldErrors) {
  EXPECT_EQ(parse_err("table inet t {\n  chain c {\n    vlan id 10 accept\n  }\n}\n"),
            "rs.nft:3:5: error: not supported: vlan id outside a bridge table (ctgate's routed "
            "ports carry no VLANs)\n"
            "    vlan id 10 accept\n"
            "    ^^^^^^^");
  EXPECT_EQ(parse_err("table ip t {\n  chain c {\n    meta obrname \"br0\" accept\n  }\n}\n"),
            "rs.nft:3:5: error: meta obrname is only valid in a bridge table (nft: Could not "
            "process rule: Operation not supported)\n"
            "    meta obrname \"br0\" accept\n"
            "    ^^^^^^^^^^^^");
  EXPECT_EQ(bridge_rule_err("vlan id 4096"),
            "rs.nft:3:13: error: Value 4096 exceeds valid range 0-4095\n"
            "    vlan id 4096\n"
            "            ^^^^");
  EXPECT_EQ(bridge_rule_err("ether saddr 02:00:00:00:00 drop"),
            "rs.nft:3:17: error: invalid Ethernet address '02' (write six hex bytes: "
            "02:00:5e:00:00:01)\n"
            "    ether saddr 02:00:00:00:00 drop\n"
            "                ^^");
  EXPECT_EQ(bridge_rule_err("vlan pcp 3"),
            "rs.nft:3:10: error: not supported: vlan pcp\n"
            "    vlan pcp 3\n"
            "         ^^^");
  // ether fields read the frame in any family, as nft's do.
  EXPECT_TRUE(
      parse_string("table ip t { chain c { ether saddr 02:00:00:00:00:01 accept; } }", "rs.nft")
          .ok());
}

// --- compiling --------------------------------------------------------------------------------

const std::vector<std::string> k_ports = {"p0", "p1", "p2", "p3"};
const std::vector<bridge_members> k_bridges = {{"br0", {0, 1, 2}}, {"br1", {3}}, {"lab", {}}};

result<std::unique_ptr<compiled_ruleset>> compile_text(const std::string& text) {
  result<ruleset> rs = parse_string(text, "rs.nft");
  if (!rs) return rs.error();
  return compile(*rs, "rs.nft", k_ports, 1, k_bridges);
}

TEST(BridgeFamily, CompileErrors) {
  auto unknown = compile_text(
      "table bridge t {\n  chain c {\n    meta ibrname { \"br0\", \"br9\" } accept\n  }\n}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message,
            "unknown bridge 'br9' (bridges are named in the gateway config)");
  EXPECT_EQ(unknown.error().line, 3);
  EXPECT_TRUE(
      compile_text("table bridge t {\n  chain c {\n    meta ibrname \"x*\" accept\n  }\n}\n")
          .ok());  // a wildcard that names none, as for iifname
  auto live = compile_text("table bridge t {\n  set s { type ether_addr; flags dynamic; }\n}\n");
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.error().message,
            "not supported: Ethernet addresses in a dynamic set, a set with timeouts or a meter");
  auto meter = compile_text(
      "table bridge t {\n  chain c {\n    meter m { ether saddr limit rate 10/second }\n  }\n}\n");
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().line, 3);
}

// --- matching frames --------------------------------------------------------------------------

// A frame as the bridge path hands it to the chains: an mbuf with its metadata in the private
// area (where meta_of() looks) and its bytes in `data`, no mempool needed.
struct frame {
  rte_mbuf mb{};
  pkt_meta meta{};
  uint8_t data[128] = {};

  frame() {
    mb.buf_addr = data;
    mb.data_off = 0;
    mb.nb_segs = 1;
    mb.data_len = 64;
    mb.pkt_len = 64;
    meta.l3_off = 14;
    meta.l4_off = 34;
  }
  frame(const frame&) = delete;
  frame& operator=(const frame&) = delete;
};

// An IPv4 UDP frame from `src` to `dst` (MACs), tagged `vid` unless 0, switched by a bridge in
// VLAN `vlan` from port `in` to port `out`, at a hook where it has the tag it came with.
std::unique_ptr<frame> bridged_ipv4(const uint8_t dst[6], const uint8_t src[6], uint16_t vid,
                                    uint16_t in, uint16_t out, uint16_t vlan) {
  auto f = std::make_unique<frame>();
  std::memcpy(f->data, dst, 6);
  std::memcpy(f->data + 6, src, 6);
  uint8_t* type = f->data + 12;
  if (vid != 0) {
    const uint8_t tag[4] = {0x81, 0x00, static_cast<uint8_t>(vid >> 8), static_cast<uint8_t>(vid)};
    std::memcpy(type, tag, 4);
    type += 4;
    f->meta.l3_off = 18;
    f->meta.l4_off = 38;
    f->meta.l2_flags |= L2F_TAGGED | L2F_VLAN_ID;
  }
  type[0] = 0x08;
  type[1] = 0x00;
  type[2] = 0x45;
  f->meta.l4.proto = 17;
  f->meta.src = rte_cpu_to_be_32(0x0a000001);  // 10.0.0.1
  f->meta.dst = rte_cpu_to_be_32(0x0a000002);
  f->meta.sport = rte_cpu_to_be_16(4000);
  f->meta.dport = rte_cpu_to_be_16(53);
  f->meta.in_port = in;
  f->meta.out_port = out;
  f->meta.vlan = vlan;
  f->meta.l2_flags |= L2F_BRIDGED;
  return f;
}

constexpr uint8_t k_h1[6] = {0x02, 0, 0, 0, 0x0b, 0x01};
constexpr uint8_t k_h2[6] = {0x02, 0, 0, 0, 0x0b, 0x02};

class BridgeMatch : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(reinterpret_cast<char*>(meta_of(&probe_.mb)), reinterpret_cast<char*>(&probe_.meta));
  }

  // Compiles a bridge table whose forward chain `c` (policy accept) holds `rules`.
  void load(const std::string& rules, family fam = family::bridge) {
    const std::string table = fam == family::bridge ? "bridge" : "inet";
    auto c = compile_text("table " + table + " t {\n  chain c {\n    type filter hook forward " +
                          "priority 0; policy accept;\n" + rules + "\n  }\n}\n");
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    rs_ = std::move(*c);
  }
  verdict run(frame& f) { return nft_eval_chain(*w_, *rs_, 0, &f.mb); }
  bool dropped(frame& f) { return run(f) == verdict::drop; }

  frame probe_;
  std::unique_ptr<worker_ctx> w_ = std::make_unique<worker_ctx>();
  std::unique_ptr<compiled_ruleset> rs_;
};

TEST_F(BridgeMatch, EtherAddressesAndType) {
  load("ether saddr 02:00:00:00:0b:01 ether daddr { 02:00:00:00:0b:02, 02:00:00:00:0b:09 } drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10)));
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 10, 0, 1, 10)));  // tagged: the same addresses
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h1, k_h2, 0, 0, 1, 10)));
  // A packet without an Ethernet header (made by the gateway) has no ether fields.
  load("ether saddr != 02:00:00:00:0b:09 drop\nether type != arp drop");
  auto made = bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10);
  made->meta.l3_off = 0;
  EXPECT_FALSE(dropped(*made));
  // ether type is the wire's: 0x8100 for a tagged frame, whose meta protocol is the inner one.
  load("ether type vlan meta protocol ip drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 10, 0, 1, 10)));
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10)));
  load("ether type ip meta protocol ip drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10)));
  // A concatenation of both, and a map keyed by the address.
  load("ether saddr . ether type { 02:00:00:00:0b:01 . ip } drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10)));
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 20, 0, 1, 20)));
  load("ether saddr vmap { 02:00:00:00:0b:02 : drop, 02:00:00:00:0b:01 : accept }");
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10)));
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h1, k_h2, 0, 0, 1, 10)));
}

TEST_F(BridgeMatch, VlanId) {
  load("vlan id 20 drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 20, 0, 1, 20)));
  // Untagged at this hook, in the PVID 20: no tag, no `vlan id` (Linux's frame has none at
  // prerouting, nor where it leaves untagged).
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 20)));
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 10, 0, 1, 10)));
  // Received untagged, leaving tagged (L2F_VLAN_ID at forward): `vlan id`, and `ether type`
  // 8021q, as Linux's br_handle_vlan has tagged it before NF_BR_FORWARD.
  auto leaving_tagged = bridged_ipv4(k_h2, k_h1, 0, 0, 2, 20);
  leaving_tagged->meta.l2_flags |= L2F_VLAN_ID;
  EXPECT_TRUE(dropped(*leaving_tagged));
  load("ether type 8021q meta protocol ip drop");
  EXPECT_TRUE(dropped(*leaving_tagged));
  // Received tagged, leaving untagged: neither.
  auto leaving_untagged = bridged_ipv4(k_h2, k_h1, 20, 2, 1, 20);
  leaving_untagged->meta.l2_flags &= static_cast<uint8_t>(~L2F_VLAN_ID);
  EXPECT_FALSE(dropped(*leaving_untagged));
  load("vlan id 20 drop\nether type ip meta protocol ip drop");
  EXPECT_TRUE(dropped(*leaving_untagged));
  load("vlan id 20 drop");
  // A frame no bridge switched has no VLAN, whatever its metadata says.
  auto routed = bridged_ipv4(k_h2, k_h1, 0, 0, 1, 20);
  routed->meta.l2_flags = 0;
  EXPECT_FALSE(dropped(*routed));
  load("vlan id != 20 drop");
  EXPECT_FALSE(dropped(*routed));
}

TEST_F(BridgeMatch, BridgeNamesAreTheirMembers) {
  load("meta ibrname \"br0\" meta obrname \"br1\" drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 2, 3, 10)));
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 3, 3, 10)));
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 2, 1, 10)));
  // A flood has no output port: no bridge name, no interface name matches it, != neither.
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 2, k_out_port_flood, 10)));
  load("meta obrname != \"br1\" drop\noifname != \"p3\" drop\noif != \"p3\" drop");
  EXPECT_FALSE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 2, k_out_port_flood, 10)));
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 2, 1, 10)));
  // Only a bridge's frames have bridge names.
  load("meta ibrname { \"br*\", \"lab\" } drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 3, 1, 10)));
  auto routed = bridged_ipv4(k_h2, k_h1, 0, 3, 1, 10);
  routed->meta.l2_flags = 0;
  EXPECT_FALSE(dropped(*routed));
}

// ARP and other frames that are not IP: no ip, L4 or meta l4proto field matches them, with
// either operator (nft's implicit `ether type ip`), while the link-layer fields do.
TEST_F(BridgeMatch, NonIpFramesMatchNoIpField) {
  auto arp = [] {
    auto f = bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10);
    f->data[12] = 0x08;
    f->data[13] = 0x06;
    f->meta.l2_flags |= L2F_NOT_IP;
    f->meta.l4 = l4_info{};
    return f;
  };
  load(
      "ip saddr 10.0.0.1 drop\nip saddr != 10.0.0.9 drop\nip protocol != tcp drop\n"
      "meta l4proto != tcp drop\nudp dport != 1 drop\nip6 saddr != ::1 drop\nip ttl != 0 drop");
  EXPECT_FALSE(dropped(*arp()));
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10)));
  load("ether type arp meta protocol arp ether saddr 02:00:00:00:0b:01 drop");
  EXPECT_TRUE(dropped(*arp()));
  // The rule nft lists as `ip saddr 10.0.0.1`: the written `ether type ip` is gone from it, so
  // it matches a tagged frame as the listing does.
  load("ether type ip ip saddr 10.0.0.1 drop");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 10, 0, 1, 10)));
}

// meta nfproto is the hook's family: NFPROTO_BRIDGE for a bridge's frames (nft takes the
// field in inet tables only, whose chains see routed packets; a map reads it anywhere).
TEST_F(BridgeMatch, NfprotoOfABridgedFrame) {
  load("meta nfproto vmap { 7 : drop }");
  EXPECT_TRUE(dropped(*bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10)));
  auto routed = bridged_ipv4(k_h2, k_h1, 0, 0, 1, 10);
  routed->meta.l2_flags = 0;
  EXPECT_FALSE(dropped(*routed));
}

}  // namespace
}  // namespace ctgate::nft
