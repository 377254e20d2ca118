#!/usr/bin/env python3
"""The deterministic performance guard (issue 16): instructions per packet
of plain forwarding, conntrack on established flows and the automatic
SYN-cookie path, under callgrind, may not rise more than 5% above
bench/callgrind_baseline.txt. Counts, not times: the machine's load does not
change them. Skipped (and counted as skipped) where valgrind is missing.
"""
import os
import shutil
import subprocess
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@unittest.skipIf(shutil.which("valgrind") is None, "valgrind not installed")
class PerfGuardTest(unittest.TestCase):
    def test_instructions_per_packet_within_baseline(self):
        env = dict(os.environ)
        env.setdefault("CTGATE_BUILD_DIR", str(ROOT / "build"))
        r = subprocess.run(["bash", str(ROOT / "bench" / "callgrind_guard.sh")], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=900)
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
