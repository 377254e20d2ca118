// Internal to lib/ruleset: evaluation, the semantic checks of the nftables subset (nft's
// evaluate.c). The grammar (parser_internal.h) builds the tree and hands over what it cannot
// judge on its own: each set's new elements (merged, deduplicated and checked for intervals
// here), each rule's matches (for the transport protocol they imply, and the `meta l4proto tcp`
// dependency `reject with tcp reset` needs), and, once the whole ruleset is read, the set,
// jump and reject references it recorded, checked against the finished tree (set types, jump
// targets, jump loops, reject at postrouting). What passes is the ruleset (ast.h) that
// compile() (compiled.h) takes. Failures are thrown like the grammar's (token_stream.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ruleset/ast.h"
#include "ruleset/token_stream.h"

namespace ctgate::nft::detail {

// A set element as written: its value range, its text and where it is.
struct elem_syntax {
  value_range r;                   // the value (a concatenation's first part)
  std::vector<value_range> parts;  // a concatenation's element: one range per field
  std::string text;
  pos at;
  bool prefix = false;
  bool range = false;
  map_data data;            // a map's element: what its key maps to
  uint64_t timeout_ms = 0;  // `timeout T` written after it (0: none)
  uint64_t expires_ms = 0;  // `expires T` written after it (0: none)
};

// The grammar's symbol table for one table: which chains and sets it has (index into the
// table's vectors). What a file deletes stays in the vectors, marked, until the end of the
// parse, so that indices recorded meanwhile stay valid; its name leaves the map at once.
struct table_info {
  bool deleted = false;
  std::unordered_map<std::string, size_t> chains;
  std::unordered_map<std::string, size_t> sets;
  std::vector<bool> chain_deleted;
  std::vector<bool> set_deleted;
};

// References checked once the whole ruleset is read (nft resolves them per table, so a rule
// may name a chain or set declared further down). `rule` is the handle of the rule holding
// the reference (one deleted later in the file no longer counts); `base` marks references of
// rules that were there before the file, which were checked when they were loaded and have
// no position in this file.
struct jump_ref {
  size_t table;
  size_t chain;
  std::string target;
  pos at;
  bool is_goto;
  uint64_t rule = 0;
  bool base = false;
};
// How a rule uses a named set: looks keys up in it, or adds/updates or deletes elements from
// the packet path (which makes it a dynamic set, as nft does).
enum class set_use_kind : uint8_t { lookup, update, delete_ };
struct set_use {
  size_t table;
  size_t chain;
  std::string name;
  field f;
  pos at;
  uint64_t rule = 0;
  std::string data_type;      // a map's (`vmap @m`: verdict), empty for a set
  std::vector<field> concat;  // `f . concat...`: a concatenated key
  set_use_kind kind = set_use_kind::lookup;
  bool timeout = false;   // the update gives the element a timeout
  bool ct_count = false;  // ... or a connection count
};
// A statement only some hooks allow: reject (not at postrouting), `rt mtu` (forward, output
// and postrouting only) or synproxy (input and forward only), checked through jumps.
struct reject_use {
  size_t table;
  size_t chain;
  pos at;
  uint64_t rule = 0;
  bool base = false;
  bool rt_mtu = false;    // `tcp option maxseg size set rt mtu` rather than reject
  bool synproxy = false;  // `synproxy` rather than reject
};

// A NAT statement: only valid in chains of type nat at the hooks its kind runs at, checked
// against the base chains that reach its chain.
struct nat_use {
  size_t table;
  size_t chain;
  pos at;
  uint64_t rule = 0;
  bool base = false;  // loaded before this file (as reject_use::base)
  nat_kind kind = nat_kind::snat;
};

// "table ip NAME", as messages name a table.
std::string table_title(const ruleset& rs, size_t ti);

// Adds a set's new elements: duplicates dropped (plain sets), ranges and prefixes only with
// `flags interval`, overlapping intervals refused unless the set has auto-merge, which merges.
// A map's elements bring their data; a key already there with other data is refused.
void add_elements(set& st, bool auto_merge, const std::vector<elem_syntax>& elems);
// nft's refusal of prefixes and ranges in a set without `flags interval`.
void check_interval_flag(const set& st, const std::vector<elem_syntax>& elems);

// nft infers the transport protocol from the matches and refuses contradictions: `l4` is the
// protocol the rule's matches so far imply (0 if any), updated with `mt` written at `at`.
void track_l4(const match& mt, const pos& at, uint8_t& l4);

// `reject with tcp reset` (at `at`, `loc` in the tree) in a rule whose matches imply `l4`.
void add_reject_dependency(rule& rl, uint8_t l4, const pos& at, const location& loc);

// The references of the whole ruleset: named sets exist and have the field's type, jump and
// goto targets exist and are not base chains, no jump loops, no reject at postrouting.
// Deleted tables and chains, and references of deleted rules, are left out.
void check_references(const ruleset& rs, const std::vector<table_info>& info,
                      const std::vector<jump_ref>& jumps, const std::vector<set_use>& set_uses,
                      const std::vector<reject_use>& rejects, const std::vector<nat_use>& nats);

}  // namespace ctgate::nft::detail
