#!/usr/bin/env python3
"""Module boundaries are enforced by the build.

- An include of a module the library does not declare fails to compile
  (tried for real, with the compile command meson wrote for a library file).
- Every `#include "<module>/..."` in lib/ names the module itself or one it
  reaches through its declared dependencies, and the graph has no cycle.
- docs/architecture.md shows the graph the meson files declare.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import compile_db  # noqa: E402
import module_graph  # noqa: E402


def try_compile(entry, text):
    """Compiles `text` as if it were entry's source file, with its flags."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.cpp"
        probe.write_text(text)
        return subprocess.run(compile_db.syntax_check_command(entry, probe), cwd=entry["directory"],
                              capture_output=True, text=True)


class BoundaryTest(unittest.TestCase):
    def test_undeclared_include_fails_to_compile(self):
        # packet declares only common: conntrack's headers are out of reach.
        entry = compile_db.entry_for("lib/packet/parse.cpp")
        bad = try_compile(entry, '#include "conntrack/conntrack.h"\n')
        self.assertNotEqual(bad.returncode, 0, "packet reached conntrack's headers")
        self.assertIn("conntrack/conntrack.h", bad.stderr)
        self.assertIn("No such file", bad.stderr)
        # Control: its own and its declared module's headers compile.
        good = try_compile(entry, '#include "packet/pkt_meta.h"\n#include "common/counters.h"\n')
        self.assertEqual(good.returncode, 0, good.stderr)

    def test_lower_module_cannot_reach_upper(self):
        entry = compile_db.entry_for("lib/conntrack/flow_table.cpp")
        for header in ("dataplane/worker.h", "ruleset/ast.h", "synproxy/cookie.h"):
            with self.subTest(header=header):
                r = try_compile(entry, f'#include "{header}"\n')
                self.assertNotEqual(r.returncode, 0, f"conntrack reached {header}")

    def test_every_include_is_declared(self):
        g = module_graph.graph()  # also fails on a cycle
        bad = []
        for mod in g:
            allowed = {mod} | module_graph.closure(g, mod)
            for f in sorted((ROOT / "lib" / mod).iterdir()):
                if f.suffix not in (".h", ".cpp"):
                    continue
                for n, line in enumerate(f.read_text().splitlines(), 1):
                    m = re.match(r'\s*#\s*include\s+"([a-z_]+)/', line)
                    if m and m.group(1) in g and m.group(1) not in allowed:
                        bad.append(f"lib/{mod}/{f.name}:{n}: includes {m.group(1)}/")
        self.assertEqual(bad, [])

    def test_architecture_doc_shows_the_built_graph(self):
        r = subprocess.run([sys.executable, str(HERE / "module_graph.py"), "--check"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
