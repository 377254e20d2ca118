// ctgate-replay: feeds a packet sequence through the real pipeline, one
// packet per burst, in order, and prints what happened after each step.
// Differential tests drive the kernel and this tool with the same sequence.
//
//   ctgate-replay --config FILE < steps
//
//   ctgate-replay --config FILE --ruleset RULES.nft < steps
//
// Input, one step per line:  PORT HEXFRAME [ADVANCE_MS]
// Output per step:
//   step N
//   out PORT HEXFRAME           (each frame transmitted)
//   verdict pass|drop
//   ct <conntrack -L line>      (the whole table after the step)
// and, after the last step:
//   stat invalid=N              (conntrack -S's invalid count)
// The config's ports need no devices: TX is captured.
#include <gflags/gflags.h>
#include <rte_eal.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "conntrack/ct_format.h"
#include "control/gateway.h"
#include "control/ruleset_runtime.h"
#include "dataplane/stages.h"

DEFINE_string(config, "", "gateway config (ports need no devices)");
DEFINE_string(ruleset, "", "nft ruleset to load before the first step");

namespace {

std::vector<std::pair<uint16_t, std::string>> g_out;

void sink(void*, uint16_t port, rte_mbuf** pkts, uint16_t n) {
  static const char* hex = "0123456789abcdef";
  for (uint16_t i = 0; i < n; i++) {
    std::string s;
    const auto* p = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
    for (uint32_t b = 0; b < rte_pktmbuf_data_len(pkts[i]); b++) {
      s += hex[p[b] >> 4];
      s += hex[p[b] & 15];
    }
    g_out.emplace_back(port, s);
    rte_pktmbuf_free(pkts[i]);
  }
}

bool unhex(const std::string& h, std::vector<uint8_t>* out) {
  if (h.size() % 2 != 0) return false;
  for (size_t i = 0; i < h.size(); i += 2) {
    char* end = nullptr;
    std::string byte = h.substr(i, 2);
    long v = std::strtol(byte.c_str(), &end, 16);
    if (*end != '\0') return false;
    out->push_back(static_cast<uint8_t>(v));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  auto cfg = ctgate::load_config(FLAGS_config);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str());
    return 1;
  }
  cfg->workers = 1;
  std::string prefix = "--file-prefix=ctgate-replay-" + std::to_string(getpid());
  std::vector<std::string> eal = {
      "ctgate-replay",          "--no-huge", "-m", "512", "--no-pci", prefix, "-l", "0",
      "--log-level=lib.*:error"};
  std::vector<char*> ev;
  for (auto& s : eal) ev.push_back(s.data());
  if (rte_eal_init(static_cast<int>(ev.size()), ev.data()) < 0) return 1;
  auto made = ctgate::gateway_create(*cfg, "replay");
  if (!made) {
    std::fprintf(stderr, "%s\n", made.error().to_string().c_str());
    return 1;
  }
  ctgate::gateway* gw = (*made).release();
  if (!FLAGS_ruleset.empty()) {
    auto r = ctgate::load_ruleset_file(*gw, FLAGS_ruleset);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
      return 1;
    }
    for (const auto& warning : r->warnings) std::fprintf(stderr, "%s\n", warning.c_str());
  }
  ctgate::worker_ctx& w = *gw->workers[0];
  w.tx_sink = sink;
  w.now_ms = 1000;
  std::string line;
  int step = 0;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    unsigned port = 0;
    std::string hexframe;
    uint32_t advance = 0;
    if (!(in >> port >> hexframe)) continue;
    in >> advance;
    std::vector<uint8_t> frame;
    if (port >= gw->ports.size() || !unhex(hexframe, &frame)) {
      std::fprintf(stderr, "bad step %d: %s\n", step + 1, line.c_str());
      return 1;
    }
    w.now_ms += advance;
    rte_mbuf* m = rte_pktmbuf_alloc(gw->mbuf_pool);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.data(), frame.size());
    m->data_len = m->pkt_len = static_cast<uint32_t>(frame.size());
    g_out.clear();
    uint64_t tx_before = w.counters.get(ctgate::dp_counter::tx);
    rte_rcu_qsbr_thread_online(gw->qs, 0);
    ctgate::sync_clock_from_ms(w);
    ctgate::process_burst(w, static_cast<uint16_t>(port), &m, 1);
    ctgate::stage_tx_flush(w);
    ctgate::ct::ct_housekeeping(w.ct, w.now_ms, 1u << 20);
    ctgate::defrag_tick(w, 1u << 20);
    ctgate::stage_tx_flush(w);
    rte_rcu_qsbr_quiescent(gw->qs, 0);
    rte_rcu_qsbr_thread_offline(gw->qs, 0);
    std::printf("step %d\n", ++step);
    for (auto& [p, h] : g_out) std::printf("out %u %s\n", p, h.c_str());
    bool passed = w.counters.get(ctgate::dp_counter::tx) > tx_before;
    std::printf("verdict %s\n", passed ? "pass" : "drop");
    for (const auto& l : ctgate::ct::list_lines(*gw->ct.table, {}, w.now_ms))
      std::printf("ct %s\n", l.c_str());
    std::fflush(stdout);
  }
  // Linux's conntrack -S "invalid", for the differential tests' comparison.
  std::printf("stat invalid=%llu\n",
              static_cast<unsigned long long>(w.ct.counters.get(ctgate::ct::ct_counter::invalid)));
  delete gw;
  rte_eal_cleanup();
  return 0;
}
