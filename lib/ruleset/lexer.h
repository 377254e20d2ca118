// Internal to lib/ruleset: the tokenizer of the nftables subset, and the value vocabulary
// (flag, protocol, ICMP and service names) that both the parser and the printer use. Nothing
// here is part of the API; ast.h is.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ruleset/ast.h"

namespace ctgate::nft::detail {

enum class tok : uint8_t {
  end,  // end of the current file
  newline,
  semicolon,  // ';' (also `\;`, the shell-escaped form in pasted command lines)
  word,       // identifiers and keywords: letters, digits, '_', '.', '-', '*'
  number,     // starts with a digit: 22, 0x10, 10.0.0.1 (validated by the parser)
  string,     // "..." (text holds the contents, without quotes)
  variable,   // $name (text holds the name)
  set_ref,    // @name (text holds the name)
  lbrace,
  rbrace,
  lparen,
  rparen,
  comma,
  slash,
  dash,
  plus,
  assign,  // =
  eq,      // ==
  ne,      // !=
  lt,
  gt,
  le,
  ge,
  bang,  // !
  amp,   // &
  pipe,  // |
  dot,
  colon,
  star,
  invalid,  // a lexical error; text holds the message
};

struct token {
  tok kind = tok::end;
  std::string text;
  int line = 1;
  int col = 1;
  int len = 1;
  uint32_t src = 0;       // which source file (index kept by the parser's token stream)
  bool expanded = false;  // produced by a $variable; the position is the variable's
};

// How a token reads in "syntax error, unexpected ..." messages: 'foo', newline, end of file.
std::string describe(const token& t);

// Tokenizes one file. Columns count bytes from 1 (a tab is one column). After the last
// character it returns tok::end forever, positioned just past the last non-newline character
// so errors at the end of a file point at a real line.
class lexer {
 public:
  explicit lexer(std::string_view text) : text_(text) {}
  token next();

 private:
  token make(tok kind, size_t start, size_t end, int col);
  token lex_string(size_t start, int col);
  token lex_sigil(tok kind, size_t start, int col);
  token end_token() const;

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

// --- value vocabulary -------------------------------------------------------------------------

struct name_value {
  std::string_view name;
  uint32_t value;
};

// In bit order, which is also the order nft lists them in.
std::span<const name_value> tcp_flag_names();   // fin syn rst psh ack urg ecn cwr
std::span<const name_value> ct_state_names();   // invalid established related new untracked
std::span<const name_value> icmp_type_names();  // echo-reply ... address-mask-reply
std::span<const name_value> protocol_names();   // tcp udp icmp and other IANA names nft knows
// Well-known ports from /etc/services, built in so a ruleset means the same on every host.
std::span<const name_value> service_names();

std::optional<uint32_t> lookup_name(std::span<const name_value> table, std::string_view name);
// nullptr when the value has no name.
const char* name_of(std::span<const name_value> table, uint32_t value);

std::string ipv4_to_string(uint32_t host_order);
std::optional<uint32_t> parse_ipv4(std::string_view text);  // strict dotted quad
// The [lo, hi] range as a prefix length if it is exactly one CIDR block, else -1.
int prefix_length(uint32_t lo, uint32_t hi);

const char* family_name(family f);
const char* field_name(field f);  // as nft lists it: "ip saddr", "iifname", "meta mark"
const char* hook_name(hook h);

}  // namespace ctgate::nft::detail
