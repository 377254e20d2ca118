// The grammar of the nftables subset ctgate reads (docs/ruleset.md), part 1 of 3: the entry
// points, the token access, defines, and the commands with their table and chain blocks. See
// parser_internal.h for the whole class; parser_set.cpp and parser_rule.cpp hold the rest.
//
// Errors: validation throws an internal parse_failure that the public entry points turn into
// an error; only the first error is reported, the way nft stops at its first. Recursion is
// bounded: blocks and braces nest at most kMaxNesting deep, includes kMaxIncludeDepth deep.
//
// Includes are resolved in the token stream (token_stream.h), below the parser: `include "f"`
// at the start of a statement is replaced by the tokens of f, so it works at top level and
// inside table, chain and set blocks as in nft. $variables are expanded here, when they reach
// the front of the lookahead, so a define takes effect for the tokens after it and respects
// block scope.
#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ruleset/parser_internal.h"

namespace ctgate::nft::detail {

ruleset parser::run(const ruleset* base) {
  if (base != nullptr) adopt(*base);
  ts_.start(0);
  scopes_.emplace_back();
  for (;;) {
    log_.clear();
    const token& t = peek();
    if (t.kind == tok::end) break;
    if (is_sep(t)) {
      take();
      continue;
    }
    command();
  }
  check_references(rs_, info_, jumps_, set_uses_, rejects_, nat_uses_);
  check_object_uses();
  mark_dynamic_sets();
  compact();
  return std::move(rs_);
}

// A set a rule adds elements to is dynamic, as nft makes it, with nft's default size when it
// has none (also when it was declared dynamic: nft 1.0.6 lists the size then).
void parser::mark_dynamic_sets() {
  for (const set_use& u : set_uses_) {
    if (u.kind == set_use_kind::lookup || info_[u.table].deleted) continue;
    auto found = info_[u.table].sets.find(u.name);
    if (found == info_[u.table].sets.end()) continue;
    set& st = rs_.tables[u.table].sets[found->second];
    st.dynamic = true;
    if (st.size_limit == 0) st.size_limit = k_default_live_set_size;
  }
}

// The ruleset before the file: its symbol tables, its size against the limits, and the
// references of its rules (base: checked when they were loaded; recorded so that a jump the
// file adds is checked against the jumps already there, for loops and for reject).
void parser::adopt(const ruleset& base) {
  rs_ = base;
  rs_.flush = false;
  for (table& tb : rs_.tables)
    for (set& st : tb.sets) st.ops.clear();  // the base's were applied when it was installed
  for (size_t ti = 0; ti < rs_.tables.size(); ++ti) {
    const table& tb = rs_.tables[ti];
    table_info info;
    for (size_t ci = 0; ci < tb.chains.size(); ++ci) {
      info.chains.emplace(tb.chains[ci].name, ci);
      info.chain_deleted.push_back(false);
      for (const rule& rl : tb.chains[ci].rules) {
        ++rules_;
        for (const statement& st : rl.stmts) {
          if (st.kind == stmt_kind::jump || st.kind == stmt_kind::goto_)
            jumps_.push_back(
                {ti, ci, st.target, pos{}, st.kind == stmt_kind::goto_, rl.handle, true});
          if (st.kind == stmt_kind::reject || st.rt_mtu || st.kind == stmt_kind::synproxy)
            rejects_.push_back(
                {ti, ci, pos{}, rl.handle, true, st.rt_mtu, st.kind == stmt_kind::synproxy});
          if (st.kind == stmt_kind::nat)
            nat_uses_.push_back({ti, ci, pos{}, rl.handle, true, st.nat.kind});
          for (const map_data& d : st.map_values)
            if (!d.target.empty())
              jumps_.push_back(
                  {ti, ci, d.target, pos{}, d.verdict == stmt_kind::goto_, rl.handle, true});
        }
      }
    }
    for (size_t si = 0; si < tb.sets.size(); ++si) {
      info.sets.emplace(tb.sets[si].name, si);
      info.set_deleted.push_back(false);
      elements_ += tb.sets[si].elems.size();
    }
    info_.push_back(std::move(info));
  }
}

// Drops what the file deleted, now that no recorded index is needed any more.
void parser::compact() {
  std::vector<table> tables;
  for (size_t ti = 0; ti < rs_.tables.size(); ++ti) {
    if (info_[ti].deleted) continue;
    table& tb = rs_.tables[ti];
    std::vector<chain> chains;
    for (size_t ci = 0; ci < tb.chains.size(); ++ci)
      if (!info_[ti].chain_deleted[ci]) chains.push_back(std::move(tb.chains[ci]));
    std::vector<set> sets;
    for (size_t si = 0; si < tb.sets.size(); ++si)
      if (!info_[ti].set_deleted[si]) sets.push_back(std::move(tb.sets[si]));
    tb.chains = std::move(chains);
    tb.sets = std::move(sets);
    tables.push_back(std::move(tb));
  }
  rs_.tables = std::move(tables);
}

void parser::count_rule(const token& at) {
  if (++rules_ > limits_.rules)
    fail(at, "too many rules: the limit is " + std::to_string(limits_.rules) +
                 " (ruleset_limits.rules in the config)");
}

void parser::count_elements(const token& at, size_t n) {
  elements_ += n;
  if (elements_ > limits_.set_elements)
    fail(at, "too many set elements: the limit is " + std::to_string(limits_.set_elements) +
                 " over all sets (ruleset_limits.set_elements in the config)");
}

void parser::expand_variables() {
  while (ts_.peek(0).kind == tok::variable) {
    token v = ts_.take();
    const std::vector<token>* value = lookup_define(v.text);
    if (!value) fail(v, "unknown identifier '" + v.text + "'");
    expanded_ += value->size();
    if (expanded_ > kMaxExpandedTokens) fail(v, "too many variable expansions");
    std::vector<token> copy = *value;
    for (token& t : copy) {
      t.src = v.src;
      t.line = v.line;
      t.col = v.col;
      t.len = v.len;
      t.expanded = true;
    }
    ts_.push_front(std::move(copy));
  }
}

// The extent from `first` to the last token taken, when both are on one line.
pos parser::span_from(const token& first) const {
  pos p = pos_of(first);
  if (log_.empty()) return p;
  const token& last = log_.back();
  if (!first.expanded && !last.expanded && last.src == first.src && last.line == first.line &&
      last.col >= first.col)
    p.len = last.col + last.len - first.col;
  return p;
}

// The tokens taken since log index `from`, as written when they are plain source text.
std::string parser::text_since(size_t from) const {
  if (from >= log_.size()) return {};
  const token& a = log_[from];
  const token& b = log_.back();
  bool plain = a.src == b.src && a.line == b.line && b.col >= a.col;
  for (size_t i = from; plain && i < log_.size(); ++i) plain = !log_[i].expanded;
  if (plain) {
    const source& s = sources_[a.src];
    const size_t begin = s.line_starts[a.line - 1] + a.col - 1;
    return s.text.substr(begin, static_cast<size_t>(b.col + b.len - a.col));
  }
  std::string out;
  for (size_t i = from; i < log_.size(); ++i) {
    const token& t = log_[i];
    if (t.kind == tok::newline) continue;
    const bool tight =
        t.kind == tok::comma || t.kind == tok::slash || t.kind == tok::dash ||
        (i > from && (log_[i - 1].kind == tok::slash || log_[i - 1].kind == tok::dash));
    if (i > from && !tight) out += ' ';
    out += t.kind == tok::string ? "\"" + t.text + "\"" : t.text;
  }
  return out;
}

// --- defines --------------------------------------------------------------------------------

const std::vector<token>* parser::lookup_define(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto found = it->find(name);
    if (found != it->end()) return &found->second;
  }
  return nullptr;
}

void parser::define_stmt() {
  const token kw = take();
  const token name = expect_name("variable name");
  auto& scope = scopes_.back();
  if (kw.text == "undefine") {
    if (!scope.erase(name.text)) fail(name, "undefined symbol '" + name.text + "'");
    end_statement();
    return;
  }
  expect(tok::assign, "'='");
  std::vector<token> value;
  int depth = 0;
  for (;;) {
    const token& t = peek();
    if (depth == 0 && (is_sep(t) || t.kind == tok::rbrace || t.kind == tok::end)) break;
    if (t.kind == tok::end) unexpected(t, "'}'");
    if (t.kind == tok::newline) {
      take();
      continue;
    }
    if (t.kind == tok::lbrace && ++depth > kMaxNesting)
      fail(t, "nesting too deep (more than 64 levels)");
    if (t.kind == tok::rbrace) --depth;
    value.push_back(take());
    if (value.size() > kMaxDefineTokens) fail(name, "define '" + name.text + "' is too large");
  }
  if (value.empty()) unexpected(peek(), "a value");
  if (kw.text == "define" && scope.count(name.text))
    fail(name, "redefinition of symbol '" + name.text + "'");
  scope[name.text] = std::move(value);
  end_statement();
}

// --- commands -------------------------------------------------------------------------------

void parser::command() {
  const token t = peek();
  if (t.kind != tok::word) unexpected(t, "command");
  const std::string& w = t.text;
  if (element_cmds_ != nullptr) {
    // Element-only mode: `add element`, `delete element` or `element`, nothing else.
    const bool verb = w == "add" || w == "delete";
    if (!(verb ? at_word("element", 1) : w == "element")) throw not_element_only{};
    if (verb) take();
    take();
    return element_cmd(w == "delete");
  }
  if (w == "flush") return flush_cmd();
  if (one_of(w, {"define", "redefine", "undefine"})) return define_stmt();
  if (w == "add" || w == "create") {
    take();
    return add_cmd(w == "create");
  }
  if (w == "insert" || w == "replace") {
    take();
    expect_word("rule");
    return rule_cmd(w == "insert" ? rule_verb::insert : rule_verb::replace);
  }
  if (w == "delete") return delete_cmd();
  if (one_of(w, {"table", "chain", "set", "map", "element", "rule"})) return add_cmd(false);
  if (w == "nft")
    fail(t,
         "syntax error, unexpected 'nft' (a ruleset file holds nft commands without the "
         "'nft' prefix)");
  if (one_of(w, {"destroy", "list", "reset", "rename", "monitor", "describe", "import", "export",
                 "get"}))
    unsupported(t, "'" + w + "' command");
  if (one_of(w, {"flowtable", "counter", "quota", "limit", "secmark", "synproxy", "ct"}))
    unsupported(t, "named " + w + " objects");
  unexpected(t, "command");
}

// flush ruleset | flush table T | flush chain T C | flush set T S
void parser::flush_cmd() {
  take();
  const token what = peek();
  if (what.kind != tok::word) unexpected(what, "ruleset, table, chain or set");
  take();
  if (what.text == "table") {
    const size_t ti = require_table(table_spec());
    // nft: every chain's rules go; chains, sets and their elements stay.
    for (chain& ch : rs_.tables[ti].chains) {
      rules_ -= std::min(rules_, ch.rules.size());
      ch.rules.clear();
    }
    forget_refs(ti, std::nullopt, std::nullopt);
    return end_statement();
  }
  if (what.text == "chain") {
    const size_t ti = require_table(table_spec());
    const size_t ci = require_chain(ti, expect_name("chain name"));
    rules_ -= std::min(rules_, rs_.tables[ti].chains[ci].rules.size());
    rs_.tables[ti].chains[ci].rules.clear();
    forget_refs(ti, ci, std::nullopt);
    return end_statement();
  }
  if (what.text == "set" || what.text == "map") {
    const size_t ti = require_table(table_spec());
    set& st = rs_.tables[ti].sets[require_set(ti, expect_name(what.text + " name"))];
    elements_ -= std::min(elements_, st.elems.size());
    st.elems.clear();
    st.elem_text.clear();
    st.data.clear();
    return end_statement();
  }
  if (what.text != "ruleset") {
    if (one_of(what.text, {"meter", "flowtable"})) unsupported(what, "'flush " + what.text + "'");
    unexpected(what, "ruleset, table, chain, set or map");
  }
  if (at(tok::word)) unsupported(peek(), "'flush ruleset' of one family");
  // nft applies a file as one transaction: whatever came before the flush is gone too,
  // and so is the ruleset the file was applied to. Table handles keep counting.
  rs_.flush = true;
  for (table_info& info : info_) {
    info.deleted = true;
    info.chains.clear();
    info.sets.clear();
  }
  jumps_.clear();
  set_uses_.clear();
  rejects_.clear();
  nat_uses_.clear();
  obj_uses_.clear();
  rules_ = 0;
  elements_ = 0;
  end_statement();
}

void parser::add_cmd(bool create) {
  const token what = peek();
  if (what.kind != tok::word) unexpected(what, "table, chain, set, element or rule");
  take();
  const std::string& w = what.text;
  if (w == "table") return table_cmd(create);
  if (w == "chain") return chain_cmd(create);
  if (w == "set") return set_cmd(create);
  if (w == "map") return set_cmd(create, true);
  if (w == "element") return element_cmd();
  if (w == "rule") return rule_cmd(rule_verb::add);
  if (w == "counter") return object_cmd(create, obj_kind::counter);
  if (w == "quota") return object_cmd(create, obj_kind::quota);
  if (w == "limit") return object_cmd(create, obj_kind::limit);
  if (w == "ct" && accept_word("timeout")) return object_cmd(create, obj_kind::ct_timeout);
  if (w == "ct") unsupported(what, "named ct " + peek().text + " objects");
  if (one_of(w, {"flowtable", "secmark", "synproxy", "tunnel"}))
    unsupported(what, "named " + w + " objects");
  unexpected(what, "table, chain, set, element or rule");
}

// delete table T | delete chain T C | delete set T S | delete rule T C handle N |
// delete element T S { ... }. nft refuses to delete a chain a rule jumps to, or a set a rule
// matches against (EBUSY); here the message says which rule.
void parser::delete_cmd() {
  take();
  const token what = peek();
  if (what.kind != tok::word) unexpected(what, "table, chain, set, rule or element");
  take();
  if (what.text == "table") {
    const table_ref r = table_spec();
    const size_t ti = require_table(r);
    for (const chain& ch : rs_.tables[ti].chains) rules_ -= std::min(rules_, ch.rules.size());
    for (const set& st : rs_.tables[ti].sets) elements_ -= std::min(elements_, st.elems.size());
    info_[ti].deleted = true;
    info_[ti].chains.clear();
    info_[ti].sets.clear();
    forget_refs(ti, std::nullopt, std::nullopt);
    return end_statement();
  }
  if (what.text == "chain") {
    const size_t ti = require_table(table_spec());
    const token name = expect_name("chain name");
    const size_t ci = require_chain(ti, name);
    chain_in_use(ti, ci, name);
    delete_chain(ti, ci);
    return end_statement();
  }
  if (what.text == "set" || what.text == "map") {
    const size_t ti = require_table(table_spec());
    const token name = expect_name(what.text + " name");
    const size_t si = require_set(ti, name);
    set_in_use(ti, si, name);
    elements_ -= std::min(elements_, rs_.tables[ti].sets[si].elems.size());
    info_[ti].set_deleted[si] = true;
    info_[ti].sets.erase(name.text);
    return end_statement();
  }
  if (what.text == "rule") {
    const size_t ti = require_table(table_spec());
    const size_t ci = require_chain(ti, expect_name("chain name"));
    const token at = peek();
    const uint64_t handle = handle_spec();
    const size_t ri = rule_at_handle(ti, ci, handle, at);
    forget_refs(ti, ci, handle);
    auto& rules = rs_.tables[ti].chains[ci].rules;
    rules.erase(rules.begin() + static_cast<ptrdiff_t>(ri));
    --rules_;
    return end_statement();
  }
  if (what.text == "element") return element_cmd(true);
  const bool ct_timeout = what.text == "ct" && at_word("timeout");
  if (ct_timeout || one_of(what.text, {"counter", "quota", "limit"})) {
    if (ct_timeout) take();
    const obj_kind kind = ct_timeout               ? obj_kind::ct_timeout
                          : what.text == "counter" ? obj_kind::counter
                          : what.text == "quota"   ? obj_kind::quota
                                                   : obj_kind::limit;
    const std::string kind_name = obj_kind_name(kind);
    const size_t ti = require_table(table_spec());
    const token name = expect_name(kind_name + " name");
    const std::optional<size_t> oi = find_object(ti, kind, name.text);
    if (!oi)
      fail(name, kind_name + " '" + name.text + "' does not exist in " + table_title(rs_, ti));
    object_in_use(ti, *oi, name);
    auto& objects = rs_.tables[ti].objects;
    objects.erase(objects.begin() + static_cast<ptrdiff_t>(*oi));
    return end_statement();
  }
  if (one_of(what.text, {"flowtable", "ct"})) unsupported(what, "'delete " + what.text + "'");
  unexpected(what, "table, chain, set, rule or element");
}

size_t parser::require_chain(size_t ti, const token& name) {
  auto found = info_[ti].chains.find(name.text);
  if (found == info_[ti].chains.end())
    fail(name, "chain '" + name.text + "' does not exist in " + table_title(rs_, ti));
  return found->second;
}

size_t parser::require_set(size_t ti, const token& name) {
  auto found = info_[ti].sets.find(name.text);
  if (found == info_[ti].sets.end())
    fail(name, "set '" + name.text + "' does not exist in " + table_title(rs_, ti));
  return found->second;
}

// `handle N`: a rule's handle (nft -a shows them).
uint64_t parser::handle_spec() {
  expect_word("handle");
  const token n = peek();
  if (n.kind != tok::number) unexpected(n, "handle number");
  return number(take());
}

size_t parser::rule_at_handle(size_t ti, size_t ci, uint64_t handle, const token& at) {
  const chain& ch = rs_.tables[ti].chains[ci];
  for (size_t ri = 0; ri < ch.rules.size(); ++ri)
    if (ch.rules[ri].handle == handle) return ri;
  fail(span_from(at), "no rule with handle " + std::to_string(handle) + " in chain '" + ch.name +
                          "' of " + table_title(rs_, ti));
}

void parser::chain_in_use(size_t ti, size_t ci, const token& at) {
  const table& tb = rs_.tables[ti];
  const std::string& name = tb.chains[ci].name;
  for (size_t c = 0; c < tb.chains.size(); ++c) {
    if (info_[ti].chain_deleted[c]) continue;
    for (const rule& rl : tb.chains[c].rules)
      for (const statement& st : rl.stmts) {
        bool jumps =
            (st.kind == stmt_kind::jump || st.kind == stmt_kind::goto_) && st.target == name;
        for (const map_data& d : st.map_values) jumps = jumps || d.target == name;
        if (jumps)
          fail(at, "chain '" + name + "' is in use: rule handle " + std::to_string(rl.handle) +
                       " in chain '" + tb.chains[c].name +
                       "' jumps to it (nft: Device or resource busy)");
      }
  }
  for (size_t si = 0; si < tb.sets.size(); ++si) {
    if (info_[ti].set_deleted[si]) continue;
    for (const map_data& d : tb.sets[si].data)
      if (d.target == name)
        fail(at, "chain '" + name + "' is in use: map '" + tb.sets[si].name +
                     "' jumps to it (nft: Device or resource busy)");
  }
}

void parser::set_in_use(size_t ti, size_t si, const token& at) {
  const table& tb = rs_.tables[ti];
  const std::string& name = tb.sets[si].name;
  for (size_t c = 0; c < tb.chains.size(); ++c) {
    if (info_[ti].chain_deleted[c]) continue;
    for (const rule& rl : tb.chains[c].rules) {
      bool uses = false;
      for (const match& m : rl.matches) uses = uses || m.rhs.set_name == name;
      for (const statement& st : rl.stmts) uses = uses || st.map_name == name;
      if (uses)
        fail(at, "set '" + name + "' is in use: rule handle " + std::to_string(rl.handle) +
                     " in chain '" + tb.chains[c].name +
                     "' matches against it (nft: Device or resource busy)");
    }
  }
}

void parser::delete_chain(size_t ti, size_t ci) {
  chain& ch = rs_.tables[ti].chains[ci];
  rules_ -= std::min(rules_, ch.rules.size());
  ch.rules.clear();
  forget_refs(ti, ci, std::nullopt);
  info_[ti].chain_deleted[ci] = true;
  info_[ti].chains.erase(ch.name);
}

parser::table_ref parser::table_spec() {
  table_ref r;
  const token& t = peek();
  if (t.kind == tok::word && peek(1).kind == tok::word) {
    if (one_of(t.text, {"ip", "inet", "ip6", "bridge"})) {
      r.fam = t.text == "ip"     ? family::ip
              : t.text == "ip6"  ? family::ip6
              : t.text == "inet" ? family::inet
                                 : family::bridge;
      take();
    } else if (one_of(t.text, {"arp", "netdev"})) {
      unsupported(t, "family " + t.text + " (ctgate reads ip, ip6, inet and bridge tables)");
    }
  }
  r.name = expect_name("table name");
  return r;
}

std::optional<size_t> parser::find_table(const table_ref& r) const {
  for (size_t i = 0; i < rs_.tables.size(); ++i)
    if (!info_[i].deleted && rs_.tables[i].fam == r.fam && rs_.tables[i].name == r.name.text)
      return i;
  return std::nullopt;
}

size_t parser::require_table(const table_ref& r) {
  if (std::optional<size_t> ti = find_table(r)) return *ti;
  fail(r.name,
       std::string("table ") + detail::family_name(r.fam) + " " + r.name.text + " does not exist");
}

void parser::table_cmd(bool create) {
  table_ref r = table_spec();
  std::optional<size_t> ti = find_table(r);
  if (ti && create) fail(r.name, table_title(rs_, *ti) + " already exists");
  if (!ti) {
    table tb;
    tb.handle = ++rs_.last_table_handle;
    tb.fam = r.fam;
    tb.name = r.name.text;
    tb.loc = loc_of(pos_of(r.name));
    rs_.tables.push_back(std::move(tb));
    info_.emplace_back();
    ti = rs_.tables.size() - 1;
  }
  // A table declared again is extended (nft merges them, in one file or across loads).
  if (at(tok::lbrace)) {
    ++block_depth_;
    table_body(*ti);
    --block_depth_;
    take_handles(*ti);
  }
  end_statement();
}

void parser::table_body(size_t ti) {
  const token open = take();
  enter_block(open);
  for (;;) {
    log_.clear();
    const token t = peek();
    if (t.kind == tok::rbrace) break;
    if (is_sep(t)) {
      take();
      continue;
    }
    if (t.kind != tok::word) unexpected(t, "chain, set or '}'");
    if (t.text == "chain") {
      take();
      const token name = expect_name("chain name");
      if (!at(tok::lbrace)) unexpected(peek(), "'{'");
      chain_def(ti, name, false);
      end_statement();
    } else if (t.text == "set") {
      take();
      const token name = expect_name("set name");
      if (!at(tok::lbrace)) unexpected(peek(), "'{'");
      set_def(ti, name, false);
      end_statement();
    } else if (t.text == "map") {
      take();
      const token name = expect_name("map name");
      if (!at(tok::lbrace)) unexpected(peek(), "'{'");
      set_def(ti, name, false, true);
      end_statement();
    } else if (one_of(t.text, {"define", "redefine", "undefine"})) {
      define_stmt();
    } else if (one_of(t.text, {"counter", "quota", "limit"})) {
      take();
      const obj_kind kind = t.text == "counter" ? obj_kind::counter
                            : t.text == "quota" ? obj_kind::quota
                                                : obj_kind::limit;
      const token name = expect_name(t.text + " name");
      if (!at(tok::lbrace)) unexpected(peek(), "'{'");
      object_def(ti, kind, name, false);
      end_statement();
    } else if (t.text == "ct" && at_word("timeout", 1)) {
      take();
      take();
      const token name = expect_name("ct timeout name");
      if (!at(tok::lbrace)) unexpected(peek(), "'{'");
      object_def(ti, obj_kind::ct_timeout, name, false);
      end_statement();
    } else if (t.text == "ct") {
      unsupported(t, "named ct " + peek(1).text + " objects");
    } else if (one_of(t.text, {"flowtable", "secmark", "synproxy", "tunnel", "meter"})) {
      unsupported(t, "named " + t.text + " objects");
    } else if (t.text == "flags") {
      unsupported(t, "table flags");
    } else if (t.text == "comment") {
      unsupported(t, "table comments");
    } else {
      unexpected(t, "chain, set or '}'");
    }
  }
  take();
  leave_block();
}

// --- chains ---------------------------------------------------------------------------------

void parser::chain_cmd(bool create) {
  const table_ref r = table_spec();
  const size_t ti = require_table(r);
  const token name = expect_name("chain name");
  chain_def(ti, name, create);
  end_statement();
}

void parser::chain_def(size_t ti, const token& name, bool create) {
  table_info& info = info_[ti];
  auto found = info.chains.find(name.text);
  size_t ci;
  if (found != info.chains.end()) {
    ci = found->second;
    if (create) fail(name, "chain '" + name.text + "' already exists in " + table_title(rs_, ti));
  } else {
    chain ch;
    ch.handle = block_depth_ == 0 ? ++rs_.tables[ti].last_handle : 0;
    ch.name = name.text;
    ch.loc = loc_of(pos_of(name));
    rs_.tables[ti].chains.push_back(std::move(ch));
    ci = rs_.tables[ti].chains.size() - 1;
    info.chains.emplace(name.text, ci);
    info.chain_deleted.push_back(false);
  }
  if (!at(tok::lbrace)) return;
  // A chain declared again is extended: its rules are appended, its policy may change, and
  // a hook it states must be the one it has (nft).
  chain_body(ti, ci, found != info.chains.end());
}

void parser::chain_body(size_t ti, size_t ci, bool existed) {
  const token open = take();
  const chain before = existed ? rs_.tables[ti].chains[ci] : chain{};
  bool hook_given = false;
  enter_block(open);
  std::optional<pos> policy_at;
  for (;;) {
    log_.clear();
    const token t = peek();
    if (t.kind == tok::rbrace) break;
    if (t.kind == tok::end) unexpected(t, "'}'");
    if (is_sep(t)) {
      take();
      continue;
    }
    if (t.kind == tok::word && t.text == "type" && peek(1).kind == tok::word) {
      if (hook_given) fail(t, "chain '" + rs_.tables[ti].chains[ci].name + "' already has a type");
      chain& ch = rs_.tables[ti].chains[ci];
      ch.base = false;  // stated afresh, then compared with what it was
      hook_spec(ti, ci);
      hook_given = true;
      if (existed && !before.base)
        fail(span_from(t), "chain '" + ch.name + "' already exists in " + table_title(rs_, ti) +
                               " as a regular chain: it cannot become a base chain (nft: File "
                               "exists)");
      if (existed && ch.type != before.type)
        fail(span_from(t), "chain '" + ch.name + "' already exists in " + table_title(rs_, ti) +
                               " as type " + before.type +
                               ": its type cannot change (nft: File exists)");
      if (existed && (ch.hook != before.hook || ch.priority != before.priority))
        fail(span_from(t), "chain '" + ch.name + "' already exists in " + table_title(rs_, ti) +
                               " with hook " + hook_name(before.hook) + " priority " +
                               std::to_string(before.priority) +
                               ": its hook and priority cannot change (nft: Operation not "
                               "supported)");
    } else if (t.kind == tok::word && t.text == "policy") {
      take();
      const token v = expect_name("accept or drop");
      if (v.text != "accept" && v.text != "drop") unexpected(v, "accept or drop");
      rs_.tables[ti].chains[ci].policy_drop = v.text == "drop";
      policy_at = pos_of(t);
      policy_at->len = span_from(t).len;
    } else if (t.kind == tok::word && one_of(t.text, {"define", "redefine", "undefine"})) {
      define_stmt();
      continue;
    } else if (t.kind == tok::word && one_of(t.text, {"device", "devices", "flags"})) {
      unsupported(t, "chain " + t.text);
    } else if (t.kind == tok::word && t.text == "comment" && peek(1).kind == tok::string) {
      unsupported(t, "chain comments");
    } else {
      rule rl = new_rule(ti, ci);
      rs_.tables[ti].chains[ci].rules.push_back(std::move(rl));
    }
    end_statement();
  }
  take();
  leave_block();
  if (policy_at && !rs_.tables[ti].chains[ci].base)
    fail(*policy_at,
         "policy is only valid in a base chain (one with 'type ... hook ... "
         "priority ...')");
}

void parser::hook_spec(size_t ti, size_t ci) {
  chain& ch = rs_.tables[ti].chains[ci];
  const token kw = take();
  const token type = expect_name("chain type");
  if (type.text != "filter" && type.text != "route" && type.text != "nat")
    fail(type, "unknown chain type '" + type.text + "', expecting filter, route or nat");
  // A bridge switches frames: nothing translates them (bridge nat rewrites MAC addresses,
  // which ctgate does not) and nothing routes them again.
  if (rs_.tables[ti].fam == family::bridge && type.text != "filter")
    unsupported(type,
                "chain type " + type.text + " in a bridge table (its chains are of type filter)");
  expect_word("hook");
  const token h = expect_name("hook");
  const std::optional<hook> hk = hook_of(h.text);
  if (!hk) {
    if (h.text == "ingress" || h.text == "egress") unsupported(h, "hook " + h.text);
    fail(h, "unknown chain hook '" + h.text + "'");
  }
  if (at_word("device") || at_word("devices")) unsupported(peek(), "chain devices");
  // A route chain is a filter chain at output after which Linux routes the packet again if
  // the chain changed its mark or addresses (ip_route_me_harder). ctgate routes by
  // destination only and no rule rewrites addresses, so the route cannot change: it runs as a
  // filter chain.
  if (type.text == "route" && *hk != hook::output)
    fail(span_from(type),
         "chain type route is only valid at hook output (nft: Operation not "
         "supported)");
  if (type.text == "nat" && *hk == hook::forward)
    fail(span_from(type),
         "chain type nat is not valid at hook forward: NAT runs at prerouting, input, output "
         "and postrouting (nft: Could not process rule: Operation not supported)");
  const token priority_kw = expect_word("priority");
  priority_spec(ch, rs_.tables[ti].fam, *hk, priority_kw);
  if (type.text == "nat" && ch.priority <= -200)
    fail(span_from(type),
         "chain type nat must run after conntrack: priority above -200 (nft: Could not process "
         "rule: Operation not supported)");
  ch.base = true;
  ch.type = type.text;
  ch.hook = *hk;
}

void parser::priority_spec(chain& ch, family fam, hook hk, const token& keyword) {
  const token first = peek();
  int64_t value = 0;
  if (first.kind == tok::word) {
    take();
    // nft 1.0.6 takes the NAT names at one hook only: dstnat at prerouting and srcnat at
    // postrouting, not at output and input, where NAT also runs (write -100 and 100 there);
    // the bridge's out at output.
    std::optional<int32_t> base;
    for (const detail::priority_name& p : detail::priority_names(fam))
      if (first.text == p.name && (!p.only_at || *p.only_at == hk)) base = p.value;
    if (!base) {
      if (at(tok::plus) || at(tok::dash)) {  // the whole expression, as nft marks it
        take();
        take();
      }
      fail(span_from(keyword), "invalid priority expression value in this context.");
    }
    value = *base;
    if (at(tok::plus) || at(tok::dash)) {
      const bool minus = take().kind == tok::dash;
      const token n = peek();
      const uint64_t offset = number(take());
      if (offset > (uint64_t{1} << 32)) fail(n, "priority offset " + n.text + " is too large");
      value += minus ? -static_cast<int64_t>(offset) : static_cast<int64_t>(offset);
    }
  } else if (first.kind == tok::dash || first.kind == tok::number) {
    const bool minus = accept(tok::dash);
    const token n = peek();
    const uint64_t magnitude = number(take());
    if (magnitude > (uint64_t{1} << 32)) fail(span_from(first), "priority out of range");
    value = minus ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  } else {
    unexpected(first, "priority value");
  }
  if (value < INT32_MIN || value > INT32_MAX)
    fail(span_from(first),
         "priority " + std::to_string(value) + " out of range (-2147483648..2147483647)");
  ch.priority = static_cast<int32_t>(value);
}

// --- rules ----------------------------------------------------------------------------------

// Unique in the process: what tells a rule or set kept by a load from one made again.
uint64_t next_serial() {
  static std::atomic<uint64_t> serials{0};
  return serials.fetch_add(1, std::memory_order_relaxed) + 1;
}

// One rule. Its handle comes from its table's counter once it is parsed (or is `handle`, for
// replace); inside a table block, once the block ends (take_handles). References made while
// it is parsed carry a provisional id until then.
rule parser::new_rule(size_t ti, size_t ci, uint64_t handle) {
  count_rule(peek());
  rule_handle_ = kProvisional | ++provisional_;
  rule rl = parse_rule(ti, ci);
  rl.handle = rule_handle_;
  rl.serial = next_serial();
  if (block_depth_ == 0) give_rule_handle(ti, rl, handle);
  return rl;
}

// What nft creates in the kernel for a rule takes handles too: each anonymous set
// (`{ 80, 443 }`; one element is a plain compare), each anonymous map (even of one element)
// and each meter is a set, added just before the rule.
void parser::give_rule_handle(size_t ti, rule& rl, uint64_t handle) {
  table& tb = rs_.tables[ti];
  for (const match& m : rl.matches)
    if (m.rhs.set_name.empty() && (m.rhs.elems.size() > 1 || !m.rhs.strs.empty())) ++tb.last_handle;
  for (const statement& st : rl.stmts)
    if (st.kind == stmt_kind::meter || !st.map_keys.empty()) ++tb.last_handle;
  const uint64_t provisional = rl.handle;
  rl.handle = handle != 0 ? handle : ++tb.last_handle;
  for (jump_ref& r : jumps_)
    if (r.rule == provisional) r.rule = rl.handle;
  for (set_use& r : set_uses_)
    if (r.rule == provisional) r.rule = rl.handle;
  for (reject_use& r : rejects_)
    if (r.rule == provisional) r.rule = rl.handle;
  for (nat_use& r : nat_uses_)
    if (r.rule == provisional) r.rule = rl.handle;
  for (obj_use& r : obj_uses_)
    if (r.rule == provisional) r.rule = rl.handle;
}

// The handles of what a table block created, in the order nft adds them to the kernel: the
// block is expanded into commands for its chains, then its objects, then its sets, then the
// rules of each chain.
void parser::take_handles(size_t ti) {
  table& tb = rs_.tables[ti];
  for (chain& ch : tb.chains)
    if (ch.handle == 0) ch.handle = ++tb.last_handle;
  for (object& ob : tb.objects)
    if (ob.handle == 0) ob.handle = ++tb.last_handle;
  for (set& st : tb.sets)
    if (st.handle == 0) st.handle = ++tb.last_handle;
  for (chain& ch : tb.chains)
    for (rule& rl : ch.rules)
      if (rl.handle & kProvisional) give_rule_handle(ti, rl, 0);
}

// Rules that are gone take their references with them.
void parser::forget_refs(size_t ti, std::optional<size_t> ci, std::optional<uint64_t> rule) {
  auto gone = [&](const auto& r) {
    if (r.table != ti) return false;
    if (rule) return r.rule == *rule;
    return !ci || r.chain == *ci;
  };
  std::erase_if(jumps_, gone);
  std::erase_if(rejects_, gone);
  std::erase_if(nat_uses_, gone);
  std::erase_if(set_uses_, gone);
  std::erase_if(obj_uses_, gone);
}

// --- named objects --------------------------------------------------------------------------

std::optional<size_t> parser::find_object(size_t ti, obj_kind kind, const std::string& name) const {
  const std::vector<object>& objects = rs_.tables[ti].objects;
  for (size_t oi = 0; oi < objects.size(); ++oi)
    if (objects[oi].kind == kind && objects[oi].name == name) return oi;
  return std::nullopt;
}

// add|create counter|quota|limit T NAME [{ ... }]
void parser::object_cmd(bool create, obj_kind kind) {
  const size_t ti = require_table(table_spec());
  const token name = expect_name(std::string(obj_kind_name(kind)) + " name");
  object_def(ti, kind, name, create);
  end_statement();
}

// counter NAME { [packets N bytes M] }, quota NAME { [over|until] N UNIT [used M UNIT] },
// limit NAME { rate [over] N/UNIT [burst M packets] }. Declared again, a counter and a limit
// stay as they are and a quota takes the new size and mode, keeping what it has used: what
// the kernel does (nft_quota has an update operation; nft_counter and nft_limit do not).
void parser::object_def(size_t ti, obj_kind kind, const token& name, bool create) {
  const std::optional<size_t> existing = find_object(ti, kind, name.text);
  if (existing && create)
    fail(name, std::string(obj_kind_name(kind)) + " '" + name.text + "' already exists in " +
                   table_title(rs_, ti) + " (nft: File exists)");
  object ob;
  ob.kind = kind;
  ob.name = name.text;
  ob.loc = loc_of(pos_of(name));
  ob.spec.kind = kind == obj_kind::counter ? stmt_kind::counter
                 : kind == obj_kind::quota ? stmt_kind::quota
                 : kind == obj_kind::limit ? stmt_kind::limit
                                           : stmt_kind::ct_timeout_set;
  // Only a counter may come without a block (`add counter T NAME`).
  const bool block = at(tok::lbrace);
  if (!block && kind != obj_kind::counter) unexpected(peek(), "'{'");
  if (block) {
    const token open = take();
    enter_block(open);
    skip_newlines();
    while (accept(tok::semicolon)) skip_newlines();
    if (kind == obj_kind::ct_timeout) {
      ct_timeout_options(ti, ob, name);
    } else if (!at(tok::rbrace)) {
      if (kind == obj_kind::counter) {
        if (accept_word("packets")) {
          ob.spec.packets = number(take());
          expect_word("bytes");
          ob.spec.bytes = number(take());
        } else if (!at(tok::rbrace)) {
          unexpected(peek(), "packets or '}'");
        }
      } else if (kind == obj_kind::quota) {
        quota_options(ob.spec);
      } else {
        limit_options(ob.spec);
      }
      while (is_sep(peek())) take();
    }
    if (!at(tok::rbrace)) unexpected(peek(), "'}'");
    take();
    leave_block();
  }
  table& tb = rs_.tables[ti];
  if (existing) {
    object& was = tb.objects[*existing];
    if (kind == obj_kind::quota && block) {
      was.spec.bytes = ob.spec.bytes;
      was.spec.over = ob.spec.over;
    }
    return;
  }
  ob.serial = next_serial();
  ob.handle = block_depth_ == 0 ? ++tb.last_handle : 0;
  tb.objects.push_back(std::move(ob));
}

// The body of `ct timeout NAME { ... }`: `protocol tcp|udp`, `l3proto ip|ip6|inet` and
// `policy = { STATE : SECONDS, ... }`, each ended by a newline or semicolon, in any order and
// any number of times (nft's grammar: later values win, policies merge). The states are
// resolved against the protocol once the block is read, as nft does.
void parser::ct_timeout_options(size_t ti, object& ob, const token& name) {
  std::vector<std::pair<token, uint32_t>> written;
  const family fam = rs_.tables[ti].fam;
  ob.l3proto = fam == family::inet ? 1 : fam == family::ip6 ? 10 : 2;
  bool l3proto_written = false;
  while (!at(tok::rbrace)) {
    const token key = expect_name("protocol, l3proto or policy");
    if (key.text == "protocol") {
      const token p = expect_name("udp or tcp");
      if (p.text != "tcp" && p.text != "udp") unexpected(p, "udp or tcp");
      ob.l4proto = p.text == "tcp" ? 6 : 17;
    } else if (key.text == "l3proto") {
      const token l3 = expect_name("ip, ip6 or inet");
      if (l3.text != "ip" && l3.text != "ip6" && l3.text != "inet")
        unexpected(l3, "ip, ip6 or inet");
      ob.l3proto = l3.text == "ip" ? 2 : l3.text == "ip6" ? 10 : 1;
      l3proto_written = true;
    } else if (key.text == "policy") {
      expect(tok::assign, "'='");
      const token open = expect(tok::lbrace, "'{'");
      enter_block(open);
      skip_newlines();
      // `policy = {  }` is how nft lists a policy at its defaults.
      if (!at(tok::rbrace)) do {
          skip_newlines();
          const token st = expect_name("timeout state");
          expect(tok::colon, "':'");
          if (peek().kind != tok::number) unexpected(peek(), "number");
          const uint64_t secs = bounded(take(), 0xffffffff);
          written.emplace_back(st, static_cast<uint32_t>(secs));
          skip_newlines();
        } while (accept(tok::comma));
      expect(tok::rbrace, "',' or '}'");
      leave_block();
    } else {
      unexpected(key, "protocol, l3proto or policy");
    }
    if (!is_sep(peek())) unexpected(peek(), "newline or semicolon");
    while (is_sep(peek())) take();
  }
  if (ob.l4proto == 0)
    fail(name, "ct timeout '" + name.text + "' has no protocol (nft: Operation not supported)");
  // A bridge table's own family is no layer 3 protocol: conntrack tracks the IPv4 and IPv6
  // frames a bridge switches, so the policy says which.
  if (fam == family::bridge && !l3proto_written)
    fail(name, "ct timeout '" + name.text +
                   "' in a bridge table needs an l3proto: ip, ip6 or inet (the frames "
                   "conntrack tracks)");
  const auto states = detail::ct_timeout_states(ob.l4proto);
  const auto defaults = detail::ct_timeout_defaults(ob.l4proto);
  ob.policy.assign(defaults.begin(), defaults.end());
  for (const auto& [st, secs] : written) {
    const std::optional<uint32_t> idx = detail::lookup_name(states, st.text);
    if (!idx) fail(st, "invalid state for this protocol: '" + st.text + "'");
    ob.policy[*idx] = secs;
  }
}

// Deleting an object a rule names fails, as in nft (EBUSY).
void parser::object_in_use(size_t ti, size_t oi, const token& at) {
  const table& tb = rs_.tables[ti];
  const object& ob = tb.objects[oi];
  for (size_t c = 0; c < tb.chains.size(); ++c) {
    if (info_[ti].chain_deleted[c]) continue;
    for (const rule& rl : tb.chains[c].rules)
      for (const statement& st : rl.stmts)
        if (st.obj_name == ob.name && st.kind == ob.spec.kind)
          fail(at, std::string(obj_kind_name(ob.kind)) + " '" + ob.name +
                       "' is in use: rule handle " + std::to_string(rl.handle) + " in chain '" +
                       tb.chains[c].name + "' names it (nft: Device or resource busy)");
  }
}

// `counter|quota|limit name "NAME"` (or NAME unquoted).
void parser::object_ref(statement& st, obj_kind kind) {
  expect_word("name");
  const token name = peek();
  if (name.kind != tok::string && name.kind != tok::word)
    unexpected(name, std::string(obj_kind_name(kind)) + " name");
  take();
  if (name.text.empty() || name.text.size() > kMaxNameLength)
    fail(name, "invalid " + std::string(obj_kind_name(kind)) + " name");
  st.obj_name = name.text;
  obj_uses_.push_back(
      {current_table_, current_chain_, kind, name.text, pos_of(name), rule_handle_});
}

void parser::check_object_uses() {
  for (const obj_use& u : obj_uses_) {
    if (info_[u.table].deleted) continue;
    if (!find_object(u.table, u.kind, u.name))
      fail(u.at, std::string(obj_kind_name(u.kind)) + " '" + u.name + "' does not exist in " +
                     table_title(rs_, u.table) + " (nft: No such file or directory)");
  }
}

// add rule T C [position H | handle H | index I] RULE     (after that rule; else at the end)
// insert rule T C [position H | handle H | index I] RULE  (before it; else at the start)
// replace rule T C handle H RULE                          (in its place, keeping its handle)
void parser::rule_cmd(rule_verb verb) {
  const table_ref r = table_spec();
  const size_t ti = require_table(r);
  const token name = expect_name("chain name");
  const size_t ci = require_chain(ti, name);
  std::optional<size_t> at_rule;  // index of the rule named by position/handle/index
  if (at_word("position") || at_word("handle") || at_word("index")) {
    const token kw = take();
    const token n = peek();
    if (n.kind != tok::number) unexpected(n, kw.text == "index" ? "index number" : "handle number");
    const uint64_t v = number(take());
    if (kw.text == "index") {
      if (verb == rule_verb::replace) unexpected(kw, "handle");
      if (v >= rs_.tables[ti].chains[ci].rules.size())
        fail(span_from(kw), "no rule at index " + std::to_string(v) + " in chain '" + name.text +
                                "' of " + table_title(rs_, ti));
      at_rule = static_cast<size_t>(v);
    } else {
      if (verb == rule_verb::replace && kw.text != "handle") unexpected(kw, "handle");
      at_rule = rule_at_handle(ti, ci, v, kw);
    }
  } else if (verb == rule_verb::replace) {
    unexpected(peek(), "handle");
  }
  log_.clear();
  if (at_statement_end()) unexpected(peek(), "a match or statement");
  auto& rules = rs_.tables[ti].chains[ci].rules;
  if (verb == rule_verb::replace) {
    // The new rule takes the old one's place and handle (as in nft; its counter starts
    // again).
    const uint64_t handle = rules[*at_rule].handle;
    forget_refs(ti, ci, handle);
    --rules_;
    rules[*at_rule] = new_rule(ti, ci, handle);
    return end_statement();
  }
  rule rl = new_rule(ti, ci);
  size_t where_to = verb == rule_verb::add ? rules.size() : 0;
  if (at_rule) where_to = verb == rule_verb::add ? *at_rule + 1 : *at_rule;
  rules.insert(rules.begin() + static_cast<ptrdiff_t>(where_to), std::move(rl));
  end_statement();
}

}  // namespace ctgate::nft::detail

namespace ctgate::nft {
namespace {

namespace fs = std::filesystem;
using detail::canonical_key;
using detail::index_lines;
using detail::parse_failure;
using detail::parser;
using detail::read_file;
using detail::source;
using detail::to_error;

// Internal errors (bad_alloc, a bug) have no position: they name the file only.
error internal_error(const std::string& file, const std::exception& ex) {
  return error{
      .file = file, .severity = "error", .message = std::string("internal error: ") + ex.what()};
}

result<ruleset> parse_source(std::deque<source>& sources, const parse_limits& limits,
                             const ruleset* base) {
  try {
    parser p(sources, limits);
    return p.run(base);
  } catch (const parse_failure& f) {
    return to_error(sources, f);
  } catch (const std::exception& ex) {
    return internal_error(sources.empty() ? "" : sources[0].name, ex);
  }
}

}  // namespace

ruleset skeleton_of(const ruleset& rs) {
  ruleset out;
  out.last_table_handle = rs.last_table_handle;
  out.tables.reserve(rs.tables.size());
  for (const table& tb : rs.tables) {
    table t;
    t.handle = tb.handle;
    t.last_handle = tb.last_handle;
    t.fam = tb.fam;
    t.name = tb.name;
    t.loc = tb.loc;
    t.objects = tb.objects;
    for (const chain& ch : tb.chains) {
      chain c;
      c.handle = ch.handle;
      c.name = ch.name;
      c.loc = ch.loc;
      c.base = ch.base;
      c.hook = ch.hook;
      c.priority = ch.priority;
      c.policy_drop = ch.policy_drop;
      t.chains.push_back(std::move(c));
    }
    for (const set& st : tb.sets) {
      set s;
      s.handle = st.handle;
      s.serial = st.serial;
      s.name = st.name;
      s.loc = st.loc;
      s.type = st.type;
      s.data_type = st.data_type;
      s.interval = st.interval;
      s.auto_merge = st.auto_merge;
      s.dynamic = st.dynamic;
      s.timeout_flag = st.timeout_flag;
      s.timeout_ms = st.timeout_ms;
      s.gc_interval_ms = st.gc_interval_ms;
      s.size_limit = st.size_limit;
      t.sets.push_back(std::move(s));
    }
    out.tables.push_back(std::move(t));
  }
  return out;
}

result<std::optional<std::vector<element_command>>> parse_element_commands(
    const std::string& text, const std::string& name, const ruleset& skeleton) {
  std::deque<source> sources(1);
  try {
    source& s = sources[0];
    s.name = name;
    s.dir = fs::path(name).parent_path();
    s.key = name.empty() ? std::string() : canonical_key(name);
    s.text = text;
    index_lines(s);
    std::vector<element_command> cmds;
    parser p(sources, {});
    p.record_elements(&cmds);
    p.run(&skeleton);
    // Included files: errors found later would quote the wrong text.
    if (sources.size() > 1) return std::optional<std::vector<element_command>>{};
    return std::optional<std::vector<element_command>>(std::move(cmds));
  } catch (const parser::not_element_only&) {
    return std::optional<std::vector<element_command>>{};
  } catch (const parse_failure& f) {
    return to_error(sources, f);
  } catch (const std::exception& ex) {
    return internal_error(name, ex);
  }
}

result<ruleset> parse_string(const std::string& text, const std::string& name,
                             const parse_limits& limits, const ruleset* base) {
  try {
    std::deque<source> sources(1);
    source& s = sources[0];
    s.name = name;
    s.dir = fs::path(name).parent_path();
    s.key = name.empty() ? std::string() : canonical_key(name);
    s.text = text;
    index_lines(s);
    return parse_source(sources, limits, base);
  } catch (const std::exception& ex) {
    return internal_error(name, ex);
  }
}

result<ruleset> parse_file(const std::string& path, const parse_limits& limits,
                           const ruleset* base) {
  try {
    result<std::string> text = read_file(path);
    if (!text) {
      return error{.file = path,
                   .severity = "error",
                   .message = "cannot open '" + path + "': " + text.error().message};
    }
    return parse_string(*text, path, limits, base);
  } catch (const std::exception& ex) {
    return internal_error(path, ex);
  }
}

}  // namespace ctgate::nft
