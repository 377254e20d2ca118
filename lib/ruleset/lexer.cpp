// Tokenizer of the nftables subset. See lexer.h.
#include "ruleset/lexer.h"

#include <array>
#include <cstdio>

#include "ruleset/fields.h"

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
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The length of the IPv6 address at the start of `s` (2001:db8::1, ::ffff:10.0.0.1, ::), 0 if
// none. nft's scanner has such a token; here it must be a whole valid address that no name
// character follows (a range's '-' and a prefix's '/' may), so `22 : accept`, `10.0.0.1:80`
// and names such as `dead` lex as before.
size_t ipv6_length(std::string_view s) {
  size_t i = 0;
  bool colon = false;
  while (i < s.size() && (is_hex(s[i]) || s[i] == ':' || s[i] == '.')) colon |= s[i++] == ':';
  if (!colon || (i < s.size() && (is_name_char(s[i]) || s[i] == '*'))) return 0;
  return parse_ipv6(s.substr(0, i)) ? i : 0;
}

// The length of the Ethernet address at the start of `s` (02:00:00:00:0b:05, 2:0:0:0:b:5), 0
// if none: six groups of one or two hex digits joined by ':', which no name character, ':' or
// '.' follows (nft's scanner has such a token). Nothing else in the grammar is written so:
// an IPv6 address has eight groups or a '::', and map elements put spaces around ':'.
size_t ether_length(std::string_view s) {
  size_t i = 0;
  for (int group = 0; group < 6; ++group) {
    if (group > 0) {
      if (i >= s.size() || s[i] != ':') return 0;
      ++i;
    }
    const size_t start = i;
    while (i < s.size() && i - start < 2 && is_hex(s[i])) ++i;
    if (i == start) return 0;
  }
  if (i < s.size() && (is_name_char(s[i]) || s[i] == ':' || s[i] == '.' || s[i] == '*')) return 0;
  return i;
}

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
    // A backslash ending a line continues it, as in nft (the examples shipped with nft use it).
    if (c == '\\') {
      size_t after = pos_ + 1;
      while (after < text_.size() &&
             (text_[after] == ' ' || text_[after] == '\t' || text_[after] == '\r'))
        ++after;
      if (after < text_.size() && text_[after] == '\n') {
        pos_ = after + 1;
        ++line_;
        line_start_ = pos_;
        continue;
      }
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
  if (is_hex(c) || c == ':')
    if (const size_t len = ipv6_length(text_.substr(start)); len != 0)
      return make(tok::word, start, start + len, col);
  if (is_hex(c))
    if (const size_t len = ether_length(text_.substr(start)); len != 0)
      return make(tok::word, start, start + len, col);
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
  static constexpr std::array<one, 19> ones = {{{';', tok::semicolon},
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
                                                {':', tok::colon},
                                                {'[', tok::lbracket},
                                                {']', tok::rbracket}}};
  for (const one& o : ones)
    if (c == o.c) return make(o.kind, start, start + 1, col);
  if (c == '*') return make(tok::star, start, start + 1, col);
  token t = make(tok::invalid, start, start + 1, col);
  t.text = "syntax error, unexpected character " + printable(c);
  return t;
}

}  // namespace ctgate::nft::detail
