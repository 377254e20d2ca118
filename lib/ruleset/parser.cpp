// Parser of the nftables subset ctgate reads (docs/ruleset.md). Recursive descent over the
// token stream of lexer.h, producing the ast.h tree with values normalized.
//
// Errors: validation throws an internal parse_failure that the public entry points turn into
// an error; only the first error is reported, the way nft stops at its first. Recursion is
// bounded: blocks and braces nest at most kMaxNesting deep, includes kMaxIncludeDepth deep.
//
// Includes are resolved in the token stream, below the parser: `include "f"` at the start of a
// statement is replaced by the tokens of f, so it works at top level and inside table, chain
// and set blocks as in nft. $variables are expanded by the parser when they reach the front
// of the lookahead, so a define takes effect for the tokens after it and respects block scope.
#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "ruleset/ast.h"
#include "ruleset/lexer.h"

namespace ctgate::nft {
namespace {

namespace fs = std::filesystem;
using detail::describe;
using detail::tok;
using detail::token;

constexpr size_t kMaxIncludeDepth = 16;
constexpr int kMaxNesting = 64;
// Rulesets are kilobytes; the cap only guards against pointing the loader at a huge file.
constexpr size_t kMaxFileBytes = 16 << 20;
// A define may not grow past this many tokens, and all expansions together past the total:
// nested defines can otherwise double in size at every level.
constexpr size_t kMaxDefineTokens = 1 << 16;
constexpr size_t kMaxExpandedTokens = 1 << 22;
constexpr size_t kMaxNameLength = 255;     // NFT_NAME_MAXLEN includes the NUL
constexpr size_t kMaxLogPrefix = 127;      // NF_LOG_PREFIXLEN includes the NUL
constexpr size_t kMaxCommentLength = 128;  // what nft accepts for a rule comment

// A position inside one of the parser's sources.
struct pos {
  uint32_t src = 0;
  int line = 0;
  int col = 0;
  int len = 1;
};

pos pos_of(const token& t) { return {t.src, t.line, t.col, t.len}; }

struct parse_failure {
  pos at;
  std::string message;
};

[[noreturn]] void fail(const pos& at, std::string message) {
  throw parse_failure{at, std::move(message)};
}
[[noreturn]] void fail(const token& t, std::string message) { fail(pos_of(t), std::move(message)); }
[[noreturn]] void unsupported(const token& t, const std::string& feature) {
  fail(t, "not supported: " + feature);
}
[[noreturn]] void unexpected(const token& t, std::string_view expecting = {}) {
  if (t.kind == tok::invalid) fail(t, t.text);
  std::string msg = "syntax error, unexpected " + describe(t);
  if (!expecting.empty()) msg += ", expecting " + std::string(expecting);
  fail(t, std::move(msg));
}

struct source {
  std::string name;  // as given: the parse_file path, or the include path as written
  fs::path dir;      // where relative includes of this file resolve
  std::string key;   // canonical path for include cycle detection; empty if not a file
  std::string text;
  std::vector<size_t> line_starts;
};

void index_lines(source& s) {
  s.line_starts.push_back(0);
  for (size_t i = 0; i < s.text.size(); ++i)
    if (s.text[i] == '\n') s.line_starts.push_back(i + 1);
}

std::string line_text(const source& s, int line) {
  if (line < 1 || static_cast<size_t>(line) > s.line_starts.size()) return {};
  const size_t begin = s.line_starts[line - 1];
  size_t end = s.text.find('\n', begin);
  if (end == std::string::npos) end = s.text.size();
  if (end > begin && s.text[end - 1] == '\r') --end;
  return s.text.substr(begin, end - begin);
}

std::string canonical_key(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  if (ec) c = fs::absolute(p, ec).lexically_normal();
  return c.string();
}

// Reads a whole file; an empty optional and `why` on failure.
std::optional<std::string> read_file(const fs::path& p, std::string* why) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    *why = "is a directory";
    return std::nullopt;
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    *why = std::error_code(errno, std::generic_category()).message();
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      *why = "larger than 16 MiB";
      return std::nullopt;
    }
  }
  return text;
}

// '*' and '?' wildcards, for `include "dir/*.nft"`. Iterative: no recursion on input.
bool wildcard_match(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == s[i])) {
      ++p;
      ++i;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

// --- token stream with includes -------------------------------------------------------------

class token_stream {
 public:
  explicit token_stream(std::deque<source>& sources) : sources_(sources) {}

  void start(uint32_t src) { frames_.push_back(frame{src, detail::lexer(sources_[src].text), {}}); }

  const token& peek(size_t k) {
    while (buf_.size() <= k) fill_one();
    return buf_[k];
  }
  token take() {
    peek(0);
    token t = std::move(buf_.front());
    buf_.pop_front();
    return t;
  }
  void push_front(std::vector<token> tokens) {
    buf_.insert(buf_.begin(), std::make_move_iterator(tokens.begin()),
                std::make_move_iterator(tokens.end()));
  }

 private:
  struct pending_file {
    fs::path path;
    std::string name;
  };
  struct frame {
    uint32_t src;
    detail::lexer lx;
    std::vector<pending_file> rest;  // further matches of a wildcard include, in order
  };

  token lex(frame& f) {
    token t = f.lx.next();
    t.src = f.src;
    return t;
  }

  void emit(token t) {
    prev_ = t.kind;
    buf_.push_back(std::move(t));
  }

  bool at_statement_start() const {
    return prev_ == tok::newline || prev_ == tok::semicolon || prev_ == tok::lbrace ||
           prev_ == tok::rbrace;
  }

  void fill_one() {
    for (;;) {
      frame& f = frames_.back();
      token t = lex(f);
      if (t.kind == tok::end && frames_.size() > 1) {
        // The end of an included file ends the statement in it.
        t.kind = tok::newline;
        t.text = "\n";
        std::vector<pending_file> rest = std::move(f.rest);
        frames_.pop_back();
        if (!rest.empty()) open(rest.front(), t, {rest.begin() + 1, rest.end()});
        emit(std::move(t));
        return;
      }
      if (t.kind == tok::word && t.text == "include" && at_statement_start()) {
        include(f);
        continue;
      }
      emit(std::move(t));
      return;
    }
  }

  void include(frame& f) {
    token path = lex(f);
    if (path.kind != tok::string) unexpected(path, "string");
    token sep = lex(f);
    if (sep.kind != tok::newline && sep.kind != tok::semicolon && sep.kind != tok::end)
      unexpected(sep, "newline or semicolon");
    prev_ = tok::newline;
    if (frames_.size() > kMaxIncludeDepth)
      fail(path, "Include nested too deeply, max " + std::to_string(kMaxIncludeDepth) + " levels");
    if (path.text.empty()) fail(path, "include of an empty path");
    fs::path written(path.text);
    fs::path full = written.is_absolute() ? written : sources_[f.src].dir / written;
    std::vector<pending_file> files;
    const std::string leaf = written.filename().string();
    if (leaf.find_first_of("*?") != std::string::npos) {
      if (written.parent_path().string().find_first_of("*?[") != std::string::npos)
        unsupported(path, "wildcards in include directories");
      files = glob(full, written, path);
    } else if (path.text.find('[') != std::string::npos) {
      unsupported(path, "'[' patterns in include paths");
    } else {
      files.push_back({full, path.text});
    }
    if (files.empty()) return;  // a wildcard that matches nothing includes nothing, as in nft
    open(files.front(), path, {files.begin() + 1, files.end()});
  }

  std::vector<pending_file> glob(const fs::path& full, const fs::path& written, const token& at) {
    std::vector<pending_file> out;
    std::error_code ec;
    const fs::path dir = full.parent_path().empty() ? fs::path(".") : full.parent_path();
    const std::string pattern = full.filename().string();
    fs::directory_iterator it(dir, ec);
    if (ec) fail(at, "cannot open '" + dir.string() + "': " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const std::string leaf = it->path().filename().string();
      if (leaf.empty() || leaf[0] == '.' || !wildcard_match(pattern, leaf)) continue;
      if (!it->is_regular_file(ec)) continue;
      out.push_back({it->path(), (written.parent_path() / leaf).string()});
    }
    std::sort(out.begin(), out.end(),
              [](const pending_file& a, const pending_file& b) { return a.path < b.path; });
    return out;
  }

  void open(const pending_file& file, const token& at, std::vector<pending_file> rest) {
    source s;
    s.name = file.name;
    s.dir = file.path.parent_path();
    s.key = canonical_key(file.path);
    for (const frame& fr : frames_)
      if (sources_[fr.src].key == s.key)
        fail(at, "include cycle: '" + file.name + "' is already being read");
    std::string why;
    std::optional<std::string> text = read_file(file.path, &why);
    if (!text) fail(at, "cannot open '" + file.name + "': " + why);
    s.text = std::move(*text);
    index_lines(s);
    sources_.push_back(std::move(s));
    const auto src = static_cast<uint32_t>(sources_.size() - 1);
    frames_.push_back(frame{src, detail::lexer(sources_[src].text), std::move(rest)});
  }

  std::deque<source>& sources_;  // a deque: lexers hold views into texts, which must not move
  std::vector<frame> frames_;
  std::deque<token> buf_;
  tok prev_ = tok::newline;
};

// --- value kinds ----------------------------------------------------------------------------

// How the value of a field is written and checked.
enum class vkind : uint8_t { addr, port, proto, mark, icmp, state, flags, iface };

vkind kind_of(field f) {
  switch (f) {
    case field::ip_saddr:
    case field::ip_daddr: return vkind::addr;
    case field::ip_protocol:
    case field::meta_l4proto: return vkind::proto;
    case field::meta_iif:
    case field::meta_oif:
    case field::meta_iifname:
    case field::meta_oifname: return vkind::iface;
    case field::meta_mark:
    case field::ct_mark: return vkind::mark;
    case field::ct_state: return vkind::state;
    case field::tcp_flags: return vkind::flags;
    case field::icmp_type: return vkind::icmp;
    default: return vkind::port;
  }
}

uint64_t max_of(vkind k) {
  switch (k) {
    case vkind::port: return 0xffff;
    case vkind::proto:
    case vkind::icmp:
    case vkind::flags: return 0xff;
    default: return 0xffffffff;
  }
}

const char* expecting_of(vkind k) {
  switch (k) {
    case vkind::addr: return "IPv4 address";
    case vkind::port: return "port number";
    case vkind::proto: return "protocol";
    case vkind::mark: return "number";
    case vkind::icmp: return "ICMP type";
    case vkind::state: return "ct state";
    case vkind::flags: return "TCP flag";
    case vkind::iface: return "interface name";
  }
  return "value";
}

// The set type whose elements a field can be looked up in; nullptr if none.
const char* set_type_for(field f) {
  switch (kind_of(f)) {
    case vkind::addr: return "ipv4_addr";
    case vkind::port: return "inet_service";
    case vkind::proto: return "inet_proto";
    case vkind::mark: return "mark";
    default: return nullptr;
  }
}

std::optional<vkind> kind_of_set_type(std::string_view type) {
  if (type == "ipv4_addr") return vkind::addr;
  if (type == "inet_service") return vkind::port;
  if (type == "inet_proto") return vkind::proto;
  if (type == "mark") return vkind::mark;
  return std::nullopt;
}

uint8_t l4_proto_of(field f) {
  switch (f) {
    case field::tcp_sport:
    case field::tcp_dport:
    case field::tcp_flags: return 6;
    case field::udp_sport:
    case field::udp_dport: return 17;
    case field::icmp_type: return 1;
    default: return 0;
  }
}

std::string proto_text(uint32_t p) {
  const char* n = detail::name_of(detail::protocol_names(), p);
  return n ? n : std::to_string(p);
}

int popcount(uint64_t v) {
  int n = 0;
  for (; v; v &= v - 1) ++n;
  return n;
}

bool is_verdict(stmt_kind k) {
  return k == stmt_kind::accept || k == stmt_kind::drop || k == stmt_kind::reject ||
         k == stmt_kind::jump || k == stmt_kind::goto_ || k == stmt_kind::return_;
}

bool one_of(std::string_view w, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

// nft words that start a match or statement ctgate does not implement.
const char* unsupported_rule_word(std::string_view w) {
  static const std::pair<std::string_view, const char*> words[] = {
      {"ip6", "ip6 (IPv6)"},
      {"icmpv6", "icmpv6"},
      {"icmp6", "icmpv6"},
      {"ether", "ether"},
      {"vlan", "vlan"},
      {"arp", "arp"},
      {"fib", "fib"},
      {"socket", "socket"},
      {"osf", "osf"},
      {"rt", "rt"},
      {"ipsec", "ipsec"},
      {"numgen", "numgen"},
      {"jhash", "jhash"},
      {"symhash", "symhash"},
      {"sctp", "sctp"},
      {"dccp", "dccp"},
      {"udplite", "udplite"},
      {"esp", "esp"},
      {"ah", "ah"},
      {"comp", "comp"},
      {"gre", "gre"},
      {"gretap", "gretap"},
      {"geneve", "geneve"},
      {"vxlan", "vxlan"},
      {"igmp", "igmp"},
      {"exthdr", "exthdr"},
      {"hbh", "IPv6 extension headers"},
      {"frag", "IPv6 extension headers"},
      {"dst", "IPv6 extension headers"},
      {"mh", "IPv6 extension headers"},
      {"srh", "IPv6 extension headers"},
      {"tunnel", "tunnel"},
      {"masquerade", "masquerade (NAT)"},
      {"snat", "snat (NAT)"},
      {"dnat", "dnat (NAT)"},
      {"redirect", "redirect (NAT)"},
      {"queue", "queue"},
      {"dup", "dup"},
      {"fwd", "fwd"},
      {"tproxy", "tproxy"},
      {"quota", "quota"},
      {"flow", "flow offload"},
      {"update", "dynamic set updates"},
      {"add", "dynamic set updates"},
      {"delete", "dynamic set updates"},
      {"set", "dynamic set updates"},
      {"continue", "continue"},
      {"xt", "xt (iptables-nft compat)"},
      {"secmark", "secmark"},
      {"last", "last"},
      {"vmap", "vmap"},
      {"map", "map"},
      {"pkttype", "meta pkttype"},
      {"cpu", "meta cpu"},
      {"iiftype", "meta iiftype"},
      {"oiftype", "meta oiftype"},
      {"iifgroup", "meta iifgroup"},
      {"oifgroup", "meta oifgroup"},
      {"skuid", "meta skuid"},
      {"skgid", "meta skgid"},
      {"rtclassid", "meta rtclassid"},
      {"cgroup", "meta cgroup"},
      {"ibrname", "meta ibrname"},
      {"obrname", "meta obrname"},
      {"time", "meta time"},
      {"day", "meta day"},
      {"hour", "meta hour"},
      {"priority", "meta priority"},
  };
  for (const auto& [word, feature] : words)
    if (w == word) return feature;
  return nullptr;
}

// --- the parser -----------------------------------------------------------------------------

struct elem_syntax {
  value_range r;
  std::string text;
  pos at;
  bool prefix = false;
  bool range = false;
};

enum class rel : uint8_t { implicit, eq, ne, lt, gt, le, ge, neg };
enum class empty_rule : uint8_t { allow, set_is_empty, syntax };

struct table_info {
  bool has_body = false;
  std::unordered_map<std::string, size_t> chains;
  std::unordered_map<std::string, size_t> sets;
  std::vector<bool> chain_body;
  std::vector<bool> set_body;
  std::vector<bool> set_automerge;
};

// References checked once the whole ruleset is read (nft resolves them per table, so a rule
// may name a chain or set declared further down).
struct jump_ref {
  size_t table;
  size_t chain;
  std::string target;
  pos at;
  bool is_goto;
};
struct set_use {
  size_t table;
  std::string name;
  field f;
  pos at;
};
struct reject_use {
  size_t table;
  size_t chain;
  pos at;
};

class parser {
 public:
  explicit parser(std::deque<source>& sources) : sources_(sources), ts_(sources) {}

  ruleset run() {
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
    check_references();
    return std::move(rs_);
  }

 private:
  // --- tokens ---

  const token& peek(size_t k = 0) {
    if (k == 0) expand_variables();
    return ts_.peek(k);
  }

  token take() {
    token t = ts_.peek(0).kind == tok::variable ? (expand_variables(), ts_.take()) : ts_.take();
    log_.push_back(t);
    return t;
  }

  void expand_variables() {
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

  // The extent from `first` to the last token taken, when both are on one line.
  pos span_from(const token& first) const {
    pos p = pos_of(first);
    if (log_.empty()) return p;
    const token& last = log_.back();
    if (!first.expanded && !last.expanded && last.src == first.src && last.line == first.line &&
        last.col >= first.col)
      p.len = last.col + last.len - first.col;
    return p;
  }

  // The tokens taken since log index `from`, as written when they are plain source text.
  std::string text_since(size_t from) const {
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

  // --- numbers and values ---

  uint64_t number(const token& t) {
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

  uint64_t bounded(const token& t, uint64_t max) {
    const uint64_t v = number(t);
    if (v > max) fail(t, "Value " + t.text + " exceeds valid range 0-" + std::to_string(max));
    return v;
  }

  uint64_t named(const token& t, std::span<const detail::name_value> names, vkind k,
                 const char* what) {
    if (t.kind == tok::number) return bounded(t, max_of(k));
    if (t.kind != tok::word) unexpected(t, expecting_of(k));
    if (std::optional<uint32_t> v = detail::lookup_name(names, t.text)) return *v;
    fail(t, std::string("unknown ") + what + " '" + t.text + "'");
  }

  // One value of kind k.
  uint64_t scalar(vkind k) {
    const token t = peek();
    if (t.kind != tok::number && t.kind != tok::word) unexpected(t, expecting_of(k));
    take();
    switch (k) {
      case vkind::addr: {
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
      case vkind::proto: return named(t, detail::protocol_names(), k, "protocol");
      case vkind::mark: return bounded(t, 0xffffffff);
      case vkind::icmp: return named(t, detail::icmp_type_names(), k, "ICMP type");
      case vkind::state: return named(t, detail::ct_state_names(), k, "ct state");
      case vkind::flags: return named(t, detail::tcp_flag_names(), k, "TCP flag");
      case vkind::iface: break;
    }
    unexpected(t, expecting_of(k));
  }

  // A value, a range `a-b`, or for addresses a prefix `a/len`.
  elem_syntax value_elem(vkind k) {
    const size_t from = log_.size();
    const token first = peek();
    elem_syntax e;
    const uint64_t lo = scalar(k);
    e.r = {lo, lo};
    if (k == vkind::addr && at(tok::slash)) {
      take();
      const token len_tok = peek();
      const uint64_t len = number(take());
      if (len > 32)
        fail(len_tok, "Prefix length " + len_tok.text + " is invalid for type of 32 bits width");
      const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
      const auto addr = static_cast<uint32_t>(lo);
      if ((addr & ~mask) != 0)
        fail(span_from(first), "prefix " + text_since(from) + " has host bits set (did you mean " +
                                   detail::ipv4_to_string(addr & mask) + "/" + std::to_string(len) +
                                   "?)");
      e.r = {addr & mask, addr | ~mask};
      e.prefix = true;
    } else if (at(tok::dash)) {
      take();
      const uint64_t hi = scalar(k);
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
  uint64_t flag_expr(vkind k) {
    const bool paren = accept(tok::lparen);
    uint64_t v = scalar(k);
    while (accept(tok::pipe)) v |= scalar(k);
    if (paren) expect(tok::rparen, "')'");
    return v;
  }

  // `a,b,c`: the OR of comma-separated flag expressions.
  uint64_t flag_list(vkind k) {
    uint64_t v = flag_expr(k);
    while (accept(tok::comma)) v |= flag_expr(k);
    return v;
  }

  elem_syntax element(vkind k) {
    if (k == vkind::state || k == vkind::flags) {
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

  // `{ e, e, ... }`, newlines allowed, a trailing comma allowed, nested braces (from
  // variables holding sets) flattened. `empty` says what `{ }` means here.
  void element_list(vkind k, std::vector<elem_syntax>& out, int depth, empty_rule empty) {
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
      if (at(tok::lbrace))
        element_list(k, out, depth + 1, empty_rule::allow);
      else
        out.push_back(element(k));
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

  // --- defines ---

  const std::vector<token>* lookup_define(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return &found->second;
    }
    return nullptr;
  }

  void define_stmt() {
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

  // --- commands ---

  void command() {
    const token t = peek();
    if (t.kind != tok::word) unexpected(t, "command");
    const std::string& w = t.text;
    if (w == "flush") return flush_cmd();
    if (one_of(w, {"define", "redefine", "undefine"})) return define_stmt();
    if (w == "add" || w == "create") {
      take();
      return add_cmd(w == "create");
    }
    if (one_of(w, {"table", "chain", "set", "element", "rule"})) return add_cmd(false);
    if (w == "nft")
      fail(t,
           "syntax error, unexpected 'nft' (a ruleset file holds nft commands without the "
           "'nft' prefix)");
    if (one_of(w, {"insert", "replace", "delete", "destroy", "list", "reset", "rename", "monitor",
                   "describe", "import", "export", "get"}))
      unsupported(t, "'" + w + "' command");
    if (one_of(w, {"map", "flowtable", "counter", "quota", "limit", "secmark", "synproxy", "ct"}))
      unsupported(t, "named " + w + " objects");
    unexpected(t, "command");
  }

  void flush_cmd() {
    take();
    const token what = peek();
    if (what.kind != tok::word) unexpected(what, "ruleset");
    if (what.text != "ruleset") {
      if (one_of(what.text, {"table", "chain", "set", "map", "meter", "flowtable"}))
        unsupported(what, "'flush " + what.text + "' (only 'flush ruleset')");
      unexpected(what, "ruleset");
    }
    take();
    if (at(tok::word)) unsupported(peek(), "'flush ruleset' of one family");
    // nft applies a file as one transaction: whatever came before the flush is gone too.
    rs_.flush = true;
    rs_.tables.clear();
    info_.clear();
    jumps_.clear();
    set_uses_.clear();
    rejects_.clear();
    end_statement();
  }

  void add_cmd(bool create) {
    const token what = peek();
    if (what.kind != tok::word) unexpected(what, "table, chain, set, element or rule");
    take();
    const std::string& w = what.text;
    if (w == "table") return table_cmd(create);
    if (w == "chain") return chain_cmd(create);
    if (w == "set") return set_cmd(create);
    if (w == "element") return element_cmd();
    if (w == "rule") return rule_cmd();
    if (one_of(w, {"map", "flowtable", "counter", "quota", "limit", "secmark", "synproxy", "ct",
                   "tunnel"}))
      unsupported(what, "named " + w + " objects");
    unexpected(what, "table, chain, set, element or rule");
  }

  struct table_ref {
    family fam = family::ip;
    token name;
  };

  table_ref table_spec() {
    table_ref r;
    const token& t = peek();
    if (t.kind == tok::word && peek(1).kind == tok::word) {
      if (t.text == "ip" || t.text == "inet") {
        r.fam = t.text == "ip" ? family::ip : family::inet;
        take();
      } else if (one_of(t.text, {"ip6", "arp", "bridge", "netdev"})) {
        unsupported(t, "family " + t.text + " (ctgate reads ip and inet tables)");
      }
    }
    r.name = expect_name("table name");
    return r;
  }

  std::string table_title(size_t ti) const {
    const table& tb = rs_.tables[ti];
    return std::string("table ") + detail::family_name(tb.fam) + " " + tb.name;
  }

  std::optional<size_t> find_table(const table_ref& r) const {
    for (size_t i = 0; i < rs_.tables.size(); ++i)
      if (rs_.tables[i].fam == r.fam && rs_.tables[i].name == r.name.text) return i;
    return std::nullopt;
  }

  size_t require_table(const table_ref& r) {
    if (std::optional<size_t> ti = find_table(r)) return *ti;
    fail(r.name, std::string("table ") + detail::family_name(r.fam) + " " + r.name.text +
                     " does not exist");
  }

  void table_cmd(bool create) {
    table_ref r = table_spec();
    std::optional<size_t> ti = find_table(r);
    if (ti && create) fail(r.name, table_title(*ti) + " already exists");
    if (!ti) {
      table tb;
      tb.fam = r.fam;
      tb.name = r.name.text;
      tb.loc = loc_of(pos_of(r.name));
      rs_.tables.push_back(std::move(tb));
      info_.emplace_back();
      ti = rs_.tables.size() - 1;
    }
    if (at(tok::lbrace)) {
      if (info_[*ti].has_body)
        fail(r.name, "duplicate " + table_title(*ti) + " (first declared at " +
                         where(rs_.tables[*ti].loc) + ")");
      info_[*ti].has_body = true;
      table_body(*ti);
    }
    end_statement();
  }

  void table_body(size_t ti) {
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
      } else if (one_of(t.text, {"define", "redefine", "undefine"})) {
        define_stmt();
      } else if (one_of(t.text, {"map", "flowtable", "counter", "quota", "limit", "secmark",
                                 "synproxy", "ct", "tunnel", "meter"})) {
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

  // --- chains ---

  void chain_cmd(bool create) {
    const table_ref r = table_spec();
    const size_t ti = require_table(r);
    const token name = expect_name("chain name");
    chain_def(ti, name, create);
    end_statement();
  }

  void chain_def(size_t ti, const token& name, bool create) {
    table_info& info = info_[ti];
    auto found = info.chains.find(name.text);
    size_t ci;
    if (found != info.chains.end()) {
      ci = found->second;
      if (create) fail(name, "chain '" + name.text + "' already exists in " + table_title(ti));
    } else {
      chain ch;
      ch.name = name.text;
      ch.loc = loc_of(pos_of(name));
      rs_.tables[ti].chains.push_back(std::move(ch));
      ci = rs_.tables[ti].chains.size() - 1;
      info.chains.emplace(name.text, ci);
      info.chain_body.push_back(false);
    }
    if (!at(tok::lbrace)) return;
    if (info_[ti].chain_body[ci])
      fail(name, "duplicate chain '" + name.text + "' in " + table_title(ti) +
                     " (first declared at " + where(rs_.tables[ti].chains[ci].loc) + ")");
    info_[ti].chain_body[ci] = true;
    chain_body(ti, ci);
  }

  void chain_body(size_t ti, size_t ci) {
    const token open = take();
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
        hook_spec(ti, ci);
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
        rule rl = parse_rule(ti, ci);
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

  void hook_spec(size_t ti, size_t ci) {
    chain& ch = rs_.tables[ti].chains[ci];
    const token kw = take();
    if (ch.base) fail(kw, "chain '" + ch.name + "' already has a type");
    const token type = expect_name("chain type");
    if (type.text != "filter") {
      if (type.text == "nat" || type.text == "route") unsupported(type, "chain type " + type.text);
      fail(type, "unknown chain type '" + type.text + "', expecting filter");
    }
    expect_word("hook");
    const token h = expect_name("hook");
    static const std::pair<std::string_view, hook> hooks[] = {{"prerouting", hook::prerouting},
                                                              {"input", hook::input},
                                                              {"forward", hook::forward},
                                                              {"output", hook::output},
                                                              {"postrouting", hook::postrouting}};
    std::optional<hook> hk;
    for (const auto& [name, value] : hooks)
      if (h.text == name) hk = value;
    if (!hk) {
      if (h.text == "ingress" || h.text == "egress") unsupported(h, "hook " + h.text);
      fail(h, "unknown chain hook '" + h.text + "'");
    }
    if (at_word("device") || at_word("devices")) unsupported(peek(), "chain devices");
    expect_word("priority");
    priority_spec(ch, *hk);
    ch.base = true;
    ch.type = "filter";
    ch.hook = *hk;
  }

  void priority_spec(chain& ch, hook hk) {
    const token first = peek();
    int64_t value = 0;
    std::string text;
    if (first.kind == tok::word) {
      take();
      std::optional<int32_t> base = named_priority(first.text);
      const bool nat_dst = first.text == "dstnat", nat_src = first.text == "srcnat";
      // nft allows the NAT names only at the hooks NAT runs at.
      const bool compatible = (!nat_dst || hk == hook::prerouting || hk == hook::output) &&
                              (!nat_src || hk == hook::input || hk == hook::postrouting);
      if (!base || !compatible)
        fail(first, "'" + first.text + "' is invalid priority in this context.");
      value = *base;
      text = first.text;
      if (at(tok::plus) || at(tok::dash)) {
        const bool minus = take().kind == tok::dash;
        const token n = peek();
        const uint64_t offset = number(take());
        if (offset > (uint64_t{1} << 32)) fail(n, "priority offset " + n.text + " is too large");
        value += minus ? -static_cast<int64_t>(offset) : static_cast<int64_t>(offset);
        text += (minus ? " - " : " + ") + std::to_string(offset);
      }
    } else if (first.kind == tok::dash || first.kind == tok::number) {
      const bool minus = accept(tok::dash);
      const token n = peek();
      const uint64_t magnitude = number(take());
      if (magnitude > (uint64_t{1} << 32)) fail(span_from(first), "priority out of range");
      value = minus ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
      text = std::to_string(value);
    } else {
      unexpected(first, "priority value");
    }
    if (value < INT32_MIN || value > INT32_MAX)
      fail(span_from(first),
           "priority " + std::to_string(value) + " out of range (-2147483648..2147483647)");
    ch.priority = static_cast<int32_t>(value);
    ch.priority_text = std::move(text);
  }

  // --- sets ---

  void set_cmd(bool create) {
    const table_ref r = table_spec();
    const size_t ti = require_table(r);
    const token name = expect_name("set name");
    if (!at(tok::lbrace)) unexpected(peek(), "'{'");
    set_def(ti, name, create);
    end_statement();
  }

  void set_def(size_t ti, const token& name, bool create) {
    table_info& info = info_[ti];
    auto found = info.sets.find(name.text);
    size_t si;
    if (found != info.sets.end()) {
      si = found->second;
      if (create) fail(name, "set '" + name.text + "' already exists in " + table_title(ti));
      if (info.set_body[si])
        fail(name, "duplicate set '" + name.text + "' in " + table_title(ti) +
                       " (first declared at " + where(rs_.tables[ti].sets[si].loc) + ")");
    } else {
      set st;
      st.name = name.text;
      st.loc = loc_of(pos_of(name));
      rs_.tables[ti].sets.push_back(std::move(st));
      si = rs_.tables[ti].sets.size() - 1;
      info.sets.emplace(name.text, si);
      info.set_body.push_back(false);
      info.set_automerge.push_back(false);
    }
    info_[ti].set_body[si] = true;
    set_body(ti, si, name);
  }

  void set_body(size_t ti, size_t si, const token& name) {
    const token open = take();
    enter_block(open);
    std::vector<elem_syntax> elems;
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
        const token type = expect_name("set type");
        if (at(tok::dot)) unsupported(peek(), "concatenated set types");
        if (!kind_of_set_type(type.text)) {
          if (one_of(type.text,
                     {"ipv6_addr", "ether_addr",  "ifname",      "ct_state",    "icmp_type",
                      "tcp_flag",  "verdict",     "iface_index", "integer",     "string",
                      "ct_status", "nf_proto",    "time",        "day",         "hour",
                      "cgroupsv2", "ipsec_proto", "pkt_type",    "icmpv6_type", "dccp_pkttype"}))
            unsupported(type, "set type " + type.text);
          fail(type, "unknown set type '" + type.text +
                         "', expecting ipv4_addr, inet_service, inet_proto or mark");
        }
        if (!st.type.empty() && st.type != type.text)
          fail(type, "set '" + st.name + "' already has type " + st.type);
        st.type = type.text;
      } else if (t.text == "typeof") {
        take();
        typeof_spec(st);
      } else if (t.text == "flags") {
        take();
        do {
          const token f = expect_name("set flag");
          if (f.text == "interval")
            st.interval = true;
          else if (f.text != "constant")  // a static set is constant on ctgate anyway
            one_of(f.text, {"timeout", "dynamic", "eval"})
                ? unsupported(f, "set flag " + f.text)
                : fail(f, "unknown set flag '" + f.text + "'");
        } while (accept(tok::comma));
      } else if (t.text == "elements") {
        take();
        expect(tok::assign, "'='");
        if (st.type.empty()) fail(t, "set definition does not specify key data type");
        const vkind k = *kind_of_set_type(st.type);
        element_list(k, elems, 1, empty_rule::syntax);
      } else if (t.text == "auto-merge") {
        take();
        info_[ti].set_automerge[si] = true;
      } else if (one_of(t.text,
                        {"size", "timeout", "gc-interval", "policy", "counter", "comment"})) {
        unsupported(t, "set " + t.text);
      } else {
        unexpected(t, "type, flags, elements or '}'");
      }
      end_statement();
    }
    take();
    leave_block();
    if (rs_.tables[ti].sets[si].type.empty())
      fail(name, "set definition does not specify key data type");
    add_elements(ti, si, elems);
  }

  // `typeof EXPR`: nft's other way to give a set's type, from a field it is matched with.
  void typeof_spec(set& st) {
    const token first = peek();
    const std::string a = expect_name("expression").text;
    std::string b = at(tok::word) ? take().text : "";
    const std::string expr = b.empty() ? a : a + " " + b;
    static const std::pair<std::string_view, const char*> types[] = {{"ip saddr", "ipv4_addr"},
                                                                     {"ip daddr", "ipv4_addr"},
                                                                     {"tcp sport", "inet_service"},
                                                                     {"tcp dport", "inet_service"},
                                                                     {"udp sport", "inet_service"},
                                                                     {"udp dport", "inet_service"},
                                                                     {"th sport", "inet_service"},
                                                                     {"th dport", "inet_service"},
                                                                     {"ip protocol", "inet_proto"},
                                                                     {"meta l4proto", "inet_proto"},
                                                                     {"meta mark", "mark"},
                                                                     {"ct mark", "mark"},
                                                                     {"mark", "mark"}};
    for (const auto& [e, type] : types)
      if (expr == e) {
        if (at(tok::dot)) unsupported(peek(), "concatenated set types");
        st.type = type;
        return;
      }
    unsupported(first, "typeof " + expr);
  }

  void add_elements(size_t ti, size_t si, const std::vector<elem_syntax>& elems) {
    set& st = rs_.tables[ti].sets[si];
    for (const elem_syntax& e : elems) {
      if (!st.interval && (e.prefix || e.range))
        fail(e.at, std::string("You must add 'flags interval' to your set declaration if you "
                               "want to add ") +
                       (e.prefix ? "prefix" : "range") + " elements");
    }
    const size_t old = st.elems.size();
    std::unordered_set<uint64_t> present;
    if (!st.interval)
      for (const value_range& v : st.elems) present.insert(v.lo);
    for (const elem_syntax& e : elems) {
      // A plain set holds a value once; adding it again changes nothing, as in nft.
      if (!st.interval && !present.insert(e.r.lo).second) continue;
      st.elems.push_back(e.r);
      st.elem_text.push_back(e.text);
    }
    if (info_[ti].set_automerge[si]) {
      merge_elements(st);
      return;
    }
    if (!st.interval || elems.empty()) return;
    // nft refuses overlapping intervals in a named set unless it has auto-merge.
    std::vector<std::pair<value_range, size_t>> sorted;
    for (size_t i = 0; i < st.elems.size(); ++i) sorted.push_back({st.elems[i], i});
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.first.lo != b.first.lo ? a.first.lo < b.first.lo : a.second < b.second;
    });
    for (size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i].first.lo > sorted[i - 1].first.hi) continue;
      // Old elements never overlap each other, so the later one is new.
      const size_t later = std::max(sorted[i].second, sorted[i - 1].second);
      fail(elems[later >= old ? later - old : 0].at, "conflicting intervals specified");
    }
  }

  // auto-merge: overlapping and adjacent intervals become one, as nft lists them.
  static void merge_elements(set& st) {
    std::vector<value_range> v = st.elems;
    std::sort(v.begin(), v.end(),
              [](const value_range& a, const value_range& b) { return a.lo < b.lo; });
    std::vector<value_range> out;
    for (const value_range& r : v) {
      if (!out.empty() && r.lo <= out.back().hi + 1)
        out.back().hi = std::max(out.back().hi, r.hi);
      else
        out.push_back(r);
    }
    st.elems = out;
    st.elem_text.clear();
    for (const value_range& r : out) {
      std::string text;
      if (st.type == "ipv4_addr") {
        const int plen =
            detail::prefix_length(static_cast<uint32_t>(r.lo), static_cast<uint32_t>(r.hi));
        text = detail::ipv4_to_string(static_cast<uint32_t>(r.lo));
        if (plen >= 0 && plen < 32)
          text += "/" + std::to_string(plen);
        else if (plen < 0)
          text += "-" + detail::ipv4_to_string(static_cast<uint32_t>(r.hi));
      } else {
        text = std::to_string(r.lo);
        if (r.hi != r.lo) text += "-" + std::to_string(r.hi);
      }
      st.elem_text.push_back(text);
    }
  }

  void element_cmd() {
    const table_ref r = table_spec();
    const size_t ti = require_table(r);
    const token name = expect_name("set name");
    auto found = info_[ti].sets.find(name.text);
    if (found == info_[ti].sets.end())
      fail(name, "set '" + name.text + "' does not exist in " + table_title(ti));
    const size_t si = found->second;
    if (rs_.tables[ti].sets[si].type.empty())
      fail(name, "set definition does not specify key data type");
    std::vector<elem_syntax> elems;
    element_list(*kind_of_set_type(rs_.tables[ti].sets[si].type), elems, 1, empty_rule::syntax);
    add_elements(ti, si, elems);
    end_statement();
  }

  // --- rules ---

  void rule_cmd() {
    const table_ref r = table_spec();
    const size_t ti = require_table(r);
    const token name = expect_name("chain name");
    auto found = info_[ti].chains.find(name.text);
    if (found == info_[ti].chains.end())
      fail(name, "chain '" + name.text + "' does not exist in " + table_title(ti));
    if (at_word("position") || at_word("handle") || at_word("index"))
      unsupported(peek(), "'add rule ... " + peek().text + "'");
    log_.clear();
    if (at_statement_end()) unexpected(peek(), "a match or statement");
    rule rl = parse_rule(ti, found->second);
    rs_.tables[ti].chains[found->second].rules.push_back(std::move(rl));
    end_statement();
  }

  // Whether the word at the front starts a match (else a statement or something else).
  bool starts_match() {
    const token& t = peek();
    const std::string& w = t.text;
    if (one_of(w, {"ip", "tcp", "udp", "th", "icmp", "iif", "oif", "iifname", "oifname"}))
      return true;
    if (w == "meta" || w == "ct") return !at_word("set", 2);
    if (w == "mark") return !at_word("set", 1);
    return false;
  }

  bool starts_statement() {
    const std::string& w = peek().text;
    if (one_of(w, {"counter", "accept", "drop", "reject", "notrack", "jump", "goto", "return",
                   "log", "limit", "synproxy", "meter"}))
      return true;
    if (w == "meta" || w == "ct") return at_word("set", 2);
    if (w == "mark" || w == "nftrace") return at_word("set", 1);
    return false;
  }

  rule parse_rule(size_t ti, size_t ci) {
    current_table_ = ti;
    rule rl;
    const token first = peek();
    uint8_t l4 = 0;  // transport protocol the rule is known to match, 0 if any
    bool verdict = false;
    std::string first_stmt;
    std::optional<pos> tcp_reset_at;
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
      if (!is_match && !starts_statement()) {
        if (const char* feature = unsupported_rule_word(t.text)) unsupported(t, feature);
        unexpected(t, "a match or statement");
      }
      if (verdict) fail(t, "Statement after terminal statement has no effect");
      if (is_match) {
        if (!first_stmt.empty())
          unsupported(t, "a match after a statement ('" + first_stmt +
                             "'): ctgate checks all matches first, so put matches first");
        match mt = parse_match();
        track_l4(mt, span_from(t), l4);
        rl.matches.push_back(std::move(mt));
      } else {
        statement st = parse_statement(ti, ci);
        if (st.kind == stmt_kind::reject && st.reject == reject_kind::tcp_reset)
          tcp_reset_at = span_from(t);
        if (first_stmt.empty()) first_stmt = t.text;
        verdict = is_verdict(st.kind);
        rl.stmts.push_back(std::move(st));
      }
    }
    if (tcp_reset_at) add_reject_dependency(rl, l4, *tcp_reset_at);
    rl.loc = loc_of(span_from(first));
    return rl;
  }

  // nft infers the transport protocol from the matches and refuses contradictions.
  void track_l4(const match& mt, const pos& at, uint8_t& l4) {
    uint8_t p = l4_proto_of(mt.f);
    if ((mt.f == field::ip_protocol || mt.f == field::meta_l4proto) && mt.op == cmp_op::eq &&
        mt.rhs.elems.size() == 1 && mt.rhs.elems[0].lo == mt.rhs.elems[0].hi)
      p = static_cast<uint8_t>(mt.rhs.elems[0].lo);
    if (p == 0) return;
    if (l4 != 0 && l4 != p)
      fail(at, "conflicting protocols specified: " + proto_text(l4) + " vs. " + proto_text(p));
    l4 = p;
  }

  // `reject with tcp reset` only applies to TCP: nft puts `meta l4proto tcp` in front of a
  // rule that does not already match TCP, so that other packets skip the rule.
  void add_reject_dependency(rule& rl, uint8_t l4, const pos& at) {
    if (l4 == 6) return;
    if (l4 != 0) fail(at, "you cannot use tcp reset with this protocol");
    match dep;
    dep.f = field::meta_l4proto;
    dep.op = cmp_op::eq;
    dep.rhs.elems.push_back({6, 6});
    dep.rhs.text = "tcp";
    dep.loc = loc_of(at);
    rl.matches.insert(rl.matches.begin(), std::move(dep));
  }

  // --- matches ---

  field sub_field(const token& head, std::initializer_list<std::pair<std::string_view, field>> ok,
                  std::initializer_list<std::string_view> known, const char* expecting) {
    const token t = peek();
    if (t.kind == tok::word) {
      for (const auto& [name, f] : ok)
        if (t.text == name) {
          take();
          return f;
        }
      if (std::find(known.begin(), known.end(), t.text) != known.end())
        unsupported(t, head.text + " " + t.text);
    }
    unexpected(t, expecting);
  }

  match parse_match() {
    const token head = take();
    const std::string& w = head.text;
    field f = field::ip_saddr;
    if (w == "ip") {
      f = sub_field(head,
                    {{"saddr", field::ip_saddr},
                     {"daddr", field::ip_daddr},
                     {"protocol", field::ip_protocol}},
                    {"version", "hdrlength", "dscp", "ecn", "length", "id", "frag-off", "ttl",
                     "checksum", "option"},
                    "saddr, daddr or protocol");
    } else if (w == "meta") {
      f = sub_field(head,
                    {{"l4proto", field::meta_l4proto},
                     {"mark", field::meta_mark},
                     {"iif", field::meta_iif},
                     {"oif", field::meta_oif},
                     {"iifname", field::meta_iifname},
                     {"oifname", field::meta_oifname}},
                    {"length",   "protocol",  "priority", "nfproto", "skuid",   "skgid",
                     "nftrace",  "rtclassid", "ibrname",  "obrname", "pkttype", "cpu",
                     "iifgroup", "oifgroup",  "cgroup",   "random",  "ipsec",   "secpath",
                     "iiftype",  "oiftype",   "time",     "day",     "hour",    "iifkind",
                     "oifkind",  "sdif",      "sdifname", "broute",  "ibrpvid", "ibrvproto"},
                    "l4proto, mark, iif, oif, iifname or oifname");
    } else if (w == "ct") {
      f = sub_field(head, {{"state", field::ct_state}, {"mark", field::ct_mark}},
                    {"status",   "direction", "expiration", "helper",    "l3proto",    "protocol",
                     "saddr",    "daddr",     "proto-src",  "proto-dst", "label",      "bytes",
                     "packets",  "avgpkt",    "zone",       "event",     "secmark",    "id",
                     "original", "reply",     "count",      "timeout",   "expectation"},
                    "state or mark");
    } else if (w == "tcp") {
      f = sub_field(
          head,
          {{"sport", field::tcp_sport}, {"dport", field::tcp_dport}, {"flags", field::tcp_flags}},
          {"sequence", "ackseq", "doff", "reserved", "window", "checksum", "urgptr", "option"},
          "sport, dport or flags");
    } else if (w == "udp") {
      f = sub_field(head, {{"sport", field::udp_sport}, {"dport", field::udp_dport}},
                    {"length", "checksum"}, "sport or dport");
    } else if (w == "th") {
      f = sub_field(head, {{"sport", field::th_sport}, {"dport", field::th_dport}}, {},
                    "sport or dport");
    } else if (w == "icmp") {
      f = sub_field(head, {{"type", field::icmp_type}},
                    {"code", "checksum", "id", "sequence", "gateway", "mtu"}, "type");
    } else if (w == "iif") {
      f = field::meta_iif;
    } else if (w == "oif") {
      f = field::meta_oif;
    } else if (w == "iifname") {
      f = field::meta_iifname;
    } else if (w == "oifname") {
      f = field::meta_oifname;
    } else {
      f = field::meta_mark;  // bare `mark`
    }
    const token& next = peek();
    if (next.kind == tok::word && (next.text == "vmap" || next.text == "map"))
      unsupported(next, next.text);
    if (next.kind == tok::dot) unsupported(next, "concatenations");
    match mt;
    mt.f = f;
    relation(mt);
    mt.loc = loc_of(span_from(head));
    return mt;
  }

  rel parse_op(token* op_tok) {
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

  static cmp_op cmp_of(rel r) {
    switch (r) {
      case rel::ne: return cmp_op::ne;
      case rel::lt: return cmp_op::lt;
      case rel::gt: return cmp_op::gt;
      case rel::le: return cmp_op::le;
      case rel::ge: return cmp_op::ge;
      default: return cmp_op::eq;
    }
  }

  static bool is_order(rel r) {
    return r == rel::lt || r == rel::gt || r == rel::le || r == rel::ge;
  }

  void relation(match& mt) {
    const vkind k = kind_of(mt.f);
    const char* fname = detail::field_name(mt.f);
    if ((k == vkind::flags || k == vkind::mark) && (at(tok::amp) || at_word("and"))) {
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
    else if (k == vkind::state || k == vkind::flags)
      bitmask_relation(mt, r, op_tok, fname);
    else
      value_relation(mt, r, op_tok);
    mt.rhs.text = text_since(from);
  }

  void iface_relation(match& mt, rel r, const token& op_tok, const char* fname) {
    if (r != rel::implicit && r != rel::eq && r != rel::ne)
      fail(op_tok, "operator '" + op_tok.text + "' cannot be used with " + fname);
    const token t = peek();
    if (t.kind == tok::lbrace) unsupported(t, "sets of interface names");
    if (t.kind == tok::set_ref) unsupported(t, "sets of interface names");
    if (t.kind != tok::string && t.kind != tok::word && t.kind != tok::number)
      unexpected(t, "interface name");
    take();
    if (t.text.empty()) fail(t, "empty interface name");
    mt.op = r == rel::ne ? cmp_op::ne : cmp_op::eq;
    mt.rhs.str = t.text;
  }

  void bitmask_relation(match& mt, rel r, const token& op_tok, const char* fname) {
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
      for (const elem_syntax& e : elems) mt.rhs.elems.push_back(e.r);
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

  void value_relation(match& mt, rel r, const token& op_tok) {
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
        set_uses_.push_back({current_table_, first.text, mt.f, pos_of(first)});
        return;
      }
      std::vector<elem_syntax> elems;
      element_list(k, elems, 1, empty_rule::set_is_empty);
      for (const elem_syntax& e : elems) mt.rhs.elems.push_back(e.r);
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
  void masked(match& mt, vkind k) {
    const token first = peek();
    const uint64_t mask = k == vkind::flags ? flag_expr(k) : scalar(k);
    token op_tok;
    const rel r = parse_op(&op_tok);
    if (r != rel::eq && r != rel::ne) unexpected(op_tok, "'==' or '!='");
    if (at(tok::lbrace)) unsupported(peek(), "a set compared with a masked value");
    const uint64_t value = k == vkind::flags ? flag_expr(k) : scalar(k);
    if ((value & ~mask) != 0)
      fail(span_from(first), "comparison is always " +
                                 std::string(r == rel::eq ? "false" : "true") +
                                 ": the value has bits outside the mask");
    mt.op = r == rel::eq ? cmp_op::masked_eq : cmp_op::masked_ne;
    mt.rhs.mask = mask;
    mt.rhs.value = value;
  }

  // --- statements ---

  statement parse_statement(size_t ti, size_t ci) {
    const token head = take();
    const std::string& w = head.text;
    statement st;
    if (w == "counter") {
      st.kind = stmt_kind::counter;
      if (accept_word("packets")) {
        st.packets = number(take());
        expect_word("bytes");
        st.bytes = number(take());
      } else if (at_word("name") || at(tok::string)) {
        unsupported(peek(), "named counters");
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
      jumps_.push_back({ti, ci, target.text, pos_of(target), w == "goto"});
    } else if (w == "reject") {
      st.kind = stmt_kind::reject;
      reject_options(st);
      rejects_.push_back({ti, ci, pos_of(head)});
    } else if (w == "log") {
      st.kind = stmt_kind::log;
      log_options(st);
    } else if (w == "limit") {
      st.kind = stmt_kind::limit;
      limit_options(st);
    } else if (w == "synproxy") {
      st.kind = stmt_kind::synproxy;
      synproxy_options(st);
    } else if (w == "meter") {
      st.kind = stmt_kind::meter;
      meter_body(st);
    } else {
      set_statement(head, st);
    }
    st.loc = loc_of(span_from(head));
    return st;
  }

  void reject_options(statement& st) {
    if (!accept_word("with")) return;
    const token how = expect_name("icmp, icmpx or tcp");
    if (how.text == "tcp") {
      expect_word("reset");
      st.reject = reject_kind::tcp_reset;
      return;
    }
    if (how.text == "icmpv6" || how.text == "icmp6") unsupported(how, "reject with icmpv6");
    if (how.text != "icmp" && how.text != "icmpx") unexpected(how, "icmp, icmpx or tcp");
    accept_word("type");
    const token code = peek();
    if (code.kind != tok::word) {
      if (code.kind == tok::number) unsupported(code, "numeric reject codes");
      unexpected(code, "ICMP code");
    }
    take();
    static const std::pair<std::string_view, reject_kind> codes[] = {
        {"port-unreachable", reject_kind::icmp_port_unreachable},
        {"host-unreachable", reject_kind::icmp_host_unreachable},
        {"net-unreachable", reject_kind::icmp_net_unreachable},
        {"admin-prohibited", reject_kind::icmp_admin_prohibited}};
    for (const auto& [name, kind] : codes)
      if (code.text == name && (how.text == "icmp" || name != "net-unreachable")) {
        st.reject = kind;
        return;
      }
    // icmpx's no-route is ICMP net-unreachable for IPv4 (nft_reject_icmp_code).
    if (how.text == "icmpx" && code.text == "no-route") {
      st.reject = reject_kind::icmp_net_unreachable;
      return;
    }
    if (one_of(code.text, {"prot-unreachable", "net-prohibited", "host-prohibited", "frag-needed"}))
      unsupported(code, "reject with " + how.text + " " + code.text);
    fail(code, "unknown ICMP reject code '" + code.text + "'");
  }

  void log_options(statement& st) {
    bool prefix = false, level = false;
    while (at(tok::word)) {
      const token opt = peek();
      if (opt.text == "prefix" && !prefix) {
        take();
        const token s = peek();
        if (s.kind != tok::string) unexpected(s, "string");
        take();
        if (s.text.size() > kMaxLogPrefix)
          fail(s, "log prefix is too long (maximum 127 characters)");
        st.log_prefix = s.text;
        prefix = true;
      } else if (opt.text == "level" && !level) {
        take();
        const token lv = expect_name("log level");
        // ctgate logs at one level; warn, nft's default, changes nothing, so it is accepted.
        if (lv.text != "warn") {
          if (one_of(lv.text,
                     {"emerg", "alert", "crit", "err", "notice", "info", "debug", "audit"}))
            unsupported(lv, "log level " + lv.text + " (only warn, the default)");
          fail(lv, "unknown log level '" + lv.text + "'");
        }
        level = true;
      } else if (one_of(opt.text, {"group", "snaplen", "queue-threshold", "flags"})) {
        unsupported(opt, "log " + opt.text);
      } else {
        break;
      }
    }
  }

  // synproxy [mss N] [wscale N] [timestamp] [sack-perm], any order, each once.
  void synproxy_options(statement& st) {
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

  // meter NAME { ip saddr|daddr limit rate [over] N/unit [burst M packets] }
  void meter_body(statement& st) {
    st.meter_name = expect_name("meter name").text;
    expect(tok::lbrace, "'{'");
    const token proto = expect_name("ip");
    if (proto.text != "ip") unsupported(proto, "meter keys other than ip saddr/daddr");
    const token key = expect_name("saddr or daddr");
    if (key.text == "saddr")
      st.meter_key = field::ip_saddr;
    else if (key.text == "daddr")
      st.meter_key = field::ip_daddr;
    else
      unsupported(key, "meter key ip " + key.text);
    const token lim = expect_name("limit");
    if (lim.text != "limit") unsupported(lim, "meter statements other than limit");
    limit_options(st);
    expect(tok::rbrace, "'}'");
  }

  void limit_options(statement& st) {
    if (at_word("name")) unsupported(peek(), "named limits");
    expect_word("rate");
    st.over = accept_word("over");
    const token n = peek();
    st.rate = number(take());
    if (at(tok::word) && one_of(peek().text, {"bytes", "kbytes", "mbytes"}))
      unsupported(peek(), "byte rate limits");
    expect(tok::slash, "'/'");
    const token unit = expect_name("second, minute, hour or day");
    static const std::pair<std::string_view, rate_unit> units[] = {{"second", rate_unit::second},
                                                                   {"minute", rate_unit::minute},
                                                                   {"hour", rate_unit::hour},
                                                                   {"day", rate_unit::day}};
    bool found = false;
    for (const auto& [name, u] : units)
      if (unit.text == name) {
        st.unit = u;
        found = true;
      }
    if (!found) {
      if (unit.text == "week") unsupported(unit, "limit per week");
      unexpected(unit, "second, minute, hour or day");
    }
    if (st.rate == 0) fail(n, "limit rate must be at least 1");
    if (accept_word("burst")) {
      st.burst = static_cast<uint32_t>(bounded(take(), 0xffffffff));
      if (at(tok::word) && one_of(peek().text, {"bytes", "kbytes", "mbytes"}))
        unsupported(peek(), "byte bursts");
      expect_word("packets");
    }
  }

  // meta mark set V, mark set V, ct mark set V, meta nftrace set 0|1, nftrace set 0|1.
  void set_statement(const token& head, statement& st) {
    const bool ct = head.text == "ct";
    const token key = head.text == "meta" || ct ? take() : head;
    if (key.text == "mark")
      st.kind = ct ? stmt_kind::ct_mark_set : stmt_kind::meta_mark_set;
    else if (key.text == "nftrace" && !ct)
      st.kind = stmt_kind::meta_nftrace_set;
    else
      unsupported(key, (key.text == head.text ? "" : head.text + " ") + key.text + " set");
    expect_word("set");
    const token v = peek();
    if (v.kind == tok::word || v.kind == tok::lbrace || v.kind == tok::set_ref)
      unsupported(v, "setting " + key.text + " from an expression or a map");
    st.value = bounded(take(), st.kind == stmt_kind::meta_nftrace_set ? 1 : 0xffffffff);
  }

  // --- references, checked at the end ---

  void check_references() {
    for (const set_use& u : set_uses_) {
      table_info& info = info_[u.table];
      auto found = info.sets.find(u.name);
      if (found == info.sets.end())
        fail(u.at, "set '" + u.name + "' does not exist in " + table_title(u.table));
      const set& st = rs_.tables[u.table].sets[found->second];
      const char* want = set_type_for(u.f);
      if (!want || st.type != want)
        fail(u.at, std::string("datatype mismatch: '") + detail::field_name(u.f) + "' expects " +
                       (want ? want : "no named set") + ", set '" + u.name + "' has type " +
                       st.type);
    }
    // Resolve jumps into an adjacency list per table.
    std::vector<std::vector<std::vector<std::pair<size_t, const jump_ref*>>>> edges(info_.size());
    for (size_t ti = 0; ti < info_.size(); ++ti) edges[ti].resize(rs_.tables[ti].chains.size());
    for (const jump_ref& j : jumps_) {
      auto found = info_[j.table].chains.find(j.target);
      const char* verb = j.is_goto ? "goto" : "jump";
      if (found == info_[j.table].chains.end())
        fail(j.at, std::string(verb) + " to undefined chain '" + j.target + "' in " +
                       table_title(j.table));
      if (rs_.tables[j.table].chains[found->second].base)
        fail(j.at, std::string("cannot ") + verb + " to base chain '" + j.target + "'");
      edges[j.table][j.chain].push_back({found->second, &j});
    }
    for (size_t ti = 0; ti < edges.size(); ++ti) check_loops(ti, edges[ti]);
    check_reject_hooks(edges);
  }

  // nft refuses jump loops (ELOOP). Iterative depth-first search over one table's chains.
  void check_loops(size_t ti,
                   const std::vector<std::vector<std::pair<size_t, const jump_ref*>>>& g) {
    const auto& chains = rs_.tables[ti].chains;
    std::vector<uint8_t> color(g.size(), 0);  // 0 new, 1 on the path, 2 done
    for (size_t root = 0; root < g.size(); ++root) {
      if (color[root]) continue;
      std::vector<std::pair<size_t, size_t>> path{{root, 0}};  // chain, next edge
      color[root] = 1;
      while (!path.empty()) {
        auto& [node, next] = path.back();
        if (next == g[node].size()) {
          color[node] = 2;
          path.pop_back();
          continue;
        }
        const auto [to, ref] = g[node][next++];
        if (color[to] == 1) {
          std::string cycle;
          bool on = false;
          for (const auto& [n, e] : path) {
            on = on || n == to;
            if (on) cycle += chains[n].name + " -> ";
          }
          fail(ref->at, "jump loop: " + cycle + chains[to].name);
        }
        if (color[to] == 0) {
          color[to] = 1;
          path.push_back({to, 0});
        }
      }
    }
  }

  // The kernel refuses reject in chains that run at postrouting: mark every chain reachable
  // from a postrouting base chain, then look at the rejects in source order.
  void check_reject_hooks(
      const std::vector<std::vector<std::vector<std::pair<size_t, const jump_ref*>>>>& edges) {
    std::vector<std::vector<std::optional<size_t>>> from_post(rs_.tables.size());
    for (size_t ti = 0; ti < rs_.tables.size(); ++ti) {
      const auto& chains = rs_.tables[ti].chains;
      from_post[ti].resize(chains.size());
      for (size_t base = 0; base < chains.size(); ++base) {
        if (!chains[base].base || chains[base].hook != hook::postrouting) continue;
        std::vector<size_t> todo{base};
        from_post[ti][base] = base;
        while (!todo.empty()) {
          const size_t c = todo.back();
          todo.pop_back();
          for (const auto& [to, ref] : edges[ti][c])
            if (!from_post[ti][to]) {
              from_post[ti][to] = base;
              todo.push_back(to);
            }
        }
      }
    }
    for (const reject_use& r : rejects_)
      if (const std::optional<size_t> base = from_post[r.table][r.chain])
        fail(r.at, "reject is not allowed in the postrouting hook (base chain '" +
                       rs_.tables[r.table].chains[*base].name + "')");
  }

  std::deque<source>& sources_;
  token_stream ts_;
  std::vector<std::unordered_map<std::string, std::vector<token>>> scopes_;
  std::vector<token> log_;  // tokens taken since the current statement began
  size_t expanded_ = 0;
  int depth_ = 0;
  size_t current_table_ = 0;
  ruleset rs_;
  std::vector<table_info> info_;
  std::vector<jump_ref> jumps_;
  std::vector<set_use> set_uses_;
  std::vector<reject_use> rejects_;
};

error to_error(const std::deque<source>& sources, const parse_failure& f) {
  error e;
  const source& s = sources[f.at.src < sources.size() ? f.at.src : 0];
  e.loc = {s.name, f.at.line, f.at.col, std::max(1, f.at.len)};
  e.message = f.message;
  e.source_line = line_text(s, f.at.line);
  return e;
}

std::optional<ruleset> parse_source(std::deque<source>& sources, error* err) {
  try {
    parser p(sources);
    return p.run();
  } catch (const parse_failure& f) {
    if (err) *err = to_error(sources, f);
  } catch (const std::exception& ex) {
    if (err)
      *err = error{{sources.empty() ? "" : sources[0].name, 0, 0, 1},
                   std::string("internal error: ") + ex.what(),
                   ""};
  }
  return std::nullopt;
}

}  // namespace

std::optional<ruleset> parse_string(const std::string& text, const std::string& name, error* err) {
  try {
    std::deque<source> sources(1);
    source& s = sources[0];
    s.name = name;
    s.dir = fs::path(name).parent_path();
    s.key = name.empty() ? std::string() : canonical_key(name);
    s.text = text;
    index_lines(s);
    return parse_source(sources, err);
  } catch (const std::exception& ex) {
    if (err) *err = error{{name, 0, 0, 1}, std::string("internal error: ") + ex.what(), ""};
    return std::nullopt;
  }
}

std::optional<ruleset> parse_file(const std::string& path, error* err) {
  try {
    std::string why;
    std::optional<std::string> text = read_file(path, &why);
    if (!text) {
      if (err) *err = error{{path, 0, 0, 1}, "cannot open '" + path + "': " + why, ""};
      return std::nullopt;
    }
    return parse_string(*text, path, err);
  } catch (const std::exception& ex) {
    if (err) *err = error{{path, 0, 0, 1}, std::string("internal error: ") + ex.what(), ""};
    return std::nullopt;
  }
}

std::string error::to_string() const {
  if (loc.line <= 0) return loc.file + ": error: " + message;
  if (source_line.empty())  // e.g. a compile error on text we no longer have
    return loc.file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col) +
           ": error: " + message;
  std::string out = loc.file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col) +
                    ": error: " + message + "\n" + source_line + "\n";
  const size_t col = loc.col > 0 ? static_cast<size_t>(loc.col) : 1;
  size_t len = loc.len > 0 ? static_cast<size_t>(loc.len) : 1;
  // Underline no further than the end of the line (an error at a line's end gets one caret).
  if (col - 1 + len > source_line.size())
    len = col > source_line.size() ? 1 : std::max<size_t>(1, source_line.size() + 1 - col);
  out += std::string(col - 1, ' ') + std::string(len, '^');
  return out;
}

std::optional<int32_t> named_priority(const std::string& name) {
  static const std::pair<std::string_view, int32_t> names[] = {{"raw", -300},    {"mangle", -150},
                                                               {"dstnat", -100}, {"filter", 0},
                                                               {"security", 50}, {"srcnat", 100}};
  for (const auto& [n, v] : names)
    if (name == n) return v;
  return std::nullopt;
}

}  // namespace ctgate::nft
