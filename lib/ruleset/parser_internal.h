// Internal to lib/ruleset: the grammar of the nftables subset (nft's parser_bison.y), a
// recursive-descent parser over the token stream (token_stream.h) that builds the ast.h tree
// with values normalized through the field and type tables (fields.h). It keeps the symbol
// tables (which tables, chains, sets and defines exist) and records what only the whole
// ruleset can settle; evaluation (evaluate.h) checks that as it goes and at the end, and the
// finished ruleset goes to compile() (compiled.h).
//
// The class is split over three files by part of the grammar: parser.cpp (entry points,
// defines, commands, tables, chains), parser_set.cpp (values, element lists, sets) and
// parser_rule.cpp (rules: matches and statements).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ruleset/ast.h"
#include "ruleset/element_update.h"
#include "ruleset/evaluate.h"
#include "ruleset/fields.h"
#include "ruleset/lexer.h"
#include "ruleset/token_stream.h"

namespace ctgate::nft::detail {

uint64_t next_serial();

constexpr int kMaxNesting = 64;
// A define may not grow past this many tokens, and all expansions together past the total:
// nested defines can otherwise double in size at every level.
constexpr size_t kMaxDefineTokens = 1 << 16;
constexpr size_t kMaxExpandedTokens = 1 << 22;
constexpr size_t kMaxNameLength = 255;     // NFT_NAME_MAXLEN includes the NUL
constexpr size_t kMaxLogPrefix = 127;      // NF_LOG_PREFIXLEN includes the NUL
constexpr size_t kMaxCommentLength = 128;  // what nft accepts for a rule comment

// What a set's or a match's elements are made of: one value kind per field of its key (one,
// or a concatenation's several). Converts from a single kind.
struct key_kinds {
  key_kinds(vkind k) : kinds{k} {}  // NOLINT(google-explicit-constructor): a plain key
  explicit key_kinds(std::vector<vkind> ks) : kinds(std::move(ks)) {}
  std::vector<vkind> kinds;
  size_t width() const { return kinds.size(); }
};

enum class rel : uint8_t { implicit, eq, ne, lt, gt, le, ge, neg };
enum class empty_rule : uint8_t { allow, set_is_empty, syntax };

inline bool one_of(std::string_view w, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

class parser {
 public:
  parser(std::deque<source>& sources, const parse_limits& limits)
      : sources_(sources), ts_(sources), limits_(limits) {}

  // The file's commands applied to `base` (nullptr: an empty ruleset).
  ruleset run(const ruleset* base);

  // Element-only mode (parse_element_commands): element commands are recorded in `out`
  // instead of applied, and any other command throws not_element_only.
  struct not_element_only {};
  void record_elements(std::vector<element_command>* out) { element_cmds_ = out; }

 private:
  // --- tokens (parser.cpp) ---

  const token& peek(size_t k = 0) {
    if (k == 0) expand_variables();
    return ts_.peek(k);
  }

  token take() {
    token t = ts_.peek(0).kind == tok::variable ? (expand_variables(), ts_.take()) : ts_.take();
    log_.push_back(t);
    return t;
  }

  static bool is_sep(const token& t) { return t.kind == tok::newline || t.kind == tok::semicolon; }
  bool at(tok k) { return peek().kind == k; }
  bool at_word(std::string_view w, size_t ahead = 0) {
    const token& t = peek(ahead);
    return t.kind == tok::word && t.text == w;
  }
  bool accept(tok k) {
    if (!at(k)) return false;
    take();
    return true;
  }
  bool accept_word(std::string_view w) {
    if (!at_word(w)) return false;
    take();
    return true;
  }
  token expect(tok k, std::string_view expecting) {
    if (!at(k)) unexpected(peek(), expecting);
    return take();
  }
  token expect_word(std::string_view w) {
    if (!at_word(w)) unexpected(peek(), w);
    return take();
  }
  token expect_name(std::string_view what) {
    if (!at(tok::word)) unexpected(peek(), what);
    token t = take();
    if (t.text.size() > kMaxNameLength)
      fail(t, "name too long (maximum " + std::to_string(kMaxNameLength) + " characters)");
    return t;
  }
  bool at_statement_end() {
    const tok k = peek().kind;
    return k == tok::newline || k == tok::semicolon || k == tok::rbrace || k == tok::end;
  }
  void end_statement() {
    const token& t = peek();
    if (is_sep(t)) {
      take();
      return;
    }
    if (t.kind == tok::rbrace || t.kind == tok::end) return;
    unexpected(t, "newline or semicolon");
  }
  void skip_newlines() {
    while (at(tok::newline)) take();
  }

  location loc_of(const pos& p) const { return {sources_[p.src].name, p.line, p.col, p.len}; }
  std::string where(const location& l) const {
    return l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.col);
  }

  void enter_block(const token& brace) {
    if (++depth_ > kMaxNesting) fail(brace, "nesting too deep (more than 64 levels)");
    scopes_.emplace_back();
  }
  void leave_block() {
    --depth_;
    scopes_.pop_back();
  }

  void expand_variables();
  pos span_from(const token& first) const;
  std::string text_since(size_t from) const;

  // --- defines (parser.cpp) ---

  const std::vector<token>* lookup_define(const std::string& name) const;
  void define_stmt();

  // --- commands, tables and chains (parser.cpp) ---

  void adopt(const ruleset& base);
  void compact();
  void command();
  void flush_cmd();
  void add_cmd(bool create);
  void delete_cmd();

  struct table_ref {
    family fam = family::ip;
    token name;
  };

  table_ref table_spec();
  std::optional<size_t> find_table(const table_ref& r) const;
  size_t require_table(const table_ref& r);
  void table_cmd(bool create);
  void table_body(size_t ti);
  void chain_cmd(bool create);
  void chain_def(size_t ti, const token& name, bool create);
  size_t require_chain(size_t ti, const token& name);
  size_t require_set(size_t ti, const token& name);
  uint64_t handle_spec();
  size_t rule_at_handle(size_t ti, size_t ci, uint64_t handle, const token& at);
  void chain_in_use(size_t ti, size_t ci, const token& at);
  void set_in_use(size_t ti, size_t si, const token& at);
  void delete_chain(size_t ti, size_t ci);
  // named objects (parser.cpp)
  std::optional<size_t> find_object(size_t ti, obj_kind kind, const std::string& name) const;
  void object_cmd(bool create, obj_kind kind);
  void object_def(size_t ti, obj_kind kind, const token& name, bool create);
  void object_in_use(size_t ti, size_t oi, const token& at);
  void object_ref(statement& st, obj_kind kind);
  rule new_rule(size_t ti, size_t ci, uint64_t handle = 0);
  void give_rule_handle(size_t ti, rule& rl, uint64_t handle);
  void take_handles(size_t ti);
  void forget_refs(size_t ti, std::optional<size_t> ci, std::optional<uint64_t> rule);
  void chain_body(size_t ti, size_t ci, bool existed);
  void hook_spec(size_t ti, size_t ci);
  void priority_spec(chain& ch, family fam, hook hk, const token& keyword);
  enum class rule_verb : uint8_t { add, insert, replace };
  void rule_cmd(rule_verb verb);

  // --- values, element lists and sets (parser_set.cpp) ---

  uint64_t number(const token& t);
  uint64_t bounded(const token& t, uint64_t max);
  uint64_t named(const token& t, std::span<const name_value> names, vkind k, const char* what);
  uint64_t scalar(vkind k);
  elem_syntax value_elem(vkind k);
  uint128 addr6();
  uint64_t flag_expr(vkind k);
  uint64_t flag_list(vkind k);
  elem_syntax element(const key_kinds& k);
  elem_syntax concat_element(const key_kinds& k);
  void element_options(elem_syntax& e);
  void live_elements(set& st, const std::vector<elem_syntax>& elems, bool remove);
  uint64_t duration(const token& t, uint64_t max_ms);
  void element_list(const key_kinds& k, std::vector<elem_syntax>& out, int depth, empty_rule empty);
  void set_cmd(bool create, bool is_map = false);
  void set_def(size_t ti, const token& name, bool create, bool is_map = false);
  void set_body(size_t ti, size_t si, const token& name, bool existed, bool is_map);
  static constexpr size_t kNoChain = SIZE_MAX;  // a reference from a named map
  void map_element_list(const key_kinds& k, const std::string& data_type,
                        std::vector<elem_syntax>& out, size_t ti, size_t ci);
  key_kinds set_key_kinds(const set& st, const token& at);
  std::string set_type_spec();
  map_data map_value(const std::string& data_type, size_t ti, size_t ci);
  void typeof_spec(set& st, bool is_map);
  bool object_map(statement& st, obj_kind kind);
  std::string typeof_expr();
  void element_cmd(bool remove = false);
  void ct_timeout_options(size_t ti, object& ob, const token& name);
  void record_element_cmd(bool remove, size_t ti, size_t si, const token& name,
                          const std::vector<elem_syntax>& elems);

  // --- rules (parser_rule.cpp) ---

  bool starts_match();
  bool starts_statement();
  rule parse_rule(size_t ti, size_t ci);
  field sub_field(const token& head, const header_fields& h);
  match parse_match(const token& head, field f, std::vector<field> concat);
  field parse_field(const token& head);
  void tcp_option_size();
  void numgen_spec(statement& st);
  void jhash_spec(statement& st);
  void symhash_spec(statement& st);
  std::vector<field> concat_fields(const token& head, field first);
  key_kinds key_kinds_of(field f, const std::vector<field>& concat, const token& at);
  vkind map_key_kind(field f, const token& at);
  statement vmap_statement(const token& head, field f, std::vector<field> concat, size_t ti,
                           size_t ci);
  void map_operand(statement& st, const key_kinds& k, const std::string& data_type, size_t ti,
                   size_t ci);
  void concat_relation(match& mt, rel r, const token& op_tok);
  rel parse_op(token* op_tok);
  static cmp_op cmp_of(rel r);
  static bool is_order(rel r);
  void relation(match& mt);
  void iface_relation(match& mt, rel r, const token& op_tok, const char* fname);
  void bitmask_relation(match& mt, rel r, const token& op_tok, const char* fname);
  void value_relation(match& mt, rel r, const token& op_tok);
  void masked(match& mt, vkind k);
  statement parse_statement(size_t ti, size_t ci);
  void refuse_on_bridge(const token& head);
  void check_bridge_only(const token& head, field f);
  // A rule's `ether type P` (or, outside inet tables, `meta protocol P`) of a protocol nft knows,
  // not yet followed by a match of P's header: the match's index in the rule, and P.
  struct link_dependency {
    size_t at;
    uint16_t proto;
  };
  void track_link_layer(const match& mt, const pos& at, rule& rl,
                        std::vector<link_dependency>& pending);
  void reject_options(statement& st);
  void log_options(statement& st);
  void log_flags(statement& st);
  void synproxy_options(statement& st);
  void nat_options(const token& head, statement& st, bool transport);
  void nat_address6(statement& st, bool to, bool transport);
  void nat_map(const token& head, statement& st, bool addr_port, bool transport);
  void nat_ports(statement& st, bool transport);
  void meter_body(statement& st);
  void quota_options(statement& st);
  uint64_t byte_amount();
  void dynset_element(statement& st, bool meter);
  void mark_dynamic_sets();
  void limit_options(statement& st);
  void set_statement(const token& head, statement& st);

  std::deque<source>& sources_;
  token_stream ts_;
  std::vector<std::unordered_map<std::string, std::vector<token>>> scopes_;
  std::vector<token> log_;  // tokens taken since the current statement began
  size_t expanded_ = 0;
  parse_limits limits_;
  size_t rules_ = 0;     // rules parsed so far, against limits_.rules
  size_t elements_ = 0;  // named-set elements parsed so far, against limits_.set_elements
  void count_rule(const token& at);
  void count_elements(const token& at, size_t n);
  int depth_ = 0;
  size_t current_table_ = 0;
  size_t current_chain_ = 0;
  // Handles: a rule's references carry a provisional id until the rule has its handle.
  static constexpr uint64_t kProvisional = uint64_t{1} << 63;
  uint64_t rule_handle_ = 0;  // of the rule being parsed, for its references
  uint64_t provisional_ = 0;
  int block_depth_ = 0;  // inside a table block, whose handles come at its end
  ruleset rs_;
  std::vector<table_info> info_;
  std::vector<jump_ref> jumps_;
  std::vector<set_use> set_uses_;
  std::vector<reject_use> rejects_;
  std::vector<nat_use> nat_uses_;
  bool rule_transport_ = false;  // the rule being parsed matches a transport protocol
  bool rule_ipv4_ = false;       // ... matches IPv4 (an `ip` field or meta nfproto ipv4)
  bool rule_ipv6_ = false;       // ... matches IPv6 (an `ip6` field or meta nfproto ipv6)
  bool nat_map_elems_ = false;   // reading a NAT statement's anonymous map: ranges, ADDR . PORT
  bool nat_family_ = false;      // the NAT statement just read named its family (`snat ip to`)
  // `counter|quota|limit name "NAME"` in this file's rules, checked once the file is read (a
  // table block may declare the object after the rule).
  struct obj_use {
    size_t table;
    size_t chain;
    obj_kind kind;
    std::string name;
    pos at;
    uint64_t rule = 0;
  };
  std::vector<obj_use> obj_uses_;
  std::vector<element_command>* element_cmds_ = nullptr;  // element-only mode
  void check_object_uses();
};

}  // namespace ctgate::nft::detail
