// Sources, includes and the token stream. See token_stream.h.
#include "ruleset/token_stream.h"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <system_error>
#include <utility>

namespace ctgate::nft::detail {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxIncludeDepth = 16;
// Rulesets are kilobytes; the cap only guards against pointing the loader at a huge file.
constexpr size_t kMaxFileBytes = 16 << 20;
// One load reads at most this much and this many files, whatever its
// includes: a file that includes another twice, 16 levels deep, would
// otherwise read it 65536 times (cycles only catch a file including itself).
constexpr size_t kMaxTotalBytes = 64 << 20;
constexpr size_t kMaxFiles = 4096;

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

}  // namespace

[[noreturn]] void fail(const pos& at, std::string message) {
  throw parse_failure{at, std::move(message)};
}
[[noreturn]] void fail(const token& t, std::string message) { fail(pos_of(t), std::move(message)); }
[[noreturn]] void unsupported(const token& t, const std::string& feature) {
  fail(t, "not supported: " + feature);
}
[[noreturn]] void unexpected(const token& t, std::string_view expecting) {
  if (t.kind == tok::invalid) fail(t, t.text);
  std::string msg = "syntax error, unexpected " + describe(t);
  if (!expecting.empty()) msg += ", expecting " + std::string(expecting);
  fail(t, std::move(msg));
}

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

// Reads a whole file; the error's message says why it could not (no position).
result<std::string> read_file(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) return error{.message = "is a directory"};
  std::ifstream in(p, std::ios::binary);
  if (!in) return error{.message = std::error_code(errno, std::generic_category()).message()};
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) return error{.message = "larger than 16 MiB"};
  }
  // A ruleset is text: a NUL means a binary given by mistake, which is better
  // said than reported as the first odd character, with that line echoed.
  if (size_t nul = text.find('\0'); nul != std::string::npos)
    return error{.message = "not a text file (a NUL byte at offset " + std::to_string(nul) + ")"};
  return text;
}

// --- token stream with includes -------------------------------------------------------------

void token_stream::fill_one() {
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

void token_stream::include(frame& f) {
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

std::vector<token_stream::pending_file> token_stream::glob(const fs::path& full,
                                                           const fs::path& written,
                                                           const token& at) {
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

void token_stream::open(const pending_file& file, const token& at, std::vector<pending_file> rest) {
  source s;
  s.name = file.name;
  s.dir = file.path.parent_path();
  s.key = canonical_key(file.path);
  for (const frame& fr : frames_)
    if (sources_[fr.src].key == s.key)
      fail(at, "include cycle: '" + file.name + "' is already being read");
  if (sources_.size() >= kMaxFiles)
    fail(at, "too many included files: one load reads at most " + std::to_string(kMaxFiles));
  // Only regular files: a FIFO or a device would block the reader (the
  // daemon's control thread, for a live load) or never end.
  std::error_code ec;
  if (fs::exists(file.path, ec) && !fs::is_regular_file(file.path, ec))
    fail(at, "cannot open '" + file.name + "': not a regular file");
  result<std::string> text = read_file(file.path);
  if (!text) fail(at, "cannot open '" + file.name + "': " + text.error().message);
  total_bytes_ += text->size();
  if (total_bytes_ > kMaxTotalBytes)
    fail(at, "the ruleset and its includes are larger than 64 MiB");
  s.text = std::move(*text);
  index_lines(s);
  sources_.push_back(std::move(s));
  const auto src = static_cast<uint32_t>(sources_.size() - 1);
  frames_.push_back(frame{src, detail::lexer(sources_[src].text), std::move(rest)});
}

error to_error(const std::deque<source>& sources, const parse_failure& f) {
  const source& s = sources[f.at.src < sources.size() ? f.at.src : 0];
  error e{.file = s.name,
          .line = f.at.line,
          .col = f.at.col,
          .len = std::max(1, f.at.len),
          .severity = "error",
          .message = f.message};
  e.quote(line_text(s, f.at.line));
  return e;
}

}  // namespace ctgate::nft::detail
