// The articles' experiments again, now with real nft-syntax rulesets loaded
// the way users load them.
#include <rte_ip.h>
#include <rte_tcp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/test_env.h"
#include "control/rule_log.h"

namespace ctgate::test {
namespace {

gateway_config cfg(bool enable_hooks = false, uint32_t max = 1024, bool loose = true) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = enable_hooks;
  c.conntrack.max = max;
  c.conntrack.tcp_loose = loose;
  return c;
}

// Loads a ruleset that must load; its summary (empty if it did not).
ruleset_summary load(test_gateway& t, const std::string& text) {
  result<ruleset_summary> r = load_ruleset_text(*t.gw, text, "test.nft");
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : ruleset_summary{};
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// Sends a packet in on the lan port: whether the gateway sent it on.
struct forwarded {
  test_gateway& t;
  size_t sent = 0;
  bool operator()(const pkt_spec& s) {
    t.send(0, s);
    const bool passed = t.sent.size() > sent;
    sent = t.sent.size();
    return passed;
  }
};

std::vector<std::string> input_order(test_gateway& t) {
  std::vector<std::string> names;
  for (const auto& e : t.gw->hooks->list())
    if (e.hp == hook_point::input) names.push_back(e.name);
  return names;
}

// Article 1: `tcp dport 2570 drop` on input leaves no conntrack entry.
TEST(RulesetExperiments, FilterDropLeavesNoEntry) {
  test_gateway t(cfg(true));
  load(t, R"(
table ip filter {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 2570 counter drop
  }
})");
  t.send(0, tcp("10.0.1.2", 33254, "10.0.1.1", 2570, TCPF_SYN));
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_EQ(t.w->ct.n_unconfirmed, 0u);
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "tcp dport 2570 counter packets 1 bytes 40 drop"))
      << list_ruleset(*t.gw);
}

// nft -f semantics (issue 12): a file without `flush ruleset` adds to the live
// ruleset, and the rules it leaves alone keep counting from where they were; a
// rule replaced in place, and everything after a flush, counts from zero.
TEST(RulesetCommands, LoadsAddToTheLiveRulesetAndKeptRulesKeepTheirCounters) {
  test_gateway t(cfg(true));
  load(t, R"(
table ip filter {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 2570 counter drop
  }
})");
  t.send(0, tcp("10.0.1.2", 33254, "10.0.1.1", 2570, TCPF_SYN));
  t.send(0, tcp("10.0.1.2", 33255, "10.0.1.1", 2570, TCPF_SYN));
  // A second file adds a table next to the first (and a rule to the first).
  load(t, R"(
table ip other {
  chain input { type filter hook input priority filter; udp dport 53 counter accept; }
}
add rule ip filter input tcp dport 2571 counter drop
)");
  t.send(0, tcp("10.0.1.2", 33256, "10.0.1.1", 2570, TCPF_SYN));
  std::string listing = list_ruleset(*t.gw, true);
  EXPECT_TRUE(contains(listing, "tcp dport 2570 counter packets 3 bytes 120 drop # handle 2"))
      << listing;
  EXPECT_TRUE(contains(listing, "tcp dport 2571 counter packets 0 bytes 0 drop # handle 3"))
      << listing;
  EXPECT_TRUE(contains(listing, "table ip other { # handle 2")) << listing;
  // Replaced in place: same handle, a new counter.
  ASSERT_TRUE(load_ruleset_text(*t.gw,
                                "replace rule ip filter input handle 2 tcp dport 2570 "
                                "counter drop\n",
                                "replace.nft"));
  listing = list_ruleset(*t.gw, true);
  EXPECT_TRUE(contains(listing, "tcp dport 2570 counter packets 0 bytes 0 drop # handle 2"))
      << listing;
  // A load that fails changes nothing, counters included.
  t.send(0, tcp("10.0.1.2", 33257, "10.0.1.1", 2570, TCPF_SYN));
  EXPECT_FALSE(load_ruleset_text(*t.gw, "delete rule ip filter input handle 99\n", "bad.nft"));
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "tcp dport 2570 counter packets 1 bytes 40 drop"));
  // flush ruleset replaces everything.
  load(t,
       "flush ruleset\ntable ip filter { chain input { type filter hook input priority "
       "filter; tcp dport 2570 counter drop; } }\n");
  listing = list_ruleset(*t.gw, true);
  EXPECT_EQ(listing,
            "table ip filter { # handle 3\n"
            "\tchain input { # handle 1\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\ttcp dport 2570 counter packets 0 bytes 0 drop # handle 2\n"
            "\t}\n"
            "}\n");
}

// Verdict maps and mark maps (issue 12) on the data plane: a vmap picks the
// verdict (or the chain to jump to) by key, a key it lacks ends the rule; a
// mark map sets the connection's mark by address, and `meta mark set ct mark`
// restores it on every packet of the connection.
TEST(RulesetCommands, VerdictMapsAndMarkMapsDecidePerKey) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  map ports { type inet_service : verdict; elements = { 443 : accept } }
  map marks { type ipv4_addr : mark; flags interval; elements = { 10.0.2.0/24 : 0x7 } }
  chain web { ip saddr 10.0.1.2 counter accept; counter drop; }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct mark set ip daddr map @marks
    meta mark set ct mark
    tcp dport vmap { 22 : drop, 80 : jump web, 8000-8099 : accept }
    tcp dport vmap @ports
    meta mark 0x7 udp dport 53 counter accept
  }
})");
  t.send(0, tcp("10.0.1.2", 1000, "10.0.2.2", 80, TCPF_SYN));  // jump web: accepted
  EXPECT_EQ(t.sent.size(), 1u);
  t.send(0, tcp("10.0.1.3", 1001, "10.0.2.2", 80, TCPF_SYN));  // jump web: dropped
  t.send(0, tcp("10.0.1.2", 1002, "10.0.2.2", 22, TCPF_SYN));  // drop
  EXPECT_EQ(t.sent.size(), 1u);
  t.send(0, tcp("10.0.1.2", 1003, "10.0.2.2", 8042, TCPF_SYN));  // the interval: accept
  t.send(0, tcp("10.0.1.2", 1004, "10.0.2.2", 443, TCPF_SYN));   // not in the anonymous map;
  EXPECT_EQ(t.sent.size(), 3u);                                  // the named one accepts
  t.send(0, tcp("10.0.1.2", 1005, "10.0.2.2", 444, TCPF_SYN));   // in neither: the policy
  EXPECT_EQ(t.sent.size(), 3u);
  // The mark came from the map through the connection.
  t.send(0, udp("10.0.1.2", 1006, "10.0.2.2", 53));
  EXPECT_EQ(t.sent.size(), 4u);
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "ip saddr 10.0.1.2 counter packets 1 bytes 40 accept")) << listing;
  EXPECT_TRUE(contains(listing, "meta mark 0x00000007 udp dport 53 counter packets 1")) << listing;
  bool marked = false;
  for (const auto& l : t.conntrack_lines())
    marked = marked || (contains(l, "dport=53") && contains(l, "mark=7"));
  EXPECT_TRUE(marked);
  // Elements added at run time take effect.
  ASSERT_TRUE(load_ruleset_text(*t.gw, "add element ip filter ports { 444 : accept }\n", "e.nft"));
  t.send(0, tcp("10.0.1.2", 1007, "10.0.2.2", 444, TCPF_SYN));
  EXPECT_EQ(t.sent.size(), 5u);
}

// `add element` / `delete element` alone edit the live sets in place (element_update.h): no
// reload, rule counters go on, the listing shows the elements, a failed command changes
// nothing and says where it failed.
TEST(RulesetCommands, ElementCommandsEditTheLiveSetsInPlace) {
  test_gateway t(cfg(false));
  std::string blocked;
  for (int i = 0; i < 100; ++i)
    blocked += (i ? ", " : "") + std::string("10.9.0.") + std::to_string(2 * i);
  load(t, "table ip filter {\n  set block { type ipv4_addr; elements = { " + blocked +
              " } }\n  map svc { type inet_service : verdict; elements = { 80 : accept } }\n"
              "  chain forward {\n    type filter hook forward priority filter; policy drop;\n"
              "    ip saddr @block counter drop\n    tcp dport vmap @svc\n  }\n}\n");
  forwarded verdict{t};
  EXPECT_TRUE(verdict(tcp("10.0.1.77", 1000, "10.0.2.2", 80, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.9.0.4", 1001, "10.0.2.2", 80, TCPF_SYN)));
  result<ruleset_summary> r =
      load_ruleset_text(*t.gw, "add element ip filter block { 10.0.1.77, 10.9.0.4 }\n", "e.nft");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->in_place);
  EXPECT_EQ(r->elements_added, 1u);  // 10.9.0.4 was there
  EXPECT_FALSE(verdict(tcp("10.0.1.77", 1002, "10.0.2.2", 80, TCPF_SYN)));
  r = load_ruleset_text(*t.gw, "add element ip filter svc { 22 : accept }\n", "e.nft");
  ASSERT_TRUE(r && r->in_place);
  EXPECT_TRUE(verdict(tcp("10.0.1.78", 1003, "10.0.2.2", 22, TCPF_SYN)));
  r = load_ruleset_text(*t.gw, "delete element ip filter block { 10.0.1.77 }\n", "e.nft");
  ASSERT_TRUE(r && r->in_place);
  EXPECT_EQ(r->elements_deleted, 1u);
  EXPECT_TRUE(verdict(tcp("10.0.1.77", 1004, "10.0.2.2", 80, TCPF_SYN)));
  // The whole transaction fails at the missing element; the first one stays.
  r = load_ruleset_text(*t.gw,
                        "delete element ip filter block { 10.9.0.6 }\n"
                        "delete element ip filter block { 10.0.1.77 }\n",
                        "e.nft");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(),
            "e.nft:2:34: error: element 10.0.1.77 is not in set 'block' of table ip filter "
            "(nft: No such file or directory)\n"
            "delete element ip filter block { 10.0.1.77 }\n"
            "                                 ^^^^^^^^^");
  EXPECT_FALSE(verdict(tcp("10.9.0.6", 1005, "10.0.2.2", 80, TCPF_SYN)));
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "ip saddr @block counter packets 3 bytes 120 drop")) << listing;
  EXPECT_TRUE(contains(listing, "elements = { 22 : accept, 80 : accept }")) << listing;
  EXPECT_FALSE(contains(listing, "10.0.1.77")) << listing;
}

// Concatenations (issue 12) on the data plane: a named set of address . port pairs, an
// interval set with a prefix and a port range, a three-field verdict map, a mark map and an
// anonymous `!=` set decide by the whole key; a packet without one of the key's fields (UDP
// against `tcp dport`) matches neither == nor !=.
TEST(RulesetCommands, ConcatenationsDecideByTheWholeKey) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  set pairs { type ipv4_addr . inet_service; elements = { 10.0.2.3 . 22, 10.0.2.2 . 80 } }
  set nets { type ipv4_addr . inet_service; flags interval;
             elements = { 10.0.1.0/28 . 8000-8099 } }
  map udp3 { type ipv4_addr . ipv4_addr . inet_service : verdict;
             elements = { 10.0.1.2 . 10.0.2.3 . 53 : accept, 10.0.1.3 . 10.0.2.3 . 53 : drop } }
  chain forward {
    type filter hook forward priority filter; policy drop;
    meta mark set ip saddr . tcp dport map { 10.0.1.2 . 443 : 0x5 }
    meta mark 0x5 counter accept
    ip daddr . tcp dport @pairs counter accept
    ip saddr . tcp dport @nets counter accept
    ip saddr . ip daddr . udp dport vmap @udp3
    tcp dport 7 ip saddr . ip daddr != { 10.0.1.3 . 10.0.2.2 } counter accept
    ip saddr . tcp dport != { 10.0.1.2 . 1 } ip daddr 10.0.2.9 accept
  }
})");
  forwarded verdict{t};
  EXPECT_TRUE(verdict(tcp("10.0.1.9", 1000, "10.0.2.3", 22, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.9", 1001, "10.0.2.2", 22, TCPF_SYN)));
  EXPECT_TRUE(verdict(tcp("10.0.1.9", 1002, "10.0.2.2", 80, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.9", 1003, "10.0.2.3", 80, TCPF_SYN)));
  EXPECT_TRUE(verdict(tcp("10.0.1.15", 1004, "10.0.2.2", 8099, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.16", 1005, "10.0.2.2", 8050, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.15", 1006, "10.0.2.2", 8100, TCPF_SYN)));
  EXPECT_TRUE(verdict(udp("10.0.1.2", 1007, "10.0.2.3", 53)));
  EXPECT_FALSE(verdict(udp("10.0.1.3", 1008, "10.0.2.3", 53)));
  EXPECT_FALSE(verdict(udp("10.0.1.2", 1009, "10.0.2.2", 53)));            // not in the map: policy
  EXPECT_TRUE(verdict(tcp("10.0.1.2", 1010, "10.0.2.2", 443, TCPF_SYN)));  // the mark map
  EXPECT_FALSE(verdict(tcp("10.0.1.3", 1011, "10.0.2.2", 443, TCPF_SYN)));
  EXPECT_TRUE(verdict(tcp("10.0.1.2", 1012, "10.0.2.2", 7, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.3", 1013, "10.0.2.2", 7, TCPF_SYN)));
  EXPECT_FALSE(verdict(udp("10.0.1.2", 1014, "10.0.2.9", 9)));  // no tcp dport: no match
  EXPECT_TRUE(verdict(tcp("10.0.1.2", 1016, "10.0.2.9", 9, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.2", 1017, "10.0.2.9", 1, TCPF_SYN)));
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "ip daddr . tcp dport @pairs counter packets 2 bytes 80 accept"))
      << listing;
  // Elements added at run time take effect.
  ASSERT_TRUE(load_ruleset_text(*t.gw, "add element ip filter pairs { 10.0.2.3 . 80 }\n", "e.nft"));
  EXPECT_TRUE(verdict(tcp("10.0.1.9", 1015, "10.0.2.3", 80, TCPF_SYN)));
}

// Dynamic sets (issue 12): elements added, refreshed and deleted from the packet path, with
// the set's timeout and the element's, a size limit, listings with what expires when, and
// elements that survive a load which keeps the set (and not a flush).
TEST(RulesetCommands, DynamicSetsFillFromThePacketPathAndExpire) {
  test_gateway t(cfg(false));
  const std::string rules = R"(
table ip filter {
  set blocked { type ipv4_addr; flags dynamic, timeout; timeout 10s; size 3; }
  set seen { type ipv4_addr . inet_service; flags timeout; elements = { 10.0.1.50 . 80 timeout 1h } }
  chain forward {
    type filter hook forward priority filter; policy accept;
    tcp dport 25 delete @blocked { ip saddr } accept
    ip saddr @blocked counter drop
    tcp dport 23 add @blocked { ip saddr } drop
    tcp dport 24 update @blocked { ip saddr timeout 1m } drop
    udp dport 9 update @seen { ip saddr . udp dport timeout 5s }
    ip saddr . tcp dport @seen counter drop
  }
})";
  load(t, rules);
  forwarded verdict{t};
  EXPECT_TRUE(verdict(tcp("10.0.1.9", 1000, "10.0.2.2", 80, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.9", 1001, "10.0.2.2", 23, TCPF_SYN)));  // now blocked
  EXPECT_FALSE(verdict(tcp("10.0.1.9", 1002, "10.0.2.2", 80, TCPF_SYN)));
  std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "\t\tsize 3\n\t\tflags dynamic,timeout\n\t\ttimeout 10s\n"))
      << listing;
  EXPECT_TRUE(contains(listing, "elements = { 10.0.1.9 expires ")) << listing;
  EXPECT_TRUE(contains(listing, "elements = { 10.0.1.50 . 80 timeout 1h expires ")) << listing;
  EXPECT_TRUE(contains(listing, "tcp dport 24 update @blocked { ip saddr timeout 1m } drop"));
  // The set's timeout passes: the source is let through again.
  t.w->now_ms += 10'001;
  EXPECT_TRUE(verdict(tcp("10.0.1.9", 1003, "10.0.2.2", 80, TCPF_SYN)));
  // update with the element's own timeout; delete.
  EXPECT_FALSE(verdict(tcp("10.0.1.10", 1004, "10.0.2.2", 24, TCPF_SYN)));
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "10.0.1.10 timeout 1m expires "));
  t.w->now_ms += 30'000;
  EXPECT_FALSE(verdict(tcp("10.0.1.10", 1005, "10.0.2.2", 80, TCPF_SYN)));
  EXPECT_TRUE(verdict(tcp("10.0.1.10", 1006, "10.0.2.2", 25, TCPF_SYN)));
  EXPECT_TRUE(verdict(tcp("10.0.1.10", 1007, "10.0.2.2", 80, TCPF_SYN)));
  // Concatenated keys from the packet path.
  EXPECT_TRUE(verdict(udp("10.0.1.8", 1008, "10.0.2.2", 9)));
  EXPECT_FALSE(verdict(tcp("10.0.1.8", 1009, "10.0.2.2", 9, TCPF_SYN)));
  // Expired elements count against the size until the set's garbage collection frees them
  // (the daemon sweeps once a second).
  EXPECT_EQ(sweep_live_sets(*t.gw, t.w->now_ms), 1u);  // 10.0.1.9
  // size 3: the fourth source is not added, the rule ends there (nft: NFT_BREAK), counted.
  EXPECT_FALSE(verdict(tcp("10.0.1.11", 1010, "10.0.2.2", 23, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.12", 1011, "10.0.2.2", 23, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.13", 1012, "10.0.2.2", 23, TCPF_SYN)));
  EXPECT_TRUE(verdict(tcp("10.0.1.14", 1013, "10.0.2.2", 23, TCPF_SYN)));
  EXPECT_EQ(t.dp(dp_counter::set_full), 1u);
  // A load that keeps the set keeps its elements; element commands apply to them.
  ASSERT_TRUE(load_ruleset_text(*t.gw, "table ip other { }\n", "other.nft"));
  EXPECT_FALSE(verdict(tcp("10.0.1.11", 1014, "10.0.2.2", 80, TCPF_SYN)));
  ASSERT_TRUE(
      load_ruleset_text(*t.gw, "delete element ip filter blocked { 10.0.1.11 }\n", "d.nft"));
  EXPECT_TRUE(verdict(tcp("10.0.1.11", 1015, "10.0.2.2", 80, TCPF_SYN)));
  ASSERT_TRUE(load_ruleset_text(*t.gw, "add element ip filter blocked { 10.0.1.20 timeout 2m }\n",
                                "a.nft"));
  EXPECT_FALSE(verdict(tcp("10.0.1.20", 1016, "10.0.2.2", 80, TCPF_SYN)));
  // flush ruleset: a new set, empty.
  load(t, "flush ruleset\n" + rules);
  EXPECT_TRUE(verdict(tcp("10.0.1.12", 1017, "10.0.2.2", 80, TCPF_SYN)));
  EXPECT_TRUE(verdict(tcp("10.0.1.20", 1018, "10.0.2.2", 80, TCPF_SYN)));
}

// One burst of 32 packets, 16 sources each sent twice: the second packet of a source finds
// the element its first added earlier in the same burst, whether the set is big enough for
// its slots to be prefetched before the burst is evaluated (`big`) or not (`small`).
TEST(RulesetCommands, DynamicSetsSeeElementsAddedEarlierInTheBurst) {
  for (const char* size : {"size 65535", "size 64"}) {
    SCOPED_TRACE(size);
    test_gateway t(cfg(false));
    load(t, std::string("table ip filter {\n  set seen { type ipv4_addr; flags dynamic; ") + size +
                "; }\n  chain forward {\n    type filter hook forward priority filter;\n"
                "    ip saddr @seen counter drop\n    add @seen { ip saddr }\n  }\n}\n");
    std::vector<rte_mbuf*> pkts;
    for (int i = 0; i < 32; ++i) {
      const std::string src = "10.0.1." + std::to_string(100 + i % 16);
      pkts.push_back(t.make(udp(src.c_str(), static_cast<uint16_t>(2000 + i), "10.0.2.2", 53)));
    }
    t.burst(0, pkts);
    EXPECT_EQ(t.sent.size(), 16u);
    EXPECT_TRUE(contains(list_ruleset(*t.gw), "ip saddr @seen counter packets 16 ")) << size;
  }
}

// quota (issue 12): every packet reaching it consumes its IP length; `over` matches once the
// total reaches the quota. The listing shows what is used; a load that keeps the rule keeps it.
TEST(RulesetCommands, QuotaDropsOnceUsedUp) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    udp dport 9 quota over 100 bytes drop
    udp dport 10 quota until 60 bytes accept
    udp dport 10 drop
  }
})");
  forwarded verdict{t};
  // 28-byte datagrams (IP + UDP): 28, 56, 84 pass; the fourth makes 112 >= 100.
  for (uint16_t i = 0; i < 3; ++i) EXPECT_TRUE(verdict(udp("10.0.1.9", 1000 + i, "10.0.2.2", 9)));
  EXPECT_FALSE(verdict(udp("10.0.1.9", 1003, "10.0.2.2", 9)));
  EXPECT_FALSE(verdict(udp("10.0.1.9", 1004, "10.0.2.2", 9)));
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1005, "10.0.2.2", 10)));   // 28 < 60
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1006, "10.0.2.2", 10)));   // 56 < 60
  EXPECT_FALSE(verdict(udp("10.0.1.9", 1007, "10.0.2.2", 10)));  // 84: over, next rule drops
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "udp dport 9 quota over 100 bytes used 140 bytes drop"))
      << list_ruleset(*t.gw);
  ASSERT_TRUE(load_ruleset_text(*t.gw, "table ip other { }\n", "other.nft"));
  EXPECT_FALSE(verdict(udp("10.0.1.9", 1008, "10.0.2.2", 9)));
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "quota over 100 bytes used 168 bytes drop"));
}

// Named objects (issue 12): one counter, quota and limit shared by every rule that names it,
// listed in the table with its live values, kept with its counts by a load that keeps it and
// reset by one that recreates it.
TEST(RulesetCommands, NamedObjectsAreSharedByTheirRulesAndKeptByLoads) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  counter web { }
  quota dns { over 60 bytes }
  limit slow { rate 1/minute burst 2 packets }
  chain forward {
    type filter hook forward priority filter; policy accept;
    udp dport 80 counter name "web"
    udp dport 443 counter name web
    udp dport 53 quota name "dns" drop
    udp dport 54 quota name "dns" drop
    udp dport 7 limit name "slow" accept
    udp dport 7 drop
  }
})");
  forwarded verdict{t};
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1000, "10.0.2.2", 80)));
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1001, "10.0.2.2", 443)));
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1002, "10.0.2.2", 443)));
  // One quota for both ports: 28 + 28 < 60, the third makes 84.
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1003, "10.0.2.2", 53)));
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1004, "10.0.2.2", 54)));
  EXPECT_FALSE(verdict(udp("10.0.1.9", 1005, "10.0.2.2", 53)));
  // 1/minute with a burst of 2: nft_limit's bucket holds `burst` packets, so two pass and the
  // third falls through to the drop.
  for (uint16_t i = 0; i < 2; ++i) EXPECT_TRUE(verdict(udp("10.0.1.9", 1006 + i, "10.0.2.2", 7)));
  EXPECT_FALSE(verdict(udp("10.0.1.9", 1020, "10.0.2.2", 7)));
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "\tcounter web {\n\t\tpackets 3 bytes 84\n\t}\n")) << listing;
  EXPECT_TRUE(contains(listing, "\tquota dns {\n\t\tover 60 bytes used 84 bytes\n\t}\n"))
      << listing;
  EXPECT_TRUE(contains(listing, "\t\tudp dport 443 counter name \"web\"\n")) << listing;
  EXPECT_TRUE(contains(list_limits(*t.gw),
                       "filter limit slow: limit rate 1/minute burst 2 packets  "
                       "within=2 over=1"))
      << list_limits(*t.gw);
  // A load that keeps the objects keeps their state; redeclared, the counter stays as it is.
  ASSERT_TRUE(load_ruleset_text(*t.gw, "table ip filter { counter web { packets 99 bytes 9 } }\n",
                                "again.nft"));
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1009, "10.0.2.2", 80)));
  EXPECT_FALSE(verdict(udp("10.0.1.9", 1010, "10.0.2.2", 54)));
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "\t\tpackets 4 bytes 112\n")) << list_ruleset(*t.gw);
  // Deleting an object a rule names fails and changes nothing.
  EXPECT_FALSE(load_ruleset_text(*t.gw, "delete counter ip filter web\n", "delete.nft"));
  // Recreated after a flush, it starts from the file's values.
  ASSERT_TRUE(load_ruleset_text(*t.gw,
                                "flush ruleset\ntable ip filter { counter web { packets 7 bytes 70 "
                                "}; chain forward { type filter hook forward priority filter; "
                                "udp dport 80 counter name web; }; }\n",
                                "flush.nft"));
  EXPECT_TRUE(verdict(udp("10.0.1.9", 1011, "10.0.2.2", 80)));
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "\t\tpackets 8 bytes 98\n")) << list_ruleset(*t.gw);
}

// numgen as a match (issue 12): `numgen inc mod 2 0` passes every other packet, and a guard
// evaluated ahead for a prefetch does not advance the counter.
TEST(RulesetCommands, NumgenMatchAlternates) {
  test_gateway t(cfg(false));
  std::string many;
  for (int i = 0; i < 100; i++) many += (i ? ", " : "") + std::to_string(2000 + 2 * i);
  load(t, R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    numgen inc mod 2 0 udp dport { )" +
              many + R"( } drop
  }
})");
  forwarded verdict{t};
  for (uint16_t i = 0; i < 8; ++i)
    EXPECT_EQ(verdict(udp("10.0.1.9", 1000 + i, "10.0.2.2", 2000)), i % 2 == 1) << i;
  // A burst of 16: the set's probe is prefetched four packets ahead, and the counter still
  // advances once per packet (8 of 16 pass).
  std::vector<rte_mbuf*> burst;
  for (uint16_t i = 0; i < 16; ++i)
    burst.push_back(t.make(udp("10.0.1.9", 3000 + i, "10.0.2.2", 2000)));
  const size_t before = t.sent.size();
  t.burst(0, burst);
  EXPECT_EQ(t.sent.size() - before, 8u);
}

// meta pkttype (issue 12): from the frame's destination MAC, as Linux's skb->pkt_type.
TEST(RulesetCommands, PkttypeReadsTheFramesDestination) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  chain input {
    type filter hook input priority filter; policy accept;
    meta pkttype broadcast counter
    meta pkttype multicast counter
    meta pkttype host counter
  }
})");
  pkt_spec echo = echo_request("10.0.1.2", "10.0.1.1");
  t.send(0, echo);
  parse_mac("ff:ff:ff:ff:ff:ff", echo.dst_mac.b);
  t.send(0, echo);
  t.send(0, echo);
  parse_mac("01:00:5e:00:00:01", echo.dst_mac.b);
  t.send(0, echo);
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "meta pkttype broadcast counter packets 2 ")) << listing;
  EXPECT_TRUE(contains(listing, "meta pkttype multicast counter packets 1 ")) << listing;
  EXPECT_TRUE(contains(listing, "meta pkttype host counter packets 1 ")) << listing;
}

// A route chain (`type route hook output`, Debian's ipv4-mangle.nft) filters what the gateway
// sends itself, as a filter chain at output does: here the echo replies.
TEST(RulesetCommands, RouteChainFiltersLocalOutput) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip mangle {
  chain output {
    type route hook output priority mangle; policy accept;
    icmp type echo-reply counter drop
  }
})");
  pkt_spec echo = echo_request("10.0.1.2", "10.0.1.1");
  t.send(0, echo);
  EXPECT_TRUE(t.sent.empty());
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "type route hook output priority mangle; policy accept;"))
      << listing;
  EXPECT_TRUE(contains(listing, "icmp type echo-reply counter packets 1 ")) << listing;
}

// symhash: both directions of a flow get the same number, in [offset, offset + mod), and
// flows spread over the range.
TEST(RulesetCommands, SymhashIsTheSameBothWays) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    meta mark set symhash mod 4 offset 10
  }
})");
  std::set<uint32_t> seen;
  for (uint16_t p = 1000; p < 1040; ++p) {
    t.sent.clear();
    t.send(0, udp("10.0.1.2", p, "10.0.2.2", 53));
    t.send(1, udp("10.0.2.2", 53, "10.0.1.2", p));
    ASSERT_EQ(t.sent.size(), 2u);
    const uint32_t there = meta_of(t.sent[0].second)->mark;
    const uint32_t back = meta_of(t.sent[1].second)->mark;
    EXPECT_EQ(there, back) << "port " << p;
    EXPECT_GE(there, 10u);
    EXPECT_LT(there, 14u);
    seen.insert(there);
  }
  EXPECT_GE(seen.size(), 3u);  // 40 flows over 4 values
}

// Object maps: each packet counts in the counter its port maps to (none for a port the map
// lacks: the rule ends there), and a quota per source through a named map.
TEST(RulesetCommands, ObjectMapsPickTheObject) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  counter web { }
  counter dns { }
  quota q { over 100 bytes }
  map per_source { type ipv4_addr : quota; elements = { 10.0.1.3 : "q" } }
  chain forward {
    type filter hook forward priority filter; policy accept;
    counter name udp dport map { 80 : "web", 53 : "dns" } counter
    quota name ip saddr map @per_source drop
  }
})");
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.2", 1001, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.2", 1002, "10.0.2.2", 80));
  t.send(0, udp("10.0.1.2", 1003, "10.0.2.2", 99));  // not in the map: no counter at all
  EXPECT_EQ(t.sent.size(), 4u);
  // 10.0.1.3's quota: 100 bytes, 28 a packet; the fourth packet uses it up and is dropped.
  for (int i = 0; i < 4; ++i) t.send(0, udp("10.0.1.3", 2000, "10.0.2.2", 99));
  EXPECT_EQ(t.sent.size(), 7u);
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "counter web {\n\t\tpackets 1 bytes 28\n")) << listing;
  EXPECT_TRUE(contains(listing, "counter dns {\n\t\tpackets 2 bytes 56\n")) << listing;
  EXPECT_TRUE(contains(listing, "quota q {\n\t\tover 100 bytes used 112 bytes\n")) << listing;
  EXPECT_TRUE(contains(listing,
                       "counter name udp dport map { 53 : \"dns\", 80 : \"web\" } "
                       "counter packets 3 bytes 84"))
      << listing;
}

// Header, meta and ct fields (issue 12) on the data plane: the DSCP and ECN bits of the TOS
// byte, the DF flag through a mask on frag-off, nfproto and protocol (IPv4 everywhere), an
// interface name wildcard, and the direction and status of the packet's connection.
TEST(RulesetCommands, HeaderMetaAndCtFieldsMatchThePacket) {
  test_gateway t(cfg(true));
  load(t, R"(
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    meta nfproto ipv4 meta protocol ip ip dscp ef counter accept
    ip ecn ce counter accept
    ip frag-off & 0x4000 != 0 udp dport 7 counter accept
    ct direction reply ct status seen-reply,assured counter accept
    iifname "la*" tcp dport 22 ct direction original ct status ! seen-reply counter accept
    iifname "wa*" tcp dport 23 counter accept
  }
})");
  forwarded verdict{t};
  pkt_spec ef = udp("10.0.1.2", 1000, "10.0.2.2", 53);
  ef.tos = 46 << 2;
  EXPECT_TRUE(verdict(ef));
  pkt_spec cs1 = udp("10.0.1.2", 1001, "10.0.2.2", 53);
  cs1.tos = 8 << 2;
  EXPECT_FALSE(verdict(cs1));
  pkt_spec ce = udp("10.0.1.2", 1002, "10.0.2.2", 53);
  ce.tos = 3;
  EXPECT_TRUE(verdict(ce));
  pkt_spec df = udp("10.0.1.2", 1003, "10.0.2.2", 7);
  df.frag = 0x4000;
  EXPECT_TRUE(verdict(df));
  EXPECT_FALSE(verdict(udp("10.0.1.2", 1004, "10.0.2.2", 7)));
  // From the lan ("la*"), a new connection: original direction, no reply seen yet.
  EXPECT_TRUE(verdict(tcp("10.0.1.2", 1005, "10.0.2.2", 22, TCPF_SYN)));
  EXPECT_FALSE(verdict(tcp("10.0.1.2", 1006, "10.0.2.2", 23, TCPF_SYN)));  // not from "wa*"
  // The answer comes back from the wan: the reply direction, and conntrack has seen it.
  const size_t before = t.sent.size();
  t.send(1, tcp("10.0.2.2", 22, "10.0.1.2", 1005, TCPF_SYN | TCPF_ACK));
  EXPECT_EQ(t.sent.size(), before + 1);
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(
      contains(listing, "ct direction reply ct status seen-reply,assured counter packets 1"))
      << listing;
  EXPECT_TRUE(contains(listing,
                       "iifname \"la*\" tcp dport 22 ct direction original ct status ! "
                       "seen-reply counter packets 1"))
      << listing;
}

// MSS clamping (issue 12): `tcp option maxseg size set rt mtu` lowers the MSS of SYNs to what
// the route allows (the smaller of the output port's MTU and the way back, less 40), `set N`
// to N; neither raises it, a SYN without the option passes unchanged, and the TCP checksum
// stays right. `tcp option maxseg size` matches the option's value.
TEST(RulesetCommands, MssClampingLowersTheOptionAndKeepsTheChecksum) {
  gateway_config c = cfg(false);
  c.ports[1].mtu = 1400;  // wan
  test_gateway t(c);
  load(t, R"(
table ip mangle {
  chain forward {
    type filter hook forward priority mangle; policy accept;
    tcp dport 22 tcp flags syn tcp option maxseg size set rt mtu
    tcp dport 23 tcp flags syn tcp option maxseg size set 1200
    tcp dport 24 tcp option maxseg size > 1400 counter drop
  }
})");
  // The MSS option of the last packet sent, -1 if none; checks its TCP checksum.
  auto sent_mss = [&]() -> int {
    if (t.sent.empty()) return -2;
    rte_mbuf* mb = t.sent.back().second;
    auto* ip = rte_pktmbuf_mtod_offset(mb, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    auto* th = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
    // The sum over the pseudo-header and segment, checksum included, is 0xffff when right.
    const uint16_t seg = static_cast<uint16_t>(rte_be_to_cpu_16(ip->total_length) - sizeof(*ip));
    uint32_t sum = rte_ipv4_phdr_cksum(ip, 0) + rte_raw_cksum(th, seg);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    EXPECT_EQ(sum, 0xffffu) << "bad TCP checksum";
    if ((th->data_off >> 4) * 4 <= 20) return -1;
    const uint8_t* o = reinterpret_cast<const uint8_t*>(th + 1);
    return o[0] == 2 ? o[2] << 8 | o[3] : -1;
  };
  auto syn = [](uint16_t sport, uint16_t dport, uint16_t mss) {
    pkt_spec s = tcp("10.0.1.2", sport, "10.0.2.2", dport, TCPF_SYN);
    s.tcp_mss = mss;
    return s;
  };
  t.send(0, syn(1000, 22, 1460));
  EXPECT_EQ(sent_mss(), 1360);  // 1400 (wan) - 40
  t.send(0, syn(1001, 22, 1300));
  EXPECT_EQ(sent_mss(), 1300);  // never raised
  t.send(0, syn(1002, 23, 1460));
  EXPECT_EQ(sent_mss(), 1200);
  t.send(0, syn(1003, 22, 0));
  EXPECT_EQ(sent_mss(), -1);  // no option: nothing to clamp
  const size_t before = t.sent.size();
  t.send(0, syn(1004, 24, 1460));
  EXPECT_EQ(t.sent.size(), before);  // matched by its MSS and dropped
  t.send(0, syn(1005, 24, 1400));
  EXPECT_EQ(sent_mss(), 1400);
  EXPECT_EQ(t.dp(dp_counter::mss_clamped), 2u);
  EXPECT_TRUE(contains(list_ruleset(*t.gw),
                       "tcp dport 22 tcp flags syn tcp option maxseg size set rt mtu\n"));
}

// log level and flags (issue 12): the record carries the level and what the flags asked for,
// and the control thread's line shows it in the kernel's words.
TEST(RulesetCommands, LogFlagsCopyWhatTheLineShows) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    tcp dport 22 log prefix "ssh: " level info flags all
    tcp dport 23 log
  }
})");
  pkt_spec syn = tcp("10.0.1.2", 1000, "10.0.2.2", 22, TCPF_SYN);
  syn.seq = 12345;
  syn.tcp_mss = 1460;
  syn.src_mac = mac_addr{{0x02, 0, 0, 0, 0, 0x01}};
  syn.dst_mac = mac_addr{{0x02, 0, 0, 0, 0, 0xaa}};
  t.send(0, syn);
  t.send(0, tcp("10.0.1.2", 1001, "10.0.2.2", 23, TCPF_SYN));
  nft_log_record r;
  ASSERT_TRUE(t.w->logs->pop(&r));
  EXPECT_EQ(r.level, 6);
  EXPECT_EQ(r.flags, nft::LOG_F_ALL);
  EXPECT_EQ(rule_log_line(*t.gw, r),
            "ssh: IN=lan OUT=wan MACSRC=02:00:00:00:00:01 MACDST=02:00:00:00:00:aa "
            "MACPROTO=0800 SRC=10.0.1.2 DST=10.0.2.2 LEN=44 TOS=0x00 PREC=0x00 TTL=63 ID=0 "
            "PROTO=TCP SPT=1000 DPT=22 SEQ=12345 ACK=0 WINDOW=65535 RES=0x00 SYN URGP=0 "
            "OPT (020405B4) ");
  ASSERT_TRUE(t.w->logs->pop(&r));
  EXPECT_EQ(r.level, 4);
  EXPECT_EQ(rule_log_line(*t.gw, r),
            "IN=lan OUT=wan MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=10.0.1.2 "
            "DST=10.0.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=0 PROTO=TCP SPT=1001 DPT=23 "
            "WINDOW=65535 RES=0x00 SYN URGP=0 ");
}

// numgen (issue 12): `inc` counts round the modulus, shared by every packet of the rule, so a
// mark alternates and a vmap spreads packets over its verdicts in turn.
TEST(RulesetCommands, NumgenSpreadsPacketsInTurn) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    meta mark set numgen inc mod 2 offset 5
    meta mark 5 counter
    meta mark 6 counter
    udp dport 9 numgen inc mod 3 vmap { 0 : accept, 1 : drop, 2 : accept }
  }
})");
  forwarded verdict{t};
  for (uint16_t i = 0; i < 6; ++i)
    EXPECT_EQ(verdict(udp("10.0.1.2", static_cast<uint16_t>(1000 + i), "10.0.2.2", 9)), i % 3 != 1)
        << i;
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "meta mark 0x00000005 counter packets 3")) << listing;
  EXPECT_TRUE(contains(listing, "meta mark 0x00000006 counter packets 3")) << listing;
}

// Zones (issue 12): `ct zone set` before conntrack puts a flow in a zone, and
// two flows with the same addresses and ports in different zones are two
// entries; `ct zone` matches the zone; a port's configured zone is the
// default; a tracked packet keeps its connection's zone.
TEST(RulesetCommands, ZonesKeepOverlappingFlowsApart) {
  gateway_config c = cfg(false);
  c.ports[1].zone = 9;  // wan's default zone
  test_gateway t(c);
  load(t, R"(
table ip raw {
  chain pre {
    type filter hook prerouting priority raw;
    iifname "lan" udp dport 53 ct zone set 1
    iifname "lan" udp dport 54 ct zone set 2
  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct zone 2 counter drop
  }
})");
  // The same flow from lan (zone 1) and from wan (zone 9): two entries. A flow
  // put in zone 2 is dropped by `ct zone 2` and never confirmed.
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 54));
  t.send(1, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  std::vector<std::string> lines = t.conntrack_lines();
  ASSERT_EQ(lines.size(), 2u);
  int zone1 = 0, zone9 = 0;
  for (const auto& l : lines) {
    const bool flow = contains(l, "src=10.0.1.2 dst=10.0.2.2 sport=1000 dport=53 ");
    zone1 += flow && contains(l, "zone=1 ");
    zone9 += flow && contains(l, "zone=9 ");
  }
  EXPECT_EQ(zone1, 1) << lines[0] << "\n" << lines[1];
  EXPECT_EQ(zone9, 1) << lines[0] << "\n" << lines[1];
  // Zone 2's flow was dropped by `ct zone 2`; the others were forwarded.
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "ct zone 2 counter packets 1 bytes"))
      << list_ruleset(*t.gw);
  EXPECT_EQ(t.sent.size(), 2u);
}

// The seconds left that `conntrack -L` shows for the flow whose line contains `flow` (-1: none).
int timeout_of(test_gateway& t, const std::string& flow) {
  for (const auto& l : t.conntrack_lines())
    if (contains(l, flow)) {
      std::istringstream in(l);
      std::string proto, num;
      int secs = -1;
      in >> proto >> num >> secs;
      return secs;
    }
  return -1;
}

// ct timeout (issue 12), as the kernel does it (nft_ct_timeout_obj_eval; checked by
// tests/e2e/test_ruleset_differential.py): `ct timeout set` in a filter chain gives a new flow
// a policy, and the first packet takes the policy's first state (udp unreplied, tcp syn_sent);
// the flow's later states follow the policy. A chain before conntrack (raw) has no flow yet, a
// policy of another protocol leaves the flow alone, a confirmed flow keeps what it has, and
// when the policy is gone its flows go back to the gateway's timeouts.
TEST(RulesetCommands, CtTimeoutPoliciesGiveNewFlowsTheirTimeouts) {
  test_gateway t(cfg(false));
  const std::string policies = R"(
table ip raw {
  ct timeout early { protocol udp; policy = { unreplied: 7 }; }
  chain pre { type filter hook prerouting priority raw; udp dport 55 ct timeout set "early"; }
}
table ip filter {
  ct timeout u { protocol udp; policy = { unreplied: 5, replied: 50 }; }
  ct timeout t { protocol tcp; policy = { syn_sent: 9, established: 77 }; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    udp dport { 53, 54 } ct timeout set "u"
    udp dport 54 ct timeout set "t"
    tcp dport 22 ct timeout set "t"
  }
})";
  load(t, "flush ruleset\n" + policies);
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.2", 1001, "10.0.2.2", 54));
  t.send(0, udp("10.0.1.2", 1002, "10.0.2.2", 55));
  t.send(0, tcp("10.0.1.2", 1003, "10.0.2.2", 22, TCPF_SYN));
  EXPECT_EQ(timeout_of(t, "dport=53 "), 5);
  EXPECT_EQ(timeout_of(t, "dport=54 "), 5);   // "t" is for tcp: the flow keeps "u"
  EXPECT_EQ(timeout_of(t, "dport=55 "), 30);  // raw runs before conntrack: the default
  EXPECT_EQ(timeout_of(t, "dport=22 "), 9);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::timeout_policy_set), 3u);
  // Later packets: the policy's states. Traffic both ways after 2 s makes a UDP stream
  // (replied: 50) from the packet after the reply, as in Linux.
  t.w->now_ms += 3000;
  t.send(1, udp("10.0.2.2", 53, "10.0.1.2", 1000));
  t.send(1, udp("10.0.2.2", 55, "10.0.1.2", 1002));
  EXPECT_EQ(timeout_of(t, "dport=53 "), 5);
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  t.send(0, udp("10.0.1.2", 1002, "10.0.2.2", 55));
  t.send(1, tcp("10.0.2.2", 22, "10.0.1.2", 1003, TCPF_SYN | TCPF_ACK));
  t.send(0, tcp("10.0.1.2", 1003, "10.0.2.2", 22, TCPF_ACK));
  EXPECT_EQ(timeout_of(t, "dport=53 "), 50);
  EXPECT_EQ(timeout_of(t, "dport=55 "), 120);  // the gateway's udp_stream
  EXPECT_EQ(timeout_of(t, "dport=22 "), 77);
  // The confirmed flow passed `ct timeout set` again: nothing changed.
  EXPECT_EQ(t.ct_counter(ct::ct_counter::timeout_policy_set), 3u);
  // The same file again without flush adds nothing: the policies stay, and so do their flows'.
  load(t, policies);
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  EXPECT_EQ(timeout_of(t, "dport=53 "), 50);
  // Replaced (flush ruleset deletes the objects): the flows follow the gateway's timeouts.
  load(t, "flush ruleset\n" + policies);
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  t.send(0, tcp("10.0.1.2", 1003, "10.0.2.2", 22, TCPF_ACK));
  EXPECT_EQ(timeout_of(t, "dport=53 "), 120);
  EXPECT_EQ(timeout_of(t, "dport=22 "), 432000);
  // A new flow gets the new "u".
  t.send(0, udp("10.0.1.2", 1004, "10.0.2.2", 53));
  EXPECT_EQ(timeout_of(t, "sport=1004 "), 5);
}

// ct count (issue 12), as nft_connlimit in Linux 6.18 (checked against the kernel by
// tests/e2e/test_ruleset_differential.py, test 20): a connection counts from its first packet
// until it is gone or closed; a third SSH connection is dropped while two are open, and is
// forgotten once dropped; a closed one (RST) stops counting.
TEST(RulesetCommands, CtCountLimitsOpenConnections) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    tcp dport 22 ct count over 2 counter drop
  }
})");
  auto ssh = [&](uint16_t port, uint8_t flags) {
    const size_t before = t.sent.size();
    t.send(0, tcp("10.0.1.2", port, "10.0.2.2", 22, flags));
    t.w->now_ms += 10;
    return t.sent.size() > before;
  };
  EXPECT_TRUE(ssh(1000, TCPF_SYN));
  EXPECT_TRUE(ssh(1001, TCPF_SYN));
  EXPECT_FALSE(ssh(1002, TCPF_SYN));
  // 1000 completes its handshake: packets of counted connections add nothing.
  t.send(1, tcp("10.0.2.2", 22, "10.0.1.2", 1000, TCPF_SYN | TCPF_ACK));
  EXPECT_TRUE(ssh(1000, TCPF_ACK));
  EXPECT_TRUE(ssh(1000, TCPF_ACK));
  EXPECT_FALSE(ssh(1003, TCPF_SYN));
  // 1001 is reset: CLOSE no longer counts, so the next connection gets through.
  t.send(0, tcp("10.0.1.2", 1001, "10.0.2.2", 22, TCPF_RST));
  t.w->now_ms += 10;
  EXPECT_TRUE(ssh(1004, TCPF_SYN));
  EXPECT_FALSE(ssh(1005, TCPF_SYN));
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "tcp dport 22 ct count over 2 counter packets 3 "))
      << list_ruleset(*t.gw);
}

// `add @s { ip saddr ct count over 2 }`: a count per source. Each source has two SSH
// connections open at most; another source has its own count; an element whose connections
// all closed is freed from the set about a second later (the set's gc, from the statement).
TEST(RulesetCommands, CtCountPerElementLimitsEachSource) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip filter {
  set per_source {
    type ipv4_addr
    size 16
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    tcp dport 22 add @per_source { ip saddr ct count over 2 } counter drop
  }
})");
  auto ssh = [&](const char* src, uint16_t port, uint8_t flags) {
    const size_t before = t.sent.size();
    t.send(0, tcp(src, port, "10.0.2.2", 22, flags));
    t.w->now_ms += 10;
    return t.sent.size() > before;
  };
  EXPECT_TRUE(ssh("10.0.1.2", 1000, TCPF_SYN));
  EXPECT_TRUE(ssh("10.0.1.2", 1001, TCPF_SYN));
  EXPECT_FALSE(ssh("10.0.1.2", 1002, TCPF_SYN));
  EXPECT_TRUE(ssh("10.0.1.3", 1000, TCPF_SYN));  // another source: a count of its own
  EXPECT_TRUE(ssh("10.0.1.3", 1001, TCPF_SYN));
  EXPECT_FALSE(ssh("10.0.1.3", 1002, TCPF_SYN));
  // 10.0.1.2's connections are reset: CLOSE no longer counts.
  t.send(0, tcp("10.0.1.2", 1000, "10.0.2.2", 22, TCPF_RST));
  t.send(0, tcp("10.0.1.2", 1001, "10.0.2.2", 22, TCPF_RST));
  t.w->now_ms += 10;
  EXPECT_TRUE(ssh("10.0.1.2", 1003, TCPF_SYN));
  EXPECT_FALSE(ssh("10.0.1.3", 1003, TCPF_SYN));
  std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(
      contains(listing, "elements = { 10.0.1.2 ct count over 2, 10.0.1.3 ct count over 2 }"))
      << listing;
  EXPECT_TRUE(contains(listing, "add @per_source { ip saddr ct count over 2 } counter packets 3 "))
      << listing;
  // Every connection of 10.0.1.3 closes; once idle for a second, packets of another source
  // reaching the statement free its element.
  for (uint16_t p = 1000; p < 1002; ++p) t.send(0, tcp("10.0.1.3", p, "10.0.2.2", 22, TCPF_RST));
  t.w->now_ms += 1500;
  for (uint16_t i = 0; i < 40; ++i) {
    t.send(0, tcp("10.0.1.2", 1003, "10.0.2.2", 22, TCPF_ACK));
    t.w->now_ms += 1;
  }
  listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "elements = { 10.0.1.2 ct count over 2 }")) << listing;
  EXPECT_EQ(t.ct_counter(ct::ct_counter::count_list_full), 0u);
  // The listing loads back (nft's element syntax with its expression).
  load(t, listing);
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "elements = { 10.0.1.2 ct count over 2 }"));
}

// ct count within one burst: the new connections of earlier packets of the burst are not
// confirmed yet and still count. And bounded memory: a list that is full (64 connections for
// a small limit) remembers no more, and the count reads as over any limit (fails closed).
TEST(RulesetCommands, CtCountCountsWithinABurstAndFailsClosedWhenFull) {
  test_gateway t(cfg(false, 4096));
  load(t, R"(
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    udp dport 53 ct count 2 counter accept
    udp dport 54 ct count 1000 counter
    udp dport 54 accept
  }
})");
  std::vector<rte_mbuf*> burst;
  for (uint16_t i = 0; i < 3; ++i)
    burst.push_back(t.make(udp("10.0.1.2", 1000 + i, "10.0.2.2", 53)));
  t.burst(0, burst);
  EXPECT_EQ(t.sent.size(), 2u);  // the third is over 2: policy drop
  // 2,016 connections fit under `ct count 1000` (2 * limit + 16); the next ones find the list
  // full, are not remembered and do not match `ct count 1000`.
  t.w->now_ms += 10;
  for (uint32_t i = 0; i < 2020; ++i)
    t.send(0, udp("10.0.1.3", static_cast<uint16_t>(2000 + i), "10.0.2.2", 54));
  EXPECT_EQ(t.sent.size(), 2u + 2020u);
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "udp dport 54 ct count 1000 counter packets 1000 ")) << listing;
  EXPECT_EQ(t.ct_counter(ct::ct_counter::count_list_full), 4u);
}

// IPv4 header fields and the packet length (issue 12), read as received.
TEST(RulesetCommands, HeaderFieldsMatch) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip raw {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    ip ttl 64 ip version 4 ip hdrlength 5 counter
    meta length 20-1500 ip length 20-1500 ip id != 0-0 counter
    ip ttl { 1, 2 } counter drop
    ip ttl < 64 counter drop
  }
})");
  pkt_spec p = udp("10.0.1.2", 1000, "10.0.2.2", 53);
  p.ip_id = 7;
  t.send(0, p);
  p.ttl = 1;
  t.send(0, p);
  EXPECT_EQ(t.sent.size(), 1u);
  const std::string listing = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(listing, "ip ttl 64 ip version 4 ip hdrlength 5 counter packets 1 "))
      << listing;
  EXPECT_TRUE(contains(listing, "ip id != 0 counter packets 2 ")) << listing;
  EXPECT_TRUE(contains(listing, "ip ttl { 1, 2 } counter packets 1 ")) << listing;
  EXPECT_TRUE(contains(listing, "ip ttl < 64 counter packets 0 ")) << listing;
}

// Article 1, last experiment: a chain at 2147483647 registered before
// conntrack's hooks runs after ipv4_confirm. The SYN is dropped and counted,
// yet its flow is confirmed; ctgate warns about it.
TEST(RulesetExperiments, IntMaxChainRegisteredBeforeConntrackConfirmsDroppedFlow) {
  test_gateway t(cfg(false));
  // As in the article: the drop chain first, conntrack afterwards (here the
  // second table's `ct state` rule registers it, as the ct expression does).
  ruleset_summary r = load(t, R"(
table ip my_table {
  chain my_input {
    type filter hook input priority 2147483647; policy accept;
    tcp dport 2570 counter drop
  }
}
table ip stateful {
  chain forward {
    type filter hook forward priority filter;
    ct state established,related accept
  }
})");
  EXPECT_EQ(input_order(t), (std::vector<std::string>{"ipv4_confirm", "nft my_table my_input"}));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "runs AFTER ipv4_confirm")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[0], "test.nft:3:")) << r.warnings[0];
  t.send(0, tcp("10.0.1.2", 54868, "10.0.1.1", 2570, TCPF_SYN));
  auto l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "tcp      6 120 SYN_SENT src=10.0.1.2 dst=10.0.1.1 sport=54868 dport=2570 "
            "[UNREPLIED] src=10.0.1.1 dst=10.0.1.2 sport=2570 dport=54868 mark=0 use=1");
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "counter packets 1 bytes 40 drop"));

  // Loaded again now that conntrack is on, the chain registers after it and
  // runs first: the drop wins, nothing new is confirmed, and no warning.
  ruleset_summary again = load(t, R"(
table ip my_table {
  chain my_input {
    type filter hook input priority 2147483647; policy accept;
    tcp dport 2570 counter drop
  }
})");
  EXPECT_TRUE(again.warnings.empty());
  EXPECT_EQ(input_order(t), (std::vector<std::string>{"nft my_table my_input", "ipv4_confirm"}));
  t.send(0, tcp("10.0.1.2", 54869, "10.0.1.1", 2570, TCPF_SYN));
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
}

// The same trap reached the article's way: ruleset first, then conntrack's
// hooks enabled at runtime (modprobe nf_conntrack enable_hooks=1).
TEST(RulesetExperiments, EnableHooksAfterLoadWarns) {
  test_gateway t(cfg(false));
  ruleset_summary r = load(t, R"(
table ip my_table {
  chain my_input { type filter hook input priority 2147483647; tcp dport 2570 counter drop; }
})");
  EXPECT_TRUE(r.warnings.empty());  // nothing to warn about yet
  ASSERT_TRUE(enable_conntrack(*t.gw));
  auto w = ruleset_ordering_warnings(*t.gw);
  ASSERT_EQ(w.size(), 1u);
  t.send(0, tcp("10.0.1.2", 40000, "10.0.1.1", 2570, TCPF_SYN));
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
}

// Article 2: conntrack.max = 7, 10 SYNs: raw prerouting counts 10, mangle
// prerouting counts 7 (conntrack at -200 dropped 3 between them).
TEST(RulesetExperiments, TableFullRawSeesTenMangleSeesSeven) {
  test_gateway t(cfg(false, 7));
  load(t, R"(
table ip raw {
  chain prerouting {
    type filter hook prerouting priority raw;
    ct state new,established,related,invalid,untracked counter
  }
}
table ip mangle {
  chain prerouting {
    type filter hook prerouting priority mangle;
    counter
  }
})");
  for (uint16_t p = 10000; p < 10010; p++)
    t.send(0, tcp("198.18.0.2", p, "10.0.1.1", 80, TCPF_SYN));
  std::string listing = list_ruleset(*t.gw);
  // raw runs before conntrack assigns a state: every packet is "invalid" to
  // it (no ct yet), so the ct state rule with all states still counts 10.
  EXPECT_TRUE(contains(listing, "counter packets 10 bytes 400")) << listing;
  EXPECT_TRUE(contains(listing, "counter packets 7 bytes 280")) << listing;
  EXPECT_EQ(t.conntrack_lines().size(), 7u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::drop), 3u);
}

// Article 2: a drop on input (`iif ... drop`) creates no flows.
TEST(RulesetExperiments, DropOnInputCreatesNoFlows) {
  test_gateway t(cfg(true));
  load(t, R"(
table ip filter {
  chain input { type filter hook input priority 0; iif "lan" drop; }
})");
  for (uint16_t p = 10000; p < 10010; p++) t.send(0, tcp("10.0.1.2", p, "10.0.1.1", 80, TCPF_SYN));
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_EQ(t.ct_counter(ct::ct_counter::new_), 10u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::unconfirmed_freed), 10u);
}

// notrack in raw: no entry, ct state untracked downstream.
TEST(RulesetExperiments, NotrackInRawMakesNoEntry) {
  test_gateway t(cfg(true));
  load(t, R"(
table ip raw {
  chain prerouting { type filter hook prerouting priority raw; tcp dport 80 notrack; }
}
table ip filter {
  chain input { type filter hook input priority filter; ct state untracked counter accept; }
})");
  t.send(0, tcp("10.0.1.2", 1000, "10.0.1.1", 80, TCPF_SYN));
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_TRUE(contains(list_ruleset(*t.gw), "ct state untracked counter packets 1"))
      << list_ruleset(*t.gw);
}

// Loose and strict stray ACK, with a ruleset that references ct.
TEST(RulesetExperiments, StrayAckLooseAndStrict) {
  const char* rs = R"(
table ip filter {
  chain forward { type filter hook forward priority 0; ct state invalid counter drop; }
})";
  {
    test_gateway t(cfg(false, 1024, true));
    load(t, rs);
    t.send(0, tcp("10.0.1.2", 5555, "10.0.2.2", 80, TCPF_ACK));
    EXPECT_EQ(t.conntrack_lines().size(), 1u);
    EXPECT_EQ(t.sent.size(), 1u);
  }
  {
    test_gateway t(cfg(false, 1024, false));
    load(t, rs);
    t.send(0, tcp("10.0.1.2", 5555, "10.0.2.2", 80, TCPF_ACK));
    EXPECT_TRUE(t.conntrack_lines().empty());
    EXPECT_TRUE(t.sent.empty());  // invalid, dropped by the rule
  }
}

// A stateful firewall the way users write one; established traffic flows,
// new inbound is limited to ssh/http, the rest is dropped with counters.
TEST(Ruleset, StatefulForwardPolicy) {
  test_gateway t(cfg(false));
  load(t, R"(
define web = { 80, 443 }
table inet fw {
  set mgmt { type ipv4_addr; flags interval; elements = { 10.0.1.0/28, 10.0.1.200 } }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid counter drop
    iifname "lan" tcp dport $web counter accept
    ip saddr @mgmt tcp dport 22 counter accept
    counter comment "dropped by policy"
  }
})");
  t.send(0, tcp("10.0.1.2", 1000, "10.0.2.2", 80, TCPF_SYN));             // web: ok
  t.send(0, tcp("10.0.1.2", 1001, "10.0.2.2", 22, TCPF_SYN));             // ssh from mgmt: ok
  t.send(0, tcp("10.0.1.30", 1002, "10.0.2.2", 22, TCPF_SYN));            // ssh not from mgmt: drop
  t.send(1, tcp("10.0.2.2", 80, "10.0.1.2", 1000, TCPF_SYN | TCPF_ACK));  // reply: established
  t.send(1, tcp("10.0.2.2", 5000, "10.0.1.2", 80, TCPF_SYN));  // new inbound on wan: drop
  EXPECT_EQ(t.sent.size(), 3u);
  std::string l = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(l, "counter packets 2 bytes 80 comment \"dropped by policy\"")) << l;
}

// jump / goto / return and reject.
TEST(Ruleset, JumpReturnAndReject) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip f {
  chain check { tcp dport 23 reject with tcp reset; udp dport 9 reject; return; }
  chain forward { type filter hook forward priority 0; jump check; tcp dport 23 counter accept; counter accept; }
})");
  t.send(0, tcp("10.0.1.2", 1000, "10.0.2.2", 23, TCPF_SYN));
  ASSERT_EQ(t.sent.size(), 1u);  // the RST back to the client, nothing forwarded
  EXPECT_EQ(t.sent[0].first, 0);
  EXPECT_EQ(t.dp(dp_counter::reject_sent), 1u);
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 9));
  ASSERT_EQ(t.sent.size(), 1u);  // ICMP port unreachable back
  EXPECT_EQ(t.sent[0].first, 0);
  t.clear_sent();
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));  // returns from check, accepted
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);
}

// limit rate, with nft_limit's bucket of `burst` tokens (Linux 6.x): 1/second burst 5 passes
// 5 back-to-back packets, then one per second.
TEST(Ruleset, LimitRate) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip f {
  chain forward { type filter hook forward priority 0; limit rate 1/second burst 5 packets accept; drop; }
})");
  for (int i = 0; i < 10; i++)
    t.send(0, udp("10.0.1.2", static_cast<uint16_t>(2000 + i), "10.0.2.2", 53));
  EXPECT_EQ(t.sent.size(), 5u);
  t.w->now_ms += 2000;  // two tokens later
  for (int i = 0; i < 5; i++) t.send(0, udp("10.0.1.2", 3000, "10.0.2.2", 53));
  EXPECT_EQ(t.sent.size(), 7u);
}

// Tracing: `meta nftrace set 1` in a rule, or a selector from ctgatectl
// trace, records the packet, each hook callback, rules and verdicts.
TEST(Ruleset, TraceRecordsThePath) {
  test_gateway t(cfg(true));
  load(t, R"(
table ip f {
  chain forward { type filter hook forward priority 0; tcp dport 22 drop; counter accept; }
})");
  ASSERT_TRUE(trace_start(*t.gw, "tcp dport 22"));
  t.send(0, tcp("10.0.1.2", 1000, "10.0.2.2", 22, TCPF_SYN));
  t.send(0, tcp("10.0.1.2", 1001, "10.0.2.2", 80, TCPF_SYN));  // not selected
  size_t packets = 0;
  std::string lines = trace_read(*t.gw, &packets);
  EXPECT_EQ(packets, 1u) << lines;
  EXPECT_TRUE(contains(lines,
                       "packet: iif \"lan\" ip saddr 10.0.1.2 ip daddr 10.0.2.2 ip protocol tcp "
                       "tcp sport 1000 tcp dport 22"))
      << lines;
  EXPECT_TRUE(contains(lines, "PRE_ROUTING ipv4_conntrack_in verdict accept")) << lines;
  EXPECT_TRUE(contains(lines, "ip f forward rule tcp dport 22 drop (verdict drop)")) << lines;
  EXPECT_FALSE(contains(lines, "ctgate_trace")) << lines;
  trace_stop(*t.gw);
  EXPECT_FALSE(t.gw->tracing.load());
  for (const auto& e : t.gw->hooks->list()) EXPECT_NE(e.name.rfind("nft ctgate_trace", 0), 0u);

  // nftrace in the user's own ruleset (replacing the first, as nft -f does with a flush).
  load(t, R"(flush ruleset
table ip f {
  chain forward { type filter hook forward priority 0; udp dport 53 meta nftrace set 1; counter accept; }
})");
  EXPECT_TRUE(t.gw->tracing.load());
  t.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  lines = trace_read(*t.gw, &packets);
  EXPECT_EQ(packets, 1u);
  EXPECT_TRUE(
      contains(lines, "ip f forward rule counter packets 0 bytes 0 accept (verdict accept)"))
      << lines;
  EXPECT_TRUE(contains(lines, "POST_ROUTING ipv4_confirm verdict accept")) << lines;
}

// Runs of `tcp dport N` rules are indexed (one lookup instead of one try per
// rule); the outcome must be exactly the rule-by-rule one.
TEST(Ruleset, IndexedRunsKeepRuleOrderJumpsAndCounters) {
  test_gateway t(cfg(false));
  load(t, R"(
table ip f {
  chain x { counter; return; }
  chain forward {
    type filter hook forward priority 0;
    tcp dport 80 counter
    tcp dport 81 drop
    tcp dport 80 jump x
    tcp dport 82 accept
    tcp dport 80 counter
    tcp dport 83 drop
    udp dport 53 drop
    counter accept
  }
})");
  ASSERT_EQ(t.gw->ruleset->rs->runs.size(), 1u);
  EXPECT_EQ(t.gw->ruleset->rs->runs[0].end - t.gw->ruleset->rs->runs[0].first, 6u);
  t.send(0, tcp("10.0.1.2", 1, "10.0.2.2", 80, TCPF_SYN));  // every dport-80 rule, x, last
  t.send(0, tcp("10.0.1.2", 1, "10.0.2.2", 81, TCPF_SYN));  // dropped
  t.send(0, tcp("10.0.1.2", 1, "10.0.2.2", 82, TCPF_SYN));  // accepted at once
  t.send(0, tcp("10.0.1.2", 1, "10.0.2.2", 84, TCPF_SYN));  // no rule in the run: last rule
  t.send(0, udp("10.0.1.2", 1, "10.0.2.2", 53));            // no tcp field: skips the run
  EXPECT_EQ(t.sent.size(), 3u);
  std::string l = list_ruleset(*t.gw);
  EXPECT_TRUE(contains(l, "chain x {\n\t\tcounter packets 1 bytes 40")) << l;
  EXPECT_TRUE(contains(l, "\t\ttcp dport 80 counter packets 1 bytes 40\n\t\ttcp dport 81 drop"))
      << l;
  EXPECT_TRUE(contains(l, "\t\ttcp dport 80 counter packets 1 bytes 40\n\t\ttcp dport 83 drop"))
      << l;
  EXPECT_TRUE(contains(l, "\t\tcounter packets 2 bytes 80 accept")) << l;
}

// Per-source SYN limits ahead of conntrack, in bounded memory: a flooding
// source is cut off, a quiet one on the same rule is not.
TEST(Ruleset, MeterLimitsEachSourceSeparately) {
  test_gateway t(cfg(true));
  load(t, R"(
table ip raw {
  chain prerouting {
    type filter hook prerouting priority raw;
    tcp flags syn meter synflood { ip saddr limit rate over 10/second burst 5 packets } counter drop
  }
})");
  for (int i = 0; i < 40; i++)
    t.send(0, tcp("10.0.1.66", static_cast<uint16_t>(20000 + i), "10.0.2.2", 80, TCPF_SYN));
  for (int i = 0; i < 5; i++)
    t.send(0, tcp("10.0.1.7", static_cast<uint16_t>(30000 + i), "10.0.2.2", 80, TCPF_SYN));
  // 10/second with burst 5: the flooder gets its burst of 5 through, the rest are dropped
  // before conntrack ever sees them; the quiet source is untouched.
  EXPECT_EQ(t.sent.size(), 5u + 5u);
  EXPECT_EQ(t.conntrack_lines().size(), 10u);
  EXPECT_TRUE(contains(list_ruleset(*t.gw),
                       "meter synflood size 65535 { ip saddr limit rate over 10/second } counter "
                       "packets 35"))
      << list_ruleset(*t.gw);
  // Per-rule limit counters: 45 SYNs, 10 within their source's rate, 35 over.
  EXPECT_TRUE(contains(list_limits(*t.gw), "within=10 over=35")) << list_limits(*t.gw);
}

// Reserved capacity: when ordinary flows have used max - reserved entries,
// flows marked before conntrack (management) still get in.
TEST(Ruleset, ReservedCapacityKeepsManagementReachable) {
  gateway_config c = cfg(false, 10);
  c.conntrack.reserved = 3;
  c.conntrack.reserved_mark = 1;
  test_gateway t(c);
  load(t, R"(
table ip raw {
  chain prerouting { type filter hook prerouting priority raw; tcp dport 22 meta mark set 0x1; }
}
table ip filter {
  chain input { type filter hook input priority filter; ct state new counter accept; }
})");
  for (uint16_t p = 1000; p < 1020; p++) t.send(0, tcp("10.0.1.66", p, "10.0.1.1", 80, TCPF_SYN));
  EXPECT_EQ(t.gw->ct.table->count(), 7);  // max 10 - reserved 3
  EXPECT_EQ(t.ct_counter(ct::ct_counter::drop), 13u);
  for (uint16_t p = 2000; p < 2005; p++) t.send(0, tcp("10.0.1.2", p, "10.0.1.1", 22, TCPF_SYN));
  EXPECT_EQ(t.gw->ct.table->count(), 10);  // the reserved share, for ssh only
  EXPECT_EQ(t.ct_counter(ct::ct_counter::drop), 15u);
}

// Automatic defence: crossing the fill threshold turns cookie mode on for the
// protected port (no ruleset), pressure ending turns it off; both counted.
TEST(Synproxy, AutomaticDefenceSwitchesOnAndOff) {
  gateway_config c = cfg(true, 100);
  c.synproxy.enable = true;
  c.synproxy.ports = {80};
  c.synproxy.on_table_percent = 50;
  c.synproxy.off_table_percent = 20;
  test_gateway t(c);
  uint32_t now = t.w->now_ms;
  EXPECT_EQ(synproxy_auto_tick(*t.gw, now), "");
  for (uint16_t p = 0; p < 60; p++)
    t.send(0, udp("10.0.1.2", static_cast<uint16_t>(3000 + p), "10.0.2.2", 53));
  std::string on = synproxy_auto_tick(*t.gw, now + 200);
  EXPECT_TRUE(contains(on, "cookie mode ON")) << on;
  EXPECT_TRUE(contains(on, "conntrack 60% full")) << on;
  EXPECT_TRUE(t.gw->synproxy->auto_mode.on.load());
  t.clear_sent();
  t.send(0, tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_SYN));
  ASSERT_EQ(t.sent.size(), 1u);  // the cookie SYN-ACK, back to the client
  EXPECT_EQ(t.sent[0].first, 0);
  auto* th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
  EXPECT_EQ(th->tcp_flags, TCPF_SYN | TCPF_ACK);
  EXPECT_EQ(t.gw->ct.table->count(), 60);                       // nothing allocated for the SYN
  t.send(0, tcp("10.0.1.2", 40001, "10.0.2.2", 22, TCPF_SYN));  // port 22 is not protected
  EXPECT_EQ(t.gw->ct.table->count(), 61);

  ct::ct_worker* ws[] = {&t.w->ct};
  ct::delete_matching(*t.gw->ct.table, ct::ct_filter{}, ws, 1);
  for (int i = 0; i < 4; i++) t.tick();  // the owner serves 32 delete requests per loop
  std::string off = synproxy_auto_tick(*t.gw, now + 400);
  EXPECT_TRUE(contains(off, "cookie mode OFF")) << off;
  t.clear_sent();
  t.send(0, tcp("10.0.1.2", 40002, "10.0.2.2", 80, TCPF_SYN));
  ASSERT_EQ(t.sent.size(), 1u);
  EXPECT_EQ(t.sent[0].first, 1);  // forwarded to the server, tracked as usual
  EXPECT_EQ(t.gw->ct.table->count(), 1);
  EXPECT_EQ(t.gw->synproxy->auto_mode.switches_on.load(), 1u);
  EXPECT_EQ(t.gw->synproxy->auto_mode.switches_off.load(), 1u);
}

// The synproxy ruleset nft users write, for one service port.
std::string synproxy_rules(uint16_t port) {
  const std::string p = std::to_string(port);
  return "table ip raw { chain prerouting { type filter hook prerouting priority raw; tcp dport " +
         p +
         " tcp flags syn notrack; } }\n"
         "table ip filter { chain forward { type filter hook forward priority filter;\n"
         "  tcp dport " +
         p +
         " ct state invalid,untracked synproxy mss 1460\n"
         "  ct state invalid drop } }\n";
}

// A client reusing the port of a connection still in TIME_WAIT: synproxy's
// untracked SYN retires the finished entry (Linux would reopen it), so the
// client's cookie ACK reaches synproxy instead of matching the old flow.
TEST(Synproxy, PortReuseAfterTimeWait) {
  gateway_config c = cfg(true, 1024, false);
  test_gateway t(c);
  const char* cl = "10.0.1.2";
  const char* sv = "10.0.2.2";
  auto seg = [&](uint16_t port, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack) {
    pkt_spec s = from_client ? tcp(cl, 41000, sv, 5001, flags) : tcp(sv, 5001, cl, 41000, flags);
    s.seq = seq;
    s.ack = ack;
    t.send(port, s);
  };
  // An ordinary connection, closed by the client: TIME_WAIT.
  seg(0, true, TCPF_SYN, 100, 0);
  seg(1, false, TCPF_SYN | TCPF_ACK, 900, 101);
  seg(0, true, TCPF_ACK, 101, 901);
  seg(0, true, TCPF_FIN | TCPF_ACK, 101, 901);
  seg(1, false, TCPF_FIN | TCPF_ACK, 901, 102);
  seg(0, true, TCPF_ACK, 102, 902);
  ASSERT_TRUE(contains(t.conntrack_lines()[0], "TIME_WAIT")) << t.conntrack_lines()[0];
  ct::flow_key key = ct::make_key(ct::ct_tuple{});
  {
    pkt_spec s = tcp(cl, 41000, sv, 5001, TCPF_SYN);
    ct::ct_tuple tu;
    tu.src = rte_cpu_to_be_32(s.src);
    tu.dst = rte_cpu_to_be_32(s.dst);
    tu.sport = rte_cpu_to_be_16(s.sport);
    tu.dport = rte_cpu_to_be_16(s.dport);
    tu.proto = IPPROTO_TCP;
    key = ct::make_key(tu);
  }
  EXPECT_TRUE(t.gw->synproxy->finished.maybe(key));  // counted once it reached TIME_WAIT
  load(t, synproxy_rules(5001));
  t.clear_sent();
  seg(0, true, TCPF_SYN, 5000, 0);  // the same tuple, a new connection
  ASSERT_EQ(t.sent.size(), 1u);
  auto* th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
  uint32_t cookie = rte_be_to_cpu_32(th->sent_seq);
  {
    // The SYN-ACK's checksums, by DPDK's reference functions.
    auto* ip = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_ipv4_hdr*, 14);
    EXPECT_EQ(rte_raw_cksum(ip, 20), 0xffff);
    uint16_t ck = th->cksum;
    th->cksum = 0;
    uint16_t want = rte_ipv4_udptcp_cksum(ip, th);
    EXPECT_EQ(ck == 0 ? 0xffff : ck, want);
    th->cksum = ck;
    EXPECT_EQ(th->tcp_flags, TCPF_SYN | TCPF_ACK);
    EXPECT_EQ(rte_be_to_cpu_16(ip->total_length), 20 + (th->data_off >> 4) * 4);
  }
  EXPECT_TRUE(t.conntrack_lines().empty());           // the finished entry is gone
  EXPECT_FALSE(t.gw->synproxy->finished.maybe(key));  // and uncounted
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::finished_filter_skip), 0u);
  t.clear_sent();
  seg(0, true, TCPF_ACK, 5001, cookie + 1);
  EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_valid), 1u);
  ASSERT_EQ(t.sent.size(), 1u);  // our SYN to the server
  EXPECT_EQ(t.sent[0].first, 1);
  th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
  EXPECT_EQ(th->tcp_flags, TCPF_SYN);
  EXPECT_EQ(rte_be_to_cpu_32(th->sent_seq), 5000u);
}

// A gateway protecting port 80 with synproxy, by the automatic defence
// (switched on) or by a ruleset; strict TCP, as synproxy requires.
gateway_config synproxy_config(bool automatic) {
  gateway_config c = cfg(true, 1024, false);
  if (automatic) {
    c.synproxy.enable = true;
    c.synproxy.ports = {80};
  }
  return c;
}
void start_synproxy(test_gateway& t, bool automatic) {
  if (automatic)
    t.gw->synproxy->auto_mode.on.store(true);
  else
    load(t, synproxy_rules(80));
}

// Two copies of the client's cookie ACK in one burst both miss the table
// (one bulk lookup): the first opens the connection, the second finds its
// unconfirmed entry and is dropped (the SYN has not left yet), counted as a
// duplicate, not as a second connection. A copy in a later burst, the flow
// still joining, re-sends the same SYN (a retransmission). Both paths.
TEST(Synproxy, DuplicateAcksInOneBurstOpenOneConnectionOnly) {
  for (bool automatic : {false, true}) {
    SCOPED_TRACE(automatic ? "automatic defence" : "ruleset");
    test_gateway t(synproxy_config(automatic));
    start_synproxy(t, automatic);
    pkt_spec syn = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_SYN);
    syn.seq = 7000;
    t.send(0, syn);
    ASSERT_EQ(t.sent.size(), 1u);
    auto* th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
    uint32_t cookie = rte_be_to_cpu_32(th->sent_seq);
    t.clear_sent();
    pkt_spec ack = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_ACK);
    ack.seq = 7001;
    ack.ack = cookie + 1;
    t.burst(0, {t.make(ack), t.make(ack)});
    ASSERT_EQ(t.sent.size(), 1u);  // the SYN to the server
    if (!automatic) {
      // A later copy, INVALID to conntrack, reaches the statement: the SYN's retransmission.
      // (The automatic defence lets an ACK of a flow in the table go on to conntrack.)
      t.send(0, ack);
      ASSERT_EQ(t.sent.size(), 2u);
    }
    for (auto& [port, mb] : t.sent) {
      EXPECT_EQ(port, 1);
      th = rte_pktmbuf_mtod_offset(mb, rte_tcp_hdr*, 34);
      EXPECT_EQ(th->tcp_flags, TCPF_SYN);
      EXPECT_EQ(rte_be_to_cpu_32(th->sent_seq), 7000u);
    }
    EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_valid), 1u);
    EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::duplicate_acks), automatic ? 1u : 2u);
    EXPECT_EQ(t.gw->ct.table->count(), 1);
  }
}

// Synproxy needs conntrack and turns it on, as nft's does (nft_synproxy_init), in a ruleset
// and in the automatic defence, with conntrack.enable_hooks off: the connection it opens is
// confirmed, and nothing is left unconfirmed. A SYN answered without notrack in front of it
// gives its own entry back.
TEST(Synproxy, TurnsConntrackOnAndLeavesNothingUnconfirmed) {
  for (int mode = 0; mode < 3; mode++) {
    SCOPED_TRACE(mode == 0 ? "ruleset" : mode == 1 ? "ruleset without notrack" : "automatic");
    gateway_config c = cfg(false, 1024, false);
    if (mode == 2) {
      c.synproxy.enable = true;
      c.synproxy.ports = {80};
    }
    test_gateway t(c);
    if (mode == 2) {
      t.gw->synproxy->auto_mode.on.store(true);
    } else {
      load(t, std::string(mode == 0 ? "table ip raw { chain prerouting { type filter hook "
                                      "prerouting priority raw; tcp dport 80 tcp flags syn "
                                      "notrack; } }\n"
                                    : "") +
                  "table ip filter { chain forward { type filter hook forward priority "
                  "filter; tcp dport 80 synproxy mss 1460; } }\n");
    }
    EXPECT_TRUE(t.gw->ct_hooks_registered.load());
    pkt_spec syn = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_SYN);
    syn.seq = 7000;
    t.send(0, syn);
    ASSERT_EQ(t.sent.size(), 1u);
    auto* th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
    const uint32_t cookie = rte_be_to_cpu_32(th->sent_seq);
    t.clear_sent();
    pkt_spec ack = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_ACK);
    ack.seq = 7001;
    ack.ack = cookie + 1;
    t.send(0, ack);
    ASSERT_EQ(t.sent.size(), 1u);  // the SYN to the server
    th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
    EXPECT_EQ(th->tcp_flags, TCPF_SYN);
    EXPECT_EQ(t.gw->ct.table->count(), 1);
    EXPECT_EQ(t.w->ct.n_unconfirmed, 0u);
    EXPECT_EQ(t.dp(dp_counter::unconfirmed_leaked), 0u);
  }
}

// A proxied handshake that never joined times out (SYN_SENT, 120 s) but is
// not reaped yet when the client tries again: its new cookie ACK must open
// a new connection, never adopt the expired entry (which would count a
// duplicate and drop the ACK). Both paths.
TEST(Synproxy, CookieAckNeverAdoptsAnExpiredEntry) {
  for (bool automatic : {false, true}) {
    SCOPED_TRACE(automatic ? "automatic defence" : "ruleset");
    test_gateway t(synproxy_config(automatic));
    start_synproxy(t, automatic);
    auto handshake = [&](uint32_t isn) {
      pkt_spec syn = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_SYN);
      syn.seq = isn;
      t.send(0, syn);
      EXPECT_EQ(t.sent.size(), 1u);
      if (t.sent.empty()) return;
      auto* th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
      uint32_t cookie = rte_be_to_cpu_32(th->sent_seq);
      t.clear_sent();
      pkt_spec ack = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_ACK);
      ack.seq = isn + 1;
      ack.ack = cookie + 1;
      t.send(0, ack);
    };
    handshake(7000);  // the server never answers: SYN_SENT, 120 s
    ASSERT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_valid), 1u);
    t.clear_sent();
    // Just before it times out, a new SYN: not finished, so not retired.
    t.w->now_ms += 119800;
    pkt_spec syn = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_SYN);
    syn.seq = 9000;
    t.send(0, syn);
    ASSERT_EQ(t.sent.size(), 1u);
    auto* th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
    uint32_t cookie = rte_be_to_cpu_32(th->sent_seq);
    t.clear_sent();
    // Its ACK arrives after the old entry's timeout, before the wheel's turn.
    t.w->now_ms += 400;
    pkt_spec ack = tcp("10.0.1.2", 42000, "10.0.2.2", 80, TCPF_ACK);
    ack.seq = 9001;
    ack.ack = cookie + 1;
    t.send(0, ack);
    EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::cookies_valid), 2u);
    EXPECT_EQ(t.w->synproxy->counters.get(synproxy_counter::duplicate_acks), 0u);
    ASSERT_EQ(t.sent.size(), 1u);  // the new SYN to the server
    th = rte_pktmbuf_mtod_offset(t.sent[0].second, rte_tcp_hdr*, 34);
    EXPECT_EQ(rte_be_to_cpu_32(th->sent_seq), 9000u);
    EXPECT_EQ(t.gw->ct.table->count(), 1);
  }
}

// A failed load changes nothing.
TEST(Ruleset, FailedLoadKeepsTheLiveRuleset) {
  test_gateway t(cfg(false));
  load(t, "table ip f { chain forward { type filter hook forward priority 0; drop; } }");
  result<ruleset_summary> bad = load_ruleset_text(
      *t.gw,
      "table ip f { chain forward { type filter hook forward priority 0; tcp dport 99999 drop; } }",
      "bad.nft");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().to_string(), "bad.nft:1:")) << bad.error().to_string();
  bad = load_ruleset_text(*t.gw, "table ip f { chain c { iif \"nope\" drop; } }", "bad2.nft");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().to_string(), "unknown interface 'nope'"))
      << bad.error().to_string();
  t.send(0, udp("10.0.1.2", 1, "10.0.2.2", 53));
  EXPECT_TRUE(t.sent.empty());  // the first ruleset still drops
}

// Operator mistakes (issue 11): a ruleset over the configured limits, a path
// that is a directory, a binary file. Each is refused with an error that says
// why, and the live ruleset keeps working.
TEST(Ruleset, OperatorMistakesAreRefusedAndChangeNothing) {
  gateway_config c = cfg(false);
  c.ruleset_limits.rules = 1000;
  c.ruleset_limits.set_elements = 5000;
  test_gateway t(c);
  load(t, "table ip f { chain forward { type filter hook forward priority 0; drop; } }");

  std::string many = "table ip f { chain forward { type filter hook forward priority 0;\n";
  for (int i = 0; i < 1001; i++) many += "tcp dport " + std::to_string(i + 1) + " accept\n";
  many += "} }\n";
  result<ruleset_summary> r = load_ruleset_text(*t.gw, many, "many.nft");
  ASSERT_FALSE(r);
  // The file applies to the live ruleset (nft -f): its one rule counts too, so the
  // 1000th rule of the file is the one over the limit.
  EXPECT_EQ(r.error().line, 1001);
  EXPECT_TRUE(contains(r.error().message, "too many rules: the limit is 1000"))
      << r.error().message;

  // Over two sets and an `add element`: the limit is on the total.
  std::string elems = "table ip f { set a { type inet_service; elements = { ";
  for (int i = 1; i <= 3000; i++) elems += std::to_string(i) + ",";
  elems += "} }\nset b { type ipv4_addr; }\n}\nadd element ip f b { ";
  for (int i = 0; i < 2001; i++)
    elems += "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ",";
  elems += "}\n";
  r = load_ruleset_text(*t.gw, elems, "elems.nft");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().line, 4);
  EXPECT_TRUE(contains(r.error().message, "too many set elements: the limit is 5000"))
      << r.error().message;

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ctgate-ut-rs-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  r = load_ruleset_file(*t.gw, dir.string());
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().to_string(), "is a directory")) << r.error().to_string();
  {
    std::ofstream bin(dir / "bin.nft", std::ios::binary);
    bin << std::string(
               "\x7f"
               "ELF\x02\x01\x01\0\0\0",
               10)
        << "table ip f { }";
  }
  r = load_ruleset_file(*t.gw, (dir / "bin.nft").string());
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().to_string(), "not a text file (a NUL byte at offset 7)"))
      << r.error().to_string();
  std::filesystem::remove_all(dir);

  t.send(0, udp("10.0.1.2", 1, "10.0.2.2", 53));
  EXPECT_TRUE(t.sent.empty());  // the first ruleset still drops
}

// 100 reloads between bursts of established traffic: no packet that both
// rulesets accept is lost.
TEST(Ruleset, ReloadsLoseNoAcceptedPacket) {
  test_gateway t(cfg(true));
  const char* a =
      "table ip f { chain forward { type filter hook forward priority 0; ct state established "
      "accept; tcp dport 80 accept; drop; } }";
  const char* b =
      "table ip f { chain forward { type filter hook forward priority 0; tcp dport 80 counter "
      "accept; ct state established accept; drop; } }";
  load(t, a);
  t.send(0, tcp("10.0.1.2", 4000, "10.0.2.2", 80, TCPF_SYN));
  t.send(1, tcp("10.0.2.2", 80, "10.0.1.2", 4000, TCPF_SYN | TCPF_ACK));
  size_t sent = 0;
  for (int i = 0; i < 100; i++) {
    load(t, i % 2 ? a : b);
    std::vector<rte_mbuf*> burst;
    for (int k = 0; k < 8; k++)
      burst.push_back(t.make(tcp("10.0.1.2", 4000, "10.0.2.2", 80, TCPF_ACK)));
    t.burst(0, burst);
    sent += 8;
  }
  EXPECT_EQ(t.sent.size(), sent + 2);
}

}  // namespace
}  // namespace ctgate::test
