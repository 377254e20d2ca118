// NAT on conntrack (docs/design/nat.md): a binding changes a new connection's reply tuple
// once, on its first packet, and every packet of the connection is then rewritten from its
// entry. Linux's model: nf_nat_setup_info (get_unique_tuple, find_best_ips_proto,
// nf_nat_l4proto_unique_tuple) for the binding, nf_nat_packet for the rewrite,
// nf_nat_icmp_reply_translation for ICMP errors.
#pragma once

#include <cstdint>

#include "conntrack/conntrack.h"

namespace ctgate::ct {

// Which end a binding translates: the source (snat, masquerade; Linux's NF_NAT_MANIP_SRC, at
// postrouting and input) or the destination (dnat, redirect; at prerouting and output).
enum class nat_manip : uint8_t { src, dst };

// Linux's nf_nat_range2 flags, same values.
enum : uint8_t {
  NAT_RANGE_MAP_IPS = 1,
  NAT_RANGE_PROTO_SPECIFIED = 2,
  NAT_RANGE_PROTO_RANDOM = 4,
  NAT_RANGE_PERSISTENT = 8,
  NAT_RANGE_PROTO_RANDOM_FULLY = 16,
};
inline constexpr uint8_t NAT_RANGE_PROTO_RANDOM_ALL =
    NAT_RANGE_PROTO_RANDOM | NAT_RANGE_PROTO_RANDOM_FULLY;

// Where a binding may put the translated end: addresses and ports in host order, inclusive.
// An IPv6 connection's range has its addresses in addr6_min..addr6_max (network order,
// compared as 128-bit numbers).
struct nat_range {
  uint8_t flags = 0;
  uint32_t addr_min = 0, addr_max = 0;  // with NAT_RANGE_MAP_IPS
  uint16_t port_min = 0, port_max = 0;  // with NAT_RANGE_PROTO_SPECIFIED
  ipv6_addr addr6_min, addr6_max;       // with NAT_RANGE_MAP_IPS, for an IPv6 connection
};

enum class nat_setup_result : uint8_t {
  bound,    // the reply tuple is translated
  null,     // the range keeps the tuple as it is: nothing to translate
  no_port,  // every candidate tuple is taken: the caller drops the packet
};

// The binding of unconfirmed entry `e` (owned by `w`) for `manip`, within `r`; sets the
// entry's NAT status bits (translated and done) and its reply tuple. Precondition: e is
// unconfirmed and has no binding of this kind yet (CT_STATUS_*_NAT_DONE clear), and NAT is
// enabled (ct_enable_nat). Counts nat_bound or nat_no_port.
nat_setup_result nat_setup(ct_worker& w, ct_entry* e, const nat_range& r, nat_manip manip,
                           uint32_t now_ms);

// The key of a connection's source in conntrack's source table (ct_runtime::nat_by_source):
// what Linux's same_src compares (original source address and port or ICMP id, protocol),
// and the zone. An IPv6 connection's (`src6`: its original source address) holds a digest of
// that address alone, since its tuple's digest depends on the destination too (ct_entry.h).
inline flow_key nat_source_key(const ct_runtime& rt, const ct_tuple& orig,
                               const ipv6_addr* src6 = nullptr) {
  flow_key k;
  k.src = orig.src;
  if (src6 != nullptr) {
    uint32_t same;
    addr6_digests(rt.addr6_key, *src6, *src6, &k.src, &same);
  }
  k.sport = orig.sport;
  k.proto = orig.proto;
  k.family = orig.family;
  k.zone = orig.zone;
  return k;
}

// Linux's null binding: the connection's `manip` is decided, untranslated.
inline void nat_null_binding(ct_entry* e, nat_manip manip) {
  e->status.fetch_or(manip == nat_manip::src ? CT_STATUS_SRC_NAT_DONE : CT_STATUS_DST_NAT_DONE,
                     std::memory_order_relaxed);
}

inline bool nat_done(uint16_t status, nat_manip manip) {
  return status & (manip == nat_manip::src ? CT_STATUS_SRC_NAT_DONE : CT_STATUS_DST_NAT_DONE);
}

// Whether a packet in direction `dir` of a connection with `status` is rewritten at a hook of
// kind `manip`: originals get their own kind's translation, replies the other kind's undone
// (Linux's statusbit ^= IPS_NAT_MASK in nf_nat_packet).
inline bool nat_rewrites(uint16_t status, nat_manip manip, uint8_t dir) {
  const bool src = (manip == nat_manip::src) != (dir == static_cast<uint8_t>(ct_dir::reply));
  return status & (src ? CT_STATUS_SRC_NAT : CT_STATUS_DST_NAT);
}

// The rewrite at a NAT hook of kind `manip` (nf_nat_packet): the packet's source or
// destination becomes what its connection's bindings say, and its metadata follows so the
// stages after (routing after dnat) see the translated header. Precondition: m->ct is set
// and nat_rewrites() says the packet is rewritten here.
void nat_packet(ct_worker& w, rte_mbuf* mb, pkt_meta* m, nat_manip manip);

// An ICMP error RELATED to a translated connection (nf_nat_icmp_reply_translation): the header
// it quotes is translated back to what its sender saw, and its outer address as a packet of
// the connection would be. False when the error is too short to translate (drop it).
bool nat_icmp_error(ct_worker& w, rte_mbuf* mb, pkt_meta* m, nat_manip manip);

// The tuple of direction `dir` of translated connection `e` (Linux's ct->tuplehash[dir].tuple):
// a packet of that direction as its sender sent it, before any translation. False when `e`
// is not translated. For answers the gateway builds to such a packet (reject), which Linux
// attaches to the connection so its NAT hooks translate them back (nf_ct_attach).
bool nat_sent_tuple(const ct_worker& w, const ct_entry* e, uint8_t dir, ct_tuple* out);
// The same for an IPv6 connection (whose tuples hold digests): the ports in *out, the addresses
// in *addrs. False when `e` is not a translated IPv6 connection.
bool nat_sent_tuple6(const ct_worker& w, const ct_entry* e, uint8_t dir, ct_tuple* out,
                     ct_addr6* addrs);

}  // namespace ctgate::ct
