// Tokenizer and value vocabulary of the nftables subset. See lexer.h.
#include "ruleset/lexer.h"

#include <array>
#include <charconv>
#include <cstdio>

namespace ctgate::nft::detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
// Words carry '-' and '.' because nft names do (echo-request, port-unreachable, my-chain).
// '/' is left out so `10/second` and `syn / ack` split the way nft reads them.
bool is_word_char(char c) { return is_name_char(c) || c == '-' || c == '.' || c == '*'; }
// Numbers run on through letters and dots so that 0x1f and 10.0.0.1 are one token and a
// typo such as 22s is reported as one bad number instead of two tokens.
bool is_number_char(char c) { return is_name_char(c) || c == '.'; }

std::string printable(char c) {
  if (c >= 0x20 && c < 0x7f) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
  return buf;
}

}  // namespace

std::string describe(const token& t) {
  switch (t.kind) {
    case tok::end: return "end of file";
    case tok::newline: return "newline";
    case tok::string: return "string \"" + t.text + "\"";
    case tok::variable: return "'$" + t.text + "'";
    case tok::set_ref: return "'@" + t.text + "'";
    case tok::invalid: return t.text;
    default: return "'" + t.text + "'";
  }
}

token lexer::make(tok kind, size_t start, size_t end, int col) {
  token t;
  t.kind = kind;
  t.text = std::string(text_.substr(start, end - start));
  t.line = line_;
  t.col = col;
  t.len = static_cast<int>(end - start);
  pos_ = end;
  return t;
}

token lexer::end_token() const {
  // Point just past the last character that is not a line break.
  size_t last = text_.size();
  while (last > 0 && (text_[last - 1] == '\n' || text_[last - 1] == '\r')) --last;
  token t;
  t.kind = tok::end;
  t.text = "end of file";
  if (last == 0) return t;
  size_t line_begin = text_.rfind('\n', last - 1);
  line_begin = line_begin == std::string_view::npos ? 0 : line_begin + 1;
  int line = 1;
  for (size_t i = 0; i < line_begin; ++i) line += text_[i] == '\n';
  t.line = line;
  t.col = static_cast<int>(last - line_begin) + 1;
  return t;
}

token lexer::lex_string(size_t start, int col) {
  size_t i = start + 1;
  while (i < text_.size() && text_[i] != '"' && text_[i] != '\n') ++i;
  if (i >= text_.size() || text_[i] != '"') {
    token t = make(tok::invalid, start, i, col);
    t.text = "unterminated string";
    return t;
  }
  token t = make(tok::string, start, i + 1, col);
  t.text = std::string(text_.substr(start + 1, i - start - 1));
  return t;
}

token lexer::lex_sigil(tok kind, size_t start, int col) {
  size_t i = start + 1;
  while (i < text_.size() && (is_name_char(text_[i]) || (kind == tok::set_ref && text_[i] == '-')))
    ++i;
  token t = make(kind, start, i, col);
  if (i == start + 1) {
    t.kind = tok::invalid;
    t.text = std::string("syntax error, '") + text_[start] + "' must be followed by a name";
    return t;
  }
  t.text = std::string(text_.substr(start + 1, i - start - 1));
  return t;
}

token lexer::next() {
  for (;;) {
    if (pos_ >= text_.size()) return end_token();
    const char c = text_[pos_];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++pos_;
      continue;
    }
    if (c == '#') {
      while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      continue;
    }
    break;
  }
  const size_t start = pos_;
  const int col = static_cast<int>(start - line_start_) + 1;
  const char c = text_[start];
  const char n = start + 1 < text_.size() ? text_[start + 1] : '\0';
  if (c == '\n') {
    token t = make(tok::newline, start, start + 1, col);
    ++line_;
    line_start_ = pos_;
    return t;
  }
  if (c == '"') return lex_string(start, col);
  if (c == '$') return lex_sigil(tok::variable, start, col);
  if (c == '@') return lex_sigil(tok::set_ref, start, col);
  if (is_digit(c)) {
    size_t i = start;
    while (i < text_.size() && is_number_char(text_[i])) ++i;
    return make(tok::number, start, i, col);
  }
  if (is_alpha(c) || c == '_') {
    size_t i = start;
    while (i < text_.size() && is_word_char(text_[i])) ++i;
    return make(tok::word, start, i, col);
  }
  if (c == '\\' && n == ';') {
    token t = make(tok::semicolon, start, start + 2, col);
    t.text = ";";
    return t;
  }
  // Two-character operators first.
  struct two {
    char a, b;
    tok kind;
  };
  static constexpr std::array<two, 4> twos = {
      {{'=', '=', tok::eq}, {'!', '=', tok::ne}, {'<', '=', tok::le}, {'>', '=', tok::ge}}};
  for (const two& t : twos)
    if (c == t.a && n == t.b) return make(t.kind, start, start + 2, col);
  struct one {
    char c;
    tok kind;
  };
  static constexpr std::array<one, 17> ones = {{{';', tok::semicolon},
                                                {'{', tok::lbrace},
                                                {'}', tok::rbrace},
                                                {'(', tok::lparen},
                                                {')', tok::rparen},
                                                {',', tok::comma},
                                                {'/', tok::slash},
                                                {'-', tok::dash},
                                                {'+', tok::plus},
                                                {'=', tok::assign},
                                                {'<', tok::lt},
                                                {'>', tok::gt},
                                                {'!', tok::bang},
                                                {'&', tok::amp},
                                                {'|', tok::pipe},
                                                {'.', tok::dot},
                                                {':', tok::colon}}};
  for (const one& o : ones)
    if (c == o.c) return make(o.kind, start, start + 1, col);
  if (c == '*') return make(tok::star, start, start + 1, col);
  token t = make(tok::invalid, start, start + 1, col);
  t.text = "syntax error, unexpected character " + printable(c);
  return t;
}

// --- value vocabulary -------------------------------------------------------------------------

namespace {

constexpr std::array<name_value, 8> kTcpFlags = {{{"fin", 0x01},
                                                  {"syn", 0x02},
                                                  {"rst", 0x04},
                                                  {"psh", 0x08},
                                                  {"ack", 0x10},
                                                  {"urg", 0x20},
                                                  {"ecn", 0x40},
                                                  {"cwr", 0x80}}};

constexpr std::array<name_value, 5> kCtStates = {{{"invalid", CT_STATE_INVALID},
                                                  {"established", CT_STATE_ESTABLISHED},
                                                  {"related", CT_STATE_RELATED},
                                                  {"new", CT_STATE_NEW},
                                                  {"untracked", CT_STATE_UNTRACKED}}};

constexpr std::array<name_value, 15> kIcmpTypes = {{{"echo-reply", 0},
                                                    {"destination-unreachable", 3},
                                                    {"source-quench", 4},
                                                    {"redirect", 5},
                                                    {"echo-request", 8},
                                                    {"router-advertisement", 9},
                                                    {"router-solicitation", 10},
                                                    {"time-exceeded", 11},
                                                    {"parameter-problem", 12},
                                                    {"timestamp-request", 13},
                                                    {"timestamp-reply", 14},
                                                    {"info-request", 15},
                                                    {"info-reply", 16},
                                                    {"address-mask-request", 17},
                                                    {"address-mask-reply", 18}}};

// The first name of a value is the one printed (nft prints /etc/protocols names).
constexpr std::array<name_value, 19> kProtocols = {{{"icmp", 1},
                                                    {"igmp", 2},
                                                    {"tcp", 6},
                                                    {"udp", 17},
                                                    {"dccp", 33},
                                                    {"ipv6", 41},
                                                    {"gre", 47},
                                                    {"esp", 50},
                                                    {"ah", 51},
                                                    {"ipv6-icmp", 58},
                                                    {"icmpv6", 58},
                                                    {"ospf", 89},
                                                    {"pim", 103},
                                                    {"comp", 108},
                                                    {"vrrp", 112},
                                                    {"l2tp", 115},
                                                    {"sctp", 132},
                                                    {"udplite", 136},
                                                    {"ipip", 4}}};

constexpr std::array<name_value, 42> kServices = {{{"ftp-data", 20},
                                                   {"ftp", 21},
                                                   {"ssh", 22},
                                                   {"telnet", 23},
                                                   {"smtp", 25},
                                                   {"domain", 53},
                                                   {"bootps", 67},
                                                   {"bootpc", 68},
                                                   {"tftp", 69},
                                                   {"http", 80},
                                                   {"www", 80},
                                                   {"kerberos", 88},
                                                   {"pop3", 110},
                                                   {"sunrpc", 111},
                                                   {"auth", 113},
                                                   {"ntp", 123},
                                                   {"netbios-ns", 137},
                                                   {"netbios-dgm", 138},
                                                   {"netbios-ssn", 139},
                                                   {"imap", 143},
                                                   {"imap2", 143},
                                                   {"snmp", 161},
                                                   {"snmp-trap", 162},
                                                   {"bgp", 179},
                                                   {"ldap", 389},
                                                   {"https", 443},
                                                   {"microsoft-ds", 445},
                                                   {"submissions", 465},
                                                   {"isakmp", 500},
                                                   {"syslog", 514},
                                                   {"submission", 587},
                                                   {"ldaps", 636},
                                                   {"rsync", 873},
                                                   {"imaps", 993},
                                                   {"pop3s", 995},
                                                   {"openvpn", 1194},
                                                   {"radius", 1812},
                                                   {"radius-acct", 1813},
                                                   {"nfs", 2049},
                                                   {"mysql", 3306},
                                                   {"ms-wbt-server", 3389},
                                                   {"postgresql", 5432}}};

}  // namespace

std::span<const name_value> tcp_flag_names() { return kTcpFlags; }
std::span<const name_value> ct_state_names() { return kCtStates; }
std::span<const name_value> icmp_type_names() { return kIcmpTypes; }
std::span<const name_value> protocol_names() { return kProtocols; }
std::span<const name_value> service_names() { return kServices; }

std::optional<uint32_t> lookup_name(std::span<const name_value> table, std::string_view name) {
  for (const name_value& nv : table)
    if (nv.name == name) return nv.value;
  return std::nullopt;
}

const char* name_of(std::span<const name_value> table, uint32_t value) {
  for (const name_value& nv : table)
    if (nv.value == value) return nv.name.data();
  return nullptr;
}

std::string ipv4_to_string(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
                a & 0xff);
  return buf;
}

std::optional<uint32_t> parse_ipv4(std::string_view text) {
  uint32_t addr = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text[0] != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    size_t digits = 0;
    while (digits < text.size() && is_digit(text[digits])) ++digits;
    if (digits == 0 || digits > 3) return std::nullopt;
    unsigned v = 0;
    std::from_chars(text.data(), text.data() + digits, v);
    if (v > 255) return std::nullopt;
    addr = (addr << 8) | v;
    text.remove_prefix(digits);
  }
  if (!text.empty()) return std::nullopt;
  return addr;
}

int prefix_length(uint32_t lo, uint32_t hi) {
  if (hi < lo) return -1;
  const uint64_t size = static_cast<uint64_t>(hi) - lo + 1;
  if ((size & (size - 1)) != 0) return -1;
  int host_bits = 0;
  while ((uint64_t{1} << host_bits) < size) ++host_bits;
  if (host_bits < 32 && (lo & ((uint32_t{1} << host_bits) - 1)) != 0) return -1;
  return 32 - host_bits;
}

const char* family_name(family f) { return f == family::ip ? "ip" : "inet"; }

const char* field_name(field f) {
  switch (f) {
    case field::ip_saddr: return "ip saddr";
    case field::ip_daddr: return "ip daddr";
    case field::ip_protocol: return "ip protocol";
    case field::meta_l4proto: return "meta l4proto";
    case field::meta_iif: return "iif";
    case field::meta_oif: return "oif";
    case field::meta_iifname: return "iifname";
    case field::meta_oifname: return "oifname";
    case field::meta_mark: return "meta mark";
    case field::ct_state: return "ct state";
    case field::ct_mark: return "ct mark";
    case field::tcp_sport: return "tcp sport";
    case field::tcp_dport: return "tcp dport";
    case field::udp_sport: return "udp sport";
    case field::udp_dport: return "udp dport";
    case field::th_sport: return "th sport";
    case field::th_dport: return "th dport";
    case field::tcp_flags: return "tcp flags";
    case field::icmp_type: return "icmp type";
  }
  return "?";
}

const char* hook_name(hook h) {
  switch (h) {
    case hook::prerouting: return "prerouting";
    case hook::input: return "input";
    case hook::forward: return "forward";
    case hook::output: return "output";
    case hook::postrouting: return "postrouting";
  }
  return "input";
}

}  // namespace ctgate::nft::detail
