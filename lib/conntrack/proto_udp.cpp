// UDP tracker: Linux's two-timeout scheme (nf_conntrack_proto_udp.c, 6.x).
//
// An unanswered flow lives on the short "udp" timeout. Once a reply has been
// seen, a flow still active more than two seconds after its first packet is
// a stream: it gets the long "udp_stream" timeout and is ASSURED. The delay
// keeps one-shot request/response traffic such as DNS short-lived and
// evictable.
#include <cstdint>

#include "conntrack/proto.h"

namespace ctgate::ct {
namespace {

constexpr uint32_t stream_delay_ms = 2000;

// Wrap-safe "a is later than b" for the 32-bit millisecond clock, like the
// kernel's time_after() on jiffies.
constexpr bool time_after(uint32_t a, uint32_t b) { return static_cast<int32_t>(b - a) < 0; }

bool udp_new_flow(const l4_info& /*pkt*/, const tcp_segment* /*seg*/, const tracker_params& /*p*/,
                  uint32_t now_ms, track_state* st, tcp_window* /*win*/) {
  *st = track_state{};
  st->tclass = TC_UDP;
  st->stream_ms = now_ms + stream_delay_ms;
  return true;
}

track_result udp_packet(track_state* st, tcp_window* /*win*/, uint16_t status, ct_dir /*dir*/,
                        const l4_info& /*pkt*/, const tcp_segment* /*seg*/,
                        const tracker_params& /*p*/, uint32_t now_ms) {
  track_result r;
  const bool replied = (status & CT_STATUS_SEEN_REPLY) != 0;
  uint8_t tclass = TC_UDP;
  if (replied && time_after(now_ms, st->stream_ms)) {
    tclass = TC_UDP_STREAM;
    if ((status & CT_STATUS_ASSURED) == 0) r.set_status = CT_STATUS_ASSURED;
  }
  // The class is all a packet can change.
  r.state_kept = st->tclass == tclass;
  st->tclass = tclass;
  return r;
}

}  // namespace

const l4_tracker udp_tracker = {"udp", udp_new_flow, udp_packet};

}  // namespace ctgate::ct
