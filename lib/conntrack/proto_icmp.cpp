// ICMP tracker: query/answer pairs (nf_conntrack_proto_icmp.c).
//
// Only the four query types may open an entry; errors (unreachable, time
// exceeded, ...) are RELATED to the flow they quote and are handled by the
// caller, never by this tracker. The flow key ignores type and code, so the
// tracker remembers the request type (in l4state) and checks each packet
// against it, which is what Linux's tuple match does implicitly.
#include <cstdint>

#include "conntrack/proto.h"

namespace ctgate::ct {
namespace {

constexpr uint8_t icmp_no_type = 0xff;

// The answer type for a query type; icmp_no_type if `type` is not a query.
constexpr uint8_t answer_type(uint8_t type) {
  switch (type) {
    case icmp::echo:
      return icmp::echo_reply;
    case icmp::timestamp:
      return icmp::timestamp_reply;
    case icmp::info_request:
      return icmp::info_reply;
    case icmp::address:
      return icmp::address_reply;
    default:
      return icmp_no_type;
  }
}

bool icmp_new_flow(const l4_info& pkt, const tracker_params& /*p*/, uint32_t /*now_ms*/,
                   track_state* st) {
  // Any code, as Linux (the code is part of the printed tuple, not of the key).
  if (answer_type(pkt.icmp_type) == icmp_no_type) return false;
  *st = track_state{};
  st->l4state = pkt.icmp_type;
  st->tclass = TC_ICMP;
  return true;
}

// Original-direction packets repeat the query, reply-direction packets answer
// it. The code is not compared (Linux's tuple would also require the same code).
bool icmp_fits(const track_state& st, ct_dir dir, const l4_info& pkt) {
  if (answer_type(st.l4state) == icmp_no_type) return false;
  const uint8_t want = dir == ct_dir::original ? st.l4state : answer_type(st.l4state);
  return pkt.icmp_type == want;
}

track_result icmp_packet(track_state* st, uint16_t /*status*/, ct_dir dir, const l4_info& pkt,
                         const tracker_params& /*p*/, uint32_t /*now_ms*/) {
  if (!icmp_fits(*st, dir, pkt)) {
    track_result r;
    r.verdict = track_verdict::invalid;
    return r;
  }
  // Every answered query refreshes the same short timeout; queries are never
  // ASSURED, so they stay the first candidates for early drop.
  st->tclass = TC_ICMP;
  return track_result{};
}

}  // namespace

const l4_tracker icmp_tracker = {"icmp", icmp_new_flow, icmp_packet};

}  // namespace ctgate::ct
