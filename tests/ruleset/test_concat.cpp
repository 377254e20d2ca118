// Unit tests for concatenations (`ip saddr . tcp dport`) in the nftables subset (lib/ruleset):
// set and map types, elements, matches, vmaps and mark maps parsed, listed as nft lists them
// (checked against nft 1.0.6's listing of the same ruleset), refused with nft's errors, and
// compiled to concat_table lookups whose answers are checked key by key.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {
namespace {

constexpr uint64_t ip4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

ruleset parse_ok(const std::string& text) {
  result<ruleset> rs = parse_string(text, "rs.nft");
  EXPECT_TRUE(rs.ok()) << text << "\n" << rs.error().to_string();
  return rs ? *rs : ruleset{};
}

std::string parse_err(const std::string& text) {
  result<ruleset> rs = parse_string(text, "rs.nft");
  EXPECT_FALSE(rs.ok()) << text;
  return rs ? "" : rs.error().to_string();
}

// The error of one rule line; the rule is on line 3 after four spaces (column 5).
std::string rule_err(const std::string& r, const std::string& sets = "") {
  return parse_err("table ip t {\n  chain c {\n    " + r + "\n  }\n" + sets + "}\n");
}

std::unique_ptr<compiled_ruleset> compile_ok(const std::string& text) {
  const ruleset rs = parse_ok(text);
  result<std::unique_ptr<compiled_ruleset>> c = compile(rs, "rs.nft", {"wan", "lan"}, 1);
  EXPECT_TRUE(c.ok()) << c.error().message;
  return c ? std::move(*c) : nullptr;
}

// What `nft list ruleset` printed for this ruleset (nft 1.0.6, Debian 12), after `nft -f` of
// the same text with the declarations in the order the listing has them.
const char* const kListing = R"(table ip t {
	set s {
		type ipv4_addr . inet_service
		elements = { 10.0.0.1 . 22,
			     10.0.0.2 . 80,
			     10.0.0.3 . 443 }
	}

	set r {
		type ipv4_addr . inet_service
		flags interval
		elements = { 10.0.0.0/24 . 1000-2000,
			     10.1.0.1 . 22 }
	}

	map m {
		type ipv4_addr . inet_service : verdict
		elements = { 10.0.0.1 . 22 : accept,
			     10.0.0.2 . 80 : drop }
	}

	set s3 {
		type ipv4_addr . ipv4_addr . inet_service
		elements = { 1.1.1.1 . 2.2.2.2 . 53 }
	}

	chain c {
		type filter hook forward priority filter; policy accept;
		ip saddr . tcp dport { 10.0.0.1 . 22, 10.0.0.2 . 23 } accept
		ip saddr . ip daddr . udp dport @s3 counter packets 0 bytes 0
		ip saddr . tcp dport vmap @m
		ip daddr . tcp dport vmap { 10.0.0.1 . 22 : accept, 10.0.0.0/8 . 100-200 : drop }
		meta mark set ip saddr . tcp dport map { 10.0.0.1 . 22 : 0x00000001 }
		ip saddr . tcp dport != @s drop
		ip saddr . tcp dport != { 10.0.0.1 . 22 } drop
	}
}
)";

TEST(Concatenations, ListLikeNftAndReadBackTheSame) {
  const ruleset rs = parse_ok(kListing);
  const std::string listed = format(rs);
  EXPECT_EQ(listed, kListing);
  EXPECT_EQ(format(parse_ok(listed)), listed);
  const set& s = rs.tables[0].sets[0];
  EXPECT_EQ(s.width(), 2u);
  EXPECT_EQ(s.size(), 3u);
  ASSERT_EQ(s.elems.size(), 6u);
  EXPECT_EQ(s.elems[2].lo, ip4(10, 0, 0, 2));
  EXPECT_EQ(s.elems[3].lo, 80u);
  const set& r = rs.tables[0].sets[1];
  EXPECT_EQ(r.elems[0].hi, ip4(10, 0, 0, 255));
  EXPECT_EQ(r.elems[1].lo, 1000u);
  EXPECT_EQ(r.elems[1].hi, 2000u);
  const rule& first = rs.tables[0].chains[0].rules[0];
  ASSERT_EQ(first.matches.size(), 1u);
  EXPECT_EQ(first.matches[0].f, field::ip_saddr);
  ASSERT_EQ(first.matches[0].concat.size(), 1u);
  EXPECT_EQ(first.matches[0].concat[0], field::tcp_dport);
}

TEST(Concatenations, TypeofGivesTheConcatenatedType) {
  const ruleset rs = parse_ok(
      "table ip t { set s { typeof ip saddr . tcp dport . meta mark; elements = { 10.0.0.1 . 22 "
      ". 7 } } }");
  EXPECT_EQ(rs.tables[0].sets[0].type, "ipv4_addr . inet_service . mark");
  EXPECT_EQ(rs.tables[0].sets[0].size(), 1u);
}

TEST(Concatenations, DuplicatesAddAndDeleteElements) {
  const ruleset base = parse_ok(
      "table ip t { set s { type ipv4_addr . inet_service; elements = { 10.0.0.1 . 22, "
      "10.0.0.1 . 22, 10.0.0.1 . 23 } } }");
  EXPECT_EQ(base.tables[0].sets[0].size(), 2u);
  result<ruleset> more = parse_string(
      "add element ip t s { 10.0.0.2 . 22, 10.0.0.1 . 22 }\n"
      "delete element ip t s { 10.0.0.1 . 23 }\n",
      "cmd.nft", {}, &base);
  ASSERT_TRUE(more.ok()) << more.error().to_string();
  const set& s = more->tables[0].sets[0];
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.elems[0].lo, ip4(10, 0, 0, 1));
  EXPECT_EQ(s.elems[1].lo, 22u);
  EXPECT_EQ(s.elems[2].lo, ip4(10, 0, 0, 2));
  EXPECT_EQ(s.elem_text.size(), 2u);
  result<ruleset> missing =
      parse_string("delete element ip t s { 10.0.0.1 . 24 }\n", "cmd.nft", {}, &base);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().to_string(),
            "cmd.nft:1:25: error: element 10.0.0.1 . 24 is not in set 's' of table ip t (nft: No "
            "such file or directory)\n"
            "delete element ip t s { 10.0.0.1 . 24 }\n"
            "                        ^^^^^^^^^^^^^");
}

TEST(Concatenations, ErrorsAsNftGivesThem) {
  EXPECT_EQ(rule_err("ip saddr . tcp dport 10.0.0.1 . 22 accept"),
            "rs.nft:3:5: error: Use concatenations with sets and maps, not singleton values\n"
            "    ip saddr . tcp dport 10.0.0.1 . 22 accept\n"
            "    ^^^^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(rule_err("ip saddr . tcp dport < { 10.0.0.1 . 22 }"),
            "rs.nft:3:26: error: Relational expression (<) is undefined for concatenations\n"
            "    ip saddr . tcp dport < { 10.0.0.1 . 22 }\n"
            "                         ^");
  EXPECT_EQ(rule_err("ip saddr . tcp dport { 10.0.0.1 }"),
            "rs.nft:3:28: error: element 10.0.0.1 has 1 of the key's 2 parts: write them joined "
            "with ' . '\n"
            "    ip saddr . tcp dport { 10.0.0.1 }\n"
            "                           ^^^^^^^^");
  EXPECT_EQ(rule_err("ip saddr . tcp dport { 10.0.0.1 . 22 . 5 }"),
            "rs.nft:3:42: error: element has more parts than the key's 2\n"
            "    ip saddr . tcp dport { 10.0.0.1 . 22 . 5 }\n"
            "                                         ^");
  EXPECT_EQ(rule_err("ip saddr . iifname { 10.0.0.1 . \"lan\" }"),
            "rs.nft:3:16: error: not supported: iifname in a concatenation\n"
            "    ip saddr . iifname { 10.0.0.1 . \"lan\" }\n"
            "               ^^^^^^^");
  EXPECT_EQ(rule_err("ip saddr . ip daddr . tcp sport . tcp dport . meta mark { 1.1.1.1 . "
                     "1.1.1.1 . 1 . 2 . 3 }"),
            "rs.nft:3:51: error: not supported: concatenations of more than 4 fields\n"
            "    ip saddr . ip daddr . tcp sport . tcp dport . meta mark { 1.1.1.1 . 1.1.1.1 . 1 "
            ". 2 . 3 }\n"
            "                                                  ^^^^");
  EXPECT_EQ(rule_err("ip saddr . ip daddr @s", "  set s { type ipv4_addr . inet_service; }\n"),
            "rs.nft:3:25: error: datatype mismatch: 'ip saddr . ip daddr' expects ipv4_addr . "
            "ipv4_addr, set 's' has type ipv4_addr . inet_service\n"
            "    ip saddr . ip daddr @s\n"
            "                        ^^");
  EXPECT_EQ(rule_err("ip saddr . udp dport . tcp dport { 1.1.1.1 . 1 . 2 }"),
            "rs.nft:3:5: error: conflicting protocols specified: udp vs. tcp\n"
            "    ip saddr . udp dport . tcp dport { 1.1.1.1 . 1 . 2 }\n"
            "    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t { set s { type ipv4_addr . inet_service; elements = { "
                      "10.0.0.0/8 . 22 } } }"),
            "rs.nft:1:66: error: You must add 'flags interval' to your set declaration if you "
            "want to add prefix elements\n"
            "table ip t { set s { type ipv4_addr . inet_service; elements = { 10.0.0.0/8 . 22 } "
            "} }\n"
            "                                                                 ^^^^^^^^^^^^^^^");
  EXPECT_EQ(parse_err("table ip t { set s { type ipv4_addr . inet_service; auto-merge; } }"),
            "rs.nft:1:18: error: not supported: auto-merge with concatenations\n"
            "table ip t { set s { type ipv4_addr . inet_service; auto-merge; } }\n"
            "                 ^");
}

// Whether the first concatenated lookup of the ruleset holds `key` (0) or not (k_none).
uint32_t find(const compiled_ruleset& c, std::vector<uint64_t> key) {
  return concat_contains(c, c.concat_lookups.at(0), key.data()) ? 0 : k_none;
}

TEST(ConcatTable, ExactElementsOfTwoFields) {
  auto c = compile_ok(
      "table ip t { set s { type ipv4_addr . inet_service; elements = { 10.0.0.1 . 22, "
      "10.0.0.1 . 80, 10.0.0.2 . 22 } }\n"
      "chain c { ip saddr . tcp dport @s accept; } }");
  ASSERT_TRUE(c);
  EXPECT_EQ(find(*c, {ip4(10, 0, 0, 1), 22}), 0u);
  EXPECT_EQ(find(*c, {ip4(10, 0, 0, 1), 80}), 0u);
  EXPECT_EQ(find(*c, {ip4(10, 0, 0, 2), 22}), 0u);
  EXPECT_EQ(find(*c, {ip4(10, 0, 0, 2), 80}), k_none);
  EXPECT_EQ(find(*c, {ip4(10, 0, 0, 3), 22}), k_none);
  EXPECT_EQ(find(*c, {0, 0}), k_none);
  EXPECT_EQ(find(*c, {UINT32_MAX, 0xffff}), k_none);
  ASSERT_EQ(c->concat_lookups.size(), 1u);
  EXPECT_EQ(c->concat_lookups[0].width, 2u);
  EXPECT_EQ(c->concat_lookups[0].fields[1], field::tcp_dport);
  EXPECT_TRUE(c->matches[0].concat);
}

TEST(ConcatTable, OverlappingRangesInEveryFieldAndTheFirstElementWins) {
  auto c = compile_ok(
      "table ip t { map m { type ipv4_addr . inet_service . mark : mark; flags interval;\n"
      "  elements = { 10.0.0.0/8 . 1000-2000 . 5 : 1, 10.1.0.0/16 . 1500-3000 . 0-9 : 2,\n"
      "               10.1.2.3 . 1800 . 5 : 3, 0.0.0.0/0 . 0-65535 . 7 : 4 } }\n"
      "chain c { meta mark set ip saddr . tcp dport . ct mark map @m; } }");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->concat_data.size(), 1u);
  ASSERT_NE(c->concat_lookups.at(0).table, k_none);  // ranges before exact values: general
  auto mark = [&](uint64_t a, uint64_t p, uint64_t m) {
    const std::vector<uint64_t> key{a, p, m};
    const range_map::entry* e = concat_map_find(*c, c->concat_lookups[0], key.data());
    return e == nullptr ? UINT64_MAX : e->value;
  };
  EXPECT_EQ(mark(ip4(10, 9, 9, 9), 1000, 5), 1u);
  EXPECT_EQ(mark(ip4(10, 9, 9, 9), 2001, 5), UINT64_MAX);
  EXPECT_EQ(mark(ip4(10, 1, 2, 3), 1800, 5), 1u);  // elements 1, 2 and 3 hold it: the first
  EXPECT_EQ(mark(ip4(10, 1, 2, 3), 2500, 5), 2u);
  EXPECT_EQ(mark(ip4(10, 1, 2, 3), 2500, 10), UINT64_MAX);
  EXPECT_EQ(mark(ip4(10, 2, 0, 0), 2500, 9), UINT64_MAX);
  EXPECT_EQ(mark(ip4(192, 168, 0, 1), 7, 7), 4u);
  EXPECT_EQ(mark(ip4(10, 0, 0, 1), 1000, 7), 4u);
  EXPECT_EQ(mark(ip4(255, 255, 255, 255), 65535, 7), 4u);
  EXPECT_TRUE(c->uses_ct);
}

TEST(ConcatTable, AnonymousSetsVmapsAndAnEmptySet) {
  auto c = compile_ok(
      "table ip t { set e { type ipv4_addr . inet_service; }\n"
      "chain c { ip saddr . tcp dport @e accept\n"
      "  ip daddr . udp dport vmap { 10.0.0.1 . 53 : accept, 10.0.0.0/24 . 53 : drop }\n"
      "  ip daddr . udp dport vmap { 10.0.0.1 . 53 : accept, 10.0.0.2 . 50-60 : drop } } }");
  ASSERT_TRUE(c);
  EXPECT_EQ(find(*c, {0, 0}), k_none);
  ASSERT_EQ(c->concat_lookups.size(), 3u);
  EXPECT_NE(c->concat_lookups[0].set, k_none);  // packed (and empty)
  EXPECT_NE(c->concat_lookups[1].table, k_none);
  EXPECT_NE(c->concat_lookups[2].map, k_none);  // packed: exact, then a range
  for (size_t i = 1; i < 3; ++i) {
    const concat_lookup& cl = c->concat_lookups[i];
    std::vector<uint64_t> k1{ip4(10, 0, 0, 1), 53}, k2{ip4(10, 0, 0, 2), 53},
        k3{ip4(10, 0, 0, 2), 61};
    ASSERT_NE(concat_map_find(*c, cl, k1.data()), nullptr);
    EXPECT_EQ(concat_map_find(*c, cl, k1.data())->verdict, stmt_kind::accept);
    ASSERT_NE(concat_map_find(*c, cl, k2.data()), nullptr);
    EXPECT_EQ(concat_map_find(*c, cl, k2.data())->verdict, stmt_kind::drop);
    EXPECT_EQ(concat_map_find(*c, cl, k3.data()), nullptr);
  }
  EXPECT_NE(c->stmts[1].concat, k_none);
}

// Exact elements, and exact values followed by a range, fit in one number when the key has at
// most 64 bits; so does a three-field key of 64 bits. Wider keys take the general table.
TEST(ConcatTable, PackedWhenTheKeyFitsInOneNumber) {
  auto c = compile_ok(
      "table ip t { chain c {\n"
      "  ip saddr . ip daddr { 10.0.0.1 . 10.0.0.2 } accept\n"
      "  ip saddr . tcp sport . tcp dport { 10.0.0.1 . 1 . 2 } accept\n"
      "  ip saddr . ip daddr . tcp dport { 10.0.0.1 . 10.0.0.2 . 3 } accept\n"
      "  ip saddr . tcp dport { 10.0.0.1 . 1-2, 10.0.0.0/8 . 0-65535 } accept } }");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->concat_lookups.size(), 4u);
  EXPECT_NE(c->concat_lookups[0].set, k_none);
  EXPECT_NE(c->concat_lookups[1].set, k_none);
  EXPECT_NE(c->concat_lookups[2].table, k_none);  // 80 bits
  EXPECT_NE(c->concat_lookups[3].set, k_none);    // a prefix, then whole ports
  std::vector<uint64_t> in{ip4(10, 9, 9, 9), 7}, out{ip4(11, 0, 0, 0), 7};
  EXPECT_TRUE(concat_contains(*c, c->concat_lookups[3], in.data()));
  EXPECT_FALSE(concat_contains(*c, c->concat_lookups[3], out.data()));
  std::vector<uint64_t> k3{ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 3},
      k4{ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 4};
  EXPECT_TRUE(concat_contains(*c, c->concat_lookups[2], k3.data()));
  EXPECT_FALSE(concat_contains(*c, c->concat_lookups[2], k4.data()));
}

// 100k elements, as the issue's benchmark has them: exact pairs (packed), and prefixes with a
// port (the general table). Every one is found and their neighbours are not; the general
// table stays proportional to the elements.
std::string hundred_thousand(bool prefixes) {
  std::string text = std::string("table ip t { set s { type ipv4_addr . inet_service; ") +
                     (prefixes ? "flags interval; " : "") + "elements = { ";
  for (uint32_t i = 0; i < 100000; ++i) {
    const uint64_t a = ip4(10, 0, 0, 0) + i * 4;
    text += (i ? ", " : "") + std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) +
            "." + std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255) +
            (prefixes ? "/31" : "") + " . " + std::to_string(1000 + i % 50000);
  }
  return text + " } }\nchain c { ip saddr . tcp dport @s accept; } }";
}

TEST(ConcatTable, AHundredThousandElements) {
  for (bool prefixes : {false, true}) {
    auto c = compile_ok(hundred_thousand(prefixes));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->concat_lookups[0].table != k_none, prefixes);
    for (uint32_t i = 0; i < 100000; i += 7) {
      const uint64_t a = ip4(10, 0, 0, 0) + i * 4;
      ASSERT_EQ(find(*c, {a, 1000 + i % 50000}), 0u) << i;
      ASSERT_EQ(find(*c, {a + 1, 1000 + i % 50000}), prefixes ? 0u : k_none) << i;
      ASSERT_EQ(find(*c, {a, 1001 + i % 50000}), k_none) << i;
      ASSERT_EQ(find(*c, {a + 2, 1000 + i % 50000}), k_none) << i;
    }
    if (prefixes) {
      EXPECT_LT(c->concat_tables[0].segments(), 600000u);
    }
  }
}

// Many single values (with or without concatenation) are hashed; the answers are the sorted
// array's. Keys include 0 and UINT64_MAX (the hash table's empty marker).
TEST(ExactIndex, HashedSetsAndMapsAnswerAsTheSortedArrays) {
  std::vector<value_range> vals{{0, 0}, {UINT64_MAX, UINT64_MAX}};
  uint64_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    vals.push_back({x >> 3, x >> 3});
  }
  const range_set hashed(vals);
  EXPECT_TRUE(hashed.hashed());
  std::vector<value_range> few(vals.begin(), vals.begin() + 10);
  const range_set searched(few);
  EXPECT_FALSE(searched.hashed());
  std::vector<range_map::entry> data(vals.size());
  for (size_t i = 0; i < data.size(); ++i) data[i].value = i;
  const range_map map(vals, data);
  EXPECT_TRUE(map.hashed());
  for (size_t i = 0; i < vals.size(); ++i) {
    ASSERT_TRUE(hashed.contains(vals[i].lo)) << i;
    ASSERT_NE(map.find(vals[i].lo), nullptr) << i;
    ASSERT_EQ(map.find(vals[i].lo)->value, i) << i;
    ASSERT_EQ(searched.contains(vals[i].lo), i < 10) << i;
  }
  for (uint64_t v : {uint64_t{1}, uint64_t{7}, UINT64_MAX - 1, uint64_t{1} << 62}) {
    EXPECT_FALSE(hashed.contains(v)) << v;
    EXPECT_EQ(map.find(v), nullptr) << v;
  }
  // Consecutive values merge into one range, which stays a binary search.
  std::vector<value_range> run;
  for (uint64_t v = 100; v < 1100; ++v) run.push_back({v, v});
  const range_set merged(run);
  EXPECT_FALSE(merged.hashed());
  EXPECT_EQ(merged.size(), 1u);
  EXPECT_TRUE(merged.contains(1099));
  EXPECT_FALSE(merged.contains(1100));
}

}  // namespace
}  // namespace ctgate::nft
