// Unit tests for named objects (counter, quota and limit NAME { ... }; lib/ruleset/parser.cpp,
// format.cpp, compile.cpp): their syntax, nft's listing and handles, what declaring one again
// does, and the errors for missing, busy and duplicate objects. The expected listings were
// printed by `nft -a list ruleset` on this machine's kernel (6.18) for the same commands.
#include <gtest/gtest.h>

#include <string>

#include "nft_test_util.h"
#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {
namespace {

using test::apply;

const char* const k_objects_file =
    "table inet filter {\n"
    "  counter http { packets 3 bytes 100 }\n"
    "  quota q1 { over 100 mbytes used 10 kbytes }\n"
    "  limit l1 { rate over 10/second burst 5 packets }\n"
    "  set s { type ipv4_addr; }\n"
    "  chain c { type filter hook input priority 0; policy accept;\n"
    "    tcp dport 80 counter name \"http\" accept\n"
    "    counter name http\n"
    "    quota name \"q1\" drop\n"
    "    limit name \"l1\" drop\n"
    "    ip saddr @s drop\n"
    "  }\n"
    "  counter zzz { }\n"
    "  quota q2 { 5 kbytes }\n"
    "  limit l2 { rate 1/minute }\n"
    "}\n";

TEST(NftObjects, ListAsTheKernelWithHandlesChainsObjectsSetsThenRules) {
  ruleset rs;
  EXPECT_EQ(apply(k_objects_file, &rs),
            "table inet filter { # handle 1\n"
            "\tcounter http { # handle 2\n"
            "\t\tpackets 3 bytes 100\n"
            "\t}\n"
            "\n"
            "\tquota q1 { # handle 3\n"
            "\t\tover 100 mbytes used 10 kbytes\n"
            "\t}\n"
            "\n"
            "\tlimit l1 { # handle 4\n"
            "\t\trate over 10/second\n"
            "\t}\n"
            "\n"
            "\tcounter zzz { # handle 5\n"
            "\t\tpackets 0 bytes 0\n"
            "\t}\n"
            "\n"
            "\tquota q2 { # handle 6\n"
            "\t\t5 kbytes\n"
            "\t}\n"
            "\n"
            "\tlimit l2 { # handle 7\n"
            "\t\trate 1/minute\n"
            "\t}\n"
            "\n"
            "\tset s { # handle 8\n"
            "\t\ttype ipv4_addr\n"
            "\t}\n"
            "\n"
            "\tchain c { # handle 1\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\ttcp dport 80 counter name \"http\" accept # handle 9\n"
            "\t\tcounter name \"http\" # handle 10\n"
            "\t\tquota name \"q1\" drop # handle 11\n"
            "\t\tlimit name \"l1\" drop # handle 12\n"
            "\t\tip saddr @s drop # handle 13\n"
            "\t}\n"
            "}\n");
  // The listing reads back to itself.
  result<ruleset> again = parse_string(format(rs), "listed.nft");
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(format(*again), format(rs));
}

TEST(NftObjects, DeclaredAgainACounterKeepsItsValuesAQuotaTakesTheNewSize) {
  ruleset rs;
  apply(k_objects_file, &rs);
  apply(
      "table inet filter {\n"
      "  counter http { packets 99 bytes 1 }\n"
      "  quota q2 { 7 kbytes }\n"
      "  limit l2 { rate 5/second }\n"
      "}\n",
      &rs);
  EXPECT_EQ(apply("delete counter inet filter http", &rs),
            "rs.nft:1:28: error: counter 'http' is in use: rule handle 9 in chain 'c' names it "
            "(nft: Device or resource busy)\n"
            "delete counter inet filter http\n"
            "                           ^^^^");
  apply("delete counter inet filter zzz", &rs);
  const std::string listing = apply(
      "add counter inet filter c2\n"
      "add quota inet filter q3 { 10 bytes }\n",
      &rs);
  EXPECT_EQ(listing.substr(0, listing.find("\tset s")),
            "table inet filter { # handle 1\n"
            "\tcounter http { # handle 2\n"
            "\t\tpackets 3 bytes 100\n"
            "\t}\n"
            "\n"
            "\tquota q1 { # handle 3\n"
            "\t\tover 100 mbytes used 10 kbytes\n"
            "\t}\n"
            "\n"
            "\tlimit l1 { # handle 4\n"
            "\t\trate over 10/second\n"
            "\t}\n"
            "\n"
            "\tquota q2 { # handle 6\n"
            "\t\t7 kbytes\n"
            "\t}\n"
            "\n"
            "\tlimit l2 { # handle 7\n"
            "\t\trate 1/minute\n"
            "\t}\n"
            "\n"
            "\tcounter c2 { # handle 14\n"
            "\t\tpackets 0 bytes 0\n"
            "\t}\n"
            "\n"
            "\tquota q3 { # handle 15\n"
            "\t\t10 bytes\n"
            "\t}\n"
            "\n");
}

TEST(NftObjects, ErrorsForMissingDuplicateAndMalformedObjects) {
  ruleset rs;
  apply(k_objects_file, &rs);
  EXPECT_EQ(apply("add rule inet filter c counter name nope", &rs),
            "rs.nft:1:37: error: counter 'nope' does not exist in table inet filter (nft: No "
            "such file or directory)\n"
            "add rule inet filter c counter name nope\n"
            "                                    ^^^^");
  // Names are per kind: http is a counter, not a quota.
  EXPECT_EQ(apply("add rule inet filter c quota name http", &rs),
            "rs.nft:1:35: error: quota 'http' does not exist in table inet filter (nft: No such "
            "file or directory)\n"
            "add rule inet filter c quota name http\n"
            "                                  ^^^^");
  EXPECT_EQ(apply("create counter inet filter http", &rs),
            "rs.nft:1:28: error: counter 'http' already exists in table inet filter (nft: File "
            "exists)\n"
            "create counter inet filter http\n"
            "                           ^^^^");
  EXPECT_EQ(apply("delete quota inet filter nope", &rs),
            "rs.nft:1:26: error: quota 'nope' does not exist in table inet filter\n"
            "delete quota inet filter nope\n"
            "                         ^^^^");
  EXPECT_NE(apply("add quota inet filter q9", &rs).find("error: syntax error"), std::string::npos);
  EXPECT_NE(apply("table inet filter { limit l9 { 10/second } }", &rs).find("error:"),
            std::string::npos);
  // A rule may name an object the same block declares further down.
  EXPECT_EQ(apply("table ip t { chain c { counter name \"later\"; }; counter later { }; }", &rs)
                .find("error"),
            std::string::npos);
  // Deleting the rule frees the object.
  EXPECT_EQ(apply("delete rule ip t c handle 3\ndelete counter ip t later", &rs).find("error"),
            std::string::npos);
}

TEST(NftObjects, RulesNamingOneObjectShareItsState) {
  result<ruleset> rs = parse_string(k_objects_file, "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  auto c = compile(*rs, "rs.nft", {}, 2);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  const compiled_ruleset& cr = **c;
  // Two counter objects and no anonymous counter: the rules' two `counter name "http"` share one.
  ASSERT_EQ(cr.n_counters, 2u);
  const cstmt& first = cr.stmts[cr.rules[0].first_stmt];
  const cstmt& second = cr.stmts[cr.rules[1].first_stmt];
  EXPECT_EQ(first.counter, second.counter);
  // The counter starts from the values the file gives it.
  EXPECT_EQ(cr.counter_total(first.counter).packets, 3u);
  EXPECT_EQ(cr.counter_total(first.counter).bytes, 100u);
  // The quota object's state: 100 MiB, over, 10 KiB used.
  const cstmt& quota = cr.stmts[cr.rules[2].first_stmt];
  EXPECT_EQ(cr.quotas[quota.quota].bytes, 100u << 20);
  EXPECT_TRUE(cr.quotas[quota.quota].over);
  EXPECT_EQ(cr.quotas[quota.quota].consumed.load(), 10u << 10);
  const cstmt& limit = cr.stmts[cr.rules[3].first_stmt];
  EXPECT_TRUE(cr.limiters[limit.limit].over);
}

}  // namespace
}  // namespace ctgate::nft
