#!/usr/bin/env python3
"""Generated parts of the docs match their sources.

- docs/bench.md's tables are what bench/render_report.py renders from the
  newest results in bench/results/ (issue 9: reproducible bench figures).
- docs/grafana/ctgate.json is a dashboard Grafana imports, and every metric its queries name
  is one docs/operations.md lists (which tests/control/test_metrics.cpp checks against a scrape).
"""
import json
import re
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

    def test_grafana_dashboard_names_documented_metrics(self):
        dash = json.loads((ROOT / "docs" / "grafana" / "ctgate.json").read_text())
        doc = (ROOT / "docs" / "operations.md").read_text()
        self.assertEqual(dash["__inputs"][0]["pluginId"], "prometheus")
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreater(len(exprs), 10)
        for e in exprs:
            self.assertEqual(e.count("(") , e.count(")"), e)
            for name in re.findall(r"\bctgate_[a-z0-9_]+", e):
                block = re.match(r"(ctgate_(?:dataplane|conntrack_stat|synproxy)_)[a-z0-9_]+_total$",
                                 name)
                ok = ("`%s`" % name) in doc or (
                    block is not None and ("`%s<counter>_total`" % block.group(1)) in doc)
                self.assertTrue(ok, "%s (in %s) is not in docs/operations.md" % (name, e))


if __name__ == "__main__":
    unittest.main()
