// ctgate-gen: a DPDK traffic generator for the forwarding benchmark.
//
//   ctgate-gen [options] [-- EAL arguments]
//
// It runs as its own DPDK process, normally on two net_memif client ports
// facing the forwarder under test (testpmd, ctgate, OVS). One worker lcore
// transmits on --tx-port and receives on --rx-port; the main lcore prints
// progress once a second. Frames come from a ring of prebuilt templates, one
// per flow (flows differ in source IP and source port), copied into freshly
// allocated mbufs burst by burst.
//
// Output: progress lines on stderr, then one line on stdout:
//   gen: sent=N received=M seconds=S tx_mpps=X rx_mpps=Y gen_cpu=G [fwd_cpu=F ...]
// counted over the measurement window only (after --warmup). gen_cpu/fwd_cpu
// are the shares of the window this worker and the --peer-tid thread spent on
// a CPU: on a shared host they tell a disturbed run from a slow forwarder.
//
// Without EAL arguments it uses the defaults of bench/run_fwd_bench.sh (see
// k_default_eal below).
#include <gflags/gflags.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/flag_names.h"
#include "config/config.h"
#include "packet/build.h"

DEFINE_uint32(tx_port, 0, "ethdev port index to transmit on");
DEFINE_uint32(rx_port, 1, "ethdev port index to count received packets on");
DEFINE_uint32(flows, 1024, "distinct 5-tuples, 1..16777216 (source IP and source port vary)");
DEFINE_string(proto, "udp", "udp or tcp");
DEFINE_bool(tcp_syn, false, "tcp: send SYNs instead of ACKs");
DEFINE_uint32(size, 64, "frame size on the wire in bytes, FCS included (64..1518)");
DEFINE_double(seconds, 10, "length of the measurement window in seconds");
DEFINE_double(warmup, 1, "seconds of traffic before the window (not counted)");
DEFINE_uint64(rate_pps, 0, "cap on the transmit rate in packets/s (0: as fast as possible)");
DEFINE_string(src_mac, "02:00:00:00:00:01", "source MAC of generated frames");
DEFINE_string(dst_mac, "02:00:00:00:01:01", "destination MAC of generated frames");
DEFINE_uint32(macs, 0,
              "bridge benches: flow i goes from --src-mac + i % N to --dst-mac + i % N (the "
              "low 24 bits), and before the warm-up each destination announces itself with a "
              "broadcast from --rx-port, so a switch learns where it is (0: fixed MACs)");
DEFINE_string(src_ip, "10.1.1.0", "base source IP; flow i adds i % 4096 to it");
DEFINE_string(dst_ip, "198.18.0.10", "destination IP (same for every flow)");
DEFINE_uint32(src_port, 1024, "base source port; flow i adds i / 4096 to it");
DEFINE_uint32(dst_port, 9, "destination port");
DEFINE_uint32(burst, 32, "packets per tx burst, 1..64");
DEFINE_uint32(mbufs, 16383, "mbuf pool size");
DEFINE_uint32(queues, 1,
              "queue pairs per port; tx uses queue 0, rx polls all (OVS answers on queue 1)");
DEFINE_int32(peer_tid, 0,
             "thread id of the forwarder's polling thread: report how much CPU it got in the "
             "window (from /proc/TID/schedstat), so a disturbed run can be told apart");
DEFINE_double(churn, 0,
              "share of packets (0..1) whose flow is first replaced by a new one (a new "
              "source port): R pps make R*churn new flows/s, each living a geometric number "
              "of turns of the flow ring (soak tests)");
DEFINE_uint32(link_wait_ms, 10000, "how long to wait for both ports' links to come up");
DEFINE_bool(hold_until_stdin_eof, false,
            "after printing the result, keep the ports open until stdin is closed, so that "
            "the peer can be stopped first (docs/reliability.md, Faults: memif peer disconnects)");

namespace {

constexpr uint32_t k_max_flows = 16u << 20;
constexpr uint32_t k_ips = 4096;  // source IPs per source port (see --src-ip)
constexpr uint16_t k_max_burst = 64;

// clang-format off
const char* const k_default_eal[] = {
    "--no-pci",  "--file-prefix", "ctgate-gen", "--lcores", "0@1,1@0", "-m", "256",
    "--vdev",    "net_memif0,role=client,socket=/tmp/ctg-bench-0.sock,socket-abstract=no",
    "--vdev",    "net_memif1,role=client,socket=/tmp/ctg-bench-1.sock,socket-abstract=no",
};
// clang-format on

// Written by the worker, read by the main lcore (relaxed: progress only).
struct gen_stats {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> other_rx{0};  // frames arriving on the tx port (e.g. ARP from the DUT)
  std::atomic<uint64_t> alloc_fail{0};
  // Snapshots at the window edges, and the window's length in TSC cycles.
  uint64_t sent_at_start = 0, received_at_start = 0;
  uint64_t sent_at_end = 0, received_at_end = 0;
  uint64_t window_cycles = 0;
  // CPU time (ns, from schedstat) of the generator's worker and of the peer
  // forwarder thread over the window; -1 when unknown.
  int64_t self_cpu_ns = -1, peer_cpu_ns = -1;
  std::atomic<bool> measuring{false};
  std::atomic<bool> done{false};
};

struct gen_ctx {
  uint16_t tx_port = 0;
  uint16_t rx_port = 0;
  uint16_t burst = 32;
  uint16_t queues = 1;
  rte_mempool* pool = nullptr;
  std::vector<uint8_t> templates;  // flows * stride bytes
  uint32_t flows = 0;
  uint32_t stride = 0;
  uint16_t frame_len = 0;
  uint64_t rate_pps = 0;
  uint32_t churn_threshold = 0;  // a packet's flow is replaced when rand32 < this
  uint16_t l4_csum_off = 0;      // offset of the L4 checksum in a template
  uint64_t warmup_cycles = 0;
  uint64_t window_cycles = 0;
  int peer_tid = 0;
  gen_stats st;
};

// A MAC plus n in its low 24 bits (--macs).
ctgate::mac_addr mac_plus(ctgate::mac_addr m, uint32_t n) {
  const uint32_t low = ((uint32_t{m.b[3]} << 16 | uint32_t{m.b[4]} << 8 | m.b[5]) + n) & 0xffffff;
  m.b[3] = static_cast<uint8_t>(low >> 16);
  m.b[4] = static_cast<uint8_t>(low >> 8);
  m.b[5] = static_cast<uint8_t>(low);
  return m;
}

// --macs: one broadcast from each destination MAC, out of the receiving port, so that a
// learning switch knows every destination before the first measured frame. Bounded: a minute
// of retries while the ring is full (OVS learns each new MAC in its slow path: 100,000 take it
// tens of seconds).
bool announce_macs(const gen_ctx& g, std::string* err) {
  ctgate::mac_addr base;
  ctgate::parse_mac(FLAGS_dst_mac, base.b);
  const uint64_t deadline = rte_get_tsc_cycles() + 60 * rte_get_tsc_hz();
  for (uint32_t i = 0; i < FLAGS_macs;) {
    rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
    if (m == nullptr) {
      *err = "announce: mbuf pool empty";
      return false;
    }
    auto* f = rte_pktmbuf_mtod(m, uint8_t*);
    std::memset(f, 0, 60);
    std::memset(f, 0xff, 6);
    const ctgate::mac_addr src = mac_plus(base, i);
    std::memcpy(f + 6, src.b, 6);
    f[12] = 0x88;  // IEEE local experimental EtherType: nothing routes it
    f[13] = 0xb5;
    m->data_len = m->pkt_len = 60;
    if (rte_eth_tx_burst(g.rx_port, 0, &m, 1) == 1) {
      i++;
      continue;
    }
    rte_pktmbuf_free(m);
    if (rte_get_tsc_cycles() > deadline) {
      *err = "announce: the port took " + std::to_string(i) + " of " + std::to_string(FLAGS_macs) +
             " frames in 60 s";
      return false;
    }
    rte_pause();
  }
  return true;
}

bool build_templates(gen_ctx& g, std::string* err) {
  ctgate::pkt_spec s;
  if (!ctgate::parse_mac(FLAGS_src_mac, s.src_mac.b) ||
      !ctgate::parse_mac(FLAGS_dst_mac, s.dst_mac.b)) {
    *err = "bad --src-mac/--dst-mac";
    return false;
  }
  uint32_t src_base = 0;
  if (!ctgate::parse_ipv4(FLAGS_src_ip, &src_base) || !ctgate::parse_ipv4(FLAGS_dst_ip, &s.dst)) {
    *err = "bad --src-ip/--dst-ip";
    return false;
  }
  if (FLAGS_proto == "udp") {
    s.proto = IPPROTO_UDP;
  } else if (FLAGS_proto == "tcp") {
    s.proto = IPPROTO_TCP;
    s.tcp_flags = FLAGS_tcp_syn ? 0x02 : 0x10;  // SYN, or ACK (picked up mid-stream)
    s.seq = 1;
    s.ack = FLAGS_tcp_syn ? 0 : 1;
  } else {
    *err = "--proto must be udp or tcp";
    return false;
  }
  if (FLAGS_size < 64 || FLAGS_size > 1518) {
    *err = "--size must be 64..1518";
    return false;
  }
  if (FLAGS_flows < 1 || FLAGS_flows > k_max_flows) {
    *err = "--flows must be 1..16777216";
    return false;
  }
  uint32_t ports_needed = (FLAGS_flows + k_ips - 1) / k_ips;
  if (FLAGS_src_port + ports_needed > 65536) {
    *err = "--src-port leaves too few ports for --flows";
    return false;
  }
  // --size counts the 4-byte FCS the NIC would add; the mbuf carries the rest.
  uint32_t frame = FLAGS_size - 4;
  uint32_t hdrs = 14 + 20 + (s.proto == IPPROTO_TCP ? 20 : 8);
  s.payload_len = static_cast<uint16_t>(frame > hdrs ? frame - hdrs : 0);
  s.dport = static_cast<uint16_t>(FLAGS_dst_port);
  if (FLAGS_churn < 0 || FLAGS_churn > 1) {
    *err = "--churn must be 0..1";
    return false;
  }
  g.churn_threshold = static_cast<uint32_t>(FLAGS_churn * 4294967295.0);
  g.l4_csum_off = s.proto == IPPROTO_TCP ? 14 + 20 + 16 : 14 + 20 + 6;
  g.flows = FLAGS_flows;
  g.frame_len = static_cast<uint16_t>(frame);
  g.stride = (frame + 63) / 64 * 64;  // cache-line aligned copies
  g.templates.assign(static_cast<size_t>(g.flows) * g.stride, 0);
  const ctgate::mac_addr src_mac = s.src_mac, dst_mac = s.dst_mac;
  if (FLAGS_macs != 0) {
    // A source that is also a destination would be learned on the sending port, and frames
    // to it dropped there: the two ranges must not meet.
    auto low = [](const ctgate::mac_addr& m) {
      return uint32_t{m.b[3]} << 16 | uint32_t{m.b[4]} << 8 | m.b[5];
    };
    const bool same_top = std::memcmp(src_mac.b, dst_mac.b, 3) == 0;
    const uint32_t a = low(src_mac), b = low(dst_mac);
    if (FLAGS_macs > 0x1000000 || (same_top && (a < b ? b - a : a - b) < FLAGS_macs)) {
      *err = "--macs: the --src-mac and --dst-mac ranges of " + std::to_string(FLAGS_macs) +
             " overlap (give them different first three bytes)";
      return false;
    }
  }
  for (uint32_t i = 0; i < g.flows; i++) {
    if (FLAGS_macs != 0) {
      s.src_mac = mac_plus(src_mac, i % FLAGS_macs);
      s.dst_mac = mac_plus(dst_mac, i % FLAGS_macs);
    }
    s.src = src_base + i % k_ips;
    s.sport = static_cast<uint16_t>(FLAGS_src_port + i / k_ips);
    size_t len = ctgate::build_frame(s, &g.templates[static_cast<size_t>(i) * g.stride], g.stride);
    if (len != frame) {
      *err = "build_frame returned " + std::to_string(len) + " bytes, expected " +
             std::to_string(frame);
      return false;
    }
  }
  return true;
}

bool port_setup(uint16_t port, uint16_t queues, rte_mempool* pool, std::string* err) {
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(port, queues, queues, &conf);
  int socket = rte_eth_dev_socket_id(port);
  for (uint16_t q = 0; rc == 0 && q < queues; q++) {
    rc = rte_eth_rx_queue_setup(port, q, 1024, socket, nullptr, pool);
    if (rc == 0) rc = rte_eth_tx_queue_setup(port, q, 1024, socket, nullptr);
  }
  if (rc == 0) rc = rte_eth_dev_start(port);
  if (rc != 0) {
    *err = "port " + std::to_string(port) + ": " + rte_strerror(-rc);
    return false;
  }
  return true;
}

// The memif client connects asynchronously: wait until the peer answers.
bool wait_link(uint16_t port, uint32_t timeout_ms) {
  for (uint32_t t = 0; t < timeout_ms; t += 10) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Time a thread has spent on a CPU, in ns (first field of schedstat); -1 if
// unreadable. Read twice per run, outside the packet loop's steady state.
int64_t thread_cpu_ns(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  long long ns = -1;
  if (std::fscanf(f, "%lld", &ns) != 1) ns = -1;
  std::fclose(f);
  return ns;
}

struct cpu_probe {
  std::string self = "/proc/thread-self/schedstat";
  std::string peer;
  int64_t self0 = -1, peer0 = -1;
  void start() {
    self0 = thread_cpu_ns(self.c_str());
    if (!peer.empty()) peer0 = thread_cpu_ns(peer.c_str());
  }
  void stop(gen_stats& st) {
    int64_t s1 = thread_cpu_ns(self.c_str());
    if (self0 >= 0 && s1 >= 0) st.self_cpu_ns = s1 - self0;
    if (!peer.empty()) {
      int64_t p1 = thread_cpu_ns(peer.c_str());
      if (peer0 >= 0 && p1 >= 0) st.peer_cpu_ns = p1 - peer0;
    }
  }
};

uint16_t drain(uint16_t port, uint16_t queues, rte_mbuf** buf) {
  uint16_t total = 0;
  for (uint16_t q = 0; q < queues; q++) {
    uint16_t n = rte_eth_rx_burst(port, q, buf, k_max_burst);
    if (n != 0) rte_pktmbuf_free_bulk(buf, n);
    total = static_cast<uint16_t>(total + n);
  }
  return total;
}

// A new identity for template `t`: another source port, the L4 checksum
// updated incrementally (RFC 1624), so a churning flow is a new 5-tuple.
void renew_flow(gen_ctx& g, uint8_t* t, uint32_t rnd) {
  const size_t sport_off = 14 + 20;
  const uint16_t old_port = static_cast<uint16_t>(t[sport_off] << 8 | t[sport_off + 1]);
  const uint16_t new_port = static_cast<uint16_t>(1024 + rnd % 64512);
  t[sport_off] = static_cast<uint8_t>(new_port >> 8);
  t[sport_off + 1] = static_cast<uint8_t>(new_port);
  uint8_t* c = t + g.l4_csum_off;
  const uint16_t old_csum = static_cast<uint16_t>(c[0] << 8 | c[1]);
  if (old_csum == 0 && g.l4_csum_off == 14 + 20 + 6) return;  // UDP without a checksum
  uint32_t sum = static_cast<uint16_t>(~old_csum) + static_cast<uint16_t>(~old_port) + new_port;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  uint16_t new_csum = static_cast<uint16_t>(~sum);
  if (new_csum == 0 && g.l4_csum_off == 14 + 20 + 6) new_csum = 0xffff;  // 0 means none in UDP
  c[0] = static_cast<uint8_t>(new_csum >> 8);
  c[1] = static_cast<uint8_t>(new_csum);
}

int gen_worker(void* arg) {
  gen_ctx& g = *static_cast<gen_ctx*>(arg);
  gen_stats& st = g.st;
  const uint64_t hz = rte_get_tsc_hz();
  rte_mbuf* tx[k_max_burst];
  rte_mbuf* rx[k_max_burst];
  uint16_t pending = 0;        // mbufs in tx[0..pending) the port did not take yet: resent first
  uint32_t next = 0;           // next template
  uint32_t rng = 0x9e3779b9u;  // xorshift32 for --churn
  uint64_t sent = 0, received = 0, other = 0;
  const uint64_t t0 = rte_rdtsc();
  const uint64_t t_start = t0 + g.warmup_cycles;
  const uint64_t t_end = t_start + g.window_cycles;
  bool measuring = false;
  uint64_t rate_base = t0, rate_sent = 0;
  cpu_probe cpu;
  if (g.peer_tid > 0) cpu.peer = "/proc/" + std::to_string(g.peer_tid) + "/schedstat";

  for (;;) {
    uint64_t now = rte_rdtsc();
    if (!measuring && now >= t_start) {
      measuring = true;
      cpu.start();
      st.sent_at_start = sent;
      st.received_at_start = received;
      st.measuring.store(true, std::memory_order_release);
    }
    if (now >= t_end) break;

    uint16_t want = g.burst;
    if (g.rate_pps != 0) {
      uint64_t allowed = (now - rate_base) * g.rate_pps / hz;
      want = allowed > rate_sent
                 ? static_cast<uint16_t>(std::min<uint64_t>(allowed - rate_sent, g.burst))
                 : 0;
    }
    if (want > pending) {
      uint16_t add = static_cast<uint16_t>(want - pending);
      if (rte_pktmbuf_alloc_bulk(g.pool, tx + pending, add) == 0) {
        for (uint16_t i = pending; i < want; i++) {
          rte_mbuf* m = tx[i];
          uint8_t* t = &g.templates[static_cast<size_t>(next) * g.stride];
          if (g.churn_threshold != 0) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            if (rng < g.churn_threshold) renew_flow(g, t, rng * 2654435761u);
          }
          std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), t, g.frame_len);
          m->data_len = g.frame_len;
          m->pkt_len = g.frame_len;
          if (++next == g.flows) next = 0;
        }
        pending = want;
      } else {
        st.alloc_fail.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (pending > 0) {
      uint16_t n = rte_eth_tx_burst(g.tx_port, 0, tx, pending);
      if (n > 0 && n < pending) std::memmove(tx, tx + n, (pending - n) * sizeof(tx[0]));
      pending = static_cast<uint16_t>(pending - n);
      sent += n;
      rate_sent += n;
    }
    received += drain(g.rx_port, g.queues, rx);
    if (g.tx_port != g.rx_port) other += drain(g.tx_port, g.queues, rx);
    st.sent.store(sent, std::memory_order_relaxed);
    st.received.store(received, std::memory_order_relaxed);
  }
  cpu.stop(st);
  st.sent_at_end = sent;
  st.received_at_end = received;
  st.window_cycles = g.window_cycles;
  if (pending > 0) rte_pktmbuf_free_bulk(tx, pending);
  // Let in-flight frames arrive so the forwarder's rings are left empty;
  // they are not counted.
  uint64_t stop = rte_rdtsc() + hz / 10;
  while (rte_rdtsc() < stop) {
    drain(g.rx_port, g.queues, rx);
    drain(g.tx_port, g.queues, rx);
  }
  st.other_rx.store(other, std::memory_order_relaxed);
  st.done.store(true, std::memory_order_release);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Our flags before "--", EAL's after it (as testpmd, reversed).
  int split = argc;
  for (int i = 1; i < argc; i++)
    if (std::strcmp(argv[i], "--") == 0) {
      split = i;
      break;
    }
  std::vector<char*> eal_argv = {argv[0]};
  if (split < argc) {
    for (int i = split + 1; i < argc; i++) eal_argv.push_back(argv[i]);
  } else {
    for (const char* a : k_default_eal) eal_argv.push_back(const_cast<char*>(a));
  }
  int gargc = split;
  ctgate::normalize_flag_names(gargc, argv);
  gflags::SetUsageMessage("ctgate-gen [options] [-- EAL arguments]; see docs/bench.md");
  gflags::ParseCommandLineFlags(&gargc, &argv, false);
  if (FLAGS_burst < 1 || FLAGS_burst > k_max_burst) {
    std::fprintf(stderr, "gen: --burst must be 1..%u\n", k_max_burst);
    return 2;
  }

  gen_ctx g;
  std::string err;
  if (!build_templates(g, &err)) {
    std::fprintf(stderr, "gen: %s\n", err.c_str());
    return 2;
  }
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "gen: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  uint16_t nports = rte_eth_dev_count_avail();
  if (FLAGS_tx_port >= nports || FLAGS_rx_port >= nports) {
    std::fprintf(stderr, "gen: --tx-port/--rx-port out of range (%u ports)\n", nports);
    rte_eal_cleanup();
    return 2;
  }
  g.tx_port = static_cast<uint16_t>(FLAGS_tx_port);
  g.rx_port = static_cast<uint16_t>(FLAGS_rx_port);
  g.burst = static_cast<uint16_t>(FLAGS_burst);
  g.queues = static_cast<uint16_t>(std::max(1u, FLAGS_queues));
  g.peer_tid = FLAGS_peer_tid;
  g.rate_pps = FLAGS_rate_pps;
  g.pool = rte_pktmbuf_pool_create("gen_mbufs", FLAGS_mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   rte_socket_id());
  if (g.pool == nullptr) {
    std::fprintf(stderr, "gen: mbuf pool: %s\n", rte_strerror(rte_errno));
    rte_eal_cleanup();
    return 1;
  }
  std::vector<uint16_t> ports = {g.tx_port};
  if (g.rx_port != g.tx_port) ports.push_back(g.rx_port);
  for (uint16_t p : ports) {
    if (!port_setup(p, g.queues, g.pool, &err)) {
      std::fprintf(stderr, "gen: %s\n", err.c_str());
      rte_eal_cleanup();
      return 1;
    }
  }
  for (uint16_t p : ports) {
    if (!wait_link(p, FLAGS_link_wait_ms)) {
      std::fprintf(stderr, "gen: port %u: link still down after %u ms (is the server up?)\n", p,
                   FLAGS_link_wait_ms);
      rte_eal_cleanup();
      return 1;
    }
  }
  if (FLAGS_macs != 0) {
    if (!announce_macs(g, &err)) {
      std::fprintf(stderr, "gen: %s\n", err.c_str());
      rte_eal_cleanup();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let the switch drain its ring
    std::fprintf(stderr, "gen: announced %u destination MACs on port %u\n", FLAGS_macs, g.rx_port);
  }
  const uint64_t hz = rte_get_tsc_hz();
  g.warmup_cycles = static_cast<uint64_t>(FLAGS_warmup * static_cast<double>(hz));
  g.window_cycles = static_cast<uint64_t>(FLAGS_seconds * static_cast<double>(hz));
  std::fprintf(
      stderr,
      "gen: %u flows %s%s, %u-byte frames, tx port %u, rx port %u, %.1f s + %.1f s warmup\n",
      g.flows, FLAGS_proto.c_str(), FLAGS_proto == "tcp" ? (FLAGS_tcp_syn ? " SYN" : " ACK") : "",
      FLAGS_size, g.tx_port, g.rx_port, FLAGS_seconds, FLAGS_warmup);

  unsigned worker = rte_get_next_lcore(-1, 1, 0);
  if (worker >= RTE_MAX_LCORE) {
    // One lcore only: no progress lines, the main lcore does the work.
    gen_worker(&g);
  } else {
    rte_eal_remote_launch(gen_worker, &g, worker);
    uint64_t last_sent = 0, last_recv = 0;
    auto last = std::chrono::steady_clock::now();
    int tick = 0;
    while (!g.st.done.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto now = std::chrono::steady_clock::now();
      double dt = std::chrono::duration<double>(now - last).count();
      if (dt < 1.0) continue;
      uint64_t s = g.st.sent.load(std::memory_order_relaxed);
      uint64_t r = g.st.received.load(std::memory_order_relaxed);
      std::fprintf(stderr, "gen: [%2ds%s] tx %.2f Mpps rx %.2f Mpps\n", ++tick,
                   g.st.measuring.load(std::memory_order_relaxed) ? "" : " warmup",
                   static_cast<double>(s - last_sent) / dt / 1e6,
                   static_cast<double>(r - last_recv) / dt / 1e6);
      last_sent = s;
      last_recv = r;
      last = now;
    }
    rte_eal_wait_lcore(worker);
  }

  const gen_stats& st = g.st;
  double secs = static_cast<double>(st.window_cycles) / static_cast<double>(hz);
  uint64_t sent = st.sent_at_end - st.sent_at_start;
  uint64_t received = st.received_at_end - st.received_at_start;
  for (uint16_t p : ports) {
    rte_eth_stats es{};
    if (rte_eth_stats_get(p, &es) == 0)
      std::fprintf(stderr,
                   "gen: port %u stats: ipackets=%" PRIu64 " opackets=%" PRIu64 " imissed=%" PRIu64
                   " oerrors=%" PRIu64 " rx_nombuf=%" PRIu64 "\n",
                   p, es.ipackets, es.opackets, es.imissed, es.oerrors, es.rx_nombuf);
  }
  if (st.other_rx.load() != 0 || st.alloc_fail.load() != 0)
    std::fprintf(stderr,
                 "gen: frames on the tx port: %" PRIu64 ", mbuf alloc failures: %" PRIu64 "\n",
                 st.other_rx.load(), st.alloc_fail.load());
  // CPU shares of both pollers in the window: a share below 1 means another
  // process (or the host) took that CPU for a while.
  std::string cpu;
  char buf[160];
  auto share = [&](int64_t ns) { return static_cast<double>(ns) / (secs * 1e9); };
  if (st.self_cpu_ns >= 0) {
    std::snprintf(buf, sizeof(buf), " gen_cpu=%.2f", share(st.self_cpu_ns));
    cpu += buf;
  }
  if (st.peer_cpu_ns > 0) {
    // Received packets per second of CPU the forwarder actually got: its
    // capacity when it is the bottleneck, whatever else ran on its CPU.
    std::snprintf(
        buf, sizeof(buf), " fwd_cpu=%.2f rx_mpps_per_fwd_cpu=%.3f", share(st.peer_cpu_ns),
        static_cast<double>(received) / (static_cast<double>(st.peer_cpu_ns) / 1e9) / 1e6);
    cpu += buf;
  }
  std::printf("gen: sent=%" PRIu64 " received=%" PRIu64
              " seconds=%.3f tx_mpps=%.3f rx_mpps=%.3f%s\n",
              sent, received, secs, static_cast<double>(sent) / secs / 1e6,
              static_cast<double>(received) / secs / 1e6, cpu.c_str());
  std::fflush(stdout);
  // The worker has stopped polling, so the peer may close its end now without
  // racing a burst here; closing ours first could race a burst of the peer's.
  if (FLAGS_hold_until_stdin_eof)
    while (std::fgetc(stdin) != EOF) {
    }
  for (uint16_t p : ports) {
    rte_eth_dev_stop(p);
    rte_eth_dev_close(p);
  }
  rte_eal_cleanup();
  return 0;
}
