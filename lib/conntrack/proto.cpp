// The tracker table, the printable names, and the single place where a
// tracker state becomes a timeout class (see docs/design/trackers.md).
#include "conntrack/proto.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>

#include "config/config.h"

namespace ctgate::ct {
namespace {

constexpr uint8_t ip_proto_icmp = 1;
constexpr uint8_t ip_proto_tcp = 6;
constexpr uint8_t ip_proto_udp = 17;
constexpr uint8_t ip_proto_icmpv6 = 58;

constexpr std::array<const l4_tracker*, 256> build_tracker_table() {
  std::array<const l4_tracker*, 256> table{};
  for (auto& slot : table) slot = &generic_tracker;
  table[ip_proto_icmp] = &icmp_tracker;
  table[ip_proto_tcp] = &tcp_tracker;
  table[ip_proto_udp] = &udp_tracker;
  table[ip_proto_icmpv6] = &icmpv6_tracker;
  return table;
}

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
    "icmpv6",
};

uint32_t seconds_to_ms(uint32_t seconds) {
  constexpr uint32_t max_ms = std::numeric_limits<uint32_t>::max();
  // Saturate instead of wrapping: a huge configured value must not become a tiny one.
  if (seconds > max_ms / 1000) return max_ms;
  return seconds * 1000;
}

}  // namespace

// constinit: no initialisation-order questions for the workers or the other statics.
constinit const std::array<const l4_tracker*, 256> tracker_table = build_tracker_table();

const timeout_table& linux_default_timeouts() {
  static const timeout_table table = make_timeout_table(conntrack_timeouts{});
  return table;
}

const char* tcp_state_name(uint8_t state) {
  return state < tcp_state_names.size() ? tcp_state_names[state] : "UNKNOWN";
}

const char* timeout_class_name(uint8_t tclass) {
  return tclass < timeout_class_names.size() ? timeout_class_names[tclass] : "unknown";
}

std::string tcp_reason_message(uint8_t reason, uint32_t bound) {
  char buf[160];
  const unsigned index = bound & 0xff, dir = (bound >> 8) & 0xff;
  const char* state = tcp_state_name(static_cast<uint8_t>(bound >> 16));
  switch (reason) {
    case TCP_REASON_FLAGS: return "invalid tcp flag combination";
    case TCP_REASON_STATE:
      std::snprintf(buf, sizeof buf, "packet (index %u) in dir %u invalid, state %s", index, dir,
                    state);
      return buf;
    case TCP_REASON_SEQ_OVER:
      std::snprintf(buf, sizeof buf, "SEQ is over upper bound %u (over the window of the receiver)",
                    bound);
      return buf;
    case TCP_REASON_ACK_OVER:
      std::snprintf(buf, sizeof buf, "ACK is over upper bound %u (ACKed data not seen yet)", bound);
      return buf;
    case TCP_REASON_RST: return "invalid rst";
    case TCP_REASON_IGNORED_STATE:
      std::snprintf(buf, sizeof buf, "packet (index %u) in dir %u ignored, state %s", index, dir,
                    state);
      return buf;
    case TCP_REASON_OVERSHOOT:
      std::snprintf(buf, sizeof buf, "%u bytes more than expected", bound);
      return buf;
    case TCP_REASON_SEQ_UNDER:
      std::snprintf(buf, sizeof buf,
                    "SEQ is under lower bound %u (already ACKed data retransmitted)", bound);
      return buf;
    case TCP_REASON_ACK_UNDER:
      std::snprintf(buf, sizeof buf, "ignored ACK under lower bound %u (possible overly delayed)",
                    bound);
      return buf;
    case TCP_REASON_CHALLENGE_ACK: return "challenge-ack ignored";
    default: return "ok";
  }
}

timeout_table make_timeout_table(const conntrack_timeouts& t) {
  static_assert(TC_COUNT == 15, "a new timeout class needs a config key and a line here");
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
  out.ms[TC_ICMPV6] = seconds_to_ms(t.icmpv6);
  return out;
}

}  // namespace ctgate::ct
