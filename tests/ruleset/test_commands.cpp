// Unit tests for nft -f command semantics (lib/ruleset/parser.cpp): a file applies to the
// ruleset it is loaded onto, tables and chains declared again are extended, `flush ruleset`
// starts from nothing, delete/flush/insert/replace edit what exists, and handles are the
// kernel's. The expected listings were printed by `nft -a list ruleset` on this machine's
// kernel for the same commands (tests/e2e/test_nft_commands.py checks that live).
#include <gtest/gtest.h>

#include <string>

#include "common/jhash.h"
#include "nft_test_util.h"
#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {
namespace {

using test::apply;
using test::expect_lists_as;

TEST(NftCommands, TablesDeclaredTwiceMergeWithTheKernelsHandles) {
  ruleset rs;
  EXPECT_EQ(apply("table ip t {\n"
                  "  chain c { type filter hook input priority filter; policy accept; tcp dport "
                  "22 accept; }\n"
                  "}\n"
                  "table ip t {\n"
                  "  chain c { type filter hook input priority filter; policy drop; tcp dport 23 "
                  "accept; }\n"
                  "  set s { type ipv4_addr; elements = { 1.2.3.4 } }\n"
                  "}\n",
                  &rs),
            "table ip t { # handle 1\n"
            "\tset s { # handle 3\n"
            "\t\ttype ipv4_addr\n"
            "\t\telements = { 1.2.3.4 }\n"
            "\t}\n"
            "\n"
            "\tchain c { # handle 1\n"
            "\t\ttype filter hook input priority filter; policy drop;\n"
            "\t\ttcp dport 22 accept # handle 2\n"
            "\t\ttcp dport 23 accept # handle 4\n"
            "\t}\n"
            "}\n");
}

TEST(NftCommands, BlocksTakeHandlesChainsThenSetsThenRulesAndAnonymousSetsTakeOne) {
  ruleset rs;
  rs.last_table_handle = 1;  // one table came and went before
  EXPECT_EQ(apply("table ip t {\n"
                  "  set s { type ipv4_addr; }\n"
                  "  chain c { type filter hook input priority filter; tcp dport { 80, 443 } "
                  "accept; tcp dport { 22 } accept; tcp dport 1-5 accept; tcp dport 7 accept; }\n"
                  "  chain b { }\n"
                  "}\n",
                  &rs),
            "table ip t { # handle 2\n"
            "\tset s { # handle 3\n"
            "\t\ttype ipv4_addr\n"
            "\t}\n"
            "\n"
            "\tchain c { # handle 1\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\ttcp dport { 80, 443 } accept # handle 5\n"
            "\t\ttcp dport 22 accept # handle 6\n"
            "\t\ttcp dport 1-5 accept # handle 7\n"
            "\t\ttcp dport 7 accept # handle 8\n"
            "\t}\n"
            "\n"
            "\tchain b { # handle 2\n"
            "\t}\n"
            "}\n");
  const std::string listing =
      apply("add rule ip t b tcp dport { 1, 2 } accept\nadd rule ip t b accept\n", &rs);
  EXPECT_NE(listing.find("\t\ttcp dport { 1, 2 } accept # handle 10\n\t\taccept # handle 11\n"),
            std::string::npos)
      << listing;
}

TEST(NftCommands, PositionsInsertReplaceDeleteAndFlush) {
  ruleset rs;
  ASSERT_EQ(apply("table ip t {\n  chain c { type filter hook input priority filter; tcp dport 22 "
                  "accept; }\n}\n",
                  &rs)
                .find("error"),
            std::string::npos);
  // Handles 1 (chain) and 2 (rule); then 3, 4, 5 as nft numbers them.
  EXPECT_EQ(apply("add rule ip t c position 2 tcp dport 1 accept\n"
                  "insert rule ip t c tcp dport 2 accept\n"
                  "insert rule ip t c position 3 tcp dport 3 accept\n"
                  "replace rule ip t c handle 2 tcp dport 4 accept\n"
                  "add rule ip t c index 0 tcp dport 5 accept\n",
                  &rs),
            "table ip t { # handle 1\n"
            "\tchain c { # handle 1\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\ttcp dport 2 accept # handle 4\n"
            "\t\ttcp dport 5 accept # handle 6\n"
            "\t\ttcp dport 4 accept # handle 2\n"
            "\t\ttcp dport 3 accept # handle 5\n"
            "\t\ttcp dport 1 accept # handle 3\n"
            "\t}\n"
            "}\n");
  EXPECT_EQ(apply("delete rule ip t c handle 5\nflush chain ip t c\nadd rule ip t c accept\n", &rs),
            "table ip t { # handle 1\n"
            "\tchain c { # handle 1\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\taccept # handle 7\n"
            "\t}\n"
            "}\n");
}

TEST(NftCommands, FlushRulesetStartsFromNothingButTableHandlesGoOn) {
  ruleset rs;
  apply("table ip a { chain c { accept; } }\n", &rs);
  EXPECT_EQ(apply("table ip b { }\n", &rs),
            "table ip a { # handle 1\n\tchain c { # handle 1\n"
            "\t\taccept # handle 2\n\t}\n}\n"
            "table ip b { # handle 2\n}\n");
  EXPECT_EQ(apply("flush ruleset\ntable ip a { }\n", &rs), "table ip a { # handle 3\n}\n");
  EXPECT_EQ(apply("delete table ip a\n", &rs), "");
}

TEST(NftCommands, ErrorsNameWhatIsMissingOrInUse) {
  ruleset rs;
  apply(
      "table ip t {\n  set s { type ipv4_addr; elements = { 2.2.2.2 } }\n"
      "  chain c { type filter hook input priority filter; jump d; ip saddr @s accept; }\n"
      "  chain d { accept; }\n}\n",
      &rs);
  const ruleset before = rs;
  EXPECT_EQ(apply("delete rule ip t c handle 99\n", &rs),
            "rs.nft:1:20: error: no rule with handle 99 in chain 'c' of table ip t\n"
            "delete rule ip t c handle 99\n"
            "                   ^^^^^^^^^");
  EXPECT_EQ(apply("delete table ip nosuch\n", &rs),
            "rs.nft:1:17: error: table ip nosuch does not exist\n"
            "delete table ip nosuch\n"
            "                ^^^^^^");
  EXPECT_EQ(apply("delete chain ip t d\n", &rs),
            "rs.nft:1:19: error: chain 'd' is in use: rule handle 4 in chain 'c' jumps to it "
            "(nft: Device or resource busy)\n"
            "delete chain ip t d\n"
            "                  ^");
  EXPECT_EQ(apply("delete set ip t s\n", &rs),
            "rs.nft:1:17: error: set 's' is in use: rule handle 5 in chain 'c' matches against "
            "it (nft: Device or resource busy)\n"
            "delete set ip t s\n"
            "                ^");
  EXPECT_EQ(apply("delete element ip t s { 9.1.1.1 }\n", &rs),
            "rs.nft:1:25: error: element 9.1.1.1 is not in set 's' of table ip t (nft: No such "
            "file or directory)\n"
            "delete element ip t s { 9.1.1.1 }\n"
            "                        ^^^^^^^");
  EXPECT_EQ(apply("add chain ip t c { type filter hook forward priority filter; }\n", &rs),
            "rs.nft:1:20: error: chain 'c' already exists in table ip t with hook input priority "
            "0: its hook and priority cannot change (nft: Operation not supported)\n"
            "add chain ip t c { type filter hook forward priority filter; }\n"
            "                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(apply("add chain ip t d { type filter hook input priority filter; }\n", &rs),
            "rs.nft:1:20: error: chain 'd' already exists in table ip t as a regular chain: it "
            "cannot become a base chain (nft: File exists)\n"
            "add chain ip t d { type filter hook input priority filter; }\n"
            "                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^");
  EXPECT_EQ(apply("add set ip t s { type inet_service; }\n", &rs),
            "rs.nft:1:14: error: set 's' already exists in table ip t as type ipv4_addr: a "
            "declaration may not change it (nft: File exists)\n"
            "add set ip t s { type inet_service; }\n"
            "             ^");
  // A jump that closes a loop with a jump loaded before is found, and reported at the new one.
  EXPECT_EQ(apply("add rule ip t d jump c2\nadd chain ip t c2\nadd rule ip t c2 jump d\n", &rs),
            "rs.nft:3:23: error: jump loop: d -> c2 -> d\n"
            "add rule ip t c2 jump d\n"
            "                      ^");
  // Every failure left the ruleset as it was.
  EXPECT_EQ(format(rs, nullptr, true), format(before, nullptr, true));
  // What is not in use goes; elements come and go.
  EXPECT_EQ(apply("delete rule ip t c handle 4\ndelete chain ip t d\n"
                  "delete element ip t s { 2.2.2.2 }\nadd element ip t s { 3.3.3.3 }\n",
                  &rs),
            "table ip t { # handle 1\n"
            "\tset s { # handle 3\n"
            "\t\ttype ipv4_addr\n"
            "\t\telements = { 3.3.3.3 }\n"
            "\t}\n"
            "\n"
            "\tchain c { # handle 1\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\tip saddr @s accept # handle 5\n"
            "\t}\n"
            "}\n");
}

// Maps and verdict maps, named and anonymous: the kernel's listing (handles included: an
// anonymous map takes one even with one element).
TEST(NftMaps, NamedAndAnonymousMapsListAsTheKernelDoes) {
  ruleset rs;
  rs.last_table_handle = 4;
  EXPECT_EQ(apply("table ip t {\n"
                  "  map vm { type inet_service : verdict; elements = { 22 : accept, 80 : jump "
                  "web, 443 : drop } }\n"
                  "  map mk { type ipv4_addr : mark; flags interval; elements = { 10.0.0.0/8 : "
                  "0x1, 192.168.1.1 : 2 } }\n"
                  "  chain web { counter; }\n"
                  "  chain c { type filter hook forward priority filter;\n"
                  "    tcp dport vmap { 22 : accept, 23 : drop, 80 : jump web };\n"
                  "    udp dport vmap { 53 : accept };\n"
                  "    tcp dport vmap @vm;\n"
                  "    meta mark set ip daddr map { 10.0.0.1 : 0x5, 10.0.0.2 : 6 };\n"
                  "    ct mark set ip saddr map @mk;\n"
                  "    tcp dport 1-100 counter;\n"
                  "  }\n"
                  "}\n",
                  &rs),
            "table ip t { # handle 5\n"
            "\tmap vm { # handle 3\n"
            "\t\ttype inet_service : verdict\n"
            "\t\telements = { 22 : accept, 80 : jump web, 443 : drop }\n"
            "\t}\n"
            "\n"
            "\tmap mk { # handle 4\n"
            "\t\ttype ipv4_addr : mark\n"
            "\t\tflags interval\n"
            "\t\telements = { 10.0.0.0/8 : 0x00000001, 192.168.1.1 : 0x00000002 }\n"
            "\t}\n"
            "\n"
            "\tchain web { # handle 1\n"
            "\t\tcounter packets 0 bytes 0 # handle 5\n"
            "\t}\n"
            "\n"
            "\tchain c { # handle 2\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\ttcp dport vmap { 22 : accept, 23 : drop, 80 : jump web } # handle 7\n"
            "\t\tudp dport vmap { 53 : accept } # handle 9\n"
            "\t\ttcp dport vmap @vm # handle 10\n"
            "\t\tmeta mark set ip daddr map { 10.0.0.1 : 0x00000005, 10.0.0.2 : 0x00000006 } "
            "# handle 12\n"
            "\t\tct mark set ip saddr map @mk # handle 13\n"
            "\t\ttcp dport 1-100 counter packets 0 bytes 0 # handle 14\n"
            "\t}\n"
            "}\n");
  // The listing reads back to the same listing.
  ruleset again;
  again.last_table_handle = 4;
  const std::string listed = format(rs);
  EXPECT_EQ(apply(listed, &again), format(rs, nullptr, true));
  // Elements come and go like a set's; the map's jumps count as uses of the chain.
  EXPECT_NE(apply("add element ip t vm { 8080 : jump web }\ndelete element ip t vm { 22 }\n", &rs)
                .find("elements = { 80 : jump web, 443 : drop, 8080 : jump web }"),
            std::string::npos);
  EXPECT_NE(apply("delete chain ip t web\n", &rs).find("is in use"), std::string::npos);
}

TEST(NftMaps, SaveAndRestoreMarksAndErrors) {
  ruleset rs;
  EXPECT_EQ(apply("table ip t { chain c { type filter hook prerouting priority mangle;\n"
                  "meta mark set ct mark; ct mark set meta mark; ct mark set mark;\n"
                  "ip protocol vmap { tcp : accept, udp : drop };\n"
                  "icmp type vmap { echo-request : accept };\n"
                  "tcp dport vmap { 1-1024 : drop, 8080 : accept }; } }\n",
                  &rs),
            "table ip t { # handle 1\n"
            "\tchain c { # handle 1\n"
            "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
            "\t\tmeta mark set ct mark # handle 2\n"
            "\t\tct mark set meta mark # handle 3\n"
            "\t\tct mark set meta mark # handle 4\n"
            "\t\tip protocol vmap { tcp : accept, udp : drop } # handle 6\n"
            "\t\ticmp type vmap { echo-request : accept } # handle 8\n"
            "\t\ttcp dport vmap { 1-1024 : drop, 8080 : accept } # handle 10\n"
            "\t}\n"
            "}\n");
  EXPECT_EQ(apply("add rule ip t c tcp dport vmap { 1-10 : drop, 5 : accept }\n", &rs),
            "rs.nft:1:47: error: conflicting intervals specified\n"
            "add rule ip t c tcp dport vmap { 1-10 : drop, 5 : accept }\n"
            "                                              ^");
  EXPECT_EQ(apply("add rule ip t c tcp dport vmap { 5 : drop, 5 : accept }\n", &rs),
            "rs.nft:1:44: error: element 5 already exists in map 'anonymous' with other data "
            "(nft: File exists)\n"
            "add rule ip t c tcp dport vmap { 5 : drop, 5 : accept }\n"
            "                                           ^");
  EXPECT_EQ(apply("add rule ip t c tcp dport vmap { 5 : jump nowhere }\n", &rs),
            "rs.nft:1:43: error: jump to undefined chain 'nowhere' in table ip t\n"
            "add rule ip t c tcp dport vmap { 5 : jump nowhere }\n"
            "                                          ^^^^^^^");
  EXPECT_EQ(apply("add set ip t s { type ipv4_addr; }\nadd rule ip t c tcp dport vmap @s\n", &rs),
            "rs.nft:2:32: error: set 's' is a set: verdict maps need a map\n"
            "add rule ip t c tcp dport vmap @s\n"
            "                               ^^");
  EXPECT_EQ(apply("add map ip t m { type inet_service : bogus; }\n", &rs),
            "rs.nft:1:38: error: unknown map data type 'bogus', expecting verdict, mark, counter, "
            "quota or ipv4_addr\n"
            "add map ip t m { type inet_service : bogus; }\n"
            "                                     ^^^^^");
}

TEST(NftZones, ZoneSetAndMatchListAsNftDoes) {
  ruleset rs;
  EXPECT_EQ(apply("table ip raw { chain pre { type filter hook prerouting priority raw; "
                  "iifname \"lan\" ct zone set 5; ct zone 5 accept; ct zone != 0 counter; } }\n",
                  &rs),
            "table ip raw { # handle 1\n"
            "\tchain pre { # handle 1\n"
            "\t\ttype filter hook prerouting priority raw; policy accept;\n"
            "\t\tiifname \"lan\" ct zone set 5 # handle 2\n"
            "\t\tct zone 5 accept # handle 3\n"
            "\t\tct zone != 0 counter packets 0 bytes 0 # handle 4\n"
            "\t}\n"
            "}\n");
  // nft's words and place.
  EXPECT_EQ(apply("add rule ip raw pre ct zone set 65536\n", &rs),
            "rs.nft:1:33: error: Value 65536 exceeds valid range 0-65535\n"
            "add rule ip raw pre ct zone set 65536\n"
            "                                ^^^^^");
}

TEST(NftFields, IpHeaderFieldsAndLengthListAsNftDoes) {
  ruleset rs;
  const std::string listing = apply(
      "table ip t { chain c { type filter hook forward priority 0; ip ttl 1 drop; ip ttl < "
      "5 counter; ip length > 1000 accept; ip id 5 accept; ip version 4 accept; ip "
      "hdrlength 5 accept; meta length 100-200 accept; ip ttl { 1, 64 } accept; } }\n",
      &rs);
  // The kernel's listing of the same rules (nft list ruleset, without handles).
  EXPECT_EQ(format(rs),
            "table ip t {\n"
            "\tchain c {\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tip ttl 1 drop\n"
            "\t\tip ttl < 5 counter packets 0 bytes 0\n"
            "\t\tip length > 1000 accept\n"
            "\t\tip id 5 accept\n"
            "\t\tip version 4 accept\n"
            "\t\tip hdrlength 5 accept\n"
            "\t\tmeta length 100-200 accept\n"
            "\t\tip ttl { 1, 64 } accept\n"
            "\t}\n"
            "}\n")
      << listing;
  EXPECT_EQ(apply("add rule ip t c ip ttl 256 accept\n", &rs),
            "rs.nft:1:24: error: Value 256 exceeds valid range 0-255\n"
            "add rule ip t c ip ttl 256 accept\n"
            "                       ^^^");
  // A plain number has no names (nft: "Could not parse integer").
  EXPECT_EQ(apply("add rule ip t c ip ttl ssh accept\n", &rs)
                .rfind("rs.nft:1:24: error: syntax "
                       "error, unexpected 'ssh'",
                       0),
            0u);
}

// icmpv6 type (inet tables' IPv6 packets): names, sets and ranges as nft 1.0.6 listed them.
TEST(NftFields, Icmpv6TypeListsAsNftDoes) {
  ruleset rs;
  const std::string listing = apply(
      "table inet t { chain c { type filter hook input priority 0; icmpv6 type { echo-request, "
      "nd-neighbor-solicit, nd-neighbor-advert } accept; icmpv6 type 1-4 counter; icmpv6 type "
      "mld-listener-reduction drop; } }\n",
      &rs);
  EXPECT_EQ(format(rs),
            "table inet t {\n"
            "\tchain c {\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\ticmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept\n"
            "\t\ticmpv6 type 1-4 counter packets 0 bytes 0\n"
            "\t\ticmpv6 type mld-listener-done drop\n"
            "\t}\n"
            "}\n")
      << listing;
  EXPECT_EQ(apply("add rule inet t c icmpv6 type 256 accept\n", &rs),
            "rs.nft:1:31: error: Value 256 exceeds valid range 0-255\n"
            "add rule inet t c icmpv6 type 256 accept\n"
            "                              ^^^");
}

// The ip6 family, ip6 header fields and icmp/icmpv6 code: the input, and what nft 1.0.6 listed
// for it on this machine (nft list ruleset); ctgate's listing is the same, and reads back to it.
TEST(NftFields, Ip6TableAndFieldsListAsNftDoes) {
  const std::string input = R"(flush ruleset
table ip6 t6 {
  chain c { type filter hook forward priority 0;
    icmpv6 code 4 accept
    icmpv6 code { 0, 1, 3 } accept
    ip6 nexthdr tcp accept
    ip6 nexthdr { tcp, udp } accept
    ip6 hoplimit 1 drop
    ip6 length 100 accept
    ip6 flowlabel 12345 accept
    ip6 dscp cs1 accept
    ip6 ecn ce accept
    ip6 version 6 accept
    icmp code 3 accept
  }
}
table inet t {
  chain c { type filter hook input priority 0;
    icmp code { 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 } accept
    icmpv6 code { 0,1,2,3,4,5,6,7 } accept
    icmpv6 code 2-5 accept
    ip6 nexthdr 0 accept
    ip6 nexthdr ipv6-icmp accept
    ip6 flowlabel 0-100 accept
    ip6 dscp 0x01 accept
    ip6 hoplimit { 1, 255 } accept
  }
}
)";
  const std::string want =
      "table ip6 t6 {\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\ticmpv6 code port-unreachable accept\n"
      "\t\ticmpv6 code { no-route, admin-prohibited, addr-unreachable } accept\n"
      "\t\tip6 nexthdr tcp accept\n"
      "\t\tip6 nexthdr { tcp, udp } accept\n"
      "\t\tip6 hoplimit 1 drop\n"
      "\t\tip6 length 100 accept\n"
      "\t\tip6 flowlabel 12345 accept\n"
      "\t\tip6 dscp cs1 accept\n"
      "\t\tip6 ecn ce accept\n"
      "\t\tip6 version 6 accept\n"
      "\t\ticmp code port-unreachable accept\n"
      "\t}\n"
      "}\n"
      "table inet t {\n"
      "\tchain c {\n"
      "\t\ttype filter hook input priority filter; policy accept;\n"
      "\t\ticmp code { net-unreachable, host-unreachable, prot-unreachable, port-unreachable, "
      "frag-needed, 5, 6, 7, 8, net-prohibited, host-prohibited, 11, 12, admin-prohibited, 14, "
      "15 } accept\n"
      "\t\ticmpv6 code { no-route, admin-prohibited, 2, addr-unreachable, port-unreachable, "
      "policy-fail, reject-route, 7 } accept\n"
      "\t\ticmpv6 code 2-5 accept\n"
      "\t\tip6 nexthdr ip accept\n"
      "\t\tip6 nexthdr ipv6-icmp accept\n"
      "\t\tip6 flowlabel 0-100 accept\n"
      "\t\tip6 dscp lephb accept\n"
      "\t\tip6 hoplimit { 1, 255 } accept\n"
      "\t}\n"
      "}\n";
  ruleset rs;
  apply(input.c_str(), &rs);
  EXPECT_EQ(format(rs), want);
  ruleset again;
  apply(("flush ruleset\n" + format(rs)).c_str(), &again);
  EXPECT_EQ(format(again), want);
}

// IPv6 addresses in rules, sets, maps, concatenations, dynamic sets and meters, listed as nft
// 1.0.6 lists them here (addresses as inet_ntop writes them, prefixes, ranges, one IPv6
// element to a line in named sets), and read back from the listing.
TEST(NftFields, Ip6AddressesListAsNftDoes) {
  const std::string input = R"(flush ruleset
table inet t {
  set blk { type ipv6_addr; flags interval; elements = { 2001:db8:bad::/48, 2001:DB8:0:0:0:0:0:5, fe80::1-fe80::9 } }
  set hosts { type ipv6_addr; elements = { ::1, 2001:db8::2 } }
  set pairs { type ipv6_addr . inet_service; elements = { 2001:db8::1 . 22, 2001:db8::2 . 80 } }
  map vm { type ipv6_addr : verdict; elements = { 2001:db8::10 : accept, 2001:db8::11 : drop } }
  set dyn6 { type ipv6_addr; flags dynamic, timeout; timeout 1m; }
  chain c { type filter hook forward priority 0;
    ip6 saddr 2001:db8::/32 accept
    ip6 daddr 2001:db8:1::1 drop
    ip6 saddr != fe80::/10 counter
    ip6 saddr { 2001:db8::1, 2001:db8::/64, ::ffff:10.0.0.1 } accept
    ip6 daddr 2001:db8::1-2001:db8::ff accept
    ip6 saddr @blk drop
    ip6 daddr @hosts accept
    ip6 saddr . tcp dport @pairs accept
    ip6 saddr . tcp dport { 2001:db8::5 . 443 } accept
    ip6 saddr vmap @vm
    ip6 daddr vmap { 2001:db8:5::20 : accept, 2001:db8::/64 : drop }
    ip6 saddr < 2001:db8:: accept
    update @dyn6 { ip6 saddr }
    meter m6 size 1000 { ip6 saddr limit rate 10/second } accept
    ip6 saddr ::/0 accept
    ip6 daddr 0:0:0:0:0:0:0:0/128 accept
    tcp dport { 22, 23, 1000-2000 } accept
    tcp dport { 22, 23, 24 } accept
    ip saddr { 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.0/30 } accept
    ip saddr != { 10.0.0.0/25, 10.0.0.128/25, 10.0.2.1 } accept
    ip6 saddr { 2001:db8::1-2001:db8::9, 2001:db8::5-2001:db8::20 } accept
    ip6 saddr { ::1 } accept
    ip6 daddr >= 2001:db8:ffff:: drop
  }
}
)";
  const std::string want =
      "table inet t {\n"
      "\tset blk {\n"
      "\t\ttype ipv6_addr\n"
      "\t\tflags interval\n"
      "\t\telements = { 2001:db8::5,\n"
      "\t\t\t     2001:db8:bad::/48,\n"
      "\t\t\t     fe80::1-fe80::9 }\n"
      "\t}\n"
      "\n"
      "\tset hosts {\n"
      "\t\ttype ipv6_addr\n"
      "\t\telements = { ::1,\n"
      "\t\t\t     2001:db8::2 }\n"
      "\t}\n"
      "\n"
      "\tset pairs {\n"
      "\t\ttype ipv6_addr . inet_service\n"
      "\t\telements = { 2001:db8::1 . 22,\n"
      "\t\t\t     2001:db8::2 . 80 }\n"
      "\t}\n"
      "\n"
      "\tmap vm {\n"
      "\t\ttype ipv6_addr : verdict\n"
      "\t\telements = { 2001:db8::10 : accept,\n"
      "\t\t\t     2001:db8::11 : drop }\n"
      "\t}\n"
      "\n"
      "\tset dyn6 {\n"
      "\t\ttype ipv6_addr\n"
      "\t\tsize 65535\n"
      "\t\tflags dynamic,timeout\n"
      "\t\ttimeout 1m\n"
      "\t}\n"
      "\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tip6 saddr 2001:db8::/32 accept\n"
      "\t\tip6 daddr 2001:db8:1::1 drop\n"
      "\t\tip6 saddr != fe80::/10 counter packets 0 bytes 0\n"
      "\t\tip6 saddr { ::ffff:10.0.0.1, 2001:db8::/64 } accept\n"
      "\t\tip6 daddr 2001:db8::1-2001:db8::ff accept\n"
      "\t\tip6 saddr @blk drop\n"
      "\t\tip6 daddr @hosts accept\n"
      "\t\tip6 saddr . tcp dport @pairs accept\n"
      "\t\tip6 saddr . tcp dport { 2001:db8::5 . 443 } accept\n"
      "\t\tip6 saddr vmap @vm\n"
      "\t\tip6 daddr vmap { 2001:db8::/64 : drop, 2001:db8:5::20 : accept }\n"
      "\t\tip6 saddr < 2001:db8:: accept\n"
      "\t\tupdate @dyn6 { ip6 saddr }\n"
      "\t\tmeter m6 size 1000 { ip6 saddr limit rate 10/second } accept\n"
      "\t\tip6 saddr ::/0 accept\n"
      "\t\tip6 daddr :: accept\n"
      "\t\ttcp dport { 22-23, 1000-2000 } accept\n"
      "\t\ttcp dport { 22, 23, 24 } accept\n"
      "\t\tip saddr { 10.0.0.0/30 } accept\n"
      "\t\tip saddr != { 10.0.0.0/24, 10.0.2.1 } accept\n"
      "\t\tip6 saddr { 2001:db8::1-2001:db8::20 } accept\n"
      "\t\tip6 saddr ::1 accept\n"
      "\t\tip6 daddr >= 2001:db8:ffff:: drop\n"
      "\t}\n"
      "}\n";
  ruleset rs;
  apply(input.c_str(), &rs);
  EXPECT_EQ(format(rs), want);
  // Read back, a merged set of one element is a single value, as nft reads it.
  std::string want_again = want;
  for (const char* merged : {"{ 10.0.0.0/30 }", "{ 2001:db8::1-2001:db8::20 }"}) {
    const std::string m = merged;
    want_again.replace(want_again.find(m), m.size(), m.substr(2, m.size() - 4));
  }
  ruleset again;
  apply(("flush ruleset\n" + format(rs)).c_str(), &again);
  EXPECT_EQ(format(again), want_again);
}

// A dynamic set's or meter's key masked to a prefix (`ip6 saddr and ffff:ffff:ffff:ffff::`, or
// `&`), listed as nft 1.0.6 lists it here; a mask elsewhere is refused.
TEST(NftFields, MaskedAddressKeysListAsNftDoes) {
  const std::string input = R"(flush ruleset
table inet t {
  set s6 { type ipv6_addr; flags dynamic; }
  chain c { type filter hook forward priority 0;
    meter m6 { ip6 saddr and ffff:ffff:ffff:ffff:: limit rate 10/second } accept
    update @s6 { ip6 saddr & ffff:ffff:ffff:: }
    meter m4 { ip saddr and 255.255.255.0 limit rate 10/second } accept
  }
}
)";
  const std::string want =
      "table inet t {\n"
      "\tset s6 {\n"
      "\t\ttype ipv6_addr\n"
      "\t\tsize 65535\n"
      "\t\tflags dynamic\n"
      "\t}\n"
      "\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tmeter m6 size 65535 { ip6 saddr & ffff:ffff:ffff:ffff:: limit rate 10/second } accept\n"
      "\t\tupdate @s6 { ip6 saddr & ffff:ffff:ffff:: }\n"
      "\t\tmeter m4 size 65535 { ip saddr & 255.255.255.0 limit rate 10/second } accept\n"
      "\t}\n"
      "}\n";
  ruleset rs;
  apply(input.c_str(), &rs);
  EXPECT_EQ(format(rs), want);
  ruleset again;
  apply(("flush ruleset\n" + format(rs)).c_str(), &again);
  EXPECT_EQ(format(again), want);
  EXPECT_NE(apply("table inet x { chain c { type filter hook input priority 0; meter m { tcp "
                  "dport and 255 limit rate 1/second }; } }\n",
                  &again)
                .find("not supported: a mask on a key other than one address"),
            std::string::npos);
}

// reject with icmp, icmpv6 and icmpx codes in each family, listed as nft 1.0.6 lists them here
// (a family's own port-unreachable is plain `reject`), with nft's errors for icmpx outside
// inet and for the other family's ICMP; icmpv6 in an inet table skips IPv4 packets.
TEST(NftFields, RejectCodesListAsNftDoesPerFamily) {
  const std::string input = R"(flush ruleset
table inet t {
  chain c { type filter hook forward priority 0;
    tcp dport 1 reject with icmpv6 type admin-prohibited
    tcp dport 2 reject with icmpv6 no-route
    tcp dport 3 reject with icmpv6 addr-unreachable
    tcp dport 4 reject with icmpv6 port-unreachable
    ip6 saddr ::1 reject with icmpv6 port-unreachable
    tcp dport 5 reject with tcp reset
    tcp dport 6 reject with icmpx admin-prohibited
    tcp dport 7 reject with icmpx port-unreachable
    tcp dport 8 reject with icmpx no-route
    tcp dport 9 reject with icmp port-unreachable
    tcp dport 10 reject with icmp host-unreachable
  }
}
table ip6 s {
  chain c { type filter hook forward priority 0;
    tcp dport 1 reject with icmpv6 type admin-prohibited
    tcp dport 4 reject with icmpv6 port-unreachable
    tcp dport 5 reject with tcp reset
    reject
  }
}
table ip a {
  chain c { type filter hook forward priority 0;
    tcp dport 1 reject with icmp port-unreachable
    tcp dport 2 reject with icmp net-unreachable
    reject
  }
}
)";
  const std::string want =
      "table inet t {\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\ttcp dport 1 reject with icmpv6 admin-prohibited\n"
      "\t\ttcp dport 2 reject with icmpv6 no-route\n"
      "\t\ttcp dport 3 reject with icmpv6 addr-unreachable\n"
      "\t\ttcp dport 4 reject with icmpv6 port-unreachable\n"
      "\t\tip6 saddr ::1 reject with icmpv6 port-unreachable\n"
      "\t\ttcp dport 5 reject with tcp reset\n"
      "\t\ttcp dport 6 reject with icmpx admin-prohibited\n"
      "\t\ttcp dport 7 reject\n"
      "\t\ttcp dport 8 reject with icmpx no-route\n"
      "\t\ttcp dport 9 reject with icmp port-unreachable\n"
      "\t\ttcp dport 10 reject with icmp host-unreachable\n"
      "\t}\n"
      "}\n"
      "table ip6 s {\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\ttcp dport 1 reject with icmpv6 admin-prohibited\n"
      "\t\ttcp dport 4 reject\n"
      "\t\ttcp dport 5 reject with tcp reset\n"
      "\t\treject\n"
      "\t}\n"
      "}\n"
      "table ip a {\n"
      "\tchain c {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\ttcp dport 1 reject\n"
      "\t\ttcp dport 2 reject with icmp net-unreachable\n"
      "\t\treject\n"
      "\t}\n"
      "}\n";
  ruleset rs;
  apply(input.c_str(), &rs);
  EXPECT_EQ(format(rs), want);
  ruleset again;
  apply(("flush ruleset\n" + format(rs)).c_str(), &again);
  EXPECT_EQ(format(again), want);
  const rule& v6 = rs.tables[0].chains[0].rules[0];
  ASSERT_EQ(v6.matches.size(), 2u);
  EXPECT_TRUE(v6.matches[0].hidden);
  EXPECT_EQ(v6.matches[0].rhs.elems[0].lo, 10u);                  // meta nfproto ipv6
  EXPECT_EQ(rs.tables[0].chains[0].rules[4].matches.size(), 1u);  // ip6 saddr: no dependency
  ruleset bad;
  EXPECT_NE(apply("table ip x { chain c { type filter hook input priority 0; reject with icmpx "
                  "admin-prohibited; } }\n",
                  &bad)
                .find("abstracted ICMP unreachable not supported"),
            std::string::npos);
  EXPECT_NE(apply("table ip x { chain c { type filter hook input priority 0; reject with icmpv6 "
                  "no-route; } }\n",
                  &bad)
                .find("conflicting protocols specified: ip vs ip6"),
            std::string::npos);
  EXPECT_NE(apply("table ip6 x { chain c { type filter hook input priority 0; reject with icmpv6 "
                  "policy-fail; } }\n",
                  &bad)
                .find("not supported: reject with icmpv6 policy-fail"),
            std::string::npos);
}

// ct original|reply ip6 saddr|daddr, as nft 1.0.6 lists them here (anonymous sets sorted), and
// refused in an ip table with nft's error.
TEST(NftFields, CtIp6AddressesListAsNftDoes) {
  ruleset rs;
  apply(R"(table inet t {
 set peers { typeof ct original ip6 saddr; elements = { 2001:db8::1 } }
 chain c { type filter hook forward priority 0;
 ct original ip6 saddr 2001:db8::1 accept
 ct reply ip6 daddr { 2001:db8::/32, ::1 } counter
 ct original ip6 saddr . tcp dport { 2001:db8::2 . 22 } accept
 ct original ip6 saddr @peers accept
 }
}
)",
        &rs);
  EXPECT_EQ(format(rs),
            "table inet t {\n"
            "\tset peers {\n"
            "\t\ttypeof ct original ip6 saddr\n"
            "\t\telements = { 2001:db8::1 }\n"
            "\t}\n"
            "\n"
            "\tchain c {\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tct original ip6 saddr 2001:db8::1 accept\n"
            "\t\tct reply ip6 daddr { ::1, 2001:db8::/32 } counter packets 0 bytes 0\n"
            "\t\tct original ip6 saddr . tcp dport { 2001:db8::2 . 22 } accept\n"
            "\t\tct original ip6 saddr @peers accept\n"
            "\t}\n"
            "}\n");
  ruleset other;
  EXPECT_NE(apply("table ip x { chain c { type filter hook forward priority 0; ct original ip6 "
                  "saddr ::1 accept; } }\n",
                  &other)
                .find("conflicting protocols specified: ip vs. ip6"),
            std::string::npos);
}

// nft's errors for the other family's header, and flow labels past 20
// bits.
TEST(NftFields, Ip6TableRefusesIpv4Headers) {
  ruleset rs;
  EXPECT_EQ(
      apply("table ip6 y { chain c { type filter hook input priority 0; ip saddr 1.2.3.4 "
            "drop; } }\n",
            &rs),
      "rs.nft:1:60: error: conflicting protocols specified: ip6 vs. ip\n"
      "table ip6 y { chain c { type filter hook input priority 0; ip saddr 1.2.3.4 drop; } }\n"
      "                                                           ^^^^^^^^");
  EXPECT_EQ(apply("table ip x { chain c { type filter hook input priority 0; ip6 hoplimit 1 drop; "
                  "} }\n",
                  &rs),
            "rs.nft:1:59: error: conflicting protocols specified: ip vs. ip6\n"
            "table ip x { chain c { type filter hook input priority 0; ip6 hoplimit 1 drop; } }\n"
            "                                                          ^^^^^^^^^^^^");
  EXPECT_NE(apply("table ip6 s { chain c { type filter hook input priority 0; ip6 flowlabel "
                  "1048576 accept; } }\n",
                  &rs)
                .find("exceeds valid range 0-1048575"),
            std::string::npos);
  EXPECT_NE(apply("table ip6 r { chain c { type filter hook input priority 0; reject with icmp "
                  "type port-unreachable; } }\n",
                  &rs)
                .find("conflicting protocols specified: ip vs ip6"),
            std::string::npos);
}

// IPv6 NAT statements, listed as nft 1.0.6 lists them here (brackets around an address a port
// follows; `ip6` named in inet tables, also when the family came from an earlier match), read
// back from the listing, and nft's errors for the other family's address.
TEST(NftFields, Ip6NatListsAsNftDoes) {
  const std::string input = R"(flush ruleset
table ip6 nat6 {
  chain pre { type nat hook prerouting priority dstnat;
    tcp dport 80 dnat to [2001:db8::5]:8080
    udp dport 53 dnat to 2001:db8::5
    tcp dport 81 dnat to [2001:db8::5]-[2001:db8::9]:8000-8010
    tcp dport 82 redirect to :8080
    tcp dport 83 dnat to 2001:db8::5-2001:db8::9
  }
  chain post { type nat hook postrouting priority srcnat;
    oifname "wan" ip6 saddr fd00::/64 snat to 2001:db8::1
    oifname "wan2" masquerade random
    oifname "wan3" snat to 2001:db8::1-2001:db8::4 persistent
  }
}
table inet nat {
  chain post { type nat hook postrouting priority srcnat;
    oifname "wan" snat ip6 to 2001:db8::1
    oifname "wan" snat ip to 10.0.0.1
    oifname "wan4" masquerade
    meta nfproto ipv6 tcp dport 22 snat to [2001:db8::1]:2222
    ip6 saddr fd00::1 snat to 2001:db8::1
    tcp dport 23 snat ip6 to [2001:db8::1]:2222
  }
}
)";
  const std::string want = R"(table ip6 nat6 {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 80 dnat to [2001:db8::5]:8080
		udp dport 53 dnat to 2001:db8::5
		tcp dport 81 dnat to [2001:db8::5]-[2001:db8::9]:8000-8010
		tcp dport 82 redirect to :8080
		tcp dport 83 dnat to 2001:db8::5-2001:db8::9
	}

	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" ip6 saddr fd00::/64 snat to 2001:db8::1
		oifname "wan2" masquerade random
		oifname "wan3" snat to 2001:db8::1-2001:db8::4 persistent
	}
}
table inet nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" snat ip6 to 2001:db8::1
		oifname "wan" snat ip to 10.0.0.1
		oifname "wan4" masquerade
		meta nfproto ipv6 tcp dport 22 snat ip6 to [2001:db8::1]:2222
		ip6 saddr fd00::1 snat ip6 to 2001:db8::1
		tcp dport 23 snat ip6 to [2001:db8::1]:2222
	}
}
)";
  ruleset rs;
  apply(input.c_str(), &rs);
  EXPECT_EQ(format(rs), want);
  ruleset again;
  apply(("flush ruleset\n" + format(rs)).c_str(), &again);
  EXPECT_EQ(format(again), want);
  auto error_of = [](const char* fam, const char* stmt) {
    ruleset r;
    return apply(
        (std::string("table ") + fam +
         " t {\n chain p {\n type nat hook postrouting priority srcnat\n " + stmt + "\n }\n}\n")
            .c_str(),
        &r);
  };
  EXPECT_NE(error_of("ip", "snat ip6 to 2001:db8::1")
                .find("conflicting protocols specified: ip vs. ip6. You must specify ip or ip6 "
                      "family in nat statement"),
            std::string::npos);
  EXPECT_NE(
      error_of("ip6", "snat ip to 10.0.0.1").find("conflicting protocols specified: ip6 vs. ip"),
      std::string::npos);
  EXPECT_NE(error_of("inet", "snat to 2001:db8::1")
                .find("ip or ip6 must be specified with address for inet tables."),
            std::string::npos);
  EXPECT_NE(error_of("ip6", "snat to 10.0.0.1").find("Could not resolve hostname"),
            std::string::npos);
  EXPECT_NE(error_of("inet", "meta l4proto tcp snat ip6 to :1000").find("unexpected"),
            std::string::npos);
  EXPECT_NE(error_of("inet", "dnat to [2001:db8::1]:80")
                .find("ip or ip6 must be specified with address for inet tables."),
            std::string::npos);
}

// meta nfproto/protocol, ip dscp/ecn/frag-off, ct direction/status and interface name
// wildcards: the input, and what nft 1.0.6 listed for it (nft list ruleset); ctgate's listing
// is the same, and reads back to the same listing.
TEST(NftFields, MetaIpAndCtFieldsListAsNftDoes) {
  const std::string input = R"(flush ruleset
table inet t {
  chain c { type filter hook forward priority 0;
    meta nfproto ipv4 accept
    meta nfproto 2 accept
    meta protocol ip accept
    meta protocol { ip, arp } accept
    ip dscp cs1 accept
    ip dscp { ef, af41, 3 } accept
    ip dscp 46 accept
    ip ecn ce accept
    ip ecn != not-ect accept
    ip frag-off & 0x1fff != 0 drop
    ip frag-off 0 accept
    ip frag-off & 0x2000 == 0x2000 accept
    ct direction original accept
    ct direction reply accept
    ct status assured accept
    ct status dnat,snat accept
    ct status ! seen-reply accept
    ct status expected,seen-reply,assured,confirmed,snat,dnat,dying accept
    iifname "eth*" accept
    ip dscp 0 accept
    ip dscp 1 accept
    ip dscp 44 accept
    ip dscp df accept
    ip dscp be accept
    meta protocol 0x8100 accept
    meta protocol ip6 accept
    meta protocol 0x1234 accept
    meta nfproto ipv6 accept
    meta nfproto 3 accept
    ct status 0x40 accept
    ct status == assured accept
    ct direction 1 accept
    tcp dport { 443, 22 } accept
    ip ecn 2 accept
    ip frag-off 0x4000 accept
    ip frag-off & 0x1fff == 0 accept
    oifname != "br-*" accept
  }
}
)";
  const std::string kernel = R"(table inet t {
	chain c {
		type filter hook forward priority filter; policy accept;
		meta nfproto ipv4 accept
		meta nfproto ipv4 accept
		meta protocol ip accept
		meta protocol { ip, arp } accept
		ip dscp cs1 accept
		ip dscp { 0x03, af41, ef } accept
		ip dscp ef accept
		ip ecn ce accept
		ip ecn != not-ect accept
		ip frag-off & 8191 != 0 drop
		ip frag-off 0 accept
		ip frag-off & 8192 == 8192 accept
		ct direction original accept
		ct direction reply accept
		ct status assured accept
		ct status snat,dnat accept
		ct status ! seen-reply accept
		ct status expected,seen-reply,assured,confirmed,snat,dnat,dying accept
		iifname "eth*" accept
		ip dscp cs0 accept
		ip dscp lephb accept
		ip dscp va accept
		ip dscp cs0 accept
		ip dscp cs0 accept
		meta protocol 8021q accept
		meta protocol ip6 accept
		meta protocol 0x1234 accept
		meta nfproto ipv6 accept
		meta nfproto 3 accept
		ct status 0x40 accept
		ct status == assured accept
		ct direction reply accept
		tcp dport { 22, 443 } accept
		ip ecn ect0 accept
		ip frag-off 16384 accept
		ip frag-off & 8191 == 0 accept
		oifname != "br-*" accept
	}
}
)";
  expect_lists_as(input, kernel);
  // nft's errors.
  ruleset ip;
  EXPECT_EQ(apply("table ip t { chain c { meta nfproto ipv4 accept; } }\n", &ip),
            "rs.nft:1:24: error: meta nfproto is only useful in the inet family\n"
            "table ip t { chain c { meta nfproto ipv4 accept; } }\n"
            "                       ^^^^^^^^^^^^");
  EXPECT_EQ(apply("table ip t { chain c { ip dscp af44 accept; } }\n", &ip),
            "rs.nft:1:32: error: unknown dscp 'af44'\n"
            "table ip t { chain c { ip dscp af44 accept; } }\n"
            "                               ^^^^");
  EXPECT_EQ(apply("table ip t { chain c { ip dscp 64 accept; } }\n", &ip),
            "rs.nft:1:32: error: Value 64 exceeds valid range 0-63\n"
            "table ip t { chain c { ip dscp 64 accept; } }\n"
            "                               ^^");
  EXPECT_EQ(apply("table ip t { chain c { ct status bogus accept; } }\n", &ip),
            "rs.nft:1:34: error: unknown ct status 'bogus'\n"
            "table ip t { chain c { ct status bogus accept; } }\n"
            "                                 ^^^^^");
}

// MSS clamping and the MSS option as nft 1.0.6 lists them, and nft's refusals: `rt mtu` needs
// a route, so not at prerouting or input, directly or through a jump.
TEST(NftFields, TcpOptionMaxsegListsAndIsRefusedWhereNftRefusesIt) {
  const std::string text =
      "table inet t {\n"
      "\tchain f {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\ttcp flags syn tcp option maxseg size set rt mtu\n"
      "\t\ttcp flags syn tcp option maxseg size set 1400\n"
      "\t\ttcp option maxseg size > 1400 counter packets 0 bytes 0\n"
      "\t\ttcp option maxseg size 1000-1460 counter packets 0 bytes 0\n"
      "\t\ttcp flags syn / syn,rst tcp option maxseg size set rt mtu\n"
      "\t}\n"
      "}\n";
  expect_lists_as(text, text);
  ruleset base;
  EXPECT_EQ(apply("table ip t {\n chain in {\n type filter hook input priority 0;\n"
                  " tcp flags syn tcp option maxseg size set rt mtu\n }\n}\n",
                  &base),
            "rs.nft:4:16: error: rt mtu needs the packet's route: not available at the input hook "
            "(base chain 'in'; nft: Could not process rule: Operation not supported)\n"
            " tcp flags syn tcp option maxseg size set rt mtu\n"
            "               ^^^");
  EXPECT_EQ(apply("table ip t {\n chain g {\n tcp option maxseg size set rt mtu\n }\n"
                  " chain pre {\n type filter hook prerouting priority 0;\n jump g\n }\n}\n",
                  &base),
            // (nft, which adds rules one by one, reports the jump that made it reachable)
            "rs.nft:3:2: error: rt mtu needs the packet's route: not available at the "
            "prerouting hook (base chain 'pre'; nft: Could not process rule: Operation not "
            "supported)\n"
            " tcp option maxseg size set rt mtu\n"
            " ^^^");
  EXPECT_EQ(apply("table ip t { chain c { tcp option maxseg size set 65536; } }\n", &base),
            "rs.nft:1:51: error: Value 65536 exceeds valid range 0-65535\n"
            "table ip t { chain c { tcp option maxseg size set 65536; } }\n"
            "                                                  ^^^^^");
  EXPECT_EQ(apply("table ip t { chain c { tcp option window kind 3; } }\n", &base),
            "rs.nft:1:35: error: not supported: tcp option window (ctgate reads maxseg only)\n"
            "table ip t { chain c { tcp option window kind 3; } }\n"
            "                                  ^^^^^^");
}

// log level and flags as nft 1.0.6 lists them (the kernel's listing of the same rules).
TEST(NftFields, LogLevelsAndFlagsListAsNftDoes) {
  const std::string text =
      "table ip t {\n"
      "\tchain f {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tlog prefix \"a \" level info\n"
      "\t\tlog level debug flags all\n"
      "\t\tlog flags tcp sequence,options\n"
      "\t\tlog flags ip options flags ether\n"
      "\t\tlog prefix \"b\" flags skuid\n"
      "\t\tlog level emerg\n"
      "\t\tlog flags tcp options\n"
      "\t}\n"
      "}\n";
  const ruleset again = expect_lists_as(
      "table ip t {\n chain f {\n type filter hook forward priority 0;\n"
      " log prefix \"a \" level info\n log level debug flags all\n"
      " log flags tcp sequence,options\n log flags ip options flags ether\n"
      " log level warn prefix \"b\" flags skuid\n log level emerg\n log flags tcp options\n"
      " }\n}\n",
      text);
  ASSERT_EQ(again.tables.size(), 1u);
  const statement& all = again.tables[0].chains[0].rules[1].stmts[0];
  EXPECT_EQ(all.log_level, 7);
  EXPECT_EQ(all.log_flags, LOG_F_ALL);
}

// numgen (issue 12) as nft 1.0.6 lists it, in mark set (with and without a map) and vmap; as
// a match it is not supported yet.
TEST(NftFields, NumgenListsAsNftDoes) {
  const std::string text =
      "table ip t {\n"
      "\tchain a {\n"
      "\t\taccept\n"
      "\t}\n"
      "\n"
      "\tchain b {\n"
      "\t\tdrop\n"
      "\t}\n"
      "\n"
      "\tchain f {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tmeta mark set numgen inc mod 2\n"
      "\t\tmeta mark set numgen random mod 4 offset 100\n"
      "\t\tct mark set numgen inc mod 3 map { 0 : 0x00000010, 1 : 0x00000020, 2 : 0x00000030 }\n"
      "\t\tnumgen inc mod 2 vmap { 0 : jump a, 1 : jump b }\n"
      "\t\tmeta mark set numgen inc mod 2\n"
      "\t}\n"
      "}\n";
  expect_lists_as(
      "table ip t {\n chain a {\n accept\n }\n chain b {\n drop\n }\n chain f {\n"
      " type filter hook forward priority 0;\n meta mark set numgen inc mod 2\n"
      " meta mark set numgen random mod 4 offset 100\n"
      " ct mark set numgen inc mod 3 map { 0 : 0x10, 1 : 0x20, 2 : 0x30 }\n"
      " numgen inc mod 2 vmap { 0 : jump a, 1 : jump b }\n mark set numgen inc mod 2 offset 0\n"
      " }\n}\n",
      text);
  ruleset base;
  EXPECT_EQ(apply("table ip t { chain c { meta mark set numgen inc mod 0; } }\n", &base),
            "rs.nft:1:53: error: numgen modulus must be at least 1\n"
            "table ip t { chain c { meta mark set numgen inc mod 0; } }\n"
            "                                                    ^");
}

// jhash (issue 12), listed as nft 1.0.6 lists the same rules on this machine: a written seed in
// hex, a drawn one not at all, the offset when not zero.
TEST(NftFields, JhashListsAsNftDoes) {
  const std::string text =
      "table ip t {\n"
      "\tchain f {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct mark set jhash ip saddr . udp sport mod 4 seed 0xdeadbeef offset 1\n"
      "\t\tmeta mark set jhash ip saddr mod 2\n"
      "\t\tjhash ip daddr mod 2 seed 0x0 vmap { 0 : accept, 1 : drop }\n"
      "\t\tmeta mark set jhash tcp dport mod 10 seed 0x5 offset 3 map { 3 : 0x00000001, 4 : "
      "0x00000002 }\n"
      "\t}\n"
      "}\n";
  expect_lists_as(
      "table ip t { chain f { type filter hook forward priority 0; ct mark set jhash ip saddr . "
      "udp sport mod 4 seed 0xdeadbeef offset 1; meta mark set jhash ip saddr mod 2; jhash ip "
      "daddr mod 2 seed 0x0 vmap { 0 : accept, 1 : drop }; meta mark set jhash tcp dport mod 10 "
      "seed 5 offset 3 map { 3 : 1, 4 : 2 }; }; }\n",
      text);
  // A drawn seed stays with the rule: the parse tree keeps it (a kept rule hashes the same).
  result<ruleset> rs = parse_string(text, "rs.nft");
  ASSERT_TRUE(rs.ok());
  const statement& drawn = rs->tables[0].chains[0].rules[1].stmts[0];
  EXPECT_FALSE(drawn.hash_seed_set);
  ruleset base;
  EXPECT_NE(apply("table ip t { chain c { meta mark set jhash ip saddr mod 0; } }\n", &base)
                .find("error: jhash modulus must be at least 1"),
            std::string::npos);
  EXPECT_NE(apply("table ip t { chain c { meta mark set jhash ct state mod 2; } }\n", &base)
                .find("not supported: jhash of ct state"),
            std::string::npos);
}

// Anonymous sets of interface names (issue 12), as nft 1.0.6 lists them on this machine: sorted,
// one name a plain compare, and each set of two or more taking a handle before its rule.
TEST(NftFields, InterfaceNameSetsListAsNftDoes) {
  ruleset rs;
  EXPECT_EQ(apply("table ip t { chain f { type filter hook forward priority 0; iifname { \"wan\", "
                  "\"lan\", \"eth*\" } accept; oifname != { \"zz\", \"aa\" } drop; iifname "
                  "{ \"lan\" } counter; iif { \"lo\" } accept; }; }\n",
                  &rs),
            "table ip t { # handle 1\n"
            "\tchain f { # handle 1\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tiifname { \"eth*\", \"lan\", \"wan\" } accept # handle 3\n"
            "\t\toifname != { \"aa\", \"zz\" } drop # handle 5\n"
            "\t\tiifname \"lan\" counter packets 0 bytes 0 # handle 6\n"
            "\t\tiif \"lo\" accept # handle 7\n"
            "\t}\n"
            "}\n");
  // Compiled against the gateway's ports: the names and the wildcard's matches, as one set.
  auto c = compile(rs, "rs.nft", {"lan", "wan", "eth0", "eth1", "lo", "aa", "zz"}, 1);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  const cmatch& any = (*c)->matches[(*c)->rules[0].first_match];
  ASSERT_NE(any.set, k_none);
  for (uint64_t port : {0u, 1u, 2u, 3u}) EXPECT_TRUE((*c)->sets[any.set]->contains(port));
  EXPECT_FALSE((*c)->sets[any.set]->contains(4));
  EXPECT_FALSE(compile(rs, "rs.nft", {"lan", "wan", "lo"}, 1).ok());  // no port named aa
  EXPECT_NE(apply("table ip t { chain f { iifname { } accept; }; }\n", &rs).find("error:"),
            std::string::npos);
}

// ct expiration (issue 12), listed as nft 1.0.6 lists the same rules on this machine: times in
// nft's units, a range in seconds, a bare number as seconds.
TEST(NftFields, CtExpirationListsAsNftDoes) {
  expect_lists_as(
      "table ip t { chain f { type filter hook forward priority 0; ct expiration < 10s accept; "
      "ct expiration 30 drop; ct expiration 1m-2m counter; ct expiration { 5s, 1h30m } counter; "
      "ct expiration != 500ms accept; }; }\n",
      "table ip t {\n"
      "\tchain f {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct expiration < 10s accept\n"
      "\t\tct expiration 30s drop\n"
      "\t\tct expiration 60s-120s counter packets 0 bytes 0\n"
      "\t\tct expiration { 5s, 1h30m } counter packets 0 bytes 0\n"
      "\t\tct expiration != 500ms accept\n"
      "\t}\n"
      "}\n");
  ruleset base;
  EXPECT_NE(
      apply("table ip t { chain f { ct expiration < tomorrow accept; }; }\n", &base).find("error:"),
      std::string::npos);
  EXPECT_NE(apply("table ip t { chain f { meta mark set ct expiration; }; }\n", &base)
                .find("not supported: setting mark from ct expiration"),
            std::string::npos);
  result<ruleset> rs =
      parse_string("table ip t { chain f { ct expiration vmap { 1000 : accept }; }; }\n", "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  auto c = compile(*rs, "rs.nft", {}, 1);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().to_string().find("ct expiration as a key or a value"), std::string::npos);
}

// numgen and jhash as matches (issue 12), listed as nft 1.0.6 lists the same rules on this
// machine: the operator left out for ==, sets and ranges as for numbers.
TEST(NftFields, NumgenAndJhashMatchesListAsNftDoes) {
  expect_lists_as(
      "table ip t { chain f { type filter hook forward priority 0; numgen random mod 10 < 5 "
      "accept; numgen inc mod 2 0 counter; numgen inc mod 3 offset 1 { 1, 2 } drop; jhash ip "
      "saddr mod 2 seed 1 == 1 accept; jhash ip saddr . tcp dport mod 4 seed 0x2 != 3 drop; }; "
      "}\n",
      "table ip t {\n"
      "\tchain f {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tnumgen random mod 10 < 5 accept\n"
      "\t\tnumgen inc mod 2 0 counter packets 0 bytes 0\n"
      "\t\tnumgen inc mod 3 offset 1 { 1, 2 } drop\n"
      "\t\tjhash ip saddr mod 2 seed 0x1 1 accept\n"
      "\t\tjhash ip saddr . tcp dport mod 4 seed 0x2 != 3 drop\n"
      "\t}\n"
      "}\n");
}

// nft's jhash lays its key out as the registers hold it (lookup3 itself: tests/common).
TEST(NftFields, JhashHashesTheRegisters) {
  // The key as nft's registers hold `ip saddr . udp sport`: 10.0.1.2 in network order, then
  // port 4000 in network order padded to 4 bytes.
  hash_state h;
  h.add_field(field::ip_saddr);
  h.add_field(field::udp_sport);
  h.mod = 4;
  h.seed = 0xdeadbeef;
  const uint64_t values[] = {0x0a000102, 4000};
  const uint8_t regs[] = {10, 0, 1, 2, 0x0f, 0xa0, 0, 0};
  EXPECT_EQ(h.of(values),
            static_cast<uint32_t>(static_cast<uint64_t>(jhash(regs, 8, 0xdeadbeef)) * 4 >> 32));
}

// quota (nft_quota), listed as nft 1.0.6 lists the same rules on this machine: the largest
// unit that holds the amount whole, `until` left out, `used` only when not zero.
TEST(NftCommands, QuotasListAsNft) {
  expect_lists_as(R"(table ip q {
  chain c { type filter hook input priority 0;
    quota 25 mbytes accept
    quota over 1000 bytes drop
    quota until 500 kbytes used 100 kbytes
    quota 1500 bytes used 1024 bytes counter
    quota over 3000000 bytes
    quota 2048 kbytes
  }
}
)",
                  R"(table ip q {
	chain c {
		type filter hook input priority filter; policy accept;
		quota 25 mbytes accept
		quota over 1000 bytes drop
		quota 500 kbytes used 100 kbytes
		quota 1500 bytes used 1 kbytes counter packets 0 bytes 0
		quota over 3000000 bytes
		quota 2 mbytes
	}
}
)");
  auto err = [](const std::string& rule) {
    result<ruleset> r = parse_string(
        "table ip q { chain c { type filter hook input priority 0; " + rule + "; } }\n", "rs.nft");
    return r ? std::string() : r.error().to_string();
  };
  EXPECT_NE(err("quota over 2 gbytes").find("rs.nft:1:70: error: Wrong rate format"),
            std::string::npos)
      << err("quota over 2 gbytes");
  EXPECT_NE(err("quota 0 bytes").find("quota must be at least 1 byte"), std::string::npos);
  EXPECT_NE(err("quota 10").find("expecting bytes, kbytes or mbytes"), std::string::npos);
  EXPECT_NE(err("quota name \"q\"").find("quota 'q' does not exist in table ip q"),
            std::string::npos);
}

// meta pkttype, listed as nft 1.0.6 lists it (unicast reads as host; bare pkttype is meta's).
TEST(NftCommands, PkttypeListsAsNft) {
  expect_lists_as(R"(table ip p {
  chain c { type filter hook input priority 0;
    meta pkttype broadcast counter
    meta pkttype unicast counter
    meta pkttype { broadcast, multicast } drop
    meta pkttype != host accept
    pkttype other
  }
}
)",
                  R"(table ip p {
	chain c {
		type filter hook input priority filter; policy accept;
		meta pkttype broadcast counter packets 0 bytes 0
		meta pkttype host counter packets 0 bytes 0
		meta pkttype { broadcast, multicast } drop
		meta pkttype != host accept
		meta pkttype other
	}
}
)");
}

}  // namespace
}  // namespace ctgate::nft
