// The tracker table, the printable names, and the single place where a
// tracker state becomes a timeout class (see docs/design/trackers.md).
#include "conntrack/proto.h"

#include <array>
#include <cstdint>
#include <limits>

#include "config/config.h"

namespace ctgate::ct {
namespace {

constexpr uint8_t ip_proto_icmp = 1;
constexpr uint8_t ip_proto_tcp = 6;
constexpr uint8_t ip_proto_udp = 17;

// Built at compile time so a lookup on the packet path is one indexed load
// and the table needs no start-up code (no initialisation-order questions).
constexpr std::array<const l4_tracker*, 256> build_tracker_table() {
  std::array<const l4_tracker*, 256> table{};
  for (auto& slot : table) slot = &generic_tracker;
  table[ip_proto_icmp] = &icmp_tracker;
  table[ip_proto_tcp] = &tcp_tracker;
  table[ip_proto_udp] = &udp_tracker;
  return table;
}

constexpr std::array<const l4_tracker*, 256> tracker_table = build_tracker_table();

// Spelled as Linux prints them in /proc/net/nf_conntrack and conntrack -L.
constexpr std::array<const char*, TCP_CT_MAX> tcp_state_names = {
    "NONE",       "SYN_SENT", "SYN_RECV",  "ESTABLISHED", "FIN_WAIT",
    "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",       "SYN_SENT2",
};

// The keys of conntrack.timeouts, which are the conntrack_timeouts fields.
constexpr std::array<const char*, TC_COUNT> timeout_class_names = {
    "tcp_syn_sent",
    "tcp_syn_recv",
    "tcp_established",
    "tcp_fin_wait",
    "tcp_close_wait",
    "tcp_last_ack",
    "tcp_time_wait",
    "tcp_close",
    "tcp_unacknowledged",
    "tcp_max_retrans",
    "udp",
    "udp_stream",
    "icmp",
    "generic",
};

// What a TCP state costs when nothing special applies. SYN_SENT2 has no
// class of its own (Linux has a separate, not configurable 120 s value; ours
// follows tcp_syn_sent). NONE never lives in an entry; Linux also makes its
// slot equal to SYN_SENT.
timeout_class tcp_state_class(uint8_t state) {
  switch (state) {
    case TCP_CT_NONE:
    case TCP_CT_SYN_SENT:
    case TCP_CT_SYN_SENT2: return TC_TCP_SYN_SENT;
    case TCP_CT_SYN_RECV: return TC_TCP_SYN_RECV;
    case TCP_CT_ESTABLISHED: return TC_TCP_ESTABLISHED;
    case TCP_CT_FIN_WAIT: return TC_TCP_FIN_WAIT;
    case TCP_CT_CLOSE_WAIT: return TC_TCP_CLOSE_WAIT;
    case TCP_CT_LAST_ACK: return TC_TCP_LAST_ACK;
    case TCP_CT_TIME_WAIT: return TC_TCP_TIME_WAIT;
    default:
      // CLOSE, and any corrupt value: the shortest TCP lifetime is the safe bet.
      return TC_TCP_CLOSE;
  }
}

uint32_t seconds_to_ms(uint32_t seconds) {
  constexpr uint32_t max_ms = std::numeric_limits<uint32_t>::max();
  // Saturate instead of wrapping: a huge configured value must not become a tiny one.
  if (seconds > max_ms / 1000) return max_ms;
  return seconds * 1000;
}

}  // namespace

const l4_tracker& tracker_for(uint8_t ip_proto) { return *tracker_table[ip_proto]; }

const char* tcp_state_name(uint8_t state) {
  return state < tcp_state_names.size() ? tcp_state_names[state] : "UNKNOWN";
}

const char* timeout_class_name(uint8_t tclass) {
  return tclass < timeout_class_names.size() ? timeout_class_names[tclass] : "unknown";
}

timeout_class timeout_class_for_tcp(uint8_t state, uint16_t status, uint8_t flag_index) {
  // Linux gives any RST the close timeout, whatever state the table chose.
  if (flag_index == TCP_IDX_RST) return TC_TCP_CLOSE;
  // ESTABLISHED before any reply is a loose mid-stream pickup: Linux caps it
  // at the "unacknowledged" timeout so one stray ACK cannot pin an entry for
  // five days. (Linux also uses that cap for unacknowledged data and the
  // retransmission cap for repeated segments; both need window tracking,
  // which we do not have.)
  if (state == TCP_CT_ESTABLISHED && (status & CT_STATUS_SEEN_REPLY) == 0) return TC_TCP_UNACK;
  return tcp_state_class(state);
}

timeout_table make_timeout_table(const conntrack_timeouts& t) {
  static_assert(TC_COUNT == 14, "a new timeout class needs a config key and a line here");
  timeout_table out{};
  out.ms[TC_TCP_SYN_SENT] = seconds_to_ms(t.tcp_syn_sent);
  out.ms[TC_TCP_SYN_RECV] = seconds_to_ms(t.tcp_syn_recv);
  out.ms[TC_TCP_ESTABLISHED] = seconds_to_ms(t.tcp_established);
  out.ms[TC_TCP_FIN_WAIT] = seconds_to_ms(t.tcp_fin_wait);
  out.ms[TC_TCP_CLOSE_WAIT] = seconds_to_ms(t.tcp_close_wait);
  out.ms[TC_TCP_LAST_ACK] = seconds_to_ms(t.tcp_last_ack);
  out.ms[TC_TCP_TIME_WAIT] = seconds_to_ms(t.tcp_time_wait);
  out.ms[TC_TCP_CLOSE] = seconds_to_ms(t.tcp_close);
  out.ms[TC_TCP_UNACK] = seconds_to_ms(t.tcp_unacknowledged);
  out.ms[TC_TCP_RETRANS] = seconds_to_ms(t.tcp_max_retrans);
  out.ms[TC_UDP] = seconds_to_ms(t.udp);
  out.ms[TC_UDP_STREAM] = seconds_to_ms(t.udp_stream);
  out.ms[TC_ICMP] = seconds_to_ms(t.icmp);
  out.ms[TC_GENERIC] = seconds_to_ms(t.generic);
  return out;
}

}  // namespace ctgate::ct
