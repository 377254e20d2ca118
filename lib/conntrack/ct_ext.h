// Typed extensions of a conntrack entry, as Linux's nf_ct_ext: a feature that
// keeps per-flow state (synproxy now; NAT, accounting, labels, window
// tracking later) declares a type with an id and reaches its state only
// through these accessors. The entry has no field per feature.
//
// Storage, chosen for the bytes-per-flow budget (docs/design/conntrack.md):
// - Inline: 8 bytes in the entry's cache line hold one small extension. Its
//   id sits in three bits of the entry's status word (CT_STATUS_EXT_MASK),
//   so finding it costs no load beyond the status the fast path reads anyway,
//   and flows without extensions pay nothing.
// - Block (planned, id 7): a flow that needs more (NAT's reply tuple,
//   accounting's counters, labels, window tracking) gets a 64-byte block
//   from a per-table pool, its index in the inline area and per-extension
//   offsets fixed per gateway, as nf_ct_ext's offset table. Only such flows
//   pay for it.
//
// The id changes only by atomic updates of the status word. A writer that
// replaces one extension with another first claims the area with a CAS to a
// transient id (so a racing writer backs off), stores the new bytes, then
// publishes the new id (release): a reader that loads the status with acquire
// sees bytes at least as new as the id it read.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ctgate::ct {

enum class ct_ext_id : uint8_t {
  none = 0,
  synproxy = 1,  // a proxied handshake joining: our cookie ISN and SYN-ACK TSval
  seqadj = 2,    // a proxied flow: sequence and timestamp offsets (nf_ct_seqadj)
  // Transient, between synproxy and seqadj: one worker is turning the
  // server's SYN-ACK into offsets; the area is being rewritten.
  synproxy_joining = 3,
  timeout = 4,  // a timeout policy the flow follows (nft ct timeout set; ct_timeout.h)
  // 5..6: free for inline extensions
  block = 7,  // reserved: the area holds an out-of-line block's index
};

inline constexpr uint16_t k_ct_ext_shift = 12;
inline constexpr uint16_t CT_STATUS_EXT_MASK = 7u << k_ct_ext_shift;
inline constexpr size_t k_ct_ext_inline_bytes = 8;

constexpr uint16_t ct_ext_status(ct_ext_id id) {
  return static_cast<uint16_t>(static_cast<uint16_t>(id) << k_ct_ext_shift);
}
constexpr ct_ext_id ct_ext_of(uint16_t status) {
  return static_cast<ct_ext_id>((status & CT_STATUS_EXT_MASK) >> k_ct_ext_shift);
}

struct ct_ext_area {
  alignas(8) uint8_t bytes[k_ct_ext_inline_bytes] = {};
};

// An extension type: plain bytes, small enough for the inline area, and
// naming its id.
template <typename T>
concept ct_extension = std::is_trivially_copyable_v<T> &&
                       sizeof(T) <= k_ct_ext_inline_bytes&& requires {
  { T::ext_id } -> std::convertible_to<ct_ext_id>;
};

// The seqadj extension begins with the sequence offset of the reply
// direction (server's numbers minus the client's view of them): conntrack's
// window tracking adds it to an original-direction packet's ACK, as Linux's
// tcp_in_window subtracts nf_ct_seq_offset. Its owner (synproxy's seq_delta)
// asserts that layout.
inline uint32_t ct_seqadj_seq_offset(const ct_ext_area& a) {
  uint32_t off;
  std::memcpy(&off, a.bytes, sizeof off);
  return off;
}

template <ct_extension T>
T ct_ext_get(const ct_ext_area& a) {
  T v;
  std::memcpy(&v, a.bytes, sizeof(T));
  return v;
}

template <ct_extension T>
void ct_ext_put(ct_ext_area& a, const T& v) {
  std::memcpy(a.bytes, &v, sizeof(T));
}

template <ct_extension T>
ct_ext_area ct_ext_make(const T& v) {
  ct_ext_area a;
  ct_ext_put(a, v);
  return a;
}

}  // namespace ctgate::ct
