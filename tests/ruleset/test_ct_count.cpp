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
  EXPECT_EQ(c.ct_counts[0].lists->of(2).cap, 64u);  // 2 * 20 + 16 = 56, at least 64
  EXPECT_EQ(c.ct_counts[1].limit, 100000u);
  EXPECT_FALSE(c.ct_counts[1].over);
  EXPECT_EQ(c.ct_counts[1].lists->of(0).cap, 65536u);  // at most 65,536
  EXPECT_EQ(c.ct_counts[1].lists->total(), 0u);
  EXPECT_TRUE(c.uses_ct);
}

}  // namespace
}  // namespace ctgate::nft
