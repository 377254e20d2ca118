// ctgate-bench-cycles: cycles per packet of the worker pipeline, in process,
// with no ports.
//
// A gateway is built from a config made in code (two unattached ports, a
// static route and a static neighbor for its next hop), its TX goes to a
// sink, and prebuilt 64-byte UDP (or TCP) frames from port 0 to a host
// behind port 1 are fed to ctgate::process_burst() 32 at a time. Only
// process_burst() is inside the rte_rdtsc() pair; refilling the mbufs,
// freeing what the sink collected, housekeeping and the quiescent point are
// outside (housekeeping is timed on its own).
//
// Cases:
//   plain   conntrack hooks not registered
//   ct_est  conntrack on, every packet of an established (already confirmed) flow
//   ct_rules10  as ct_est through a forward chain of 10 stateless rules that do not match
//           (`udp dport N counter drop`) and `ct state established counter accept`: issue 16's
//           "conntrack plus a 10-rule stateful ruleset" (ctgate-bench-ruleset's rules_10). The
//           flows see no replies, so their packets are ct state new: the last rule is
//           evaluated and does not match, and the chain's policy accepts them
//   ct_reply  as ct_est, measuring the flows' replies (arriving on the wan port)
//   snat_est  as ct_est through `snat to` 256 addresses: every packet rewritten (with
//           --proto udp6, an ip6 table's `snat to` 256 IPv6 addresses)
//   dnat_reply  as ct_reply for flows through `dnat to 198.19.0.9`: every reply found by its
//           reply key (the second lookup) and rewritten; compare with ct_reply
//   dnat_handoff  dnat_reply with two workers, every reply arriving on the one that does not
//           own its flow: handed off, then processed by the owner (both timed)
//   ct_new  conntrack on, every packet a new flow, created and confirmed
//   ct_new_counter, ct_new_dynset, ct_new_count  ct_new through a chain with a counter, a
//           dynamic-set update, or a count per source (`add @s { ip saddr ct count ... }`)
//   ct_new_snat  ct_new through `snat to` 256 addresses: a binding per new flow (each one
//           offered to its source's later connections: an address picked per destination)
//   ct_new_snatp  ct_new_snat with `persistent` (an address per source): ports kept, nothing
//           offered to later connections (find_appropriate_src costs it nothing)
//   bridge  frames switched between two bridge members by the FDB; --flows is the number of
//           source MACs (each with its own destination: twice as many entries)
//   bridge_ct  bridge through a stateful bridge table (nf_conntrack_bridge's hooks and a
//           `ct state established,related accept` forward chain): each MAC pair one UDP flow,
//           every measured frame of an established connection
//   vlan_in, vlan_out  plain through a VLAN subinterface, lan.100 on lan: frames tagged 100
//           into lan.100, routed to wan untagged (vlan_in); the flows' replies from wan
//           routed out lan.100, tagged on lan (vlan_out)
//   bytes   flow-table memory per flow (estimate and measured heap growth)
//   stages  per-stage breakdown of plain and ct_est (an instrumented copy of
//           process_burst's forward path; see staged_burst())
//
// Main figure: the median over bursts of cycles/32, which a preempted burst
// (shared 2-CPU VM) cannot move; the mean is printed next to it.
//
// Output: a table on stdout and one machine-readable line per case, e.g.
//   bench-cycles: case=ct_est flows=1000000 proto=udp cycles_per_pkt=180.2 ...
#include <gflags/gflags.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bench_gateway.h"
#include "control/gateway.h"
#include "control/ruleset_runtime.h"
#include "dataplane/stages.h"
#include "synproxy/synproxy.h"

DEFINE_string(cases, "plain,ct_est,ct_new,bytes,stages", "comma-separated cases to run");
DEFINE_string(flows, "1000,1000000", "flow counts for plain and ct_est (comma-separated)");
DEFINE_uint32(new_flows, 1000000, "distinct flows per round of ct_new");
DEFINE_uint32(new_rounds, 3, "rounds of ct_new (the table is emptied by expiry between rounds)");
DEFINE_uint64(packets, 8000000, "measured packets per plain/ct_est case");
DEFINE_string(proto, "udp",
              "udp, tcp (ACK, picked up mid-stream), tcp-est (data of connections opened "
              "with a handshake: full window tracking), tcp-syn, or udp6 (IPv6 UDP: cases plain "
              "and ct_est)");
DEFINE_bool(huge, false, "use hugepages instead of --no-huge");
DEFINE_uint32(memory_mb, 1024, "EAL memory (-m)");
DEFINE_uint32(cpu, 1, "CPU to run on (--lcores 0@CPU)");
DEFINE_string(file_prefix, "bench-cycles", "EAL --file-prefix");
DEFINE_uint32(syn_table_flows, 100000, "synproxy cases: established flows in the table");
DEFINE_uint32(syn_sources, 1000000, "synproxy cases: distinct spoofed sources");
DEFINE_bool(ct_checksum, true,
            "conntrack.checksum (nf_conntrack_checksum): verify L4 checksums in PRE_ROUTING");
DEFINE_bool(ct_acct, false, "conntrack.acct (nf_conntrack_acct): packets and bytes per flow");

namespace {

using namespace ctgate;

constexpr uint16_t k_burst = 32;
constexpr uint32_t k_stride = 64;
constexpr uint32_t k_ips = 4096;  // flow i: source 10.1.1.0 + i % 4096, port 1024 + i / 4096

// ---- setup ----

// The bridge case's ports: b0 (port 2) and b1 (port 3), access ports of bridge br0 (VLAN 1)
// with room for `macs` entries and some.
void add_bridge(gateway_config* cfg, uint32_t macs) {
  bridge_config br;
  br.name = "br0";
  br.max_entries = macs + macs / 4 + 64;
  for (const char* name : {"b0", "b1"}) {
    port_config p;
    p.name = name;
    p.devargs = std::string("net_null_") + name;
    p.bridge_member = true;
    cfg->ports.push_back(p);
    br.ports.push_back({.port = name});
  }
  cfg->bridges = {br};
}

// Bridge frames: frame i from 02:5e:00:XX:XX:XX (i) to 02:dd:00:XX:XX:XX (i), or, as
// `reverse`, from the destination to broadcast (which teaches the bridge where it is).
std::vector<uint8_t> make_bridge_frames(uint32_t macs, bool reverse) {
  std::vector<uint8_t> t(static_cast<size_t>(macs) * k_stride);
  for (uint32_t i = 0; i < macs; i++) {
    uint8_t* f = &t[static_cast<size_t>(i) * k_stride];
    const uint8_t tail[3] = {uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    uint8_t src[6] = {0x02, 0x5e, 0, tail[0], tail[1], tail[2]};
    uint8_t dst[6] = {0x02, 0xdd, 0, tail[0], tail[1], tail[2]};
    if (reverse) {
      std::memcpy(src, dst, 6);
      std::memset(dst, 0xff, 6);
    }
    std::memcpy(f, dst, 6);
    std::memcpy(f + 6, src, 6);
    f[12] = 0x08;  // IPv4's EtherType; the bridge reads no further
  }
  return t;
}

// The vlan cases' subinterface: lan.100 (port 2) on lan, 10.3.0.1/16, and the default route
// (the flows' sources) through it, to a static neighbour.
void add_vlan(gateway_config* cfg) {
  port_config v;
  v.name = "lan.100";
  v.parent = "lan";
  v.vlan = 100;
  parse_ipv4_prefix("10.3.0.1/16", &v.address);
  cfg->ports.push_back(v);
  for (route_config& r : cfg->routes)
    if (r.prefix.len == 0) {
      parse_ipv4("10.3.0.254", &r.via);
      r.port = "lan.100";
    }
  neighbor_config n;
  parse_ipv4("10.3.0.254", &n.address);
  n.mac = "02:00:00:00:03:fe";
  n.port = "lan.100";
  cfg->neighbors.push_back(n);
}

// Templates of 60-byte frames tagged 100 in place: 64 bytes, the stride.
void tag_templates(std::vector<uint8_t>* t, uint32_t flows) {
  for (uint32_t i = 0; i < flows; i++) {
    uint8_t* f = &(*t)[static_cast<size_t>(i) * k_stride];
    std::memmove(f + 16, f + 12, 48);
    const uint8_t tag[4] = {0x81, 0x00, 0x00, 100};
    std::memcpy(f + 12, tag, 4);
  }
}

gateway_config make_config(uint32_t ct_max) {
  gateway_config cfg = bench_gateway_config(ct_max, 4096, k_burst);
  cfg.conntrack.checksum = FLAGS_ct_checksum;
  cfg.conntrack.acct = FLAGS_ct_acct;
  if (FLAGS_proto == "udp6") {
    // IPv6 beside IPv4's addresses: the flows go to 2001:db8:ff::/48 via a static neighbour.
    ipv6_prefix a;
    parse_ipv6_prefix("2001:db8:1::1/64", &a);
    cfg.ports[0].address6 = a;
    parse_ipv6_prefix("2001:db8:2::1/64", &a);
    cfg.ports[1].address6 = a;
    route_config r;
    r.v6 = true;
    parse_ipv6_prefix("2001:db8:ff::/48", &r.prefix6);
    parse_ipv6("2001:db8:2::fe", &r.via6);
    r.port = "wan";
    cfg.routes.push_back(r);
    neighbor_config n;
    n.v6 = true;
    parse_ipv6("2001:db8:2::fe", &n.address6);
    n.mac = "02:00:00:00:02:fe";
    n.port = "wan";
    cfg.neighbors.push_back(n);
  }
  return cfg;
}

// IPv6 UDP frames for `flows` flows (--proto udp6): flow i from 2001:db8:1::1:0 + i % 4096,
// port 1024 + i / 4096, to 2001:db8:ff::10 port 9, 62 bytes (the smallest IPv6 UDP frame).
std::vector<uint8_t> make_templates6(uint32_t flows, uint32_t first) {
  pkt_spec6 s;
  parse_mac("02:00:00:00:00:01", s.src_mac.b);
  parse_mac("02:00:00:00:01:01", s.dst_mac.b);
  ipv6_addr src, dst;
  parse_ipv6("2001:db8:1::1:0", &src);
  parse_ipv6("2001:db8:ff::10", &dst);
  std::memcpy(s.dst, dst.b, 16);
  s.proto = IPPROTO_UDP;
  s.dport = 9;
  std::vector<uint8_t> t(static_cast<size_t>(flows) * k_stride);
  for (uint32_t i = 0; i < flows; i++) {
    const uint32_t f = first + i;
    std::memcpy(s.src, src.b, 16);
    s.src[14] = static_cast<uint8_t>(f % k_ips >> 8);
    s.src[15] = static_cast<uint8_t>(f % k_ips);
    s.sport = static_cast<uint16_t>(1024 + f / k_ips);
    build_frame6(s, &t[static_cast<size_t>(i) * k_stride], k_stride);
  }
  return t;
}

// Frames for `flows` flows starting at flow number `first`, of kind
// `proto` (as --proto, or "tcp-ack0": ACKs that carry no valid cookie).
std::vector<uint8_t> make_templates(uint32_t flows, uint32_t first,
                                    const std::string& proto = FLAGS_proto, uint16_t dport = 9,
                                    const char* src_base = "10.1.1.0") {
  if (proto == "udp6") return make_templates6(flows, first);
  pkt_spec s;
  parse_mac("02:00:00:00:00:01", s.src_mac.b);
  parse_mac("02:00:00:00:01:01", s.dst_mac.b);
  parse_ipv4("198.18.0.10", &s.dst);
  s.dport = dport;
  if (proto == "udp") {
    s.proto = IPPROTO_UDP;
    s.payload_len = 18;  // 60-byte frame: 64 on the wire with FCS
  } else if (proto.starts_with("tcp-est")) {
    // A connection opened with a real handshake, so window tracking runs
    // in full: client ISN 1000, server ISN 5000. "tcp-est" is the measured
    // data segment; the -syn, -synack and -ack kinds open it.
    s.proto = IPPROTO_TCP;
    s.tcp_flags = 0x18;  // PSH|ACK
    s.seq = 1001;
    s.ack = 5001;
    s.payload_len = 6;
    if (proto == "tcp-est-syn") {
      s.tcp_flags = 0x02;
      s.seq = 1000;
      s.ack = 0;
      s.payload_len = 0;
    } else if (proto == "tcp-est-ack") {
      s.tcp_flags = 0x10;
      s.payload_len = 0;
    }
  } else {
    s.proto = IPPROTO_TCP;
    s.tcp_flags = proto == "tcp-syn" ? 0x02 : 0x10;
    s.seq = 1;
    s.ack = proto == "tcp-syn" ? 0 : 1;
    s.payload_len = proto == "tcp-syn" ? 0 : 6;
  }
  uint32_t base = 0;
  parse_ipv4(src_base, &base);  // 10.1.1.0-10.1.16.255: no network, broadcast or own address
  std::vector<uint8_t> t(static_cast<size_t>(flows) * k_stride);
  for (uint32_t i = 0; i < flows; i++) {
    uint32_t f = first + i;
    s.src = base + f % k_ips;
    s.sport = static_cast<uint16_t>(1024 + f / k_ips);
    build_frame(s, &t[static_cast<size_t>(i) * k_stride], k_stride);
  }
  return t;
}

// Replies to flows 0..flows-1 of make_templates, from `src`:9, arriving on the wan port:
// UDP, or (tcp) the server's SYN-ACKs of the tcp-est flows.
std::vector<uint8_t> make_reply_templates(uint32_t flows, const char* src, bool tcp) {
  pkt_spec s;
  parse_mac("02:00:00:00:02:fe", s.src_mac.b);
  parse_mac("02:00:00:00:02:01", s.dst_mac.b);
  parse_ipv4(src, &s.src);
  s.sport = 9;
  if (tcp) {
    s.proto = IPPROTO_TCP;
    s.tcp_flags = 0x12;
    s.seq = 5000;
    s.ack = 1001;
  } else {
    s.proto = IPPROTO_UDP;
    s.payload_len = 18;
  }
  uint32_t base = 0;
  parse_ipv4("10.1.1.0", &base);
  std::vector<uint8_t> t(static_cast<size_t>(flows) * k_stride);
  for (uint32_t f = 0; f < flows; f++) {
    s.dst = base + f % k_ips;
    s.dport = static_cast<uint16_t>(1024 + f / k_ips);
    build_frame(s, &t[static_cast<size_t>(f) * k_stride], k_stride);
  }
  return t;
}

// The TX sink only collects: freeing is the driver's job, so it is done in
// bulk outside the timed region.
struct sink {
  rte_mbuf* pkts[4 * k_max_burst];
  uint32_t n = 0;
  uint64_t total = 0;
};

void sink_fn(void* arg, uint16_t, rte_mbuf** pkts, uint16_t n) {
  auto* s = static_cast<sink*>(arg);
  for (uint16_t i = 0; i < n; i++) {
    if (s->n == sizeof(s->pkts) / sizeof(s->pkts[0])) {
      rte_pktmbuf_free_bulk(s->pkts, s->n);
      s->n = 0;
    }
    s->pkts[s->n++] = pkts[i];
  }
  s->total += n;
}

struct bench_gw {
  gateway* gw = nullptr;
  worker_ctx* w = nullptr;
  sink snk;
  uint64_t hz = rte_get_tsc_hz();
  uint64_t hk_cycles = 0;  // housekeeping + quiescent
  uint64_t hk_calls = 0;
  bool vlan = false;       // add_vlan before the gateway is made
  uint16_t frame_len = 0;  // fill()'s frames, when not the protocol's smallest

  bool open(uint32_t ct_max, bool conntrack, const synproxy_auto_config* sp = nullptr,
            uint16_t workers = 1, uint32_t bridge_macs = 0) {
    static int seq = 0;
    gateway_config cfg = make_config(ct_max);
    cfg.workers = workers;
    if (bridge_macs != 0) add_bridge(&cfg, bridge_macs);
    if (vlan) add_vlan(&cfg);
    if (sp != nullptr) {
      cfg.synproxy = *sp;
      // Synproxy needs an ACK with no entry to be INVALID, not a loose pickup
      // (Linux: nf_conntrack_tcp_loose=0); docs/synflood.md.
      cfg.conntrack.tcp_loose = false;
    }
    auto made = gateway_create(cfg, "bn" + std::to_string(seq++));
    // Hooks are registered before this thread goes online: registration
    // waits for a grace period, which an online caller would never give.
    result<void> on;
    if (made && conntrack) on = enable_conntrack(**made);
    if (!made || !on) {
      const error& e = made ? on.error() : made.error();
      std::fprintf(stderr, "bench: gateway: %s\n", e.to_string().c_str());
      return false;
    }
    gw = (*made).release();
    w = &gw->worker(0);
    w->tx_sink = sink_fn;
    w->tx_sink_arg = &snk;
    rte_rcu_qsbr_thread_online(gw->qs, 0);
    return true;
  }

  void close() {
    flush_sink();
    rte_rcu_qsbr_thread_offline(gw->qs, 0);
    delete gw;
    gw = nullptr;
  }

  void flush_sink() {
    if (snk.n != 0) rte_pktmbuf_free_bulk(snk.pkts, snk.n);
    snk.n = 0;
  }

  // Refills pkts with the next k_burst frames of `t` (wrapping at `flows`).
  void fill(rte_mbuf** pkts, const std::vector<uint8_t>& t, uint32_t flows, uint32_t* next) {
    // The smallest frame: IPv4's 60 bytes, IPv6's 62 (an empty UDP datagram).
    const uint16_t len = frame_len != 0 ? frame_len : FLAGS_proto == "udp6" ? 62 : 60;
    while (rte_pktmbuf_alloc_bulk(gw->mbuf_pool, pkts, k_burst) != 0) flush_sink();
    for (uint16_t i = 0; i < k_burst; i++) {
      std::memcpy(rte_pktmbuf_mtod(pkts[i], uint8_t*), &t[static_cast<size_t>(*next) * k_stride],
                  len);
      pkts[i]->data_len = len;
      pkts[i]->pkt_len = len;
      if (++*next == flows) *next = 0;
    }
  }

  // What worker_loop_once does after its bursts, timed separately.
  void housekeeping() {
    uint64_t t0 = rte_rdtsc_precise();
    ct::ct_housekeeping(w->ct, w->now_ms);
    rte_rcu_qsbr_quiescent(gw->qs, 0);
    hk_cycles += rte_rdtsc_precise() - t0;
    hk_calls++;
  }
};

struct cycles_result {
  double median = 0;  // cycles/packet, median burst
  double mean = 0;    // cycles/packet, all bursts
  uint64_t packets = 0;
  double hk_per_pkt = 0;
};

cycles_result summarize(std::vector<uint32_t>& bursts, uint64_t total_cycles, uint64_t pkts,
                        const bench_gw& b) {
  cycles_result r;
  r.packets = pkts;
  r.mean = static_cast<double>(total_cycles) / static_cast<double>(pkts);
  auto mid = bursts.begin() + static_cast<std::ptrdiff_t>(bursts.size() / 2);
  std::nth_element(bursts.begin(), mid, bursts.end());
  r.median = static_cast<double>(*mid) / k_burst;
  r.hk_per_pkt = static_cast<double>(b.hk_cycles) / static_cast<double>(pkts);
  return r;
}

// Times `nb` bursts of the frames in `t` (from *next, wrapping at `flows`)
// through process_burst(), housekeeping after each burst, outside the timing.
cycles_result measure(bench_gw& b, const std::vector<uint8_t>& t, uint32_t flows, uint32_t* next,
                      uint64_t nb, uint16_t port = 0) {
  b.snk.total = 0;
  b.hk_cycles = b.hk_calls = 0;
  std::vector<uint32_t> bursts;
  bursts.reserve(nb);
  uint64_t total = 0;
  rte_mbuf* pkts[k_burst];
  for (uint64_t i = 0; i < nb; i++) {
    b.fill(pkts, t, flows, next);
    b.w->now_ms = b.gw->clock.now_ms();
    uint64_t t0 = rte_rdtsc_precise();
    sync_clock_from_ms(*b.w);
    process_burst(*b.w, port, pkts, k_burst);
    stage_tx_flush(*b.w);
    uint64_t c = rte_rdtsc_precise() - t0;
    bursts.push_back(static_cast<uint32_t>(std::min<uint64_t>(c, UINT32_MAX)));
    total += c;
    b.housekeeping();
  }
  return summarize(bursts, total, nb * k_burst, b);
}

bool check_forwarded(const bench_gw& b, uint64_t expected, const char* what) {
  if (b.snk.total == expected) return true;
  std::fprintf(stderr, "bench: %s: %" PRIu64 " of %" PRIu64 " packets reached TX; counters:", what,
               b.snk.total, expected);
  for (size_t i = 0; i < dp_counter_count; i++)
    if (uint64_t v = b.w->counters.c[i].get(); v != 0)
      std::fprintf(stderr, " %s=%" PRIu64, dp_counter_names[i], v);
  for (size_t i = 0; i < ct::ct_counter_count; i++)
    if (uint64_t v = b.w->ct.counters.c[i].get(); v != 0)
      std::fprintf(stderr, " ct.%s=%" PRIu64, ct::ct_counter_names[i], v);
  std::fprintf(stderr, "\n");
  return false;
}

// ---- output ----

struct row {
  std::string name;
  uint32_t flows;
  cycles_result r;
  std::string extra;
};
std::vector<row> g_rows;

void report(const std::string& name, uint32_t flows, const cycles_result& r, double tsc_hz,
            const std::string& extra = "") {
  double mpps = tsc_hz / r.median / 1e6;
  std::printf(
      "bench-cycles: case=%s flows=%u proto=%s cycles_per_pkt=%.1f mean=%.1f "
      "mpps_per_core=%.2f housekeeping_per_pkt=%.1f packets=%" PRIu64 "%s%s\n",
      name.c_str(), flows, FLAGS_proto.c_str(), r.median, r.mean, mpps, r.hk_per_pkt, r.packets,
      extra.empty() ? "" : " ", extra.c_str());
  std::fflush(stdout);
  g_rows.push_back({name, flows, r, extra});
}

// ---- cases ----

bool load_rules(bench_gw& b, const char* text);

// ct_rules10's ruleset: none of the 10 service rules matches the bench's traffic (UDP to port
// 9), so every packet runs all 11 rules, as in ctgate-bench-ruleset's rules_10.
constexpr const char* k_rules10 =
    "table ip f {\n\tchain forward {\n"
    "\t\ttype filter hook forward priority filter; policy accept;\n"
    "\t\tudp dport 10000 counter drop\n\t\tudp dport 10001 counter drop\n"
    "\t\tudp dport 10002 counter drop\n\t\tudp dport 10003 counter drop\n"
    "\t\tudp dport 10004 counter drop\n\t\tudp dport 10005 counter drop\n"
    "\t\tudp dport 10006 counter drop\n\t\tudp dport 10007 counter drop\n"
    "\t\tudp dport 10008 counter drop\n\t\tudp dport 10009 counter drop\n"
    "\t\tct state established counter accept\n\t}\n}\n";

// dnat_handoff: dnat_reply with two workers, the replies arriving on the one that does not own
// the flows (as RSS spreads a translated flow's replies): each burst is handed off by worker
// 1 and processed by worker 0, both timed.
bool run_handoff(uint32_t flows, cycles_result* out) {
  bench_gw b;
  uint32_t ct_max = std::max<uint32_t>(flows + flows / 4, 65536);
  if (!b.open(ct_max, true, nullptr, 2)) return false;
  if (!load_rules(b,
                  "table ip nat {\n chain pre {\n  type nat hook prerouting priority dstnat;\n"
                  "  dnat to 198.19.0.9\n }\n}\n"))
    return false;
  rte_mbuf* pkts[k_burst];
  uint32_t next = 0;
  auto t = make_templates(flows, 0);
  const uint64_t warm = (flows + k_burst - 1) / k_burst;
  for (uint64_t i = 0; i < warm; i++) {
    b.fill(pkts, t, flows, &next);
    b.w->now_ms = b.gw->clock.now_ms();
    sync_clock_from_ms(*b.w);
    process_burst(*b.w, 0, pkts, k_burst);
    stage_tx_flush(*b.w);
    b.housekeeping();
  }
  worker_ctx& w1 = b.gw->worker(1);
  w1.tx_sink = sink_fn;
  w1.tx_sink_arg = &b.snk;
  rte_rcu_qsbr_thread_online(b.gw->qs, 1);
  t = make_reply_templates(flows, "198.19.0.9", false);
  next = 0;
  b.snk.total = 0;
  b.hk_cycles = b.hk_calls = 0;
  const uint64_t nb = std::max<uint64_t>(FLAGS_packets / k_burst, 3 * warm);
  std::vector<uint32_t> bursts;
  bursts.reserve(nb);
  uint64_t total = 0;
  for (uint64_t i = 0; i < nb; i++) {
    b.fill(pkts, t, flows, &next);
    b.w->now_ms = w1.now_ms = b.gw->clock.now_ms();
    const uint64_t t0 = rte_rdtsc_precise();
    sync_clock_from_ms(w1);
    process_burst(w1, 1, pkts, k_burst);
    stage_tx_flush(w1);
    process_handoffs(*b.w, k_burst);
    stage_tx_flush(*b.w);
    const uint64_t c = rte_rdtsc_precise() - t0;
    bursts.push_back(static_cast<uint32_t>(std::min<uint64_t>(c, UINT32_MAX)));
    total += c;
    ct::ct_housekeeping(w1.ct, w1.now_ms);
    rte_rcu_qsbr_quiescent(b.gw->qs, 1);
    b.housekeeping();
  }
  *out = summarize(bursts, total, nb * k_burst, b);
  bool ok = check_forwarded(b, nb * k_burst, "dnat_handoff");
  if (w1.ct.counters.get(ct::ct_counter::handoff) != nb * k_burst) {
    std::fprintf(stderr, "bench: dnat_handoff: %" PRIu64 " of %" PRIu64 " handed off\n",
                 w1.ct.counters.get(ct::ct_counter::handoff), nb * k_burst);
    ok = false;
  }
  rte_rcu_qsbr_thread_offline(b.gw->qs, 1);
  b.close();
  return ok;
}

// The forward frames of make_bridge_frames as UDP flows (flow i between MAC pair i), for the
// bridge's conntrack.
std::vector<uint8_t> make_bridge_udp_frames(uint32_t macs) {
  std::vector<uint8_t> t = make_templates(macs, 0, "udp");
  const std::vector<uint8_t> l2 = make_bridge_frames(macs, false);
  for (uint32_t i = 0; i < macs; i++)
    std::memcpy(&t[static_cast<size_t>(i) * k_stride], &l2[static_cast<size_t>(i) * k_stride], 12);
  return t;
}

constexpr const char* k_bridge_ct_rules = R"(table bridge filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
  }
}
)";

// bridge: 64-byte frames switched from b0 to b1 by the FDB, `macs` sources on b0 each sending
// to its own destination on b1 (2 x `macs` entries). Learning runs on every frame (a refresh
// once a second per MAC), then one lookup. bridge_ct (`conntrack`): the same through
// k_bridge_ct_rules, each frame a UDP packet of its MAC pair's established flow.
bool run_bridge(uint32_t macs, cycles_result* out, bool conntrack = false) {
  bench_gw b;
  if (!b.open(std::max<uint32_t>(macs + macs / 4, 65536), false, nullptr, 1, macs * 2))
    return false;
  if (conntrack && !load_rules(b, k_bridge_ct_rules)) return false;
  const std::vector<uint8_t> measured =
      conntrack ? make_bridge_udp_frames(macs) : make_bridge_frames(macs, false);
  rte_mbuf* pkts[k_burst];
  const uint64_t warm = (macs + k_burst - 1) / k_burst;
  uint32_t next = 0;
  for (const auto& [frames, port] :
       {std::pair{make_bridge_frames(macs, true), uint16_t{3}}, std::pair{measured, uint16_t{2}}}) {
    for (uint64_t i = 0; i < warm; i++) {
      b.fill(pkts, frames, macs, &next);
      b.w->now_ms = b.gw->clock.now_ms();
      sync_clock_from_ms(*b.w);
      process_burst(*b.w, port, pkts, k_burst);
      stage_tx_flush(*b.w);
      b.housekeeping();
    }
    next = 0;
  }
  const fdb& table = *b.gw->bridges[0].table;
  if (table.count() != 2 * macs) {
    std::fprintf(stderr, "bench: bridge: %u MACs learned, expected %u\n", table.count(), 2 * macs);
    b.close();
    return false;
  }
  if (conntrack && b.gw->ct.table->count() != static_cast<int64_t>(macs)) {
    std::fprintf(stderr, "bench: bridge_ct: %" PRId64 " flows tracked, expected %u\n",
                 b.gw->ct.table->count(), macs);
    b.close();
    return false;
  }
  const uint64_t nb = std::max<uint64_t>(FLAGS_packets / k_burst, 3 * warm);
  *out = measure(b, measured, macs, &next, nb, 2);
  const bool ok = check_forwarded(b, nb * k_burst, conntrack ? "bridge_ct" : "bridge") &&
                  b.w->counters.get(dp_counter::bridged) >= nb * k_burst;
  b.close();
  return ok;
}

// plain / ct_est: warm every flow once, then measure `packets` packets. With `rules`, the
// ruleset is loaded first; with `reply_src`, the measured packets are UDP replies from that
// address (ct_reply, dnat_reply).
bool run_steady(bool conntrack, uint32_t flows, cycles_result* out, const char* rules = nullptr,
                const char* reply_src = nullptr) {
  bench_gw b;
  uint32_t ct_max = std::max<uint32_t>(flows + flows / 4, 65536);
  if (!b.open(ct_max, conntrack)) return false;
  if (rules != nullptr && !load_rules(b, rules)) return false;
  auto t = make_templates(flows, 0);
  rte_mbuf* pkts[k_burst];
  uint32_t next = 0;
  // Warm-up: one pass creates every flow (conntrack) and warms the caches.
  uint64_t warm = (flows + k_burst - 1) / k_burst;
  auto pass = [&](const std::vector<uint8_t>& frames, uint16_t port) {
    for (uint64_t i = 0; i < warm; i++) {
      b.fill(pkts, frames, flows, &next);
      b.w->now_ms = b.gw->clock.now_ms();
      sync_clock_from_ms(*b.w);
      process_burst(*b.w, port, pkts, k_burst);
      stage_tx_flush(*b.w);
      b.housekeeping();
    }
  };
  if (FLAGS_proto == "tcp-est") {
    // The three-way handshake of every flow, then the measured data.
    pass(make_templates(flows, 0, "tcp-est-syn"), 0);
    pass(make_reply_templates(flows, "198.18.0.10", true), 1);
    pass(make_templates(flows, 0, "tcp-est-ack"), 0);
  }
  pass(t, 0);
  if (conntrack && b.gw->ct.table->count() != static_cast<int64_t>(flows)) {
    std::fprintf(stderr, "bench: expected %u flows in the table after warm-up, have %" PRId64 "\n",
                 flows, b.gw->ct.table->count());
    b.close();
    return false;
  }
  uint64_t nb = std::max<uint64_t>(FLAGS_packets / k_burst, 3 * warm);
  uint16_t port = 0;
  if (reply_src != nullptr) {
    t = make_reply_templates(flows, reply_src, false);
    port = 1;
    next = 0;
  }
  b.snk.total = 0;
  *out = measure(b, t, flows, &next, nb, port);
  bool ok = check_forwarded(b, nb * k_burst, conntrack ? "ct_est" : "plain");
  if (conntrack && b.w->ct.counters.get(ct::ct_counter::new_) != flows) {
    std::fprintf(stderr,
                 "bench: ct_est created %" PRIu64 " entries, expected %u (flows expired?)\n",
                 b.w->ct.counters.get(ct::ct_counter::new_), flows);
    ok = false;
  }
  b.close();
  return ok;
}

// vlan_in / vlan_out (see the top): plain forwarding into or out of lan.100.
bool run_vlan(bool out_dir, uint32_t flows, cycles_result* out) {
  bench_gw b;
  b.vlan = true;
  if (!b.open(65536, false)) return false;
  std::vector<uint8_t> t;
  uint16_t port = 0;
  if (out_dir) {
    t = make_reply_templates(flows, "198.18.0.10", false);
    port = 1;
  } else {
    t = make_templates(flows, 0, "udp");
    tag_templates(&t, flows);
    b.frame_len = 64;
  }
  rte_mbuf* pkts[k_burst];
  uint32_t next = 0;
  const uint64_t warm = (flows + k_burst - 1) / k_burst;
  for (uint64_t i = 0; i < warm; i++) {
    b.fill(pkts, t, flows, &next);
    b.w->now_ms = b.gw->clock.now_ms();
    sync_clock_from_ms(*b.w);
    process_burst(*b.w, port, pkts, k_burst);
    stage_tx_flush(*b.w);
    b.housekeeping();
  }
  const uint64_t nb = std::max<uint64_t>(FLAGS_packets / k_burst, 3 * warm);
  *out = measure(b, t, flows, &next, nb, port);
  const char* name = out_dir ? "vlan_out" : "vlan_in";
  const uint16_t sub = 2;
  bool ok = check_forwarded(b, nb * k_burst, name);
  const uint64_t through = out_dir ? b.w->port_tx[sub].get() : b.w->port_rx[sub].get();
  if (through < nb * k_burst) {
    std::fprintf(stderr, "bench: %s: %" PRIu64 " packets through lan.100, expected %" PRIu64 "\n",
                 name, through, nb * k_burst);
    ok = false;
  }
  b.close();
  return ok;
}

// Loads a ruleset into the bench gateway (the worker goes offline meanwhile: the load waits
// for a grace period). On failure, says why and closes the gateway.
bool load_rules(bench_gw& b, const char* text) {
  rte_rcu_qsbr_thread_offline(b.gw->qs, 0);
  auto r = load_ruleset_text(*b.gw, text, "bench.nft");
  rte_rcu_qsbr_thread_online(b.gw->qs, 0);
  if (r) return true;
  std::fprintf(stderr, "bench: ruleset: %s\n", r.error().to_string().c_str());
  b.close();
  return false;
}

// ct_new: every packet a flow the table has not seen. Between rounds the
// clock jumps past the UDP timeout and housekeeping expires the whole table
// (timed too: every flow that is created is eventually destroyed).
bool run_new(uint32_t flows, uint32_t rounds, cycles_result* out, double* expire_per_flow,
             const char* ruleset = nullptr) {
  bench_gw b;
  if (!b.open(flows + flows / 4, true)) return false;
  if (ruleset != nullptr && !load_rules(b, ruleset)) return false;
  auto t = make_templates(flows, 0);
  rte_mbuf* pkts[k_burst];
  std::vector<uint32_t> bursts;
  uint64_t total = 0, pkts_total = 0, expire_cycles = 0, expired = 0;
  uint32_t now = b.gw->clock.now_ms();
  uint32_t per_round = flows / k_burst * k_burst;
  for (uint32_t round = 0; round < rounds; round++) {
    uint32_t next = 0;
    for (uint32_t i = 0; i < per_round / k_burst; i++) {
      b.fill(pkts, t, flows, &next);
      b.w->now_ms = now;
      uint64_t t0 = rte_rdtsc_precise();
      sync_clock_from_ms(*b.w);
      process_burst(*b.w, 0, pkts, k_burst);
      stage_tx_flush(*b.w);
      uint64_t c = rte_rdtsc_precise() - t0;
      bursts.push_back(static_cast<uint32_t>(std::min<uint64_t>(c, UINT32_MAX)));
      total += c;
      pkts_total += k_burst;
      b.housekeeping();
    }
    if (b.gw->ct.table->count() != static_cast<int64_t>(per_round)) {
      std::fprintf(stderr, "bench: ct_new round %u: %" PRId64 " flows in the table, expected %u\n",
                   round, b.gw->ct.table->count(), per_round);
      b.close();
      return false;
    }
    // Expire everything: jump past every timeout, run housekeeping until the
    // worker owns nothing.
    uint64_t before = b.w->ct.counters.get(ct::ct_counter::expired);
    now += 600 * 1000;
    b.w->now_ms = now;
    uint64_t t0 = rte_rdtsc_precise();
    while (b.w->ct.owned != 0) {
      ct::ct_housekeeping(b.w->ct, now);
      rte_rcu_qsbr_quiescent(b.gw->qs, 0);
    }
    expire_cycles += rte_rdtsc_precise() - t0;
    expired += b.w->ct.counters.get(ct::ct_counter::expired) - before;
  }
  b.hk_cycles = 0;  // the in-round housekeeping had nothing to do; expiry is reported apart
  bool ok = check_forwarded(b, pkts_total, "ct_new");
  if (b.w->ct.counters.get(ct::ct_counter::insert) != pkts_total) {
    std::fprintf(stderr, "bench: ct_new: %" PRIu64 " inserts for %" PRIu64 " packets\n",
                 b.w->ct.counters.get(ct::ct_counter::insert), pkts_total);
    ok = false;
  }
  *out = summarize(bursts, total, pkts_total, b);
  *expire_per_flow =
      expired ? static_cast<double>(expire_cycles) / static_cast<double>(expired) : 0;
  b.close();
  return ok;
}

// The SYN-cookie path. The table first holds --syn_table_flows established
// UDP flows (the legitimate users), then spoofed SYNs from --syn_sources
// distinct sources to port 80 are measured:
//   syn_cookie  through the recommended nft ruleset (raw notrack, filter
//               synproxy), the path every SYN takes when synproxy is in the
//               ruleset
//   syn_auto    through the automatic defence (config synproxy.ports, cookie
//               mode switched on), no ruleset
//   ack_forged  ACKs with no valid cookie (an ACK flood) through the ruleset
//   syn_plain   the same SYNs forwarded with no conntrack and no ruleset:
//               plain forwarding of exactly this traffic, the baseline
// Every SYN must be answered (one SYN-ACK out per SYN in), every forged ACK
// dropped, and the table must not grow.
const char* const k_synproxy_ruleset =
    "table ip raw { chain prerouting { type filter hook prerouting priority raw; "
    "tcp dport 80 tcp flags syn notrack; } }\n"
    "table ip filter { chain forward { type filter hook forward priority filter; policy accept; "
    "tcp dport 80 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm; "
    "ct state invalid drop; } }\n";

bool run_synproxy(const std::string& mode, cycles_result* out) {
  bench_gw b;
  uint32_t legit = FLAGS_syn_table_flows;
  synproxy_auto_config sp;  // enable stays false for the ruleset cases
  sp.enable = mode == "syn_auto";
  sp.ports = {80};
  const bool plain = mode == "syn_plain";
  if (!b.open(std::max<uint32_t>(legit + legit / 4, 65536), !plain, &sp)) return false;
  if (plain) {
    legit = 0;
  } else if (mode != "syn_auto") {
    if (!load_rules(b, k_synproxy_ruleset)) return false;
  } else {
    b.gw->synproxy->auto_mode.on.store(true);
  }
  rte_mbuf* pkts[k_burst];
  uint32_t next = 0;
  if (legit != 0) {
    auto t = make_templates(legit, 0, "udp");
    for (uint32_t i = 0; i < (legit + k_burst - 1) / k_burst; i++) {
      b.fill(pkts, t, legit, &next);
      b.w->now_ms = b.gw->clock.now_ms();
      sync_clock_from_ms(*b.w);
      process_burst(*b.w, 0, pkts, k_burst);
      stage_tx_flush(*b.w);
      b.housekeeping();
    }
  }
  int64_t table_before = b.gw->ct.table->count();
  // Spoofed sources: 100.64.0.0 onwards, 4096 addresses x 256 ports.
  auto t = make_templates(FLAGS_syn_sources, 0, mode == "ack_forged" ? "tcp" : "tcp-syn", 80,
                          "100.64.0.0");
  uint64_t nb = FLAGS_packets / k_burst;
  next = 0;
  *out = measure(b, t, FLAGS_syn_sources, &next, nb);
  // A forged ACK passes with probability 2^-27 (28-bit MAC, two candidate
  // ISNs), and each source sends its ACK about twice: over 1M sources a run
  // sees a lucky guess about once in 130 runs. Tolerate two (one source).
  const uint64_t lucky = mode == "ack_forged" ? std::min<uint64_t>(2, nb * k_burst) : 0;
  bool ok = check_forwarded(b, mode == "ack_forged" ? 0 : nb * k_burst, mode.c_str()) ||
            (lucky != 0 && b.snk.total <= lucky);
  uint64_t answered = b.w->synproxy->counters.get(synproxy_counter::cookies_sent);
  uint64_t invalid = b.w->synproxy->counters.get(synproxy_counter::cookies_invalid);
  if (plain                  ? answered != 0
      : mode == "ack_forged" ? invalid + lucky < nb * k_burst
                             : answered != nb * k_burst) {
    std::fprintf(stderr,
                 "bench: %s: %" PRIu64 " cookies sent, %" PRIu64 " invalid, of %" PRIu64 "\n",
                 mode.c_str(), answered, invalid, nb * k_burst);
    ok = false;
  }
  if (b.gw->ct.table->count() > table_before + (lucky != 0 ? 1 : 0)) {
    std::fprintf(stderr, "bench: %s: the table grew from %" PRId64 " to %" PRId64 "\n",
                 mode.c_str(), table_before, b.gw->ct.table->count());
    ok = false;
  }
  b.close();
  return ok;
}

// Heap bytes in use (all sockets).
size_t heap_in_use() {
  size_t sum = 0;
  for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
    rte_malloc_socket_stats st{};
    if (rte_malloc_get_socket_stats(s, &st) == 0) sum += st.heap_allocsz_bytes;
  }
  return sum;
}

// Flow-table memory: the table's own estimate, and the growth of the DPDK
// heap between a small and a large table (everything that scales with max).
// Heap growth of one bare rte_hash with flow_table's parameters (see
// flow_table::create: max + max/8 + 64 entries, 16-byte keys) and the given
// flags, optionally with rte_hash's RCU defer queue: where the hash's bytes go.
size_t hash_bytes(uint32_t max, uint8_t flags, rte_rcu_qsbr* qs) {
  size_t h0 = heap_in_use();
  rte_hash_parameters p{};
  p.name = "bench_bytes";
  p.entries = max + max / 8 + 64;
  p.key_len = sizeof(ct::flow_key);
  p.hash_func = rte_hash_crc;
  p.socket_id = SOCKET_ID_ANY;
  p.extra_flag = flags;
  rte_hash* h = rte_hash_create(&p);
  if (h == nullptr) return 0;
  if (qs != nullptr) {
    rte_hash_rcu_config rc{};
    rc.v = qs;
    rc.mode = RTE_HASH_QSBR_MODE_DQ;
    rte_hash_rcu_qsbr_add(h, &rc);
  }
  size_t bytes = heap_in_use() - h0;
  rte_hash_free(h);
  return bytes;
}

// Flow-table memory: the table's own estimate, the growth of the DPDK heap
// between a small and a large table (everything that scales with max), and
// a breakdown from bare hashes with one feature taken away at a time.
bool run_bytes(uint32_t max) {
  constexpr uint32_t k_small = 1024;
  bench_gw b;
  size_t h0 = heap_in_use();
  if (!b.open(k_small, false)) return false;
  size_t small = heap_in_use() - h0;
  b.close();
  h0 = heap_in_use();
  if (!b.open(max, false)) return false;
  size_t large = heap_in_use() - h0;
  double est = static_cast<double>(b.gw->ct.table->memory_bytes()) / max;
  double measured = static_cast<double>(large - small) / (max - k_small);
  uint32_t capacity = b.gw->ct.table->capacity();
  // What a ruleset with a nat chain adds (ct_enable_nat): the reply tuples and the reply table.
  const size_t before_nat = heap_in_use();
  if (result<void> on = ct::ct_enable_nat(&b.gw->ct); !on) {
    std::fprintf(stderr, "bench: ct_enable_nat: %s\n", on.error().to_string().c_str());
    b.close();
    return false;
  }
  const double nat_per_flow = static_cast<double>(heap_in_use() - before_nat) / max;
  // What IPv6 adds (a port with address6): the flows' full addresses, 32 bytes a position.
  const size_t before_v6 = heap_in_use();
  if (result<void> on = b.gw->ct.table->enable_ipv6(); !on) {
    std::fprintf(stderr, "bench: enable_ipv6: %s\n", on.error().to_string().c_str());
    b.close();
    return false;
  }
  const double v6_per_flow = static_cast<double>(heap_in_use() - before_v6) / max;
  b.close();
  std::printf("bench-cycles: case=bytes_ipv6 max=%u ipv6_bytes_per_flow_measured=%.1f\n", max,
              v6_per_flow);
  std::printf("bench-cycles: case=bytes_nat max=%u nat_bytes_per_flow_measured=%.1f\n", max,
              nat_per_flow);
  std::printf(
      "bench-cycles: case=bytes max=%u bytes_per_flow_estimate=%.1f "
      "bytes_per_flow_measured=%.1f sizeof_ct_entry=%zu table_capacity=%u "
      "heap_growth_bytes=%zu\n",
      max, est, measured, sizeof(ct::ct_entry), capacity, large - small);

  size_t qs_size = rte_rcu_qsbr_get_memsize(1);
  auto* qs = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bench_qs", qs_size, RTE_CACHE_LINE_SIZE));
  if (qs == nullptr || rte_rcu_qsbr_init(qs, 1) != 0) return false;
  constexpr uint8_t lf = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  constexpr uint8_t mw = RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD;
  constexpr uint8_t ext = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  auto per_flow = [&](size_t bytes) { return static_cast<double>(bytes) / max; };
  // The flow table's hash (flow_table::create): no defer queue since 2026-12-07, its owners
  // give deleted positions back themselves. What the queue would add is printed apart.
  double full = per_flow(hash_bytes(max, lf | mw | ext, nullptr));
  double with_dq = per_flow(hash_bytes(max, lf | mw | ext, qs));
  double no_ext = per_flow(hash_bytes(max, lf | mw, nullptr));
  double bare = per_flow(hash_bytes(max, lf, nullptr));
  double entries = static_cast<double>(sizeof(ct::ct_entry)) * capacity / max;
  rte_free(qs);
  std::printf(
      "bench-cycles: case=bytes_breakdown max=%u entries=%.1f hash_total=%.1f "
      "ext_table=%.1f hash_without_ext_dq_mw=%.1f rcu_defer_queue_not_used=%.1f\n",
      max, entries, full, full - no_ext, bare, with_dq - full);
  return true;
}

// An instrumented copy of process_burst()'s forward path (pipeline.cpp):
// same stages in the same order, with a timestamp between stages. Local
// traffic is not generated, so the local branch is left out.
enum stage_id { S_PARSE, S_PRE, S_ROUTE, S_FWD, S_POST, S_TX, S_COUNT };
const char* const k_stage_names[S_COUNT] = {"parse",   "prerouting",  "route",
                                            "forward", "postrouting", "tx"};

// What one rte_rdtsc_precise() lap costs, to take out of the stage figures.
double lap_overhead() {
  std::vector<uint32_t> v(4096);
  for (auto& x : v) {
    uint64_t a = rte_rdtsc_precise();
    x = static_cast<uint32_t>(rte_rdtsc_precise() - a);
  }
  std::nth_element(v.begin(), v.begin() + 2048, v.end());
  return v[2048];
}

void staged_burst(worker_ctx& w, rte_mbuf** pkts, uint16_t n, uint64_t* lapc) {
  uint64_t t = rte_rdtsc_precise();
  auto lap = [&](stage_id s) {
    uint64_t now = rte_rdtsc_precise();
    lapc[s] = now - t;
    t = now;
  };
  w.hooks = w.gw->hooks->current();
  for (uint16_t i = 0; i < n; i++) meta_of(pkts[i])->in_port = 0;
  w.counters.add(dp_counter::bursts);
  rte_mbuf* v6[k_max_burst];
  uint16_t n6 = 0;
  n = stage_parse(w, pkts, n, v6, &n6);
  lap(S_PARSE);
  if (n6 != 0) rte_pktmbuf_free_bulk(v6, n6);  // not expected here
  n = stage_hook(w, hook_point::prerouting, pkts, n);
  lap(S_PRE);
  rte_mbuf* local[k_max_burst];
  uint16_t n_local = 0;
  n = stage_route(w, pkts, n, local, &n_local);
  lap(S_ROUTE);
  n = stage_forward(w, pkts, n);
  n = stage_hook(w, hook_point::forward, pkts, n);
  lap(S_FWD);
  n = stage_hook(w, hook_point::postrouting, pkts, n);
  lap(S_POST);
  stage_tx(w, pkts, n);
  stage_tx_flush(w);
  lap(S_TX);
  if (n_local != 0) rte_pktmbuf_free_bulk(local, n_local);  // not expected here
}

// Median cycles/packet per stage (over bursts), the timestamp cost taken out.
// Medians of parts need not add up to the median of the whole.
bool run_stages(bool conntrack, uint32_t flows) {
  bench_gw b;
  if (!b.open(std::max<uint32_t>(flows + flows / 4, 65536), conntrack)) return false;
  auto t = make_templates(flows, 0);
  rte_mbuf* pkts[k_burst];
  uint32_t next = 0;
  uint64_t warm = (flows + k_burst - 1) / k_burst;
  uint64_t nb = std::max<uint64_t>(FLAGS_packets / k_burst / 2, 3 * warm);
  std::vector<uint32_t> per[S_COUNT];
  for (auto& v : per) v.reserve(nb);
  for (uint64_t i = 0; i < warm + nb; i++) {
    uint64_t lapc[S_COUNT];
    b.fill(pkts, t, flows, &next);
    b.w->now_ms = b.gw->clock.now_ms();
    staged_burst(*b.w, pkts, k_burst, lapc);
    if (i >= warm)
      for (int s = 0; s < S_COUNT; s++)
        per[s].push_back(static_cast<uint32_t>(std::min<uint64_t>(lapc[s], UINT32_MAX)));
    b.housekeeping();
  }
  double lap = lap_overhead() / k_burst;
  std::ostringstream line;
  line << "bench-cycles: case=stages_" << (conntrack ? "ct_est" : "plain") << " flows=" << flows
       << " proto=" << FLAGS_proto;
  double sum = 0;
  char buf[64];
  for (int s = 0; s < S_COUNT; s++) {
    auto mid = per[s].begin() + static_cast<std::ptrdiff_t>(per[s].size() / 2);
    std::nth_element(per[s].begin(), mid, per[s].end());
    double c = std::max(0.0, static_cast<double>(*mid) / k_burst - lap);
    std::snprintf(buf, sizeof(buf), " %s=%.1f", k_stage_names[s], c);
    line << buf;
    sum += c;
  }
  std::snprintf(buf, sizeof(buf), " sum=%.1f timestamp_per_stage=%.1f", sum, lap);
  line << buf;
  std::printf("%s\n", line.str().c_str());
  b.close();
  return true;
}

std::vector<uint32_t> parse_list(const std::string& s) {
  std::vector<uint32_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(static_cast<uint32_t>(std::stoul(item)));
  return v;
}

std::string fmt1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

bool want(const std::string& c) {
  std::string list = "," + FLAGS_cases + ",";
  return list.find("," + c + ",") != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "ctgate-bench-cycles [--cases=...] [--flows=1000,1000000]; see docs/bench.md");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_proto != "udp" && FLAGS_proto != "tcp" && FLAGS_proto != "tcp-syn" &&
      FLAGS_proto != "tcp-est" && FLAGS_proto != "udp6") {
    std::fprintf(stderr, "bench: --proto must be udp, tcp, tcp-est, tcp-syn or udp6\n");
    return 2;
  }
  if (FLAGS_proto == "udp6") {
    std::stringstream cases(FLAGS_cases);
    for (std::string c; std::getline(cases, c, ',');)
      if (c != "plain" && c != "ct_est" && c != "snat_est") {
        std::fprintf(stderr, "bench: --proto udp6 runs --cases plain, ct_est and snat_est\n");
        return 2;
      }
  }
  std::string lcores = "0@" + std::to_string(FLAGS_cpu);
  std::string mem = std::to_string(FLAGS_memory_mb);
  std::vector<std::string> args = {"ctgate-bench-cycles",
                                   "--lcores",
                                   lcores,
                                   "-m",
                                   mem,
                                   "--no-pci",
                                   "--file-prefix",
                                   FLAGS_file_prefix,
                                   "--log-level",
                                   "lib.eal:warning"};
  if (!FLAGS_huge) args.push_back("--no-huge");
  std::vector<char*> eal_argv;
  for (auto& a : args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "bench: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  const double hz = static_cast<double>(rte_get_tsc_hz());
  std::printf(
      "bench-cycles: tsc_hz=%.0f cpu=%u memory=%s proto=%s burst=%u ct_checksum=%d ct_acct=%d\n",
      hz, FLAGS_cpu, FLAGS_huge ? "hugepages" : "no-huge (4 KiB pages)", FLAGS_proto.c_str(),
      k_burst, FLAGS_ct_checksum ? 1 : 0, FLAGS_ct_acct ? 1 : 0);
  std::fflush(stdout);

  bool ok = true;
  std::vector<uint32_t> flows = parse_list(FLAGS_flows);
  std::vector<std::pair<uint32_t, double>> plain;  // flows -> cycles, for the overhead column
  for (uint32_t f : flows) {
    cycles_result r;
    if (want("plain")) {
      if (run_steady(false, f, &r)) {
        report("plain", f, r, hz);
        plain.push_back({f, r.median});
      } else {
        ok = false;
      }
    }
    double ct_est = 0, ct_reply = 0;
    if (want("ct_est")) {
      if (run_steady(true, f, &r)) {
        std::string extra;
        for (auto& [pf, pc] : plain)
          if (pf == f) extra = "overhead_vs_plain=" + fmt1(r.median - pc);
        report("ct_est", f, r, hz, extra);
        ct_est = r.median;
      } else {
        ok = false;
      }
    }
    if (want("ct_rules10")) {
      if (run_steady(true, f, &r, k_rules10)) {
        std::string extra;
        for (auto& [pf, pc] : plain)
          if (pf == f) extra = "overhead_vs_plain=" + fmt1(r.median - pc);
        report("ct_rules10", f, r, hz, extra);
      } else {
        ok = false;
      }
    }
    // NAT (issue 13's budget: established flows through snat at most 30 cycles over
    // conntrack alone). The snat range is 256 addresses so a million flows to one server
    // find free tuples; the dnat flows' replies come from the one new destination.
    if (want("snat_est")) {
      const char* rules =
          FLAGS_proto == "udp6"
              ? "table ip6 nat {\n chain post {\n  type nat hook postrouting priority srcnat;\n"
                "  snat to 2001:db8:2::100-2001:db8:2::1ff\n }\n}\n"
              : "table ip nat {\n chain post {\n  type nat hook postrouting priority srcnat;\n"
                "  snat to 10.2.1.0-10.2.1.255\n }\n}\n";
      if (run_steady(true, f, &r, rules)) {
        report("snat_est", f, r, hz,
               ct_est > 0 ? "overhead_vs_ct_est=" + fmt1(r.median - ct_est) : "");
      } else {
        ok = false;
      }
    }
    if (want("ct_reply")) {
      if (run_steady(true, f, &r, nullptr, "198.18.0.10")) {
        report("ct_reply", f, r, hz);
        ct_reply = r.median;
      } else {
        ok = false;
      }
    }
    if (want("dnat_handoff")) {
      if (run_handoff(f, &r)) {
        report("dnat_handoff", f, r, hz,
               ct_reply > 0 ? "overhead_vs_ct_reply=" + fmt1(r.median - ct_reply) : "");
      } else {
        ok = false;
      }
    }
    if (want("dnat_reply")) {
      const char* rules =
          "table ip nat {\n chain pre {\n  type nat hook prerouting priority dstnat;\n"
          "  dnat to 198.19.0.9\n }\n}\n";
      if (run_steady(true, f, &r, rules, "198.19.0.9")) {
        report("dnat_reply", f, r, hz,
               ct_reply > 0 ? "overhead_vs_ct_reply=" + fmt1(r.median - ct_reply) : "");
      } else {
        ok = false;
      }
    }
  }
  // ct_new_dynset: ct_new through a ruleset that puts every new flow's source in a dynamic
  // set (issue 12's "dynamic set updated on every new flow"), to compare with ct_new.
  // ct_new_counter: the same chain with a counter instead, the baseline of the chain's cost.
  // ct_new_count: a count per source (`add @per_source { ip saddr ct count over N }`, N above
  // any source's flows, so all pass): every new flow is remembered in its source's list
  // (4,096 sources).
  for (const char* mode : {"ct_new", "ct_new_counter", "ct_new_dynset", "ct_new_count",
                           "ct_new_snat", "ct_new_snatp"}) {
    if (!want(mode)) continue;
    const std::string m = mode;
    const std::string size = std::to_string(std::bit_ceil(FLAGS_new_flows));
    const std::string stmt = m == "ct_new_dynset" ? "update @seen { ip saddr . udp sport }"
                             : m == "ct_new_count"
                                 ? "add @per_source { ip saddr ct count over 1000000 }"
                                 : "counter";
    const std::string rules =
        m == "ct_new_snat" ? "table ip nat {\n chain post {\n  type nat hook postrouting "
                             "priority srcnat;\n  snat to 10.2.1.0-10.2.1.255\n }\n}\n"
        : m == "ct_new_snatp"
            ? "table ip nat {\n chain post {\n  type nat hook postrouting "
              "priority srcnat;\n  snat to 10.2.1.0-10.2.1.255 persistent\n }\n}\n"
            : "table ip f {\n\tset seen { type ipv4_addr . inet_service; size " + size +
                  "; flags dynamic,timeout; timeout 60s; }\n\tset per_source { type ipv4_addr; "
                  "size 4096; "
                  "}\n\tchain forward { type filter hook forward priority filter; ct state new " +
                  stmt + "; }\n}\n";
    cycles_result r;
    double expire = 0;
    if (run_new(FLAGS_new_flows, FLAGS_new_rounds, &r, &expire,
                m == "ct_new" ? nullptr : rules.c_str())) {
      char extra[160];
      std::snprintf(extra, sizeof(extra),
                    "new_flows_per_s=%.0f expire_cycles_per_flow=%.1f "
                    "new_flows_per_s_with_expiry=%.0f",
                    hz / r.median, expire, hz / (r.median + expire));
      report(mode, FLAGS_new_flows, r, hz, extra);
    } else {
      ok = false;
    }
  }
  double syn_plain = 0;
  for (const char* mode : {"syn_plain", "syn_cookie", "syn_auto", "ack_forged"}) {
    if (!want(mode)) continue;
    cycles_result r;
    if (run_synproxy(mode, &r)) {
      std::string extra = "table_flows=" + std::to_string(FLAGS_syn_table_flows);
      if (!plain.empty()) extra += " x_plain=" + fmt1(r.median / plain.front().second);
      if (std::string(mode) == "syn_plain")
        syn_plain = r.median;
      else if (syn_plain > 0)
        extra += " x_syn_plain=" + fmt1(r.median / syn_plain);
      report(mode, FLAGS_syn_sources, r, hz, extra);
    } else {
      ok = false;
    }
  }
  for (const bool conntrack : {false, true}) {
    const char* name = conntrack ? "bridge_ct" : "bridge";
    if (!want(name)) continue;
    for (uint32_t f : flows) {
      cycles_result r;
      if (run_bridge(f, &r, conntrack)) {
        std::string extra = "fdb_entries=" + std::to_string(2 * f);
        for (auto& [pf, pc] : plain)
          if (pf == f) extra += " x_plain=" + fmt1(r.median / pc);
        report(name, f, r, hz, extra);
      } else {
        ok = false;
      }
    }
  }
  for (const bool out_dir : {false, true}) {
    const char* name = out_dir ? "vlan_out" : "vlan_in";
    if (!want(name)) continue;
    for (uint32_t f : flows) {
      cycles_result r;
      if (run_vlan(out_dir, f, &r)) {
        std::string extra;
        for (auto& [pf, pc] : plain)
          if (pf == f) extra = "x_plain=" + fmt1(r.median / pc);
        report(name, f, r, hz, extra);
      } else {
        ok = false;
      }
    }
  }
  if (want("bytes")) ok = run_bytes(1u << 20) && ok;
  if (want("stages")) {
    for (uint32_t f : flows) {
      ok = run_stages(false, f) && ok;
      ok = run_stages(true, f) && ok;
    }
  }

  std::printf("\n%-8s %9s %12s %10s %11s %12s  %s\n", "case", "flows", "cyc/pkt(med)",
              "cyc/pkt(avg)", "Mpps/core", "hk cyc/pkt", "notes");
  for (const auto& r : g_rows)
    std::printf("%-8s %9u %12.1f %10.1f %11.2f %12.1f  %s\n", r.name.c_str(), r.flows, r.r.median,
                r.r.mean, hz / r.r.median / 1e6, r.r.hk_per_pkt, r.extra.c_str());
  rte_eal_cleanup();
  return ok ? 0 : 1;
}
