// The grammar of the nftables subset, part 2 of 3: values (numbers, names, addresses,
// prefixes, ranges, flag lists), `{ ... }` element lists, and the set commands and blocks.
// Values come out normalized through the tables of fields.h; a set's elements go to
// evaluation (add_elements in evaluate.h) to be merged and checked. See parser_internal.h.
#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "ruleset/parser_internal.h"

namespace ctgate::nft::detail {

// --- numbers and values ---------------------------------------------------------------------

uint64_t parser::number(const token& t) {
  if (t.kind != tok::number) unexpected(t, "number");
  std::string_view s = t.text;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec == std::errc::result_out_of_range) fail(t, "number '" + t.text + "' is too large");
  if (ec != std::errc() || end != s.data() + s.size()) fail(t, "invalid number '" + t.text + "'");
  return v;
}

uint64_t parser::bounded(const token& t, uint64_t max) {
  const uint64_t v = number(t);
  if (v > max) fail(t, "Value " + t.text + " exceeds valid range 0-" + std::to_string(max));
  return v;
}

// A time as nft writes it: `90s`, `1m30s`, `500ms`, `1h`, `2d` (a bare number is seconds),
// in milliseconds, at most `max_ms`.
uint64_t parser::duration(const token& t, uint64_t max_ms) {
  if (t.kind != tok::number) unexpected(t, "a time (such as 30s, 5m or 1h)");
  std::string_view s = t.text;
  uint64_t total = 0;
  bool any = false;
  while (!s.empty()) {
    size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + digits, n);
    if (digits == 0 || ec != std::errc()) fail(t, "invalid time '" + t.text + "'");
    s.remove_prefix(digits);
    size_t letters = 0;
    while (letters < s.size() && !(s[letters] >= '0' && s[letters] <= '9')) ++letters;
    const std::string_view unit = s.substr(0, letters);
    s.remove_prefix(letters);
    uint64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s" || (unit.empty() && !any && s.empty()))
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else
      fail(t, "invalid time '" + t.text + "': units are d, h, m, s and ms");
    if (n > max_ms / scale || total + n * scale > max_ms)
      fail(t, "time '" + t.text + "' is too long: at most " + std::to_string(max_ms / 1000) +
                  " seconds");
    total += n * scale;
    any = true;
  }
  return total;
}

uint64_t parser::named(const token& t, std::span<const detail::name_value> names, vkind k,
                       const char* what) {
  if (t.kind != tok::word && t.kind != tok::number) unexpected(t, expecting_of(k));
  // Before numbers: some names start with a digit (the ethertype 8021q).
  if (std::optional<uint32_t> v = detail::lookup_name(names, t.text)) return *v;
  if (t.kind == tok::number) return bounded(t, max_of(k));
  fail(t, std::string("unknown ") + what + " '" + t.text + "'");
}

// One value of kind k.
uint64_t parser::scalar(vkind k) {
  const token t = peek();
  if (t.kind != tok::number && t.kind != tok::word) unexpected(t, expecting_of(k));
  take();
  switch (k) {
    case vkind::addr6: break;  // 128 bits: addr6()
    case vkind::addr: {
      if (t.kind == tok::word && detail::parse_ipv6(t.text))
        fail(t, "datatype mismatch, expected IPv4 address, expression has type IPv6 address");
      if (t.kind == tok::word)
        unsupported(t, "host name '" + t.text + "' (ctgate does not resolve names)");
      std::optional<uint32_t> a = detail::parse_ipv4(t.text);
      if (!a) fail(t, "invalid IPv4 address '" + t.text + "'");
      return *a;
    }
    case vkind::port: {
      if (t.kind == tok::number) return bounded(t, 0xffff);
      if (std::optional<uint32_t> v = detail::lookup_name(detail::service_names(), t.text))
        return *v;
      fail(t, "unknown service '" + t.text + "' (ctgate knows well-known names only; " +
                  "write the port number)");
    }
    case vkind::mark: return bounded(t, 0xffffffff);
    case vkind::ether: {
      if (std::optional<uint64_t> a = detail::parse_ether(t.text)) return *a;
      fail(t, "invalid Ethernet address '" + t.text + "' (write six hex bytes: 02:00:5e:00:00:01)");
    }
    case vkind::proto:
    case vkind::icmp:
    case vkind::icmpv6:
    case vkind::state:
    case vkind::flags:
    case vkind::nfproto:
    case vkind::ethertype:
    case vkind::dscp:
    case vkind::ecn:
    case vkind::ctdir:
    case vkind::pkttype:
    case vkind::icmpcode:
    case vkind::icmpv6code:
    case vkind::ctstatus: return named(t, names_of(k), k, noun_of(k));
    case vkind::u4:
    case vkind::u8:
    case vkind::u12:
    case vkind::u16:
    case vkind::u20:
    case vkind::u32:
    case vkind::u64:
      if (t.kind == tok::number) return bounded(t, max_of(k));
      break;
    case vkind::time: return duration(t, max_of(k));
    case vkind::iface: break;
  }
  unexpected(t, expecting_of(k));
}

// One IPv6 address.
uint128 parser::addr6() {
  const token t = peek();
  if (t.kind != tok::number && t.kind != tok::word) unexpected(t, "IPv6 address");
  take();
  if (std::optional<uint128> a = detail::parse_ipv6(t.text)) return *a;
  if (detail::parse_ipv4(t.text))
    fail(t, "datatype mismatch, expected IPv6 address, expression has type IPv4 address");
  if (t.kind == tok::word && t.text.find(':') == std::string::npos)
    unsupported(t, "host name '" + t.text + "' (ctgate does not resolve names)");
  fail(t, "invalid IPv6 address '" + t.text + "'");
}

// A value, a range `a-b`, or for addresses a prefix `a/len`.
elem_syntax parser::value_elem(vkind k) {
  const size_t from = log_.size();
  const token first = peek();
  auto value = [&]() -> uint128 { return k == vkind::addr6 ? addr6() : scalar(k); };
  auto addr_text = [k](uint128 a) {
    return k == vkind::addr6 ? detail::ipv6_to_string(a)
                             : detail::ipv4_to_string(static_cast<uint32_t>(a));
  };
  elem_syntax e;
  const uint128 lo = value();
  e.r = {lo, lo};
  const unsigned bits = k == vkind::addr6 ? 128 : k == vkind::addr ? 32 : 0;
  if (bits != 0 && accept(tok::slash)) {
    const token len_tok = peek();
    const uint64_t len = number(take());
    if (len > bits)
      fail(len_tok, "Prefix length " + len_tok.text + " is invalid for type of " +
                        std::to_string(bits) + " bits width");
    const unsigned host_bits = bits - static_cast<unsigned>(len);
    const uint128 host = host_bits == 128 ? ~uint128{0} : (uint128{1} << host_bits) - 1;
    if ((lo & host) != 0)
      fail(span_from(first), "prefix " + text_since(from) + " has host bits set (did you mean " +
                                 addr_text(lo & ~host) + "/" + std::to_string(len) + "?)");
    e.r = {lo, lo | host};
    e.prefix = true;
  } else if (accept(tok::dash)) {
    const uint128 hi = value();
    if (hi < lo)
      fail(span_from(first),
           "range " + text_since(from) + " is empty: its low end is above its high end");
    e.r.hi = hi;
    e.range = true;
  }
  e.at = span_from(first);
  e.text = text_since(from);
  return e;
}

// `a|b|c` or `(a|b|c)`: one bitmask value.
uint64_t parser::flag_expr(vkind k) {
  const bool paren = accept(tok::lparen);
  uint64_t v = scalar(k);
  while (accept(tok::pipe)) v |= scalar(k);
  if (paren) expect(tok::rparen, "')'");
  return v;
}

// `a,b,c`: the OR of comma-separated flag expressions.
uint64_t parser::flag_list(vkind k) {
  uint64_t v = flag_expr(k);
  while (accept(tok::comma)) v |= flag_expr(k);
  return v;
}

elem_syntax parser::element(const key_kinds& key) {
  if (key.width() > 1) return concat_element(key);
  const vkind k = key.kinds[0];
  if (is_bitmask_kind(k)) {
    const size_t from = log_.size();
    const token first = peek();
    elem_syntax e;
    const uint64_t v = flag_expr(k);
    e.r = {v, v};
    e.at = span_from(first);
    e.text = text_since(from);
    return e;
  }
  return value_elem(k);
}

// `a . b . c`: one value (or range, or prefix) per field of a concatenated key.
elem_syntax parser::concat_element(const key_kinds& key) {
  const size_t from = log_.size();
  const token first = peek();
  elem_syntax e;
  for (size_t i = 0; i < key.width(); ++i) {
    if (i > 0 && !accept(tok::dot))
      fail(span_from(first), "element " + text_since(from) + " has " + std::to_string(i) +
                                 " of the key's " + std::to_string(key.width()) +
                                 " parts: write them joined with ' . '");
    const elem_syntax part = value_elem(key.kinds[i]);
    e.parts.push_back(part.r);
    e.prefix = e.prefix || part.prefix;
    e.range = e.range || part.range;
  }
  if (at(tok::dot))
    fail(peek(), "element has more parts than the key's " + std::to_string(key.width()));
  e.r = e.parts[0];
  e.at = span_from(first);
  e.text = text_since(from);
  return e;
}

// `timeout T` and `expires T` after an element (sets with timeouts; checked where the element
// is added).
void parser::element_options(elem_syntax& e) {
  for (;;) {
    if (accept_word("timeout")) {
      e.timeout_ms = duration(take(), k_max_timeout_ms);
      if (e.timeout_ms == 0) fail(e.at, "element timeout must be positive");
    } else if (accept_word("expires")) {
      e.expires_ms = duration(take(), k_max_timeout_ms);
    } else if (at_word("ct") && at_word("count", 1)) {
      // `ct count [over] N`, as nft lists an element of a set a rule counts into: accepted,
      // and the element counts with the rule's limit (docs/ruleset.md).
      take();
      take();
      accept_word("over");
      if (!at(tok::number)) unexpected(peek(), "number or over");
      bounded(take(), 0xffffffff);
    } else if (at_word("comment") || at_word("counter")) {
      unsupported(peek(), "element " + peek().text + "s");
    } else {
      return;
    }
  }
}

// `{ e, e, ... }`, newlines allowed, a trailing comma allowed, nested braces (from
// variables holding sets) flattened. `empty` says what `{ }` means here.
void parser::element_list(const key_kinds& k, std::vector<elem_syntax>& out, int depth,
                          empty_rule empty) {
  const token open = expect(tok::lbrace, "'{'");
  if (depth > kMaxNesting) fail(open, "nesting too deep (more than 64 levels)");
  skip_newlines();
  if (at(tok::rbrace)) {
    // nft's grammar has no empty element list; an empty set in a match is "Set is empty".
    if (empty == empty_rule::syntax) unexpected(peek(), "set element");
    if (empty == empty_rule::set_is_empty) fail(open, "Set is empty");
    take();
    return;
  }
  for (;;) {
    skip_newlines();
    if (at(tok::lbrace)) {
      element_list(k, out, depth + 1, empty_rule::allow);
    } else {
      out.push_back(element(k));
      element_options(out.back());
    }
    skip_newlines();
    if (accept(tok::comma)) {
      skip_newlines();
      if (at(tok::rbrace)) break;
      continue;
    }
    if (at(tok::rbrace)) break;
    unexpected(peek(), "',' or '}'");
  }
  take();
}

// --- sets -----------------------------------------------------------------------------------

void parser::set_cmd(bool create, bool is_map) {
  const table_ref r = table_spec();
  const size_t ti = require_table(r);
  const token name = expect_name(is_map ? "map name" : "set name");
  if (!at(tok::lbrace)) unexpected(peek(), "'{'");
  set_def(ti, name, create, is_map);
  end_statement();
}

void parser::set_def(size_t ti, const token& name, bool create, bool is_map) {
  table_info& info = info_[ti];
  auto found = info.sets.find(name.text);
  size_t si;
  if (found != info.sets.end()) {
    si = found->second;
    const bool was_map = !rs_.tables[ti].sets[si].data_type.empty();
    if (create || was_map != is_map)
      fail(name, std::string(was_map ? "map '" : "set '") + name.text + "' already exists in " +
                     table_title(rs_, ti));
  } else {
    set st;
    st.serial = next_serial();
    st.handle = block_depth_ == 0 ? ++rs_.tables[ti].last_handle : 0;
    st.name = name.text;
    st.loc = loc_of(pos_of(name));
    rs_.tables[ti].sets.push_back(std::move(st));
    si = rs_.tables[ti].sets.size() - 1;
    info.sets.emplace(name.text, si);
    info.set_deleted.push_back(false);
  }
  set_body(ti, si, name, found != info.sets.end(), is_map);
}

// A set declared again (`existed`) is extended, as in nft: its type and flags must be the
// ones it has, and its new elements are added.
void parser::set_body(size_t ti, size_t si, const token& name, bool existed, bool is_map) {
  const token open = take();
  enter_block(open);
  std::vector<elem_syntax> elems;
  const set before = existed ? rs_.tables[ti].sets[si] : set{};
  if (existed) {  // the declaration states them afresh
    rs_.tables[ti].sets[si].type.clear();
    rs_.tables[ti].sets[si].data_type.clear();
    rs_.tables[ti].sets[si].interval = false;
  }
  for (;;) {
    log_.clear();
    const token t = peek();
    if (t.kind == tok::rbrace) break;
    if (is_sep(t)) {
      take();
      continue;
    }
    if (t.kind != tok::word) unexpected(t, "type, flags, elements or '}'");
    set& st = rs_.tables[ti].sets[si];
    if (t.text == "type") {
      take();
      const token type_tok = peek();
      const std::string type = set_type_spec();
      if (!st.type.empty() && st.type != type)
        fail(type_tok, "set '" + st.name + "' already has type " + st.type);
      st.type = type;
      if (is_map) {
        // type KEY : DATA
        expect(tok::colon, "':'");
        const token data = expect_name("map data type");
        std::string data_type = data.text;
        // ipv4_addr [. inet_service]: the address (and port) of a NAT statement's map.
        if (data.text == "ipv4_addr" && accept(tok::dot)) {
          const token port = expect_name("inet_service");
          if (port.text != "inet_service") unexpected(port, "inet_service");
          data_type = k_nat_map_addr_port;
        }
        if (data.text == "interval")
          unsupported(data, "maps to address ranges by name (write the ranges in the statement)");
        if (data.text != "verdict" && data.text != "mark" && data.text != "counter" &&
            data.text != "quota" && data.text != "ipv4_addr") {
          if (kind_of_set_type(data.text) || is_unsupported_set_type(data.text))
            unsupported(data, "maps to " + data.text +
                                  " (ctgate's maps hold verdicts, marks, counters, quotas or "
                                  "NAT addresses)");
          fail(data, "unknown map data type '" + data.text +
                         "', expecting verdict, mark, counter, quota or ipv4_addr");
        }
        st.data_type = data_type;
      } else if (at(tok::colon)) {
        fail(peek(), "a set's elements carry no data: declare a map (map " + st.name + " { type " +
                         type + " : ... })");
      }
    } else if (t.text == "typeof") {
      take();
      typeof_spec(st, is_map);
    } else if (t.text == "flags") {
      take();
      do {
        const token f = expect_name("set flag");
        if (f.text == "interval")
          st.interval = true;
        else if (f.text == "dynamic")
          st.dynamic = true;
        else if (f.text == "timeout")
          st.timeout_flag = true;
        else if (f.text != "constant")  // a static set is constant on ctgate anyway
          f.text == "eval" ? unsupported(f, "set flag " + f.text)
                           : fail(f, "unknown set flag '" + f.text + "'");
      } while (accept(tok::comma));
    } else if (t.text == "elements") {
      take();
      expect(tok::assign, "'='");
      if (st.type.empty()) fail(t, "set definition does not specify key data type");
      const key_kinds k = set_key_kinds(st, t);
      if (is_map)
        map_element_list(k, st.data_type, elems, ti, kNoChain);
      else
        element_list(k, elems, 1, empty_rule::syntax);
    } else if (t.text == "auto-merge") {
      take();
      if (is_map) unsupported(t, "auto-merge in a map");
      st.auto_merge = true;
    } else if (t.text == "size") {
      take();
      const token n = peek();
      st.size_limit = static_cast<uint32_t>(bounded(take(), k_max_live_set_size));
      if (st.size_limit == 0) fail(n, "set size must be at least 1");
    } else if (t.text == "timeout") {
      take();
      st.timeout_ms = duration(take(), k_max_timeout_ms);
    } else if (t.text == "gc-interval") {
      take();
      st.gc_interval_ms = duration(take(), k_max_timeout_ms);
    } else if (one_of(t.text, {"policy", "counter", "comment"})) {
      unsupported(t, "set " + t.text);
    } else {
      unexpected(t, "type, flags, elements or '}'");
    }
    end_statement();
  }
  take();
  leave_block();
  set& st = rs_.tables[ti].sets[si];
  if (st.type.empty()) fail(name, "set definition does not specify key data type");
  if (existed && (st.type != before.type || st.interval != before.interval ||
                  st.data_type != before.data_type)) {
    const std::string type =
        before.type + (before.data_type.empty() ? "" : " : " + before.data_type);
    fail(name, std::string(is_map ? "map '" : "set '") + st.name + "' already exists in " +
                   table_title(rs_, ti) + " as type " + type +
                   (before.interval ? " with flags interval" : "") +
                   ": a declaration may not change it (nft: File exists)");
  }
  st.auto_merge = st.auto_merge || before.auto_merge;
  if (st.auto_merge && st.width() > 1) unsupported(name, "auto-merge with concatenations");
  if (st.live() && st.interval)
    unsupported(name, "sets with flags interval and timeouts or dynamic updates");
  if (st.live() && is_map) unsupported(name, "maps with timeouts or dynamic updates");
  if (st.gc_interval_ms != 0 && !st.timeout_flag && st.timeout_ms == 0)
    fail(name, "set '" + st.name + "' has a gc-interval but no timeouts (nft: Invalid argument)");
  count_elements(name, elems.size());
  live_elements(st, elems, false);
  add_elements(st, st.auto_merge, elems);
}

// Elements of a set with timeouts or dynamic updates: their timeouts, and the commands a
// set carried over from the live ruleset applies (see set::ops).
void parser::live_elements(set& st, const std::vector<elem_syntax>& elems, bool remove) {
  for (const elem_syntax& e : elems) {
    if ((e.timeout_ms != 0 || e.expires_ms != 0) && st.timeout_flag == false && st.timeout_ms == 0)
      fail(e.at, "element " + e.text + " has a timeout, but set '" + st.name +
                     "' has none: declare it with flags timeout (nft: Operation not supported)");
    if (!st.live()) continue;
    std::vector<value_range> parts = st.width() > 1 ? e.parts : std::vector<value_range>{e.r};
    if (e.timeout_ms != 0 || e.expires_ms != 0)
      st.elem_timeouts[parts] = {e.timeout_ms, e.expires_ms};
    st.ops.push_back({remove, std::move(parts)});
  }
}

// One expression of a typeof (`ip saddr`, `meta mark`, `mark`), as nft lists it.
std::string parser::typeof_expr() {
  const std::string a = expect_name("expression").text;
  if (a == "mark") return "meta mark";  // nft's shorthand for meta mark
  if (a == "ct" && (at_word("original") || at_word("reply"))) {
    // ct original|reply ip|ip6 saddr|daddr: four words.
    std::string e = a + " " + take().text;
    if (at_word("ip") || at_word("ip6")) e += " " + take().text;
    if (at(tok::word) && !at_word("flags") && !at_word("elements")) e += " " + take().text;
    return e;
  }
  if (!at(tok::word) || at_word("flags") || at_word("elements")) return a;
  return a + " " + take().text;
}

// `typeof EXPR [. EXPR ...] [: DATA]`: nft's other way to give a set's type (and a map's data
// type), from the expressions it is used with. The listing keeps the expressions.
void parser::typeof_spec(set& st, bool is_map) {
  std::string type, key;
  size_t parts = 0;
  do {
    const token first = peek();
    const std::string expr = typeof_expr();
    const char* part = set_type_of_typeof(expr);
    if (part == nullptr) unsupported(first, "typeof " + expr);
    if (++parts > k_max_concat)
      unsupported(first, "concatenations of more than " + std::to_string(k_max_concat) + " fields");
    type += (type.empty() ? "" : " . ") + std::string(part);
    key += (key.empty() ? "" : " . ") + expr;
  } while (accept(tok::dot));
  if (!st.type.empty() && st.type != type)
    fail(peek(), "set '" + st.name + "' already has type " + st.type);
  std::string data_type, data_expr;
  if (is_map) {
    // typeof KEY : verdict | meta mark | ct mark
    expect(tok::colon, "':'");
    const token first = peek();
    data_expr = at_word("verdict") ? take().text : typeof_expr();
    const char* data_kind = set_type_of_typeof(data_expr);
    if (data_expr == "verdict")
      data_type = "verdict";
    else if (data_kind != nullptr && std::string_view(data_kind) == "mark")
      data_type = "mark";
    if (data_type.empty())
      unsupported(first, "maps to typeof " + data_expr + " (ctgate's maps hold verdicts or marks)");
    if (!st.data_type.empty() && st.data_type != data_type)
      fail(first, "map '" + st.name + "' already maps to " + st.data_type);
  } else if (at(tok::colon)) {
    fail(peek(), "a set's elements carry no data: declare a map (map " + st.name + " { typeof " +
                     key + " : ... })");
  }
  st.type = type;
  st.typeof_key = key;
  st.data_type = data_type;
  st.typeof_data = data_expr;
}

// `type T [. T ...]`: a set type, or a concatenation of them.
std::string parser::set_type_spec() {
  std::string type;
  size_t parts = 0;
  do {
    const token part = expect_name("set type");
    if (!kind_of_set_type(part.text)) {
      if (is_unsupported_set_type(part.text)) unsupported(part, "set type " + part.text);
      fail(part, "unknown set type '" + part.text +
                     "', expecting ipv4_addr, ipv6_addr, inet_service, inet_proto, mark, "
                     "ether_addr or ether_type");
    }
    if (++parts > k_max_concat)
      unsupported(part, "concatenations of more than " + std::to_string(k_max_concat) + " fields");
    type += (type.empty() ? "" : " . ") + part.text;
  } while (accept(tok::dot));
  return type;
}

// The kinds of a named set's elements, one per part of its type.
key_kinds parser::set_key_kinds(const set& st, const token& at) {
  std::vector<vkind> kinds;
  for (std::string_view part : set_type_parts(st.type)) {
    const std::optional<vkind> k = kind_of_set_type(part);
    if (!k) fail(at, "set '" + st.name + "' has an unknown type " + st.type);
    kinds.push_back(*k);
  }
  return key_kinds(std::move(kinds));
}

// `{ key : data, ... }`: a map's elements. Keys are read like a set's; data is a verdict
// (`accept`, `drop`, `return`, `jump C`, `goto C`) or a mark. Jumps are checked with the
// rule's other references (`ci` is the rule's chain; kNoChain in a named map).
void parser::map_element_list(const key_kinds& k, const std::string& data_type,
                              std::vector<elem_syntax>& out, size_t ti, size_t ci) {
  expect(tok::lbrace, "'{'");
  skip_newlines();
  if (at(tok::rbrace)) unexpected(peek(), "map element");
  for (;;) {
    skip_newlines();
    elem_syntax e = element(k);
    expect(tok::colon, "':'");
    e.data = map_value(data_type, ti, ci);
    out.push_back(std::move(e));
    skip_newlines();
    if (accept(tok::comma)) {
      skip_newlines();
      if (at(tok::rbrace)) break;
      continue;
    }
    if (at(tok::rbrace)) break;
    unexpected(peek(), "',' or '}'");
  }
  take();
}

map_data parser::map_value(const std::string& data_type, size_t ti, size_t ci) {
  map_data d;
  if (data_type == "mark") {
    d.value = bounded(take(), 0xffffffff);
    return d;
  }
  if (data_type == k_nat_map_addr) {
    // ADDR: lo | lo << 32. In a NAT statement's own map (nat_map_elems_) also ADDR-ADDR,
    // lo | hi << 32, or ADDR . PORT, which makes the statement map to an address and a port
    // (parser::nat_map): addr | port << 32 | 1 << 63. A named map's data are single addresses
    // (nft: ranges need `interval` data, which ctgate does not read by name).
    const token first = peek();
    const uint64_t lo = scalar(vkind::addr);
    if (!nat_map_elems_) {
      if (at(tok::dash)) fail(span_from(first), "Value must be a singleton");
      if (at(tok::dot))
        fail(peek(), "the map's data are addresses (ipv4_addr), not address . port");
      return map_data{.value = lo | lo << 32};
    }
    if (accept(tok::dot))
      return map_data{.value = lo | scalar(vkind::port) << 32 | uint64_t{1} << 63};
    uint64_t hi = lo;
    if (accept(tok::dash)) hi = scalar(vkind::addr);
    if (hi < lo) fail(span_from(first), "Range has zero or negative size");
    d.value = lo | hi << 32;
    return d;
  }
  if (data_type == k_nat_map_addr_port) {
    const uint64_t a = scalar(vkind::addr);
    expect(tok::dot, "'.'");
    d.value = a | scalar(vkind::port) << 32;
    return d;
  }
  if (data_type == "counter" || data_type == "quota") {
    // An object of the map's table, by name (quoted or not); it must exist when the load ends.
    const token name = peek();
    if (name.kind != tok::string && name.kind != tok::word) unexpected(name, data_type + " name");
    take();
    d.object = name.text;
    d.object_quota = data_type == "quota";
    obj_uses_.push_back({ti, ci, data_type == "counter" ? obj_kind::counter : obj_kind::quota,
                         name.text, pos_of(name), rule_handle_});
    return d;
  }
  const token v = expect_name("verdict");
  if (v.text == "accept" || v.text == "drop" || v.text == "return") {
    d.verdict = v.text == "accept" ? stmt_kind::accept
                : v.text == "drop" ? stmt_kind::drop
                                   : stmt_kind::return_;
    return d;
  }
  if (v.text == "jump" || v.text == "goto") {
    d.verdict = v.text == "jump" ? stmt_kind::jump : stmt_kind::goto_;
    const token target = expect_name("chain name");
    d.target = target.text;
    jumps_.push_back(
        {ti, ci, target.text, pos_of(target), v.text == "goto", ci == kNoChain ? 0 : rule_handle_});
    return d;
  }
  if (v.text == "continue" || v.text == "queue") unsupported(v, "verdict " + v.text + " in a map");
  unexpected(v, "accept, drop, return, jump or goto");
}

// add element T S { ... } | delete element T S { ... }
void parser::element_cmd(bool remove) {
  const table_ref r = table_spec();
  const size_t ti = require_table(r);
  const token name = expect_name("set name");
  const size_t si = require_set(ti, name);
  set& st = rs_.tables[ti].sets[si];
  if (st.type.empty()) fail(name, "set definition does not specify key data type");
  std::vector<elem_syntax> elems;
  const key_kinds k = set_key_kinds(st, name);
  if (!st.data_type.empty() && !remove)
    map_element_list(k, st.data_type, elems, ti, kNoChain);
  else
    element_list(k, elems, 1, empty_rule::syntax);
  if (element_cmds_ != nullptr) return record_element_cmd(remove, ti, si, name, elems);
  if (remove && st.live()) {
    // Workers add elements to this set: whether one is there is known only when the load is
    // installed (deleting one that is not is not an error here).
    live_elements(st, elems, true);
    const size_t w = st.width();
    for (const elem_syntax& e : elems) {
      const std::vector<value_range> want = w > 1 ? e.parts : std::vector<value_range>{e.r};
      st.elem_timeouts.erase(want);
      for (size_t i = 0; i < st.size(); ++i) {
        if (!std::equal(want.begin(), want.end(), st.elems.begin() + static_cast<ptrdiff_t>(i * w)))
          continue;
        st.elems.erase(st.elems.begin() + static_cast<ptrdiff_t>(i * w),
                       st.elems.begin() + static_cast<ptrdiff_t>(i * w + w));
        st.elem_text.erase(st.elem_text.begin() + static_cast<ptrdiff_t>(i));
        --elements_;
        break;
      }
    }
    return end_statement();
  }
  if (remove) {
    // nft deletes exactly the elements given; one that is not there fails the whole
    // transaction (ENOENT).
    const size_t w = st.width();
    for (const elem_syntax& e : elems) {
      const std::vector<value_range> want = w > 1 ? e.parts : std::vector<value_range>{e.r};
      size_t i = 0;
      while (i < st.size() && !std::equal(want.begin(), want.end(),
                                          st.elems.begin() + static_cast<ptrdiff_t>(i * w)))
        ++i;
      if (i == st.size())
        fail(e.at, "element " + e.text + " is not in set '" + st.name + "' of " +
                       table_title(rs_, ti) + " (nft: No such file or directory)");
      st.elems.erase(st.elems.begin() + static_cast<ptrdiff_t>(i * w),
                     st.elems.begin() + static_cast<ptrdiff_t>(i * w + w));
      st.elem_text.erase(st.elem_text.begin() + static_cast<ptrdiff_t>(i));
      if (!st.data.empty()) st.data.erase(st.data.begin() + static_cast<ptrdiff_t>(i));
      --elements_;
    }
    return end_statement();
  }
  count_elements(name, elems.size());
  live_elements(st, elems, false);
  add_elements(st, st.auto_merge, elems);
  end_statement();
}

// Element-only mode: the checks that need no elements, then the command as written.
void parser::record_element_cmd(bool remove, size_t ti, size_t si, const token& name,
                                const std::vector<elem_syntax>& elems) {
  set& st = rs_.tables[ti].sets[si];
  if (st.width() > 1) throw not_element_only{};
  live_elements(st, elems, remove);
  if (!remove) check_interval_flag(st, elems);
  element_command cmd;
  cmd.remove = remove;
  cmd.table = static_cast<uint32_t>(ti);
  cmd.set = static_cast<uint32_t>(si);
  cmd.at = loc_of(pos_of(name));
  for (const elem_syntax& e : elems) cmd.elems.push_back({e.r, e.text, e.data, loc_of(e.at)});
  element_cmds_->push_back(std::move(cmd));
  end_statement();
}

}  // namespace ctgate::nft::detail
