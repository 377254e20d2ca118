// The grammar of the nftables subset, part 3 of 3: rules, the matches (field, operator,
// value) and statements (verdicts, counter, log, limit, meter, synproxy, mark setting) they
// are made of. Each rule's matches go to evaluation as they are read (track_l4 and the
// tcp-reset dependency in evaluate.h); jumps, named sets and rejects are recorded for the
// checks at the end. See parser_internal.h.
#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ruleset/parser_internal.h"

namespace ctgate::nft::detail {
namespace {

int popcount(uint64_t v) {
  int n = 0;
  for (; v; v &= v - 1) ++n;
  return n;
}

bool is_verdict(stmt_kind k) {
  return k == stmt_kind::accept || k == stmt_kind::drop || k == stmt_kind::reject ||
         k == stmt_kind::jump || k == stmt_kind::goto_ || k == stmt_kind::return_ ||
         k == stmt_kind::nat;
}

// Whether a match tells the transport protocol, as nft requires before a NAT statement maps
// ports: a field of a TCP, UDP or ICMP header, or `ip protocol` / `meta l4proto` compared for
// equality (one protocol or an anonymous set of them).
bool matches_transport(const match& mt) {
  if (l4_proto_of(mt.f) != 0) return true;  // not `th`: nft reads it as raw payload
  for (field g : mt.concat)
    if (l4_proto_of(g) != 0) return true;
  return (mt.f == field::ip_protocol || mt.f == field::meta_l4proto) && mt.op == cmp_op::eq &&
         mt.rhs.set_name.empty();  // a named set tells nft nothing
}

// Whether a match tells an inet table's rule that the packet is IPv4 (an `ip` field, or `meta
// nfproto ipv4`), which a NAT address needs there, as in nft.
bool matches_ipv4(const match& mt) {
  if (std::string_view(detail::field_name(mt.f)).starts_with("ip ")) return true;
  return mt.f == field::meta_nfproto && mt.op == cmp_op::eq && mt.rhs.elems.size() == 1 &&
         mt.rhs.elems[0].lo == 2;
}

bool matches_ipv6(const match& mt) {
  if (is_ip6_header_field(mt.f) || is_ct_addr6_field(mt.f)) return true;
  return mt.f == field::meta_nfproto && mt.op == cmp_op::eq && mt.rhs.elems.size() == 1 &&
         mt.rhs.elems[0].lo == 10;
}

// An anonymous set's values in the order nft lists them: ascending.
std::vector<value_range> sorted_values(const std::vector<elem_syntax>& elems) {
  std::vector<value_range> out;
  bool intervals = false;
  for (const elem_syntax& e : elems) {
    out.push_back(e.r);
    intervals = intervals || e.range || e.prefix;
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const value_range& a, const value_range& b) { return a.lo < b.lo; });
  if (!intervals) return out;
  // With a range or prefix among them, nft makes the set an interval set and merges
  // overlapping and adjacent elements ({ 22, 23, 1000-2000 } lists as { 22-23, 1000-2000 }).
  std::vector<value_range> merged;
  for (const value_range& r : out) {
    if (!merged.empty() && (merged.back().hi == ~uint128{0} || r.lo <= merged.back().hi + 1))
      merged.back().hi = std::max(merged.back().hi, r.hi);
    else
      merged.push_back(r);
  }
  return merged;
}

}  // namespace

// --- rules ----------------------------------------------------------------------------------

// Whether the word at the front starts a match (else a statement or something else).
bool parser::starts_match() {
  const token& t = peek();
  const std::string& w = t.text;
  if (w == "tcp") return !(at_word("option", 1) && at_word("set", 4));  // else MSS clamping
  if (one_of(w, {"ip", "ip6", "udp", "th", "icmp", "icmpv6", "iif", "oif", "iifname", "oifname",
                 "pkttype", "ether", "vlan", "ibrname", "obrname"}))
    return true;
  if (w == "ct" && at_word("count", 1)) return false;  // ct count [over] N: a statement
  if (w == "meta" || w == "ct") return !at_word("set", 2);
  if (w == "mark") return !at_word("set", 1);
  return false;
}

bool parser::starts_statement() {
  const std::string& w = peek().text;
  if (one_of(w, {"counter", "accept", "drop", "reject", "notrack", "jump", "goto", "return", "log",
                 "limit", "synproxy", "meter", "quota", "snat", "dnat", "masquerade", "redirect"}))
    return true;
  if (w == "ct" && at_word("count", 1)) return true;
  if (w == "meta" || w == "ct") return at_word("set", 2);
  if (w == "mark" || w == "nftrace") return at_word("set", 1);
  if (w == "add" || w == "update" || w == "delete") return peek(1).kind == tok::set_ref;
  return w == "tcp" && at_word("option", 1) && at_word("set", 4);
}

rule parser::parse_rule(size_t ti, size_t ci) {
  current_table_ = ti;
  current_chain_ = ci;
  rule rl;
  const token first = peek();
  uint8_t l4 = 0;  // transport protocol the rule is known to match, 0 if any
  rule_transport_ = false;
  rule_ipv4_ = false;
  rule_ipv6_ = false;
  bool verdict = false;
  std::string first_stmt;
  std::optional<pos> tcp_reset_at;
  bool icmp4_reject = false, icmp6_reject = false;
  std::vector<link_dependency> link_deps;
  while (!at_statement_end()) {
    const token t = peek();
    if (t.kind != tok::word) unexpected(t, "a match or statement");
    if (t.text == "comment") {
      // nft's rule is one or more statements, then an optional comment.
      if (rl.matches.empty() && rl.stmts.empty()) unexpected(t, "a match or statement");
      take();
      const token c = peek();
      if (c.kind != tok::string) unexpected(c, "string");
      take();
      if (c.text.size() > kMaxCommentLength)
        fail(c, "comment too long, 128 characters maximum allowed");
      rl.comment = c.text;
      if (!at_statement_end()) unexpected(peek(), "newline or semicolon");
      break;
    }
    const bool is_match = starts_match();
    if (t.text == "numgen" || t.text == "jhash" || t.text == "symhash") {
      // numgen|jhash|symhash ... vmap { ... }: a verdict statement on a number made per packet.
      if (verdict) fail(t, "Statement after terminal statement has no effect");
      const token head = take();
      statement st;
      if (t.text == "numgen")
        numgen_spec(st);
      else if (t.text == "symhash")
        symhash_spec(st);
      else
        jhash_spec(st);
      if (!at_word("vmap")) {
        // numgen|jhash ... [op] VALUE: a match on the number.
        if (!first_stmt.empty())
          unsupported(t, "a match after a statement ('" + first_stmt +
                             "'): ctgate checks all matches first, so put matches first");
        match mt;
        mt.f = *st.from;
        mt.gen.push_back(std::move(st));
        relation(mt);
        mt.loc = loc_of(span_from(head));
        rl.matches.push_back(std::move(mt));
        continue;
      }
      take();
      st.kind = stmt_kind::vmap;
      map_operand(st, vkind::u32, "verdict", ti, ci);
      st.loc = loc_of(span_from(head));
      if (first_stmt.empty()) first_stmt = "vmap";
      verdict = true;
      rl.stmts.push_back(std::move(st));
      continue;
    }
    if (!is_match && !starts_statement()) {
      if (const char* feature = unsupported_rule_word(t.text)) unsupported(t, feature);
      unexpected(t, "a match or statement");
    }
    if (verdict) fail(t, "Statement after terminal statement has no effect");
    if (is_match) {
      // A key (a field, or a concatenation), then a relation, or vmap: a verdict statement
      // that looks the key up.
      const token head = take();
      const field f = parse_field(head);
      std::vector<field> concat = concat_fields(head, f);
      if (at_word("vmap")) {
        statement st = vmap_statement(head, f, std::move(concat), ti, ci);
        if (first_stmt.empty()) first_stmt = "vmap";
        verdict = true;
        rl.stmts.push_back(std::move(st));
        continue;
      }
      if (!first_stmt.empty())
        unsupported(t, "a match after a statement ('" + first_stmt +
                           "'): ctgate checks all matches first, so put matches first");
      if (f == field::meta_nfproto && rs_.tables[ti].fam != family::inet)
        fail(span_from(head), "meta nfproto is only useful in the inet family");
      // An ip table sees IPv4 only, an ip6 table IPv6 only: nft refuses the other header.
      if ((rs_.tables[ti].fam == family::ip6 && is_ip4_header_field(f)) ||
          (rs_.tables[ti].fam == family::ip && (is_ip6_header_field(f) || is_ct_addr6_field(f))))
        fail(span_from(head), rs_.tables[ti].fam == family::ip6
                                  ? "conflicting protocols specified: ip6 vs. ip"
                                  : "conflicting protocols specified: ip vs. ip6");
      const pos key_at = span_from(head);
      match mt = parse_match(head, f, std::move(concat));
      track_link_layer(mt, key_at, rl, link_deps);
      track_l4(mt, span_from(t), l4);
      rule_transport_ = rule_transport_ || matches_transport(mt);
      rule_ipv4_ = rule_ipv4_ || matches_ipv4(mt);
      rule_ipv6_ = rule_ipv6_ || matches_ipv6(mt);
      rl.matches.push_back(std::move(mt));
    } else {
      statement st = parse_statement(ti, ci);
      if (st.rt_mtu && rs_.tables[ti].fam == family::bridge)
        unsupported(t, "rt mtu in a bridge table (the bridge path has no routes)");
      if (st.kind == stmt_kind::reject && st.reject == reject_kind::tcp_reset)
        tcp_reset_at = span_from(t);
      if (st.kind == stmt_kind::reject && (st.reject_icmp4 || st.reject_icmp6)) {
        if (rs_.tables[ti].fam == (st.reject_icmp4 ? family::ip6 : family::ip))
          fail(span_from(t), "conflicting protocols specified: ip vs ip6");
        icmp4_reject = icmp4_reject || st.reject_icmp4;
        icmp6_reject = icmp6_reject || st.reject_icmp6;
      }
      if (first_stmt.empty()) first_stmt = t.text;
      verdict = is_verdict(st.kind);
      rl.stmts.push_back(std::move(st));
    }
  }
  if (tcp_reset_at) add_reject_dependency(rl, l4, *tcp_reset_at, loc_of(*tcp_reset_at));
  // `reject with icmp ...` in an inet table answers IPv4 only: nft puts `meta nfproto ipv4` in
  // front (and leaves it out of the listing), so IPv6 packets skip the rule.
  // `reject with icmpv6 ...` the same with `meta nfproto ipv6`.
  if (rs_.tables[ti].fam == family::inet &&
      ((icmp4_reject && !rule_ipv4_) || (icmp6_reject && !rule_ipv6_))) {
    match dep;
    dep.f = field::meta_nfproto;
    dep.rhs.elems.push_back(icmp4_reject ? value_range{2, 2} : value_range{10, 10});
    dep.rhs.text = icmp4_reject ? "ipv4" : "ipv6";
    dep.loc = rl.matches.empty() ? loc_of(span_from(first)) : rl.matches.front().loc;
    dep.hidden = true;
    rl.matches.insert(rl.matches.begin(), std::move(dep));
  }
  rl.loc = loc_of(span_from(first));
  return rl;
}

// --- matches --------------------------------------------------------------------------------

field parser::sub_field(const token& head, const header_fields& h) {
  const token t = peek();
  if (t.kind == tok::word) {
    for (const auto& [name, f] : h.fields)
      if (t.text == name) {
        take();
        return f;
      }
    if (std::find(h.known.begin(), h.known.end(), t.text) != h.known.end())
      unsupported(t, head.text + " " + t.text);
  }
  unexpected(t, h.expecting);
}

match parser::parse_match(const token& head, field f, std::vector<field> concat) {
  const token& next = peek();
  if (next.kind == tok::word && next.text == "map") unsupported(next, next.text);
  match mt;
  mt.f = f;
  mt.concat = std::move(concat);
  if (mt.concat.empty()) {
    relation(mt);
  } else {
    const pos key_at = span_from(head);
    token op_tok;
    const rel r = parse_op(&op_tok);
    const size_t from = log_.size();
    if (!at(tok::lbrace) && !at(tok::set_ref) && r != rel::lt && r != rel::gt && r != rel::le &&
        r != rel::ge)
      fail(key_at, "Use concatenations with sets and maps, not singleton values");
    concat_relation(mt, r, op_tok);
    mt.rhs.text = text_since(from);
  }
  mt.loc = loc_of(span_from(head));
  return mt;
}

// `. FIELD . FIELD ...` after a key's first field (taken from `head`): the rest of a
// concatenation, empty for a plain key.
std::vector<field> parser::concat_fields(const token& head, field first) {
  std::vector<field> concat;
  if (!at(tok::dot)) return concat;
  const std::vector<field> none;
  key_kinds_of(first, none, head);
  while (accept(tok::dot)) {
    const token part = peek();
    if (part.kind != tok::word || !starts_match()) unexpected(part, "a field to concatenate");
    take();
    const field f = parse_field(part);
    if (concat.size() + 2 > k_max_concat)
      unsupported(part, "concatenations of more than " + std::to_string(k_max_concat) + " fields");
    key_kinds_of(f, none, part);
    concat.push_back(f);
  }
  return concat;
}

// The kinds of a key's values. Concatenations take fields with plain values: addresses,
// ports, protocols and marks, whose set types nft concatenates.
key_kinds parser::key_kinds_of(field f, const std::vector<field>& concat, const token& at) {
  std::vector<vkind> kinds;
  for (size_t i = 0; i <= concat.size(); ++i) {
    const field g = i == 0 ? f : concat[i - 1];
    if (set_type_for(g) == nullptr)
      unsupported(at, std::string(field_name(g)) + " in a concatenation");
    kinds.push_back(kind_of(g));
  }
  return key_kinds(std::move(kinds));
}

// A concatenation compared with a value, an anonymous set or a named set: == and != only.
void parser::concat_relation(match& mt, rel r, const token& op_tok) {
  if (r != rel::implicit && r != rel::eq && r != rel::ne)
    fail(op_tok, "Relational expression (" + op_tok.text + ") is undefined for concatenations");
  mt.op = r == rel::ne ? cmp_op::ne : cmp_op::eq;
  const token first = peek();
  if (first.kind == tok::set_ref) {
    take();
    mt.rhs.set_name = first.text;
    set_uses_.push_back({current_table_, current_chain_, first.text, mt.f, pos_of(first),
                         rule_handle_, "", mt.concat});
    return;
  }
  const key_kinds k = key_kinds_of(mt.f, mt.concat, first);
  std::vector<elem_syntax> elems;
  if (first.kind == tok::lbrace)
    element_list(k, elems, 1, empty_rule::set_is_empty);
  else
    elems.push_back(concat_element(k));
  set anon;  // checked like a named set's elements: duplicates dropped
  anon.name = "anonymous";
  anon.type = set_type_for_key(mt.f, mt.concat);
  anon.interval = true;  // anonymous sets take ranges and prefixes
  add_elements(anon, false, elems);
  mt.rhs.elems = std::move(anon.elems);
}

// The field a match, a vmap or a `set` statement reads, from its first word `head` (taken).
field parser::parse_field(const token& head) {
  const std::string& w = head.text;
  field f = field::ip_saddr;
  if (w == "tcp" && at_word("option")) {
    tcp_option_size();
    f = field::tcp_option_maxseg;
  } else if (w == "ct" && (at_word("original") || at_word("reply"))) {
    // ct original|reply bytes|packets|avgpkt: one direction's accounting; ct original|reply
    // ip|ip6 saddr|daddr: one of its tuple's addresses (bare saddr|daddr is IPv4's; nft takes
    // it where the table's family tells, ctgate as IPv4).
    const bool original = take().text == "original";
    const bool ip6 = at_word("ip6");
    if (at_word("ip") || ip6) take();
    const token key = expect_name("bytes, packets, avgpkt, saddr or daddr");
    if (key.text == "saddr" && ip6)
      f = original ? field::ct_original_ip6_saddr : field::ct_reply_ip6_saddr;
    else if (key.text == "daddr" && ip6)
      f = original ? field::ct_original_ip6_daddr : field::ct_reply_ip6_daddr;
    else if (key.text == "saddr")
      f = original ? field::ct_original_saddr : field::ct_reply_saddr;
    else if (key.text == "daddr")
      f = original ? field::ct_original_daddr : field::ct_reply_daddr;
    else if (key.text == "bytes")
      f = original ? field::ct_original_bytes : field::ct_reply_bytes;
    else if (key.text == "packets")
      f = original ? field::ct_original_packets : field::ct_reply_packets;
    else if (key.text == "avgpkt")
      f = original ? field::ct_original_avgpkt : field::ct_reply_avgpkt;
    else
      unsupported(key, std::string("ct ") + (original ? "original " : "reply ") + key.text);
  } else if (const header_fields* h = header_fields_of(w)) {
    f = sub_field(head, *h);
  } else if (w == "iif") {
    f = field::meta_iif;
  } else if (w == "oif") {
    f = field::meta_oif;
  } else if (w == "iifname") {
    f = field::meta_iifname;
  } else if (w == "oifname") {
    f = field::meta_oifname;
  } else if (w == "pkttype") {
    f = field::meta_pkttype;
  } else if (w == "ibrname") {
    f = field::meta_ibrname;
  } else if (w == "obrname") {
    f = field::meta_obrname;
  } else {
    f = field::meta_mark;  // bare `mark`
  }
  check_bridge_only(head, f);
  return f;
}

// The fields only a bridge's frames have. nft refuses the bridge names elsewhere (the
// kernel's meta expression has them in the bridge family only); `vlan id` it takes in any
// table, but ctgate's routed ports carry no VLANs, so there it would match nothing.
void parser::check_bridge_only(const token& head, field f) {
  if (rs_.tables[current_table_].fam == family::bridge) return;
  if (is_bridge_name_field(f))
    fail(span_from(head), std::string(field_name(f)) +
                              " is only valid in a bridge table (nft: Could not process rule: "
                              "Operation not supported)");
  if (f == field::vlan_id)
    fail(span_from(head),
         "not supported: vlan id outside a bridge table (ctgate's routed ports carry no VLANs)");
}

// After `numgen`: `inc|random mod N [offset M]` (nft_numgen). Sets st.from to numgen.
void parser::numgen_spec(statement& st) {
  const token how = expect_name("inc or random");
  if (how.text != "inc" && how.text != "random") unexpected(how, "inc or random");
  st.numgen_random = how.text == "random";
  expect_word("mod");
  const token mod = peek();
  st.numgen_mod = static_cast<uint32_t>(bounded(take(), 0xffffffff));
  if (st.numgen_mod == 0) fail(mod, "numgen modulus must be at least 1");
  if (accept_word("offset")) st.numgen_offset = static_cast<uint32_t>(bounded(take(), 0xffffffff));
  st.from = field::numgen;
}

// After `jhash`: `KEY mod N [seed S] [offset M]` (nft_hash's jhash), KEY a field or a
// concatenation of fields nft's registers hold as ctgate lays them out (fields.h
// hash_layout). Sets st.from to jhash. Without a seed one is drawn now, as the kernel draws
// one per rule, so a load that keeps the rule keeps its hash.
void parser::jhash_spec(statement& st) {
  const token key_head = take();
  const field first = parse_field(key_head);
  std::vector<field> rest = concat_fields(key_head, first);
  st.hash_key.push_back(first);
  st.hash_key.insert(st.hash_key.end(), rest.begin(), rest.end());
  for (field f : st.hash_key)
    if (!detail::hash_layout(f))
      unsupported(key_head, std::string("jhash of ") + detail::field_name(f));
  expect_word("mod");
  const token mod = peek();
  st.numgen_mod = static_cast<uint32_t>(bounded(take(), 0xffffffff));
  if (st.numgen_mod == 0) fail(mod, "jhash modulus must be at least 1");
  if (accept_word("seed")) {
    st.hash_seed = static_cast<uint32_t>(bounded(take(), 0xffffffff));
    st.hash_seed_set = true;
  } else {
    st.hash_seed = static_cast<uint32_t>(std::random_device{}());
  }
  if (accept_word("offset")) st.numgen_offset = static_cast<uint32_t>(bounded(take(), 0xffffffff));
  st.from = field::jhash;
}

// After `symhash`: `mod N [offset M]` (nft_hash's symhash): a hash of the packet's flow that
// both directions share. Sets st.from to jhash with hash_symmetric; the seed is drawn now
// (the kernel's is one random value per boot, not listed either).
void parser::symhash_spec(statement& st) {
  expect_word("mod");
  const token mod = peek();
  st.numgen_mod = static_cast<uint32_t>(bounded(take(), 0xffffffff));
  if (st.numgen_mod == 0) fail(mod, "symhash modulus must be at least 1");
  if (accept_word("offset")) st.numgen_offset = static_cast<uint32_t>(bounded(take(), 0xffffffff));
  st.hash_seed = static_cast<uint32_t>(std::random_device{}());
  st.hash_symmetric = true;
  st.from = field::jhash;
}

// `option maxseg size` after `tcp`: the TCP options ctgate reads (the MSS only).
void parser::tcp_option_size() {
  take();  // option
  const token opt = expect_name("tcp option");
  if (opt.text != "maxseg") {
    if (one_of(opt.text, {"window", "sack-perm", "sack", "sack0", "sack1", "sack2", "sack3",
                          "timestamp", "eol", "nop", "mptcp", "fastopen", "md5sig"}) ||
        opt.kind == tok::number)
      unsupported(opt, "tcp option " + opt.text + " (ctgate reads maxseg only)");
    unexpected(opt, "tcp option");
  }
  const token what = expect_name("size");
  if (what.text != "size") {
    if (one_of(what.text, {"kind", "length"})) unsupported(what, "tcp option maxseg " + what.text);
    unexpected(what, "size");
  }
}

// The key a map is looked up with: any field with values (interface names: not yet).
vkind parser::map_key_kind(field f, const token& at) {
  const vkind k = kind_of(f);
  if (k == vkind::iface) unsupported(at, std::string("maps keyed by ") + field_name(f));
  return k;
}

// KEY vmap { key : verdict, ... } | KEY vmap @map, the key (a field or a concatenation)
// taken from `head` on.
statement parser::vmap_statement(const token& head, field f, std::vector<field> concat, size_t ti,
                                 size_t ci) {
  statement st;
  st.kind = stmt_kind::vmap;
  st.from = f;
  st.concat = std::move(concat);
  const key_kinds k =
      st.concat.empty() ? key_kinds(map_key_kind(f, head)) : key_kinds_of(f, st.concat, head);
  expect_word("vmap");
  map_operand(st, k, "verdict", ti, ci);
  st.loc = loc_of(span_from(head));
  return st;
}

// `{ key : data, ... }` or `@name` after vmap or map.
void parser::map_operand(statement& st, const key_kinds& k, const std::string& data_type, size_t ti,
                         size_t ci) {
  if (at(tok::set_ref)) {
    const token ref = take();
    st.map_name = ref.text;
    set_uses_.push_back({current_table_, current_chain_, ref.text, *st.from, pos_of(ref),
                         rule_handle_, data_type, st.concat});
    return;
  }
  std::vector<elem_syntax> elems;
  map_element_list(k, data_type, elems, ti, ci);
  set anon;  // checked like a named map's elements: duplicates, intervals
  anon.name = "anonymous";
  const std::string type = set_type_for_key(*st.from, st.concat);
  anon.type = !type.empty() ? type : field_name(*st.from);
  anon.data_type = data_type;
  for (const elem_syntax& e : elems) anon.interval = anon.interval || e.prefix || e.range;
  add_elements(anon, false, elems);
  if (st.concat.empty()) {
    // nft lists an anonymous map by key (a concatenation's as written).
    std::vector<size_t> order(anon.data.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return anon.elems[a].lo < anon.elems[b].lo; });
    for (size_t i : order) {
      st.map_keys.push_back(anon.elems[i]);
      st.map_values.push_back(anon.data[i]);
    }
    return;
  }
  st.map_keys = std::move(anon.elems);
  st.map_values = std::move(anon.data);
}

rel parser::parse_op(token* op_tok) {
  const token t = peek();
  *op_tok = t;
  rel r = rel::implicit;
  switch (t.kind) {
    case tok::eq: r = rel::eq; break;
    case tok::ne: r = rel::ne; break;
    case tok::lt: r = rel::lt; break;
    case tok::gt: r = rel::gt; break;
    case tok::le: r = rel::le; break;
    case tok::ge: r = rel::ge; break;
    case tok::bang: r = rel::neg; break;
    case tok::word: {
      static const std::pair<std::string_view, rel> words[] = {
          {"eq", rel::eq}, {"ne", rel::ne}, {"neq", rel::ne}, {"lt", rel::lt},
          {"gt", rel::gt}, {"le", rel::le}, {"ge", rel::ge}};
      for (const auto& [w, value] : words)
        if (t.text == w) r = value;
      break;
    }
    default: break;
  }
  if (r != rel::implicit) take();
  return r;
}

cmp_op parser::cmp_of(rel r) {
  switch (r) {
    case rel::ne: return cmp_op::ne;
    case rel::lt: return cmp_op::lt;
    case rel::gt: return cmp_op::gt;
    case rel::le: return cmp_op::le;
    case rel::ge: return cmp_op::ge;
    default: return cmp_op::eq;
  }
}

bool parser::is_order(rel r) {
  return r == rel::lt || r == rel::gt || r == rel::le || r == rel::ge;
}

void parser::relation(match& mt) {
  const vkind k = kind_of(mt.f);
  const char* fname = detail::field_name(mt.f);
  const bool maskable =
      k == vkind::flags || k == vkind::mark || k == vkind::u8 || k == vkind::u16 || k == vkind::u32;
  if (maskable && (at(tok::amp) || at_word("and"))) {
    take();
    const size_t from = log_.size();
    masked(mt, k);
    mt.rhs.text = text_since(from);
    return;
  }
  token op_tok;
  const rel r = parse_op(&op_tok);
  const size_t from = log_.size();
  const token value_tok = peek();
  if (value_tok.kind == tok::newline || value_tok.kind == tok::semicolon ||
      value_tok.kind == tok::end || value_tok.kind == tok::rbrace)
    unexpected(value_tok, expecting_of(k));
  if (k == vkind::iface)
    iface_relation(mt, r, op_tok, fname);
  else if (is_bitmask_kind(k))
    bitmask_relation(mt, r, op_tok, fname);
  else
    value_relation(mt, r, op_tok);
  mt.rhs.text = text_since(from);
}

void parser::iface_relation(match& mt, rel r, const token& op_tok, const char* fname) {
  if (r != rel::implicit && r != rel::eq && r != rel::ne)
    fail(op_tok, "operator '" + op_tok.text + "' cannot be used with " + fname);
  mt.op = r == rel::ne ? cmp_op::ne : cmp_op::eq;
  const token t = peek();
  if (t.kind == tok::set_ref) unsupported(t, "named sets of interface names");
  auto name = [this]() {
    const token n = peek();
    if (n.kind != tok::string && n.kind != tok::word && n.kind != tok::number)
      unexpected(n, "interface name");
    take();
    if (n.text.empty()) fail(n, "empty interface name");
    if (n.text.size() > 15) fail(n, "interface name too long (IFNAMSIZ is 16)");
    return n.text;
  };
  if (t.kind != tok::lbrace) {
    mt.rhs.str = name();
    return;
  }
  // `{ "lan", "wan*" }`: sorted and without repeats, as nft lists the set; one name is a
  // plain compare, as nft makes it.
  const token open = take();
  enter_block(open);
  std::vector<std::string> names;
  for (;;) {
    skip_newlines();
    if (at(tok::rbrace)) break;
    names.push_back(name());
    skip_newlines();
    if (!accept(tok::comma)) break;
  }
  skip_newlines();
  if (!at(tok::rbrace)) unexpected(peek(), "',' or '}'");
  take();
  leave_block();
  if (names.empty()) fail(open, "set is empty");
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (names.size() == 1)
    mt.rhs.str = names.front();
  else
    mt.rhs.strs = std::move(names);
}

void parser::bitmask_relation(match& mt, rel r, const token& op_tok, const char* fname) {
  const vkind k = kind_of(mt.f);
  const bool state = mt.f == field::ct_state;
  const size_t from = log_.size();  // the operator is already taken
  if (is_order(r)) fail(op_tok, "operator '" + op_tok.text + "' cannot be used with " + fname);
  const token first = peek();
  if (first.kind == tok::set_ref) unsupported(first, std::string("named sets with ") + fname);
  if (first.kind == tok::lbrace) {
    if (r == rel::neg)
      fail(op_tok,
           "negation can only be used with singleton bitmask values.  Did you mean "
           "\"!=\"?");
    std::vector<elem_syntax> elems;
    element_list(k, elems, 1, empty_rule::set_is_empty);
    mt.op = r == rel::ne ? cmp_op::ne : cmp_op::eq;
    mt.rhs.elems = sorted_values(elems);
    return;
  }
  const uint64_t value = flag_list(k);
  if (at(tok::slash)) {
    const token slash = take();
    const uint64_t mask = flag_list(k);
    if (r == rel::neg) fail(slash, "cannot combine negation with binary expression");
    if ((value & ~mask) != 0)
      fail(span_from(first), "comparison is always false: the value has bits outside the mask");
    mt.op = r == rel::ne ? cmp_op::masked_ne : cmp_op::masked_eq;
    mt.rhs.mask = mask;
    mt.rhs.value = value;
    return;
  }
  if (value == 0 && (r == rel::implicit || r == rel::neg))
    fail(span_from(first), std::string("matching no ") + (state ? "state" : "flags") +
                               " is always " + (r == rel::neg ? "true" : "false") +
                               "; write '== 0x0' to match none set");
  switch (r) {
    case rel::implicit:
      mt.op = cmp_op::bits_any;
      mt.rhs.mask = value;
      return;
    case rel::neg:
      mt.op = cmp_op::bits_none;
      mt.rhs.mask = value;
      return;
    default: break;
  }
  // `==` and `!=` compare the whole value, as in nft. A connection has exactly one state,
  // so against several states that never (==) or always (!=) matches: refuse it.
  if (state && popcount(value) > 1) {
    std::string names;
    for (const detail::name_value& nv : detail::ct_state_names())
      if (value & nv.value) names += (names.empty() ? "" : ",") + std::string(nv.name);
    const std::string written = text_since(from);
    if (r == rel::eq)
      fail(span_from(first), "'ct state == " + written +
                                 "' never matches (a connection has one state); write "
                                 "'ct state { " +
                                 names + " }'");
    fail(span_from(first), "'ct state != " + written +
                               "' always matches (nft compares the whole value); write "
                               "'ct state ! " +
                               names + "'");
  }
  if (state && r == rel::ne) {
    mt.op = cmp_op::bits_none;  // one state bit: `!= x` is `(state & x) == 0`
    mt.rhs.mask = value;
    return;
  }
  mt.op = r == rel::ne ? cmp_op::ne : cmp_op::eq;
  mt.rhs.elems.push_back({value, value});
}

void parser::value_relation(match& mt, rel r, const token& op_tok) {
  const vkind k = kind_of(mt.f);
  const token first = peek();
  if (first.kind == tok::lbrace || first.kind == tok::set_ref) {
    if (r == rel::neg)
      fail(op_tok,
           "negation can only be used with singleton bitmask values.  Did you mean "
           "\"!=\"?");
    if (is_order(r))
      fail(op_tok, "Relational expression (" + op_tok.text +
                       ") is undefined for set "
                       "expressions");
    mt.op = cmp_of(r);
    if (first.kind == tok::set_ref) {
      take();
      mt.rhs.set_name = first.text;
      set_uses_.push_back(
          {current_table_, current_chain_, first.text, mt.f, pos_of(first), rule_handle_});
      return;
    }
    std::vector<elem_syntax> elems;
    element_list(k, elems, 1, empty_rule::set_is_empty);
    mt.rhs.elems = sorted_values(elems);
    mt.rhs.merged_set = elems.size() > 1 && mt.rhs.elems.size() == 1;
    return;
  }
  if (r == rel::neg)
    fail(op_tok,
         "negation can only be used with singleton bitmask values.  Did you mean "
         "\"!=\"?");
  const elem_syntax e = value_elem(k);
  if (is_order(r) && (e.prefix || e.range))
    fail(e.at, "Relational expression (" + op_tok.text + ") is undefined for " +
                   (e.prefix ? "prefix" : "range") + " expressions");
  if (at(tok::comma))
    fail(peek(), "syntax error, unexpected ',' (a list of " + std::string(expecting_of(k)) +
                     "s needs braces: { a, b })");
  mt.op = cmp_of(r);
  mt.rhs.elems.push_back(e.r);
}

// `& MASK == VALUE` / `& MASK != VALUE` for tcp flags and marks.
void parser::masked(match& mt, vkind k) {
  const token first = peek();
  const uint64_t mask = k == vkind::flags ? flag_expr(k) : scalar(k);
  token op_tok;
  const rel r = parse_op(&op_tok);
  if (r != rel::eq && r != rel::ne) unexpected(op_tok, "'==' or '!='");
  if (at(tok::lbrace)) unsupported(peek(), "a set compared with a masked value");
  const uint64_t value = k == vkind::flags ? flag_expr(k) : scalar(k);
  if ((value & ~mask) != 0)
    fail(span_from(first), "comparison is always " + std::string(r == rel::eq ? "false" : "true") +
                               ": the value has bits outside the mask");
  mt.op = r == rel::eq ? cmp_op::masked_eq : cmp_op::masked_ne;
  mt.rhs.mask = mask;
  mt.rhs.value = value;
}

// --- statements -----------------------------------------------------------------------------

statement parser::parse_statement(size_t ti, size_t ci) {
  const token head = take();
  const std::string& w = head.text;
  if (rs_.tables[ti].fam == family::bridge) refuse_on_bridge(head);
  statement st;
  if (w == "counter") {
    st.kind = stmt_kind::counter;
    if (accept_word("packets")) {
      st.packets = number(take());
      expect_word("bytes");
      st.bytes = number(take());
    } else if (at_word("name")) {
      if (!object_map(st, obj_kind::counter)) object_ref(st, obj_kind::counter);
    }
  } else if (w == "accept") {
    st.kind = stmt_kind::accept;
  } else if (w == "drop") {
    st.kind = stmt_kind::drop;
  } else if (w == "return") {
    st.kind = stmt_kind::return_;
  } else if (w == "notrack") {
    st.kind = stmt_kind::notrack;
  } else if (w == "jump" || w == "goto") {
    st.kind = w == "jump" ? stmt_kind::jump : stmt_kind::goto_;
    if (at(tok::lbrace)) unsupported(peek(), "anonymous chains");
    const token target = expect_name("chain name");
    st.target = target.text;
    jumps_.push_back({ti, ci, target.text, pos_of(target), w == "goto", rule_handle_});
  } else if (w == "reject") {
    st.kind = stmt_kind::reject;
    reject_options(st);
    rejects_.push_back({ti, ci, pos_of(head), rule_handle_});
  } else if (w == "log") {
    st.kind = stmt_kind::log;
    log_options(st);
  } else if (w == "limit") {
    st.kind = stmt_kind::limit;
    limit_options(st);
  } else if (w == "synproxy") {
    st.kind = stmt_kind::synproxy;
    synproxy_options(st);
    rejects_.push_back({ti, ci, pos_of(head), rule_handle_, false, false, true});
  } else if (one_of(w, {"snat", "dnat", "masquerade", "redirect"})) {
    st.kind = stmt_kind::nat;
    nat_options(head, st, rule_transport_);
    const bool inet = rs_.tables[ti].fam == family::inet;
    // nft names the family of a mapped address and port, or of mapped ranges, in any table.
    st.nat.show_family = (st.nat.has_addr && inet) || st.nat.map_addr_port || st.nat.map_ranges;
    if (st.nat.has_addr && inet && !nat_family_ && !rule_ipv4_ && !rule_ipv6_)
      fail(head, "ip or ip6 must be specified with address for inet tables.");
    nat_uses_.push_back({ti, ci, pos_of(head), rule_handle_, false, st.nat.kind});
  } else if (w == "meter") {
    st.kind = stmt_kind::meter;
    meter_body(st);
  } else if (w == "quota") {
    st.kind = stmt_kind::quota;
    quota_options(st);
  } else if (w == "ct" && accept_word("count")) {
    // ct count [over] N (nft_connlimit): N is 32 bits (nft truncates larger numbers; an
    // error here).
    st.kind = stmt_kind::ct_count;
    st.over = accept_word("over");
    if (!at(tok::number)) unexpected(peek(), st.over ? "number" : "number or over");
    st.value = bounded(take(), 0xffffffff);
  } else if (w == "add" || w == "update" || w == "delete") {
    // add|update|delete @set { KEY [timeout T] [limit ...|ct count ...] } (nft_dynset)
    st.kind = stmt_kind::dynset;
    st.op = w == "add" ? set_op::add : w == "update" ? set_op::update : set_op::delete_;
    const token ref = take();
    st.set_name = ref.text;
    dynset_element(st, false);
    if (st.op == set_op::delete_ && (st.elem_timeout_ms != 0 || st.has_limit || st.has_ct_count))
      fail(span_from(head), "delete takes a key only");
    set_uses_.push_back({current_table_, current_chain_, ref.text, *st.from, pos_of(ref),
                         rule_handle_, "", st.concat,
                         st.op == set_op::delete_ ? set_use_kind::delete_ : set_use_kind::update,
                         st.elem_timeout_ms != 0, st.has_ct_count});
  } else if (w == "tcp") {
    // tcp option maxseg size set N | set rt mtu
    tcp_option_size();
    expect_word("set");
    st.kind = stmt_kind::tcp_mss_set;
    if (accept_word("rt")) {
      if (!at_word("mtu")) {
        if (at(tok::word)) unsupported(peek(), "rt " + peek().text);
        unexpected(peek(), "mtu");
      }
      take();
      st.rt_mtu = true;
      rejects_.push_back({ti, ci, pos_of(head), rule_handle_, false, true});
    } else {
      if (at(tok::word)) unsupported(peek(), "setting the MSS from this expression");
      st.value = bounded(take(), 0xffff);
    }
  } else {
    set_statement(head, st);
  }
  st.loc = loc_of(span_from(head));
  return st;
}

// Statements a bridge table refuses: what sends packets of its own or needs the routed path.
// ctgate's bridge path switches frames: it answers none, routes none and translates none.
void parser::refuse_on_bridge(const token& head) {
  const std::string& w = head.text;
  if (w == "reject" || w == "synproxy")
    unsupported(head, w + " in a bridge table (the bridge path sends no packets of its own)");
  if (one_of(w, {"snat", "dnat", "masquerade", "redirect"}))
    unsupported(head, w + " in a bridge table (a bridge neither routes nor translates)");
  if (w == "notrack")
    unsupported(head,
                "notrack in a bridge table (conntrack on the bridge path tracks every IP frame)");
}

// nft's link-layer dependencies: `ether type ip` (and outside inet tables `meta protocol ip`)
// is what nft puts in front of an `ip` match itself, so one written in front of it is dropped
// from the rule, and one that names another protocol contradicts it. Likewise `ether type
// vlan` in front of `vlan id`. EtherTypes nft has no protocol for (0x1234) are left alone.
// nft forgets all but the latest of several; ctgate drops them all, so that the listing reads
// back to itself.
void parser::track_link_layer(const match& mt, const pos& at, rule& rl,
                              std::vector<link_dependency>& pending) {
  bool net4 = false, net6 = false, vlan = false;
  uint8_t l4 = l4_proto_of(mt.f);
  for (size_t i = 0; i <= mt.concat.size(); ++i) {
    const field g = i == 0 ? mt.f : mt.concat[i - 1];
    net4 = net4 || is_ip4_header_field(g);
    net6 = net6 || is_ip6_header_field(g);
    vlan = vlan || g == field::vlan_id;
    if (l4 == 0) l4 = l4_proto_of(g);
  }
  const uint16_t want = net4 ? 0x0800 : net6 ? 0x86dd : vlan ? 0x8100 : 0;
  for (const link_dependency& d : pending) {
    if (want != 0 && d.proto != want)
      fail(at, std::string("conflicting protocols specified: ") +
                   (vlan ? "ether" : name_of(names_of(vkind::ethertype), d.proto)) + " vs. " +
                   (net4   ? "ip"
                    : net6 ? "ip6"
                           : "vlan"));
    if (want == 0 && l4 != 0 && d.proto == 0x0806)
      fail(at, "conflicting protocols specified: arp vs. " + proto_text(l4));
  }
  if (want != 0) {
    for (auto d = pending.rbegin(); d != pending.rend(); ++d)  // later indices first
      rl.matches.erase(rl.matches.begin() + static_cast<ptrdiff_t>(d->at));
    pending.clear();
  }
  // An inet table's dependency is `meta nfproto`: there nft keeps `meta protocol`.
  const bool link_field =
      mt.f == field::ether_type ||
      (mt.f == field::meta_protocol && rs_.tables[current_table_].fam != family::inet);
  if (!link_field || !mt.concat.empty() || mt.op != cmp_op::eq || !mt.rhs.set_name.empty() ||
      mt.rhs.elems.size() != 1 || mt.rhs.elems[0].lo != mt.rhs.elems[0].hi)
    return;
  const auto proto = static_cast<uint16_t>(mt.rhs.elems[0].lo);
  if (proto != 0x0800 && proto != 0x86dd && proto != 0x0806 && proto != 0x8100) return;
  pending.push_back({rl.matches.size(), proto});  // where mt goes
}

void parser::reject_options(statement& st) {
  if (!accept_word("with")) return;
  const family fam = rs_.tables[current_table_].fam;
  const token how = expect_name("icmp, icmpv6, icmpx or tcp");
  if (how.text == "tcp") {
    expect_word("reset");
    st.reject = reject_kind::tcp_reset;
    return;
  }
  if (how.text != "icmp" && how.text != "icmpv6" && how.text != "icmpx")
    unexpected(how, "icmp, icmpv6, icmpx or tcp");
  accept_word("type");
  const token code = peek();
  if (code.kind != tok::word) {
    if (code.kind == tok::number) unsupported(code, "numeric reject codes");
    unexpected(code, "ICMP code");
  }
  take();
  // nft: icmpx (an ICMP code for either family) only in inet tables.
  if (how.text == "icmpx" && fam != family::inet)
    fail(code, "abstracted ICMP unreachable not supported");
  const reject_with with = how.text == "icmp"     ? reject_with::icmp
                           : how.text == "icmpv6" ? reject_with::icmpv6
                                                  : reject_with::icmpx;
  const std::span<const std::string_view> names = detail::reject_code_names(with);
  for (int k = 0; k < 4; ++k) {
    if (code.text != names[k]) continue;
    st.reject = static_cast<reject_kind>(k);
    st.reject_icmp4 = how.text == "icmp";
    st.reject_icmp6 = how.text == "icmpv6";
    // Listed as nft lists it: port-unreachable of the table's own ICMP is plain `reject`.
    const reject_with own = fam == family::ip    ? reject_with::icmp
                            : fam == family::ip6 ? reject_with::icmpv6
                                                 : reject_with::icmpx;
    st.reject_with = k == 0 && with == own ? reject_with::plain : with;
    return;
  }
  if (one_of(code.text, {"prot-unreachable", "net-prohibited", "host-prohibited", "frag-needed",
                         "policy-fail", "reject-route"}))
    unsupported(code, "reject with " + how.text + " " + code.text);
  fail(code, "unknown ICMP reject code '" + code.text + "'");
}

void parser::log_options(statement& st) {
  bool prefix = false, level = false;
  while (at(tok::word)) {
    const token opt = peek();
    if (opt.text == "prefix" && !prefix) {
      take();
      const token s = peek();
      if (s.kind != tok::string) unexpected(s, "string");
      take();
      if (s.text.size() > kMaxLogPrefix) fail(s, "log prefix is too long (maximum 127 characters)");
      st.log_prefix = s.text;
      prefix = true;
    } else if (opt.text == "level" && !level) {
      take();
      const token lv = expect_name("log level");
      const std::optional<uint32_t> value = detail::lookup_name(detail::log_level_names(), lv.text);
      if (!value) {
        if (lv.text == "audit") unsupported(lv, "log level audit (the audit subsystem)");
        fail(lv, "unknown log level '" + lv.text + "'");
      }
      st.log_level = static_cast<uint8_t>(*value);
      level = true;
    } else if (opt.text == "flags") {
      take();
      log_flags(st);
    } else if (one_of(opt.text, {"group", "snaplen", "queue-threshold"})) {
      unsupported(opt, "log " + opt.text + " (NFLOG)");
    } else {
      break;
    }
  }
}

// After `log flags`: all | tcp sequence[,options] | tcp options | ip options | skuid | ether.
void parser::log_flags(statement& st) {
  const token f = expect_name("log flags");
  if (f.text == "all") {
    st.log_flags |= LOG_F_ALL;
  } else if (f.text == "tcp") {
    do {
      const token t = expect_name("sequence or options");
      if (t.text == "sequence")
        st.log_flags |= LOG_F_TCPSEQ;
      else if (t.text == "options")
        st.log_flags |= LOG_F_TCPOPT;
      else
        unexpected(t, "sequence or options");
    } while (accept(tok::comma));
  } else if (f.text == "ip") {
    expect_word("options");
    st.log_flags |= LOG_F_IPOPT;
  } else if (f.text == "skuid") {
    st.log_flags |= LOG_F_UID;
  } else if (f.text == "ether") {
    st.log_flags |= LOG_F_MACDECODE;
  } else {
    unexpected(f, "all, tcp, ip, skuid or ether");
  }
}

// synproxy [mss N] [wscale N] [timestamp] [sack-perm], any order, each once.
void parser::synproxy_options(statement& st) {
  while (at(tok::word)) {
    const token opt = peek();
    if (opt.text == "mss" && st.mss == 0) {
      take();
      const token n = peek();
      uint64_t v = bounded(take(), 65535);
      if (v < 536) fail(n, "synproxy mss must be at least 536");
      st.mss = static_cast<uint16_t>(v);
    } else if (opt.text == "wscale" && st.wscale == 0xff) {
      take();
      st.wscale = static_cast<uint8_t>(bounded(take(), 14));
    } else if (opt.text == "timestamp" && !st.timestamp) {
      take();
      st.timestamp = true;
    } else if (opt.text == "sack-perm" && !st.sack_perm) {
      take();
      st.sack_perm = true;
    } else {
      break;
    }
  }
}

// snat|dnat [ip] [to] ADDR[-ADDR][:PORT[-PORT]] [FLAGS]
// masquerade [to :PORT[-PORT]] [FLAGS]
// redirect [to [:]PORT[-PORT]] [FLAGS]
// FLAGS: random, fully-random, persistent, comma-separated (a second list replaces the
// first, as nft's grammar does). Ports need a transport protocol match before them.
void parser::nat_options(const token& head, statement& st, bool transport) {
  nat_spec& n = st.nat;
  const std::string& w = head.text;
  n.kind = w == "snat"         ? nat_kind::snat
           : w == "dnat"       ? nat_kind::dnat
           : w == "masquerade" ? nat_kind::masquerade
                               : nat_kind::redirect;
  const bool addressed = n.kind == nat_kind::snat || n.kind == nat_kind::dnat;
  // `snat ip to ...` names the family; `dnat ip addr . port to KEY map { ... }` maps a key to
  // an address and a port.
  const bool addr_port = addressed && at_word("ip") && at_word("addr", 1) &&
                         peek(2).kind == tok::dot && at_word("port", 3) && at_word("to", 4);
  const family table_family = rs_.tables[current_table_].fam;
  const bool named_ip = addressed && at_word("ip") && (at_word("to", 1) || addr_port);
  const bool named_ip6 = addressed && at_word("ip6") && at_word("to", 1);
  // nft's words when the family named contradicts the table's.
  if ((named_ip && table_family == family::ip6) || (named_ip6 && table_family == family::ip))
    fail(peek(), std::string("conflicting protocols specified: ") +
                     (named_ip ? "ip6 vs. ip" : "ip vs. ip6") +
                     ". You must specify ip or ip6 family in nat statement");
  if (addressed && at_word("ip6") && !named_ip6)
    unsupported(peek(), std::string(w) + " ip6 addr . port (an IPv6 NAT map)");
  nat_family_ = named_ip || named_ip6;
  if (nat_family_) take();
  if (addr_port) {
    take();  // addr
    take();  // .
    take();  // port
  }
  // An IPv6 statement: named so, in an ip6 table, or in an inet table after an IPv6 match.
  n.v6 = addressed && (named_ip6 || table_family == family::ip6 ||
                       (table_family == family::inet && !nat_family_ && rule_ipv6_ && !rule_ipv4_));
  const bool to = accept_word("to");
  if (addressed && !n.v6 && table_family == family::inet && !nat_family_ && !rule_ipv4_ &&
      (at(tok::lbracket) || (at(tok::word) && detail::parse_ipv6(peek().text))))
    fail(head, "ip or ip6 must be specified with address for inet tables.");
  // A family named takes an address (nft: `snat ip to :80` is a syntax error).
  if (nat_family_ && to && at(tok::colon)) unexpected(peek(), "an address");
  if (n.v6) {
    nat_address6(st, to, transport);
  } else if (addressed && at(tok::word) && !detail::parse_ipv6(peek().text)) {
    // A key and its map, with or without `to` (nft lists it with).
    nat_map(head, st, addr_port, transport);
  } else if (addressed) {
    if (at(tok::set_ref)) unexpected(peek(), "to");
    if (!to && !at(tok::number) && !at(tok::colon)) unexpected(peek(), "to");
    if (!at(tok::colon)) {
      const token first = peek();
      n.has_addr = true;
      n.addr_min = n.addr_max = static_cast<uint32_t>(scalar(vkind::addr));
      if (accept(tok::dash)) n.addr_max = static_cast<uint32_t>(scalar(vkind::addr));
      if (n.addr_max < n.addr_min) fail(span_from(first), "Range has zero or negative size");
    }
    if (accept(tok::colon)) {
      if (at(tok::word)) unsupported(peek(), "a NAT port from a map (: KEY map { ... })");
      nat_ports(st, transport);
    }
  } else if (to) {
    // masquerade to :PORT[-PORT]; redirect to [:]PORT[-PORT]
    const bool colon = accept(tok::colon);
    if (!colon && n.kind == nat_kind::masquerade) unexpected(peek(), "colon");
    nat_ports(st, transport);
  }
  // snat and dnat take a second list, which replaces the first (nft's grammar); masquerade
  // and redirect take one.
  for (int lists = 0; lists < (addressed ? 2 : 1) &&
                      (at_word("random") || at_word("fully-random") || at_word("persistent"));
       ++lists) {
    n.flags = 0;
    do {
      const token f = expect_name("nat flag");
      if (f.text == "random")
        n.flags |= NAT_F_RANDOM;
      else if (f.text == "fully-random")
        n.flags |= NAT_F_FULLY_RANDOM;
      else if (f.text == "persistent")
        n.flags |= NAT_F_PERSISTENT;
      else
        unexpected(f, "random, fully-random or persistent");
    } while (accept(tok::comma));
  }
}

// An IPv6 statement's `to ADDR[-ADDR]` or `to [ADDR][-[ADDR]]:PORT[-PORT]` (nft writes the
// address in brackets when a port follows).
void parser::nat_address6(statement& st, bool to, bool transport) {
  nat_spec& n = st.nat;
  if (!to) unexpected(peek(), "to");
  if (accept(tok::colon)) {
    nat_ports(st, transport);
    return;
  }
  if (at(tok::set_ref) || (at(tok::word) && !detail::parse_ipv6(peek().text)))
    unsupported(peek(), "an IPv6 NAT address from a map");
  const token first = peek();
  bool bracketed = false;
  auto address = [&] {
    const bool open = accept(tok::lbracket);
    bracketed = bracketed || open;
    if (detail::parse_ipv4(peek().text))
      fail(peek(), "Could not resolve hostname: Address family for hostname not supported");
    const uint128 a = addr6();
    if (open) expect(tok::rbracket, "']'");
    return a;
  };
  n.has_addr = true;
  n.addr6_min = n.addr6_max = address();
  if (accept(tok::dash)) n.addr6_max = address();
  if (n.addr6_max < n.addr6_min) fail(span_from(first), "Range has zero or negative size");
  if (at(tok::colon)) {
    if (!bracketed) unexpected(peek(), "'[' around an IPv6 address with a port");
    take();
    nat_ports(st, transport);
  }
}

// `snat|dnat [ip] to KEY map { key : ADDR[-ADDR], ... }[:PORT[-PORT]]`, or `... map @m`;
// `snat|dnat ip addr . port to KEY map { key : ADDR . PORT, ... }`: the key (a field or a
// concatenation) picks the address, or the address and port (nft_nat with a map lookup). A
// key the map lacks ends the rule.
void parser::nat_map(const token& head, statement& st, bool addr_port, bool transport) {
  constexpr uint64_t k_nat_data_port = uint64_t{1} << 63;  // map_value: `a . p` read
  nat_spec& n = st.nat;
  const token field_head = take();
  st.from = parse_field(field_head);
  st.concat = concat_fields(field_head, *st.from);
  bool key_transport = l4_proto_of(*st.from) != 0;
  for (field g : st.concat) key_transport = key_transport || l4_proto_of(g) != 0;
  expect_word("map");
  const key_kinds k = st.concat.empty() ? key_kinds(map_key_kind(*st.from, field_head))
                                        : key_kinds_of(*st.from, st.concat, field_head);
  // nft reads the data's type from the map: a named map's declaration, or an anonymous map's
  // elements (`a . p` data without `addr . port` written, as nft lists it).
  if (!addr_port && at(tok::set_ref))
    for (const set& m : rs_.tables[current_table_].sets)
      if (m.name == peek().text && m.data_type == k_nat_map_addr_port) addr_port = true;
  nat_map_elems_ = true;
  map_operand(st, k, addr_port ? k_nat_map_addr_port : k_nat_map_addr, current_table_,
              current_chain_);
  nat_map_elems_ = false;
  const pos map_span = span_from(field_head);
  size_t with_port = 0;
  for (const map_data& d : st.map_values) with_port += (d.value & k_nat_data_port) ? 1 : 0;
  // One data type per map: all ADDR . PORT, or none.
  if (with_port != 0 && with_port != st.map_values.size())
    fail(map_span, "Could not process rule: Invalid argument");
  if (with_port != 0) {
    addr_port = true;
    for (map_data& d : st.map_values) d.value &= ~k_nat_data_port;
  }
  n.has_addr = true;
  n.map_addr_port = addr_port;
  if (addr_port && !transport && !key_transport)
    fail(map_span, "transport protocol mapping is only valid after transport protocol match");
  size_t ranged = 0;
  for (const map_data& d : st.map_values)
    ranged += (d.value >> 32) != (d.value & 0xffffffff) ? 1 : 0;
  n.map_ranges = !addr_port && ranged != 0;
  // The kernel refuses a map whose data are ranges for some keys and single addresses for
  // others (one data width per map).
  if (ranged != 0 && ranged != st.map_values.size())
    fail(span_from(head), "Could not process rule: Operation not supported");
  if (!addr_port && accept(tok::colon)) {
    if (at(tok::word)) unsupported(peek(), "a NAT port from a map (: KEY map { ... })");
    nat_ports(st, transport || key_transport);
  }
}

// PORT[-PORT] after a NAT statement's colon.
void parser::nat_ports(statement& st, bool transport) {
  nat_spec& n = st.nat;
  const token first = peek();
  n.has_port = true;
  n.port_min = n.port_max = static_cast<uint16_t>(scalar(vkind::port));
  if (accept(tok::dash)) n.port_max = static_cast<uint16_t>(scalar(vkind::port));
  const pos at = span_from(first);
  if (n.port_max < n.port_min) fail(at, "Range has zero or negative size");
  if (!transport)
    fail(at, "transport protocol mapping is only valid after transport protocol match");
}

// After `quota`: [over|until] N bytes|kbytes|mbytes [used M bytes|kbytes|mbytes].
// `counter|quota name KEY map { k : "object", ... }` or `... map @m` (nft's objref map):
// the named object the packet's key maps to. False (nothing taken) when `name` is followed
// by an object's name instead.
bool parser::object_map(statement& st, obj_kind kind) {
  // A key starts with a field; the map follows it (a field is at most 3 words, `ip saddr .
  // tcp dport` 5 tokens, a concatenation of 4 at most 15).
  if (!at_word("name", 0) || peek(1).kind != tok::word) return false;
  bool has_map = false;
  for (size_t i = 2; i < 18 && !has_map; ++i) {
    const token& t = peek(i);
    if (t.kind == tok::end || t.kind == tok::newline || t.kind == tok::semicolon) break;
    has_map = t.kind == tok::word && t.text == "map";
  }
  if (!has_map) return false;
  take();  // name
  const token field_head = take();
  st.from = parse_field(field_head);
  st.concat = concat_fields(field_head, *st.from);
  expect_word("map");
  const key_kinds k = st.concat.empty() ? key_kinds(map_key_kind(*st.from, field_head))
                                        : key_kinds_of(*st.from, st.concat, field_head);
  map_operand(st, k, obj_kind_name(kind), current_table_, current_chain_);
  return true;
}

void parser::quota_options(statement& st) {
  if (at_word("name") && object_map(st, obj_kind::quota)) return;
  if (at_word("name")) return object_ref(st, obj_kind::quota);
  st.over = accept_word("over");
  if (!st.over) accept_word("until");
  st.bytes = byte_amount();
  if (st.bytes == 0) fail(peek(), "quota must be at least 1 byte");
  if (accept_word("used")) st.used = byte_amount();
}

// N bytes|kbytes|mbytes (nft's quota units: powers of 1024).
uint64_t parser::byte_amount() {
  const token n = peek();
  const uint64_t v = number(take());
  const token unit = expect_name("bytes, kbytes or mbytes");
  static constexpr detail::name_value units[] = {{"bytes", 0}, {"kbytes", 10}, {"mbytes", 20}};
  const std::optional<uint32_t> shift = detail::lookup_name(units, unit.text);
  if (!shift) {
    if (unit.text == "gbytes") fail(span_from(n), "Wrong rate format");  // as nft
    unexpected(unit, "bytes, kbytes or mbytes");
  }
  if (v > (~uint64_t{0} >> *shift)) fail(n, "number '" + n.text + "' is too large");
  return v << *shift;
}

// meter NAME [size N] { KEY [timeout T] limit rate [over] N/unit [burst M packets] }: a
// dynamic set of its own (nft lists it with its size).
void parser::meter_body(statement& st) {
  st.meter_name = expect_name("meter name").text;
  if (accept_word("size")) {
    const token n = peek();
    st.meter_size = static_cast<uint32_t>(bounded(take(), k_max_live_set_size));
    if (st.meter_size == 0) fail(n, "meter size must be at least 1");
  }
  dynset_element(st, true);
}

// `{ KEY [timeout T] [limit rate ...|ct count ...] }`: the element a dynset or meter
// statement adds.
void parser::dynset_element(statement& st, bool meter) {
  expect(tok::lbrace, "'{'");
  const token head = peek();
  if (head.kind != tok::word || !starts_match()) unexpected(head, "a key (such as ip saddr)");
  take();
  st.from = parse_field(head);
  st.concat = concat_fields(head, *st.from);
  if (st.concat.empty())
    map_key_kind(*st.from, head);
  else
    key_kinds_of(*st.from, st.concat, head);
  // `ip6 saddr and MASK` (or `&`): elements per prefix, as nft's bitwise expression.
  if (at_word("and") || at(tok::amp)) {
    const token op = take();
    const vkind k = kind_of(*st.from);
    if (!st.concat.empty() || (k != vkind::addr && k != vkind::addr6))
      unsupported(op, "a mask on a key other than one address");
    st.key_mask = k == vkind::addr6 ? addr6() : scalar(vkind::addr);
  }
  if (accept_word("timeout")) {
    const token t = peek();
    st.elem_timeout_ms = duration(take(), k_max_timeout_ms);
    if (st.elem_timeout_ms == 0) fail(t, "element timeout must be positive");
  }
  if (accept_word("limit")) {
    limit_options(st);
    st.has_limit = true;
  } else if (!meter && at_word("ct") && at_word("count", 1)) {
    // { KEY ct count [over] N }: Linux refuses it with an element timeout (the count
    // decides when the element goes).
    const token at_ct = take();
    take();
    if (st.elem_timeout_ms != 0)
      fail(at_ct,
           "ct count in an element with a timeout: not supported (nft: Operation not "
           "supported)");
    st.has_ct_count = true;
    st.count_over = accept_word("over");
    if (!at(tok::number)) unexpected(peek(), st.count_over ? "number" : "number or over");
    st.count_limit = static_cast<uint32_t>(bounded(take(), 0xffffffff));
  } else if (at(tok::word) && one_of(peek().text, {"counter", "ct", "quota", "log"})) {
    unsupported(peek(), peek().text + " in a set element statement");
  }
  if (meter && !st.has_limit) {
    if (at(tok::word)) unsupported(peek(), "meter statements other than limit");
    unexpected(peek(), "limit");
  }
  expect(tok::rbrace, "'}'");
}

void parser::limit_options(statement& st) {
  if (at_word("name")) return object_ref(st, obj_kind::limit);
  expect_word("rate");
  st.over = accept_word("over");
  const token n = peek();
  st.rate = number(take());
  if (at(tok::word) && one_of(peek().text, {"bytes", "kbytes", "mbytes"}))
    unsupported(peek(), "byte rate limits");
  expect(tok::slash, "'/'");
  const token unit = expect_name("second, minute, hour or day");
  const std::optional<uint32_t> u = detail::lookup_name(detail::rate_unit_names(), unit.text);
  if (!u) {
    if (unit.text == "week") unsupported(unit, "limit per week");
    unexpected(unit, "second, minute, hour or day");
  }
  st.unit = static_cast<rate_unit>(*u);
  if (st.rate == 0) fail(n, "limit rate must be at least 1");
  if (accept_word("burst")) {
    st.burst = static_cast<uint32_t>(bounded(take(), 0xffffffff));
    if (at(tok::word) && one_of(peek().text, {"bytes", "kbytes", "mbytes"}))
      unsupported(peek(), "byte bursts");
    expect_word("packets");
  }
}

// meta mark set V, mark set V, ct mark set V, meta nftrace set 0|1, nftrace set 0|1.
void parser::set_statement(const token& head, statement& st) {
  const bool ct = head.text == "ct";
  const token key = head.text == "meta" || ct ? take() : head;
  if (key.text == "mark")
    st.kind = ct ? stmt_kind::ct_mark_set : stmt_kind::meta_mark_set;
  else if (key.text == "zone" && ct)
    st.kind = stmt_kind::ct_zone_set;
  else if (key.text == "timeout" && ct)
    st.kind = stmt_kind::ct_timeout_set;
  else if (key.text == "nftrace" && !ct)
    st.kind = stmt_kind::meta_nftrace_set;
  else
    unsupported(key, (key.text == head.text ? "" : head.text + " ") + key.text + " set");
  expect_word("set");
  const token v = peek();
  if (st.kind == stmt_kind::ct_timeout_set) {
    // ct timeout set "NAME": the policy object of this table (nft_ct_timeout_obj).
    if (v.kind != tok::string && v.kind != tok::word) unexpected(v, "ct timeout name");
    take();
    if (v.text.empty() || v.text.size() > kMaxNameLength) fail(v, "invalid ct timeout name");
    st.obj_name = v.text;
    obj_uses_.push_back(
        {current_table_, current_chain_, obj_kind::ct_timeout, v.text, pos_of(v), rule_handle_});
    return;
  }
  if ((at_word("numgen") || at_word("jhash") || at_word("symhash")) &&
      (st.kind == stmt_kind::meta_mark_set || st.kind == stmt_kind::ct_mark_set)) {
    // meta|ct mark set numgen inc|random mod N [offset M] [map { ... }], jhash ... or
    // symhash ...
    const token gen = take();
    if (gen.text == "numgen")
      numgen_spec(st);
    else if (gen.text == "symhash")
      symhash_spec(st);
    else
      jhash_spec(st);
    if (accept_word("map")) map_operand(st, vkind::u32, "mark", current_table_, current_chain_);
    return;
  }
  if (v.kind == tok::word && st.kind != stmt_kind::meta_nftrace_set &&
      st.kind != stmt_kind::ct_zone_set && starts_match()) {
    // meta mark set ct mark | ct mark set meta mark (save and restore), or
    // meta|ct mark set FIELD map { key : mark, ... } | map @name
    const token field_head = take();
    st.from = parse_field(field_head);
    st.concat = concat_fields(field_head, *st.from);
    if (accept_word("map")) {
      const key_kinds k = st.concat.empty() ? key_kinds(map_key_kind(*st.from, field_head))
                                            : key_kinds_of(*st.from, st.concat, field_head);
      map_operand(st, k, "mark", current_table_, current_chain_);
      return;
    }
    if (!st.concat.empty()) unexpected(peek(), "map");
    if (*st.from != field::meta_mark && *st.from != field::ct_mark)
      unsupported(field_head, "setting " + key.text + " from " + field_name(*st.from) +
                                  " (only meta mark and ct mark, or a map)");
    return;
  }
  if (v.kind == tok::word || v.kind == tok::lbrace || v.kind == tok::set_ref)
    unsupported(v, "setting " + key.text + " from this expression");
  st.value = bounded(take(), st.kind == stmt_kind::meta_nftrace_set ? 1
                             : st.kind == stmt_kind::ct_zone_set    ? 0xffff
                                                                    : 0xffffffff);
}

}  // namespace ctgate::nft::detail
