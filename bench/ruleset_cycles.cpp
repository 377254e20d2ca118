// ctgate-bench-ruleset: what a ruleset costs per packet, and how long a
// reload takes, in-process (no ports), against plain forwarding and
// conntrack alone measured in the same run.
//
//   ctgate-bench-ruleset [--flows 1000000] [--packets 4000000]
//
// Cases (all with conntrack on and established flows, except "plain"):
//   plain          conntrack hooks not registered, no ruleset
//   ct_only        conntrack, no ruleset
//   rules_0        a forward chain of just `ct state established counter accept`: the floor
//                  of every case below, which all end with that rule
//   rules_10       a forward chain of 10 rules that do not match, then accept
//   rules_1000     1,000 such rules
//   set_100k       one rule matching ip saddr against a 100,000-element set (hashed;
//                  no source of the traffic is in it)
//   set_100k_hit   `ip saddr @allowed counter accept` over 100,000 addresses that hold
//                  every source of the traffic (10.1.0.2 up, gaps after them): every
//                  lookup hits
//   set_100k_int   the same as set_100k with an interval set of 100,000 prefixes (searched)
//   vmap_10k       one rule `ip saddr vmap { ... }` with 10,000 entries (a
//                  source in it is accepted, the others fall through to the
//                  established rule)
//   concat_100k    one rule `ip saddr . udp dport @pairs drop` over 100,000
//                  address . port pairs: half the sources are in it, with
//                  other ports, so the lookup goes through both fields
//   dynset_1m      `update @seen { ip saddr }` on every packet into a dynamic
//                  set of 1,048,576 elements with a 60 s timeout (one element
//                  per flow's source, refreshed per packet), warmed first.
//                  The bench's flows see no replies, so conntrack keeps them
//                  NEW: a rule behind `ct state new` would run for every
//                  packet too. The cost of the insert on a flow's first
//                  packet: ctgate-bench-cycles ct_new_dynset.
//   dynset_hot     the same keyed by udp dport (one element, in cache): the
//                  statement's own cost, without the memory access
// and the reload latency of the 100k-element ruleset (parse + compile +
// publish + grace period), the median of 5 loads, and the latency of
// `add element` / `delete element` on that ruleset's set (exact addresses,
// then /30 prefixes): in place, one element (median of 5) and 1,000 at once,
// against one element through a full load.
#include <gflags/gflags.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_gateway.h"
#include "control/gateway.h"
#include "control/ruleset_runtime.h"
#include "dataplane/stages.h"
#include "packet/build.h"

DEFINE_uint32(flows, 1000000, "established flows (conntrack.max = 1.25x)");
DEFINE_uint64(packets, 4000000, "packets measured per case");
DEFINE_bool(latency, true, "measure reload and add element latency after the cases");
DEFINE_string(cases, "", "comma-separated cases to run (all when empty; plain and ct_only always)");

namespace {

using namespace ctgate;

constexpr uint16_t k_burst = 32;

gateway_config make_config(uint32_t flows) {
  return bench_gateway_config(flows + flows / 4 + 1024, 8192);
}

struct sink_state {
  std::vector<rte_mbuf*> out;
};
void sink(void* arg, uint16_t, rte_mbuf** pkts, uint16_t n) {
  auto* s = static_cast<sink_state*>(arg);
  s->out.insert(s->out.end(), pkts, pkts + n);
}

// 64-byte UDP templates: flow i = source 10.1.x.y (i mod 65536 hosts), port by i / 65536.
std::vector<std::array<uint8_t, 64>> make_templates(uint32_t flows) {
  std::vector<std::array<uint8_t, 64>> t(flows);
  for (uint32_t i = 0; i < flows; i++) {
    pkt_spec s;
    s.src = (10u << 24) | (1u << 16) | (i % 65000 + 2);
    s.dst = (198u << 24) | (18u << 16) | 10;
    s.proto = 17;
    s.sport = static_cast<uint16_t>(1024 + i / 65000);
    s.dport = 9;
    s.payload_len = 18;
    build_frame(s, t[i].data(), 64);
  }
  return t;
}

struct bench {
  gateway* gw;
  worker_ctx* w;
  sink_state snk;
  std::vector<std::array<uint8_t, 64>> tmpl;

  // Median cycles/packet over bursts of `packets` packets cycling the flows.
  double run(uint64_t packets) {
    std::vector<uint64_t> samples;
    samples.reserve(packets / k_burst);
    rte_mbuf* pkts[k_burst];
    uint32_t next = 0;
    for (uint64_t done = 0; done < packets; done += k_burst) {
      if (rte_pktmbuf_alloc_bulk(gw->mbuf_pool, pkts, k_burst) != 0) break;
      for (uint16_t i = 0; i < k_burst; i++) {
        memcpy(rte_pktmbuf_mtod(pkts[i], uint8_t*), tmpl[next].data(), 60);
        pkts[i]->data_len = pkts[i]->pkt_len = 60;
        next = (next + 1) % tmpl.size();
      }
      w->now_ms = gw->clock.now_ms();
      uint64_t t0 = rte_rdtsc_precise();
      sync_clock_from_ms(*w);
      process_burst(*w, 0, pkts, k_burst);
      stage_tx_flush(*w);
      samples.push_back(rte_rdtsc_precise() - t0);
      rte_pktmbuf_free_bulk(snk.out.data(), static_cast<unsigned>(snk.out.size()));
      snk.out.clear();
      ct::ct_housekeeping(w->ct, w->now_ms);
      rte_rcu_qsbr_quiescent(gw->qs, 0);
    }
    std::sort(samples.begin(), samples.end());
    return samples.empty() ? 0 : static_cast<double>(samples[samples.size() / 2]) / k_burst;
  }

  // Loads a ruleset as the control plane does (the worker must be offline
  // meanwhile: the load waits for a grace period).
  double load(const std::string& text) {
    rte_rcu_qsbr_thread_offline(gw->qs, 0);
    auto t0 = std::chrono::steady_clock::now();
    auto r = load_ruleset_text(*gw, text, "bench.nft");
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    rte_rcu_qsbr_thread_online(gw->qs, 0);
    if (!r) {
      std::fprintf(stderr, "load failed: %s\n", r.error().to_string().c_str());
      std::exit(1);
    }
    return ms;
  }
};

// Every case replaces the ruleset (nft -f semantics: a file without the
// flush would add to the previous case's).
std::string chain(const std::string& body) {
  return "flush ruleset\ntable ip f {\n" + body +
         "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n";
}

std::string rules(int n) {
  std::string s = chain("");
  // Rules that never match the traffic (other destination ports), as in a
  // ruleset of many services; the last one accepts.
  for (int i = 0; i < n; i++) s += "\t\tudp dport " + std::to_string(10000 + i) + " counter drop\n";
  return s + "\t\tct state established counter accept\n\t}\n}\n";
}

std::string big_set(int n, bool interval) {
  std::string elems;
  for (int i = 0; i < n; i++) {
    // 172.16.0.0/12 addresses (or /30 prefixes), none of them our sources, with gaps between
    // them: adjacent ones would merge into one range and measure a one-element set.
    uint32_t a = (172u << 24) | (16u << 16) | static_cast<uint32_t>(interval ? i * 8 : i * 2);
    elems += (i ? ", " : "") + format_ipv4(a) + (interval ? "/30" : "");
  }
  std::string set = std::string("\tset blocked {\n\t\ttype ipv4_addr;\n") +
                    (interval ? "\t\tflags interval;\n" : "") + "\t\telements = { " + elems +
                    " }\n\t}\n";
  return chain(set) +
         "\t\tip saddr @blocked counter drop\n\t\tct state established counter accept\n\t}\n}\n";
}

// n addresses from our first source up, then every other one: all of our 65,000 sources
// are in it, and every lookup hits.
std::string allowed_set(int n) {
  std::string elems;
  for (int i = 0; i < n; i++) {
    const uint32_t off = i < 65000 ? i + 2 : 65002 + 2 * static_cast<uint32_t>(i - 65000);
    elems += (i ? ", " : "") + format_ipv4((10u << 24) | (1u << 16) | off);
  }
  return chain("\tset allowed {\n\t\ttype ipv4_addr;\n\t\telements = { " + elems + " }\n\t}\n") +
         "\t\tip saddr @allowed counter accept\n\t\tct state established counter accept\n\t}\n}\n";
}

// A verdict map of n source addresses; our traffic's sources are 10.1.0.2 up,
// so the first n hit it and the rest miss (and reach the established rule).
std::string vmap(int n) {
  std::string elems;
  for (int i = 0; i < n; i++)
    elems += (i ? ", " : "") +
             format_ipv4((10u << 24) | (1u << 16) | static_cast<uint32_t>(i + 2)) + " : accept";
  return chain("") + "\t\tip saddr vmap { " + elems +
         " }\n\t\tct state established counter accept\n\t}\n}\n";
}

// 100,000 source . port pairs: sources 10.1.0.2 up to 10.1.195.81 (the first
// 50,000 of ours), each with ports 100 and 101, never our port 9.
std::string concat_set(int n) {
  std::string elems;
  for (int i = 0; i < n; i++)
    elems += std::string(i ? ",\n\t\t\t" : "") +
             format_ipv4((10u << 24) | (1u << 16) | static_cast<uint32_t>(i % 50000 + 2)) + " . " +
             std::to_string(100 + i / 50000);
  return chain("\tset pairs {\n\t\ttype ipv4_addr . inet_service;\n\t\telements = { " + elems +
               " }\n\t}\n") +
         "\t\tip saddr . udp dport @pairs counter drop\n\t\tct state established counter "
         "accept\n\t}\n}\n";
}

// A dynamic set every packet updates with its `key` (type `type`).
std::string dynset(uint32_t size, const std::string& type = "ipv4_addr",
                   const std::string& key = "ip saddr") {
  return chain("\tset seen {\n\t\ttype " + type + ";\n\t\tsize " + std::to_string(size) +
               ";\n\t\tflags dynamic,timeout;\n\t\ttimeout 60s;\n\t}\n") +
         "\t\tupdate @seen { " + key + " }\n\t\tct state established counter accept\n\t}\n}\n";
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  std::vector<std::string> eal = {"bench", "--no-huge", "-m",
                                  "2048",  "--no-pci",  "--file-prefix=bench-ruleset",
                                  "-l",    "0",         "--log-level=lib.*:error"};
  std::vector<char*> ev;
  for (auto& s : eal) ev.push_back(s.data());
  if (rte_eal_init(static_cast<int>(ev.size()), ev.data()) < 0) return 1;

  bench b;
  auto made = gateway_create(make_config(FLAGS_flows), "br");
  if (!made) {
    std::fprintf(stderr, "%s\n", made.error().to_string().c_str());
    return 1;
  }
  b.gw = (*made).release();
  b.w = b.gw->workers[0];
  b.w->tx_sink = sink;
  b.w->tx_sink_arg = &b.snk;
  b.tmpl = make_templates(FLAGS_flows);
  rte_rcu_qsbr_thread_online(b.gw->qs, 0);

  std::printf("ctgate-bench-ruleset: %u flows, %lu packets per case, tsc %lu Hz\n", FLAGS_flows,
              static_cast<unsigned long>(FLAGS_packets),
              static_cast<unsigned long>(rte_get_tsc_hz()));
  double plain = b.run(FLAGS_packets);
  std::printf("%-14s %8.1f cycles/pkt\n", "plain", plain);
  rte_rcu_qsbr_thread_offline(b.gw->qs, 0);
  if (!enable_conntrack(*b.gw)) return 1;
  rte_rcu_qsbr_thread_online(b.gw->qs, 0);
  b.run(FLAGS_flows);  // create every flow once
  b.run(FLAGS_flows);  // and make them established (second packet)
  double ct_only = b.run(FLAGS_packets);
  std::printf("%-14s %8.1f cycles/pkt  (+%.1f over plain)\n", "ct_only", ct_only, ct_only - plain);

  struct kase {
    const char* name;
    std::string text;
    bool warm = false;  // one packet per flow first (fills a dynamic set)
  } cases[] = {{"rules_0", rules(0)},
               {"rules_10", rules(10)},
               {"rules_1000", rules(1000)},
               {"set_100k", big_set(100000, false)},
               {"set_100k_hit", allowed_set(100000)},
               {"set_100k_int", big_set(100000, true)},
               {"vmap_10k", vmap(10000)},
               {"concat_100k", concat_set(100000)},
               {"dynset_hot", dynset(1024, "inet_service", "udp dport"), true},
               {"dynset_1m", dynset(1u << 20), true}};
  const std::string wanted = "," + FLAGS_cases + ",";
  for (const auto& k : cases) {
    if (!FLAGS_cases.empty() && wanted.find("," + std::string(k.name) + ",") == std::string::npos)
      continue;
    double load_ms = b.load(k.text);
    if (k.warm) b.run(FLAGS_flows);
    double c = b.run(FLAGS_packets);
    std::printf("%-14s %8.1f cycles/pkt  (+%.1f over ct_only, x%.2f of plain)  load %.1f ms\n",
                k.name, c, c - ct_only, c / plain, load_ms);
  }
  // The SYN-cookie path is measured by ctgate-bench-cycles (syn_* cases).
  if (!FLAGS_latency) {
    rte_rcu_qsbr_thread_offline(b.gw->qs, 0);
    delete b.gw;
    rte_eal_cleanup();
    return 0;
  }
  std::vector<double> loads;
  for (int i = 0; i < 5; i++) loads.push_back(b.load(big_set(100000, i % 2 == 0)));
  std::sort(loads.begin(), loads.end());
  std::printf(
      "reload_100k_ms median %.1f (min %.1f max %.1f): parse + compile + publish + grace period\n",
      loads[2], loads[0], loads[4]);
  // Element commands on the live 100k-element set. Alone they edit the set in place
  // (element_update.h); behind a no-op `add table` the same element goes through a full load
  // (copy, parse, compile, publish), the path every element command took before.
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (bool interval : {false, true}) {
    b.load(big_set(100000, interval));
    std::vector<double> full, add, del;
    for (int i = 1; i <= 5; i++) {
      const std::string a = "192.0.2." + std::to_string(i), c = "198.51.100." + std::to_string(i);
      full.push_back(b.load("add table ip f\nadd element ip f blocked { " + a + " }\n"));
      add.push_back(b.load("add element ip f blocked { " + c + " }\n"));
      del.push_back(b.load("delete element ip f blocked { " + c + " }\n"));
    }
    std::string batch;
    for (int i = 0; i < 1000; i++)
      batch += (i ? ", " : "") + std::string("100.64.") + std::to_string(i / 250) + "." +
               std::to_string(1 + i % 250);
    const double add_1000 = b.load("add element ip f blocked { " + batch + " }\n");
    std::printf(
        "element_100k_%s_ms add %.3f delete %.3f add_1000 %.3f full_load_add %.1f (medians of 5; "
        "add_1000 once)\n",
        interval ? "interval" : "exact", median(add), median(del), add_1000, median(full));
  }
  std::printf("flows still tracked: %ld (every case ran on established flows)\n",
              static_cast<long>(b.gw->ct.table->count()));
  rte_rcu_qsbr_thread_offline(b.gw->qs, 0);
  delete b.gw;
  rte_eal_cleanup();
  return 0;
}
