// The experiments of the two articles in shared/seeds, against ctgate's data
// plane, with test callbacks standing in for iptables/nft rules.
#include "common/test_env.h"

namespace ctgate::test {
namespace {

using ct::ct_counter;

gateway_config ct_config(bool enable_hooks, uint32_t max = 1024) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = enable_hooks;
  c.conntrack.max = max;
  return c;
}

// Article 1, opening: the module is loaded but nothing references conntrack,
// so its hooks are not registered and traffic is not tracked at all.
TEST(SeedExperiments, NoEntriesWhileConntrackHooksAreNotRegistered) {
  test_gateway t(ct_config(false));
  t.send(0, tcp("10.0.1.2", 34858, "10.0.2.2", 22, TCPF_SYN));
  t.send(1, tcp("10.0.2.2", 22, "10.0.1.2", 34858, TCPF_SYN | TCPF_ACK));
  EXPECT_EQ(t.sent.size(), 2u);  // forwarded both ways
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_TRUE(t.gw->hooks->list().empty());
  // enable_hooks: the same traffic is now tracked.
  ASSERT_TRUE(enable_conntrack(*t.gw));
  t.send(0, tcp("10.0.1.2", 34858, "10.0.2.2", 22, TCPF_ACK));
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
}

// 1. SYN -> SYN_SENT [UNREPLIED]; SYN-ACK -> SYN_RECV; ACK -> ESTABLISHED [ASSURED].
TEST(SeedExperiments, HandshakeStates) {
  test_gateway t(ct_config(true));
  t.send(0, tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_SYN));
  auto l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "tcp      6 120 SYN_SENT src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 [UNREPLIED] "
            "src=10.0.2.2 dst=10.0.1.2 sport=80 dport=40000 mark=0 use=1");
  t.send(1, tcp("10.0.2.2", 80, "10.0.1.2", 40000, TCPF_SYN | TCPF_ACK));
  l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "tcp      6 60 SYN_RECV src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 "
            "src=10.0.2.2 dst=10.0.1.2 sport=80 dport=40000 mark=0 use=1");
  t.send(0, tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_ACK));
  l = t.conntrack_lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0],
            "tcp      6 432000 ESTABLISHED src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 "
            "src=10.0.2.2 dst=10.0.1.2 sport=80 dport=40000 [ASSURED] mark=0 use=1");
  EXPECT_EQ(t.sent.size(), 3u);
  EXPECT_EQ(t.ct_counter(ct_counter::insert), 1u);
  EXPECT_EQ(t.ct_counter(ct_counter::found), 2u);
}

// 2. A SYN dropped at filter priority (0) on LOCAL_IN or FORWARD leaves no
// entry, neither confirmed nor unconfirmed, and returns its entry to the pool.
TEST(SeedExperiments, SynDroppedByFilterLeavesNoEntry) {
  for (hook_point hp : {hook_point::input, hook_point::forward}) {
    test_gateway t(ct_config(true));
    drop_dport_hook drop{2570, 0};
    ASSERT_TRUE(t.gw->hooks->add(hp, PRI_FILTER, "filter_drop_2570", drop_dport_hook::fn, &drop));
    unsigned pool_before = rte_mempool_avail_count(t.gw->ct.pool);
    const char* dst = hp == hook_point::input ? "10.0.1.1" : "10.0.2.2";
    t.send(0, tcp("10.0.1.2", 33254, dst, 2570, TCPF_SYN));
    EXPECT_EQ(drop.dropped, 1u);
    EXPECT_TRUE(t.conntrack_lines().empty()) << hook_point_name(hp);
    EXPECT_EQ(t.w->ct.n_unconfirmed, 0u);
    EXPECT_EQ(t.gw->ct.table->count(), 0);
    EXPECT_EQ(rte_mempool_avail_count(t.gw->ct.pool), pool_before);
    EXPECT_EQ(t.ct_counter(ct_counter::new_), 1u);
    EXPECT_EQ(t.ct_counter(ct_counter::unconfirmed_freed), 1u);
    EXPECT_EQ(t.ct_counter(ct_counter::insert), 0u);
    EXPECT_EQ(t.dp(dp_counter::drop_hook), 1u);
    EXPECT_EQ(t.dp(dp_counter::unconfirmed_leaked), 0u);
  }
}

// 3. A dropping callback at INT_MAX registered BEFORE conntrack's hooks runs
// after ipv4_confirm (later registration runs first among equals): the
// dropped SYN's flow is confirmed anyway. Registered after, it runs first
// and nothing remains.
TEST(SeedExperiments, IntMaxDropBeforeAndAfterConntrackRegistration) {
  {
    test_gateway t(ct_config(false));
    drop_dport_hook drop{2570, 0};
    ASSERT_TRUE(t.gw->hooks->add(hook_point::input, PRI_CONNTRACK_CONFIRM, "nft_do_chain_ipv4",
                                 drop_dport_hook::fn, &drop));
    ASSERT_TRUE(enable_conntrack(*t.gw));
    std::vector<std::string> order;
    for (const auto& e : t.gw->hooks->list())
      if (e.hp == hook_point::input && (e.families & HOOK_FAM_IPV4)) order.push_back(e.name);
    EXPECT_EQ(order, (std::vector<std::string>{"ipv4_confirm", "nft_do_chain_ipv4"}));
    t.send(0, tcp("10.0.1.2", 54868, "10.0.1.1", 2570, TCPF_SYN));
    EXPECT_EQ(drop.dropped, 1u);
    auto l = t.conntrack_lines();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0],
              "tcp      6 120 SYN_SENT src=10.0.1.2 dst=10.0.1.1 sport=54868 dport=2570 "
              "[UNREPLIED] src=10.0.1.1 dst=10.0.1.2 sport=2570 dport=54868 mark=0 use=1");
  }
  {
    test_gateway t(ct_config(false));
    drop_dport_hook drop{2570, 0};
    ASSERT_TRUE(enable_conntrack(*t.gw));
    ASSERT_TRUE(t.gw->hooks->add(hook_point::input, PRI_CONNTRACK_CONFIRM, "nft_do_chain_ipv4",
                                 drop_dport_hook::fn, &drop));
    std::vector<std::string> order;
    for (const auto& e : t.gw->hooks->list())
      if (e.hp == hook_point::input && (e.families & HOOK_FAM_IPV4)) order.push_back(e.name);
    EXPECT_EQ(order, (std::vector<std::string>{"nft_do_chain_ipv4", "ipv4_confirm"}));
    t.send(0, tcp("10.0.1.2", 54868, "10.0.1.1", 2570, TCPF_SYN));
    EXPECT_EQ(drop.dropped, 1u);
    EXPECT_TRUE(t.conntrack_lines().empty());
    EXPECT_EQ(t.gw->ct.table->count(), 0);
  }
}

// 4. conntrack.max = 7 and 10 SYNs of distinct flows: 7 entries, 3 drops. A
// counter before conntrack (raw, -300) sees 10, one after it (mangle, -150)
// sees 7; the "table full" line is emitted once within its rate limit.
TEST(SeedExperiments, TableFullDropsNewFlows) {
  test_gateway t(ct_config(true, 7));
  counting_hook raw, mangle;
  ASSERT_TRUE(t.gw->hooks->add(hook_point::prerouting, PRI_RAW, "raw", counting_hook::fn, &raw));
  ASSERT_TRUE(
      t.gw->hooks->add(hook_point::prerouting, PRI_MANGLE, "mangle", counting_hook::fn, &mangle));
  for (uint16_t p = 10000; p < 10010; p++) t.send(0, tcp("10.0.1.2", p, "10.0.1.1", 80, TCPF_SYN));
  EXPECT_EQ(raw.packets, 10u);
  EXPECT_EQ(mangle.packets, 7u);
  EXPECT_EQ(t.conntrack_lines().size(), 7u);
  EXPECT_EQ(t.ct_counter(ct_counter::drop), 3u);
  EXPECT_EQ(t.ct_counter(ct_counter::early_drop), 0u);
  EXPECT_EQ(t.gw->ct.full_log.emitted(), 1u);
  EXPECT_EQ(t.gw->ct.full_log.suppressed(), 2u);
  EXPECT_TRUE(t.gw->mailbox.take(log_kind::conntrack_table_full));
  // Packets of existing flows are never affected.
  t.send(0, tcp("10.0.1.2", 10000, "10.0.1.1", 80, TCPF_SYN));
  EXPECT_EQ(mangle.packets, 8u);
  EXPECT_EQ(t.ct_counter(ct_counter::drop), 3u);
}

// 5. Loose mode: a stray ACK picks up a flow (ESTABLISHED [UNRELIED], 300 s).
// Strict mode: it does not.
TEST(SeedExperiments, StrayAckLooseVersusStrict) {
  {
    test_gateway t(ct_config(true));
    t.send(0, tcp("10.0.1.2", 5555, "10.0.2.2", 80, TCPF_ACK));
    auto l = t.conntrack_lines();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0],
              "tcp      6 300 ESTABLISHED src=10.0.1.2 dst=10.0.2.2 sport=5555 dport=80 "
              "[UNREPLIED] src=10.0.2.2 dst=10.0.1.2 sport=80 dport=5555 mark=0 use=1");
  }
  {
    gateway_config c = ct_config(true);
    c.conntrack.tcp_loose = false;
    test_gateway t(c);
    t.send(0, tcp("10.0.1.2", 5555, "10.0.2.2", 80, TCPF_ACK));
    EXPECT_TRUE(t.conntrack_lines().empty());
    EXPECT_EQ(t.ct_counter(ct_counter::invalid), 1u);
    EXPECT_EQ(t.sent.size(), 1u);  // INVALID is a ct state, not a drop: rules decide
  }
}

// 6. Idle flows expire on time (injected clock): gone within timeout + 1 s.
TEST(SeedExperiments, IdleFlowsExpire) {
  test_gateway t(ct_config(true));
  t.send(0, udp("10.0.1.2", 5000, "10.0.2.2", 53));            // UDP unreplied: 30 s
  t.send(0, tcp("10.0.1.2", 6000, "10.0.2.2", 80, TCPF_SYN));  // SYN_SENT: 120 s
  ASSERT_EQ(t.conntrack_lines().size(), 2u);
  uint32_t start = t.w->now_ms;
  for (uint32_t ms = 0; ms <= 29000; ms += 250) {
    t.w->now_ms = start + ms;
    t.tick();
  }
  EXPECT_EQ(t.conntrack_lines().size(), 2u);  // not before its time
  for (uint32_t ms = 29000; ms <= 31000; ms += 250) {
    t.w->now_ms = start + ms;
    t.tick();
  }
  EXPECT_EQ(t.conntrack_lines().size(), 1u);  // UDP gone by 30 s + 1 s
  for (uint32_t ms = 31000; ms <= 121000; ms += 250) {
    t.w->now_ms = start + ms;
    t.tick();
  }
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_EQ(t.ct_counter(ct_counter::expired), 2u);
  EXPECT_EQ(t.gw->ct.table->count(), 0);
}

// A refreshed flow is not expired: traffic keeps it alive.
TEST(SeedExperiments, RefreshKeepsFlowAlive) {
  test_gateway t(ct_config(true));
  uint32_t start = t.w->now_ms;
  for (uint32_t s = 0; s <= 100; s += 10) {
    t.w->now_ms = start + s * 1000;
    t.send(0, udp("10.0.1.2", 5000, "10.0.2.2", 53));
  }
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
  EXPECT_EQ(t.ct_counter(ct_counter::expired), 0u);
}

}  // namespace
}  // namespace ctgate::test
