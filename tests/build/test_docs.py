#!/usr/bin/env python3
"""Generated parts of the docs match their sources.

- docs/bench.md's tables are what bench/render_report.py renders from the
  newest results in bench/results/ (issue 9: reproducible bench figures).
"""
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class GeneratedDocsTest(unittest.TestCase):
    def test_bench_report_matches_results(self):
        r = subprocess.run([sys.executable, str(ROOT / "bench" / "render_report.py"), "--check"],
                           cwd=ROOT, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])


if __name__ == "__main__":
    unittest.main()
