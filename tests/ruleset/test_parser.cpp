// Unit tests for the nftables-subset parser and printer (lib/ruleset): every construct and the
// tree it produces, the first article's commands, includes and defines, nft-style listings
// that parse back to the same tree, exact error texts (file, line, column, source line,
// caret), and mutated inputs that must never crash.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "nft_test_util.h"
#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {
namespace {
// A value as a number (an IPv6 address in hex).
std::string num(ctgate::nft::uint128 v) {
  if (v <= UINT64_MAX) return std::to_string(static_cast<uint64_t>(v));
  char buf[40];
  std::snprintf(buf, sizeof buf, "0x%016llx%016llx", static_cast<unsigned long long>(v >> 64),
                static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

namespace {

namespace fs = std::filesystem;

constexpr uint32_t ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

// Everything in a tree except positions and as-written text, one item a line, so that a
// mismatch between two trees shows up as a readable diff.
std::string dump(const ruleset& rs) {
  std::string out;
  auto add = [&out](const std::string& s) { out += s + "\n"; };
  for (const table& t : rs.tables) {
    add("table " + std::to_string(static_cast<int>(t.fam)) + " " + t.name);
    for (const set& s : t.sets) {
      std::string e;
      // A set's elements have no order (nft lists one field's sorted): compare them sorted.
      std::vector<value_range> elems = s.elems;
      if (s.width() == 1) std::sort(elems.begin(), elems.end());
      for (const value_range& r : elems) e += " " + num(r.lo) + "-" + num(r.hi);
      add(" set " + s.name + " " + s.type + " " + std::to_string(s.interval) + e);
    }
    for (const chain& c : t.chains) {
      add(" chain " + c.name + " base=" + std::to_string(c.base) + " " + c.type +
          " hook=" + std::to_string(static_cast<int>(c.hook)) +
          " prio=" + std::to_string(c.priority) + " drop=" + std::to_string(c.policy_drop));
      for (const rule& r : c.rules) {
        add("  rule comment='" + r.comment + "'");
        for (const match& m : r.matches) {
          std::string e;
          std::vector<value_range> elems = m.rhs.elems;
          if (m.concat.empty()) std::sort(elems.begin(), elems.end());
          for (const value_range& v : elems) e += " " + num(v.lo) + "-" + num(v.hi);
          add("   match f=" + std::to_string(static_cast<int>(m.f)) +
              " op=" + std::to_string(static_cast<int>(m.op)) + " set=" + m.rhs.set_name +
              " str=" + m.rhs.str + " mask=" + std::to_string(m.rhs.mask) +
              " value=" + std::to_string(m.rhs.value) + e);
        }
        for (const statement& s : r.stmts)
          add("   stmt k=" + std::to_string(static_cast<int>(s.kind)) + " target=" + s.target +
              " prefix=" + s.log_prefix + " reject=" + std::to_string(static_cast<int>(s.reject)) +
              " rate=" + std::to_string(s.rate) + " unit=" +
              std::to_string(static_cast<int>(s.unit)) + " burst=" + std::to_string(s.burst) +
              " over=" + std::to_string(s.over) + " value=" + std::to_string(s.value) +
              " packets=" + std::to_string(s.packets) + " bytes=" + std::to_string(s.bytes) +
              " nat=" + std::to_string(static_cast<int>(s.nat.kind)) + "," +
              std::to_string(s.nat.has_addr) + "," + std::to_string(s.nat.addr_min) + "-" +
              std::to_string(s.nat.addr_max) + "," + std::to_string(s.nat.has_port) + "," +
              std::to_string(s.nat.port_min) + "-" + std::to_string(s.nat.port_max) + "," +
              std::to_string(s.nat.flags) + "," + std::to_string(s.nat.show_family));
      }
    }
  }
  return out;
}

ruleset parse_ok(const std::string& text, const std::string& name = "rs.nft") {
  result<ruleset> rs = parse_string(text, name);
  EXPECT_TRUE(rs.ok()) << text << "\n" << rs.error().to_string();
  return rs ? *rs : ruleset{};
}

std::string parse_err(const std::string& text, const std::string& name = "rs.nft") {
  result<ruleset> rs = parse_string(text, name);
  EXPECT_FALSE(rs.ok()) << text;
  return rs ? "" : rs.error().to_string();
}

// The error of parse_file(path), which must fail.
error file_err(const std::string& path) {
  result<ruleset> rs = parse_file(path);
  EXPECT_FALSE(rs.ok()) << path;
  return rs ? error{} : rs.error();
}

// format() output parses back to the same tree, and formatting that gives the same text.
void expect_round_trip(const ruleset& rs) {
  const std::string text = format(rs);
  result<ruleset> again = parse_string(text, "listing.nft");
  ASSERT_TRUE(again.ok()) << text << "\n" << again.error().to_string();
  EXPECT_EQ(dump(rs), dump(*again)) << text;
  EXPECT_EQ(format(*again), text);
}

// The single rule of `table FAM t { chain c { RULE } }`, checked to round-trip.
rule rule_of(const std::string& r, const std::string& fam = "ip") {
  const ruleset rs = parse_ok("table " + fam + " t {\n  chain c {\n    " + r + "\n  }\n}\n");
  if (rs.tables.size() != 1 || rs.tables[0].chains.size() != 1 ||
      rs.tables[0].chains[0].rules.size() != 1) {
    ADD_FAILURE() << "no single rule in: " << r;
    return {};
  }
  expect_round_trip(rs);
  return rs.tables[0].chains[0].rules[0];
}

match match_of(const std::string& r, const std::string& fam = "ip") {
  const rule rl = rule_of(r, fam);
  if (rl.matches.size() != 1) {
    ADD_FAILURE() << "expected one match in: " << r;
    return {};
  }
  return rl.matches[0];
}

statement stmt_of(const std::string& r, const std::string& fam = "ip") {
  const rule rl = rule_of(r, fam);
  if (rl.stmts.size() != 1) {
    ADD_FAILURE() << "expected one statement in: " << r;
    return {};
  }
  return rl.stmts[0];
}

// The error of one rule line; the rule is on line 3 after four spaces (column 5).
std::string rule_err(const std::string& r) {
  return parse_err("table ip t {\n  chain c {\n    " + r + "\n  }\n}\n");
}

std::vector<value_range> ranges(std::initializer_list<std::pair<uint64_t, uint64_t>> list) {
  std::vector<value_range> out;
  for (const auto& [lo, hi] : list) out.push_back({lo, hi});
  return out;
}

std::string ranges_text(const std::vector<value_range>& v) {
  std::string out = "{";
  for (const value_range& r : v) out += " " + num(r.lo) + "-" + num(r.hi);
  return out + " }";
}

::testing::AssertionResult elems_are(const std::vector<value_range>& got,
                                     const std::vector<value_range>& want) {
  bool same = got.size() == want.size();
  for (size_t i = 0; same && i < got.size(); ++i)
    same = got[i].lo == want[i].lo && got[i].hi == want[i].hi;
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << ranges_text(got) << ", want " << ranges_text(want);
}

// --- structure ------------------------------------------------------------------------------

TEST(RulesetStructure, TablesFamiliesAndDefaultFamily) {
  const ruleset rs = parse_ok(
      "table ip a { }\n"
      "table inet b { }\n"
      "table c { }\n"
      "table inet a { }\n");
  ASSERT_EQ(rs.tables.size(), 4u);
  EXPECT_EQ(rs.tables[0].fam, family::ip);
  EXPECT_EQ(rs.tables[0].name, "a");
  EXPECT_EQ(rs.tables[1].fam, family::inet);
  EXPECT_EQ(rs.tables[2].fam, family::ip);  // nft's default family
  EXPECT_EQ(rs.tables[2].name, "c");
  EXPECT_EQ(rs.tables[3].fam, family::inet);  // same name, other family: another table
  EXPECT_EQ(rs.tables[1].loc.line, 2);
  EXPECT_EQ(rs.tables[1].loc.col, 12);
  EXPECT_FALSE(rs.flush);
}

TEST(RulesetStructure, FlushRulesetDiscardsWhatCameBefore) {
  const ruleset rs = parse_ok(
      "table ip old { chain c { jump nowhere } }\n"
      "flush ruleset\n"
      "table ip new { }\n");
  EXPECT_TRUE(rs.flush);
  ASSERT_EQ(rs.tables.size(), 1u);
  EXPECT_EQ(rs.tables[0].name, "new");
}

TEST(RulesetStructure, BaseChainHooksAndNamedPriorities) {
  const char* hooks[] = {"prerouting", "input", "forward", "output", "postrouting"};
  for (int h = 0; h < 5; ++h) {
    const ruleset rs = parse_ok(std::string("table ip t {\n chain c {\n  type filter hook ") +
                                hooks[h] + " priority filter; policy drop;\n }\n}\n");
    const chain& c = rs.tables[0].chains[0];
    EXPECT_TRUE(c.base);
    EXPECT_EQ(c.type, "filter");
    EXPECT_EQ(static_cast<int>(c.hook), h);
    EXPECT_EQ(c.priority, 0);
    EXPECT_NE(format(rs).find(" priority filter;"), std::string::npos);
    EXPECT_TRUE(c.policy_drop);
    expect_round_trip(rs);
  }
  struct {
    const char* hook;
    const char* prio;
    int32_t value;
    const char* text;
  } cases[] = {// `text`: as nft 1.0.6 lists it (dstnat only at prerouting, srcnat only at
               // postrouting, where alone it takes them; within 10 of a name, as an offset)
               {"prerouting", "raw", -300, "raw"},
               {"prerouting", "mangle", -150, "mangle"},
               {"prerouting", "dstnat", -100, "dstnat"},
               {"output", "-100", -100, "-100"},
               {"input", "security", 50, "security"},
               {"postrouting", "srcnat", 100, "srcnat"},
               {"postrouting", "srcnat + 10", 110, "srcnat + 10"},
               {"input", "100", 100, "100"},
               {"input", "95", 95, "95"},
               {"forward", "raw - 10", -310, "raw - 10"},
               {"forward", "filter+5", 5, "filter + 5"},
               {"forward", "-5", -5, "filter - 5"},
               {"forward", "40", 40, "security - 10"},
               {"forward", "11", 11, "11"},
               {"forward", "-150", -150, "mangle"},
               {"input", "0x10", 16, "16"},
               {"input", "2147483647", INT32_MAX, "2147483647"},
               {"input", "-2147483648", INT32_MIN, "-2147483648"}};
  for (const auto& c : cases) {
    const ruleset rs = parse_ok(std::string("table ip t { chain c { type filter hook ") + c.hook +
                                " priority " + c.prio + "; } }");
    EXPECT_EQ(rs.tables[0].chains[0].priority, c.value) << c.prio;
    EXPECT_NE(format(rs).find(std::string(" priority ") + c.text + ";"), std::string::npos)
        << c.prio << "\n"
        << format(rs);
    EXPECT_FALSE(rs.tables[0].chains[0].policy_drop);
    expect_round_trip(rs);
  }
}

TEST(RulesetStructure, NamedPriorityTable) {
  EXPECT_EQ(named_priority("raw"), -300);
  EXPECT_EQ(named_priority("mangle"), -150);
  EXPECT_EQ(named_priority("dstnat"), -100);
  EXPECT_EQ(named_priority("filter"), 0);
  EXPECT_EQ(named_priority("security"), 50);
  EXPECT_EQ(named_priority("srcnat"), 100);
  EXPECT_EQ(named_priority("conntrack"), std::nullopt);
  EXPECT_EQ(named_priority(""), std::nullopt);
}

TEST(RulesetStructure, RegularChainsAndStatementSeparators) {
  const ruleset rs = parse_ok(
      "table inet t {\n"
      "  chain base { type filter hook input priority 0; policy accept; jump sub; }\n"
      "  chain sub { tcp dport 22 accept; udp dport 53 accept\n"
      "    return }\n"
      "}\n");
  const table& t = rs.tables[0];
  ASSERT_EQ(t.chains.size(), 2u);
  EXPECT_TRUE(t.chains[0].base);
  ASSERT_EQ(t.chains[0].rules.size(), 1u);
  EXPECT_FALSE(t.chains[1].base);
  EXPECT_EQ(t.chains[1].rules.size(), 3u);
  EXPECT_EQ(t.chains[1].loc.line, 3);
  EXPECT_EQ(t.chains[1].rules[1].loc.line, 3);
  EXPECT_EQ(t.chains[1].rules[1].loc.col, 36);
  EXPECT_EQ(t.chains[1].rules[1].loc.len, 19);  // "udp dport 53 accept"
  expect_round_trip(rs);
}

TEST(RulesetStructure, CommentsAndBlankLines) {
  const ruleset rs = parse_ok(
      "# leading comment\n\n"
      "table ip t { # after a brace\n"
      "  chain c {\n"
      "    tcp dport 22 accept # trailing\n"
      "    # a whole line\n"
      "  }\n"
      "}\n");
  EXPECT_EQ(rs.tables[0].chains[0].rules.size(), 1u);
}

TEST(RulesetStructure, NamedSetsOfEveryType) {
  const ruleset rs = parse_ok(
      "table ip t {\n"
      "  set a { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.1,\n"
      "          172.16.0.1-172.16.0.9, } }\n"
      "  set p {\n"
      "    type inet_service\n"
      "    elements = { 22, https, 8080 }\n"
      "  }\n"
      "  set q { type inet_service; flags interval; elements = { 1000-2000 } }\n"
      "  set r { type inet_proto; elements = { tcp, udp, 47 } }\n"
      "  set m { type mark; elements = { 0x1, 2 } }\n"
      "  set e { type ipv4_addr; }\n"
      "}\n");
  const table& t = rs.tables[0];
  ASSERT_EQ(t.sets.size(), 6u);
  EXPECT_EQ(t.sets[0].type, "ipv4_addr");
  EXPECT_TRUE(t.sets[0].interval);
  EXPECT_TRUE(elems_are(t.sets[0].elems, ranges({{ip4(10, 0, 0, 0), ip4(10, 255, 255, 255)},
                                                 {ip4(192, 168, 1, 1), ip4(192, 168, 1, 1)},
                                                 {ip4(172, 16, 0, 1), ip4(172, 16, 0, 9)}})));
  EXPECT_EQ(t.sets[0].elem_text,
            (std::vector<std::string>{"10.0.0.0/8", "192.168.1.1", "172.16.0.1-172.16.0.9"}));
  EXPECT_FALSE(t.sets[1].interval);
  EXPECT_TRUE(elems_are(t.sets[1].elems, ranges({{22, 22}, {443, 443}, {8080, 8080}})));
  EXPECT_EQ(t.sets[1].elem_text[1], "https");
  EXPECT_TRUE(elems_are(t.sets[2].elems, ranges({{1000, 2000}})));
  EXPECT_TRUE(elems_are(t.sets[3].elems, ranges({{6, 6}, {17, 17}, {47, 47}})));
  EXPECT_TRUE(elems_are(t.sets[4].elems, ranges({{1, 1}, {2, 2}})));
  EXPECT_TRUE(t.sets[5].elems.empty());
  EXPECT_EQ(t.sets[1].loc.line, 4);
  expect_round_trip(rs);
}

TEST(RulesetStructure, SetAutoMergeTypeofAndDuplicates) {
  const ruleset rs = parse_ok(
      "table ip t {\n"
      "  set a { type ipv4_addr; flags interval; auto-merge\n"
      "          elements = { 10.0.0.0/24, 10.0.1.0/24, 10.0.0.5, 192.168.0.1 } }\n"
      "  set b { typeof tcp dport; elements = { 22, 22, 80 } }\n"
      "  set c { typeof ip saddr; flags constant, interval; }\n"
      "  set d { typeof meta mark; }\n"
      "}\n");
  const table& t = rs.tables[0];
  EXPECT_TRUE(elems_are(t.sets[0].elems, ranges({{ip4(10, 0, 0, 0), ip4(10, 0, 1, 255)},
                                                 {ip4(192, 168, 0, 1), ip4(192, 168, 0, 1)}})));
  EXPECT_EQ(t.sets[0].elem_text, (std::vector<std::string>{"10.0.0.0/23", "192.168.0.1"}));
  EXPECT_EQ(t.sets[1].type, "inet_service");
  EXPECT_TRUE(elems_are(t.sets[1].elems, ranges({{22, 22}, {80, 80}})));
  EXPECT_EQ(t.sets[2].type, "ipv4_addr");
  EXPECT_TRUE(t.sets[2].interval);
  EXPECT_EQ(t.sets[3].type, "mark");
  expect_round_trip(rs);
}

// typeof sets and maps list their expressions, as nft 1.0.6 prints them on this machine's
// kernel for the same file (`mark` alone lists as `meta mark`); maps take typeof too.
TEST(RulesetStructure, TypeofListsAsNft) {
  test::expect_lists_as(
      "table ip t {\n"
      " map m { typeof ip daddr : meta mark; }\n"
      " map v { typeof tcp dport : verdict; elements = { 22 : accept } }\n"
      " set s { typeof ip saddr . tcp dport; elements = { 10.0.0.1 . 22 } }\n"
      " set k { typeof mark; }\n"
      " map c { typeof ip saddr : ct mark; elements = { 10.0.0.1 : 5 } }\n"
      " chain f { type filter hook forward priority 0; tcp dport vmap @v;\n"
      "   ct mark set ip saddr map @c; meta mark set ip daddr map @m; }\n"
      "}\n",
      "table ip t {\n"
      "\tmap m {\n"
      "\t\ttypeof ip daddr : meta mark\n"
      "\t}\n"
      "\n"
      "\tmap v {\n"
      "\t\ttypeof tcp dport : verdict\n"
      "\t\telements = { 22 : accept }\n"
      "\t}\n"
      "\n"
      "\tset s {\n"
      "\t\ttypeof ip saddr . tcp dport\n"
      "\t\telements = { 10.0.0.1 . 22 }\n"
      "\t}\n"
      "\n"
      "\tset k {\n"
      "\t\ttypeof meta mark\n"
      "\t}\n"
      "\n"
      "\tmap c {\n"
      "\t\ttypeof ip saddr : ct mark\n"
      "\t\telements = { 10.0.0.1 : 0x00000005 }\n"
      "\t}\n"
      "\n"
      "\tchain f {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\ttcp dport vmap @v\n"
      "\t\tct mark set ip saddr map @c\n"
      "\t\tmeta mark set ip daddr map @m\n"
      "\t}\n"
      "}\n");
  ruleset rs;
  EXPECT_NE(test::apply("add table ip t\nadd map ip t m { typeof ip saddr : ip daddr; }\n", &rs)
                .find("not supported: maps to typeof ip daddr"),
            std::string::npos);
  EXPECT_NE(test::apply("add table ip t\nadd set ip t s { typeof ip saddr : meta mark; }\n", &rs)
                .find("a set's elements carry no data"),
            std::string::npos);
}

// `type route` chains, as nft 1.0.6 lists and refuses them here: output only; a chain keeps
// its type.
TEST(RulesetStructure, RouteChains) {
  test::expect_lists_as(
      "table mangle {\n\tchain output\t\t{ type route hook output priority -150; }\n}\n",
      "table ip mangle {\n"
      "\tchain output {\n"
      "\t\ttype route hook output priority mangle; policy accept;\n"
      "\t}\n"
      "}\n");
  ruleset rs;
  EXPECT_EQ(
      test::apply("add table ip x\nadd chain ip x c { type route hook input priority 0; }\n", &rs),
      "rs.nft:2:25: error: chain type route is only valid at hook output (nft: Operation "
      "not supported)\n"
      "add chain ip x c { type route hook input priority 0; }\n"
      "                        ^^^^^^^^^^^^^^^^");
  EXPECT_NE(test::apply("add table ip x\nadd chain ip x c { type filter hook output priority 0; }\n"
                        "add chain ip x c { type route hook output priority 0; }\n",
                        &rs)
                .find("already exists in table ip x as type filter: its type cannot change"),
            std::string::npos);
}

// ct bytes, packets and avgpkt, in both directions and each, as nft 1.0.6 lists them here;
// sets of them are not supported.
TEST(RulesetStructure, CtAccountingListsAsNft) {
  test::expect_lists_as(
      "table ip filter { chain forward { type filter hook forward priority filter;\n"
      "  udp dport 53 ct original packets > 3 counter drop\n"
      "  udp sport 53 ct reply bytes >= 100 drop\n"
      "  tcp dport 80 ct bytes > 400 drop\n"
      "  udp dport 55 ct original avgpkt 30-40 drop\n"
      "  ct packets 0x10 ct reply avgpkt <= 5 accept\n"
      "} }\n",
      "table ip filter {\n"
      "\tchain forward {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tudp dport 53 ct original packets > 3 counter packets 0 bytes 0 drop\n"
      "\t\tudp sport 53 ct reply bytes >= 100 drop\n"
      "\t\ttcp dport 80 ct bytes > 400 drop\n"
      "\t\tudp dport 55 ct original avgpkt 30-40 drop\n"
      "\t\tct packets 16 ct reply avgpkt <= 5 accept\n"
      "\t}\n"
      "}\n");
  ruleset rs;
  EXPECT_NE(test::apply("add table ip t\nadd chain ip t c\nadd rule ip t c ct original proto-src "
                        "1000\n",
                        &rs)
                .find("not supported: ct original proto-src"),
            std::string::npos);
  // The addresses of the connection's tuples (NAT's reply tuple), listed with `ip` as nft
  // 1.0.6 lists them.
  const std::string listed = test::apply(
      "add table ip u\nadd chain ip u c\nadd rule ip u c ct original saddr "
      "10.0.1.0/24 ct reply ip daddr != 10.0.2.1 accept\n",
      &rs);
  EXPECT_NE(listed.find("ct original ip saddr 10.0.1.0/24 ct reply ip daddr != 10.0.2.1 accept"),
            std::string::npos)
      << listed;
  result<ruleset> sets = parse_string(
      "table ip t { chain c { type filter hook forward priority 0; ct original bytes { 1, 5 } "
      "accept; } }\n",
      "rs.nft");
  ASSERT_TRUE(sets.ok()) << sets.error().to_string();
  auto compiled = compile(*sets, "rs.nft", {}, 1);
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.error().message.find("not supported: ct original bytes in a set"),
            std::string::npos)
      << compiled.error().message;
}

// symhash, as nft 1.0.6 lists it here (its seed is the kernel's, never listed).
TEST(RulesetStructure, SymhashListsAsNft) {
  test::expect_lists_as(
      "table ip t { chain c { type filter hook forward priority 0;\n"
      "  meta mark set symhash mod 2 offset 100\n"
      "  ct mark set symhash mod 4\n"
      "  symhash mod 2 0 accept\n"
      "  symhash mod 2 vmap { 0 : accept, 1 : drop }\n"
      "} }\n",
      "table ip t {\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tmeta mark set symhash mod 2 offset 100\n"
      "\t\tct mark set symhash mod 4\n"
      "\t\tsymhash mod 2 0 accept\n"
      "\t\tsymhash mod 2 vmap { 0 : accept, 1 : drop }\n"
      "\t}\n"
      "}\n");
  ruleset rs;
  EXPECT_NE(test::apply("add table ip t\nadd chain ip t c\nadd rule ip t c meta mark set symhash "
                        "mod 0\n",
                        &rs)
                .find("symhash modulus must be at least 1"),
            std::string::npos);
}

// Object maps (`counter name KEY map { k : "obj" }`, maps of type `X : counter|quota`), as nft
// 1.0.6 lists them here.
TEST(RulesetStructure, ObjectMapsListAsNft) {
  test::expect_lists_as(
      "table ip t {\n"
      "  counter web { }\n"
      "  counter tls { }\n"
      "  quota q1 { 10 mbytes }\n"
      "  map cnt { type inet_service : counter; elements = { 80 : \"web\", 443 : \"tls\" } }\n"
      "  chain c { type filter hook input priority 0;\n"
      "    counter name tcp dport map { 80 : \"web\", 443 : \"tls\" }\n"
      "    counter name tcp dport map @cnt\n"
      "    quota name ip saddr map { 10.0.0.1 : \"q1\" } drop\n"
      "  }\n"
      "}\n",
      "table ip t {\n"
      "\tcounter web {\n\t\tpackets 0 bytes 0\n\t}\n\n"
      "\tcounter tls {\n\t\tpackets 0 bytes 0\n\t}\n\n"
      "\tquota q1 {\n\t\t10 mbytes\n\t}\n\n"
      "\tmap cnt {\n"
      "\t\ttype inet_service : counter\n"
      "\t\telements = { 80 : \"web\", 443 : \"tls\" }\n"
      "\t}\n\n"
      "\tchain c {\n"
      "\t\ttype filter hook input priority filter; policy accept;\n"
      "\t\tcounter name tcp dport map { 80 : \"web\", 443 : \"tls\" }\n"
      "\t\tcounter name tcp dport map @cnt\n"
      "\t\tquota name ip saddr map { 10.0.0.1 : \"q1\" } drop\n"
      "\t}\n"
      "}\n");
  ruleset rs;
  EXPECT_NE(test::apply("add table ip t\nadd chain ip t c\nadd rule ip t c counter name tcp dport "
                        "map { 80 : \"nope\" }\n",
                        &rs)
                .find("counter 'nope' does not exist in table ip t"),
            std::string::npos);
}

// --- the first article ----------------------------------------------------------------------

TEST(RulesetArticle, CommandsFromTheBlogPost) {
  const ruleset rs = parse_ok(
      "add table ip my_table\n"
      "add chain ip my_table my_input { type filter hook input priority 2147483647 \\; }\n"
      "add rule ip my_table my_input tcp dport 2570 counter drop\n");
  ASSERT_EQ(rs.tables.size(), 1u);
  const chain& c = rs.tables[0].chains[0];
  EXPECT_EQ(c.name, "my_input");
  EXPECT_TRUE(c.base);
  EXPECT_EQ(c.hook, hook::input);
  EXPECT_EQ(c.priority, 2147483647);
  EXPECT_FALSE(c.policy_drop);
  ASSERT_EQ(c.rules.size(), 1u);
  const rule& r = c.rules[0];
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].f, field::tcp_dport);
  EXPECT_EQ(r.matches[0].op, cmp_op::eq);
  EXPECT_TRUE(elems_are(r.matches[0].rhs.elems, ranges({{2570, 2570}})));
  ASSERT_EQ(r.stmts.size(), 2u);
  EXPECT_EQ(r.stmts[0].kind, stmt_kind::counter);
  EXPECT_EQ(r.stmts[1].kind, stmt_kind::drop);
  EXPECT_EQ(r.loc.line, 3);
  EXPECT_EQ(r.loc.col, 31);
  // `nft -a list ruleset` in the article, without the handles.
  EXPECT_EQ(format(rs),
            "table ip my_table {\n"
            "\tchain my_input {\n"
            "\t\ttype filter hook input priority 2147483647; policy accept;\n"
            "\t\ttcp dport 2570 counter packets 0 bytes 0 drop\n"
            "\t}\n"
            "}\n");
  expect_round_trip(rs);
}

TEST(RulesetArticle, AddFormsAndImplicitAdd) {
  const ruleset rs = parse_ok(
      "add table t\n"
      "table ip t\n"  // exists already: nothing happens, as with nft
      "add chain t c\n"
      "add chain ip t c\n"
      "add set ip t s { type inet_service; }\n"
      "add element ip t s { 22, 80 }\n"
      "add element t s { 443 }\n"
      "add rule t c tcp dport @s accept\n"
      "rule ip t c drop\n"
      "table ip t { chain c { counter } }\n"  // the first body of c: rules append
      "create chain ip t d\n");
  const table& t = rs.tables[0];
  ASSERT_EQ(t.chains.size(), 2u);
  ASSERT_EQ(t.chains[0].rules.size(), 3u);
  EXPECT_EQ(t.chains[0].rules[0].matches[0].rhs.set_name, "s");
  EXPECT_EQ(t.chains[0].rules[2].stmts[0].kind, stmt_kind::counter);
  EXPECT_TRUE(elems_are(t.sets[0].elems, ranges({{22, 22}, {80, 80}, {443, 443}})));
  expect_round_trip(rs);
}

// --- matches --------------------------------------------------------------------------------

TEST(RulesetMatch, IpAddresses) {
  match m = match_of("ip saddr 10.1.2.3");
  EXPECT_EQ(m.f, field::ip_saddr);
  EXPECT_EQ(m.op, cmp_op::eq);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{ip4(10, 1, 2, 3), ip4(10, 1, 2, 3)}})));
  EXPECT_EQ(m.rhs.text, "10.1.2.3");
  EXPECT_EQ(m.loc.line, 3);
  EXPECT_EQ(m.loc.col, 5);
  EXPECT_EQ(m.loc.len, 17);

  m = match_of("ip daddr 192.168.0.0/16");
  EXPECT_EQ(m.f, field::ip_daddr);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{ip4(192, 168, 0, 0), ip4(192, 168, 255, 255)}})));

  m = match_of("ip saddr 0.0.0.0/0");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{0, 0xffffffff}})));

  m = match_of("ip saddr 10.0.0.1-10.0.0.20");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{ip4(10, 0, 0, 1), ip4(10, 0, 0, 20)}})));

  m = match_of("ip saddr != { 10.0.0.1, 10.1.0.0/16, 10.2.0.1-10.2.0.3 }");
  EXPECT_EQ(m.op, cmp_op::ne);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{ip4(10, 0, 0, 1), ip4(10, 0, 0, 1)},
                                             {ip4(10, 1, 0, 0), ip4(10, 1, 255, 255)},
                                             {ip4(10, 2, 0, 1), ip4(10, 2, 0, 3)}})));
  EXPECT_EQ(m.rhs.text, "{ 10.0.0.1, 10.1.0.0/16, 10.2.0.1-10.2.0.3 }");

  m = match_of("ip daddr != 10.0.0.0/8");
  EXPECT_EQ(m.op, cmp_op::ne);

  m = match_of("ip saddr 10.0.0.1", "inet");  // IPv4 in an inet table
  EXPECT_EQ(m.f, field::ip_saddr);
}

TEST(RulesetMatch, NamedSetReferences) {
  const ruleset rs = parse_ok(
      "table inet t {\n"
      "  chain c { ip saddr @bad drop; tcp dport != @ports accept; meta mark @marks;\n"
      "            ip protocol @protos }\n"
      "  set bad { type ipv4_addr; }\n"  // declared after its use, as nft allows
      "  set ports { type inet_service; }\n"
      "  set marks { type mark; }\n"
      "  set protos { type inet_proto; }\n"
      "}\n");
  const auto& rules = rs.tables[0].chains[0].rules;
  EXPECT_EQ(rules[0].matches[0].rhs.set_name, "bad");
  EXPECT_TRUE(rules[0].matches[0].rhs.elems.empty());
  EXPECT_EQ(rules[1].matches[0].op, cmp_op::ne);
  EXPECT_EQ(rules[1].matches[0].rhs.set_name, "ports");
  EXPECT_EQ(rules[2].matches[0].f, field::meta_mark);
  EXPECT_EQ(rules[3].matches[0].rhs.set_name, "protos");
  expect_round_trip(rs);
}

TEST(RulesetMatch, ProtocolsByNameNumberAndSet) {
  match m = match_of("ip protocol tcp");
  EXPECT_EQ(m.f, field::ip_protocol);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{6, 6}})));
  m = match_of("meta l4proto udp");
  EXPECT_EQ(m.f, field::meta_l4proto);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{17, 17}})));
  m = match_of("meta l4proto icmp");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{1, 1}})));
  m = match_of("ip protocol 47");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{47, 47}})));
  m = match_of("meta l4proto { tcp, udp, 132 }");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{6, 6}, {17, 17}, {132, 132}})));
  m = match_of("ip protocol != icmp");
  EXPECT_EQ(m.op, cmp_op::ne);
}

TEST(RulesetMatch, Interfaces) {
  struct {
    const char* text;
    field f;
    cmp_op op;
    const char* name;
  } cases[] = {{"iif \"lan0\"", field::meta_iif, cmp_op::eq, "lan0"},
               {"oif wan", field::meta_oif, cmp_op::eq, "wan"},
               {"iifname \"eth*\"", field::meta_iifname, cmp_op::eq, "eth*"},
               {"oifname != \"lo\"", field::meta_oifname, cmp_op::ne, "lo"},
               {"meta iifname lan", field::meta_iifname, cmp_op::eq, "lan"},
               {"meta oif \"wan\"", field::meta_oif, cmp_op::eq, "wan"}};
  for (const auto& c : cases) {
    const match m = match_of(c.text);
    EXPECT_EQ(m.f, c.f) << c.text;
    EXPECT_EQ(m.op, c.op) << c.text;
    EXPECT_EQ(m.rhs.str, c.name) << c.text;
    EXPECT_TRUE(m.rhs.elems.empty());
  }
}

TEST(RulesetMatch, MarksValuesMasksRangesAndComparisons) {
  match m = match_of("meta mark 42");
  EXPECT_EQ(m.f, field::meta_mark);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{42, 42}})));
  m = match_of("ct mark 0xdeadbeef");
  EXPECT_EQ(m.f, field::ct_mark);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{0xdeadbeef, 0xdeadbeef}})));
  m = match_of("mark != 0x10");
  EXPECT_EQ(m.f, field::meta_mark);
  EXPECT_EQ(m.op, cmp_op::ne);
  m = match_of("ct mark 0x10-0x20");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{16, 32}})));
  m = match_of("meta mark & 0xff00 == 0x100");
  EXPECT_EQ(m.op, cmp_op::masked_eq);
  EXPECT_EQ(m.rhs.mask, 0xff00u);
  EXPECT_EQ(m.rhs.value, 0x100u);
  m = match_of("ct mark and 0x3 != 0x1");
  EXPECT_EQ(m.op, cmp_op::masked_ne);
  EXPECT_EQ(m.rhs.mask, 3u);
  EXPECT_EQ(m.rhs.value, 1u);
  m = match_of("meta mark >= 100");
  EXPECT_EQ(m.op, cmp_op::ge);
  m = match_of("ct mark lt 7");
  EXPECT_EQ(m.op, cmp_op::lt);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{7, 7}})));
}

TEST(RulesetMatch, Ports) {
  struct {
    const char* text;
    field f;
    cmp_op op;
    std::vector<value_range> elems;
  } cases[] = {
      {"tcp dport 22", field::tcp_dport, cmp_op::eq, ranges({{22, 22}})},
      {"tcp sport 1024-65535", field::tcp_sport, cmp_op::eq, ranges({{1024, 65535}})},
      {"udp dport { 53, 67-68, ntp }", field::udp_dport, cmp_op::eq,
       ranges({{53, 53}, {67, 68}, {123, 123}})},
      {"udp sport != 53", field::udp_sport, cmp_op::ne, ranges({{53, 53}})},
      {"th dport ssh", field::th_dport, cmp_op::eq, ranges({{22, 22}})},
      {"th sport != { 1-1023 }", field::th_sport, cmp_op::ne, ranges({{1, 1023}})},
      {"tcp dport < 1024", field::tcp_dport, cmp_op::lt, ranges({{1024, 1024}})},
      {"tcp dport > 1023", field::tcp_dport, cmp_op::gt, ranges({{1023, 1023}})},
      {"udp dport <= 0x10", field::udp_dport, cmp_op::le, ranges({{16, 16}})},
      {"tcp sport >= 49152", field::tcp_sport, cmp_op::ge, ranges({{49152, 49152}})},
      {"tcp dport == 80", field::tcp_dport, cmp_op::eq, ranges({{80, 80}})},
      {"tcp dport != 8000-8080", field::tcp_dport, cmp_op::ne, ranges({{8000, 8080}})},
  };
  for (const auto& c : cases) {
    const match m = match_of(c.text);
    EXPECT_EQ(m.f, c.f) << c.text;
    EXPECT_EQ(m.op, c.op) << c.text;
    EXPECT_TRUE(elems_are(m.rhs.elems, c.elems)) << c.text;
  }
}

TEST(RulesetMatch, TcpFlagsInEveryNftForm) {
  constexpr uint64_t fin = 0x01, syn = 0x02, rst = 0x04, ack = 0x10;
  // nft: a bare flag tests whether any of the flags is set.
  match m = match_of("tcp flags syn");
  EXPECT_EQ(m.f, field::tcp_flags);
  EXPECT_EQ(m.op, cmp_op::bits_any);
  EXPECT_EQ(m.rhs.mask, syn);
  m = match_of("tcp flags syn,ack");
  EXPECT_EQ(m.op, cmp_op::bits_any);
  EXPECT_EQ(m.rhs.mask, syn | ack);
  // == and != compare all eight bits.
  m = match_of("tcp flags == syn");
  EXPECT_EQ(m.op, cmp_op::eq);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{syn, syn}})));
  m = match_of("tcp flags == syn|ack");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{syn | ack, syn | ack}})));
  m = match_of("tcp flags != syn");
  EXPECT_EQ(m.op, cmp_op::ne);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{syn, syn}})));
  // Masked comparisons, both spellings.
  m = match_of("tcp flags & (syn|ack) == syn");
  EXPECT_EQ(m.op, cmp_op::masked_eq);
  EXPECT_EQ(m.rhs.mask, syn | ack);
  EXPECT_EQ(m.rhs.value, syn);
  m = match_of("tcp flags syn / syn,ack");
  EXPECT_EQ(m.op, cmp_op::masked_eq);
  EXPECT_EQ(m.rhs.mask, syn | ack);
  EXPECT_EQ(m.rhs.value, syn);
  m = match_of("tcp flags & (fin | syn | rst | ack) != syn");
  EXPECT_EQ(m.op, cmp_op::masked_ne);
  EXPECT_EQ(m.rhs.mask, fin | syn | rst | ack);
  m = match_of("tcp flags != fin / fin,rst");
  EXPECT_EQ(m.op, cmp_op::masked_ne);
  m = match_of("tcp flags & (syn | ack) == 0x0");
  EXPECT_EQ(m.op, cmp_op::masked_eq);
  EXPECT_EQ(m.rhs.value, 0u);
  // A set is looked up exactly: {syn, syn|ack} is "only SYN, or only SYN and ACK".
  m = match_of("tcp flags { syn, syn | ack }");
  EXPECT_EQ(m.op, cmp_op::eq);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{syn, syn}, {syn | ack, syn | ack}})));
  // `!` is nft's "none of these".
  m = match_of("tcp flags ! fin,rst");
  EXPECT_EQ(m.op, cmp_op::bits_none);
  EXPECT_EQ(m.rhs.mask, fin | rst);
  // All the names.
  m = match_of("tcp flags fin,syn,rst,psh,ack,urg,ecn,cwr");
  EXPECT_EQ(m.rhs.mask, 0xffu);
}

TEST(RulesetMatch, CtStateForms) {
  match m = match_of("ct state established,related");
  EXPECT_EQ(m.f, field::ct_state);
  EXPECT_EQ(m.op, cmp_op::bits_any);
  EXPECT_EQ(m.rhs.mask, CT_STATE_ESTABLISHED | CT_STATE_RELATED);
  m = match_of("ct state new, untracked");
  EXPECT_EQ(m.rhs.mask, CT_STATE_NEW | CT_STATE_UNTRACKED);
  m = match_of("ct state invalid");
  EXPECT_EQ(m.rhs.mask, CT_STATE_INVALID);
  // A connection has one state, so != x is "(state & x) == 0".
  m = match_of("ct state != invalid");
  EXPECT_EQ(m.op, cmp_op::bits_none);
  EXPECT_EQ(m.rhs.mask, CT_STATE_INVALID);
  m = match_of("ct state ! established,related");
  EXPECT_EQ(m.op, cmp_op::bits_none);
  EXPECT_EQ(m.rhs.mask, CT_STATE_ESTABLISHED | CT_STATE_RELATED);
  m = match_of("ct state { new, established }");
  EXPECT_EQ(m.op, cmp_op::eq);
  // Sorted, as nft lists anonymous sets.
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{CT_STATE_ESTABLISHED, CT_STATE_ESTABLISHED},
                                             {CT_STATE_NEW, CT_STATE_NEW}})));
  m = match_of("ct state != { invalid }");
  EXPECT_EQ(m.op, cmp_op::ne);
  m = match_of("ct state == new");
  EXPECT_EQ(m.op, cmp_op::eq);
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{CT_STATE_NEW, CT_STATE_NEW}})));
  m = match_of("ct state 8");
  EXPECT_EQ(m.rhs.mask, CT_STATE_NEW);
}

TEST(RulesetMatch, IcmpTypes) {
  const std::pair<const char*, uint64_t> names[] = {
      {"echo-reply", 0},         {"destination-unreachable", 3},
      {"source-quench", 4},      {"redirect", 5},
      {"echo-request", 8},       {"time-exceeded", 11},
      {"parameter-problem", 12}, {"timestamp-request", 13},
      {"timestamp-reply", 14},   {"info-request", 15},
      {"info-reply", 16},        {"address-mask-request", 17},
      {"address-mask-reply", 18}};
  for (const auto& [name, value] : names) {
    const match m = match_of(std::string("icmp type ") + name);
    EXPECT_EQ(m.f, field::icmp_type);
    EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{value, value}}))) << name;
  }
  match m = match_of("icmp type { echo-request, 30 }");
  EXPECT_TRUE(elems_are(m.rhs.elems, ranges({{8, 8}, {30, 30}})));
  m = match_of("icmp type != echo-request");
  EXPECT_EQ(m.op, cmp_op::ne);
}

// --- statements -----------------------------------------------------------------------------

TEST(RulesetStatement, VerdictsAndSimpleStatements) {
  EXPECT_EQ(stmt_of("accept").kind, stmt_kind::accept);
  EXPECT_EQ(stmt_of("drop").kind, stmt_kind::drop);
  EXPECT_EQ(stmt_of("return").kind, stmt_kind::return_);
  EXPECT_EQ(stmt_of("notrack").kind, stmt_kind::notrack);
  statement s = stmt_of("counter");
  EXPECT_EQ(s.kind, stmt_kind::counter);
  EXPECT_EQ(s.packets, 0u);
  s = stmt_of("counter packets 12 bytes 3400");
  EXPECT_EQ(s.packets, 12u);
  EXPECT_EQ(s.bytes, 3400u);
  EXPECT_EQ(s.loc.col, 5);
  EXPECT_EQ(s.loc.len, 29);
}

TEST(RulesetStatement, JumpAndGoto) {
  const ruleset rs = parse_ok(
      "table ip t {\n"
      "  chain in { type filter hook input priority 0; jump a; goto b }\n"
      "  chain a { }\n"
      "  chain b { jump a }\n"
      "}\n");
  const auto& rules = rs.tables[0].chains[0].rules;
  EXPECT_EQ(rules[0].stmts[0].kind, stmt_kind::jump);
  EXPECT_EQ(rules[0].stmts[0].target, "a");
  EXPECT_EQ(rules[1].stmts[0].kind, stmt_kind::goto_);
  EXPECT_EQ(rules[1].stmts[0].target, "b");
  expect_round_trip(rs);
}

TEST(RulesetStatement, Reject) {
  struct {
    const char* text;
    reject_kind kind;
  } cases[] = {{"reject", reject_kind::icmp_port_unreachable},
               {"reject with icmp type port-unreachable", reject_kind::icmp_port_unreachable},
               {"reject with icmp type host-unreachable", reject_kind::icmp_host_unreachable},
               {"reject with icmp net-unreachable", reject_kind::icmp_net_unreachable},
               {"reject with icmp type admin-prohibited", reject_kind::icmp_admin_prohibited},
               {"reject with icmpx type no-route", reject_kind::icmp_net_unreachable},
               {"reject with icmpx admin-prohibited", reject_kind::icmp_admin_prohibited},
               {"reject with icmpv6 type no-route", reject_kind::icmp_net_unreachable},
               {"reject with icmpv6 addr-unreachable", reject_kind::icmp_host_unreachable}};
  for (const auto& c : cases) {
    // icmpx and icmpv6 are not an ip table's (nft's errors; RulesetErrors has them).
    const statement s =
        stmt_of(c.text, std::string(c.text).find("icmp") == std::string::npos ||
                                std::string(c.text).find("icmp ") != std::string::npos
                            ? "ip"
                            : "inet");
    EXPECT_EQ(s.kind, stmt_kind::reject) << c.text;
    EXPECT_EQ(s.reject, c.kind) << c.text;
  }
}

TEST(RulesetStatement, TcpResetAddsTheTcpDependencyLikeNft) {
  rule r = rule_of("reject with tcp reset");
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].f, field::meta_l4proto);
  EXPECT_TRUE(elems_are(r.matches[0].rhs.elems, ranges({{6, 6}})));
  EXPECT_EQ(r.stmts[0].reject, reject_kind::tcp_reset);
  r = rule_of("counter reject with tcp reset");
  EXPECT_EQ(r.matches.size(), 1u);
  // Already known to be TCP: nothing added.
  r = rule_of("tcp dport 25 reject with tcp reset");
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].f, field::tcp_dport);
  r = rule_of("meta l4proto tcp reject with tcp reset");
  EXPECT_EQ(r.matches.size(), 1u);
}

TEST(RulesetStatement, LogAndLimit) {
  statement s = stmt_of("log");
  EXPECT_EQ(s.kind, stmt_kind::log);
  EXPECT_TRUE(s.log_prefix.empty());
  s = stmt_of("log prefix \"dropped: \"");
  EXPECT_EQ(s.log_prefix, "dropped: ");
  s = stmt_of("log prefix \"x\" level warn");
  EXPECT_EQ(s.log_prefix, "x");
  s = stmt_of("limit rate 10/second");
  EXPECT_EQ(s.kind, stmt_kind::limit);
  EXPECT_EQ(s.rate, 10u);
  EXPECT_EQ(s.unit, rate_unit::second);
  EXPECT_EQ(s.burst, 0u);
  EXPECT_FALSE(s.over);
  s = stmt_of("limit rate over 3/minute burst 7 packets");
  EXPECT_TRUE(s.over);
  EXPECT_EQ(s.unit, rate_unit::minute);
  EXPECT_EQ(s.burst, 7u);
  EXPECT_EQ(stmt_of("limit rate 1/hour").unit, rate_unit::hour);
  EXPECT_EQ(stmt_of("limit rate 1/day").unit, rate_unit::day);
}

TEST(RulesetStatement, MarkAndTraceSettersAndComment) {
  statement s = stmt_of("meta mark set 0x10");
  EXPECT_EQ(s.kind, stmt_kind::meta_mark_set);
  EXPECT_EQ(s.value, 16u);
  s = stmt_of("mark set 7");
  EXPECT_EQ(s.kind, stmt_kind::meta_mark_set);
  EXPECT_EQ(s.value, 7u);
  s = stmt_of("ct mark set 0xffffffff");
  EXPECT_EQ(s.kind, stmt_kind::ct_mark_set);
  EXPECT_EQ(s.value, 0xffffffffu);
  s = stmt_of("meta nftrace set 1");
  EXPECT_EQ(s.kind, stmt_kind::meta_nftrace_set);
  EXPECT_EQ(s.value, 1u);
  EXPECT_EQ(stmt_of("nftrace set 0").value, 0u);
  const rule r = rule_of("tcp dport 22 counter accept comment \"ssh, from anywhere\"");
  EXPECT_EQ(r.comment, "ssh, from anywhere");
  ASSERT_EQ(r.stmts.size(), 2u);
  EXPECT_EQ(r.stmts[0].kind, stmt_kind::counter);
  EXPECT_EQ(r.stmts[1].kind, stmt_kind::accept);
}

// --- defines and includes -------------------------------------------------------------------

TEST(RulesetDefine, ValuesSetsStringsAndScopes) {
  const ruleset rs = parse_ok(
      "define lan = 10.0.0.0/8\n"
      "define web = { 80, 443 }\n"
      "define all = { $web, 8080 }\n"
      "define ifc = \"lan0\"\n"
      "define pol = drop\n"
      "table ip t {\n"
      "  define inner = 5\n"
      "  chain c {\n"
      "    type filter hook input priority 0; policy $pol;\n"
      "    ip saddr $lan tcp dport $web accept\n"
      "    tcp dport { $web, 22 } accept\n"
      "    tcp dport $all iifname $ifc meta mark $inner accept\n"
      "  }\n"
      "}\n"
      "redefine lan = 192.168.0.0/16\n"
      "add rule ip t c ip saddr $lan\n"
      "undefine lan\n"
      "define lan = 1.1.1.1\n");
  const chain& c = rs.tables[0].chains[0];
  EXPECT_TRUE(c.policy_drop);
  EXPECT_TRUE(elems_are(c.rules[0].matches[0].rhs.elems,
                        ranges({{ip4(10, 0, 0, 0), ip4(10, 255, 255, 255)}})));
  EXPECT_EQ(c.rules[0].matches[0].rhs.text, "10.0.0.0/8");  // a variable's value
  EXPECT_TRUE(elems_are(c.rules[0].matches[1].rhs.elems, ranges({{80, 80}, {443, 443}})));
  EXPECT_TRUE(elems_are(c.rules[1].matches[0].rhs.elems, ranges({{22, 22}, {80, 80}, {443, 443}})));
  EXPECT_TRUE(
      elems_are(c.rules[2].matches[0].rhs.elems, ranges({{80, 80}, {443, 443}, {8080, 8080}})));
  EXPECT_EQ(c.rules[2].matches[1].rhs.str, "lan0");
  EXPECT_TRUE(elems_are(c.rules[2].matches[2].rhs.elems, ranges({{5, 5}})));
  EXPECT_TRUE(elems_are(c.rules[3].matches[0].rhs.elems,
                        ranges({{ip4(192, 168, 0, 0), ip4(192, 168, 255, 255)}})));
  expect_round_trip(rs);
}

TEST(RulesetDefine, ScopeEndsWithTheBlock) {
  EXPECT_EQ(parse_err("table ip t {\n"
                      "  define x = 1\n"
                      "  chain c { }\n"
                      "}\n"
                      "add rule ip t c meta mark $x\n"),
            "rs.nft:5:27: error: unknown identifier 'x'\n"
            "add rule ip t c meta mark $x\n"
            "                          ^^");
}

class RulesetInclude : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ctgate_ruleset_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& rel, const std::string& text) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  fs::path dir_;
};

TEST_F(RulesetInclude, RelativeToTheIncludingFileAndInsideBlocks) {
  write("defs.nft", "define ssh = 22\n");
  write("rules/chains.nft",
        "chain input {\n"
        "  type filter hook input priority 0; policy drop;\n"
        "  include \"input-rules.nft\"\n"
        "}\n");
  write("rules/input-rules.nft", "tcp dport $ssh accept\nct state established accept");
  const std::string main = write("main.nft",
                                 "include \"defs.nft\"\n"
                                 "table inet filter {\n"
                                 "  include \"rules/chains.nft\"\n"
                                 "}\n");
  result<ruleset> rs = parse_file(main);
  ASSERT_TRUE(rs) << rs.error().to_string();
  const chain& c = rs->tables[0].chains[0];
  EXPECT_EQ(c.name, "input");
  EXPECT_EQ(c.loc.file, "rules/chains.nft");
  ASSERT_EQ(c.rules.size(), 2u);
  EXPECT_EQ(c.rules[0].loc.file, "input-rules.nft");
  EXPECT_EQ(c.rules[1].loc.line, 2);
  EXPECT_TRUE(elems_are(c.rules[0].matches[0].rhs.elems, ranges({{22, 22}})));
  EXPECT_EQ(rs->tables[0].loc.file, main);
}

TEST_F(RulesetInclude, ErrorsNameTheIncludedFile) {
  write("inc/bad.nft", "table ip t {\n  chain c { drop accept }\n}\n");
  const std::string main = write("main.nft", "include \"inc/bad.nft\"\n");
  const error err = file_err(main);
  EXPECT_EQ(err.to_string(),
            "inc/bad.nft:2:18: error: Statement after terminal statement has no effect\n"
            "  chain c { drop accept }\n"
            "                 ^^^^^^");
  EXPECT_EQ(err.file, "inc/bad.nft");
  EXPECT_EQ(err.line, 2);
  EXPECT_EQ(err.col, 18);
  EXPECT_EQ(err.len, 6);
  EXPECT_EQ(err.severity, "error");
  EXPECT_EQ(err.message, "Statement after terminal statement has no effect");
  EXPECT_EQ(err.detail.size(), 2u);
}

TEST_F(RulesetInclude, MissingFileCycleAndDepth) {
  std::string main = write("a.nft", "table ip t { }\ninclude \"nope.nft\"\n");
  EXPECT_EQ(file_err(main).to_string(),
            main +
                ":2:9: error: cannot open 'nope.nft': No such file or directory\n"
                "include \"nope.nft\"\n"
                "        ^^^^^^^^^^");

  write("b.nft", "include \"c.nft\"\n");
  write("c.nft", "# c\ninclude \"b.nft\"\n");
  main = write("cycle.nft", "include \"b.nft\"\n");
  EXPECT_EQ(file_err(main).to_string(),
            "c.nft:2:9: error: include cycle: 'b.nft' is already being read\n"
            "include \"b.nft\"\n"
            "        ^^^^^^^");

  // 16 levels of include are fine, the 17th is refused.
  for (int i = 0; i <= 17; ++i)
    write("d" + std::to_string(i) + ".nft",
          i == 17 ? "table ip deep { }\n" : "include \"d" + std::to_string(i + 1) + ".nft\"\n");
  EXPECT_EQ(file_err((dir_ / "d0.nft").string()).to_string(),
            "d16.nft:1:9: error: Include nested too deeply, max 16 levels\n"
            "include \"d17.nft\"\n"
            "        ^^^^^^^^^");
  write("d16.nft", "table ip deep { }\n");
  result<ruleset> deep = parse_file((dir_ / "d0.nft").string());
  EXPECT_TRUE(deep) << deep.error().to_string();
}

TEST_F(RulesetInclude, WildcardsInOrderAndEmptyMatch) {
  write("conf.d/20-b.nft", "table ip b { }\n");
  write("conf.d/10-a.nft", "table ip a { }\n");
  write("conf.d/notes.txt", "not nft\n");
  const std::string main = write("main.nft",
                                 "include \"conf.d/*.nft\"\n"
                                 "include \"empty.d/*.nft\"\n");
  fs::create_directories(dir_ / "empty.d");
  result<ruleset> rs = parse_file(main);
  ASSERT_TRUE(rs) << rs.error().to_string();
  ASSERT_EQ(rs->tables.size(), 2u);
  EXPECT_EQ(rs->tables[0].name, "a");
  EXPECT_EQ(rs->tables[0].loc.file, "conf.d/10-a.nft");
  EXPECT_EQ(rs->tables[1].name, "b");
}

// A file that includes the next one twice, 16 levels deep, would read the
// last 65536 times: a load reads at most 4096 files (issue 11).
TEST_F(RulesetInclude, FanOutIsBounded) {
  for (int i = 0; i < 16; i++) {
    const std::string next = "f" + std::to_string(i + 1) + ".nft";
    write("f" + std::to_string(i) + ".nft", "include \"" + next + "\"\ninclude \"" + next + "\"\n");
  }
  write("f16.nft", "# the leaf\n");
  const error e = file_err((dir_ / "f0.nft").string());
  EXPECT_EQ(e.message, "too many included files: one load reads at most 4096") << e.to_string();
}

// A FIFO (or a device) would block the reader: only regular files are included.
TEST_F(RulesetInclude, FifoIsNotIncluded) {
  ASSERT_EQ(mkfifo((dir_ / "pipe.nft").c_str(), 0600), 0);
  const std::string main = write("main.nft", "include \"pipe.nft\"\n");
  EXPECT_EQ(file_err(main).message, "cannot open 'pipe.nft': not a regular file");
}

TEST_F(RulesetInclude, UnreadableTopLevelFile) {
  const std::string path = (dir_ / "missing.nft").string();
  EXPECT_EQ(file_err(path).to_string(),
            path + ": error: cannot open '" + path + "': No such file or directory");
  EXPECT_EQ(file_err(dir_.string()).message, "cannot open '" + dir_.string() + "': is a directory");
}

// --- a realistic ruleset and listings --------------------------------------------------------

constexpr const char* kRealistic = R"(#!/usr/sbin/nft -f
flush ruleset

define wan = "wan0"
define admin_nets = { 10.0.0.0/8, 192.168.10.0/24 }

table inet filter {
	set blocked {
		type ipv4_addr
		flags interval
		elements = { 198.51.100.0/24, 203.0.113.7 }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		ct state invalid counter drop
		ct state established,related accept
		iifname "lo" accept
		ip saddr @blocked counter drop
		icmp type echo-request limit rate 5/second accept
		tcp dport 22 ip saddr $admin_nets ct state new counter accept
		tcp dport { 80, 443 } counter accept
		iifname $wan counter log prefix "input drop: " drop
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		oifname $wan accept
		counter drop
	}

	chain output {
		type filter hook output priority filter; policy accept;
	}
}
)";

TEST(RulesetListing, RealisticRulesetAllowsSshAndHttpDropsTheRest) {
  const ruleset rs = parse_ok(kRealistic);
  ASSERT_EQ(rs.tables.size(), 1u);
  const table& t = rs.tables[0];
  EXPECT_EQ(t.fam, family::inet);
  ASSERT_EQ(t.chains.size(), 3u);
  const chain& in = t.chains[0];
  EXPECT_TRUE(in.policy_drop);
  ASSERT_EQ(in.rules.size(), 8u);
  const rule& ssh = in.rules[5];
  ASSERT_EQ(ssh.matches.size(), 3u);
  EXPECT_EQ(ssh.matches[0].f, field::tcp_dport);
  EXPECT_EQ(ssh.matches[1].f, field::ip_saddr);
  EXPECT_EQ(ssh.matches[1].rhs.elems.size(), 2u);
  EXPECT_EQ(ssh.matches[2].op, cmp_op::bits_any);
  EXPECT_EQ(ssh.stmts[0].kind, stmt_kind::counter);
  EXPECT_EQ(ssh.stmts[1].kind, stmt_kind::accept);
  EXPECT_EQ(ssh.loc.line, 21);
  EXPECT_EQ(in.rules[7].stmts[1].log_prefix, "input drop: ");
  EXPECT_EQ(t.chains[1].rules[1].matches[0].rhs.str, "wan0");
  EXPECT_EQ(format(rs),
            "table inet filter {\n"
            "\tset blocked {\n"
            "\t\ttype ipv4_addr\n"
            "\t\tflags interval\n"
            "\t\telements = { 198.51.100.0/24, 203.0.113.7 }\n"
            "\t}\n"
            "\n"
            "\tchain input {\n"
            "\t\ttype filter hook input priority filter; policy drop;\n"
            "\t\tct state invalid counter packets 0 bytes 0 drop\n"
            "\t\tct state established,related accept\n"
            "\t\tiifname \"lo\" accept\n"
            "\t\tip saddr @blocked counter packets 0 bytes 0 drop\n"
            "\t\ticmp type echo-request limit rate 5/second accept\n"
            "\t\ttcp dport 22 ip saddr { 10.0.0.0/8, 192.168.10.0/24 } ct state new counter "
            "packets 0 bytes 0 accept\n"
            "\t\ttcp dport { 80, 443 } counter packets 0 bytes 0 accept\n"
            "\t\tiifname \"wan0\" counter packets 0 bytes 0 log prefix \"input drop: \" drop\n"
            "\t}\n"
            "\n"
            "\tchain forward {\n"
            "\t\ttype filter hook forward priority filter; policy drop;\n"
            "\t\tct state established,related accept\n"
            "\t\toifname \"wan0\" accept\n"
            "\t\tcounter packets 0 bytes 0 drop\n"
            "\t}\n"
            "\n"
            "\tchain output {\n"
            "\t\ttype filter hook output priority filter; policy accept;\n"
            "\t}\n"
            "}\n");
  expect_round_trip(rs);
}

TEST(RulesetListing, TheDocumentedExampleIsAFixedPoint) {
  const std::string listing =
      "table ip filter {\n"
      "\tchain input {\n"
      "\t\ttype filter hook input priority filter; policy accept;\n"
      "\t\ttcp dport 22 counter packets 3 bytes 180 accept\n"
      "\t\tip saddr { 10.0.0.0/8, 192.168.1.1 } drop\n"
      "\t}\n"
      "}\n";
  const ruleset rs = parse_ok(listing);
  EXPECT_EQ(rs.tables[0].chains[0].rules[0].stmts[0].packets, 3u);
  EXPECT_EQ(rs.tables[0].chains[0].rules[0].stmts[0].bytes, 180u);
  EXPECT_EQ(format(rs), listing);
}

TEST(RulesetListing, NftNotationForEveryOperator) {
  const ruleset rs = parse_ok(
      "table ip t {\n"
      "  chain c {\n"
      "    type filter hook prerouting priority raw - 10; policy accept;\n"
      "    meta mark 1 ct mark & 0xf0 != 0x10 mark 2-3 meta mark > 9 notrack\n"
      "    ct state != invalid ct state ! new,untracked ct state { new } ct state != { new }\n"
      "    tcp flags syn tcp flags ! fin,rst tcp flags == syn|ack tcp flags != syn\n"
      "    tcp flags & (syn | ack) == syn tcp flags != fin / fin,rst tcp flags { syn, syn|ack }\n"
      "    ip protocol 4 ip daddr 10.0.0.0-10.0.0.2\n"
      "    meta l4proto { tcp, udp } icmp type 42\n"
      "    limit rate over 1/hour burst 3 packets meta mark set 5 ct mark set 6 "
      "meta nftrace set 1\n"
      "    reject with icmp admin-prohibited\n"
      "    reject with icmp host-unreachable\n"
      "    reject with icmp net-unreachable\n"
      "    log drop comment \"a comment\"\n"
      "  }\n"
      "}\n");
  EXPECT_EQ(format(rs),
            "table ip t {\n"
            "\tchain c {\n"
            "\t\ttype filter hook prerouting priority raw - 10; policy accept;\n"
            "\t\tmeta mark 0x00000001 ct mark & 0x000000f0 != 0x00000010 "
            "meta mark 0x00000002-0x00000003 meta mark > 0x00000009 notrack\n"
            "\t\tct state != invalid ct state ! new,untracked ct state { new } "
            "ct state != { new }\n"
            "\t\ttcp flags syn tcp flags ! fin,rst tcp flags == syn | ack tcp flags != syn\n"
            "\t\ttcp flags syn / syn,ack tcp flags != fin / fin,rst "
            "tcp flags { syn, syn | ack }\n"
            "\t\tip protocol ipip ip daddr 10.0.0.0-10.0.0.2\n"
            "\t\tmeta l4proto { tcp, udp } icmp type 42\n"
            "\t\tlimit rate over 1/hour burst 3 packets meta mark set 0x00000005 "
            "ct mark set 0x00000006 meta nftrace set 1\n"
            "\t\treject with icmp admin-prohibited\n"
            "\t\treject with icmp host-unreachable\n"
            "\t\treject with icmp net-unreachable\n"
            "\t\tlog drop comment \"a comment\"\n"
            "\t}\n"
            "}\n");
  expect_round_trip(rs);
}

TEST(RulesetListing, LiveCountersComeFromTheLookup) {
  struct lookup : counter_lookup {
    std::optional<counter_value> get(size_t t, size_t c, size_t r) const override {
      if (t == 0 && c == 0 && r == 1) return counter_value{1234, 567890};
      return std::nullopt;
    }
  } live;
  const ruleset rs = parse_ok(
      "table ip t { chain c { counter packets 1 bytes 2 accept\n tcp dport 22 counter drop } }");
  EXPECT_EQ(format(rs, &live),
            "table ip t {\n"
            "\tchain c {\n"
            "\t\tcounter packets 1 bytes 2 accept\n"
            "\t\ttcp dport 22 counter packets 1234 bytes 567890 drop\n"
            "\t}\n"
            "}\n");
}

TEST(RulesetListing, OneRuleForTraceLines) {
  const rule r = rule_of(
      "ip saddr { 10.0.0.0/8, 192.168.1.1 } tcp dport 22 counter packets 4 bytes 5 "
      "accept comment \"x\"");
  EXPECT_EQ(format_rule(r),
            "ip saddr { 10.0.0.0/8, 192.168.1.1 } tcp dport 22 counter packets 4 bytes 5 accept "
            "comment \"x\"");
  EXPECT_EQ(format_rule(rule_of("reject with tcp reset")),
            "meta l4proto tcp reject with tcp reset");
}

TEST(RulesetListing, FormatOfAnEmptyRulesetIsEmpty) {
  EXPECT_EQ(format(ruleset{}), "");
  const ruleset rs = parse_ok("");
  EXPECT_TRUE(rs.tables.empty());
}

// --- bad inputs: the exact error text -------------------------------------------------------

TEST(RulesetErrors, Addresses) {
  EXPECT_EQ(rule_err("ip saddr 10.0.0.1/8 drop"),
            "rs.nft:3:14: error: prefix 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)\n"
            "    ip saddr 10.0.0.1/8 drop\n"
            "             ^^^^^^^^^^");
  EXPECT_EQ(rule_err("ip saddr 10.0.0.0/33"),
            "rs.nft:3:23: error: Prefix length 33 is invalid for type of 32 bits width\n"
            "    ip saddr 10.0.0.0/33\n"
            "                      ^^");
  EXPECT_EQ(rule_err("ip daddr 10.0.0.256 accept"),
            "rs.nft:3:14: error: invalid IPv4 address '10.0.0.256'\n"
            "    ip daddr 10.0.0.256 accept\n"
            "             ^^^^^^^^^^");
  EXPECT_EQ(rule_err("ip daddr example.com accept"),
            "rs.nft:3:14: error: not supported: host name 'example.com' (ctgate does not "
            "resolve names)\n"
            "    ip daddr example.com accept\n"
            "             ^^^^^^^^^^^");
}

TEST(RulesetErrors, ValuesAndRanges) {
  EXPECT_EQ(rule_err("tcp dport 70000 drop"),
            "rs.nft:3:15: error: Value 70000 exceeds valid range 0-65535\n"
            "    tcp dport 70000 drop\n"
            "              ^^^^^");
  EXPECT_EQ(rule_err("tcp dport 80-22 drop"),
            "rs.nft:3:15: error: range 80-22 is empty: its low end is above its high end\n"
            "    tcp dport 80-22 drop\n"
            "              ^^^^^");
  EXPECT_EQ(rule_err("tcp dport 22,80 accept"),
            "rs.nft:3:17: error: syntax error, unexpected ',' (a list of port numbers needs "
            "braces: { a, b })\n"
            "    tcp dport 22,80 accept\n"
            "                ^");
  EXPECT_EQ(rule_err("tcp dport sshh accept"),
            "rs.nft:3:15: error: unknown service 'sshh' (ctgate knows well-known names only; "
            "write the port number)\n"
            "    tcp dport sshh accept\n"
            "              ^^^^");
  EXPECT_EQ(rule_err("meta nftrace set 2"),
            "rs.nft:3:22: error: Value 2 exceeds valid range 0-1\n"
            "    meta nftrace set 2\n"
            "                     ^");
  EXPECT_EQ(rule_err("tcp dport { }"),
            "rs.nft:3:15: error: Set is empty\n"
            "    tcp dport { }\n"
            "              ^");
  EXPECT_EQ(rule_err("tcp dport ! 22"),
            "rs.nft:3:15: error: negation can only be used with singleton bitmask values.  Did "
            "you mean \"!=\"?\n"
            "    tcp dport ! 22\n"
            "              ^");
  EXPECT_EQ(rule_err("tcp dport < { 1, 2 }"),
            "rs.nft:3:15: error: Relational expression (<) is undefined for set expressions\n"
            "    tcp dport < { 1, 2 }\n"
            "              ^");
}

TEST(RulesetErrors, SyntaxAndUnsupported) {
  EXPECT_EQ(rule_err("foo bar"),
            "rs.nft:3:5: error: syntax error, unexpected 'foo', expecting a match or statement\n"
            "    foo bar\n"
            "    ^^^");
  EXPECT_EQ(rule_err("ip6 saddr ::1 drop"),
            "rs.nft:3:5: error: conflicting protocols specified: ip vs. ip6\n"
            "    ip6 saddr ::1 drop\n"
            "    ^^^^^^^^^");
  EXPECT_EQ(rule_err("ct helper \"ftp\" accept"),
            "rs.nft:3:8: error: not supported: ct helper\n"
            "    ct helper \"ftp\" accept\n"
            "       ^^^^^^");
  EXPECT_EQ(rule_err("iifname vmap { \"lan\" : accept }"),
            "rs.nft:3:5: error: not supported: maps keyed by iifname\n"
            "    iifname vmap { \"lan\" : accept }\n"
            "    ^^^^^^^");
  EXPECT_EQ(rule_err("log level audit"),
            "rs.nft:3:15: error: not supported: log level audit (the audit subsystem)\n"
            "    log level audit\n"
            "              ^^^^^");
  EXPECT_EQ(rule_err("log group 2"),
            "rs.nft:3:9: error: not supported: log group (NFLOG)\n"
            "    log group 2\n"
            "        ^^^^^");
  EXPECT_EQ(rule_err("iifname \"eth0"),
            "rs.nft:3:13: error: unterminated string\n"
            "    iifname \"eth0\n"
            "            ^^^^^");
  EXPECT_EQ(rule_err("tcp dport 22 ^ accept"),
            "rs.nft:3:18: error: syntax error, unexpected character '^'\n"
            "    tcp dport 22 ^ accept\n"
            "                 ^");
  EXPECT_EQ(parse_err("table arp t { }\n"),
            "rs.nft:1:7: error: not supported: family arp (ctgate reads ip, ip6, inet and bridge "
            "tables)\n"
            "table arp t { }\n"
            "      ^^^");
  EXPECT_EQ(parse_err("add table ip t\nadd chain ip t c\nadd rule ip t c comment \"x\"\n"),
            "rs.nft:3:17: error: syntax error, unexpected 'comment', expecting a match or "
            "statement\n"
            "add rule ip t c comment \"x\"\n"
            "                ^^^^^^^");
  EXPECT_EQ(rule_err("comment \"chain comment\""),
            "rs.nft:3:5: error: not supported: chain comments\n"
            "    comment \"chain comment\"\n"
            "    ^^^^^^^");
  EXPECT_EQ(parse_err("nft add table ip t\n"),
            "rs.nft:1:1: error: syntax error, unexpected 'nft' (a ruleset file holds nft "
            "commands without the 'nft' prefix)\n"
            "nft add table ip t\n"
            "^^^");
  EXPECT_EQ(parse_err("table ip t {\n  chain c {\n    accept\n  }\n"),
            "rs.nft:4:4: error: syntax error, unexpected end of file, expecting chain, set or "
            "'}'\n"
            "  }\n"
            "   ^");
}

TEST(RulesetErrors, Chains) {
  EXPECT_EQ(parse_err("table ip t { chain c { type filter hook input; } }"),
            "rs.nft:1:46: error: syntax error, unexpected ';', expecting priority\n"
            "table ip t { chain c { type filter hook input; } }\n"
            "                                             ^");
  EXPECT_EQ(parse_err("table ip t { chain c { type filter hook sideways priority 0; } }"),
            "rs.nft:1:41: error: unknown chain hook 'sideways'\n"
            "table ip t { chain c { type filter hook sideways priority 0; } }\n"
            "                                        ^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t { chain c { type filter hook input priority 2147483648; } }"),
            "rs.nft:1:56: error: priority 2147483648 out of range (-2147483648..2147483647)\n"
            "table ip t { chain c { type filter hook input priority 2147483648; } }\n"
            "                                                       ^^^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t { chain c { type filter hook input priority -2147483649; } }"),
            "rs.nft:1:56: error: priority -2147483649 out of range (-2147483648..2147483647)\n"
            "table ip t { chain c { type filter hook input priority -2147483649; } }\n"
            "                                                       ^^^^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t { chain c { type filter hook input priority dstnat; } }"),
            "rs.nft:1:47: error: invalid priority expression value in this context.\n"
            "table ip t { chain c { type filter hook input priority dstnat; } }\n"
            "                                              ^^^^^^^^^^^^^^^");
  // nft 1.0.6: the NAT names at prerouting and postrouting only, also for nat chains.
  EXPECT_EQ(
      parse_err("table ip t {\n  chain c {\n    type nat hook input priority srcnat;\n  }\n}\n"),
      "rs.nft:3:25: error: invalid priority expression value in this context.\n"
      "    type nat hook input priority srcnat;\n"
      "                        ^^^^^^^^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t { chain c { type filter hook input priority foo + 5; } }"),
            "rs.nft:1:47: error: invalid priority expression value in this context.\n"
            "table ip t { chain c { type filter hook input priority foo + 5; } }\n"
            "                                              ^^^^^^^^^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t {\n  chain c {\n    policy drop\n    accept\n  }\n}\n"),
            "rs.nft:3:5: error: policy is only valid in a base chain (one with 'type ... hook ... "
            "priority ...')\n"
            "    policy drop\n"
            "    ^^^^^^^^^^^");
  EXPECT_EQ(parse_err("add rule ip nope c accept\n"),
            "rs.nft:1:13: error: table ip nope does not exist\n"
            "add rule ip nope c accept\n"
            "            ^^^^");
  EXPECT_EQ(parse_err("add table ip t\nadd rule ip t c accept\n"),
            "rs.nft:2:15: error: chain 'c' does not exist in table ip t\n"
            "add rule ip t c accept\n"
            "              ^");
}

TEST(RulesetErrors, JumpsAndVerdicts) {
  EXPECT_EQ(rule_err("jump nowhere"),
            "rs.nft:3:10: error: jump to undefined chain 'nowhere' in table ip t\n"
            "    jump nowhere\n"
            "         ^^^^^^^");
  EXPECT_EQ(parse_err("table ip t {\n  chain in { type filter hook input priority 0; }\n"
                      "  chain c { goto in }\n}\n"),
            "rs.nft:3:18: error: cannot goto to base chain 'in'\n"
            "  chain c { goto in }\n"
            "                 ^^");
  EXPECT_EQ(parse_err("table ip t {\n  chain a { jump b }\n  chain b { tcp dport 1 jump a }\n}\n"),
            "rs.nft:3:30: error: jump loop: a -> b -> a\n"
            "  chain b { tcp dport 1 jump a }\n"
            "                             ^");
  EXPECT_EQ(rule_err("accept drop"),
            "rs.nft:3:12: error: Statement after terminal statement has no effect\n"
            "    accept drop\n"
            "           ^^^^");
  EXPECT_EQ(rule_err("drop counter"),
            "rs.nft:3:10: error: Statement after terminal statement has no effect\n"
            "    drop counter\n"
            "         ^^^^^^^");
  EXPECT_EQ(rule_err("counter tcp dport 22 accept"),
            "rs.nft:3:13: error: not supported: a match after a statement ('counter'): ctgate "
            "checks all matches first, so put matches first\n"
            "    counter tcp dport 22 accept\n"
            "            ^^^");
  EXPECT_EQ(parse_err("table ip t {\n  chain post { type filter hook postrouting priority 0; "
                      "jump x }\n  chain x { reject }\n}\n"),
            "rs.nft:3:13: error: reject is not allowed in the postrouting hook (base chain "
            "'post')\n"
            "  chain x { reject }\n"
            "            ^^^^^^");
  // nft_synproxy_validate: input and forward only, also through a jump.
  EXPECT_EQ(parse_err("table ip t {\n  chain pre { type filter hook prerouting priority 0; "
                      "jump x }\n  chain x { tcp dport 80 synproxy }\n}\n"),
            "rs.nft:3:26: error: synproxy is only allowed in the input and forward hooks (base "
            "chain 'pre' is at prerouting; nft: Could not process rule: Operation not "
            "supported)\n"
            "  chain x { tcp dport 80 synproxy }\n"
            "                         ^^^^^^^^");
}

TEST(RulesetErrors, Sets) {
  EXPECT_EQ(parse_err("table ip t {\n  set addrs { type ipv4_addr; }\n"
                      "  chain c { tcp dport @addrs accept }\n}\n"),
            "rs.nft:3:23: error: datatype mismatch: 'tcp dport' expects inet_service, set 'addrs' "
            "has type ipv4_addr\n"
            "  chain c { tcp dport @addrs accept }\n"
            "                      ^^^^^^");
  EXPECT_EQ(rule_err("ip saddr @missing drop"),
            "rs.nft:3:14: error: set 'missing' does not exist in table ip t\n"
            "    ip saddr @missing drop\n"
            "             ^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t {\n  set s { type ipv4_addr; elements = { 10.0.0.0/8 } }\n}\n"),
            "rs.nft:2:40: error: You must add 'flags interval' to your set declaration if you "
            "want to add prefix elements\n"
            "  set s { type ipv4_addr; elements = { 10.0.0.0/8 } }\n"
            "                                       ^^^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t {\n  set s { type inet_service; flags interval;\n"
                      "    elements = { 1-100, 50 } }\n}\n"),
            "rs.nft:3:25: error: conflicting intervals specified\n"
            "    elements = { 1-100, 50 } }\n"
            "                        ^^");
  EXPECT_EQ(parse_err("table ip t {\n  set s { type ipv4_addr; elements = { } }\n}\n"),
            "rs.nft:2:40: error: syntax error, unexpected '}', expecting set element\n"
            "  set s { type ipv4_addr; elements = { } }\n"
            "                                       ^");
  EXPECT_EQ(parse_err("table ip t {\n  set s { flags interval; }\n}\n"),
            "rs.nft:2:7: error: set definition does not specify key data type\n"
            "  set s { flags interval; }\n"
            "      ^");
  EXPECT_EQ(parse_err("table ip t {\n  set s { type ifname; }\n}\n"),
            "rs.nft:2:16: error: not supported: set type ifname\n"
            "  set s { type ifname; }\n"
            "               ^^^^^^");
}

TEST(RulesetErrors, StatesFlagsAndProtocols) {
  EXPECT_EQ(rule_err("ct state != established,related drop"),
            "rs.nft:3:17: error: 'ct state != established,related' always matches (nft compares "
            "the whole value); write 'ct state ! established,related'\n"
            "    ct state != established,related drop\n"
            "                ^^^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(rule_err("ct state == established|related"),
            "rs.nft:3:17: error: 'ct state == established|related' never matches (a connection "
            "has one state); write 'ct state { established,related }'\n"
            "    ct state == established|related\n"
            "                ^^^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(rule_err("ct state bogus accept"),
            "rs.nft:3:14: error: unknown ct state 'bogus'\n"
            "    ct state bogus accept\n"
            "             ^^^^^");
  EXPECT_EQ(rule_err("tcp flags & (syn|ack) == fin"),
            "rs.nft:3:17: error: comparison is always false: the value has bits outside the mask\n"
            "    tcp flags & (syn|ack) == fin\n"
            "                ^^^^^^^^^^^^^^^^");
  EXPECT_EQ(rule_err("tcp dport 22 udp dport 53 accept"),
            "rs.nft:3:18: error: conflicting protocols specified: tcp vs. udp\n"
            "    tcp dport 22 udp dport 53 accept\n"
            "                 ^^^^^^^^^^^^");
  EXPECT_EQ(rule_err("udp dport 53 reject with tcp reset"),
            "rs.nft:3:18: error: you cannot use tcp reset with this protocol\n"
            "    udp dport 53 reject with tcp reset\n"
            "                 ^^^^^^^^^^^^^^^^^^^^^");
}

TEST(RulesetErrors, DefinesAndNesting) {
  EXPECT_EQ(rule_err("tcp dport $ports accept"),
            "rs.nft:3:15: error: unknown identifier 'ports'\n"
            "    tcp dport $ports accept\n"
            "              ^^^^^^");
  EXPECT_EQ(parse_err("define a = 1\ndefine a = 2\n"),
            "rs.nft:2:8: error: redefinition of symbol 'a'\n"
            "define a = 2\n"
            "       ^");
  // An error inside a variable's value points at where the variable is used.
  EXPECT_EQ(parse_err("define p = 99999\ntable ip t { chain c { tcp dport $p } }\n"),
            "rs.nft:2:34: error: Value 99999 exceeds valid range 0-65535\n"
            "table ip t { chain c { tcp dport $p } }\n"
            "                                 ^^");
  std::string deep = "table ip t { chain c { tcp dport " + std::string(100, '{') + " 1 " +
                     std::string(100, '}') + " } }";
  EXPECT_EQ(parse_err(deep).substr(0, 56),
            "rs.nft:1:98: error: nesting too deep (more than 64 level");  // the 65th brace
  // Doubling defines stop at the size limit instead of exhausting memory.
  std::string blowup = "define d0 = { 1, 2 }\n";
  for (int i = 1; i < 40; ++i)
    blowup += "define d" + std::to_string(i) + " = { $d" + std::to_string(i - 1) + ", $d" +
              std::to_string(i - 1) + " }\n";
  const std::string e = parse_err(blowup);
  EXPECT_NE(e.find("is too large"), std::string::npos) << e;
}

TEST(RulesetErrors, ToStringShape) {
  // Built the way the parser builds its errors: position, severity, the quoted line.
  auto shown = [](int line, int col, int len, const std::string& source_line) {
    error e{.file = "f.nft",
            .line = line,
            .col = col,
            .len = len,
            .severity = "error",
            .message = "boom"};
    e.quote(source_line);
    return e.to_string();
  };
  EXPECT_EQ(shown(2, 5, 3, "abcdefgh"), "f.nft:2:5: error: boom\nabcdefgh\n    ^^^");
  // at least one caret
  EXPECT_EQ(shown(2, 5, 0, "abcdefgh"), "f.nft:2:5: error: boom\nabcdefgh\n    ^");
  // not past the end of the line
  EXPECT_EQ(shown(2, 5, 50, "abcdefgh"), "f.nft:2:5: error: boom\nabcdefgh\n    ^^^^");
  // just past the end: one caret
  EXPECT_EQ(shown(2, 9, 50, "abcdefgh"), "f.nft:2:9: error: boom\nabcdefgh\n        ^");
  // a tab counts as one column
  EXPECT_EQ(shown(1, 2, 1, "\tx"), "f.nft:1:2: error: boom\n\tx\n ^");
}

// --- robustness -----------------------------------------------------------------------------

TEST(RulesetRobustness, MutatedInputsNeverCrash) {
  const std::string base = kRealistic;
  const std::string alphabet = "{}();,#\"$@-/!|&=<>0123456789abcxyz \n\t\\*.:";
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(state >> 33);
  };
  int ok = 0, failed = 0;
  for (int i = 0; i < 600; ++i) {
    std::string text = base;
    switch (i % 5) {
      case 0: text.resize(next() % text.size()); break;  // truncation
      case 1:                                            // character replacements
        for (int k = 0; k < 1 + i % 4; ++k)
          text[next() % text.size()] = alphabet[next() % alphabet.size()];
        break;
      case 2: text.erase(next() % text.size(), 1 + next() % 20); break;  // deletion
      case 3: {                                                          // a span copied elsewhere
        const size_t from = next() % text.size();
        text.insert(next() % text.size(), text.substr(from, 1 + next() % 30));
        break;
      }
      case 4:  // a random byte, including non-ASCII and NUL
        text[next() % text.size()] = static_cast<char>(next() & 0xff);
        break;
    }
    result<ruleset> rs = parse_string(text, "m.nft");
    if (rs) {
      ++ok;
      // Whatever parses must list and parse back.
      const std::string listing = format(*rs);
      result<ruleset> again = parse_string(listing, "listing.nft");
      ASSERT_TRUE(again) << text << "\n---\n" << listing << "\n" << again.error().to_string();
      EXPECT_EQ(format(*again), listing);
    } else {
      ++failed;
      EXPECT_FALSE(rs.error().message.empty()) << text;
      EXPECT_FALSE(rs.error().to_string().empty());
      EXPECT_GE(rs.error().line, 1) << text;
    }
  }
  EXPECT_GT(ok, 10);
  EXPECT_GT(failed, 100);
}

}  // namespace
}  // namespace ctgate::nft

namespace ctgate::nft {
namespace {

TEST(RulesetStatement, SynproxyOptions) {
  statement s = stmt_of(
      "tcp dport 80 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm");
  EXPECT_EQ(s.kind, stmt_kind::synproxy);
  EXPECT_EQ(s.mss, 1460);
  EXPECT_EQ(s.wscale, 7);
  EXPECT_TRUE(s.timestamp);
  EXPECT_TRUE(s.sack_perm);
  statement bare = stmt_of("synproxy");
  EXPECT_EQ(bare.mss, 0);
  EXPECT_EQ(bare.wscale, 0xff);
  EXPECT_FALSE(bare.timestamp);
  EXPECT_NE(rule_err("synproxy mss 100").find("synproxy mss must be at least 536"),
            std::string::npos);
  EXPECT_NE(rule_err("synproxy wscale 15").find("error"), std::string::npos);
}

TEST(RulesetStatement, MeterPerSourceLimit) {
  rule r = rule_of("tcp flags syn meter synflood { ip saddr limit rate over 100/second } drop");
  ASSERT_EQ(r.stmts.size(), 2u);
  const statement& m = r.stmts[0];
  EXPECT_EQ(m.kind, stmt_kind::meter);
  EXPECT_EQ(m.meter_name, "synflood");
  EXPECT_EQ(m.from, field::ip_saddr);
  EXPECT_EQ(m.meter_size, 0u);
  EXPECT_TRUE(m.over);
  EXPECT_EQ(m.rate, 100u);
  EXPECT_EQ(m.unit, rate_unit::second);
  rule d = rule_of("meter perdst { ip daddr limit rate 5/minute burst 2 packets } accept");
  EXPECT_EQ(d.stmts[0].from, field::ip_daddr);
  EXPECT_EQ(d.stmts[0].burst, 2u);
  // Any key, as a dynamic set's: a concatenation, a size, a timeout.
  rule c = rule_of(
      "meter m size 1000 { ip saddr . tcp dport timeout 10s limit rate 5/minute burst 3 packets }");
  EXPECT_EQ(c.stmts[0].meter_size, 1000u);
  ASSERT_EQ(c.stmts[0].concat.size(), 1u);
  EXPECT_EQ(c.stmts[0].concat[0], field::tcp_dport);
  EXPECT_EQ(c.stmts[0].elem_timeout_ms, 10'000u);
  EXPECT_NE(
      rule_err("meter m { ip saddr counter }").find("not supported: counter in a set element"),
      std::string::npos);
  EXPECT_NE(rule_err("meter m { ip saddr }").find("syntax error, unexpected '}', expecting limit"),
            std::string::npos);
}

// NAT (issue 13): the statements and `type nat` chains parse, check and list as nft does. The
// expected text is what nft 1.0.6 lists for the same file on this machine's kernel.
TEST(Nat, StatementsAndChainsListAsNft) {
  const ruleset rs = parse_ok(R"(table ip nat {
  chain pre { type nat hook prerouting priority dstnat; policy accept;
    tcp dport 80 dnat to 10.0.0.5:8080
    tcp dport 81 dnat ip to 10.0.0.5
    tcp dport 82 redirect to :8080
    tcp dport 83 redirect
    tcp dport 84 dnat to 10.0.0.5-10.0.0.9
    tcp dport 85 redirect to 8080
  }
  chain post { type nat hook postrouting priority srcnat; policy accept;
    oifname "eth0" masquerade
    ip saddr 10.1.0.0/16 snat to 10.0.0.1
    ip saddr 10.2.0.0/16 snat to 10.0.0.1-10.0.0.4
    ip saddr 10.3.0.0/16 tcp dport 1-65535 snat to 10.0.0.1:1024-2000
    ip saddr 10.4.0.0/16 meta l4proto udp snat ip to 10.0.0.1:1024-2000 random
    ip saddr 10.5.0.0/16 snat to 10.0.0.1 fully-random,persistent
    ip saddr 10.6.0.0/16 meta l4proto { tcp, udp } masquerade to :10000-20000 random
    ip saddr 10.7.0.0/16 ip protocol tcp snat to 10.0.0.1:5000
    ip saddr 10.8.0.0/16 masquerade random,persistent
    ip saddr 10.9.0.0/16 snat 10.0.0.9 persistent random
  }
  chain in { type nat hook input priority 100; }
  chain out { type nat hook output priority -100; }
}
table inet nat6 {
  chain post { type nat hook postrouting priority srcnat;
    snat ip to 10.0.0.1
    masquerade
  }
}
)");
  EXPECT_EQ(format(rs),
            "table ip nat {\n"
            "\tchain pre {\n"
            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
            "\t\ttcp dport 80 dnat to 10.0.0.5:8080\n"
            "\t\ttcp dport 81 dnat to 10.0.0.5\n"
            "\t\ttcp dport 82 redirect to :8080\n"
            "\t\ttcp dport 83 redirect\n"
            "\t\ttcp dport 84 dnat to 10.0.0.5-10.0.0.9\n"
            "\t\ttcp dport 85 redirect to :8080\n"
            "\t}\n\n"
            "\tchain post {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            "\t\toifname \"eth0\" masquerade\n"
            "\t\tip saddr 10.1.0.0/16 snat to 10.0.0.1\n"
            "\t\tip saddr 10.2.0.0/16 snat to 10.0.0.1-10.0.0.4\n"
            "\t\tip saddr 10.3.0.0/16 tcp dport 1-65535 snat to 10.0.0.1:1024-2000\n"
            "\t\tip saddr 10.4.0.0/16 meta l4proto udp snat to 10.0.0.1:1024-2000 random\n"
            "\t\tip saddr 10.5.0.0/16 snat to 10.0.0.1 fully-random,persistent\n"
            "\t\tip saddr 10.6.0.0/16 meta l4proto { tcp, udp } masquerade to :10000-20000 "
            "random\n"
            "\t\tip saddr 10.7.0.0/16 ip protocol tcp snat to 10.0.0.1:5000\n"
            "\t\tip saddr 10.8.0.0/16 masquerade random,persistent\n"
            "\t\tip saddr 10.9.0.0/16 snat to 10.0.0.9 random\n"
            "\t}\n\n"
            "\tchain in {\n"
            "\t\ttype nat hook input priority 100; policy accept;\n"
            "\t}\n\n"
            "\tchain out {\n"
            "\t\ttype nat hook output priority -100; policy accept;\n"
            "\t}\n"
            "}\n"
            "table inet nat6 {\n"
            "\tchain post {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            "\t\tsnat ip to 10.0.0.1\n"
            "\t\tmasquerade\n"
            "\t}\n"
            "}\n");
  expect_round_trip(rs);
  const statement& s = rs.tables[0].chains[1].rules[3].stmts[0];
  EXPECT_EQ(s.nat.kind, nat_kind::snat);
  EXPECT_EQ(s.nat.addr_min, 0x0a000001u);
  EXPECT_EQ(s.nat.port_min, 1024);
  EXPECT_EQ(s.nat.port_max, 2000);
}

// The mapped forms (`dnat to KEY map`, `dnat ip addr . port to KEY map`, named maps of
// addresses), listed as nft 1.0.6 lists the same file on this machine's kernel.
TEST(Nat, MappedAddressesListAsNft) {
  const std::string listing =
      "table ip nat {\n"
      "\tmap pf {\n"
      "\t\ttype ipv4_addr : ipv4_addr\n"
      "\t\telements = { 10.0.2.1 : 10.0.1.5 }\n"
      "\t}\n\n"
      "\tmap pf2 {\n"
      "\t\ttype ipv4_addr . inet_service : ipv4_addr . inet_service\n"
      "\t\telements = { 10.0.2.1 . 8080 : 10.0.1.5 . 80 }\n"
      "\t}\n\n"
      "\tchain prerouting {\n"
      "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
      "\t\tdnat to ip daddr map { 10.0.2.1 : 10.0.1.5, 10.0.2.3 : 10.0.1.6 }\n"
      "\t\tdnat to tcp dport map { 80 : 10.0.1.5, 8080-8090 : 10.0.1.6 }\n"
      "\t\tdnat to ip daddr map @pf\n"
      "\t\tdnat ip to ip daddr . tcp dport map { 10.0.2.1 . 8080 : 10.0.1.5 . 80 }\n"
      "\t\tdnat ip to ip daddr . tcp dport map @pf2\n"
      "\t\tdnat to tcp dport map { 80 : 10.0.1.5 }:8080\n"
      "\t\ttcp dport 22 dnat to ip saddr map { 10.0.0.0/8 : 10.0.1.7 }\n"
      "\t\tdnat to ip saddr . ip daddr map { 10.0.1.5 . 10.0.2.2 : 10.0.2.7 }\n"
      "\t\tip protocol tcp dnat to ip daddr map { 10.0.2.1 : 10.0.1.5 }:80\n"
      "\t}\n\n"
      "\tchain postrouting {\n"
      "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
      "\t\tsnat to ip saddr map { 10.0.1.0/24 : 10.0.2.1 }\n"
      "\t\tsnat ip to ip saddr map { 10.0.1.0/24 : 10.0.2.1-10.0.2.5 }\n"
      "\t}\n"
      "}\n";
  nft::test::expect_lists_as(R"(table ip nat {
	map pf {
		type ipv4_addr : ipv4_addr
		elements = { 10.0.2.1 : 10.0.1.5 }
	}
	map pf2 {
		type ipv4_addr . inet_service : ipv4_addr . inet_service
		elements = { 10.0.2.1 . 8080 : 10.0.1.5 . 80 }
	}
	chain prerouting {
		type nat hook prerouting priority dstnat;
		dnat to ip daddr map { 10.0.2.1 : 10.0.1.5, 10.0.2.3 : 10.0.1.6 }
		dnat to tcp dport map { 80 : 10.0.1.5, 8080-8090 : 10.0.1.6 }
		dnat to ip daddr map @pf
		dnat ip addr . port to ip daddr . tcp dport map { 10.0.2.1 . 8080 : 10.0.1.5 . 80 }
		dnat ip addr . port to ip daddr . tcp dport map @pf2
		dnat to tcp dport map { 80 : 10.0.1.5 } : 8080
		tcp dport 22 dnat to ip saddr map { 10.0.0.0/8 : 10.0.1.7 }
		dnat ip to ip saddr . ip daddr map { 10.0.1.5 . 10.0.2.2 : 10.0.2.7 }
		ip protocol tcp dnat to ip daddr map { 10.0.2.1 : 10.0.1.5 }:80
	}
	chain postrouting {
		type nat hook postrouting priority srcnat;
		snat to ip saddr map { 10.0.1.0/24 : 10.0.2.1 }
		snat ip to ip saddr map { 10.0.1.0/24 : 10.0.2.1-10.0.2.5 }
	}
}
)",
                             listing);
}

// nft's own example (/usr/share/doc/nftables/examples/nat.nft): the map form without `to`
// (listed with it), and a line continued by a backslash. nft 1.0.6's listing of the same.
TEST(Nat, MapWithoutToAndContinuedLines) {
  nft::test::expect_lists_as(
      "table ip nat {\n"
      "\tchain postrouting {\n"
      "\t\ttype nat hook postrouting priority 0;\n"
      "\t\tsnat ip saddr map { 192.168.1.1 : 1.1.1.1, \\\n"
      "\t\t\t192.168.2.2 : 2.2.2.2 }\n"
      "\t}\n"
      "}\n",
      "table ip nat {\n"
      "\tchain postrouting {\n"
      "\t\ttype nat hook postrouting priority filter; policy accept;\n"
      "\t\tsnat to ip saddr map { 192.168.1.1 : 1.1.1.1, 192.168.2.2 : 2.2.2.2 }\n"
      "\t}\n"
      "}\n");
  EXPECT_NE(parse_err("table ip nat {\n  chain pre {\n    type nat hook prerouting priority 0;\n"
                      "    dnat tcp dport map { 1000 : 1.1.1.1 } : tcp dport map { 1000 : 1234 }\n"
                      "  }\n}\n")
                .find("rs.nft:4:45: error: not supported: a NAT port from a map"),
            std::string::npos);
}

// The kernel's checks (nft_nat_validate and friends), with nft's texts where nft has them.
TEST(Nat, ErrorsSayWhatIsWrong) {
  auto chain_err = [](const std::string& type, const std::string& rule,
                      const std::string& more = "") {
    return parse_err("table ip t {\n  chain c {\n    " + type + "\n    " + rule + "\n  }\n" + more +
                     "}\n");
  };
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;", "snat to 10.0.0.4-10.0.0.1"),
            "rs.nft:4:13: error: Range has zero or negative size\n"
            "    snat to 10.0.0.4-10.0.0.1\n"
            "            ^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;",
                      "tcp dport 1 snat to 10.0.0.4:2000-1000"),
            "rs.nft:4:34: error: Range has zero or negative size\n"
            "    tcp dport 1 snat to 10.0.0.4:2000-1000\n"
            "                                 ^^^^^^^^^");
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;", "snat to 10.0.0.1:1024-2000"),
            "rs.nft:4:22: error: transport protocol mapping is only valid after transport "
            "protocol match\n"
            "    snat to 10.0.0.1:1024-2000\n"
            "                     ^^^^^^^^^");
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;", "snat to 10.0.0.1 counter"),
            "rs.nft:4:22: error: Statement after terminal statement has no effect\n"
            "    snat to 10.0.0.1 counter\n"
            "                     ^^^^^^^");
  EXPECT_EQ(chain_err("type filter hook forward priority 0;", "snat to 10.0.0.1"),
            "rs.nft:4:5: error: snat is only valid in chains of type nat (base chain 'c' is type "
            "filter; nft: Could not process rule: Operation not supported)\n"
            "    snat to 10.0.0.1\n"
            "    ^^^^");
  EXPECT_EQ(chain_err("type nat hook prerouting priority dstnat;", "masquerade"),
            "rs.nft:4:5: error: masquerade is not allowed in the prerouting hook (base chain "
            "'c'; masquerade runs at postrouting; nft: Could not process rule: "
            "Operation not supported)\n"
            "    masquerade\n"
            "    ^^^^^^^^^^");
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;", "redirect"),
            "rs.nft:4:5: error: redirect is not allowed in the postrouting hook (base chain "
            "'c'; redirect runs at prerouting and output; nft: Could not process rule: "
            "Operation not supported)\n"
            "    redirect\n"
            "    ^^^^^^^^");
  // Through a jump: the statement is checked against the base chains that reach it.
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;", "jump d",
                      "  chain d {\n    dnat to 10.0.0.1\n  }\n"),
            "rs.nft:7:5: error: dnat is not allowed in the postrouting hook (base chain 'c'; "
            "dnat runs at prerouting and output; nft: Could not process rule: Operation not "
            "supported)\n"
            "    dnat to 10.0.0.1\n"
            "    ^^^^");
  EXPECT_EQ(parse_err("table ip t {\n  chain c {\n    type nat hook forward priority 0;\n  }\n}\n"),
            "rs.nft:3:10: error: chain type nat is not valid at hook forward: NAT runs at "
            "prerouting, input, output and postrouting (nft: Could not process rule: Operation "
            "not supported)\n"
            "    type nat hook forward priority 0;\n"
            "         ^^^^^^^^^^^^^^^^");
  // A named map of addresses holds single addresses (not ranges, not address . port), and an
  // anonymous map one kind of data.
  auto has = [](const std::string& err, const std::string& what) {
    return err.find(what) != std::string::npos;
  };
  const std::string pre = "type nat hook prerouting priority dstnat;";
  EXPECT_TRUE(
      has(chain_err(pre, "dnat to ip daddr map @m",
                    "  map m {\n    type ipv4_addr : ipv4_addr\n    elements = { 10.0.2.1 "
                    ": 10.0.1.5 . 80 }\n  }\n"),
          "rs.nft:8:38: error: the map's data are addresses (ipv4_addr), not address . port"));
  EXPECT_TRUE(has(chain_err(pre, "dnat to ip daddr map @m",
                            "  map m {\n    type ipv4_addr : ipv4_addr\n    elements = { 10.0.2.1 "
                            ": 10.0.1.5-10.0.1.6 }\n  }\n"),
                  "rs.nft:8:29: error: Value must be a singleton"));
  EXPECT_TRUE(has(chain_err(pre,
                            "tcp dport 1 dnat to ip daddr map { 10.0.2.1 : 10.0.1.5-10.0.1.6, "
                            "10.0.2.2 : 10.0.1.7 . 80 }"),
                  "error: Could not process rule: Invalid argument"));
  // Mapped forms: nft 1.0.6's texts for the same mistakes.
  EXPECT_EQ(chain_err("type nat hook prerouting priority dstnat;",
                      "dnat to ip daddr map { 10.0.2.1 : 10.0.1.5 }:80"),
            "rs.nft:4:50: error: transport protocol mapping is only valid after transport "
            "protocol match\n"
            "    dnat to ip daddr map { 10.0.2.1 : 10.0.1.5 }:80\n"
            "                                                 ^^");
  EXPECT_EQ(chain_err("type nat hook prerouting priority dstnat;",
                      "dnat ip addr . port to ip daddr map { 10.0.2.1 : 10.0.1.5 . 80 }"),
            "rs.nft:4:28: error: transport protocol mapping is only valid after transport "
            "protocol match\n"
            "    dnat ip addr . port to ip daddr map { 10.0.2.1 : 10.0.1.5 . 80 }\n"
            "                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;", "snat to 10.0.0.1 sticky"),
            "rs.nft:4:22: error: syntax error, unexpected 'sticky', expecting a match or "
            "statement\n"
            "    snat to 10.0.0.1 sticky\n"
            "                     ^^^^^^");
  // masquerade runs at postrouting only (snat at input too).
  EXPECT_EQ(chain_err("type nat hook input priority 100;", "masquerade"),
            "rs.nft:4:5: error: masquerade is not allowed in the input hook (base chain 'c'; "
            "masquerade runs at postrouting; nft: Could not process rule: Operation not "
            "supported)\n"
            "    masquerade\n"
            "    ^^^^^^^^^^");
  // NAT runs after conntrack (-200).
  EXPECT_EQ(parse_err("table ip t {\n  chain c {\n    type nat hook prerouting priority -200;\n"
                      "  }\n}\n"),
            "rs.nft:3:10: error: chain type nat must run after conntrack: priority above -200 "
            "(nft: Could not process rule: Operation not supported)\n"
            "    type nat hook prerouting priority -200;\n"
            "         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^");
  // `th` names no protocol for nft; a named set of protocols neither.
  EXPECT_EQ(
      chain_err("type nat hook prerouting priority dstnat;", "th dport 80 dnat to 1.2.3.4:8080"),
      "rs.nft:4:33: error: transport protocol mapping is only valid after transport "
      "protocol match\n"
      "    th dport 80 dnat to 1.2.3.4:8080\n"
      "                                ^^^^");
  // masquerade and redirect take one flag list.
  EXPECT_EQ(chain_err("type nat hook postrouting priority srcnat;", "masquerade random persistent"),
            "rs.nft:4:23: error: syntax error, unexpected 'persistent', expecting a match or "
            "statement\n"
            "    masquerade random persistent\n"
            "                      ^^^^^^^^^^");
  // In an inet table an address needs its family, written or matched.
  EXPECT_EQ(
      parse_err("table inet t {\n  chain c {\n    type nat hook postrouting priority srcnat;\n"
                "    snat to 10.0.0.1\n  }\n}\n"),
      "rs.nft:4:5: error: ip or ip6 must be specified with address for inet tables.\n"
      "    snat to 10.0.0.1\n"
      "    ^^^^");
  const ruleset inet = parse_ok(
      "table inet t {\n  chain c {\n    type nat hook postrouting priority srcnat;\n"
      "    ip saddr 10.1.0.0/16 snat to 10.0.0.1\n  }\n}\n");
  EXPECT_EQ(format_rule(inet.tables[0].chains[0].rules[0]),
            "ip saddr 10.1.0.0/16 snat ip to 10.0.0.1");
  // A regular chain with NAT that no base chain reaches is fine, as in nft.
  parse_ok("table ip t {\n  chain d {\n    dnat to 10.0.0.1\n  }\n}\n");
}

}  // namespace
}  // namespace ctgate::nft
