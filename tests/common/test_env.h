// Shared test fixtures: EAL for in-process tests, and a gateway with no
// ethdev ports whose TX goes to a capture sink, driven one burst at a time
// by the test thread acting as worker 0.
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "conntrack/ct_format.h"
#include "control/gateway.h"
#include "control/ruleset_runtime.h"
#include "dataplane/defrag.h"
#include "dataplane/stages.h"
#include "packet/build.h"
#include "synproxy/synproxy.h"

namespace ctgate::test {

// Initialises EAL once per test binary (no hugepages, no PCI, own prefix).
class eal_environment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string prefix = "--file-prefix=ctgate-ut-" + std::to_string(getpid());
    std::vector<std::string> args = {
        "test", "--no-huge", "-m", "1024", "--no-pci", prefix, "--log-level=lib.*:error",
        "-l",   "0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
  }
  // EAL leaves its runtime directory (/var/run/dpdk/<prefix>) behind: one
  // per test process, so remove it.
  void TearDown() override {
    std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all(runtime_dir, ec);
  }
};

inline uint32_t ip(const char* s) {
  uint32_t v = 0;
  parse_ipv4(s, &v);
  return v;
}

inline mac_addr mac(uint8_t last) {
  mac_addr m;
  m.b[0] = 0x02;
  m.b[5] = last;
  return m;
}

// lan 10.0.1.1/24 (hosts .2 .3 ...), wan 10.0.2.1/24 (server 10.0.2.2),
// every test host a static neighbor so no ARP is needed.
inline gateway_config default_config() {
  gateway_config c;
  c.source_file = "test.yaml";
  c.workers = 1;
  c.mbufs = 4096;
  port_config lan, wan;
  lan.name = "lan";
  lan.address = {ip("10.0.1.1"), 24};
  wan.name = "wan";
  wan.address = {ip("10.0.2.1"), 24};
  c.ports = {lan, wan};
  for (int h = 2; h < 40; h++) {
    c.neighbors.push_back({ip(("10.0.1." + std::to_string(h)).c_str()),
                           "02:00:00:00:01:" + std::to_string(10 + h), "lan", 0});
    c.neighbors.push_back({ip(("10.0.2." + std::to_string(h)).c_str()),
                           "02:00:00:00:02:" + std::to_string(10 + h), "wan", 0});
  }
  c.conntrack.max = 1024;
  return c;
}

class test_gateway {
 public:
  explicit test_gateway(const gateway_config& cfg = default_config()) {
    static int seq = 0;
    result<std::unique_ptr<gateway>> made = gateway_create(cfg, "t" + std::to_string(seq++));
    EXPECT_TRUE(made) << made.error().to_string();
    gw = (*made).release();
    w = gw->workers[0];
    w->tx_sink = &test_gateway::sink;
    w->tx_sink_arg = this;
    w->now_ms = 1000;
    for (size_t i = 0; i < gw->ports.size(); i++)
      set_port_mac(gw->ports[i], mac(static_cast<uint8_t>(0xa0 + i)).b);
  }
  ~test_gateway() {
    clear_sent();
    delete gw;
  }
  test_gateway(const test_gateway&) = delete;
  test_gateway& operator=(const test_gateway&) = delete;

  // One burst on `port`, as the worker would run it, then a quiescent point.
  // The test thread is an RCU reader only while it runs a burst, so control
  // calls made between bursts (hook registration) never wait on it.
  void burst(uint16_t port, std::vector<rte_mbuf*> pkts) {
    rte_rcu_qsbr_thread_online(gw->qs, 0);
    // An empty burst still runs: what the worker does between packets
    // (neighbour retries, generated packets) happens there.
    if (pkts.empty()) {
      sync_clock_from_ms(*w);
      process_burst(*w, port, nullptr, 0);
      stage_tx_flush(*w);
    }
    for (size_t off = 0; off < pkts.size(); off += 32) {
      uint16_t n = static_cast<uint16_t>(std::min<size_t>(32, pkts.size() - off));
      sync_clock_from_ms(*w);
      process_burst(*w, port, pkts.data() + off, n);
      stage_tx_flush(*w);
    }
    ct::ct_housekeeping(w->ct, w->now_ms, 1u << 20);
    defrag_tick(*w, 1u << 20);
    stage_tx_flush(*w);
    rte_rcu_qsbr_quiescent(gw->qs, 0);
    rte_rcu_qsbr_thread_offline(gw->qs, 0);
  }
  void send(uint16_t port, const pkt_spec& s) { burst(port, {make(s)}); }

  // Another worker (of a config with several), sending to this one's sink on its clock.
  worker_ctx& other_worker(uint16_t i) {
    worker_ctx& o = *gw->workers[i];
    o.tx_sink = w->tx_sink;
    o.tx_sink_arg = w->tx_sink_arg;
    o.now_ms = w->now_ms;
    return o;
  }
  // One packet through worker `o`'s burst, as its loop would run it, then its quiescent point.
  void burst_on(worker_ctx& o, uint16_t port, rte_mbuf* m) {
    rte_rcu_qsbr_thread_online(gw->qs, o.id);
    sync_clock_from_ms(o);
    process_burst(o, port, &m, 1);
    stage_tx_flush(o);
    rte_rcu_qsbr_quiescent(gw->qs, o.id);
    rte_rcu_qsbr_thread_offline(gw->qs, o.id);
  }
  // Worker 0's loop taking what other workers handed it (conntrack's hand-off ring). Returns
  // how many it took.
  uint16_t take_handoffs() {
    rte_rcu_qsbr_thread_online(gw->qs, 0);
    const uint16_t n = process_handoffs(*w, 32);
    stage_tx_flush(*w);
    rte_rcu_qsbr_quiescent(gw->qs, 0);
    rte_rcu_qsbr_thread_offline(gw->qs, 0);
    return n;
  }
  // Housekeeping only (expiry) at the current w->now_ms.
  void tick() { burst(0, {}); }

  rte_mbuf* make(const pkt_spec& s) {
    rte_mbuf* m = rte_pktmbuf_alloc(gw->mbuf_pool);
    size_t len = build_frame(s, rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m));
    m->data_len = m->pkt_len = static_cast<uint32_t>(len);
    return m;
  }

  std::vector<std::string> conntrack_lines() {
    return ct::list_lines(*gw->ct.table, {}, w->now_ms);
  }
  uint64_t ct_counter(ct::ct_counter c) const { return w->ct.counters.get(c); }
  uint64_t dp(dp_counter c) const { return w->counters.get(c); }

  void clear_sent() {
    for (auto& s : sent) rte_pktmbuf_free(s.second);
    sent.clear();
  }

  gateway* gw = nullptr;
  worker_ctx* w = nullptr;
  std::vector<std::pair<uint16_t, rte_mbuf*>> sent;

 private:
  static void sink(void* arg, uint16_t port, rte_mbuf** pkts, uint16_t n) {
    auto* self = static_cast<test_gateway*>(arg);
    for (uint16_t i = 0; i < n; i++) self->sent.emplace_back(port, pkts[i]);
  }
};

inline uint16_t l4_checksum_field(uint8_t proto) { return proto == IPPROTO_TCP ? 16 : 6; }

// Turns a built packet's TCP or UDP segment (IP header at l3, no IPv6 extension header: the
// pseudo sum is DPDK's, from the first header) into what a virtio guest offloading
// its checksum sends: the field holds the pseudo header's sum, not complemented, and the port says
// NONE.
inline void make_partial_checksum(rte_mbuf* m, uint16_t l3) {
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l3);
  uint16_t pseudo, l4_off;
  uint8_t proto;
  if ((ip[0] >> 4) == 4) {
    const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
    pseudo = rte_ipv4_phdr_cksum(h, 0);
    l4_off = static_cast<uint16_t>(l3 + (h->version_ihl & 0xf) * 4);
    proto = h->next_proto_id;
  } else {
    const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(ip);
    pseudo = rte_ipv6_phdr_cksum(h, 0);
    l4_off = static_cast<uint16_t>(l3 + sizeof(rte_ipv6_hdr));
    proto = h->proto;
  }
  std::memcpy(rte_pktmbuf_mtod_offset(m, uint8_t*, l4_off + l4_checksum_field(proto)), &pseudo, 2);
  m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
}

// A TCP segment from `src:sport` to `dst:dport`.
inline pkt_spec tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                    uint8_t flags) {
  pkt_spec s;
  s.src = ip(src);
  s.dst = ip(dst);
  s.proto = IPPROTO_TCP;
  s.sport = sport;
  s.dport = dport;
  s.tcp_flags = flags;
  return s;
}

inline pkt_spec udp(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  pkt_spec s = tcp(src, sport, dst, dport, 0);
  s.proto = IPPROTO_UDP;
  return s;
}

// An ICMP echo request (ping) with `payload_len` bytes of data.
inline pkt_spec echo_request(const char* src, const char* dst, uint16_t payload_len = 8) {
  pkt_spec s;
  s.src = ip(src);
  s.dst = ip(dst);
  s.proto = IPPROTO_ICMP;
  s.icmp_type = 8;
  s.payload_len = payload_len;
  return s;
}

// A hook callback that counts packets (like an iptables rule with no target).
struct counting_hook {
  uint64_t packets = 0;
  static uint16_t fn(const hook_entry& e, worker_ctx&, rte_mbuf**, uint16_t n, verdict*) {
    static_cast<counting_hook*>(e.priv)->packets += n;
    return 0;
  }
};

// Drops TCP packets to one destination port (`tcp dport N drop`) and counts.
struct drop_dport_hook {
  uint16_t dport = 0;
  uint64_t dropped = 0;
  static uint16_t fn(const hook_entry& e, worker_ctx&, rte_mbuf** pkts, uint16_t n, verdict* v) {
    auto* self = static_cast<drop_dport_hook*>(e.priv);
    uint16_t rejected = 0;
    for (uint16_t i = 0; i < n; i++) {
      const pkt_meta* m = meta_of(pkts[i]);
      if (m->l4.proto == IPPROTO_TCP && ntohs(m->dport) == self->dport) {
        v[i] = verdict::drop;
        rejected++;
      }
    }
    self->dropped += rejected;
    return rejected;
  }
};

}  // namespace ctgate::test
