// ICMP tracker: query/answer pairs (nf_conntrack_proto_icmp.c).
//
// Only the four query types may open an entry; errors (unreachable, time
// exceeded, ...) are RELATED to the flow they quote: icmp_error_quote()
// reads the quote, and the caller looks the quoted flow up. The flow key ignores type and code, so
// the tracker remembers the request type (in l4state) and checks each packet against it, which is
// what Linux's tuple match does implicitly.
#include <netinet/in.h>

#include <cstdint>
#include <cstring>

#include "conntrack/ct_entry.h"
#include "conntrack/proto.h"

namespace ctgate::ct {
namespace {

bool icmp_new_flow(const l4_info& pkt, const tcp_segment* /*seg*/, const tracker_params& /*p*/,
                   uint32_t /*now_ms*/, track_state* st, tcp_window* /*win*/) {
  // Any code, as Linux (the code is part of the printed tuple, not of the key).
  if (icmp_reply_type(pkt.icmp_type) == k_icmp_not_query) return false;
  *st = track_state{};
  st->l4state = pkt.icmp_type;
  st->tclass = TC_ICMP;
  return true;
}

// Original-direction packets repeat the query, reply-direction packets answer
// it. The code is not compared (Linux's tuple would also require the same code).
bool icmp_fits(const track_state& st, ct_dir dir, const l4_info& pkt) {
  if (icmp_reply_type(st.l4state) == k_icmp_not_query) return false;
  const uint8_t want = dir == ct_dir::original ? st.l4state : icmp_reply_type(st.l4state);
  return pkt.icmp_type == want;
}

track_result icmp_packet(track_state* st, tcp_window* /*win*/, uint16_t /*status*/, ct_dir dir,
                         const l4_info& pkt, const tcp_segment* /*seg*/,
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

bool icmp_error_quote(const uint8_t* icmp, uint32_t l4_len, uint16_t zone, ct_tuple* quoted) {
  const uint8_t* q = icmp + 8;  // the quoted IPv4 header
  if (l4_len < 8 + 20) return false;
  uint32_t avail = l4_len - 8u;
  uint32_t ihl = (q[0] & 0x0f) * 4u;
  if ((q[0] >> 4) != 4 || ihl < 20 || avail < ihl + 8) return false;
  ct_tuple& t = *quoted;
  t = ct_tuple{};
  t.proto = q[9];
  t.zone = zone;
  std::memcpy(&t.src, q + 12, 4);
  std::memcpy(&t.dst, q + 16, 4);
  const uint8_t* l4 = q + ihl;
  if (t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP) {
    std::memcpy(&t.sport, l4, 2);
    std::memcpy(&t.dport, l4 + 2, 2);
  } else if (t.proto == IPPROTO_ICMP) {
    if (icmp_reply_type(l4[0]) == k_icmp_not_query) return false;  // only queries have flows
    std::memcpy(&t.sport, l4 + 4, 2);
    t.dport = static_cast<uint16_t>((l4[0] << 8) | l4[1]);
  }
  return true;
}

const l4_tracker icmp_tracker = {"icmp", icmp_new_flow, icmp_packet};

}  // namespace ctgate::ct
