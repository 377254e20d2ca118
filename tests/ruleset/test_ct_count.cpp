// Unit tests for `ct count` (lib/ruleset/parser_rule.cpp, format.cpp, compile.cpp): nft's
// grammar, its listing, the errors, and what the compiled ruleset hands conntrack. The
// expected listings were printed by nft 1.0.6 on this machine's kernel (6.18) for the same
// rules (`nft -f F; nft list ruleset`).
#include <gtest/gtest.h>

#include <string>

#include "conntrack/ct_count.h"
#include "nft_test_util.h"
#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {
namespace {

using test::apply;
using test::expect_lists_as;

TEST(NftCtCount, ListsAsNft) {
  expect_lists_as(
      "table ip t {\n"
      "  chain input {\n"
      "    type filter hook input priority filter;\n"
      "    tcp dport 22 ct count over 2 counter packets 0 bytes 0 reject\n"
      "    tcp dport 23 ct count 5 accept\n"
      "    ct count over 0x10\n"
      "    ct count over 4294967295\n"
      "  }\n"
      "}\n",
      "table ip t {\n"
      "\tchain input {\n"
      "\t\ttype filter hook input priority filter; policy accept;\n"
      "\t\ttcp dport 22 ct count over 2 counter packets 0 bytes 0 reject\n"
      "\t\ttcp dport 23 ct count 5 accept\n"
      "\t\tct count over 16\n"
      "\t\tct count over 4294967295\n"
      "\t}\n"
      "}\n");
}

TEST(NftCtCount, ErrorsAsNft) {
  ruleset rs;
  // nft: "syntax error, unexpected string, expecting number or over".
  EXPECT_EQ(apply("add table ip t\nadd chain ip t c\nadd rule ip t c ct count until 3\n", &rs),
            "rs.nft:3:26: error: syntax error, unexpected 'until', expecting number or over\n"
            "add rule ip t c ct count until 3\n"
            "                         ^^^^^");
  // nft: "syntax error, unexpected newline, expecting number or over".
  EXPECT_NE(apply("add table ip t\nadd chain ip t c\nadd rule ip t c ct count\n", &rs)
                .find("expecting number or over"),
            std::string::npos);
  EXPECT_NE(apply("add table ip t\nadd chain ip t c\nadd rule ip t c ct count over\n", &rs)
                .find("expecting number"),
            std::string::npos);
  // nft takes 4294967296 and keeps its low 32 bits (0): an error here.
  EXPECT_NE(
      apply("add table ip t\nadd chain ip t c\nadd rule ip t c ct count over 4294967296\n", &rs)
          .find("Value 4294967296 exceeds valid range 0-4294967295"),
      std::string::npos);
}

TEST(NftCtCount, CompilesOneListPerWorkerSizedByTheLimit) {
  result<ruleset> rs = parse_string(
      "table ip t { chain c { type filter hook forward priority 0;\n"
      "  ct count over 20 drop; ct count 100000; } }\n",
      "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  auto compiled = compile(*rs, "rs.nft", {}, 3);
  ASSERT_TRUE(compiled.ok()) << compiled.error().to_string();
  const compiled_ruleset& c = **compiled;
  ASSERT_EQ(c.ct_counts.size(), 2u);
  EXPECT_EQ(c.ct_counts[0].limit, 20u);
  EXPECT_TRUE(c.ct_counts[0].over);
  EXPECT_EQ(c.ct_counts[0].lists->n_workers(), 3);
  EXPECT_EQ(c.ct_counts[0].lists->n_lists(), 1u);
  EXPECT_EQ(c.ct_counts[0].lists->pool(), 64u);  // 2 * 20 + 16 = 56, at least 64
  EXPECT_EQ(c.ct_counts[1].limit, 100000u);
  EXPECT_FALSE(c.ct_counts[1].over);
  EXPECT_EQ(c.ct_counts[1].lists->pool(), 65536u);  // at most 65,536
  EXPECT_EQ(c.ct_counts[1].lists->total(), 0u);
  EXPECT_TRUE(c.uses_ct);
}

// `add @s { KEY ct count [over] N }` (a count per element), as nft 1.0.6 lists it: the set
// becomes dynamic.
TEST(NftCtCount, PerElementListsAsNft) {
  expect_lists_as(
      "table ip t {\n"
      "  set s { type ipv4_addr; size 100; }\n"
      "  chain c {\n"
      "    type filter hook forward priority 0;\n"
      "    ct state new add @s { ip saddr ct count over 2 } counter drop\n"
      "    add @s { ip saddr ct count 3 } counter\n"
      "    update @s { ip saddr ct count over 0x10 }\n"
      "  }\n"
      "}\n",
      "table ip t {\n"
      "\tset s {\n"
      "\t\ttype ipv4_addr\n"
      "\t\tsize 100\n"
      "\t\tflags dynamic\n"
      "\t}\n"
      "\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct state new add @s { ip saddr ct count over 2 } counter packets 0 bytes 0 drop\n"
      "\t\tadd @s { ip saddr ct count 3 } counter packets 0 bytes 0\n"
      "\t\tupdate @s { ip saddr ct count over 16 }\n"
      "\t}\n"
      "}\n");
}

// The kernel refuses a count in a set with timeouts, or next to an element timeout
// ("Could not process rule: Operation not supported").
TEST(NftCtCount, PerElementErrors) {
  ruleset rs;
  EXPECT_EQ(apply("add table ip t\nadd set ip t s { type ipv4_addr; flags dynamic,timeout; }\n"
                  "add chain ip t c\nadd rule ip t c add @s { ip saddr ct count over 2 }\n",
                  &rs),
            "rs.nft:4:21: error: set 's' has timeouts: its elements cannot keep a ct count (nft: "
            "Operation not supported)\n"
            "add rule ip t c add @s { ip saddr ct count over 2 }\n"
            "                    ^^");
  EXPECT_NE(apply("add table ip t\nadd set ip t s { type ipv4_addr; flags dynamic,timeout; }\n"
                  "add chain ip t c\nadd rule ip t c add @s { ip saddr timeout 10s ct count 2 }\n",
                  &rs)
                .find("ct count in an element with a timeout: not supported"),
            std::string::npos);
  EXPECT_NE(apply("add table ip t\nadd set ip t s { type ipv4_addr; }\n"
                  "add chain ip t c\nadd rule ip t c delete @s { ip saddr ct count 2 }\n",
                  &rs)
                .find("delete takes a key only"),
            std::string::npos);
  EXPECT_NE(apply("add table ip t\nadd set ip t s { type ipv4_addr; }\n"
                  "add chain ip t c\nadd rule ip t c add @s { ip saddr ct count }\n",
                  &rs)
                .find("expecting number or over"),
            std::string::npos);
}

// Counts per element use the set's lists (one per table slot, a pool per worker sized for the
// largest limit), not lists of their own.
TEST(NftCtCount, PerElementCompilesToTheSetsLists) {
  result<ruleset> rs = parse_string(
      "table ip t { set s { type ipv4_addr; size 100; }\n"
      "  chain c { type filter hook forward priority 0;\n"
      "  add @s { ip saddr ct count over 20 } drop; add @s { ip saddr ct count 3 }; } }\n",
      "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  auto compiled = compile(*rs, "rs.nft", {}, 2);
  ASSERT_TRUE(compiled.ok()) << compiled.error().to_string();
  compiled_ruleset& c = **compiled;
  ASSERT_EQ(c.ct_counts.size(), 2u);
  EXPECT_TRUE(c.ct_counts[0].per_element);
  EXPECT_EQ(c.ct_counts[0].lists, nullptr);
  EXPECT_EQ(c.ct_counts[1].limit, 3u);
  ASSERT_EQ(c.live_sets.size(), 1u);
  EXPECT_TRUE(c.live_sets[0].counted);
  EXPECT_EQ(c.live_sets[0].count_limit, 20u);
  fill_live_sets(c, nullptr, 0);
  ASSERT_NE(c.live_sets[0].counts, nullptr);
  EXPECT_EQ(c.live_sets[0].counts->n_lists(), c.live_sets[0].table->n_slots());
  EXPECT_EQ(c.live_sets[0].counts->pool(), 100u * 64);
  EXPECT_EQ(c.live_sets[0].counts->n_workers(), 2);
  EXPECT_TRUE(c.uses_ct);
}

}  // namespace
}  // namespace ctgate::nft
