// Conntrack core: tuples, keys, the shared table's clash resolution, early
// drop and accounting.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>
#include <thread>
#include <vector>

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include "common/test_env.h"
#include "conntrack/ct_event.h"
#include "conntrack/flow_cache.h"
#include "conntrack/flow_table.h"
#include "conntrack/reply_table.h"
#include "packet/parse.h"

namespace ctgate::test {
namespace {

using namespace ct;

ct_tuple tup(const char* s, uint16_t sp, const char* d, uint16_t dp, uint8_t proto) {
  ct_tuple t;
  t.src = htonl(ip(s));
  t.dst = htonl(ip(d));
  t.sport = htons(sp);
  t.dport = htons(dp);
  t.proto = proto;
  return t;
}

TEST(Tuple, InversionSwapsEndpoints) {
  ct_tuple t = tup("10.0.0.1", 1000, "10.0.0.2", 80, IPPROTO_TCP);
  ct_tuple r = invert(t);
  EXPECT_EQ(r.src, t.dst);
  EXPECT_EQ(r.dst, t.src);
  EXPECT_EQ(r.sport, t.dport);
  EXPECT_EQ(r.dport, t.sport);
  EXPECT_EQ(invert(r), t);
}

TEST(Tuple, IcmpInversionMapsRequestToReply) {
  ct_tuple t = tup("10.0.0.1", 0, "10.0.0.2", 0, IPPROTO_ICMP);
  t.sport = htons(42);  // id
  t.dport = 8 << 8;     // echo request, code 0
  ct_tuple r = invert(t);
  EXPECT_EQ(r.dport >> 8, 0);  // echo reply
  EXPECT_EQ(r.sport, t.sport);
  EXPECT_EQ(r.src, t.dst);
  EXPECT_EQ(icmp_reply_type(13), 14);
  EXPECT_EQ(icmp_reply_type(3), 0xff);
}

TEST(Tuple, BothDirectionsShareOneKey) {
  ct_tuple t = tup("10.0.0.9", 1000, "10.0.0.2", 80, IPPROTO_UDP);
  EXPECT_EQ(make_key(t), make_key(invert(t)));
  ct_tuple other = tup("10.0.0.9", 1001, "10.0.0.2", 80, IPPROTO_UDP);
  EXPECT_NE(make_key(t), make_key(other));
  // Same addresses, ports swapped, is the same flow seen the other way.
  ct_tuple same_host = tup("10.0.0.1", 5, "10.0.0.1", 7, IPPROTO_UDP);
  EXPECT_EQ(make_key(same_host), make_key(invert(same_host)));
  ct_tuple zoned = t;
  zoned.zone = 3;
  EXPECT_NE(make_key(t), make_key(zoned));
}

// The flow cache checks a cached position's entry with is_key_of, not make_key: the same
// answer for every tuple and every normalized key, ties and ICMP included.
TEST(Tuple, IsKeyOfAgreesWithMakeKey) {
  std::vector<ct_tuple> all;
  for (uint8_t proto :
       {uint8_t{IPPROTO_UDP}, uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_ICMP}, uint8_t{IPPROTO_ICMPV6}})
    for (uint32_t src : {1u, 2u})
      for (uint32_t dst : {1u, 2u})
        for (uint16_t sport : {1, 2, 0x0800})
          for (uint16_t dport : {1, 2, 0x0800})
            for (uint8_t family : {k_family_ipv4, k_family_ipv6})
              for (uint16_t zone : {0, 1})
                all.push_back(ct_tuple{.src = htonl(src),
                                       .dst = htonl(dst),
                                       .sport = sport,
                                       .dport = dport,
                                       .proto = proto,
                                       .family = family,
                                       .zone = zone});
  size_t matched = 0;
  for (const ct_tuple& t : all)
    for (const ct_tuple& other : all) {
      const flow_key k = make_key(other);
      ASSERT_EQ(is_key_of(t, k), make_key(t) == k)
          << "proto " << int{t.proto} << " " << t.src << ":" << t.sport << " -> " << t.dst << ":"
          << t.dport << " zone " << t.zone << " against " << other.src << ":" << other.sport
          << " -> " << other.dst << ":" << other.dport;
      matched += make_key(t) == k;
    }
  EXPECT_GT(matched, all.size());  // both directions of a flow, and ICMP types, share keys
}

// A set of the flow cache: a signature finds its position; a second position for the same
// signature replaces the first; a full set gives up a way for a new signature.
TEST(FlowCache, FindsReplacesAndEvicts) {
  auto* c = new flow_cache;
  EXPECT_EQ(c->find(0x1234), -1);
  c->insert(0x1234, 7);
  EXPECT_EQ(c->find(0x1234), 7);
  c->insert(0x1234, 9);
  EXPECT_EQ(c->find(0x1234), 9);
  // Eight more signatures in the same set: the first has its way taken.
  for (uint32_t i = 1; i <= flow_cache_set::k_ways; i++)
    c->insert(0x1234 + i * flow_cache::k_sets, static_cast<int32_t>(100 + i));
  EXPECT_EQ(c->find(0x1234), -1);
  uint32_t kept = 0;
  for (uint32_t i = 1; i <= flow_cache_set::k_ways; i++)
    kept += c->find(0x1234 + i * flow_cache::k_sets) == static_cast<int32_t>(100 + i);
  EXPECT_EQ(kept, flow_cache_set::k_ways);
  c->clear();
  EXPECT_EQ(c->find(0x1234 + flow_cache::k_sets), -1);
  delete c;
}

rte_mbuf* parsed(test_gateway& g, const pkt_spec& s) {
  rte_mbuf* m = g.make(s);
  parse_frame(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), true, meta_of(m));
  return m;
}

// Runs one packet through ct_in and ct_confirm as `w` (an online reader).
void track_one(worker_ctx& w, rte_mbuf* m) {
  verdict v[1] = {verdict::accept};
  ct_in(w.ct, w.now_ms, &m, 1, v);
  if (v[0] == verdict::accept) ct_confirm(w.ct, w.now_ms, &m, 1, v);
  if (v[0] != verdict::accept) ct_release(w.ct, meta_of(m));
}

gateway_config two_workers() {
  gateway_config c = default_config();
  c.workers = 2;
  return c;
}

// Workers 0 and 1 online as QSBR readers, from this thread: worker 1 reports nothing unless the
// test does, so what worker 0 deletes waits for it.
void both_online(test_gateway& g) {
  rte_rcu_qsbr_thread_online(g.gw->qs, 0);
  rte_rcu_qsbr_thread_online(g.gw->qs, 1);
}

// Tracks a UDP datagram 10.0.1.2:sport -> 10.0.2.2:53 as worker 0 (online) and returns its
// flow's position in the table, or -1.
int32_t track_udp(test_gateway& g, uint16_t sport) {
  rte_mbuf* m = parsed(g, udp("10.0.1.2", sport, "10.0.2.2", 53));
  track_one(*g.w, m);
  rte_pktmbuf_free(m);
  return g.gw->ct.table->lookup(make_key(tup("10.0.1.2", sport, "10.0.2.2", 53, IPPROTO_UDP)));
}

// Two workers confirm the same new flows at the same time: exactly one
// entry per flow, the loser adopts it (clash_resolve) or finds it, nothing leaks.
// The digests computed two at a time (ct_in6) are the ones computed one at a time, for
// distinct addresses, one address twice, and pairs in either order.
TEST(Tuple, Ipv6DigestsInPairsEqualOneAtATime) {
  const uint32_t key[4] = {0x01234567, 0x89abcdef, 0xdeadbeef, 0x0badcafe};
  std::vector<ipv6_addr> addrs(6);
  for (size_t i = 0; i < addrs.size(); i++)
    for (int b = 0; b < 16; b++) addrs[i].b[b] = static_cast<uint8_t>(i * 37 + b * (i % 3 + 1));
  addrs[5] = addrs[4];
  for (size_t x = 0; x < addrs.size(); x++)
    for (size_t y = 0; y < addrs.size(); y++) {
      const ipv6_addr& s2 = addrs[(x + 1) % addrs.size()];
      const ipv6_addr& d2 = addrs[(y + 2) % addrs.size()];
      uint32_t one[4], two[4];
      ct::addr6_digests(key, addrs[x], addrs[y], &one[0], &one[1]);
      ct::addr6_digests(key, s2, d2, &one[2], &one[3]);
      const ipv6_addr* src[2] = {&addrs[x], &s2};
      const ipv6_addr* dst[2] = {&addrs[y], &d2};
      uint32_t* sd[2] = {&two[0], &two[2]};
      uint32_t* dd[2] = {&two[1], &two[3]};
      ct::addr6_digests_n<2>(key, src, dst, sd, dd);
      for (int i = 0; i < 4; i++) EXPECT_EQ(one[i], two[i]) << x << " " << y << " " << i;
      EXPECT_EQ(one[0] == one[1], addrs[x] == addrs[y]);
    }
}

TEST(FlowTable, InsertClashBetweenTwoThreads) {
  gateway_config c = default_config();
  c.workers = 2;
  c.conntrack.max = 4096;
  test_gateway g(c);
  constexpr int k_flows = 300;
  std::vector<rte_mbuf*> pkts[2];
  for (int i = 0; i < 2; i++)
    for (int f = 0; f < k_flows; f++)
      pkts[i].push_back(
          parsed(g, tcp("10.0.1.2", static_cast<uint16_t>(20000 + f), "10.0.2.2", 80, TCPF_SYN)));
  unsigned pool_before = rte_mempool_avail_count(g.gw->ct.pool);
  std::atomic<int> ready{0};
  auto run = [&](int id) {
    // rte_hash's multi-writer mode keeps free-slot caches per lcore id, so
    // inserting threads must be EAL threads, as workers are.
    ASSERT_EQ(rte_thread_register(), 0);
    worker_ctx& w = *g.gw->workers[id];
    w.now_ms = 1000;
    rte_rcu_qsbr_thread_online(g.gw->qs, id);
    for (int f = 0; f < k_flows; f++) {
      // Line both threads up on each flow to make the race likely.
      ready.fetch_add(1);
      while (ready.load() < 2 * (f + 1)) {
      }
      track_one(w, pkts[id][f]);
      rte_rcu_qsbr_quiescent(g.gw->qs, id);
    }
    rte_rcu_qsbr_thread_offline(g.gw->qs, id);
    rte_thread_unregister();
  };
  std::thread a(run, 0), b(run, 1);
  a.join();
  b.join();
  uint64_t insert = 0, clash = 0, found = 0;
  for (auto* w : g.gw->workers) {
    insert += w->ct.counters.get(ct_counter::insert);
    clash += w->ct.counters.get(ct_counter::clash_resolve);
    found += w->ct.counters.get(ct_counter::found);
    EXPECT_EQ(w->ct.n_unconfirmed, 0u);
  }
  EXPECT_EQ(insert, static_cast<uint64_t>(k_flows));
  EXPECT_EQ(clash + found, static_cast<uint64_t>(k_flows));
  EXPECT_EQ(g.gw->ct.table->count(), k_flows);
  EXPECT_EQ(g.conntrack_lines().size(), static_cast<size_t>(k_flows));
  EXPECT_EQ(rte_mempool_avail_count(g.gw->ct.pool), pool_before);
  for (auto& v : pkts)
    for (auto* m : v) rte_pktmbuf_free(m);
}

// The reply table (docs/design/nat.md, "Keys"): a translated flow's reply key points at the
// flow's position; one flow holds a key at a time; a deleted key can be held again.
// shared_hash_* compute the key's signature inline; rte_hash's own calls compute it through
// the table's hash_func. They must agree, or a key added one way is not found the other.
TEST(FlowTable, InlineSignaturesAgreeWithTheTablesHashFunction) {
  test_gateway g;
  auto made = create_shared_hash("test_sig", 4096, g.gw->qs, "test table");
  ASSERT_TRUE(made.ok()) << made.error().message;
  rte_hash* h = *made;
  std::vector<flow_key> keys;
  for (uint32_t i = 0; i < 1000; i++) {
    ct_tuple t = tup("10.0.0.1", static_cast<uint16_t>(1024 + i), "198.18.0.9", 53, IPPROTO_UDP);
    t.src = htonl(ip("10.0.0.1") + i * 7919);
    t.zone = static_cast<uint16_t>(i % 3);
    keys.push_back(make_key(t));
  }
  std::vector<int32_t> added;
  for (size_t i = 0; i < keys.size(); i++) {
    // Half through rte_hash's own hash, half through the inline signature.
    const int32_t at = i % 2 ? rte_hash_add_key(h, &keys[i]) : shared_hash_add(h, keys[i]);
    ASSERT_GE(at, 0);
    added.push_back(at);
  }
  for (size_t i = 0; i < keys.size(); i++) {
    EXPECT_EQ(rte_hash_lookup(h, &keys[i]), added[i]) << i;
    EXPECT_EQ(shared_hash_lookup(h, keys[i]), added[i]) << i;
  }
  for (size_t base = 0; base < keys.size(); base += RTE_HASH_LOOKUP_BULK_MAX) {
    const size_t n = std::min<size_t>(RTE_HASH_LOOKUP_BULK_MAX, keys.size() - base);
    const flow_key* kp[RTE_HASH_LOOKUP_BULK_MAX];
    int32_t pos[RTE_HASH_LOOKUP_BULK_MAX];
    for (size_t j = 0; j < n; j++) kp[j] = &keys[base + j];
    shared_hash_lookup_bulk(h, kp, static_cast<uint32_t>(n), pos);
    for (size_t j = 0; j < n; j++) EXPECT_EQ(pos[j], added[base + j]) << base + j;
  }
  // Deleted one way, gone the other.
  for (size_t i = 0; i < keys.size(); i++)
    EXPECT_EQ(i % 2 ? shared_hash_del(h, keys[i]) : rte_hash_del_key(h, &keys[i]), added[i]);
  for (const flow_key& k : keys) EXPECT_LT(shared_hash_lookup(h, k), 0);
  rte_hash_free(h);
}

TEST(ReplyTable, OneFlowHoldsAKeyUntilItsOwnerDeletesIt) {
  test_gateway g;
  auto made = reply_table::create("test_reply", 64, g.gw->qs);
  ASSERT_TRUE(made.ok()) << made.error().message;
  reply_table& t = **made;
  // The reply tuple of 10.0.1.2:2000 -> 198.18.0.9:80 behind snat to 192.0.2.1:61000.
  const flow_key k = make_key(tup("198.18.0.9", 80, "192.0.2.1", 61000, IPPROTO_TCP));
  const flow_key other = make_key(tup("198.18.0.9", 80, "192.0.2.1", 61001, IPPROTO_TCP));
  EXPECT_EQ(t.lookup(k), -1);
  EXPECT_EQ(t.add(k, 7), 0);
  EXPECT_EQ(t.lookup(k), 7);
  EXPECT_EQ(t.lookup(other), -1);
  EXPECT_EQ(t.add(k, 9), -EEXIST);  // the tuple is taken: a NAT clash
  EXPECT_EQ(t.lookup(k), 7);
  t.del(k, 9);  // not the holder: nothing happens
  EXPECT_EQ(t.lookup(k), 7);
  EXPECT_EQ(t.count(), 1);
  t.del(k, 7);
  EXPECT_EQ(t.lookup(k), -1);
  EXPECT_EQ(t.count(), 0);
  EXPECT_EQ(t.add(k, 9), 0);
  EXPECT_EQ(t.lookup(k), 9);
  const flow_key* keys[2] = {&other, &k};
  int32_t pos[2];
  t.lookup_bulk(keys, 2, pos);
  EXPECT_EQ(pos[0], -1);
  EXPECT_EQ(pos[1], 9);
}

// Two workers add the same reply keys at the same time (two connections that chose the same
// translated tuple): exactly one holds each key, the other is told -EEXIST.
TEST(ReplyTable, RacingAddsLeaveOneHolderPerKey) {
  test_gateway g;
  auto made = reply_table::create("test_reply_race", 1024, g.gw->qs);
  ASSERT_TRUE(made.ok()) << made.error().message;
  reply_table& t = **made;
  constexpr int k_keys = 300;
  std::vector<flow_key> keys;
  for (int i = 0; i < k_keys; ++i)
    keys.push_back(
        make_key(tup("198.18.0.9", 80, "192.0.2.1", static_cast<uint16_t>(1024 + i), 6)));
  std::atomic<int> ready{0};
  int won[2] = {0, 0};
  auto run = [&](int id) {
    ASSERT_EQ(rte_thread_register(), 0);
    for (int i = 0; i < k_keys; ++i) {
      ready.fetch_add(1);
      while (ready.load() < 2 * (i + 1)) {
      }
      const int r = t.add(keys[i], static_cast<uint32_t>(id * 1000 + i));
      EXPECT_TRUE(r == 0 || r == -EEXIST) << r;
      won[id] += r == 0;
    }
    rte_thread_unregister();
  };
  std::thread a(run, 0), b(run, 1);
  a.join();
  b.join();
  EXPECT_EQ(won[0] + won[1], k_keys);
  EXPECT_EQ(t.count(), k_keys);
  for (int i = 0; i < k_keys; ++i) {
    const int32_t p = t.lookup(keys[i]);
    EXPECT_TRUE(p == i || p == 1000 + i) << p;
  }
}

// A hash whose early-drop sample holds position `target` (bounded search).
std::optional<uint32_t> hash_sampling(const ct_runtime& rt, uint32_t target) {
  uint32_t pos[k_early_drop_max_samples];
  for (uint32_t h = 0; h < (1u << 20); h++) {
    uint32_t n = early_drop_positions(h, rt.early_drop_samples_x256, rt.table->capacity(), pos);
    if (std::find(pos, pos + n, target) != pos + n) return h;
  }
  return std::nullopt;
}

// Early drop evicts only entries that are not ASSURED, among the positions the hash samples.
TEST(FlowTable, EarlyDropChoosesOnlyNonAssured) {
  gateway_config c = default_config();
  c.conntrack.max = 64;
  c.conntrack.buckets = 1;  // the widest sample: k_early_drop_max_samples positions
  test_gateway g(c);
  worker_ctx& w = *g.w;
  rte_rcu_qsbr_thread_online(g.gw->qs, 0);
  for (int f = 0; f < 8; f++) {
    rte_mbuf* m = parsed(g, udp("10.0.1.2", static_cast<uint16_t>(100 + f), "10.0.2.2", 53));
    track_one(w, m);
    rte_pktmbuf_free(m);
  }
  ASSERT_EQ(g.gw->ct.table->count(), 8);
  EXPECT_EQ(g.gw->ct.early_drop_samples_x256, 256 * k_early_drop_max_samples);
  // Mark every entry but the one at the highest position ASSURED.
  std::vector<uint32_t> live;
  for (uint32_t p = 0; p < g.gw->ct.table->capacity(); p++)
    if ((g.gw->ct.table->at(p)->live.load() & ENTRY_STATE_MASK) == ENTRY_LIVE) live.push_back(p);
  ASSERT_EQ(live.size(), 8u);
  const uint32_t last = live.back();
  live.pop_back();
  for (uint32_t p : live) g.gw->ct.table->at(p)->status.fetch_or(CT_STATUS_ASSURED);
  std::optional<uint32_t> hash = hash_sampling(g.gw->ct, last);
  ASSERT_TRUE(hash.has_value());
  EXPECT_TRUE(ct_early_drop(w.ct, *hash, w.now_ms));
  EXPECT_EQ(g.gw->ct.table->count(), 7);
  // Deleted, its position retired until a grace period has passed.
  EXPECT_EQ((g.gw->ct.table->at(last)->live.load() & ENTRY_STATE_MASK), ENTRY_DELETING);
  // Only assured entries are left: a sample holding any of them evicts nothing.
  for (uint32_t p : live) {
    std::optional<uint32_t> h = hash_sampling(g.gw->ct, p);
    ASSERT_TRUE(h.has_value()) << p;
    EXPECT_FALSE(ct_early_drop(w.ct, *h, w.now_ms)) << p;
  }
  EXPECT_EQ(w.ct.counters.get(ct_counter::early_drop), 1u);
  EXPECT_EQ(g.gw->ct.table->count(), 7);
  rte_rcu_qsbr_thread_offline(g.gw->qs, 0);
}

// Early drop in a real table whose positions came back in batches after their grace periods:
// filled to max and emptied by expiry four times, then filled again. Five fills take 20,480
// positions from a table of about 12,700, so the later fills take positions given back. With
// the table full of flows it may evict, a new flow finds one about as often as Linux's 8 buckets
// would, 1 - exp(-16 * max / buckets): 63% here. No add fails on the way.
TEST(FlowTable, EarlyDropFindsAsOftenAsLinuxAfterChurn) {
  gateway_config c = default_config();
  c.conntrack.max = 4096;
  c.conntrack.buckets = 65536;  // 16 * max / buckets = 1
  test_gateway g(c);
  worker_ctx& w = *g.w;
  flow_table& table = *g.gw->ct.table;
  rte_rcu_qsbr_thread_online(g.gw->qs, 0);
  uint32_t next_flow = 0;
  auto add_flow = [&] {
    const uint32_t f = next_flow++;
    const std::string src = "10.1." + std::to_string(f >> 14) + "." + std::to_string(f >> 8 & 63);
    rte_mbuf* m =
        parsed(g, udp(src.c_str(), static_cast<uint16_t>(1024 + (f & 255)), "10.0.2.2", 53));
    track_one(w, m);
    rte_pktmbuf_free(m);
  };
  const uint32_t fills = 5;
  ASSERT_GT(fills * 4096, table.capacity());
  for (uint32_t fill = 0; fill < fills; fill++) {
    if (fill > 0) {
      w.now_ms += 3600 * 1000;  // past every UDP timeout
      for (int loop = 0; loop < 1000 && table.count() != 0; loop++) {
        ct_housekeeping(w.ct, w.now_ms, 256);
        rte_rcu_qsbr_quiescent(g.gw->qs, 0);
      }
      ASSERT_EQ(table.count(), 0) << fill;
    }
    while (table.count() < 4096 && next_flow < 30000) add_flow();
    ASSERT_EQ(table.count(), 4096) << fill;
  }
  EXPECT_EQ(next_flow, fills * 4096);
  EXPECT_EQ(w.ct.counters.get(ct_counter::insert_failed), 0u);
  EXPECT_EQ(w.ct.counters.get(ct_counter::drop), 0u);
  uint32_t found = 0;
  const uint32_t tries = 2000;
  for (uint32_t h = 0; h < tries; h++) {
    if (!ct_early_drop(w.ct, h * 2654435761u, w.now_ms)) continue;
    found++;
    add_flow();  // the table full again
    ASSERT_EQ(table.count(), 4096);
  }
  EXPECT_NEAR(found / double(tries), 1 - std::exp(-1.0), 0.04);
  EXPECT_EQ(w.ct.counters.get(ct_counter::early_drop), found);
  rte_rcu_qsbr_thread_offline(g.gw->qs, 0);
}

// The sample's size: enough positions that a full table finds a flow as often as Linux's 8
// buckets (each flow chained twice) would, about 16 * capacity / buckets while the table is
// sparse; in 1/256ths, at most k_early_drop_max_samples; drawn on average as that.
TEST(EarlyDrop, SampleSizeFollowsTheBuckets) {
  // Sparse: 0.1% of the positions live.
  EXPECT_NEAR(early_drop_samples_x256(1000000, 1000, 262144) / 256.0, 16.0 * 1000000 / 262144,
              0.05);
  // 60% live, 16 * max / buckets = 1: one position, and one more with probability f, where
  // 1 - 0.4 * (1 - 0.6 f) = 1 - exp(-1): f = 0.1338, 34/256.
  EXPECT_EQ(early_drop_samples_x256(10000, 6000, 96000), 256u + 34);
  EXPECT_EQ(early_drop_samples_x256(1 << 20, 1 << 19, 1), 256 * k_early_drop_max_samples);
  EXPECT_EQ(early_drop_samples_x256(100, 50, 0), 256 * k_early_drop_max_samples);
  EXPECT_EQ(early_drop_samples_x256(100, 0, 262144), 0u);
  uint32_t pos[k_early_drop_max_samples];
  for (uint32_t x256 : {0u, 100u, 256u, 624u, 4736u, 16384u}) {
    uint64_t drawn = 0;
    for (uint32_t h = 0; h < 100000; h++) {
      uint32_t n = early_drop_positions(h * 2654435761u, x256, 1000, pos);
      ASSERT_LE(n, k_early_drop_max_samples);
      for (uint32_t i = 0; i < n; i++) ASSERT_LT(pos[i], 1000u);
      drawn += n;
    }
    EXPECT_NEAR(static_cast<double>(drawn) / 100000, x256 / 256.0, 0.01 + x256 / 256.0 * 0.01)
        << x256;
  }
}

// Whether the sample finds a flow depends on how full the table is, not on which positions the
// flows hold: packed at the bottom (positions reused at once) or spread over all of them
// (positions reclaimed in batches) find one about as often, and as often as Linux's 8 buckets
// would, 1 - exp(-16 * count / buckets), sparse (20% of positions live) or dense (60%).
TEST(EarlyDrop, FindsAsOftenAsLinuxWhereverTheFlowsSit) {
  const uint32_t capacity = 10000;
  uint32_t pos[k_early_drop_max_samples];
  for (uint32_t count : {2000u, 6000u}) {
    for (uint32_t buckets : {262144u, 65536u, 16 * count, 16384u, 4096u}) {
      const uint32_t x256 = early_drop_samples_x256(capacity, count, buckets);
      uint32_t packed = 0, spread = 0;
      const uint32_t tries = 20000;
      for (uint32_t h = 0; h < tries; h++) {
        uint32_t n = early_drop_positions(h * 2654435761u + 17, x256, capacity, pos);
        bool in_packed = false, in_spread = false;
        for (uint32_t i = 0; i < n; i++) {
          in_packed |= pos[i] < count;
          in_spread |= static_cast<uint64_t>(pos[i]) * count % capacity < count;
        }
        packed += in_packed;
        spread += in_spread;
      }
      const double linux_rate = 1 - std::exp(-16.0 * count / buckets);
      EXPECT_NEAR(packed / double(tries), spread / double(tries), 0.02) << count << " " << buckets;
      EXPECT_NEAR(packed / double(tries), linux_rate, 0.03) << count << " " << buckets;
    }
  }
}

// The cache warms up, then is judged window by window: used while at least half the lookups
// of a window hit, switched off for k_off_bursts bursts by a window that missed more, then
// warmed up and judged again.
TEST(FlowCache, SwitchesOffWhenUnderHalfItsLookupsHit) {
  auto* c = new flow_cache;
  for (uint32_t b = 0; b < flow_cache::k_warm_bursts; b++) EXPECT_FALSE(c->tally(0, 32));
  EXPECT_TRUE(c->in_use);  // warming: misses are not held against it
  for (uint32_t b = 0; b < flow_cache::k_judge_bursts; b++) EXPECT_FALSE(c->tally(16, 32));
  EXPECT_TRUE(c->in_use);  // exactly half
  for (uint32_t b = 0; b + 1 < flow_cache::k_judge_bursts; b++) EXPECT_FALSE(c->tally(15, 32));
  EXPECT_TRUE(c->tally(15, 32));
  EXPECT_FALSE(c->in_use);
  for (uint32_t b = 0; b + 1 < flow_cache::k_off_bursts; b++) {
    EXPECT_FALSE(c->tally(0, 0));
    ASSERT_FALSE(c->in_use) << b;
  }
  EXPECT_FALSE(c->tally(0, 0));
  EXPECT_TRUE(c->in_use);
  for (uint32_t b = 0; b < flow_cache::k_warm_bursts; b++) EXPECT_FALSE(c->tally(0, 32));
  for (uint32_t b = 0; b < flow_cache::k_judge_bursts; b++) EXPECT_FALSE(c->tally(32, 32));
  EXPECT_TRUE(c->in_use);
  // Too few lookups to judge: kept on, however they went.
  for (uint32_t b = 0; b < flow_cache::k_judge_bursts; b++)
    EXPECT_FALSE(c->tally(0, b < flow_cache::k_min_judged - 1 ? 1 : 0));
  EXPECT_TRUE(c->in_use);
  delete c;
}

// A cached position answers only while the entry there is live and has the key: a stale one
// (another flow's, or freed) costs a table lookup, whose answer is cached. A flow's packets
// after its first two are answered by the worker's cache, and counted.
TEST(FlowTable, TheFlowCacheAnswersOnlyForALiveEntryWithItsKey) {
  test_gateway g;
  worker_ctx& w = *g.w;
  rte_rcu_qsbr_thread_online(g.gw->qs, 0);
  const pkt_spec a = udp("10.0.1.2", 1000, "10.0.2.2", 53);
  const pkt_spec b = udp("10.0.1.3", 1000, "10.0.2.2", 53);
  for (const pkt_spec* s : {&a, &a, &a, &b}) {
    rte_mbuf* m = parsed(g, *s);
    track_one(w, m);
    rte_pktmbuf_free(m);
  }
  // a: new (missed), found in the table (missed, cached), found in the cache; b: new.
  EXPECT_EQ(w.ct.counters.get(ct_counter::flow_cache_hit), 1u);
  EXPECT_EQ(w.ct.counters.get(ct_counter::flow_cache_miss), 3u);
  flow_table& t = *g.gw->ct.table;
  const flow_key ka = make_key(tup("10.0.1.2", 1000, "10.0.2.2", 53, IPPROTO_UDP));
  const flow_key kb = make_key(tup("10.0.1.3", 1000, "10.0.2.2", 53, IPPROTO_UDP));
  const int32_t pa = t.lookup(ka), pb = t.lookup(kb);
  ASSERT_GE(pa, 0);
  ASSERT_GE(pb, 0);
  auto* c = new flow_cache;
  // The table's signature is rte_hash_crc's (FlowTable.InlineSignaturesAgree...).
  const uint32_t sig_b = rte_hash_crc(&kb, sizeof kb, 0);
  c->insert(sig_b, pa);  // b's signature pointing at a's entry
  const flow_key* kp[] = {&kb};
  int32_t pos[1];
  uint32_t found = 0;
  EXPECT_EQ(t.lookup_bulk(kp, 1, pos, *c, &found), 0u);
  EXPECT_EQ(pos[0], pb);
  EXPECT_EQ(found, 1u);
  EXPECT_EQ(c->find(sig_b), pb);
  EXPECT_EQ(t.lookup_bulk(kp, 1, pos, *c, &found), 1u);
  EXPECT_EQ(pos[0], pb);
  EXPECT_EQ(found, 1u);
  // b's entry being deleted by its owner (DELETING, its key not yet out of the table), then
  // being claimed again: not taken from the cache in either state.
  ct_entry* eb = t.at(static_cast<uint32_t>(pb));
  const uint32_t live = eb->live.load();
  for (uint32_t state : {uint32_t{ENTRY_DELETING}, uint32_t{ENTRY_CLAIMING}}) {
    eb->live.store((live & ~ENTRY_STATE_MASK) | state);
    EXPECT_EQ(t.lookup_bulk(kp, 1, pos, *c, &found), 0u) << state;
    EXPECT_EQ(pos[0], pb) << state;  // the key is still in the table
  }
  eb->live.store(live);
  delete c;
  rte_rcu_qsbr_thread_offline(g.gw->qs, 0);
}

// A deleted flow's position goes back to the table only once every online worker has reported
// a quiescent state after its owner's token (reclaim_positions), and then a new flow takes it.
// Worker 1 is online and silent until the end: while it is, the position stays out of use.
TEST(FlowTable, APositionIsReusedOnlyAfterEveryWorkerPassedAQuiescentPoint) {
  test_gateway g(two_workers());
  worker_ctx& w = *g.w;
  flow_table& t = *g.gw->ct.table;
  both_online(g);
  auto track = [&](uint16_t sport) { return track_udp(g, sport); };
  const int32_t first = track(1000);
  ASSERT_GE(first, 0);
  w.now_ms += 3600 * 1000;  // past the UDP timeout
  for (int loop = 0; loop < 8; loop++) {
    ct_housekeeping(w.ct, w.now_ms);
    rte_rcu_qsbr_quiescent(g.gw->qs, 0);
  }
  ASSERT_EQ(t.count(), 0);
  EXPECT_EQ(w.ct.counters.get(ct_counter::expired), 1u);
  EXPECT_EQ(w.ct.waiting_head, static_cast<uint32_t>(first));
  EXPECT_EQ(t.at(static_cast<uint32_t>(first))->wheel_next, k_no_pos);
  // DELETING until it is given back: no confirm may claim it (one whose add found the key
  // just before the delete fails, as on any DELETING entry).
  const auto state = [&] {
    return t.at(static_cast<uint32_t>(first))->live.load() & ENTRY_STATE_MASK;
  };
  EXPECT_EQ(state(), ENTRY_DELETING);
  // New flows get other positions meanwhile (this lcore's free positions are handed out last
  // in, first out: the retired one would come first).
  for (uint16_t f = 0; f < 200; f++) {
    const int32_t p = track(static_cast<uint16_t>(2000 + f));
    ASSERT_GE(p, 0);
    ASSERT_NE(p, first) << f;
    ct_housekeeping(w.ct, w.now_ms);
    rte_rcu_qsbr_quiescent(g.gw->qs, 0);
  }
  EXPECT_EQ(t.positions_taken(), 201u);  // the retired one among them
  EXPECT_EQ(state(), ENTRY_DELETING);
  rte_rcu_qsbr_quiescent(g.gw->qs, 1);
  ct_housekeeping(w.ct, w.now_ms);
  EXPECT_EQ(w.ct.waiting_head, k_no_pos);
  EXPECT_EQ(w.ct.retired_head, k_no_pos);
  EXPECT_EQ(state(), ENTRY_FREE);
  EXPECT_EQ(track(3000), first);
  EXPECT_EQ(state(), ENTRY_LIVE);
  EXPECT_EQ(t.count(), 201);
  EXPECT_EQ(w.ct.counters.get(ct_counter::insert_failed), 0u);
  rte_rcu_qsbr_thread_offline(g.gw->qs, 1);
  rte_rcu_qsbr_thread_offline(g.gw->qs, 0);
}

// A delete request carrying the word of an entry already DELETING (reap_expired reloads the word
// it sends, and may read it just after the owner's delete) is refused: the entry stays DELETING
// until its position is given back, and destroying it again would delete the key of the flow
// that took its tuple since, and count it twice.
TEST(FlowTable, ADeleteRequestForADeletingEntryIsRefused) {
  test_gateway g(two_workers());
  worker_ctx& w = *g.w;
  flow_table& t = *g.gw->ct.table;
  both_online(g);  // worker 1 silent: the deleted entry stays DELETING
  const int32_t old_pos = track_udp(g, 1000);
  ASSERT_GE(old_pos, 0);
  const uint32_t live = t.at(static_cast<uint32_t>(old_pos))->live.load();
  w.now_ms += 3600 * 1000;  // past the UDP timeout
  ct_housekeeping(w.ct, w.now_ms);
  ASSERT_EQ(t.at(static_cast<uint32_t>(old_pos))->live.load(),
            (live & ~ENTRY_STATE_MASK) | ENTRY_DELETING);
  const int32_t new_pos = track_udp(g, 1000);  // the same tuple, a new flow
  ASSERT_GE(new_pos, 0);
  ASSERT_NE(new_pos, old_pos);
  ASSERT_TRUE(ct_request_delete(w.ct, static_cast<uint32_t>(old_pos),
                                (live & ~ENTRY_STATE_MASK) | ENTRY_DELETING, true));
  w.now_ms += 3600 * 1000;             // the new flow expired too: only the wheel may reap it
  ct_housekeeping(w.ct, w.now_ms, 0);  // the request alone, no expiry
  EXPECT_EQ(t.lookup(make_key(tup("10.0.1.2", 1000, "10.0.2.2", 53, IPPROTO_UDP))), new_pos);
  EXPECT_EQ(t.count(), 1);
  EXPECT_EQ(w.ct.owned, 1u);
  EXPECT_EQ(w.ct.counters.get(ct_counter::expired), 1u);
  rte_rcu_qsbr_thread_offline(g.gw->qs, 1);
  rte_rcu_qsbr_thread_offline(g.gw->qs, 0);
}

// An entry filed again under the slot being closed (its expiry a whole turn of the wheel later,
// as an idle established TCP flow's is) stays filed when an expired entry after it in that slot
// is destroyed, and expires in its turn. (The expired entry used to be unlinked twice, and the
// second time cleared the slot's head: the entry filed there was never looked at again.)
TEST(FlowTable, AnEntryFiledAgainUnderTheSlotBeingClosedStillExpires) {
  test_gateway g;
  worker_ctx& w = *g.w;
  flow_table& t = *g.gw->ct.table;
  rte_rcu_qsbr_thread_online(g.gw->qs, 0);
  auto track = [&](uint16_t sport) { return track_udp(g, sport); };
  const int32_t expiring = track(1000);  // filed first: after the other in the slot's list
  const int32_t refiled = track(1001);
  ASSERT_GE(expiring, 0);
  ASSERT_GE(refiled, 0);
  ct_entry* r = t.at(static_cast<uint32_t>(refiled));
  const uint32_t exp = t.at(static_cast<uint32_t>(expiring))->expires_ms.load();
  ASSERT_EQ(r->expires_ms.load(), exp);  // the same slot
  constexpr uint32_t k_turn = k_wheel_slots << k_wheel_shift;
  r->expires_ms.store(exp + k_turn);  // refreshed to a long timeout, as by traffic
  auto housekeep = [&](uint32_t now, int loops) {
    w.now_ms = now;
    for (int i = 0; i < loops; i++) {
      ct_housekeeping(w.ct, w.now_ms);
      rte_rcu_qsbr_quiescent(g.gw->qs, 0);
    }
  };
  housekeep(exp + 1000, 4);
  EXPECT_EQ(w.ct.counters.get(ct_counter::expired), 1u);
  EXPECT_TRUE(is_live(r->live.load()));
  // A turn later: 4,096 slots at up to 256 a call.
  housekeep(exp + k_turn + 1000, 40);
  EXPECT_EQ(w.ct.counters.get(ct_counter::expired), 2u);
  EXPECT_EQ(t.count(), 0);
  EXPECT_EQ(w.ct.owned, 0u);
  rte_rcu_qsbr_thread_offline(g.gw->qs, 0);
}

// Two workers create and expire flows at the same time, for many times more flows than the
// table has positions: every deleted position comes back (release from both at once), so no
// insert ever fails, and the table ends empty with nothing left to give back. The workers
// keep to the same round: a worker that is online but not running (two threads may share a
// CPU here) holds every grace period back, as a stalled worker would.
TEST(FlowTable, TwoWorkersChurningGiveEveryPositionBack) {
  gateway_config c = default_config();
  c.workers = 2;
  c.conntrack.max = 1024;
  test_gateway g(c);
  constexpr uint32_t k_rounds = 40, k_flows = 500;
  ASSERT_GT(2 * k_rounds * k_flows, 4 * g.gw->ct.table->capacity());
  std::atomic<uint32_t> rounds_done[2] = {0, 0};
  auto run = [&](int id) {
    ASSERT_EQ(rte_thread_register(), 0);  // rte_hash keeps free positions per lcore
    worker_ctx& w = *g.gw->workers[id];
    w.now_ms = 1000;
    rte_rcu_qsbr_thread_online(g.gw->qs, id);
    for (uint32_t r = 0; r < k_rounds; r++) {
      // Wait for the other worker to finish the round before (bounded: 30 s).
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (rounds_done[1 - id].load() < r && std::chrono::steady_clock::now() < deadline) {
        rte_rcu_qsbr_quiescent(g.gw->qs, id);
        std::this_thread::yield();
      }
      ASSERT_GE(rounds_done[1 - id].load(), r) << id;
      for (uint32_t f = 0; f < k_flows; f++) {
        const std::string src = "10." + std::to_string(id + 1) + "." + std::to_string(r) + "." +
                                std::to_string(2 + f / 250);
        rte_mbuf* m =
            parsed(g, udp(src.c_str(), static_cast<uint16_t>(1024 + f % 250), "10.0.2.2", 53));
        track_one(w, m);
        rte_pktmbuf_free(m);
        if (f % 32 == 31) rte_rcu_qsbr_quiescent(g.gw->qs, id);
      }
      w.now_ms += 3600 * 1000;  // past the UDP timeout
      for (int loop = 0; loop < 1000 && w.ct.owned != 0; loop++) {
        ct_housekeeping(w.ct, w.now_ms, 64);
        rte_rcu_qsbr_quiescent(g.gw->qs, id);
      }
      ASSERT_EQ(w.ct.owned, 0u) << id << " " << r;
      rounds_done[id].store(r + 1);
    }
    rte_rcu_qsbr_thread_offline(g.gw->qs, id);
    rte_thread_unregister();
  };
  std::thread a(run, 0), b(run, 1);
  a.join();
  b.join();
  for (auto* w : g.gw->workers) {
    EXPECT_EQ(w->ct.counters.get(ct_counter::insert), uint64_t{k_rounds} * k_flows);
    EXPECT_EQ(w->ct.counters.get(ct_counter::expired), uint64_t{k_rounds} * k_flows);
    EXPECT_EQ(w->ct.counters.get(ct_counter::insert_failed), 0u);
    EXPECT_EQ(w->ct.counters.get(ct_counter::drop), 0u);
    // Both offline: two more rounds of housekeeping give back what was left.
    for (int i = 0; i < 2; i++) ct_housekeeping(w->ct, w->now_ms);
    EXPECT_EQ(w->ct.waiting_head, k_no_pos);
    EXPECT_EQ(w->ct.retired_head, k_no_pos);
  }
  EXPECT_EQ(g.gw->ct.table->count(), 0);
  EXPECT_EQ(g.gw->ct.table->positions_taken(), 0u);  // every position given back
}

// Delete requests from the control plane are served by the owner, and only
// for the flow they named.
TEST(FlowTable, DeleteByFilterAndFlush) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway g(c);
  g.send(0, udp("10.0.1.2", 1, "10.0.2.2", 53));
  g.send(0, tcp("10.0.1.2", 2, "10.0.2.2", 80, TCPF_SYN));
  g.send(0, tcp("10.0.1.3", 3, "10.0.2.2", 80, TCPF_SYN));
  ASSERT_EQ(g.conntrack_lines().size(), 3u);
  result<ct_filter> parsed = parse_filter("proto=tcp src=10.0.1.3");
  ASSERT_TRUE(parsed) << parsed.error().to_string();
  const ct_filter f = *parsed;
  ct_worker* ws[] = {&g.w->ct};
  EXPECT_EQ(delete_matching(*g.gw->ct.table, f, ws, 1), 1u);
  g.tick();
  EXPECT_EQ(g.conntrack_lines().size(), 2u);
  EXPECT_EQ(delete_matching(*g.gw->ct.table, ct_filter{}, ws, 1), 2u);
  g.tick();
  EXPECT_TRUE(g.conntrack_lines().empty());
  EXPECT_EQ(g.gw->ct.table->count(), 0);
  result<ct_filter> bogus = parse_filter("bogus=1");
  ASSERT_FALSE(bogus);
  EXPECT_EQ(bogus.error().message, "unknown filter 'bogus'");
  EXPECT_FALSE(parse_filter("dport=70000"));
}

// conntrack -E (ct_event.h): nothing is made while nobody reads; a reader gets NEW, UPDATE
// (first reply) and DESTROY (deleted) in conntrack-tools' layout, in JSON too, and only the
// types and flows it asked for.
TEST(Events, MadeOnlyWhileReadAndInConntrackToolsLayout) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway g(c);
  const uint16_t n = 1;
  g.send(0, udp("10.0.1.2", 999, "10.0.2.2", 53));
  ct_event ev;
  EXPECT_FALSE(g.w->ct.events->pop(&ev)) << "no reader: no event";
  uint64_t cursor = 0, lost = 0;
  size_t count = 0;
  auto read = [&](std::optional<uint64_t> from, uint8_t mask = CT_EVENT_ALL,
                  const char* filter = "", bool json = false) {
    return g.gw->ct_events.read(g.gw->ct, n, g.w->now_ms, from, mask, *parse_filter(filter), json,
                                &cursor, &lost, &count);
  };
  EXPECT_EQ(read(std::nullopt), "");  // a new reader starts now
  const uint64_t start = cursor;
  g.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  g.send(1, udp("10.0.2.2", 53, "10.0.1.2", 1000));
  g.send(0, tcp("10.0.1.3", 2000, "10.0.2.2", 80, TCPF_SYN));
  ct_worker* ws[] = {&g.w->ct};
  ASSERT_TRUE(parse_filter("proto=udp sport=1000"));
  EXPECT_EQ(delete_matching(*g.gw->ct.table, *parse_filter("proto=udp sport=1000"), ws, 1), 1u);
  g.tick();
  EXPECT_EQ(read(start),
            "    [NEW] udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=1000 dport=53 [UNREPLIED] "
            "src=10.0.2.2 dst=10.0.1.2 sport=53 dport=1000\n"
            " [UPDATE] udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=1000 dport=53 src=10.0.2.2 "
            "dst=10.0.1.2 sport=53 dport=1000\n"
            "    [NEW] tcp      6 120 SYN_SENT src=10.0.1.3 dst=10.0.2.2 sport=2000 dport=80 "
            "[UNREPLIED] src=10.0.2.2 dst=10.0.1.3 sport=80 dport=2000\n"
            "[DESTROY] udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=1000 dport=53 src=10.0.2.2 "
            "dst=10.0.1.2 sport=53 dport=1000\n");
  EXPECT_EQ(count, 4u);
  EXPECT_EQ(lost, 0u);
  const uint64_t end = cursor;
  EXPECT_EQ(read(end), "") << "nothing new";
  EXPECT_EQ(read(start, CT_EVENT_NEW | CT_EVENT_DESTROY, "proto=tcp"),
            "    [NEW] tcp      6 120 SYN_SENT src=10.0.1.3 dst=10.0.2.2 sport=2000 dport=80 "
            "[UNREPLIED] src=10.0.2.2 dst=10.0.1.3 sport=80 dport=2000\n");
  EXPECT_EQ(read(start, CT_EVENT_NEW, "proto=tcp", true),
            R"({"event":"NEW","family":"ipv4","proto":"tcp","protonum":6,"timeout":120,)"
            R"("state":"SYN_SENT","orig":{"src":"10.0.1.3","dst":"10.0.2.2","sport":2000,)"
            R"("dport":80},"reply":{"src":"10.0.2.2","dst":"10.0.1.3","sport":80,"dport":2000},)"
            R"("flags":["UNREPLIED"],"mark":0,"zone":0,"uptime_ms":1000})"
            "\n");
  // Nobody reads for 10 s: events stop, and what was logged goes.
  g.gw->ct_events.tick(g.gw->ct, n, g.w->now_ms + ct_event_log::k_idle_off_ms);
  EXPECT_EQ(g.gw->ct.events.load(), 0);
  g.send(0, udp("10.0.1.2", 1001, "10.0.2.2", 53));
  EXPECT_FALSE(g.w->ct.events->pop(&ev));
  EXPECT_EQ(parse_event_mask("NEW,update"), CT_EVENT_NEW | CT_EVENT_UPDATE);
  EXPECT_EQ(parse_event_mask("ALL"), CT_EVENT_ALL);
  EXPECT_EQ(parse_event_mask("NEW,BOGUS"), 0);
}

// A worker whose ring is full loses the event and counts it; the packet is not held up.
TEST(Events, AFullRingDropsAndCounts) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  c.conntrack.max = 8192;
  test_gateway g(c);
  g.gw->ct.events.store(CT_EVENT_ALL);
  const int flows = 2100;  // the ring holds 2048
  for (int i = 0; i < flows; i++) g.send(0, udp("10.0.1.2", uint16_t(1024 + i), "10.0.2.2", 53));
  EXPECT_EQ(g.gw->ct.table->count(), flows);
  EXPECT_EQ(g.w->ct.counters.get(ct_counter::event_dropped), uint64_t(flows - 2048));
  ct_event ev;
  int drained = 0;
  while (g.w->ct.events->pop(&ev)) drained++;
  EXPECT_EQ(drained, 2048);
  g.gw->ct.events.store(0);
}

// conntrack.acct: each direction's packets and IP bytes, counted from the flow's first
// packet (unconfirmed) on, and listed after each tuple as conntrack-tools prints them.
TEST(FlowTable, AccountingCountsEachDirection) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  c.conntrack.acct = true;
  test_gateway g(c);
  ASSERT_TRUE(g.gw->ct.table->accounting());
  pkt_spec q = udp("10.0.1.2", 1000, "10.0.2.2", 53);
  q.payload_len = 20;                  // 48 bytes of IP
  g.burst(0, {g.make(q), g.make(q)});  // two packets before confirmation
  g.send(0, q);
  pkt_spec a = udp("10.0.2.2", 53, "10.0.1.2", 1000);
  a.payload_len = 100;  // 128
  g.send(1, a);
  const std::vector<std::string> lines = g.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("sport=1000 dport=53 packets=3 bytes=144 src=10.0.2.2 dst=10.0.1.2 "
                          "sport=53 dport=1000 packets=1 bytes=128 mark=0"),
            std::string::npos)
      << lines[0];
}

// Without accounting, the lines have no counts.
TEST(FlowTable, NoAccountingNoCounts) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway g(c);
  EXPECT_FALSE(g.gw->ct.table->accounting());
  g.send(0, udp("10.0.1.2", 1000, "10.0.2.2", 53));
  const std::vector<std::string> lines = g.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find("packets="), std::string::npos) << lines[0];
}

TEST(FlowTable, ListFilters) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  test_gateway g(c);
  g.send(0, udp("10.0.1.2", 1, "10.0.2.2", 53));
  g.send(0, tcp("10.0.1.2", 2, "10.0.2.2", 80, TCPF_SYN));
  result<ct_filter> f = parse_filter("p=tcp dport=80 state=SYN_SENT");
  ASSERT_TRUE(f);
  EXPECT_EQ(list_lines(*g.gw->ct.table, *f, g.w->now_ms).size(), 1u);
  result<ct_filter> f2 = parse_filter("state=ESTABLISHED");
  ASSERT_TRUE(f2);
  EXPECT_TRUE(list_lines(*g.gw->ct.table, *f2, g.w->now_ms).empty());
}

}  // namespace
}  // namespace ctgate::test
