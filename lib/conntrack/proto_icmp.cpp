// ICMP and ICMPv6 trackers: query/answer pairs (nf_conntrack_proto_icmp.c,
// nf_conntrack_proto_icmpv6.c).
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
#include "packet/parse.h"

namespace ctgate::ct {
namespace {

// ICMP and ICMPv6 differ in their query types (reply_of) and timeout class only.
template <uint8_t (*reply_of)(uint8_t), uint8_t tclass>
bool icmp_new_flow(const l4_info& pkt, const tcp_segment* /*seg*/, const tracker_params& /*p*/,
                   uint32_t /*now_ms*/, track_state* st, tcp_window* /*win*/) {
  // Any code, as Linux (the code is part of the printed tuple, not of the key).
  if (reply_of(pkt.icmp_type) == k_icmp_not_query) return false;
  *st = track_state{};
  st->l4state = pkt.icmp_type;
  st->tclass = tclass;
  return true;
}

// Original-direction packets repeat the query, reply-direction packets answer
// it. The code is not compared (Linux's tuple would also require the same code).
template <uint8_t (*reply_of)(uint8_t), uint8_t tclass>
track_result icmp_packet(track_state* st, tcp_window* /*win*/, uint16_t /*status*/, ct_dir dir,
                         const l4_info& pkt, const tcp_segment* /*seg*/,
                         const tracker_params& /*p*/, uint32_t /*now_ms*/) {
  const uint8_t reply = reply_of(st->l4state);
  if (reply == k_icmp_not_query ||
      pkt.icmp_type != (dir == ct_dir::original ? st->l4state : reply)) {
    track_result r;
    r.verdict = track_verdict::invalid;
    return r;
  }
  // Every answered query refreshes the same short timeout; queries are never
  // ASSURED, so they stay the first candidates for early drop.
  track_result r;
  r.state_kept = st->tclass == tclass;
  st->tclass = tclass;
  return r;
}

// Whether a quoted ICMP message belongs to a query's flow: the query or its answer (Linux
// inverts the quote with invmap, which maps both ways, so an error about an echo reply is
// RELATED as one about the request is).
bool icmp_flow_type(uint8_t t) {
  return icmp_reply_type(t) != k_icmp_not_query || t == icmp::echo_reply ||
         t == icmp::timestamp_reply || t == icmp::info_reply || t == icmp::address_reply;
}
bool icmp6_flow_type(uint8_t t) {
  return icmp6_reply_type(t) != k_icmp_not_query || t == 129 || t == 140;
}

// The ports (or an echo's id and type) of a quoted packet's L4 header `l4` (8 bytes at hand)
// into t, whose proto is set; `icmp_proto` and `flow_type` are the family's ICMP. False when the
// quote is of an ICMP message that is neither a query nor an answer: only queries have flows.
bool quoted_ports(const uint8_t* l4, uint8_t icmp_proto, bool (*flow_type)(uint8_t), ct_tuple* t) {
  if (t->proto == IPPROTO_TCP || t->proto == IPPROTO_UDP) {
    std::memcpy(&t->sport, l4, 2);
    std::memcpy(&t->dport, l4 + 2, 2);
  } else if (t->proto == icmp_proto) {
    if (!flow_type(l4[0])) return false;
    std::memcpy(&t->sport, l4 + 4, 2);
    t->dport = static_cast<uint16_t>((l4[0] << 8) | l4[1]);
  }
  return true;
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
  return quoted_ports(q + ihl, IPPROTO_ICMP, icmp_flow_type, &t);
}

bool icmp6_error_quote(const uint8_t* icmp, uint32_t l4_len, uint16_t zone, ct_tuple* quoted,
                       ct_addr6* addrs) {
  constexpr uint32_t k_ip6 = 40;
  if (l4_len < 8 + k_ip6) return false;
  const uint8_t* q = icmp + 8;  // the quoted IPv6 header
  if ((q[0] >> 4) != 6) return false;
  ipv6_chain c;
  // The quote ends where the error does, whatever the quoted payload length says.
  if (ipv6_skip_ext(q, l4_len - 8, &c) != parse_result::ipv6 || c.later_fragment) return false;
  ct_tuple& t = *quoted;
  t = ct_tuple{};
  t.family = k_family_ipv6;
  t.proto = c.proto;
  t.zone = zone;
  std::memcpy(addrs->src.b, q + 8, 16);
  std::memcpy(addrs->dst.b, q + 24, 16);
  // At least the 8 bytes IPv4's quote must hold too: ports, or an echo's id.
  if (l4_len - 8 - c.l4_off < 8) return false;
  return quoted_ports(q + c.l4_off, IPPROTO_ICMPV6, icmp6_flow_type, &t);
}

const l4_tracker icmp_tracker = {"icmp", icmp_new_flow<icmp_reply_type, TC_ICMP>,
                                 icmp_packet<icmp_reply_type, TC_ICMP>};
const l4_tracker icmpv6_tracker = {"icmpv6", icmp_new_flow<icmp6_reply_type, TC_ICMPV6>,
                                   icmp_packet<icmp6_reply_type, TC_ICMPV6>};

}  // namespace ctgate::ct
