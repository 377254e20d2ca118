// Internal to lib/ruleset: the field and type tables of the nftables subset (nft's proto.c,
// meta.c, ct.c and datatype.c). Pure data and lookups, no parsing state: which fields a match
// header has, how each field's values are written and bounded (its value kind), which set
// types exist, the names values may be written with (flags, protocols, ICMP types, services)
// and the named hooks and priorities. The grammar (parser_internal.h) reads values through
// these tables, evaluation (evaluate.h) checks types with them, and the printer (format.cpp)
// writes values back with the same names.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ruleset/ast.h"

namespace ctgate::nft::detail {

// --- value vocabulary -------------------------------------------------------------------------

struct name_value {
  std::string_view name;
  uint32_t value;
};

// In bit order, which is also the order nft lists them in.
std::span<const name_value> tcp_flag_names();     // fin syn rst psh ack urg ecn cwr
std::span<const name_value> ct_state_names();     // invalid established related new untracked
std::span<const name_value> icmp_type_names();    // echo-reply ... address-mask-reply
std::span<const name_value> icmpv6_type_names();  // destination-unreachable ... (nft's)
std::span<const name_value> protocol_names();     // tcp udp icmp and other IANA names nft knows
std::span<const name_value> log_level_names();    // syslog's: emerg 0 ... debug 7
std::span<const name_value> rate_unit_names();    // second minute hour day (rate_unit's order)
// Well-known ports from /etc/services, built in so a ruleset means the same on every host.
std::span<const name_value> service_names();

// nft's names for the states a `ct timeout` policy sets, for protocol `l4proto`, in the order
// nft lists them (the kernel's); the value is the position. Empty for a protocol nft's policies
// do not take (all but tcp and udp).
std::span<const name_value> ct_timeout_states(uint8_t l4proto);
// nft's built-in timeout, in seconds, of each of those states: what a policy has for a state
// it does not write, and what the listing leaves out.
std::span<const uint32_t> ct_timeout_defaults(uint8_t l4proto);

// Each ICMP's names for the four codes a reject sends, in reject_kind's order (port, host, net,
// admin): IPv4's, IPv6's (addr-unreachable, no-route) and icmpx's, which nft maps to either.
std::span<const std::string_view> reject_code_names(reject_with w);

std::optional<uint32_t> lookup_name(std::span<const name_value> table, std::string_view name);
// nullptr when the value has no name.
const char* name_of(std::span<const name_value> table, uint32_t value);

std::string ipv4_to_string(uint32_t host_order);
std::optional<uint32_t> parse_ipv4(std::string_view text);  // strict dotted quad
// The [lo, hi] range as a prefix length if it is exactly one CIDR block, else -1.
int prefix_length(uint32_t lo, uint32_t hi);
// IPv6 addresses as 128-bit numbers (the first byte highest), written as inet_ntop writes
// them, which is how nft lists them.
std::string ipv6_to_string(uint128 a);
std::optional<uint128> parse_ipv6(std::string_view text);
int prefix_length6(uint128 lo, uint128 hi);  // as prefix_length, 0..128
// Ethernet addresses as 48-bit numbers (the first byte highest), written as nft lists them:
// six lowercase two-digit groups (02:00:00:00:0b:05). Parsing takes one or two hex digits a
// group, as nft does (2:0:0:0:b:5).
std::string ether_to_string(uint64_t a);
std::optional<uint64_t> parse_ether(std::string_view text);

const char* family_name(family f);
const char* field_name(field f);  // as nft lists it: "ip saddr", "iifname", "meta mark"

// How nft's register holds a field that `jhash` hashes: its length in bytes and whether in
// host byte order (meta and ct marks) rather than the packet's. nullopt for fields jhash does
// not take in ctgate.
struct register_layout {
  uint8_t len;
  bool host_order;
};
std::optional<register_layout> hash_layout(field f);
const char* hook_name(hook h);

// --- fields -----------------------------------------------------------------------------------

struct field_entry {
  std::string_view name;
  field f;
};

// The fields of one match header (`ip`, `ip6`, `meta`, `ct`, `tcp`, `udp`, `th`, `icmp`,
// `icmpv6`, `ether`, `vlan`): the ones ctgate reads, and nft's others, which are "not
// supported" rather than syntax errors.
struct header_fields {
  std::span<const field_entry> fields;
  std::span<const std::string_view> known;
  const char* expecting;  // for "syntax error, ..., expecting ..."
};

// nullptr for a word that is not a header with sub-fields (iif, oif, iifname, oifname and a
// bare mark are fields on their own).
const header_fields* header_fields_of(std::string_view head);

// The transport protocol a field implies (tcp dport: 6), 0 if none.
uint8_t l4_proto_of(field f);
// A protocol number as nft prints it: its name if it has one.
std::string proto_text(uint32_t p);

// nft words that start a match or statement ctgate does not implement: the feature's name for
// "not supported: ...", nullptr for other words.
const char* unsupported_rule_word(std::string_view w);

// --- value kinds and set types ----------------------------------------------------------------

// How the value of a field is written and checked.
// Plain numbers (u4..u32) have no names: `ip ttl 64`, `ct zone 5`.
// Named kinds (nfproto ... ctstatus) read and print their values by name, numbers otherwise.
enum class vkind : uint8_t {
  addr,
  addr6,  // an IPv6 address: 128 bits
  port,
  proto,
  mark,
  icmp,
  icmpv6,
  state,
  flags,
  iface,
  u4,
  u8,
  u12,  // vlan id
  u16,
  u20,  // ip6 flowlabel
  u32,
  u64,
  nfproto,
  ethertype,
  dscp,
  ecn,
  ctdir,
  pkttype,
  ctstatus,
  icmpcode,    // icmp code, by nft's names
  icmpv6code,  // icmpv6 code, by nft's names
  time,        // milliseconds, written and listed as nft's times (30s, 1h30m, 500ms)
  ether        // an Ethernet address: 48 bits
};

// The names a kind's values have (empty if none), in the order nft prints them (bit order for
// bitmasks; the first name of a value is the printed one), and what a value of the kind is
// called in "unknown ..." errors.
std::span<const name_value> names_of(vkind k);
const char* noun_of(vkind k);
// Bitmask kinds: `ct state established,related`, `tcp flags syn`, `ct status assured`.
inline bool is_bitmask_kind(vkind k) {
  return k == vkind::state || k == vkind::flags || k == vkind::ctstatus;
}

vkind kind_of(field f);
uint64_t max_of(vkind k);
const char* expecting_of(vkind k);

// The set type whose elements a field can be looked up in; nullptr if none.
const char* set_type_for(field f);
std::optional<vkind> kind_of_set_type(std::string_view type);
// nft's set types ctgate does not implement ("not supported" rather than "unknown").
bool is_unsupported_set_type(std::string_view type);
// A set type's parts: "ipv4_addr . inet_service" gives {"ipv4_addr", "inet_service"}.
std::vector<std::string_view> set_type_parts(std::string_view type);
// The set type a key of fields is looked up in ("ipv4_addr . inet_service" for ip saddr .
// tcp dport); empty if a field has none.
std::string set_type_for_key(field f, const std::vector<field>& concat);
// The fields a set type's elements are written as (for printing): one per part.
std::vector<field> fields_for_set_type(std::string_view type);
// The set type `typeof EXPR` gives ("ip saddr": ipv4_addr); nullptr if ctgate has none.
const char* set_type_of_typeof(std::string_view expr);

// --- hooks ------------------------------------------------------------------------------------

std::optional<hook> hook_of(std::string_view name);

// A family's named priority (nft's std_prios), and the one hook it is valid at if it is a NAT
// name nft takes at one hook only (dstnat at prerouting, srcnat at postrouting, the bridge's
// out at output). named_priority() in ast.h looks the names up without a hook.
struct priority_name {
  std::string_view name;
  int32_t value;
  std::optional<hook> only_at;
};
// In nft's order, which is the order a listing tries them in.
std::span<const priority_name> priority_names(family f);

}  // namespace ctgate::nft::detail
