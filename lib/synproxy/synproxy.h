// Synproxy, a vertical module: nft's `synproxy` statement and the built-in
// callbacks on the data plane (synproxy.cpp), the automatic defence decided
// on the control thread (auto_mode.cpp), its per-flow state as conntrack
// extensions, and the finished-flow filter it keeps from conntrack's finish
// reports (finished_filter.h). The gateway holds it as an opaque
// synproxy_state: the data plane below knows nothing of it.
//
//   client            ctgate                         server
//   SYN        ->     (untracked) SYN-ACK, seq = cookie, window 0    nothing allocated
//   ACK        ->     cookie ok: entry created, our SYN via LOCAL_OUT ->
//                                                <-  SYN-ACK (server ISN)
//                     offsets stored; SYN-ACK rewritten into ACK  ->
//              <-     window update (opens the client's window)
//   data <-> data     seq/ack, SACK and timestamps translated for the flow's life
//
// As in Linux, use it with `notrack` for the service's SYNs in raw prerouting,
// `ct state invalid,untracked synproxy ...` in filter, `ct state invalid drop`,
// and conntrack.tcp_loose: false (so the client's ACK is INVALID, not a pickup).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <memory>
#include <vector>

#include "common/counters.h"
#include "conntrack/ct_ext.h"
#include "hook/hook_registry.h"
#include "synproxy/cookie.h"
#include "synproxy/finished_filter.h"

struct rte_mbuf;

namespace ctgate {

struct worker_ctx;
struct pkt_meta;

#define SYNPROXY_COUNTERS(X)                                                            \
  X(syn_received, "SYNs that reached a synproxy rule")                                  \
  X(cookies_sent, "SYN-ACKs with a cookie sent (no state allocated)")                   \
  X(cookies_not_sent, "SYNs dropped: the burst's output queue was full")                \
  X(cookies_valid, "ACKs with a valid cookie: connection opened to the server")         \
  X(cookies_invalid, "ACKs with a bad or expired cookie: dropped")                      \
  X(handshakes_completed, "server SYN-ACKs answered: both sides joined")                \
  X(server_synack_retransmits, "server SYN-ACKs after the join (re-answered)")          \
  X(table_full, "valid cookies refused: conntrack table full")                          \
  X(duplicate_acks, "cookie ACKs for a flow already opened: SYN re-sent while joining") \
  X(translated, "packets with sequence numbers translated")                             \
  X(join_races, "packets dropped while another worker joined the same handshake")       \
  X(finished_filter_skip, "SYNs that needed no lookup for a finished entry")
CTGATE_DEFINE_COUNTERS(synproxy_counter, SYNPROXY_COUNTERS)

// Cookie secrets, double-buffered: the control thread rotates the inactive
// copy and flips the index; workers read the active one.
class synproxy_secrets {
 public:
  explicit synproxy_secrets(uint64_t seed = 0);
  const synproxy::cookie_secrets& current() const {
    return buf_[idx_.load(std::memory_order_acquire)];
  }
  // Rotates in a fresh key (from getrandom) when a period has passed.
  void maybe_rotate(uint32_t now_s);

 private:
  synproxy::cookie_secrets buf_[2];
  std::atomic<int> idx_{0};
  uint32_t last_rotation_s_ = 0;
};

struct synproxy_options {
  uint16_t mss = 1460;
  uint8_t wscale = 0xff;  // 0xff: do not offer window scaling
  bool timestamp = false;
  bool sack_perm = false;
};

enum class synproxy_action : uint8_t { none, stolen, drop, accept };

// The `synproxy` statement for one packet. none: the statement does not
// apply (evaluation continues); stolen: the packet became the SYN-ACK, queued
// back to the client, or the client's ACK became the SYN to the server, queued
// for LOCAL_OUT with its new entry attached; accept (`in_place`, the automatic
// defence's): that SYN goes on in the packet's place; drop: a bad cookie, a
// duplicate ACK with nothing to send, or no room (table or queue full).
synproxy_action synproxy_stmt(worker_ctx& w, rte_mbuf* mb, pkt_meta* m, const synproxy_options& o,
                              bool in_place = false);

// Automatic defence (config `synproxy.auto`): cookie mode for protected TCP
// ports without a ruleset change. Workers read `on` once per burst; the
// control thread decides it from table fill and new-flow rate.
struct synproxy_auto_state {
  bool configured = false;
  synproxy_options opts;
  uint8_t port_bits[8192] = {};  // protected destination ports
  std::atomic<bool> on{false};
  std::atomic<uint32_t> ack_check_until_ms{0};  // keep validating cookies after switching off
  std::atomic<uint64_t> switches_on{0};
  std::atomic<uint64_t> switches_off{0};
  // control-thread bookkeeping
  uint64_t last_new = 0;
  uint64_t last_cookies = 0;
  uint32_t last_ms = 0;
  bool protects(uint16_t port) const { return port_bits[port >> 3] & (1u << (port & 7)); }
};

// Conntrack extension of a handshake being joined (ct_ext_id::synproxy): our
// cookie (the ISN the client saw) and the TSval of our SYN-ACK. Once the
// server answers, the entry switches to the seqadj extension (seq_delta).
struct synproxy_join {
  static constexpr ct::ct_ext_id ext_id = ct::ct_ext_id::synproxy;
  uint32_t cookie;
  uint32_t our_tsval;
};

// One worker's synproxy counters; written by that worker only.
struct alignas(64) synproxy_worker {
  synproxy_counter_block counters;
  // The gateway's filter (synproxy_state::finished), one hop nearer for
  // the per-SYN check.
  const synproxy::finished_filter* finished = nullptr;
};

// A gateway's synproxy: owned through gateway::synproxy, built by
// synproxy_init with the gateway and destroyed with it.
struct synproxy_state {
  synproxy_secrets secrets;
  synproxy_auto_state auto_mode;
  synproxy::finished_filter finished;
  bool hook_registered = false;  // the POST_ROUTING callback; guarded by gateway::ruleset_mu
  std::vector<std::unique_ptr<synproxy_worker>> workers;  // worker_ctx::synproxy points here
};

struct gateway;
// Builds gw.synproxy for the gateway's workers, feeds the finished filter
// from conntrack, and, when the config enables the automatic defence,
// registers its callbacks (the PRE_ROUTING one before raw, and the synproxy
// POST_ROUTING one). Before the workers start.
result<void> synproxy_init(gateway& gw);
// Control thread, every ~100 ms: switches cookie mode on or off. Returns the
// line to log when it switched, empty otherwise.
std::string synproxy_auto_tick(gateway& gw, uint32_t now_ms);

// Registers the POST_ROUTING callback (priority PRI_SYNPROXY = INT_MAX - 1, as Linux's
// synproxy hook) that joins the server side and translates established
// proxied flows. Once registered it stays: flows outlive rulesets.
result<void> register_synproxy_hook(hook_registry::editor& ed);
// Registers the automatic defence's PRE_ROUTING callback (PRI_SYNPROXY_AUTO,
// before raw and conntrack).
result<void> register_synproxy_auto_hook(hook_registry::editor& ed);

}  // namespace ctgate
