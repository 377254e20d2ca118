// Command-line flag spelling shared by ctgate and its tools.
#pragma once

namespace ctgate {

// gflags wants --check_config; people type --check-config. Rewrites the
// dashes of every `--long-name` (up to an '=') to underscores in place, so
// both spellings work. Values are left alone.
inline void normalize_flag_names(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    char* a = argv[i];
    if (a[0] != '-' || a[1] != '-') continue;
    for (char* p = a + 2; *p != '\0' && *p != '='; p++)
      if (*p == '-') *p = '_';
  }
}

}  // namespace ctgate
