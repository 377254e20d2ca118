// Generic tracker for every IP protocol without one of its own
// (nf_conntrack_proto_generic.c): addresses only, one timeout, never ASSURED.
#include <cstdint>

#include "conntrack/proto.h"

namespace ctgate::ct {
namespace {

bool generic_new_flow(const l4_info& /*pkt*/, const tcp_segment* /*seg*/,
                      const tracker_params& /*p*/, uint32_t /*now_ms*/, track_state* st,
                      tcp_window* /*win*/) {
  *st = track_state{};
  st->tclass = TC_GENERIC;
  return true;
}

track_result generic_packet(track_state* st, tcp_window* /*win*/, uint16_t /*status*/,
                            ct_dir /*dir*/, const l4_info& /*pkt*/, const tcp_segment* /*seg*/,
                            const tracker_params& /*p*/, uint32_t /*now_ms*/) {
  track_result r;
  r.state_kept = st->tclass == TC_GENERIC;
  st->tclass = TC_GENERIC;
  return r;
}

}  // namespace

// "unknown" is what conntrack -L prints for these protocols.
const l4_tracker generic_tracker = {"unknown", generic_new_flow, generic_packet};

}  // namespace ctgate::ct
