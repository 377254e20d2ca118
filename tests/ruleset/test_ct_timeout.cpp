// Unit tests for `ct timeout` objects and `ct timeout set` (lib/ruleset/parser.cpp, format.cpp,
// compile.cpp): nft's grammar for the policy block, its listing, the errors, and what the
// compiled ruleset hands conntrack. The expected listings and errors were printed by nft 1.0.6
// on this machine's kernel (6.18) for the same files (`nft -f F; nft list ruleset`).
#include <gtest/gtest.h>

#include <string>

#include "conntrack/proto.h"
#include "nft_test_util.h"
#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {
namespace {

using test::apply;
using test::expect_lists_as;

TEST(NftCtTimeout, ListsOnlyTheStatesThatDifferFromNftsDefaults) {
  // unack 300 and close 10 are nft's defaults: the kernel lists established alone. l3proto is
  // the table's family unless written; a policy with nothing to list prints "{  }".
  expect_lists_as(
      "table inet f {\n"
      "  ct timeout a { protocol tcp; l3proto ip; policy = { established: 100, unack: 300, "
      "close: 10 }; }\n"
      "  ct timeout b { protocol udp; }\n"
      "  ct timeout c { protocol tcp; policy = { syn_sent: 0 }; }\n"
      "  chain c1 { type filter hook forward priority 0; ct timeout set \"a\"; }\n"
      "}\n"
      "table ip g {\n"
      "  ct timeout a { protocol udp; policy = { replied: 10, unreplied : 5 }; }\n"
      "}\n",
      "table inet f {\n"
      "\tct timeout a {\n"
      "\t\tprotocol tcp\n"
      "\t\tl3proto ip\n"
      "\t\tpolicy = { established : 100 }\n"
      "\t}\n"
      "\n"
      "\tct timeout b {\n"
      "\t\tprotocol udp\n"
      "\t\tl3proto inet\n"
      "\t\tpolicy = {  }\n"
      "\t}\n"
      "\n"
      "\tct timeout c {\n"
      "\t\tprotocol tcp\n"
      "\t\tl3proto inet\n"
      "\t\tpolicy = { syn_sent : 0 }\n"
      "\t}\n"
      "\n"
      "\tchain c1 {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct timeout set \"a\"\n"
      "\t}\n"
      "}\n"
      "table ip g {\n"
      "\tct timeout a {\n"
      "\t\tprotocol udp\n"
      "\t\tl3proto ip\n"
      "\t\tpolicy = { unreplied : 5, replied : 10 }\n"
      "\t}\n"
      "}\n");
}

TEST(NftCtTimeout, OptionsComeInAnyOrderLaterValuesWinPoliciesMerge) {
  // The policy may come before the protocol (nft resolves the states at the end), a state
  // written twice keeps the last value, and two policy lines add up.
  expect_lists_as("table ip g { ct timeout b { policy = { replied: 10 }; protocol udp; }; }",
                  "table ip g {\n"
                  "\tct timeout b {\n"
                  "\t\tprotocol udp\n"
                  "\t\tl3proto ip\n"
                  "\t\tpolicy = { replied : 10 }\n"
                  "\t}\n"
                  "}\n");
  expect_lists_as(
      "table ip g { ct timeout b { protocol tcp; policy = {established: 5, established: 7}; }; }",
      "table ip g {\n"
      "\tct timeout b {\n"
      "\t\tprotocol tcp\n"
      "\t\tl3proto ip\n"
      "\t\tpolicy = { established : 7 }\n"
      "\t}\n"
      "}\n");
  expect_lists_as(
      "table ip g { ct timeout b { protocol tcp; policy = {established: 5}; policy = {close: 7}; "
      "}; }",
      "table ip g {\n"
      "\tct timeout b {\n"
      "\t\tprotocol tcp\n"
      "\t\tl3proto ip\n"
      "\t\tpolicy = { established : 5, close : 7 }\n"
      "\t}\n"
      "}\n");
  expect_lists_as(
      "table ip g { ct timeout b { protocol tcp; l3proto ip6; policy = { close_wait: 4294967, "
      "syn_sent2: 1 }; }; }",
      "table ip g {\n"
      "\tct timeout b {\n"
      "\t\tprotocol tcp\n"
      "\t\tl3proto ip6\n"
      "\t\tpolicy = { close_wait : 4294967, syn_sent2 : 1 }\n"
      "\t}\n"
      "}\n");
}

TEST(NftCtTimeout, ErrorsAsNft) {
  ruleset rs;
  // nft: "syntax error, unexpected icmp, expecting udp or tcp".
  EXPECT_EQ(apply("table inet g { ct timeout b { protocol icmp; }; }", &rs),
            "rs.nft:1:40: error: syntax error, unexpected 'icmp', expecting udp or tcp\n"
            "table inet g { ct timeout b { protocol icmp; }; }\n"
            "                                       ^^^^");
  // nft: "invalid state for this protocol" at the state's name.
  EXPECT_EQ(apply("table ip g { ct timeout b { protocol tcp; policy = {replied: 1}; }; }", &rs),
            "rs.nft:1:53: error: invalid state for this protocol: 'replied'\n"
            "table ip g { ct timeout b { protocol tcp; policy = {replied: 1}; }; }\n"
            "                                                    ^^^^^^^");
  // nft: "unexpected '}', expecting newline or semicolon".
  EXPECT_NE(apply("table ip g { ct timeout b { protocol udp } }", &rs)
                .find("error: syntax error, unexpected '}', expecting newline or semicolon"),
            std::string::npos);
  // nft: "unexpected string, expecting number".
  EXPECT_NE(apply("table ip g { ct timeout b { protocol tcp; policy = {established: 1m}; }; }", &rs)
                .find("invalid number '1m'"),
            std::string::npos);
  // The kernel: "Operation not supported" (no protocol).
  EXPECT_NE(apply("table ip g { ct timeout b { l3proto ip; }; }", &rs).find("has no protocol"),
            std::string::npos);
  rs = {};
  ASSERT_EQ(apply("table ip g { ct timeout b { protocol tcp; policy = {established: 5}; }; "
                  "chain c { type filter hook forward priority 0; ct timeout set \"b\"; }; }",
                  &rs)
                .find("error"),
            std::string::npos);
  // add of an existing one changes nothing; create fails; delete of a named one is EBUSY.
  EXPECT_EQ(apply("add ct timeout ip g b { protocol udp; }", &rs).find("error"), std::string::npos);
  EXPECT_NE(format(rs).find("policy = { established : 5 }"), std::string::npos);
  EXPECT_NE(apply("create ct timeout ip g b { protocol udp; }", &rs).find("(nft: File exists)"),
            std::string::npos);
  EXPECT_NE(apply("delete ct timeout ip g b", &rs).find("Device or resource busy"),
            std::string::npos);
  EXPECT_NE(apply("delete ct timeout ip g nope", &rs).find("ct timeout 'nope' does not exist"),
            std::string::npos);
  EXPECT_NE(apply("add rule ip g c ct timeout set \"nope\"", &rs)
                .find("ct timeout 'nope' does not exist"),
            std::string::npos);
  // Flushing the chain frees the policy.
  EXPECT_EQ(apply("flush chain ip g c\ndelete ct timeout ip g b", &rs).find("error"),
            std::string::npos);
}

TEST(NftCtTimeout, CompilesEveryStateToConntracksClasses) {
  result<ruleset> rs = parse_string(
      "table ip g {\n"
      "  ct timeout t { protocol tcp; policy = { established: 100, syn_sent: 3, syn_sent2: 9 }; }\n"
      "  ct timeout u { protocol udp; policy = { replied: 4294967 }; }\n"
      "  chain c { type filter hook forward priority 0; ct timeout set \"u\"; ct timeout set "
      "\"t\"; }\n"
      "}\n",
      "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  auto c = compile(*rs, "rs.nft", {}, 1);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  const compiled_ruleset& cr = **c;
  ASSERT_EQ(cr.ct_timeouts.size(), 2u);
  const ct_timeout_spec& t = cr.ct_timeouts[cr.stmts[cr.rules[1].first_stmt].value];
  EXPECT_EQ(t.l4proto, 6);
  EXPECT_EQ(t.first, ct::TC_TCP_SYN_SENT);
  // Ten classes (syn_sent2 has none), the unwritten ones at nft's defaults.
  ASSERT_EQ(t.ms.size(), 10u);
  auto ms_of = [](const ct_timeout_spec& s, uint8_t tclass) {
    for (const auto& [cls, ms] : s.ms)
      if (cls == tclass) return ms;
    return 0u;
  };
  EXPECT_EQ(ms_of(t, ct::TC_TCP_SYN_SENT), 3000u);
  EXPECT_EQ(ms_of(t, ct::TC_TCP_ESTABLISHED), 100000u);
  EXPECT_EQ(ms_of(t, ct::TC_TCP_TIME_WAIT), 120000u);
  EXPECT_EQ(ms_of(t, ct::TC_TCP_UNACK), 300000u);
  const ct_timeout_spec& u = cr.ct_timeouts[cr.stmts[cr.rules[0].first_stmt].value];
  EXPECT_EQ(u.first, ct::TC_UDP);
  EXPECT_EQ(ms_of(u, ct::TC_UDP), 30000u);
  // Cut to what a signed 32-bit count of ms holds.
  EXPECT_EQ(ms_of(u, ct::TC_UDP_STREAM), 2147483000u);
  EXPECT_TRUE(cr.uses_ct);
}

}  // namespace
}  // namespace ctgate::nft
