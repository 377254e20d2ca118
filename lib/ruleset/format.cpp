// Prints a ruleset the way `nft list ruleset` does: tabs, sets before chains, a blank line
// between them, values in nft's notation (marks as 0x%08x, protocols and ICMP types by name,
// ports by number). The output is made to parse back to the same tree, so every choice below
// picks a spelling the parser reads back into the same op (see tests/ruleset/test_parser.cpp).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "ruleset/ast.h"
#include "ruleset/compiled.h"
#include "ruleset/fields.h"

namespace ctgate::nft {
namespace {

using detail::name_of;

bool is_bitmask(field f) { return detail::is_bitmask_kind(detail::kind_of(f)); }

bool is_iface(field f) { return detail::kind_of(f) == detail::vkind::iface; }

std::string hex32(uint64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", static_cast<unsigned>(v));
  return buf;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

int popcount(uint64_t v) {
  int n = 0;
  for (; v; v &= v - 1) ++n;
  return n;
}

// Flag names in bit order joined by `sep`; bits without a name as one hex number.
std::string flags_text(field f, uint64_t v, const char* sep) {
  if (v == 0) return "0x0";
  const auto names = detail::names_of(detail::kind_of(f));
  std::string out;
  uint64_t rest = v;
  for (const detail::name_value& nv : names) {
    if ((v & nv.value) == 0) continue;
    if (!out.empty()) out += sep;
    out += nv.name;
    rest &= ~uint64_t{nv.value};
  }
  if (rest != 0) {
    if (!out.empty()) out += sep;
    out += hex(rest);
  }
  return out;
}

// An EtherType as nft prints a number of its: 0x0800.
std::string ethertype_number(uint64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%04x", static_cast<unsigned>(v));
  return buf;
}

std::string scalar_text(field f, uint64_t v) {
  if (is_addr_field(f)) return detail::ipv4_to_string(static_cast<uint32_t>(v));
  switch (f) {
    case field::ip_protocol:
    case field::meta_l4proto: {
      const char* n = name_of(detail::protocol_names(), static_cast<uint32_t>(v));
      return n ? n : std::to_string(v);
    }
    case field::meta_mark:
    case field::ct_mark: return hex32(v);
    case field::icmp_type: {
      const char* n = name_of(detail::icmp_type_names(), static_cast<uint32_t>(v));
      return n ? n : std::to_string(v);
    }
    case field::icmpv6_type: {
      const char* n = name_of(detail::icmpv6_type_names(), static_cast<uint32_t>(v));
      return n ? n : std::to_string(v);
    }
    case field::ct_state:
    case field::ct_status:
    case field::tcp_flags: return flags_text(f, v, " | ");
    case field::ct_expiration: return duration_text(v);
    case field::ether_saddr:
    case field::ether_daddr: return detail::ether_to_string(v);
    default: break;
  }
  // Named kinds: the value's name, else a number (hex where nft prints hex).
  const detail::vkind k = detail::kind_of(f);
  if (const char* n = name_of(detail::names_of(k), static_cast<uint32_t>(v))) return n;
  char buf[16];
  if (k == detail::vkind::dscp) {
    std::snprintf(buf, sizeof(buf), "0x%02x", static_cast<unsigned>(v));
    return buf;
  }
  if (k == detail::vkind::ethertype) return ethertype_number(v);
  return std::to_string(v);
}

std::string elem_text(field f, const value_range& r) {
  if (is_addr6_field(f)) {
    const int plen = detail::prefix_length6(r.lo, r.hi);
    std::string out = detail::ipv6_to_string(r.lo);
    if (plen >= 0 && plen < 128) return out + "/" + std::to_string(plen);
    if (plen == 128) return out;
    return out + "-" + detail::ipv6_to_string(r.hi);
  }
  if (is_addr_field(f)) {
    const int plen =
        detail::prefix_length(static_cast<uint32_t>(r.lo), static_cast<uint32_t>(r.hi));
    std::string out = detail::ipv4_to_string(static_cast<uint32_t>(r.lo));
    if (plen >= 0 && plen < 32) return out + "/" + std::to_string(plen);
    if (plen == 32) return out;
    return out + "-" + detail::ipv4_to_string(static_cast<uint32_t>(r.hi));
  }
  if (r.lo == r.hi) return scalar_text(f, r.lo);
  if (f == field::ct_expiration) {  // nft lists a range of times in seconds: 60s-120s
    auto bound = [](uint64_t ms) {
      return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : duration_text(ms);
    };
    return bound(r.lo) + "-" + bound(r.hi);
  }
  // Names carry dashes (echo-reply), so a range of names would read back as one word.
  if (f == field::icmp_type || f == field::icmpv6_type || f == field::ip_protocol ||
      f == field::meta_l4proto || f == field::icmp_code || f == field::icmpv6_code ||
      f == field::ip6_nexthdr)
    return std::to_string(static_cast<uint64_t>(r.lo)) + "-" +
           std::to_string(static_cast<uint64_t>(r.hi));
  // nft prints a range's ends as numbers, and EtherTypes in hex: 0x0800-0x0806.
  if (detail::kind_of(f) == detail::vkind::ethertype)
    return ethertype_number(static_cast<uint64_t>(r.lo)) + "-" +
           ethertype_number(static_cast<uint64_t>(r.hi));
  return scalar_text(f, static_cast<uint64_t>(r.lo)) + "-" +
         scalar_text(f, static_cast<uint64_t>(r.hi));
}

// One element: its ranges, one per field of the key, joined as nft joins a concatenation.
std::string key_text(const std::vector<field>& key, const value_range* parts) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) out += (i ? " . " : "") + elem_text(key[i], parts[i]);
  return out;
}

// The order nft lists elements in (the elements of `elems`, `w` ranges each): one field's by
// value, whatever order they were added in (as nft 1.0.6 lists the kernel's hash and rbtree
// sets); a concatenation's in the order added (as it lists the kernel's pipapo sets).
std::vector<size_t> listing_order(const std::vector<value_range>& elems, size_t w) {
  std::vector<size_t> order(elems.size() / w);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (w == 1)
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return elems[a] < elems[b]; });
  return order;
}

// `per_line`: nft wraps a named set's elements, `per_line` to a line (0: never).
std::string elems_text(const std::vector<field>& key, const std::vector<value_range>& elems,
                       bool force_set, size_t per_line = 0) {
  const size_t w = key.size(), n = elems.size() / w;
  if (n == 1 && !force_set) return key_text(key, elems.data());
  std::string out = "{ ";
  const std::vector<size_t> order = listing_order(elems, w);
  for (size_t i = 0; i < n; ++i) {
    if (i) out += per_line != 0 && i % per_line == 0 ? ",\n\t\t\t     " : ", ";
    out += key_text(key, &elems[order[i] * w]);
  }
  return out + " }";
}

// A match's or a map statement's key: its first field and the rest of a concatenation.
std::vector<field> key_of(field f, const std::vector<field>& concat) {
  std::vector<field> key(1 + concat.size(), f);
  std::copy(concat.begin(), concat.end(), key.begin() + 1);
  return key;
}

std::string key_name(field f, const std::vector<field>& concat) {
  std::string out = detail::field_name(f);  // (numgen: see source_text)
  for (field g : concat) out += std::string(" . ") + detail::field_name(g);
  return out;
}

std::string operand_text(const match& m) {
  const operand& o = m.rhs;
  if (!o.set_name.empty()) return "@" + o.set_name;
  if (is_iface(m.f) && !o.strs.empty()) {
    std::string out = "{ ";
    for (size_t i = 0; i < o.strs.size(); ++i) out += (i ? ", \"" : "\"") + o.strs[i] + "\"";
    return out + " }";
  }
  if (is_iface(m.f)) return "\"" + o.str + "\"";
  // A connection has one state, so the parser only reads several states compared with ==
  // or != as a set; print ct state comparisons that way, which also keeps `!= { x }` apart
  // from `!= x` (the latter reads back as bits_none).
  // A concatenation compares with sets only, a single element too.
  const bool force_set = m.f == field::ct_state || !m.concat.empty() || o.merged_set;
  return elems_text(key_of(m.f, m.concat), o.elems, force_set);
}

std::string source_text(const statement& s, const char* how);

std::string match_text(const match& m) {
  std::string out = m.gen.empty() ? key_name(m.f, m.concat) : source_text(m.gen.front(), "");
  out += ' ';
  const operand& o = m.rhs;
  switch (m.op) {
    case cmp_op::eq:
      // A lone bitmask value reads back as bits_any unless spelled with ==.
      if (is_bitmask(m.f) && m.f != field::ct_state && o.set_name.empty() && o.elems.size() == 1)
        out += "== ";
      return out + operand_text(m);
    case cmp_op::ne: return out + "!= " + operand_text(m);
    case cmp_op::lt: return out + "< " + operand_text(m);
    case cmp_op::gt: return out + "> " + operand_text(m);
    case cmp_op::le: return out + "<= " + operand_text(m);
    case cmp_op::ge: return out + ">= " + operand_text(m);
    case cmp_op::bits_any: return out + flags_text(m.f, o.mask, ",");
    case cmp_op::bits_none:
      if (m.f == field::ct_state && popcount(o.mask) == 1)
        return out + "!= " + flags_text(m.f, o.mask, ",");
      return out + "! " + flags_text(m.f, o.mask, ",");
    case cmp_op::masked_eq:
    case cmp_op::masked_ne: {
      const char* op = m.op == cmp_op::masked_eq ? "== " : "!= ";
      if (is_bitmask(m.f))
        return out + (m.op == cmp_op::masked_ne ? "!= " : "") + flags_text(m.f, o.value, ",") +
               " / " + flags_text(m.f, o.mask, ",");
      if (detail::kind_of(m.f) == detail::vkind::mark)
        return out + "& " + hex32(o.mask) + " " + op + hex32(o.value);
      return out + "& " + std::to_string(o.mask) + " " + op + std::to_string(o.value);
    }
  }
  return out;
}

const char* unit_name(rate_unit u) {
  const char* n = name_of(detail::rate_unit_names(), static_cast<uint32_t>(u));
  return n != nullptr ? n : "second";
}

std::string verdict_text(const map_data& d) {
  switch (d.verdict) {
    case stmt_kind::drop: return "drop";
    case stmt_kind::return_: return "return";
    case stmt_kind::jump: return "jump " + d.target;
    case stmt_kind::goto_: return "goto " + d.target;
    default: return "accept";
  }
}

// One element's data as nft lists it, by the map's data type.
std::string map_data_text(const map_data& d, const std::string& data_type) {
  if (!d.object.empty()) return "\"" + d.object + "\"";
  if (data_type == "verdict") return verdict_text(d);
  if (data_type == k_nat_map_addr) {
    const auto lo = static_cast<uint32_t>(d.value), hi = static_cast<uint32_t>(d.value >> 32);
    return detail::ipv4_to_string(lo) + (hi != lo ? "-" + detail::ipv4_to_string(hi) : "");
  }
  if (data_type == k_nat_map_addr_port)
    return detail::ipv4_to_string(static_cast<uint32_t>(d.value)) + " . " +
           std::to_string(static_cast<uint16_t>(d.value >> 32));
  return hex32(d.value);
}

// `{ key : data, ... }` as nft lists a map's elements (`per_line` as for sets).
std::string map_elems_text(const std::vector<field>& key, const std::vector<value_range>& keys,
                           const std::vector<map_data>& data, const std::string& data_type,
                           size_t per_line) {
  std::string out = "{ ";
  const size_t w = key.size();
  const std::vector<size_t> order = listing_order(keys, w);
  for (size_t i = 0; i < data.size(); ++i) {
    if (i) out += per_line != 0 && i % per_line == 0 ? ",\n\t\t\t     " : ", ";
    const size_t e = order[i];
    out += key_text(key, &keys[e * w]) + " : " + map_data_text(data[e], data_type);
  }
  return out + " }";
}

// `FIELD map { ... }`, `FIELD map @m`, or FIELD alone (a mark copied from it).
std::string source_text(const statement& s, const char* how) {
  std::string out = key_name(*s.from, s.concat);
  if (*s.from == field::jhash && s.hash_symmetric) {
    out = "symhash mod " + std::to_string(s.numgen_mod);
    if (s.numgen_offset != 0) out += " offset " + std::to_string(s.numgen_offset);
  } else if (*s.from == field::jhash) {
    out +=
        " " +
        key_name(s.hash_key.front(), std::vector<field>(s.hash_key.begin() + 1, s.hash_key.end())) +
        " mod " + std::to_string(s.numgen_mod);
    if (s.hash_seed_set) {
      char seed[16];
      std::snprintf(seed, sizeof seed, "0x%x", s.hash_seed);
      out += std::string(" seed ") + seed;
    }
    if (s.numgen_offset != 0) out += " offset " + std::to_string(s.numgen_offset);
  }
  if (*s.from == field::numgen) {
    out +=
        std::string(s.numgen_random ? " random" : " inc") + " mod " + std::to_string(s.numgen_mod);
    if (s.numgen_offset != 0) out += " offset " + std::to_string(s.numgen_offset);
  }
  if (!s.has_map()) return out;
  out += std::string(" ") + how + " ";
  if (!s.map_name.empty()) return out + "@" + s.map_name;
  const std::string data_type = s.kind == stmt_kind::vmap  ? "verdict"
                                : s.kind != stmt_kind::nat ? "mark"
                                : s.nat.map_addr_port      ? k_nat_map_addr_port
                                                           : k_nat_map_addr;
  return out + map_elems_text(key_of(*s.from, s.concat), s.map_keys, s.map_values, data_type, 0);
}

// A byte amount as nft prints a quota's: in the largest of mbytes, kbytes and bytes that
// holds it whole.
std::string bytes_text(uint64_t b) {
  if (b != 0 && b % (1u << 20) == 0) return std::to_string(b >> 20) + " mbytes";
  if (b != 0 && b % 1024 == 0) return std::to_string(b >> 10) + " kbytes";
  return std::to_string(b) + " bytes";
}

std::string quota_text(const statement& s, std::optional<uint64_t> used) {
  std::string out = std::string("quota ") + (s.over ? "over " : "") + bytes_text(s.bytes);
  const uint64_t u = used.value_or(s.used);
  if (u != 0) out += " used " + bytes_text(u);
  return out;
}

// A reject as nft lists it: the ICMP the rule names, with that ICMP's name for the code.
std::string reject_text(const statement& s) {
  if (s.reject == reject_kind::tcp_reset) return "reject with tcp reset";
  if (s.reject_with == reject_with::plain) return "reject";
  static constexpr const char* icmp[] = {"", "icmp", "icmpv6", "icmpx"};
  return std::string("reject with ") + icmp[static_cast<int>(s.reject_with)] + " " +
         std::string(detail::reject_code_names(s.reject_with)[static_cast<size_t>(s.reject)]);
}

std::string limit_text(const statement& s) {
  std::string out = "limit rate ";
  if (s.over) out += "over ";
  out += std::to_string(s.rate) + "/" + unit_name(s.unit);
  // nft leaves out its default burst.
  if (s.burst != 0 && s.burst != 5) out += " burst " + std::to_string(s.burst) + " packets";
  return out;
}

// `{ KEY [timeout T] [limit ...|ct count ...] }` of add/update/delete @set and meter.
std::string dynset_element_text(const statement& s) {
  std::string out = "{ " + key_name(*s.from, s.concat);
  if (s.key_mask != ~uint128{0})
    out += " & " + (is_addr6_field(*s.from)
                        ? detail::ipv6_to_string(s.key_mask)
                        : detail::ipv4_to_string(static_cast<uint32_t>(s.key_mask)));
  if (s.elem_timeout_ms != 0) out += " timeout " + duration_text(s.elem_timeout_ms);
  if (s.has_limit) out += " " + limit_text(s);
  if (s.has_ct_count)
    out +=
        std::string(" ct count ") + (s.count_over ? "over " : "") + std::to_string(s.count_limit);
  return out + " }";
}

// As nft's log_stmt_print: prefix, level unless warn, then the flags.
std::string log_text(const statement& s) {
  std::string out = "log";
  if (!s.log_prefix.empty()) out += " prefix \"" + s.log_prefix + "\"";
  if (s.log_level != 4)
    if (const char* level = name_of(detail::log_level_names(), s.log_level))
      out += std::string(" level ") + level;
  const uint8_t f = s.log_flags;
  if ((f & LOG_F_ALL) == LOG_F_ALL) return out + " flags all";
  if (f & (LOG_F_TCPSEQ | LOG_F_TCPOPT)) {
    out += " flags tcp";
    if (f & LOG_F_TCPSEQ) out += " sequence";
    if ((f & LOG_F_TCPSEQ) && (f & LOG_F_TCPOPT)) out += ",";
    if (f & LOG_F_TCPOPT) out += (f & LOG_F_TCPSEQ) ? "options" : " options";
  }
  if (f & LOG_F_IPOPT) out += " flags ip options";
  if (f & LOG_F_UID) out += " flags skuid";
  if (f & LOG_F_MACDECODE) out += " flags ether";
  return out;
}

std::string statement_text(const statement& s, const std::optional<counter_value>& live) {
  if (s.is_object_map())
    return std::string(s.kind == stmt_kind::counter ? "counter" : "quota") + " name " +
           source_text(s, "map");
  if (!s.obj_name.empty() && s.kind != stmt_kind::ct_timeout_set) {
    const char* kind = s.kind == stmt_kind::counter ? "counter"
                       : s.kind == stmt_kind::quota ? "quota"
                                                    : "limit";
    return std::string(kind) + " name \"" + s.obj_name + "\"";
  }
  switch (s.kind) {
    case stmt_kind::vmap: return source_text(s, "vmap");
    case stmt_kind::quota: return quota_text(s, std::nullopt);
    case stmt_kind::tcp_mss_set:
      return "tcp option maxseg size set " +
             (s.rt_mtu ? std::string("rt mtu") : std::to_string(s.value));
    case stmt_kind::counter: {
      const uint64_t packets = live ? live->packets : s.packets;
      const uint64_t bytes = live ? live->bytes : s.bytes;
      return "counter packets " + std::to_string(packets) + " bytes " + std::to_string(bytes);
    }
    case stmt_kind::accept: return "accept";
    case stmt_kind::drop: return "drop";
    case stmt_kind::notrack: return "notrack";
    case stmt_kind::return_: return "return";
    case stmt_kind::jump: return "jump " + s.target;
    case stmt_kind::goto_: return "goto " + s.target;
    case stmt_kind::reject: return reject_text(s);
    case stmt_kind::log: return log_text(s);
    case stmt_kind::limit: return limit_text(s);
    case stmt_kind::meta_mark_set:
      return "meta mark set " + (s.from ? source_text(s, "map") : hex32(s.value));
    case stmt_kind::ct_mark_set:
      return "ct mark set " + (s.from ? source_text(s, "map") : hex32(s.value));
    case stmt_kind::meta_nftrace_set: return "meta nftrace set " + std::to_string(s.value);
    case stmt_kind::ct_zone_set: return "ct zone set " + std::to_string(s.value);
    case stmt_kind::ct_timeout_set: return "ct timeout set \"" + s.obj_name + "\"";
    case stmt_kind::ct_count:
      return std::string("ct count ") + (s.over ? "over " : "") + std::to_string(s.value);
    case stmt_kind::nat: {
      const nat_spec& n = s.nat;
      std::string out = nat_kind_name(n.kind);
      if (n.show_family) out += n.v6 ? " ip6" : " ip";
      if (n.has_addr || n.has_port) out += " to ";
      if (s.has_map()) {
        out += source_text(s, "map");
      } else if (n.has_addr && n.v6) {
        // nft brackets IPv6 addresses when a port follows.
        auto addr = [&](uint128 a) {
          return n.has_port ? "[" + detail::ipv6_to_string(a) + "]" : detail::ipv6_to_string(a);
        };
        out += addr(n.addr6_min);
        if (n.addr6_max != n.addr6_min) out += "-" + addr(n.addr6_max);
      } else if (n.has_addr) {
        out += detail::ipv4_to_string(n.addr_min);
        if (n.addr_max != n.addr_min) out += "-" + detail::ipv4_to_string(n.addr_max);
      }
      if (n.has_port) {
        out += ":" + std::to_string(n.port_min);
        if (n.port_max != n.port_min) out += "-" + std::to_string(n.port_max);
      }
      // nft's order: random, fully-random, persistent.
      std::string flags;
      for (const auto& [bit, name] :
           {std::pair{NAT_F_RANDOM, "random"}, std::pair{NAT_F_FULLY_RANDOM, "fully-random"},
            std::pair{NAT_F_PERSISTENT, "persistent"}})
        if (n.flags & bit) flags += (flags.empty() ? "" : ",") + std::string(name);
      if (!flags.empty()) out += " " + flags;
      return out;
    }
    case stmt_kind::synproxy: {
      std::string out = "synproxy";
      if (s.mss != 0) out += " mss " + std::to_string(s.mss);
      if (s.wscale != 0xff) out += " wscale " + std::to_string(s.wscale);
      if (s.timestamp) out += " timestamp";
      if (s.sack_perm) out += " sack-perm";
      return out;
    }
    case stmt_kind::meter:
      return "meter " + s.meter_name + " size " +
             std::to_string(s.meter_size != 0 ? s.meter_size : k_default_live_set_size) + " " +
             dynset_element_text(s);
    case stmt_kind::dynset: {
      static const char* const ops[] = {"add", "update", "delete"};
      return std::string(ops[static_cast<int>(s.op)]) + " @" + s.set_name + " " +
             dynset_element_text(s);
    }
  }
  return "";
}

// `live`: the first counter's values now; `used`: the first quota's bytes used now.
std::string rule_text(const rule& r, std::optional<counter_value> live,
                      std::optional<uint64_t> used = std::nullopt) {
  std::string out;
  auto add = [&out](const std::string& part) {
    if (!out.empty()) out += ' ';
    out += part;
  };
  for (const match& m : r.matches)
    if (!m.hidden) add(match_text(m));
  for (const statement& s : r.stmts) {
    // Live values belong to the first anonymous counter and quota (named ones list theirs in
    // their object).
    const bool own = s.obj_name.empty() && !s.is_object_map();
    if (s.kind == stmt_kind::quota && own) {
      add(quota_text(s, used));
      used.reset();
      continue;
    }
    add(statement_text(s, s.kind == stmt_kind::counter && own ? live : std::nullopt));
    if (s.kind == stmt_kind::counter && own) live.reset();
  }
  if (!r.comment.empty()) add("comment \"" + r.comment + "\"");
  return out;
}

std::string handle_note(bool handles, uint64_t h) {
  return handles ? " # handle " + std::to_string(h) : "";
}

// A set's elements as written, with their timeouts (a ruleset not installed has no live ones).
std::vector<std::string> written_elements(const set& s) {
  std::vector<std::string> out;
  const std::vector<field> key = detail::fields_for_set_type(s.type);
  const size_t w = s.width();
  for (size_t i = 0; i < s.size(); ++i) {
    const std::vector<value_range> parts(s.elems.begin() + static_cast<ptrdiff_t>(i * w),
                                         s.elems.begin() + static_cast<ptrdiff_t>(i * w + w));
    std::string text = key_text(key, parts.data());
    if (auto t = s.elem_timeouts.find(parts); t != s.elem_timeouts.end()) {
      if (t->second.first != 0) text += " timeout " + duration_text(t->second.first);
      if (t->second.second != 0) text += " expires " + duration_text(t->second.second);
    }
    out.push_back(std::move(text));
  }
  return out;
}

// As nft's set_print: size, flags (a timeout alone is implied by `timeout T`), timeout,
// gc-interval, elements.
void print_set(std::string& out, const set& s, bool handles, const std::vector<std::string>* live) {
  const bool is_map = !s.data_type.empty();
  out += std::string(is_map ? "\tmap " : "\tset ") + s.name + " {" +
         handle_note(handles, s.handle) + "\n";
  if (!s.typeof_key.empty())
    out += "\t\ttypeof " + s.typeof_key + (is_map ? " : " + s.typeof_data : "") + "\n";
  else
    out += "\t\ttype " + s.type + (is_map ? " : " + s.data_type : "") + "\n";
  if (s.size_limit != 0) out += "\t\tsize " + std::to_string(s.size_limit) + "\n";
  const bool timeouts = s.timeout_flag || s.timeout_ms != 0;
  if (s.interval || s.dynamic || (timeouts && s.timeout_ms == 0)) {
    std::string flags;
    if (s.interval) flags += ",interval";
    if (s.dynamic) flags += ",dynamic";
    if (timeouts) flags += ",timeout";
    out += "\t\tflags " + flags.substr(1) + "\n";
  }
  if (s.timeout_ms != 0) out += "\t\ttimeout " + duration_text(s.timeout_ms) + "\n";
  if (s.gc_interval_ms != 0) out += "\t\tgc-interval " + duration_text(s.gc_interval_ms) + "\n";
  // nft's calculate_delim: IPv4 addresses two to a line, ports, protocols and marks five, the
  // rest (IPv6 and Ethernet addresses, EtherTypes, concatenations) one.
  const bool numbers = s.type == "inet_service" || s.type == "inet_proto" || s.type == "mark";
  const size_t per_line = s.type == "ipv4_addr" ? 2 : numbers ? 5 : 1;
  if (s.live()) {
    const std::vector<std::string> written =
        live != nullptr ? std::vector<std::string>{} : written_elements(s);
    const std::vector<std::string>& elems = live != nullptr ? *live : written;
    if (!elems.empty()) {
      out += "\t\telements = { ";
      for (size_t i = 0; i < elems.size(); ++i) {
        if (i) out += i % per_line == 0 ? ",\n\t\t\t     " : ", ";
        out += elems[i];
      }
      out += " }\n";
    }
  } else if (!s.elems.empty()) {
    // As nft lists them: addresses two to a line, other values five; concatenations one.
    out += "\t\telements = " +
           (is_map ? map_elems_text(detail::fields_for_set_type(s.type), s.elems, s.data,
                                    s.data_type, per_line)
                   : elems_text(detail::fields_for_set_type(s.type), s.elems, true, per_line)) +
           "\n";
  }
  out += "\t}\n";
}

// A base chain's priority as nft lists it (prio2str in nft's rule.c): the family's standard
// name the value is at or within 10 of ("filter", "filter + 10", "raw - 10"), else the
// number. A NAT name is named at its one hook only (dstnat at prerouting, srcnat at
// postrouting, the bridge's out at output), as nft 1.0.6 lists them.
std::string priority_text(family fam, hook h, int32_t prio) {
  for (const detail::priority_name& p : detail::priority_names(fam)) {
    if (p.only_at && *p.only_at != h) continue;
    const int64_t offset = static_cast<int64_t>(prio) - p.value;
    if (offset == 0) return std::string(p.name);
    if (offset >= -10 && offset <= 10)
      return std::string(p.name) + (offset > 0 ? " + " : " - ") + std::to_string(std::abs(offset));
  }
  return std::to_string(prio);
}

void print_chain(std::string& out, family fam, const chain& c, size_t ti, size_t ci,
                 const counter_lookup* counters, bool handles) {
  out += "\tchain " + c.name + " {" + handle_note(handles, c.handle) + "\n";
  if (c.base) {
    out += "\t\ttype " + c.type + " hook " + detail::hook_name(c.hook) + " priority " +
           priority_text(fam, c.hook, c.priority) + "; policy " +
           (c.policy_drop ? "drop" : "accept") + ";\n";
  }
  for (size_t ri = 0; ri < c.rules.size(); ++ri) {
    std::optional<counter_value> live;
    std::optional<uint64_t> used;
    if (counters) {
      live = counters->get(ti, ci, ri);
      used = counters->quota_used(ti, ci, ri);
    }
    out += "\t\t" + rule_text(c.rules[ri], live, used) + handle_note(handles, c.rules[ri].handle) +
           "\n";
  }
  out += "\t}\n";
}

}  // namespace

std::string format_rule(const rule& r) { return rule_text(r, std::nullopt); }

std::string format_statement(const statement& s) { return statement_text(s, std::nullopt); }

const char* obj_kind_name(obj_kind k) {
  switch (k) {
    case obj_kind::counter: return "counter";
    case obj_kind::quota: return "quota";
    case obj_kind::limit: return "limit";
    case obj_kind::ct_timeout: return "ct timeout";
  }
  return "?";
}

std::string duration_text(uint64_t ms) {
  if (ms == 0) return "0s";
  static const std::pair<uint64_t, const char*> units[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  std::string out;
  for (const auto& [scale, name] : units) {
    if (ms < scale) continue;
    out += std::to_string(ms / scale) + name;
    ms %= scale;
  }
  return out;
}

namespace {

// `counter NAME { packets N bytes M }`, `quota NAME { [over ]N UNIT[ used M UNIT] }`,
// `limit NAME { rate [over ]N/UNIT[ burst M packets] }`: the statement's text without its
// keyword, with the live values.
void print_object(std::string& out, const object& ob, size_t ti, size_t oi,
                  const counter_lookup* counters, bool handles) {
  std::string body;
  if (ob.kind == obj_kind::counter) {
    counter_value v{ob.spec.packets, ob.spec.bytes};
    if (counters != nullptr)
      if (std::optional<counter_value> live = counters->object_counter(ti, oi)) v = *live;
    body = "packets " + std::to_string(v.packets) + " bytes " + std::to_string(v.bytes);
  } else if (ob.kind == obj_kind::quota) {
    std::optional<uint64_t> used;
    if (counters != nullptr) used = counters->object_quota_used(ti, oi);
    body = quota_text(ob.spec, used).substr(std::string_view("quota ").size());
  } else if (ob.kind == obj_kind::limit) {
    body = limit_text(ob.spec).substr(std::string_view("limit ").size());
  } else {
    // As nft lists a ct timeout: the protocol, l3proto, and the states whose timeout is not
    // nft's default, in the kernel's order ("{  }" when none is).
    const auto states = detail::ct_timeout_states(ob.l4proto);
    const auto defaults = detail::ct_timeout_defaults(ob.l4proto);
    body = std::string("protocol ") + (ob.l4proto == 6 ? "tcp" : "udp") + "\n\t\tl3proto " +
           (ob.l3proto == 2    ? "ip"
            : ob.l3proto == 10 ? "ip6"
                               : "inet") +
           "\n\t\tpolicy = { ";
    const char* sep = "";
    for (size_t i = 0; i < ob.policy.size() && i < defaults.size(); ++i) {
      if (ob.policy[i] == defaults[i]) continue;
      body += std::string(sep) + detail::name_of(states, static_cast<uint32_t>(i)) + " : " +
              std::to_string(ob.policy[i]);
      sep = ", ";
    }
    body += " }";
  }
  out += std::string("\t") + obj_kind_name(ob.kind) + " " + ob.name + " {" +
         handle_note(handles, ob.handle) + "\n\t\t" + body + "\n\t}\n";
}

}  // namespace

std::string format(const ruleset& rs, const counter_lookup* counters, bool handles) {
  std::string out;
  for (size_t ti = 0; ti < rs.tables.size(); ++ti) {
    const table& t = rs.tables[ti];
    out += std::string("table ") + detail::family_name(t.fam) + " " + t.name + " {" +
           handle_note(handles, t.handle) + "\n";
    const char* delim = "";
    for (size_t oi = 0; oi < t.objects.size(); ++oi) {
      out += delim;
      print_object(out, t.objects[oi], ti, oi, counters, handles);
      delim = "\n";
    }
    for (size_t si = 0; si < t.sets.size(); ++si) {
      const set& s = t.sets[si];
      out += delim;
      std::optional<std::vector<std::string>> live;
      if (counters != nullptr && s.live()) live = counters->set_elements(ti, si);
      print_set(out, s, handles, live ? &*live : nullptr);
      delim = "\n";
    }
    for (size_t ci = 0; ci < t.chains.size(); ++ci) {
      out += delim;
      print_chain(out, t.fam, t.chains[ci], ti, ci, counters, handles);
      delim = "\n";
    }
    out += "}\n";
  }
  return out;
}

std::vector<std::string> live_elements_text(const compiled_ruleset& rs, uint32_t live,
                                            uint32_t now_ms) {
  const live_set& ls = rs.live_sets[live];
  const set& st = rs.ast.tables[ls.ast_table].sets[ls.ast_set];
  const std::vector<field> key = detail::fields_for_set_type(st.type);
  struct element {
    dyn_key k;
    uint32_t timeout, expires;
  };
  std::vector<element> all;
  ls.table->for_each(now_ms, [&](const dyn_key& k, uint32_t timeout, uint32_t expires) {
    all.push_back({k, timeout, expires});
  });
  // In key order (nft's hash sets list in hash order: any order is theirs).
  std::sort(all.begin(), all.end(), [](const element& a, const element& b) {
    return a.k.hi != b.k.hi ? a.k.hi < b.k.hi : a.k.lo < b.k.lo;
  });
  std::vector<std::string> out;
  for (const element& e : all) {
    // The key's 32-bit parts, an IPv6 address taking four.
    value_range parts[k_max_concat];
    unsigned word = 0;
    for (size_t i = 0; i < key.size() && i < k_max_concat; ++i) {
      uint128 v = e.k.part(word++);
      if (is_addr6_field(key[i]))
        for (unsigned w = 1; w < 4; ++w) v = v << 32 | e.k.part(word++);
      parts[i] = {v, v};
    }
    std::string text = key_text(key, parts);
    if (ls.count_stmt != k_none) {
      // An element of a counted set lists the count it keeps, as nft lists the expression the
      // element took from the rule that added it.
      const auto& cc = rs.ct_counts[ls.count_stmt];
      text += std::string(" ct count ") + (cc.over ? "over " : "") + std::to_string(cc.limit);
    }
    if (e.timeout != 0 && e.timeout != st.timeout_ms)
      text += " timeout " + duration_text(e.timeout);
    // A worker's clock may run a little ahead of the control thread's: never more than the
    // timeout left.
    if (e.expires != 0)
      text +=
          " expires " + duration_text(e.timeout != 0 ? std::min(e.expires, e.timeout) : e.expires);
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace ctgate::nft
