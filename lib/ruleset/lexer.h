// Internal to lib/ruleset: the tokenizer of the nftables subset (nft's scanner.l). It turns
// the text of one file into tokens; token_stream.h stitches files together (includes) and
// hands the tokens to the grammar (parser_internal.h). The names values may be written with
// are in fields.h. Nothing here is part of the API; ast.h is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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
  lbracket,  // [ (an IPv6 address with a port: [2001:db8::1]:80)
  rbracket,
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

}  // namespace ctgate::nft::detail
