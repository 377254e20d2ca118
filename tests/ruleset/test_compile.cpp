// Unit tests for compile() on its own (lib/ruleset/compile.cpp): small rulesets parsed and
// compiled, and the compiled form (compiled.h) checked directly rather than through packets:
// sets and ranges as sorted range arrays, indexed runs of exact-match rules, jump targets,
// counters, limiters and meters, interface names, verdict placement and the ruleset flags the
// data plane reads.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {
namespace {

const std::vector<std::string> kPorts = {"wan", "lan"};

std::unique_ptr<compiled_ruleset> compile_ok(const std::string& text, uint16_t workers = 2) {
  result<ruleset> rs = parse_string(text, "rs.nft");
  EXPECT_TRUE(rs.ok()) << rs.error().to_string();
  if (!rs) return nullptr;
  result<std::unique_ptr<compiled_ruleset>> c = compile(*rs, "rs.nft", kPorts, workers);
  EXPECT_TRUE(c.ok()) << c.error().message;
  return c ? std::move(*c) : nullptr;
}

uint32_t chain_index(const compiled_ruleset& c, const std::string& name) {
  for (uint32_t i = 0; i < c.chains.size(); ++i)
    if (c.chains[i].name == name) return i;
  ADD_FAILURE() << "no chain " << name;
  return k_none;
}

// The compiled rule `index` of chain `name`.
const crule& rule_of(const compiled_ruleset& c, const std::string& name, uint32_t index) {
  const cchain& ch = c.chains[chain_index(c, name)];
  EXPECT_LT(index, ch.n_rules);
  return c.rules[ch.first_rule + index];
}

const cmatch& match_of(const compiled_ruleset& c, const crule& r, uint32_t i) {
  EXPECT_LT(i, r.n_matches);
  return c.matches[r.first_match + i];
}

const cstmt& stmt_of(const compiled_ruleset& c, const crule& r, uint32_t i) {
  EXPECT_LT(i, r.n_stmts);
  return c.stmts[r.first_stmt + i];
}

TEST(CompileSets, AnonymousSetIsOneSortedMergedRangeArray) {
  auto c = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    tcp dport { 443, 101, 85-100, 22, 80-90 } accept
  }
})");
  ASSERT_NE(c, nullptr);
  const cmatch& m = match_of(*c, rule_of(*c, "in", 0), 0);
  EXPECT_EQ(m.f, field::tcp_dport);
  EXPECT_EQ(m.op, cmp_op::eq);
  ASSERT_NE(m.set, k_none);
  const range_set& s = *c->sets[m.set];
  // 80-90, 85-100 and 101 overlap or touch: one range. 22 and 443 stay apart.
  EXPECT_EQ(s.size(), 3u);
  for (uint64_t v : {22, 80, 85, 90, 95, 100, 101, 443}) EXPECT_TRUE(s.contains(v)) << v;
  for (uint64_t v : {0, 21, 23, 79, 102, 442, 444, 65535}) EXPECT_FALSE(s.contains(v)) << v;
}

TEST(CompileSets, SingleValuesRangesAndPrefixesNeedNoSet) {
  auto c = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    tcp dport 22 accept
    udp dport 1000-2000 accept
    ip saddr 10.1.0.0/16 accept
    ip daddr != 192.168.0.1 drop
  }
})");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->sets.empty());
  const cmatch& port = match_of(*c, rule_of(*c, "in", 0), 0);
  EXPECT_EQ(port.set, k_none);
  EXPECT_EQ(port.lo, 22u);
  EXPECT_EQ(port.hi, 22u);
  const cmatch& range = match_of(*c, rule_of(*c, "in", 1), 0);
  EXPECT_EQ(range.set, k_none);
  EXPECT_EQ(range.lo, 1000u);
  EXPECT_EQ(range.hi, 2000u);
  const cmatch& prefix = match_of(*c, rule_of(*c, "in", 2), 0);
  EXPECT_EQ(prefix.f, field::ip_saddr);
  EXPECT_EQ(prefix.lo, 0x0a010000u);
  EXPECT_EQ(prefix.hi, 0x0a01ffffu);
  const cmatch& ne = match_of(*c, rule_of(*c, "in", 3), 0);
  EXPECT_EQ(ne.op, cmp_op::ne);
  EXPECT_EQ(ne.lo, 0xc0a80001u);
  EXPECT_EQ(ne.hi, 0xc0a80001u);
}

TEST(CompileSets, NamedSetsComeFirstAndAreSharedByTheirUsers) {
  auto c = compile_ok(R"(table ip t {
  set nets {
    type ipv4_addr
    flags interval
    elements = { 192.168.0.0/24, 10.0.0.0/8, 192.168.1.0/24 }
  }
  set ports {
    type inet_service
    elements = { 443, 22 }
  }
  chain in {
    type filter hook input priority 0;
    tcp dport { 1, 2 } accept
    ip saddr @nets tcp dport @ports accept
    ip daddr @nets drop
  }
})");
  ASSERT_NE(c, nullptr);
  // Named sets in declaration order, then the anonymous one.
  ASSERT_EQ(c->sets.size(), 3u);
  const crule& r1 = rule_of(*c, "in", 1);
  EXPECT_EQ(match_of(*c, r1, 0).set, 0u);
  EXPECT_EQ(match_of(*c, r1, 1).set, 1u);
  EXPECT_EQ(match_of(*c, rule_of(*c, "in", 2), 0).set, 0u);
  EXPECT_EQ(match_of(*c, rule_of(*c, "in", 0), 0).set, 2u);
  const range_set& nets = *c->sets[0];
  EXPECT_EQ(nets.size(), 2u);  // the two /24s are adjacent
  EXPECT_TRUE(nets.contains(0x0a000000u));
  EXPECT_TRUE(nets.contains(0xc0a801ffu));
  EXPECT_FALSE(nets.contains(0xc0a80200u));
  EXPECT_FALSE(nets.contains(0x0b000000u));
  EXPECT_TRUE(c->sets[1]->contains(22));
  EXPECT_FALSE(c->sets[1]->contains(80));
}

TEST(CompileRuns, ExactMatchRulesOnOneFieldAreIndexed) {
  auto c = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    tcp dport 80 accept
    tcp dport 22 counter accept
    tcp dport 443 accept
    tcp dport 22 drop
    tcp dport 8080 accept
    udp dport 53 accept
  }
})");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->runs.size(), 1u);
  const rule_run& run = c->runs[0];
  const cchain& ch = c->chains[chain_index(*c, "in")];
  EXPECT_EQ(run.f, field::tcp_dport);
  EXPECT_EQ(run.first, ch.first_rule);
  EXPECT_EQ(run.end, ch.first_rule + 5);  // the udp rule ends the run
  EXPECT_EQ(run.keys, (std::vector<uint64_t>{22, 80, 443, 8080}));
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(c->rules[ch.first_rule + i].run, 0u) << i;
  EXPECT_EQ(c->rules[ch.first_rule + 5].run, k_none);
  // Port 22 is listed by rules 1 and 3, in order; a port no rule lists skips the run.
  const uint32_t f = ch.first_rule;
  EXPECT_EQ(run.next_candidate(22, f), f + 1);
  EXPECT_EQ(run.next_candidate(22, f + 2), f + 3);
  EXPECT_EQ(run.next_candidate(22, f + 4), run.end);
  EXPECT_EQ(run.next_candidate(80, f), f);
  EXPECT_EQ(run.next_candidate(80, f + 1), run.end);
  EXPECT_EQ(run.next_candidate(25, f), run.end);
}

TEST(CompileRuns, ShortRunsRangesSetsAndOtherOperatorsAreNotIndexed) {
  auto c = compile_ok(R"(table ip t {
  chain three {
    tcp dport 1 accept
    tcp dport 2 accept
    tcp dport 3 accept
  }
  chain broken {
    tcp dport 1 accept
    tcp dport 2 accept
    tcp dport 3-4 accept
    tcp dport 5 accept
    tcp dport { 6, 7 } accept
    tcp dport != 8 accept
    tcp dport 9 accept
    udp dport 10 accept
  }
  chain mixed {
    tcp dport 1 accept
    tcp dport 2 accept
    udp dport 3 accept
    udp dport 4 accept
  }
  chain negated {
    tcp dport 1 accept
    tcp dport 2 accept
    tcp dport != 3 accept
    tcp dport 4 accept
  }
})");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->runs.empty());
  for (const crule& r : c->rules) EXPECT_EQ(r.run, k_none);
}

TEST(CompileRuns, RunsStopAtTheChainAndFollowTheirOwnField) {
  auto c = compile_ok(R"(table ip t {
  chain a {
    ip saddr 10.0.0.1 accept
    ip saddr 10.0.0.2 accept
    ip saddr 10.0.0.3 accept
    ip saddr 10.0.0.4 accept
  }
  chain b {
    ip saddr 10.0.0.5 accept
    meta mark 1 accept
    meta mark 2 accept
    meta mark 3 accept
    meta mark 4 accept
  }
})");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->runs.size(), 2u);
  const cchain& a = c->chains[chain_index(*c, "a")];
  const cchain& b = c->chains[chain_index(*c, "b")];
  EXPECT_EQ(c->runs[0].f, field::ip_saddr);
  EXPECT_EQ(c->runs[0].first, a.first_rule);
  EXPECT_EQ(c->runs[0].end, a.first_rule + 4);  // not into chain b
  EXPECT_EQ(c->runs[1].f, field::meta_mark);
  EXPECT_EQ(c->runs[1].first, b.first_rule + 1);
  EXPECT_EQ(c->runs[1].end, b.first_rule + 5);
  EXPECT_EQ(c->rules[b.first_rule].run, k_none);
}

TEST(CompileChains, ChainsRulesAndJumpTargetsResolveAcrossTables) {
  auto c = compile_ok(R"(table ip first {
  chain in {
    type filter hook input priority filter; policy drop;
    tcp dport 22 jump later
    goto other
  }
  chain other {
    return
  }
  chain later {
    accept
  }
}
table inet second {
  chain later {
    drop
  }
  chain fwd {
    type filter hook forward priority raw - 10;
    jump later
  }
})");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->chains.size(), 5u);
  const uint32_t in = chain_index(*c, "in");
  const cchain& base = c->chains[in];
  EXPECT_TRUE(base.base);
  EXPECT_EQ(base.hook_point, hook::input);
  EXPECT_EQ(base.priority, 0);
  EXPECT_TRUE(base.policy_drop);
  EXPECT_FALSE(c->chains[1].base);
  // Chains are numbered table by table; rules sit contiguously in chain order.
  uint32_t next_rule = 0;
  for (uint32_t i = 0; i < c->chains.size(); ++i) {
    EXPECT_EQ(c->chains[i].table, i < 3 ? 0u : 1u);
    EXPECT_EQ(c->chains[i].first_rule, next_rule);
    next_rule += c->chains[i].n_rules;
  }
  EXPECT_EQ(next_rule, c->rules.size());
  // A forward jump and a goto land on their chain in their own table.
  const cstmt& jump = stmt_of(*c, rule_of(*c, "in", 0), 0);
  EXPECT_EQ(jump.kind, stmt_kind::jump);
  EXPECT_EQ(jump.target, 2u);
  EXPECT_EQ(c->chains[jump.target].name, "later");
  EXPECT_EQ(c->chains[jump.target].table, 0u);
  const cstmt& go = stmt_of(*c, rule_of(*c, "in", 1), 0);
  EXPECT_EQ(go.kind, stmt_kind::goto_);
  EXPECT_EQ(go.target, 1u);
  const cchain& fwd = c->chains[4];
  EXPECT_EQ(fwd.name, "fwd");
  EXPECT_EQ(fwd.hook_point, hook::forward);
  EXPECT_EQ(fwd.priority, -310);
  const cstmt& other_table = c->stmts[c->rules[fwd.first_rule].first_stmt];
  EXPECT_EQ(other_table.target, 3u);
  EXPECT_EQ(c->chains[3].table, 1u);
}

TEST(CompileStatements, VerdictsLandLastAfterTheirStatements) {
  auto c = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    ip saddr 10.0.0.1 tcp dport 22 counter log prefix "ssh " accept
    meta mark set 0x2a ct mark set 7 drop
    reject with tcp reset
    ct state established,related accept
    tcp dport 23 log prefix "telnet " reject with icmp type host-unreachable
  }
})");
  ASSERT_NE(c, nullptr);
  const crule& r0 = rule_of(*c, "in", 0);
  EXPECT_EQ(r0.n_matches, 2u);
  ASSERT_EQ(r0.n_stmts, 3u);
  EXPECT_EQ(stmt_of(*c, r0, 0).kind, stmt_kind::counter);
  const cstmt& log = stmt_of(*c, r0, 1);
  EXPECT_EQ(log.kind, stmt_kind::log);
  ASSERT_NE(log.log, k_none);
  EXPECT_EQ(c->logs[log.log].prefix, "ssh ");
  EXPECT_EQ(stmt_of(*c, r0, 2).kind, stmt_kind::accept);
  const crule& r1 = rule_of(*c, "in", 1);
  EXPECT_EQ(r1.n_matches, 0u);
  ASSERT_EQ(r1.n_stmts, 3u);
  EXPECT_EQ(stmt_of(*c, r1, 0).kind, stmt_kind::meta_mark_set);
  EXPECT_EQ(stmt_of(*c, r1, 0).value, 0x2au);
  EXPECT_EQ(stmt_of(*c, r1, 1).kind, stmt_kind::ct_mark_set);
  EXPECT_EQ(stmt_of(*c, r1, 1).value, 7u);
  EXPECT_EQ(stmt_of(*c, r1, 2).kind, stmt_kind::drop);
  // tcp reset carries the `meta l4proto tcp` dependency the parser put in front.
  const crule& r2 = rule_of(*c, "in", 2);
  ASSERT_EQ(r2.n_matches, 1u);
  EXPECT_EQ(match_of(*c, r2, 0).f, field::meta_l4proto);
  EXPECT_EQ(match_of(*c, r2, 0).lo, 6u);
  EXPECT_EQ(stmt_of(*c, r2, 0).reject, reject_kind::tcp_reset);
  const cmatch& state = match_of(*c, rule_of(*c, "in", 3), 0);
  EXPECT_EQ(state.op, cmp_op::bits_any);
  EXPECT_EQ(state.mask, uint64_t{CT_STATE_ESTABLISHED | CT_STATE_RELATED});
  const cstmt& log2 = stmt_of(*c, rule_of(*c, "in", 4), 0);
  ASSERT_EQ(log2.log, 1u);
  EXPECT_EQ(c->logs[log2.log].prefix, "telnet ");
  EXPECT_EQ(stmt_of(*c, rule_of(*c, "in", 4), 1).reject, reject_kind::icmp_host_unreachable);
  // Each rule knows where it came from, for listings and trace lines.
  const crule& last = rule_of(*c, "in", 4);
  EXPECT_EQ(last.table, 0u);
  EXPECT_EQ(last.chain, 0u);
  EXPECT_EQ(last.index, 4u);
}

TEST(CompileCounters, CountersAreNumberedInRuleOrderPerWorker) {
  auto c = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    tcp dport 22 counter accept
    accept
    counter packets 5 bytes 100 drop
  }
  chain other {
    counter
  }
})",
                      3);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->n_workers, 3u);
  ASSERT_EQ(c->n_counters, 3u);
  ASSERT_EQ(c->counter_rule.size(), 3u);
  EXPECT_EQ(stmt_of(*c, rule_of(*c, "in", 0), 0).counter, 0u);
  EXPECT_EQ(stmt_of(*c, rule_of(*c, "in", 1), 0).counter, k_none);
  EXPECT_EQ(stmt_of(*c, rule_of(*c, "in", 2), 0).counter, 1u);
  EXPECT_EQ(stmt_of(*c, rule_of(*c, "other", 0), 0).counter, 2u);
  EXPECT_EQ(c->counter_rule[1].index, 2u);
  EXPECT_EQ(c->counter_rule[2].chain, 1u);
  EXPECT_EQ(c->counter_rule[2].index, 0u);
  // One block per worker; the total sums them, from the values the file gives (as nft: a
  // saved listing reloads with its counts).
  EXPECT_EQ(c->counter_total(1).packets, 5u);
  EXPECT_EQ(c->counter_total(1).bytes, 100u);
  c->counter(0, 1).packets.add(2);
  c->counter(2, 1).packets.add(3);
  c->counter(2, 1).bytes.add(60);
  c->counter(1, 0).packets.add(100);
  EXPECT_EQ(c->counter_total(1).packets, 10u);
  EXPECT_EQ(c->counter_total(1).bytes, 160u);
  EXPECT_EQ(c->counter_total(0).packets, 100u);
  EXPECT_EQ(c->counter_total(2).packets, 0u);
}

TEST(CompileLimits, LimitersAndMetersGetTheirRatesAndCounters) {
  auto c = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    limit rate 10/second accept
    limit rate over 2/minute burst 3 packets drop
    meter flood { ip saddr limit rate over 100/second } drop
  }
})");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->n_limiters, 2u);
  EXPECT_EQ(stmt_of(*c, rule_of(*c, "in", 0), 0).limit, 0u);
  EXPECT_EQ(stmt_of(*c, rule_of(*c, "in", 1), 0).limit, 1u);
  // nft's bucket (Linux 6.x): burst packets (5 when not given), one per interval.
  const limiter& a = c->limiters[0];
  EXPECT_EQ(a.interval_ns, 100'000'000u);
  EXPECT_EQ(a.tolerance_ns, 100'000'000u * 4);
  EXPECT_FALSE(a.over);
  const limiter& b = c->limiters[1];
  EXPECT_EQ(b.interval_ns, 30'000'000'000u);
  EXPECT_EQ(b.tolerance_ns, 30'000'000'000u * 2);
  EXPECT_TRUE(b.over);
  ASSERT_EQ(c->elem_limits.size(), 1u);
  const cstmt& ms = stmt_of(*c, rule_of(*c, "in", 2), 0);
  EXPECT_EQ(ms.meter, 0u);
  const elem_limit& m = c->elem_limits[0];
  EXPECT_EQ(m.interval_ns, 10'000'000u);
  EXPECT_EQ(m.tolerance_ns, 10'000'000u * 4);
  EXPECT_TRUE(m.over);
  // The meter's own dynamic set, keyed by ip saddr, nft's default size.
  ASSERT_EQ(c->live_lookups.size(), 1u);
  EXPECT_EQ(c->live_lookups[ms.live].fields[0], field::ip_saddr);
  EXPECT_EQ(c->live_sets[c->live_lookups[ms.live].set].size, 65535u);
  EXPECT_TRUE(c->live_sets[c->live_lookups[ms.live].set].limits);
  // Per-statement counters: limits first, then meters, each pointing back at its rule.
  ASSERT_EQ(c->limit_rule.size(), 3u);
  EXPECT_EQ(c->limit_rule[2].index, 2u);
  c->lcounter(1, 2).over.add(1);
  EXPECT_EQ(c->lcounter(1, 2).over.get(), 1u);
  EXPECT_EQ(c->lcounter(0, 2).over.get(), 0u);
}

TEST(CompileInterfaces, NamesResolveToPortIndicesAndUnknownOnesFail) {
  auto c = compile_ok(R"(table ip t {
  chain fwd {
    type filter hook forward priority 0;
    iifname "lan" oif wan accept
    iif "wan" drop
  }
})");
  ASSERT_NE(c, nullptr);
  const crule& r0 = rule_of(*c, "fwd", 0);
  EXPECT_EQ(match_of(*c, r0, 0).f, field::meta_iifname);
  EXPECT_EQ(match_of(*c, r0, 0).lo, 1u);
  EXPECT_EQ(match_of(*c, r0, 0).hi, 1u);
  EXPECT_EQ(match_of(*c, r0, 1).f, field::meta_oif);
  EXPECT_EQ(match_of(*c, r0, 1).lo, 0u);
  EXPECT_EQ(match_of(*c, rule_of(*c, "fwd", 1), 0).lo, 0u);

  result<ruleset> rs = parse_string(
      "table ip t {\n  chain c {\n    tcp dport 22 iifname \"eth9\" drop\n  }\n}\n", "x.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  result<std::unique_ptr<compiled_ruleset>> bad = compile(*rs, "x.nft", kPorts, 1);
  ASSERT_FALSE(bad.ok());
  const error& err = bad.error();
  EXPECT_EQ(err.message, "unknown interface 'eth9' (ports are named in the gateway config)");
  EXPECT_EQ(err.file, "x.nft");
  EXPECT_EQ(err.line, 3);
  EXPECT_EQ(err.col, 18);
  EXPECT_EQ(err.len, 14);
  // The compiled form keeps no text: no source line, until a caller quotes one.
  EXPECT_EQ(err.to_string(),
            "x.nft:3:18: error: unknown interface 'eth9' (ports are named in the gateway config)");
}

TEST(CompileFlags, WhatTheDataPlaneMustSwitchOn) {
  auto plain = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    tcp dport 22 meta mark set 1 accept
    meta nftrace set 0
  }
})");
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->uses_ct);
  EXPECT_FALSE(plain->uses_nftrace);
  EXPECT_FALSE(plain->uses_synproxy);
  EXPECT_EQ(plain->source, "rs.nft");
  EXPECT_EQ(plain->ast.tables.size(), 1u);

  auto ct = compile_ok(
      "table ip t {\n  chain in {\n    type filter hook input priority 0;\n"
      "    ct state new accept\n  }\n}\n");
  ASSERT_NE(ct, nullptr);
  EXPECT_TRUE(ct->uses_ct);
  auto trace = compile_ok(
      "table ip t {\n  chain pre {\n    type filter hook prerouting priority raw;\n"
      "    meta nftrace set 1\n  }\n}\n");
  ASSERT_NE(trace, nullptr);
  EXPECT_TRUE(trace->uses_nftrace);
  EXPECT_FALSE(trace->uses_ct);
  auto notrack = compile_ok(
      "table ip t {\n  chain pre {\n    type filter hook prerouting priority raw;\n"
      "    notrack\n  }\n}\n");
  ASSERT_NE(notrack, nullptr);
  EXPECT_TRUE(notrack->uses_ct);

  auto syn = compile_ok(R"(table ip t {
  chain in {
    type filter hook input priority 0;
    tcp dport 80 synproxy mss 1400 wscale 7 timestamp sack-perm
    tcp dport 81 synproxy
  }
})");
  ASSERT_NE(syn, nullptr);
  EXPECT_TRUE(syn->uses_synproxy);
  EXPECT_TRUE(syn->uses_ct);
  // Options packed as mss | wscale << 16 | timestamp << 24 | sack-perm << 25.
  const cstmt& full = stmt_of(*syn, rule_of(*syn, "in", 0), 0);
  EXPECT_EQ(full.kind, stmt_kind::synproxy);
  EXPECT_EQ(full.value, 1400u | 7u << 16 | 1u << 24 | 1u << 25);
  // Defaults: mss 1460, wscale not given (0xff), no timestamp or SACK.
  EXPECT_EQ(stmt_of(*syn, rule_of(*syn, "in", 1), 0).value, 1460u | 0xffu << 16);
}

TEST(CompileLayout, EmptyRulesetStillHasAddressableCounterBlocks) {
  auto c = compile_ok("", 4);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->chains.empty());
  EXPECT_TRUE(c->rules.empty());
  EXPECT_EQ(c->n_counters, 0u);
  EXPECT_EQ(c->n_limiters, 0u);
  EXPECT_NE(c->counters, nullptr);
  EXPECT_NE(c->limit_counters, nullptr);
}

}  // namespace
}  // namespace ctgate::nft

namespace ctgate::nft {
namespace {

// Lookups in hashed sets are not prefetched (their compact tables gained nothing from it:
// docs/bench.md); only live sets' are, with the matches before them as guards.
TEST(CompilePrefetch, OnlyLiveSetLookupsArePrefetched) {
  std::string many;
  for (int i = 0; i < 100; i++) many += (i ? ", " : "") + std::to_string(1000 + 2 * i);
  result<ruleset> rs = parse_string(
      "table ip t { set seen { type ipv4_addr; flags dynamic; }\n"
      "chain c { type filter hook forward priority 0;\n"
      "  meta l4proto udp udp dport { " +
          many +
          " } drop\n"
          "  meta l4proto tcp ip saddr @seen drop\n"
          "} }\n",
      "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  auto c = compile(*rs, "rs.nft", {}, 1);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  const cchain& cc = (*c)->chains[0];
  ASSERT_EQ(cc.live_prefetch.size(), 1u);
  const crule& second = (*c)->rules[cc.first_rule + 1];
  EXPECT_EQ(cc.live_prefetch[0].first_guard, second.first_match);  // behind meta l4proto tcp
  EXPECT_EQ(cc.live_prefetch[0].n_guards, 1u);
}

// Nat chains compile as chains the NAT hooks run (not registered on their own hooks), and
// their statements index the ruleset's NAT specs.
TEST(CompileChains, NatChainsCompileForTheNatHooks) {
  result<ruleset> rs = parse_string(
      "table ip nat {\n  chain post {\n    type nat hook postrouting priority srcnat;\n"
      "    masquerade\n    meta l4proto tcp snat to 10.0.0.1-10.0.0.4:2000-3000 random\n  }\n}\n",
      "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  result<std::unique_ptr<compiled_ruleset>> c = compile(*rs, "rs.nft", kPorts, 2);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_TRUE((*c)->uses_nat);
  EXPECT_TRUE((*c)->uses_ct);
  ASSERT_EQ((*c)->chains.size(), 1u);
  EXPECT_TRUE((*c)->chains[0].nat);
  ASSERT_EQ((*c)->nats.size(), 2u);
  EXPECT_EQ((*c)->nats[1].addr_min, 0x0a000001u);
  EXPECT_EQ((*c)->nats[1].port_max, 3000);
  // A NAT statement in a regular chain that no nat chain reaches loads (it never runs).
  rs = parse_string("table ip f {\n  chain d {\n    dnat to 10.0.0.1\n  }\n}\n", "rs.nft");
  ASSERT_TRUE(rs.ok()) << rs.error().to_string();
  EXPECT_TRUE(compile(*rs, "rs.nft", kPorts, 2).ok());
}

// The keys an IPv6 address is lowered into: a live set holds at most 128 bits, so a dynamic
// set of `ipv6_addr . inet_service` is refused where it is declared (its written elements would
// not fit), and a meter keyed so where it is written; a plain set of the same type compiles.
TEST(CompileIpv6, LiveSetsHoldAt128Bits) {
  auto error_of = [](const std::string& text) -> std::string {
    result<ruleset> rs = parse_string(text, "x.nft");
    if (!rs) return rs.error().to_string();
    result<std::unique_ptr<compiled_ruleset>> c = compile(*rs, "x.nft", kPorts, 1);
    return c ? "" : c.error().message;
  };
  EXPECT_NE(error_of("table inet t {\n  set s { type ipv6_addr . inet_service; flags dynamic; "
                     "elements = { 2001:db8::1 . 22 } }\n}\n")
                .find("not supported: a dynamic set or a set with timeouts whose elements take "
                      "more than 128 bits (ipv6_addr . inet_service)"),
            std::string::npos);
  EXPECT_NE(error_of("table inet t {\n  chain c {\n    type filter hook input priority 0;\n    "
                     "meter m { ip6 saddr . tcp dport limit rate 1/second }\n  }\n}\n")
                .find("not supported: a key of more than 128 bits (ip6 saddr . tcp dport)"),
            std::string::npos);
  EXPECT_EQ(error_of("table inet t {\n  set s { type ipv6_addr . inet_service; elements = { "
                     "2001:db8::1 . 22 } }\n  set d { type ipv6_addr; flags dynamic; elements = "
                     "{ 2001:db8::1 } }\n}\n"),
            "");
  // The other family's address where one is expected: nft's datatype mismatch.
  EXPECT_NE(error_of("table inet t {\n  chain c {\n    ip saddr 2001:db8::1 drop\n  }\n}\n")
                .find("datatype mismatch, expected IPv4 address, expression has type IPv6 "
                      "address"),
            std::string::npos);
  EXPECT_NE(error_of("table inet t {\n  chain c {\n    ip6 saddr 10.0.0.1 drop\n  }\n}\n")
                .find("datatype mismatch, expected IPv6 address, expression has type IPv4 "
                      "address"),
            std::string::npos);
}

}  // namespace
}  // namespace ctgate::nft
