// Internal to lib/ruleset: the sources of a ruleset and the one token stream the grammar reads
// (the include handling of nft's scanner.l). A source is a file's text with its line index; the
// stream runs the lexer (lexer.h) over the top file and, where `include "f"` starts a
// statement, over f instead (wildcards, bounded depth, cycles refused), so the grammar
// (parser_internal.h) sees one stream of tokens, each knowing its source, line and column.
//
// Errors anywhere in the front end are thrown as a parse_failure at a position in the sources;
// to_error() turns the first one into the public error (common/result.h, in the shape ast.h
// describes) with its source line. Nothing is thrown past parse_file/parse_string.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ruleset/ast.h"
#include "ruleset/lexer.h"

namespace ctgate::nft::detail {

// A position inside one of the parser's sources.
struct pos {
  uint32_t src = 0;
  int line = 0;
  int col = 0;
  int len = 1;
};

inline pos pos_of(const token& t) { return {t.src, t.line, t.col, t.len}; }

struct parse_failure {
  pos at;
  std::string message;
};

[[noreturn]] void fail(const pos& at, std::string message);
[[noreturn]] void fail(const token& t, std::string message);
[[noreturn]] void unsupported(const token& t, const std::string& feature);
[[noreturn]] void unexpected(const token& t, std::string_view expecting = {});

struct source {
  std::string name;           // as given: the parse_file path, or the include path as written
  std::filesystem::path dir;  // where relative includes of this file resolve
  std::string key;            // canonical path for include cycle detection; empty if not a file
  std::string text;
  std::vector<size_t> line_starts;
};

void index_lines(source& s);
std::string line_text(const source& s, int line);
std::string canonical_key(const std::filesystem::path& p);
// Reads a whole file; the error's message says why it could not (no position).
result<std::string> read_file(const std::filesystem::path& p);

// The public error for a failure: file name, position and the line it is on.
error to_error(const std::deque<source>& sources, const parse_failure& f);

// --- token stream with includes -------------------------------------------------------------

class token_stream {
 public:
  explicit token_stream(std::deque<source>& sources) : sources_(sources) {}

  void start(uint32_t src) {
    total_bytes_ = sources_[src].text.size();
    frames_.push_back(frame{src, detail::lexer(sources_[src].text), {}});
  }

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
    std::filesystem::path path;
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

  void fill_one();
  void include(frame& f);
  std::vector<pending_file> glob(const std::filesystem::path& full,
                                 const std::filesystem::path& written, const token& at);
  void open(const pending_file& file, const token& at, std::vector<pending_file> rest);

  std::deque<source>& sources_;  // a deque: lexers hold views into texts, which must not move
  std::vector<frame> frames_;
  std::deque<token> buf_;
  tok prev_ = tok::newline;
  size_t total_bytes_ = 0;  // bytes this load has read, includes and all
};

}  // namespace ctgate::nft::detail
