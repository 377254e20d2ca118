#!/usr/bin/env python3
"""Clang's thread-safety analysis over lib/ (issue 9: locking discipline).

Every lib/ translation unit is compiled with clang++ -fsyntax-only and
-Wthread-safety as an error, with the include paths meson gave it, so a
control-plane field marked CTGATE_GUARDED_BY touched without its lock fails
CI. A probe that does exactly that must fail, which proves the check bites.
Skipped (and counted as skipped) where clang++ is not installed.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compile_db  # noqa: E402

CLANG = shutil.which("clang++")
TSA_FLAGS = ["-Wno-everything", "-Wthread-safety", "-Werror=thread-safety"]


def clang_command(entry, source):
    """entry's GCC command, turned into a clang syntax check of `source`."""
    return compile_db.syntax_check_command(entry, source, compiler=CLANG, drop_warnings=True,
                                           extra=TSA_FLAGS)


def lib_entries():
    return [e for e in compile_db.entries()
            if "/lib/" in e["file"].replace("\\", "/") and e["file"].endswith(".cpp")]


@unittest.skipIf(CLANG is None, "clang++ not installed")
class ThreadSafetyTest(unittest.TestCase):
    def test_lib_is_clean_under_thread_safety_analysis(self):
        entries = lib_entries()
        self.assertGreater(len(entries), 20)

        def check(e):
            r = subprocess.run(clang_command(e, e["file"]), cwd=e["directory"],
                               capture_output=True, text=True)
            return e["file"], r.returncode, r.stderr

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            bad = [f"{f}:\n{err[-2000:]}" for f, rc, err in pool.map(check, entries) if rc != 0]
        self.assertEqual(bad, [], "\n".join(bad))

    def test_an_unguarded_access_fails(self):
        entry = next(e for e in lib_entries() if e["file"].endswith("lib/control/ruleset_runtime.cpp"))
        probe_text = (
            '#include "control/gateway.h"\n'
            '#include "control/ruleset_runtime.h"\n'
            "uint32_t peek(ctgate::gateway& gw) { return gw.next_ruleset_group; }\n")
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "probe.cpp"
            probe.write_text(probe_text)
            r = subprocess.run(clang_command(entry, probe), cwd=entry["directory"],
                               capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0, "reading a guarded field without its lock compiled")
        self.assertIn("thread-safety", r.stderr)


if __name__ == "__main__":
    unittest.main()
