// IPv4 reassembly (lib/dataplane/defrag.cpp) and output fragmentation
// (stage_fragment.cpp): Linux's ip_defrag rules for order, duplicates,
// overlaps, lengths, ECN, the memory bound and the timeout; refragmenting to
// the largest fragment received; DF handling; no mbuf ever lost.
#include <rte_ip.h>
#include <rte_mempool.h>
#include <rte_thash.h>

#include <algorithm>
#include <numeric>

#include "common/test_env.h"
#include "control/rss.h"
#include "dataplane/fragments_env.h"
#include "packet/cksum.h"

namespace ctgate::test {
namespace {

// A whole datagram as a frame (Ethernet + IP + L4 + a patterned payload),
// with valid checksums; cut into fragments by frag().
struct datagram {
  std::vector<uint8_t> frame;
  size_t ip_payload() const { return frame.size() - 14 - 20; }
};

datagram make_datagram(pkt_spec s, size_t payload_len) {
  s.payload_len = static_cast<uint16_t>(payload_len);
  datagram d;
  d.frame.resize(70000);
  size_t len = build_frame(s, d.frame.data(), d.frame.size());
  d.frame.resize(len);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(d.frame.data() + 14);
  d.frame.resize(14 + rte_be_to_cpu_16(ip->total_length));  // no Ethernet padding
  ip = reinterpret_cast<rte_ipv4_hdr*>(d.frame.data() + 14);
  size_t l4_hdr = s.proto == IPPROTO_UDP ? 8 : s.proto == IPPROTO_TCP ? 20 : 8;
  for (size_t i = 14 + 20 + l4_hdr; i < d.frame.size(); i++)
    d.frame[i] = static_cast<uint8_t>(i * 7 + 3);
  uint8_t* l4 = d.frame.data() + 14 + 20;
  size_t l4_len = d.frame.size() - 14 - 20;
  if (s.proto == IPPROTO_TCP) {
    l4[16] = l4[17] = 0;
    uint16_t c = ipv4_l4_cksum(ip, l4, l4_len, IPPROTO_TCP);
    std::memcpy(l4 + 16, &c, 2);
  } else if (s.proto == IPPROTO_UDP) {
    l4[6] = l4[7] = 0;
    uint16_t c = ipv4_l4_cksum(ip, l4, l4_len, IPPROTO_UDP);
    std::memcpy(l4 + 6, &c, 2);
  } else if (s.proto == IPPROTO_ICMP) {
    l4[2] = l4[3] = 0;
    uint16_t c = static_cast<uint16_t>(~cksum_fold(cksum_add(0, l4, l4_len)));
    std::memcpy(l4 + 2, &c, 2);
  }
  return d;
}

// The fragment of `d` holding IP payload bytes [off, off + len), with MF as
// given and DF if asked; `tos` replaces the TOS byte.
rte_mbuf* frag(test_gateway& t, const datagram& d, size_t off, size_t len, bool more,
               bool df = false, int tos = -1) {
  rte_mbuf* m = rte_pktmbuf_alloc(t.gw->mbuf_pool);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(34 + len)));
  std::memcpy(p, d.frame.data(), 34);
  std::memcpy(p + 34, d.frame.data() + 34 + off, len);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + len));
  uint16_t f = static_cast<uint16_t>(off / 8);
  if (more) f |= RTE_IPV4_HDR_MF_FLAG;
  if (df) f |= RTE_IPV4_HDR_DF_FLAG;
  ip->fragment_offset = rte_cpu_to_be_16(f);
  if (tos >= 0) ip->type_of_service = static_cast<uint8_t>(tos);
  ip->hdr_checksum = 0;
  ip->hdr_checksum = ipv4_hdr_cksum(ip);
  return m;
}

// Every fragment of `d` at `size` payload bytes each (a multiple of 8).
std::vector<rte_mbuf*> cut(test_gateway& t, const datagram& d, size_t size, bool df = false) {
  std::vector<rte_mbuf*> out;
  for (size_t off = 0; off < d.ip_payload(); off += size) {
    size_t len = std::min(size, d.ip_payload() - off);
    out.push_back(frag(t, d, off, len, off + len < d.ip_payload(), df));
  }
  return out;
}

struct ip_frag_seen {
  uint16_t port = 0;
  uint16_t id = 0;
  uint32_t offset = 0;  // bytes
  bool more = false, df = false;
  uint32_t total = 0;  // IP total length
  uint8_t ttl = 0;
  bool csum_ok = false;
  std::vector<uint8_t> payload;
};

std::vector<ip_frag_seen> sent_ip(test_gateway& t) {
  std::vector<ip_frag_seen> out;
  for (auto& [port, m] : t.sent) {
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, 14);
    ip_frag_seen s;
    s.port = port;
    s.id = rte_be_to_cpu_16(ip->packet_id);
    uint16_t f = rte_be_to_cpu_16(ip->fragment_offset);
    s.offset = (f & RTE_IPV4_HDR_OFFSET_MASK) * 8u;
    s.more = f & RTE_IPV4_HDR_MF_FLAG;
    s.df = f & RTE_IPV4_HDR_DF_FLAG;
    s.total = rte_be_to_cpu_16(ip->total_length);
    s.ttl = ip->time_to_live;
    s.csum_ok = ipv4_hdr_cksum_ok(ip, 20);
    const auto* b = reinterpret_cast<const uint8_t*>(ip) + 20;
    s.payload.assign(b, b + s.total - 20);
    out.push_back(s);
  }
  return out;
}

std::vector<uint8_t> payload_of(const datagram& d) {
  return std::vector<uint8_t>(d.frame.begin() + 34, d.frame.end());
}

gateway_config ct_config() {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  return c;
}

pkt_spec dns_reply() {
  pkt_spec s = udp("10.0.1.2", 53, "10.0.2.2", 40000);
  s.ip_id = 0x1234;
  return s;
}

TEST(Defrag, FragmentsInOrderAreTrackedAsOneDatagramAndLeaveAsTheyCame) {
  test_gateway t(ct_config());
  const unsigned before = rte_mempool_avail_count(t.gw->mbuf_pool);
  datagram d = make_datagram(dns_reply(), 4000 - 28);
  t.burst(0, cut(t, d, 1480));
  auto got = sent_ip(t);
  ASSERT_EQ(got.size(), 3u);
  for (auto& f : got) {
    EXPECT_EQ(f.port, 1);
    EXPECT_EQ(f.id, 0x1234);
    EXPECT_LE(f.total, 1500u);
    EXPECT_EQ(f.ttl, 63);
    EXPECT_TRUE(f.csum_ok);
  }
  EXPECT_EQ(joined(got), payload_of(d));
  EXPECT_TRUE(got[0].more && got[1].more && !got[2].more);
  // One flow, with its ports: conntrack saw the whole datagram.
  auto lines = t.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("sport=53 dport=40000"), std::string::npos) << lines[0];
  EXPECT_EQ(t.dp(dp_counter::reasm_reqds), 3u);
  EXPECT_EQ(t.dp(dp_counter::reasm_oks), 1u);
  EXPECT_EQ(t.dp(dp_counter::reasm_frags), 3u);
  EXPECT_EQ(t.dp(dp_counter::frag_oks), 1u);
  EXPECT_EQ(t.dp(dp_counter::frag_creates), 3u);
  EXPECT_EQ(t.ct_counter(ct::ct_counter::invalid_fragment), 0u);
  t.clear_sent();
  EXPECT_EQ(rte_mempool_avail_count(t.gw->mbuf_pool), before);
  EXPECT_EQ(rte_mempool_in_use_count(t.gw->reasm_pool), 0u);
}

TEST(Defrag, OutOfOrderWithDuplicatesStillCompletes) {
  test_gateway t(ct_config());
  datagram d = make_datagram(dns_reply(), 4000 - 28);
  std::vector<rte_mbuf*> f = cut(t, d, 1480);
  // Last first, then the first twice, a piece of the first a third time
  // (inside what is held: a duplicate), then the middle.
  t.burst(0, {f[2], f[0], frag(t, d, 0, 1480, true), frag(t, d, 8, 64, true), f[1]});
  auto got = sent_ip(t);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(joined(got), payload_of(d));
  EXPECT_EQ(t.dp(dp_counter::drop_frag_duplicate), 2u);
  EXPECT_EQ(t.dp(dp_counter::reasm_oks), 1u);
  EXPECT_EQ(t.dp(dp_counter::reasm_fails), 0u);
}

TEST(Defrag, AnOverlapDiscardsTheWholeDatagram) {
  test_gateway t(ct_config());
  const unsigned before = rte_mempool_avail_count(t.gw->mbuf_pool);
  datagram d = make_datagram(dns_reply(), 4000 - 28);
  // [0,1480) then [1000,2000): overlapping, not contained: RFC 5722 as
  // Linux applies it to IPv4 too. Both are dropped.
  t.burst(0, {frag(t, d, 0, 1480, true), frag(t, d, 1000, 1000, true)});
  EXPECT_EQ(t.dp(dp_counter::reasm_overlaps), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_frag_overlap), 2u);
  // The rest starts a new datagram that never completes.
  t.burst(0, {frag(t, d, 1480, 1480, true), frag(t, d, 2960, d.ip_payload() - 2960, false)});
  EXPECT_TRUE(t.sent.empty());
  t.w->now_ms += t.gw->cfg.ipfrag.time_ms;
  t.tick();
  EXPECT_EQ(t.dp(dp_counter::reasm_timeout), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_frag_timeout), 2u);
  EXPECT_TRUE(t.conntrack_lines().empty());
  EXPECT_EQ(rte_mempool_avail_count(t.gw->mbuf_pool), before);
  EXPECT_EQ(t.w->defrag->mem, 0u);
}

TEST(Defrag, InconsistentLengthsDiscardTheDatagram) {
  test_gateway t(ct_config());
  datagram d = make_datagram(dns_reply(), 4000 - 28);
  // A last fragment, then a fragment beyond it.
  t.burst(0, {frag(t, d, 1480, 1480, false), frag(t, d, 2960, 80, true)});
  EXPECT_EQ(t.dp(dp_counter::drop_frag_discarded), 2u);
  // Two last fragments ending in different places.
  t.burst(0, {frag(t, d, 1480, 1480, false), frag(t, d, 1480, 1000, false)});
  EXPECT_EQ(t.dp(dp_counter::drop_frag_discarded), 4u);
  // A non-last fragment shorter than 8 bytes carries nothing.
  t.burst(0, {frag(t, d, 0, 7, true)});
  EXPECT_EQ(t.dp(dp_counter::drop_frag_discarded), 5u);
  EXPECT_EQ(t.dp(dp_counter::reasm_fails), 3u);
  EXPECT_EQ(t.w->defrag->mem, 0u);
}

TEST(Defrag, RefragmentsNoLargerThanTheLargestFragmentReceived) {
  test_gateway t(ct_config());
  datagram d = make_datagram(dns_reply(), 3000);
  t.burst(0, cut(t, d, 552));  // 576-byte fragments, as an old path would make
  auto got = sent_ip(t);
  ASSERT_EQ(got.size(), 6u);
  for (auto& f : got) EXPECT_LE(f.total, 576u);
  EXPECT_EQ(joined(got), payload_of(d));
}

TEST(Defrag, DfFragmentsTooBigForTheNextHopGetFragmentationNeeded) {
  gateway_config c = ct_config();
  c.ports[1].mtu = 1280;
  test_gateway t(c);
  t.gw->ports[1].mtu = 1280;
  datagram d = make_datagram(dns_reply(), 3000);
  t.burst(0, cut(t, d, 1480, true));
  ASSERT_EQ(t.sent.size(), 1u);  // the ICMP error, to the sender
  EXPECT_EQ(t.sent[0].first, 0);
  EXPECT_EQ(t.dp(dp_counter::drop_mtu_exceeded), 1u);
  EXPECT_EQ(t.dp(dp_counter::icmp_error_sent), 1u);
  // Fragments that fit go on, cut the same way, DF kept.
  t.clear_sent();
  datagram d2 = make_datagram(dns_reply(), 3000);
  t.burst(0, cut(t, d2, 1200, true));
  auto got = sent_ip(t);
  ASSERT_EQ(got.size(), 3u);
  for (auto& f : got) {
    EXPECT_TRUE(f.df);
    EXPECT_LE(f.total, 1220u);
  }
  EXPECT_EQ(joined(got), payload_of(d2));
}

TEST(Defrag, OversizedDatagramIsDropped) {
  test_gateway t(ct_config());
  datagram d = make_datagram(dns_reply(), 65400);
  std::vector<rte_mbuf*> f;
  for (size_t off = 0; off < 64800; off += 1480) f.push_back(frag(t, d, off, 1480, true));
  // The last fragment ends past 65535 - 20 (its bytes do not matter).
  rte_mbuf* last = frag(t, d, 0, 1000, false);
  auto* ip = rte_pktmbuf_mtod_offset(last, rte_ipv4_hdr*, 14);
  ip->fragment_offset = rte_cpu_to_be_16(static_cast<uint16_t>(f.size() * 1480 / 8));
  ip->hdr_checksum = 0;
  ip->hdr_checksum = ipv4_hdr_cksum(ip);
  f.push_back(last);
  const unsigned before =
      rte_mempool_avail_count(t.gw->mbuf_pool) + static_cast<unsigned>(f.size());
  t.burst(0, f);
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.dp(dp_counter::drop_frag_oversize), f.size());
  EXPECT_EQ(rte_mempool_avail_count(t.gw->mbuf_pool), before);
}

TEST(Defrag, EcnNotEctMixedWithCeIsDroppedAndCeIsKept) {
  test_gateway t(ct_config());
  datagram d = make_datagram(dns_reply(), 2000);
  t.burst(0, {frag(t, d, 0, 1480, true, false, 0),
              frag(t, d, 1480, d.ip_payload() - 1480, false, false, 3)});
  EXPECT_EQ(t.dp(dp_counter::drop_frag_ecn), 2u);
  EXPECT_TRUE(t.sent.empty());
  // ECT(0) and CE: the datagram is CE.
  t.burst(0, {frag(t, d, 0, 1480, true, false, 2),
              frag(t, d, 1480, d.ip_payload() - 1480, false, false, 3)});
  ASSERT_EQ(t.sent.size(), 2u);
  for (auto& [port, m] : t.sent)
    EXPECT_EQ(rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, 14)->type_of_service & 3, 3);
}

TEST(Defrag, MemoryIsBoundedAndEverythingIsFreedOnTimeout) {
  gateway_config c = ct_config();
  c.ipfrag.high_thresh = 64 * 1024;
  test_gateway t(c);
  const unsigned before = rte_mempool_avail_count(t.gw->mbuf_pool);
  datagram d = make_datagram(dns_reply(), 3000);
  // A flood of first fragments, each of a new datagram (new IP id).
  std::vector<rte_mbuf*> flood;
  for (int i = 0; i < 200; i++) {
    rte_mbuf* m = frag(t, d, 0, 1480, true);
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
    ip->packet_id = rte_cpu_to_be_16(static_cast<uint16_t>(i));
    ip->hdr_checksum = 0;
    ip->hdr_checksum = ipv4_hdr_cksum(ip);
    flood.push_back(m);
  }
  t.burst(0, flood);
  const defrag_table& st = *t.w->defrag;
  const uint32_t one = static_cast<uint32_t>(sizeof(rte_mbuf)) + k_pkt_priv_size +
                       RTE_MBUF_DEFAULT_BUF_SIZE + static_cast<uint32_t>(sizeof(defrag_queue));
  EXPECT_LE(st.mem, c.ipfrag.high_thresh + one);
  EXPECT_GT(st.held_frags, 0u);
  EXPECT_EQ(st.held_frags + t.dp(dp_counter::drop_frag_mem), 200u);
  EXPECT_EQ(before - rte_mempool_avail_count(t.gw->mbuf_pool), st.held_frags);
  // Nothing new while over the bound; everything back after ipfrag_time.
  t.w->now_ms += c.ipfrag.time_ms;
  t.tick();
  EXPECT_EQ(st.held_frags, 0u);
  EXPECT_EQ(st.mem, 0u);
  EXPECT_EQ(rte_mempool_avail_count(t.gw->mbuf_pool), before);
  EXPECT_EQ(t.dp(dp_counter::reasm_timeout), 200u - t.dp(dp_counter::drop_frag_mem));
}

TEST(Defrag, TheTimerStartsWithTheFirstFragmentAndIsNotPushedBack) {
  test_gateway t(ct_config());
  datagram d = make_datagram(dns_reply(), 4000 - 28);
  t.burst(0, {frag(t, d, 0, 1480, true)});
  t.w->now_ms += t.gw->cfg.ipfrag.time_ms - 1;
  t.burst(0, {frag(t, d, 1480, 1480, true)});
  t.w->now_ms += 1;
  // Expired now: the last fragment starts over, alone.
  t.burst(0, {frag(t, d, 2960, d.ip_payload() - 2960, false)});
  EXPECT_TRUE(t.sent.empty());
  EXPECT_EQ(t.dp(dp_counter::reasm_timeout), 1u);
  EXPECT_EQ(t.dp(dp_counter::drop_frag_timeout), 2u);
}

TEST(Defrag, FragmentedEchoToTheGatewayIsAnsweredInFragments) {
  test_gateway t(ct_config());
  pkt_spec s;
  s.src = ip("10.0.1.2");
  s.dst = ip("10.0.1.1");
  s.proto = IPPROTO_ICMP;
  s.icmp_type = 8;
  s.icmp_id = 7;
  s.ip_id = 99;
  datagram d = make_datagram(s, 3000);
  t.burst(0, cut(t, d, 1480));
  auto got = sent_ip(t);
  ASSERT_EQ(got.size(), 3u);
  std::vector<uint8_t> reply = joined(got);
  ASSERT_EQ(reply.size(), d.ip_payload());
  EXPECT_EQ(reply[0], 0);  // echo reply
  EXPECT_EQ(cksum_fold(cksum_add(0, reply.data(), reply.size())), 0xffff);
  EXPECT_TRUE(std::equal(reply.begin() + 8, reply.end(), d.frame.begin() + 42));
}

TEST(Defrag, WithoutConntrackFragmentsPassUntouched) {
  // Linux loads nf_defrag_ipv4 with conntrack only; a stateless gateway
  // forwards fragments as they are.
  test_gateway t;
  datagram d = make_datagram(dns_reply(), 4000 - 28);
  t.burst(0, cut(t, d, 1480));
  EXPECT_EQ(t.sent.size(), 3u);
  EXPECT_EQ(t.dp(dp_counter::reasm_reqds), 0u);
}

TEST(Defrag, DfClearPacketsOverTheMtuAreFragmented) {
  gateway_config c = default_config();
  c.ports[1].mtu = 1280;
  test_gateway t(c);
  t.gw->ports[1].mtu = 1280;
  pkt_spec s = udp("10.0.1.2", 1000, "10.0.2.2", 2000);
  s.ip_id = 77;
  datagram d = make_datagram(s, 1472);
  t.burst(0, {frag(t, d, 0, d.ip_payload(), false)});
  auto got = sent_ip(t);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].total, 20u + 1256);
  EXPECT_TRUE(got[0].more);
  EXPECT_FALSE(got[1].more);
  EXPECT_EQ(got[1].offset, 1256u);
  EXPECT_EQ(joined(got), payload_of(d));
}

// ---- two workers (docs/design/fragments.md, "Fragments and workers") ----

// The in-process gateway with two workers, both driven from this thread.
struct two_workers {
  explicit two_workers(gateway_config c) : t((c.workers = 2, c)) {
    for (worker_ctx* w : t.gw->workers) {
      w->tx_sink = t.w->tx_sink;
      w->tx_sink_arg = t.w->tx_sink_arg;
      w->now_ms = t.w->now_ms;
    }
  }
  void burst(uint16_t wid, uint16_t port, std::vector<rte_mbuf*> pkts) {
    worker_ctx& w = *t.gw->workers[wid];
    rte_rcu_qsbr_thread_online(t.gw->qs, wid);
    sync_clock_from_ms(w);
    process_burst(w, port, pkts.data(), static_cast<uint16_t>(pkts.size()));
    stage_tx_flush(w);
    ct::ct_housekeeping(w.ct, w.now_ms, 1u << 20);
    rte_rcu_qsbr_quiescent(t.gw->qs, wid);
    rte_rcu_qsbr_thread_offline(t.gw->qs, wid);
  }
  uint64_t ct_counter(uint16_t wid, ct::ct_counter c) const {
    return t.gw->workers[wid]->ct.counters.get(c);
  }
  uint64_t dp(uint16_t wid, dp_counter c) const { return t.gw->workers[wid]->counters.get(c); }
  test_gateway t;
};

// The queue a device with ctgate's RSS plan picks: Toeplitz with the
// symmetric key over the addresses only (every IPv4 packet, fragments
// included), through the default redirection table (entry i -> queue i % 2).
uint16_t rss_queue(uint32_t src, uint32_t dst) {
  static const std::vector<uint8_t> key = symmetric_rss_key(k_default_rss_key_len);
  uint32_t tuple[2] = {src, dst};
  return static_cast<uint16_t>((rte_softrss(tuple, 2, key.data()) & 127) % 2);
}

// A client behind lan whose pair with the server hashes to worker 1 (so
// worker 0 would be the wrong one).
uint32_t client_on_worker1() {
  for (int h = 2; h < 40; h++) {
    uint32_t c = ip(("10.0.1." + std::to_string(h)).c_str());
    if (rss_queue(c, ip("10.0.2.2")) == 1) return c;
  }
  return 0;
}

struct tcp_flow_packets {
  std::vector<pkt_spec> handshake;  // SYN, SYN-ACK, ACK
  pkt_spec data;                    // 2,000 bytes, sent in fragments
};

tcp_flow_packets tcp_flow(uint32_t client) {
  auto at = [&](pkt_spec s) {
    if (s.src == ip("10.0.1.2")) s.src = client;
    if (s.dst == ip("10.0.1.2")) s.dst = client;
    return s;
  };
  pkt_spec syn = at(tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_SYN));
  syn.seq = 1000;
  pkt_spec synack = at(tcp("10.0.2.2", 80, "10.0.1.2", 40000, TCPF_SYN | TCPF_ACK));
  synack.seq = 5000;
  synack.ack = 1001;
  pkt_spec ack = at(tcp("10.0.1.2", 40000, "10.0.2.2", 80, TCPF_ACK));
  ack.seq = 1001;
  ack.ack = 5001;
  pkt_spec data = ack;
  data.tcp_flags = TCPF_ACK | TCPF_PSH;
  data.ip_id = 4242;
  return {{syn, synack, ack}, data};
}

TEST(Defrag, TwoWorkersAddressHashKeepsADatagramWithItsFlow) {
  // The design: every packet of the flow, both directions and the
  // fragments, hashes to one queue, so one worker owns and tracks all of it.
  two_workers tw(ct_config());
  const uint32_t client = client_on_worker1();
  ASSERT_NE(client, 0u);
  tcp_flow_packets f = tcp_flow(client);
  for (const pkt_spec& s : f.handshake) {
    ASSERT_EQ(rss_queue(s.src, s.dst), 1);
    tw.burst(1, s.src == client ? 0 : 1, {tw.t.make(s)});
  }
  datagram d = make_datagram(f.data, 2000);
  ASSERT_EQ(rss_queue(f.data.src, f.data.dst), 1);  // a fragment: addresses only, same queue
  tw.burst(1, 0, cut(tw.t, d, 1480));
  EXPECT_EQ(tw.dp(1, dp_counter::reasm_oks), 1u);
  EXPECT_EQ(tw.dp(0, dp_counter::reasm_reqds), 0u);
  // The window tracker saw the reassembled segment on the owner.
  EXPECT_EQ(tw.ct_counter(1, ct::ct_counter::tcp_window_not_owner), 0u);
  EXPECT_EQ(tw.ct_counter(0, ct::ct_counter::tcp_window_not_owner), 0u);
  auto lines = tw.t.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("ESTABLISHED"), std::string::npos) << lines[0];
  EXPECT_EQ(tw.t.sent.size(), 3u + 2u);  // the handshake, then the segment in two fragments
}

TEST(Defrag, TwoWorkersFallbackTracksADatagramOnAnotherWorker) {
  // A device that hashes ports for TCP (and not for fragments) sends the
  // flow to one worker and its fragmented segment to the other. The shared
  // table still tracks it: established, no new entry, window left alone.
  gateway_config c = ct_config();
  two_workers tw(c);
  ASSERT_TRUE(load_ruleset_text(*tw.t.gw,
                                "table ip f { chain fwd { type filter hook forward priority 0; "
                                "policy drop; ct state established accept; "
                                "tcp flags syn ct state new accept; } }",
                                "fw.nft"));
  const uint32_t client = client_on_worker1();
  tcp_flow_packets f = tcp_flow(client);
  for (const pkt_spec& s : f.handshake) tw.burst(1, s.src == client ? 0 : 1, {tw.t.make(s)});
  tw.t.clear_sent();
  datagram d = make_datagram(f.data, 2000);
  tw.burst(0, 0, cut(tw.t, d, 1480));
  EXPECT_EQ(tw.dp(0, dp_counter::reasm_oks), 1u);
  EXPECT_EQ(tw.ct_counter(0, ct::ct_counter::tcp_window_not_owner), 1u);
  EXPECT_EQ(tw.ct_counter(0, ct::ct_counter::new_), 0u);
  EXPECT_EQ(tw.t.sent.size(), 2u);  // passed "ct state established", in two fragments
  EXPECT_EQ(tw.t.conntrack_lines().size(), 1u);
}

// A translated flow's datagram reassembled on the worker that does not own the flow is handed
// to the owner, and still leaves cut to the largest fragment it came in (it fits the MTU).
TEST(Defrag, TwoWorkersHandedOffDatagramLeavesInFragments) {
  two_workers tw(ct_config());
  ASSERT_TRUE(load_ruleset_text(*tw.t.gw,
                                "table ip nat { chain post { type nat hook postrouting priority "
                                "srcnat; oifname \"wan\" snat to 10.0.2.1; } }",
                                "nat.nft"));
  tw.burst(0, 0, {tw.t.make(udp("10.0.1.2", 40000, "10.0.2.2", 53))});  // worker 0 owns it
  ASSERT_EQ(tw.t.sent.size(), 1u);
  tw.t.clear_sent();
  pkt_spec s = udp("10.0.2.2", 53, "10.0.2.1", 40000);
  s.ip_id = 0x2345;
  datagram d = make_datagram(s, 1000);
  tw.burst(1, 1, cut(tw.t, d, 552));
  EXPECT_EQ(tw.dp(1, dp_counter::reasm_oks), 1u);
  EXPECT_EQ(tw.ct_counter(1, ct::ct_counter::handoff), 1u);
  EXPECT_TRUE(tw.t.sent.empty());
  worker_ctx& w0 = *tw.t.gw->workers[0];
  rte_rcu_qsbr_thread_online(tw.t.gw->qs, 0);
  EXPECT_EQ(process_handoffs(w0, 32), 1u);
  stage_tx_flush(w0);
  rte_rcu_qsbr_quiescent(tw.t.gw->qs, 0);
  rte_rcu_qsbr_thread_offline(tw.t.gw->qs, 0);
  auto got = sent_ip(tw.t);
  ASSERT_EQ(got.size(), 2u);
  size_t payload = 0;
  for (auto& f : got) {
    EXPECT_EQ(f.port, 0);
    EXPECT_LE(f.total, 576u);
    EXPECT_TRUE(f.csum_ok);
    payload += f.payload.size();
  }
  EXPECT_EQ(payload, d.ip_payload());
}

}  // namespace
}  // namespace ctgate::test
