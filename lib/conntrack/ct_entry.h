// Conntrack tuples, flow keys and the 64-byte entry.
//
// One hash key per flow: the key orders the two (address, port) endpoints so
// both directions of a flow produce the same 16-byte key, and the packet's
// direction is recovered by comparing it with the entry's original tuple.
// 16 bytes is rte_hash's fastest comparator size.
//
// IPv6 flows use the same 16-byte key and table: their tuple's family byte is
// k_family_ipv6, and its src and dst are 32-bit keyed digests of the two
// addresses (addr6_digests). The full addresses (ct_addr6) are kept beside the
// entry and compared on every hit, so a digest collision can never merge two
// flows: it costs the second one its tracking, and with SipHash under a
// secret key nobody can aim one (docs/design/ipv6.md, Conntrack).
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "common/siphash.h"
#include "config/config.h"
#include "conntrack/ct_ext.h"
#include "conntrack/proto.h"

namespace ctgate::ct {

inline constexpr uint8_t k_family_ipv4 = 0;
inline constexpr uint8_t k_family_ipv6 = 10;  // AF_INET6, as conntrack -o extended prints it

// Network byte order, as in the packet. For ICMP and ICMPv6: sport = identifier,
// dport = type << 8 | code of the original (request) packet.
struct ct_tuple {
  uint32_t src = 0;  // IPv4 address, or an IPv6 address's digest
  uint32_t dst = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t proto = 0;
  uint8_t family = k_family_ipv4;
  uint16_t zone = 0;
  bool operator==(const ct_tuple&) const = default;
};
static_assert(sizeof(ct_tuple) == 16);

using flow_key = ct_tuple;  // normalized: (src,sport) <= (dst,dport); ICMP dport = 0

// An IPv6 flow's addresses, in its original direction, kept beside its entry.
struct ct_addr6 {
  ipv6_addr src, dst;
  bool operator==(const ct_addr6&) const = default;
};
static_assert(sizeof(ct_addr6) == 32);

// The digests that stand for an IPv6 packet's source and destination in its tuple:
// SipHash-1-3 under `key` of the address pair in a fixed order, one 32-bit half per address,
// so the reply's packets get the same two digests swapped. Equal addresses get equal digests,
// different ones never do (within a pair), so digests order and compare a flow's endpoints as
// the addresses would.
//
// The pair in its fixed order: any fixed order makes both directions hash the same message.
struct addr6_message {
  uint64_t w[4];
  bool src_first, same;
};
inline addr6_message addr6_message_of(const ipv6_addr& src, const ipv6_addr& dst) {
  uint64_t a[2], b[2];
  std::memcpy(a, src.b, 16);
  std::memcpy(b, dst.b, 16);
  addr6_message m;
  m.src_first = a[0] < b[0] || (a[0] == b[0] && a[1] <= b[1]);
  m.same = ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
  const uint64_t* lo = m.src_first ? a : b;
  const uint64_t* hi = m.src_first ? b : a;
  m.w[0] = lo[0];
  m.w[1] = lo[1];
  m.w[2] = hi[0];
  m.w[3] = hi[1];
  return m;
}
// The two digests from the pair's hash `d`.
inline void addr6_split(uint64_t d, const addr6_message& m, uint32_t* src_digest,
                        uint32_t* dst_digest) {
  const auto d_lo = static_cast<uint32_t>(d);
  auto d_hi = static_cast<uint32_t>(d >> 32);
  if (!m.same) {
    if (d_hi == d_lo) d_hi ^= 1;  // different addresses, different digests
  } else {
    d_hi = d_lo;  // one address, one digest
  }
  *src_digest = m.src_first ? d_lo : d_hi;
  *dst_digest = m.src_first ? d_hi : d_lo;
}
// Inline: it runs for every IPv6 packet conntrack sees.
inline void addr6_digests(const uint32_t key[4], const ipv6_addr& src, const ipv6_addr& dst,
                          uint32_t* src_digest, uint32_t* dst_digest) {
  const addr6_message m = addr6_message_of(src, dst);
  siphash13_state h = siphash13_state::init(key);
  for (uint64_t word : m.w) h.compress(word);
  h.compress(uint64_t{32} << 56);  // the length word
  addr6_split(h.finish(), m, src_digest, dst_digest);
}
// The same for N pairs at once (pair i: src[i], dst[i]; digests into *src_digest[i] and
// *dst_digest[i]). SipHash is a chain of dependent rounds: chains side by side keep the
// core's ports busy where one leaves them waiting, so a burst's digests are computed N at a
// time (ct_in6).
template <int N>
inline void addr6_digests_n(const uint32_t key[4], const ipv6_addr* const* src,
                            const ipv6_addr* const* dst, uint32_t* const* src_digest,
                            uint32_t* const* dst_digest) {
  addr6_message m[N];
  siphash13_state h[N];
#pragma GCC unroll 8
  for (int i = 0; i < N; i++) {
    m[i] = addr6_message_of(*src[i], *dst[i]);
    h[i] = siphash13_state::init(key);
  }
#pragma GCC unroll 4
  for (int k = 0; k < 4; k++)
#pragma GCC unroll 8
    for (int i = 0; i < N; i++) h[i].compress(m[i].w[k]);
#pragma GCC unroll 8
  for (int i = 0; i < N; i++) {
    h[i].compress(uint64_t{32} << 56);
    addr6_split(h[i].finish(), m[i], src_digest[i], dst_digest[i]);
  }
}

// ICMP query types map to their reply type (Linux's invmap); anything else
// is not a query and maps to k_icmp_not_query.
inline constexpr uint8_t k_icmp_not_query = 0xff;
uint8_t icmp_reply_type(uint8_t request_type);
// ICMPv6's: echo 128 -> 129 and node information 139 -> 140 (nf_conntrack_proto_icmpv6's
// valid_new and invmap).
uint8_t icmp6_reply_type(uint8_t request_type);
// Whether a tuple's protocol is ICMP or ICMPv6, whose flows the query id identifies.
inline bool is_icmp_like(uint8_t proto) { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }

// The reply tuple: endpoints swapped, ICMP type inverted.
ct_tuple invert(const ct_tuple& t);

// The direction-free key of a tuple. Inline: it runs for every tracked
// packet, and as a call its 16-byte result went through memory.
inline flow_key make_key(const ct_tuple& t) {
  flow_key k = t;
  if (is_icmp_like(t.proto)) {
    k.dport = 0;  // the id alone identifies an ICMP query flow
    if (t.src > t.dst) std::swap(k.src, k.dst);
    return k;
  }
  if (t.src > t.dst || (t.src == t.dst && t.sport > t.dport)) {
    std::swap(k.src, k.dst);
    std::swap(k.sport, k.dport);
  }
  return k;
}

// Whether normalized key `k` is make_key(t), without normalizing t: k is t itself or t with its
// ends swapped (an ICMP tuple's addresses only, its type and code left out). Equivalent because
// k is normalized: t equals k only if t is normalized, its swap only if the swap is.
inline bool is_key_of(const ct_tuple& t, const flow_key& k) {
  static_assert(sizeof(ct_tuple) == 16 && offsetof(ct_tuple, sport) == 8 &&
                offsetof(ct_tuple, dport) == 10);
  uint64_t addrs, rest, k_addrs, k_rest;
  std::memcpy(&addrs, &t, 8);
  std::memcpy(&rest, reinterpret_cast<const uint8_t*>(&t) + 8, 8);
  std::memcpy(&k_addrs, &k, 8);
  std::memcpy(&k_rest, reinterpret_cast<const uint8_t*>(&k) + 8, 8);
  constexpr int k_dport_shift = std::endian::native == std::endian::little ? 16 : 32;
  constexpr int k_sport_shift = std::endian::native == std::endian::little ? 0 : 48;
  constexpr uint64_t k_ports =
      (uint64_t{0xffff} << k_dport_shift) | (uint64_t{0xffff} << k_sport_shift);
  // ICMP keys carry no type and code; the other protocols' swap their ports with the addresses.
  const bool icmp = is_icmp_like(t.proto);
  if (icmp) rest &= ~(uint64_t{0xffff} << k_dport_shift);
  if (addrs == k_addrs && rest == k_rest) return true;
  if (((addrs >> 32) | (addrs << 32)) != k_addrs) return false;
  if (icmp) return rest == k_rest;
  const uint64_t sport = (rest >> k_sport_shift) & 0xffff;
  const uint64_t dport = (rest >> k_dport_shift) & 0xffff;
  return ((rest & ~k_ports) | (sport << k_dport_shift) | (dport << k_sport_shift)) == k_rest;
}

// Entry life cycle, in the low two bits of ct_entry::live. The upper 30 bits
// count claims of the slot, so a (position, live) pair names one flow even
// after the slot is reused. DELETING: its owner is deleting it (destroy_owned), from before its
// key leaves the table until its position is given back after a grace period
// (flow_table::release stores FREE), so that a worker that still sees it LIVE has not yet
// passed the quiescent point after which its position may be reused (what a worker's flow
// cache relies on), and no confirm can claim it meanwhile.
enum : uint32_t {
  ENTRY_FREE = 0,
  ENTRY_CLAIMING = 1,
  ENTRY_LIVE = 2,
  ENTRY_DELETING = 3,
  ENTRY_STATE_MASK = 3
};

inline constexpr bool is_live(uint32_t live) { return (live & ENTRY_STATE_MASK) == ENTRY_LIVE; }

inline constexpr uint32_t k_no_pos = UINT32_MAX;
inline constexpr uint16_t k_not_unconfirmed = UINT16_MAX;
inline constexpr uint16_t k_not_filed = UINT16_MAX;  // ct_entry::wheel_slot: on no wheel

// One cache line. Fields written by the owner only are marked (owner);
// fields any worker handling the flow may update are atomics.
struct alignas(64) ct_entry {
  ct_tuple orig;                        // written once, before the entry is published
  std::atomic<uint32_t> live{0};        // claim word (see above)
  std::atomic<uint16_t> status{0};      // CT_STATUS_* bits
  uint16_t owner = 0;                   // worker that created it; owns the wheel links
  std::atomic<uint64_t> track{0};       // track_state, updated with CAS
  std::atomic<uint32_t> expires_ms{0};  // absolute, worker clock
  std::atomic<uint32_t> mark{0};
  uint32_t pos = k_no_pos;         // table position; k_no_pos while unconfirmed
  uint32_t wheel_prev = k_no_pos;  // (owner) timer wheel links, by position
  uint32_t wheel_next = k_no_pos;  // (owner) once deleted, the link of its retired list
  uint16_t unconfirmed_idx = k_not_unconfirmed;  // (owner) slot in the unconfirmed list
  uint16_t wheel_slot = k_not_filed;             // (owner) slot it is filed under
  ct_ext_area ext;                               // one inline extension (ct_ext.h), id in status

  track_state load_track() const;
  void store_track(const track_state& s);
  bool cas_track(uint64_t& expected, const track_state& s);
};
static_assert(sizeof(ct_entry) == 64, "ct_entry must be one cache line");
static_assert(sizeof(track_state) == 8);

}  // namespace ctgate::ct
