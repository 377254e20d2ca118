#include "common/result.h"

#include <algorithm>
#include <cstdio>

namespace ctgate {

std::string error::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (col > 0) out += ":" + std::to_string(col);
  }
  if (!out.empty()) out += ": ";
  if (!severity.empty()) out += severity + ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  for (const std::string& d : detail) out += "\n" + d;
  return out;
}

std::string escape_control(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : buf;
    }
  }
  return out;
}

error& error::quote(std::string_view source_line) {
  if (line <= 0 || source_line.empty()) return *this;
  const size_t c = col > 0 ? static_cast<size_t>(col) : 1;
  size_t n = len > 0 ? static_cast<size_t>(len) : 1;
  // Underline no further than the end of the line (an error at a line's end gets one caret).
  if (c - 1 + n > source_line.size()) {
    n = c > source_line.size() ? 1 : std::max<size_t>(1, source_line.size() + 1 - c);
  }
  detail.emplace_back(source_line);
  detail.push_back(std::string(c - 1, ' ') + std::string(n, '^'));
  return *this;
}

}  // namespace ctgate
