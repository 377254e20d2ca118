// libFuzzer target: the whole pipeline on arbitrary frames.
//
// The gateway of fuzz_gateway.h is built once. An input is a sequence of
// records
//
//   [port & 3] [time advance] [length, 2 bytes big-endian] [frame bytes]
//
// (ports 0 and 1 route; 2 and 3 are members of a bridge: an access port and a trunk; port 0's
// frames tagged 100 are its VLAN subinterface lan.100's)
// (the advance byte: 0..199 ms, or 200+ meaning (b - 200) seconds, so
// timeouts and reassembly expiry are reached). Frames of one port with no
// time step between them go through process_burst() together, up to 32.
//
// After every input the invariants below must hold, or the target aborts:
// - no unconfirmed conntrack entry is left, none ever leaked;
// - the table's count equals the entries a scan finds;
// - every mbuf is back in its pool, in the TX sink (freed at once), held by
//   reassembly or waiting for a neighbour; no reassembly buffer is out;
// - the TX sink received exactly what the counters say was transmitted.
// Then the state is reset (table flushed, fragments expired, neighbour
// queues emptied) so inputs do not depend on each other.
#include <rte_mempool.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "conntrack/ct_format.h"
#include "control/gateway.h"
#include "control/rule_log.h"
#include "dataplane/defrag.h"
#include "fuzz/fuzz_gateway.h"

namespace {

using namespace ctgate;

struct harness {
  gateway* gw = nullptr;
  worker_ctx* w = nullptr;
  uint64_t sunk = 0;
  unsigned mbufs_free = 0;  // the pool's free count with nothing in flight

  static void sink(void* arg, uint16_t, rte_mbuf** pkts, uint16_t n) {
    auto* h = static_cast<harness*>(arg);
    h->sunk += n;
    rte_pktmbuf_free_bulk(pkts, n);
  }

  harness() {
    gw = fuzz::make_gateway();
    w = gw->workers[0];
    w->tx_sink = &harness::sink;
    w->tx_sink_arg = this;
    w->now_ms = 1000;
    mbufs_free = rte_mempool_avail_count(gw->mbuf_pool);
  }

  void burst(uint16_t port, rte_mbuf** pkts, uint16_t n) {
    fuzz::run_burst(*gw, *w, port, pkts, n);
  }

  unsigned neigh_held() const {
    unsigned n = 0;
    for (uint8_t i = 0; i < w->n_neigh_waits; i++) n += w->neigh_waits[i].n;
    return n;
  }

  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }

  void check(uint64_t tx_before, uint64_t sunk_before) {
    if (w->ct.n_unconfirmed != 0) fail("unconfirmed entries left after the input");
    if (w->counters.get(dp_counter::unconfirmed_leaked) != 0) fail("an unconfirmed entry leaked");
    std::atomic<int64_t> scanned{0};
    ct::scan(*gw->ct.table, {}, [&](const ct::entry_view&) { scanned++; });
    if (scanned.load() != gw->ct.table->count()) fail("table count differs from a scan");
    // A reassembled IPv6 datagram no bigger than its largest fragment leaves whole, in its
    // reassembly buffer: one may wait for a neighbour like any packet.
    const unsigned reasm_out = rte_mempool_in_use_count(gw->reasm_pool);
    const unsigned out = mbufs_free - rte_mempool_avail_count(gw->mbuf_pool) + reasm_out;
    if (out != w->defrag->held_frags + w->defrag6->held_frags + neigh_held())
      fail("mbufs out of the pools unaccounted");
    if (reasm_out > neigh_held()) fail("a reassembly buffer is out");
    if (w->counters.get(dp_counter::tx) - tx_before != sunk - sunk_before)
      fail("tx counter != frames transmitted");
  }

  // The log lines of the input's packets, written as the control thread writes them: the
  // formatter parses whatever bytes the packets had.
  void drain_logs() {
    nft_log_record r;
    while (w->logs->pop(&r))
      if (rule_log_line(*gw, r).empty()) fail("empty log line");
  }

  // Back to an empty gateway: nothing carries over to the next input.
  void reset() {
    drain_logs();
    std::vector<ct::ct_worker*> ws = {&w->ct};
    ct::delete_matching(*gw->ct.table, {}, ws.data(), 1);
    w->now_ms += 61000;  // past ipfrag.time_ms and ipfrag6.time_ms
    burst(0, nullptr, 0);
    for (uint8_t i = 0; i < w->n_neigh_waits; i++) {
      for (rte_mbuf*& m : w->neigh_waits[i].q)
        if (m != nullptr) rte_pktmbuf_free(m);
      w->neigh_waits[i] = neigh_wait{};
    }
    w->n_neigh_waits = 0;
    if (gw->ct.table->count() != 0) fail("flush left entries");
    for (bridge_info& br : gw->bridges) br.table->flush(-1);
  }
};

harness* h = nullptr;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (h == nullptr) h = new harness();
  const uint64_t tx_before = h->w->counters.get(dp_counter::tx);
  const uint64_t sunk_before = h->sunk;
  rte_mbuf* pkts[32];
  uint16_t n = 0, burst_port = 0;
  size_t off = 0;
  while (off + 4 <= size) {
    const uint16_t port = data[off] & 3;
    const uint8_t adv = data[off + 1];
    size_t len = static_cast<size_t>(data[off + 2]) << 8 | data[off + 3];
    off += 4;
    len = std::min({len, size - off, size_t{2000}});
    if (n != 0 && (port != burst_port || adv != 0 || n == 32)) {
      h->burst(burst_port, pkts, n);
      n = 0;
    }
    h->w->now_ms += adv < 200 ? adv : (adv - 200u) * 1000u;
    rte_mbuf* m = rte_pktmbuf_alloc(h->gw->mbuf_pool);
    if (m == nullptr) harness::fail("mbuf pool exhausted");
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), data + off, len);
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    off += len;
    burst_port = port;
    pkts[n++] = m;
  }
  if (n != 0) h->burst(burst_port, pkts, n);
  h->burst(0, nullptr, 0);  // what happens between bursts (retries, generated packets)
  h->check(tx_before, sunk_before);
  h->reset();
  return 0;
}
