// The nftables subset ctgate reads: the syntax tree the parser produces and
// the compiler consumes. Pure data, no DPDK. docs/ruleset.md has the grammar.
//
// Values are normalized by the parser: IPv4 addresses in host byte order,
// ports and marks as integers, names (protocols, ICMP types, TCP flags, ct
// states) resolved to numbers. Every node keeps its source location so the
// compiler can report errors the way the parser does.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace ctgate::nft {

struct location {
  std::string file;  // as given (include paths as written)
  int line = 0;      // 1-based
  int col = 0;       // 1-based
  int len = 1;       // characters to underline
};

// bridge: the bridge's hooks (Linux's NF_BR_*), which a bridge's switched frames meet whatever
// their EtherType; prerouting, input, forward, output and postrouting are its hook names too.
enum class family : uint8_t { ip, inet, ip6, bridge };
enum class hook : uint8_t { prerouting, input, forward, output, postrouting };

// What a match reads from the packet.
enum class field : uint8_t {
  ip_saddr,      // ipv4_addr
  ip_daddr,      // ipv4_addr
  ip_protocol,   // u8 (by name: tcp udp icmp ...)
  meta_l4proto,  // u8
  meta_iif,      // port index, resolved by the compiler from the name in `str`
  meta_oif,
  meta_iifname,  // same as iif for ctgate (names are the config's port names)
  meta_oifname,
  meta_mark,  // u32
  ct_state,   // bitmask, CT_STATE_* below
  ct_mark,    // u32
  ct_zone,    // u16: the connection's zone (the packet's, before conntrack has run)
  tcp_sport,
  tcp_dport,
  udp_sport,
  udp_dport,
  th_sport,  // transport header (tcp or udp) port: `th dport`
  th_dport,
  tcp_flags,    // u8, TCPF_* bits
  icmp_type,    // u8
  icmpv6_type,  // u8: an ICMPv6 message's type (IPv6 packets of inet tables)
  // IPv4 header fields, as numbers.
  ip_ttl,             // u8
  ip_length,          // u16: total length
  ip_id,              // u16
  ip_version,         // 4 bits
  ip_hdrlength,       // 4 bits: IHL, in 32-bit words
  meta_length,        // u32: the packet's length from its network header (skb->len)
  meta_nfproto,       // u8: NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10); inet tables only
  meta_protocol,      // u16: the EtherType (ip: 0x0800)
  ip_dscp,            // 6 bits, by name (cs0..cs7, af11..af43, ef, ...)
  ip_ecn,             // 2 bits: not-ect ect1 ect0 ce
  ip_frag_off,        // u16: flags and fragment offset, as in the header
  ct_direction,       // original | reply (no match without a connection)
  ct_status,          // bitmask, Linux's IPS_* bits (expected seen-reply assured confirmed ...)
  tcp_option_maxseg,  // u16: the MSS option's value (no match without the option)
  numgen,             // not read from the packet: numgen inc|random mod N [offset M]
  jhash,              // not read: jhash KEY mod N [seed S] [offset M], a hash of fields
  ct_expiration,      // time (ms) the connection has left; 0 while unconfirmed, as Linux
  meta_pkttype,       // host | broadcast | multicast (| other): the frame's L2 destination
  // Conntrack accounting (u64; 0 while accounting was off for the flow): both directions,
  // then `ct original ...` and `ct reply ...`. avgpkt: bytes / packets (0 without packets).
  ct_bytes,
  ct_packets,
  ct_avgpkt,
  ct_original_bytes,
  ct_original_packets,
  ct_original_avgpkt,
  ct_reply_bytes,
  ct_reply_packets,
  ct_reply_avgpkt,
  // A connection's addresses (ipv4_addr): `ct original|reply ip saddr|daddr`. The reply
  // tuple's differ from the original's inverse once NAT translates the connection.
  ct_original_saddr,
  ct_original_daddr,
  ct_reply_saddr,
  ct_reply_daddr,
  icmp_code,    // u8, by name (port-unreachable ...)
  icmpv6_code,  // u8, by name (no-route ...)
  // IPv6 header fields, as numbers (no match on IPv4 packets).
  ip6_nexthdr,    // u8: the header's next header (the first extension header's, if any)
  ip6_hoplimit,   // u8
  ip6_length,     // u16: payload length
  ip6_version,    // 4 bits
  ip6_flowlabel,  // 20 bits
  ip6_dscp,       // 6 bits of the traffic class, by name as ip dscp
  ip6_ecn,        // 2 bits of the traffic class
  ip6_saddr,      // ipv6_addr: 128 bits (a value_range's full width)
  ip6_daddr,
  // Compiled rulesets only: the 32-bit words of an IPv6 address, the most significant first.
  // The compiler lowers every ip6 saddr|daddr into its four words (a concatenation of them), so
  // the sets, maps and live sets built for 32- and 64-bit keys hold IPv6 addresses unchanged.
  ip6_saddr_w0,
  ip6_saddr_w1,
  ip6_saddr_w2,
  ip6_saddr_w3,
  ip6_daddr_w0,
  ip6_daddr_w1,
  ip6_daddr_w2,
  ip6_daddr_w3,
  // An IPv6 connection's addresses (ipv6_addr): `ct original|reply ip6 saddr|daddr`, lowered
  // into words as ip6 saddr is; their words follow, four per field, in the same order.
  ct_original_ip6_saddr,
  ct_original_ip6_daddr,
  ct_reply_ip6_saddr,
  ct_reply_ip6_daddr,
  ct_original_ip6_saddr_w0,
  ct_original_ip6_saddr_w1,
  ct_original_ip6_saddr_w2,
  ct_original_ip6_saddr_w3,
  ct_original_ip6_daddr_w0,
  ct_original_ip6_daddr_w1,
  ct_original_ip6_daddr_w2,
  ct_original_ip6_daddr_w3,
  ct_reply_ip6_saddr_w0,
  ct_reply_ip6_saddr_w1,
  ct_reply_ip6_saddr_w2,
  ct_reply_ip6_saddr_w3,
  ct_reply_ip6_daddr_w0,
  ct_reply_ip6_daddr_w1,
  ct_reply_ip6_daddr_w2,
  ct_reply_ip6_daddr_w3,
  // The link layer: the frame's Ethernet header (no match without one: a packet the gateway
  // made has none), and what the bridge knows of a switched frame.
  ether_saddr,   // ether_addr: 48 bits, the first byte highest
  ether_daddr,   // ether_addr
  ether_type,    // u16: the EtherType as on the wire (0x8100 for a tagged frame)
  vlan_id,       // 12 bits: the VID of the tag a bridged frame has at the hook (L2F_VLAN_ID)
  meta_ibrname,  // the bridge the frame came in by: its member ports, resolved by the compiler
  meta_obrname,  // ... it leaves by
};

// Whether `f` reads the IPv4 header (nft's `ip` expressions; never in an ip6 table).
inline bool is_ip4_header_field(field f) {
  switch (f) {
    case field::ip_saddr:
    case field::ip_daddr:
    case field::ip_protocol:
    case field::ip_ttl:
    case field::ip_length:
    case field::ip_id:
    case field::ip_version:
    case field::ip_hdrlength:
    case field::ip_dscp:
    case field::ip_ecn:
    case field::ip_frag_off: return true;
    default: return false;
  }
}
// Whether `f` reads the IPv6 header (nft's `ip6` expressions; never in an ip table).
inline bool is_ip6_header_field(field f) {
  return f >= field::ip6_nexthdr && f <= field::ip6_daddr;
}
// Whether `f` reads an IPv6 address of the packet's connection.
inline bool is_ct_addr6_field(field f) {
  return f >= field::ct_original_ip6_saddr && f <= field::ct_reply_ip6_daddr;
}
// Whether `f` is an IPv6 address (128 bits: lowered into words by the compiler).
inline bool is_addr6_field(field f) {
  return f == field::ip6_saddr || f == field::ip6_daddr || is_ct_addr6_field(f);
}
// Whether `f` is a word of a lowered connection address (ct_original_ip6_saddr_w0 ...).
inline bool is_ct_addr6_word(field f) {
  return f >= field::ct_original_ip6_saddr_w0 && f <= field::ct_reply_ip6_daddr_w3;
}
// Whether `f` is a word of a lowered IPv6 address (compiled rulesets only).
inline bool is_addr6_word(field f) {
  return (f >= field::ip6_saddr_w0 && f <= field::ip6_daddr_w3) || is_ct_addr6_word(f);
}
// Word i of the four an IPv6 address field is lowered into (ip6_saddr_w0 ...).
inline field addr6_word(field f, unsigned i) {
  unsigned base;
  if (f == field::ip6_saddr || f == field::ip6_daddr)
    base = static_cast<unsigned>(f == field::ip6_saddr ? field::ip6_saddr_w0 : field::ip6_daddr_w0);
  else
    base = static_cast<unsigned>(field::ct_original_ip6_saddr_w0) +
           4 * (static_cast<unsigned>(f) - static_cast<unsigned>(field::ct_original_ip6_saddr));
  return static_cast<field>(base + i);
}
// The address field a word belongs to (the inverse of addr6_word).
inline field addr6_of_word(field w) {
  if (w <= field::ip6_daddr_w3)
    return w <= field::ip6_saddr_w3 ? field::ip6_saddr : field::ip6_daddr;
  return static_cast<field>(
      static_cast<unsigned>(field::ct_original_ip6_saddr) +
      (static_cast<unsigned>(w) - static_cast<unsigned>(field::ct_original_ip6_saddr_w0)) / 4);
}

// Whether `f` reads an address of the packet's connection.
inline bool is_ct_addr_field(field f) {
  return f >= field::ct_original_saddr && f <= field::ct_reply_daddr;
}
// Whether `f` is an IPv4 address (of the packet or its connection).
inline bool is_addr_field(field f) {
  return f == field::ip_saddr || f == field::ip_daddr || is_ct_addr_field(f);
}

// Whether `f` names a bridge (its members, once compiled): meta ibrname, meta obrname.
inline bool is_bridge_name_field(field f) {
  return f == field::meta_ibrname || f == field::meta_obrname;
}

// Whether `f` reads conntrack's accounting.
inline bool is_ct_acct_field(field f) {
  return f >= field::ct_bytes && f <= field::ct_reply_avgpkt;
}

// nft's ct state bits (NF_CT_STATE_*_BIT as nft prints them).
enum : uint32_t {
  CT_STATE_INVALID = 1u << 0,
  CT_STATE_ESTABLISHED = 1u << 1,
  CT_STATE_RELATED = 1u << 2,
  CT_STATE_NEW = 1u << 3,
  CT_STATE_UNTRACKED = 1u << 6,
};

enum class cmp_op : uint8_t {
  eq,  // value (or value in set / range)
  ne,  // !=
  lt,
  gt,
  le,
  ge,
  bits_any,   // (pkt & mask) != 0      e.g. `ct state established,related`, `tcp flags syn`
  bits_none,  // (pkt & mask) == 0      e.g. `ct state != invalid`, `tcp flags ! fin,rst`
  masked_eq,  // (pkt & mask) == value  e.g. `tcp flags & (syn|ack) == syn`, `tcp flags syn /
              // syn,ack`
  masked_ne,  // (pkt & mask) != value
};

// Values as wide as the widest field: an IPv6 address (host order, the first byte highest).
// Every other field's values fit in 64 bits, and the compiler narrows them so.
__extension__ typedef unsigned __int128 uint128;

struct value_range {
  uint128 lo = 0;
  uint128 hi = 0;  // inclusive; lo == hi for a single value
  auto operator<=>(const value_range&) const = default;
};

// A concatenation (`ip saddr . tcp dport`) has up to this many fields. Its elements are stored
// flat: element i is the `width` ranges at [i * width, (i + 1) * width), one per field.
inline constexpr size_t k_max_concat = 4;
// A compiled key's fields once IPv6 addresses are lowered into their four words (ast.h
// field::ip6_saddr_w0): four parts, each at most an address, as nft's 64-byte key.
inline constexpr size_t k_max_key_words = 4 * k_max_concat;

// Sets whose elements live in a table the workers update (dynamic sets, timeouts, meters):
// timeouts run on the workers' 32-bit millisecond clock, so at most 2^31 - 1 ms (24.8 days);
// the table is sized for `size` elements up front, at most this many (a set declared without
// a size gets nft's default for dynamic sets, 65535).
inline constexpr uint64_t k_max_timeout_ms = 2147483647;
inline constexpr uint32_t k_max_live_set_size = 1u << 22;
inline constexpr uint32_t k_default_live_set_size = 65535;

struct operand {
  // Exactly one of: elems (a value, a prefix or range as [lo,hi], or an
  // anonymous set `{ ... }` as several), set_name (`@name`), str (an
  // interface name for iif/oif/iifname/oifname), strs (an anonymous set of two or more
  // interface names, sorted as nft lists them; a name may end in `*`).
  std::vector<value_range> elems;
  std::string set_name;
  std::string str;
  std::vector<std::string> strs;
  uint64_t mask = 0;   // for bits_* and masked_* ops
  uint64_t value = 0;  // for masked_* ops
  std::string text;    // the operand as written (for listings and errors)
  // An anonymous set whose elements nft merged into one (`{ 10.0.0.0/25, 10.0.0.128/25 }`):
  // listed in braces, as nft lists it.
  bool merged_set = false;
};

struct statement;
struct match {
  field f;
  std::vector<field> concat;  // `f . concat[0] . ...`: the fields after the first
  cmp_op op = cmp_op::eq;
  operand rhs;  // for a concatenation, elems hold width = 1 + concat.size() ranges each
  location loc;
  // f == numgen or jhash: the generator's parameters, in a statement's fields (one element).
  std::vector<statement> gen;
  // A dependency nft adds and its listing leaves out (`meta nfproto ipv4` in front of an inet
  // rule's `reject with icmp ...`): evaluated, never printed.
  bool hidden = false;
};

enum class stmt_kind : uint8_t {
  counter,
  accept,
  drop,
  reject,
  notrack,
  jump,
  goto_,
  return_,
  log,
  limit,
  meta_mark_set,
  ct_mark_set,
  meta_nftrace_set,
  ct_zone_set,  // ct zone set N: the zone conntrack looks the packet up in (before it runs)
  synproxy,     // synproxy [mss N] [wscale N] [timestamp] [sack-perm]
  meter,   // meter NAME [size N] { KEY [timeout T] limit rate [over] N/unit [burst M packets] }
  dynset,  // add|update|delete @set { KEY [timeout T] [limit rate ...] } (nft_dynset)
  vmap,    // FIELD vmap { key : verdict, ... } | FIELD vmap @map
  tcp_mss_set,     // tcp option maxseg size set N | set rt mtu: lowers the MSS option (clamping)
  quota,           // quota [over|until] N bytes|kbytes|mbytes [used M ...] (nft_quota)
  ct_timeout_set,  // ct timeout set "NAME": the flow follows a timeout policy (obj_name)
  ct_count,        // ct count [over] N: open connections that passed it (nft_connlimit)
  nat,             // snat|dnat|masquerade|redirect (nat_spec below): terminal, as in nft
};

// What a NAT statement asks for (nft_nat, nft_masq, nft_redir).
enum class nat_kind : uint8_t { snat, dnat, masquerade, redirect };
// Its flags, at the kernel's NF_NAT_RANGE_* bits.
enum : uint8_t {
  NAT_F_RANDOM = 1u << 2,        // random: the port search starts at a hash of the flow
  NAT_F_PERSISTENT = 1u << 3,    // persistent: the address depends on the source only
  NAT_F_FULLY_RANDOM = 1u << 4,  // fully-random: ... at a random number
};
inline const char* nat_kind_name(nat_kind k) {
  switch (k) {
    case nat_kind::snat: return "snat";
    case nat_kind::dnat: return "dnat";
    case nat_kind::masquerade: return "masquerade";
    case nat_kind::redirect: return "redirect";
  }
  return "snat";
}
struct nat_spec {
  nat_kind kind = nat_kind::snat;
  bool show_family = false;  // listed as `snat ip to ...`: nft names the family in inet tables
  bool has_addr = false;     // snat/dnat to ADDR[-ADDR]
  uint32_t addr_min = 0, addr_max = 0;  // host order
  // An IPv6 statement (`snat ip6 to`, or any addressed one in an ip6 table): its addresses are
  // addr6_min..addr6_max. It translates IPv6 packets only, an IPv4 one IPv4 packets only.
  bool v6 = false;
  uint128 addr6_min = 0, addr6_max = 0;
  bool has_port = false;  // ...:PORT[-PORT], or masquerade|redirect to :PORT
  uint16_t port_min = 0, port_max = 0;
  uint8_t flags = 0;  // NAT_F_*
  // `snat|dnat to KEY map { key : data, ... }` (or `map @m`): the statement's `from`, `concat`
  // and map give the address (map_data::value: min | max << 32, host order) or, with
  // `ip addr . port to`, the address and port (addr | port << 32).
  bool map_addr_port = false;
  bool map_ranges = false;  // the data are address ranges (then listed as `snat ip to`)
};

// The map data types a NAT statement's map holds.
inline constexpr const char* k_nat_map_addr = "ipv4_addr";
inline constexpr const char* k_nat_map_addr_port = "ipv4_addr . inet_service";

// What a map holds for one key: a verdict (verdict maps: accept, drop, return, jump or goto
// with `target`) or a value (data maps: a mark).
struct map_data {
  stmt_kind verdict = stmt_kind::accept;
  std::string target;  // jump/goto chain
  uint64_t value = 0;
  std::string object;         // object maps (data type counter or quota): the named object
  bool object_quota = false;  // ... a quota (else a counter)
};

// `log flags`, at the kernel's NF_LOG_* bits.
enum : uint8_t {
  LOG_F_TCPSEQ = 0x01,     // flags tcp sequence: SEQ= ACK=
  LOG_F_TCPOPT = 0x02,     // flags tcp options: OPT (...)
  LOG_F_IPOPT = 0x04,      // flags ip options: OPT (...) of the IPv4 header
  LOG_F_UID = 0x08,        // flags skuid: the socket's owner (ctgate forwards: none)
  LOG_F_MACDECODE = 0x20,  // flags ether: MACSRC= MACDST= MACPROTO=
  LOG_F_ALL = 0x2f,        // flags all
};

enum class reject_kind : uint8_t {
  icmp_port_unreachable,
  icmp_host_unreachable,
  icmp_net_unreachable,
  icmp_admin_prohibited,
  tcp_reset
};
// How nft lists a reject: `reject`, or `reject with icmp|icmpv6|icmpx CODE` (each with its own
// names for the codes). Decided where the rule is read: nft leaves out a table family's
// default (port-unreachable in its own ICMP) and turns icmpx into the family's ICMP.
enum class reject_with : uint8_t { plain, icmp, icmpv6, icmpx };
enum class rate_unit : uint8_t { second, minute, hour, day };
enum class set_op : uint8_t { add, update, delete_ };

struct statement {
  stmt_kind kind;
  location loc;
  std::string target;      // jump/goto chain name
  std::string log_prefix;  // log prefix "..."
  uint8_t log_level = 4;   // log level: syslog's numbers, emerg 0 ... debug 7 (warn, 4: nft's)
  uint8_t log_flags = 0;   // log flags: LOG_F_* below
  reject_kind reject = reject_kind::icmp_port_unreachable;
  bool reject_icmp4 = false;  // `reject with icmp ...`: IPv4's ICMP by name (not icmpx)
  bool reject_icmp6 = false;  // `reject with icmpv6 ...`: IPv6's
  nft::reject_with reject_with = nft::reject_with::plain;
  uint64_t rate = 0;  // limit rate N/unit
  rate_unit unit = rate_unit::second;
  uint32_t burst = 0;    // limit ... burst M packets (0 = nft's default of 5)
  bool over = false;     // limit rate over N/unit
  uint64_t value = 0;    // meta/ct mark set VALUE, nftrace set 0|1, maxseg size set N
  bool rt_mtu = false;   // tcp option maxseg size set rt mtu
  uint64_t packets = 0;  // counter packets N bytes M (as listed; starting values)
  uint64_t bytes = 0;    // ... and quota: its size in bytes (`over` as for limit)
  uint64_t used = 0;     // quota ... used M: bytes already consumed (starting value)
  // synproxy options (0 / false: not given)
  uint16_t mss = 0;
  uint8_t wscale = 0xff;  // 0xff: not given
  bool timestamp = false;
  bool sack_perm = false;
  // dynset (`add|update|delete @set_name { KEY ... }`) and meter (`meter meter_name ...`):
  // the key is `from` and `concat`; the element's timeout (0: the set's); with `has_limit`, a
  // limit per element (rate/unit/burst/over as for limit); with `has_ct_count`, a count.
  std::string meter_name;
  std::string set_name;
  set_op op = set_op::add;
  uint64_t elem_timeout_ms = 0;
  bool has_limit = false;
  // `{ ip6 saddr and ffff:ffff:ffff:ffff:: ... }`: the key's address masked (one address field;
  // ~0 when not written), so that an element stands for a prefix (nft's bitwise and).
  uint128 key_mask = ~uint128{0};
  // dynset `{ KEY ct count [over] N }`: a connection count per element (nft_connlimit on
  // the element).
  bool has_ct_count = false;
  bool count_over = false;
  uint32_t count_limit = 0;
  uint32_t meter_size = 0;  // meter NAME size N (0: not given; nft's default is 65535)
  // counter|quota|limit name "NAME": the table's named object of that kind (the parameters
  // above are unused); empty for an anonymous one.
  std::string obj_name;
  // vmap, and `meta|ct mark set FIELD [map ...]`: the field looked up (or copied, with no
  // map), and the map: named (`@map_name`) or anonymous (keys and their data).
  std::optional<nft::field> from;
  std::vector<nft::field> concat;  // a concatenated key: the fields after `from`
  // from == numgen: `numgen inc|random mod N [offset M]`, a number made per packet. from ==
  // jhash: `jhash KEY mod N [seed S] [offset M]` (nft_hash): the fields of KEY (`ip saddr .
  // tcp dport`) hashed with Linux's jhash, scaled into [0, N), plus M. A seed not written is
  // drawn when the rule is parsed (as the kernel draws one per rule) and not listed.
  bool numgen_random = false;
  uint32_t numgen_mod = 0;  // (numgen and jhash) mod N
  uint32_t numgen_offset = 0;
  std::vector<nft::field> hash_key;
  uint32_t hash_seed = 0;
  bool hash_seed_set = false;
  // from == jhash: `symhash mod N [offset M]` instead (no key: the packet's flow, the same
  // for both directions).
  bool hash_symmetric = false;
  nat_spec nat;  // kind == nat
  std::string map_name;
  std::vector<value_range> map_keys;
  std::vector<map_data> map_values;
  bool has_map() const { return !map_name.empty() || !map_keys.empty(); }
  // `counter|quota name KEY map ...`: the object is the one the key maps to.
  bool is_object_map() const {
    return (kind == stmt_kind::counter || kind == stmt_kind::quota) && has_map();
  }
};

// Handles are nft's: tables are numbered per ruleset, and chains, sets and
// rules share one counter per table, each new object taking the next value.
// A handle never changes and is never reused while its table lives; `delete
// rule ... handle N` and listings with handles (nft -a) use them, and a load
// keeps the counters of rules it does not touch (by table and rule handle).
struct rule {
  uint64_t handle = 0;
  uint64_t serial = 0;  // unique to this parse of the rule in the process: a replaced rule,
                        // though it keeps its handle, is another rule
  std::vector<match> matches;
  std::vector<statement> stmts;  // in order; at most one verdict, and it is last
  std::string comment;           // comment "..."
  location loc;
};

struct chain {
  uint64_t handle = 0;
  std::string name;
  location loc;
  bool base = false;            // has `type ... hook ... priority ...;`
  std::string type = "filter";  // filter, route (output only; runs as filter), or nat
  nft::hook hook = nft::hook::input;
  int32_t priority = 0;
  bool policy_drop = false;  // policy accept|drop (base chains)
  std::vector<rule> rules;
};

// A named set, or a named map (`map NAME { type KEY : DATA; ... }`): a map is a set whose
// elements carry data, as in nft.
struct set {
  uint64_t handle = 0;
  uint64_t serial = 0;  // unique to this creation of the set in the process (see rule::serial)
  std::string name;
  location loc;
  std::string type;       // ipv4_addr | inet_service | inet_proto | mark, or a
                          // concatenation of them: "ipv4_addr . inet_service"
  std::string data_type;  // maps: verdict | mark; empty for a set
  // Declared with `typeof`: the expressions as nft lists them ("ip saddr . tcp dport", and a
  // map's data: "meta mark", "ct mark" or "verdict"), which the listing prints instead of the
  // types.
  std::string typeof_key, typeof_data;
  std::vector<map_data> data;  // maps: one per element of elems (empty for a set)
  bool interval = false;       // flags interval;
  bool auto_merge = false;     // auto-merge; (later elements merge with earlier ones)
  bool dynamic = false;        // flags dynamic, or updated from a rule (nft marks it so)
  bool timeout_flag = false;   // flags timeout
  uint64_t timeout_ms = 0;     // timeout T: an element's default (0: none)
  uint64_t gc_interval_ms = 0;
  uint32_t size_limit = 0;  // size N (0: not given)
  // An element's `timeout T` and `expires T` as written (ms), by its parts.
  std::map<std::vector<value_range>, std::pair<uint64_t, uint64_t>> elem_timeouts;
  // This load's element commands (`add element` / `delete element`, in order), which a live
  // set carried over from the ruleset before applies to its elements.
  struct elem_op {
    bool remove = false;
    std::vector<value_range> parts;
  };
  std::vector<elem_op> ops;
  // Whether the elements live in a table workers update (dynamic sets, timeouts), rather than
  // in the compiled ruleset.
  bool live() const { return dynamic || timeout_flag || timeout_ms != 0; }
  std::vector<value_range> elems;      // width() ranges per element (flat)
  std::vector<std::string> elem_text;  // as written, for listings
  size_t width() const;                // the type's fields: 1, or a concatenation's count
  size_t size() const { return elems.size() / width(); }  // elements
};

inline size_t set::width() const {
  size_t n = 1;
  for (size_t p = type.find(" . "); p != std::string::npos; p = type.find(" . ", p + 3)) ++n;
  return n;
}

// A named stateful object (`counter NAME { ... }`, `quota NAME { ... }`, `limit NAME { ... }`):
// one state shared by every rule that names it (`counter name "NAME"`), kept by loads that do
// not delete it, as nft's objects. Names are per kind: a counter and a quota may share one.
// `ct timeout NAME { protocol P; l3proto ip; policy = { STATE : SECONDS, ... }; }` is one too:
// a timeout policy `ct timeout set "NAME"` gives a flow (nf_conntrack_timeout).
enum class obj_kind : uint8_t { counter, quota, limit, ct_timeout };
struct object {
  uint64_t handle = 0;
  uint64_t serial = 0;  // unique to this creation of the object (see rule::serial)
  obj_kind kind = obj_kind::counter;
  std::string name;
  location loc;
  // The parameters, in the fields the anonymous statement of the same kind uses (counter:
  // packets/bytes as written; quota: bytes/over/used; limit: rate/unit/burst/over).
  statement spec{stmt_kind::counter, {}};
  // ct timeout: its protocol, its l3proto (NFPROTO_*: 2 ip, 10 ip6, 1 inet; the table's family
  // unless written; listed, not matched, as in the kernel), and the timeout in seconds of each
  // state (nft's list for the protocol, fields.h ct_timeout_states; unwritten ones hold nft's
  // defaults).
  uint8_t l4proto = 0;
  uint8_t l3proto = 0;
  std::vector<uint32_t> policy;
};

// nft's word for an object kind: counter, quota, limit.
const char* obj_kind_name(obj_kind k);

struct table {
  uint64_t handle = 0;
  uint64_t last_handle = 0;  // of its chains, objects, sets and rules
  nft::family fam = nft::family::ip;
  std::string name;
  location loc;
  std::vector<object> objects;  // in creation order, as nft lists them
  std::vector<set> sets;
  std::vector<chain> chains;
};

struct ruleset {
  bool flush = false;  // `flush ruleset` seen
  uint64_t last_table_handle = 0;
  std::vector<table> tables;
};

// Errors come in nft's shape (error::to_string() of common/result.h):
//   FILE:LINE:COL: error: MESSAGE
//   <the source line>
//   <spaces>^^^^^
// with severity "error", and len the characters the caret underlines.

// Bounds on what one load may build. Files are already bounded (16 MiB each,
// includes 16 deep), but includes multiply, and a load holds the old ruleset,
// the new one and its compiled form at once: an operator's mistake must fail
// with an error, not take the gateway's memory. A ruleset over a limit is
// refused at the rule or set that crossed it. The gateway passes its config's
// `ruleset_limits` (whose defaults live in config.h); unlimited otherwise.
struct parse_limits {
  size_t rules = SIZE_MAX;         // rules over all chains
  size_t set_elements = SIZE_MAX;  // elements (a range is one) over all named sets
};

// Parses a ruleset file (follows `include "file"` relative to the including
// file, bounded depth 16). Never throws. Unsupported nft features give
// "not supported: ..." errors, never silence.
//
// The file's commands apply to `base` (an empty ruleset by default) as
// `nft -f` applies a file to the kernel's ruleset, in one transaction: tables,
// chains and sets declared again are extended, `flush ruleset` starts from
// nothing, `delete`/`flush`/`insert`/`replace` edit what exists. The result is
// the whole ruleset after the file; `base` is untouched (a failed load
// changes nothing). Limits count the whole result.
result<ruleset> parse_file(const std::string& path, const parse_limits& limits = {},
                           const ruleset* base = nullptr);
result<ruleset> parse_string(const std::string& text, const std::string& name,
                             const parse_limits& limits = {}, const ruleset* base = nullptr);

// Prints a ruleset like `nft list ruleset`. `counter_of(table, chain, rule
// index)` returns the live {packets, bytes} of a rule's counter statement (or
// nullopt to print the parsed values).
struct counter_value {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
struct counter_lookup {
  virtual ~counter_lookup() = default;
  virtual std::optional<counter_value> get(size_t table, size_t chain, size_t rule) const = 0;
  // The bytes the rule's first quota has used now; nullopt to print the written `used`.
  virtual std::optional<uint64_t> quota_used(size_t /*table*/, size_t /*chain*/,
                                             size_t /*rule*/) const {
    return std::nullopt;
  }
  // A named counter's live {packets, bytes}, and the bytes a named quota has used (`object`:
  // its index in table::objects); nullopt to print the written values.
  virtual std::optional<counter_value> object_counter(size_t /*table*/, size_t /*object*/) const {
    return std::nullopt;
  }
  virtual std::optional<uint64_t> object_quota_used(size_t /*table*/, size_t /*object*/) const {
    return std::nullopt;
  }
  // A set whose elements workers update (set::live): its elements now, each as nft lists one
  // (`10.0.0.1 timeout 1m expires 59s964ms`); nullopt to print the ones written.
  virtual std::optional<std::vector<std::string>> set_elements(size_t /*table*/,
                                                               size_t /*set*/) const {
    return std::nullopt;
  }
};
// `handles`: print nft -a's `# handle N` after tables, chains, sets and rules.
std::string format(const ruleset& rs, const counter_lookup* counters = nullptr,
                   bool handles = false);

// A time as nft prints it: 1h2m3s, 9s964ms (0: 0s).
std::string duration_text(uint64_t ms);

// One rule as `nft list ruleset` prints it, without live counter values
// (trace lines use it).
std::string format_rule(const rule& r);
// One statement as nft prints it in a rule (without live values).
std::string format_statement(const statement& s);

// Named priorities, nft's for the family: ip, ip6 and inet name raw -300, mangle -150,
// dstnat -100, filter 0, security 50, srcnat 100; bridge names dstnat -300, filter -200,
// out 100, srcnat 300. nullopt if the family has no such name.
std::optional<int32_t> named_priority(const std::string& name, family f = family::ip);

}  // namespace ctgate::nft
