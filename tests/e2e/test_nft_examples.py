#!/usr/bin/python3
"""The example rulesets Debian's nftables package ships (/usr/share/doc/nftables/examples/),
checked with `ctgate --check-ruleset` (issue 12).

Each example either loads, or fails with a clear `not supported: ...` naming the feature
(a family, a chain type, a statement ctgate does not have yet), or fails in nft itself on an
empty ruleset (`nft -c -f` in a fresh network namespace; sets_and_maps.nft deletes a table
that does not exist). Anything else is a failure: a parse error on a construct ctgate claims
to read. The test prints the counts and, for each refused example, the feature.

Run (root):  python3 tests/e2e/test_nft_examples.py [-v]
"""

import glob
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import ctgate_test as ct  # noqa: E402

EXAMPLES = "/usr/share/doc/nftables/examples"
NS = "ctgt-nftex-%d" % os.getpid()


def skip_reason():
    if os.geteuid() != 0:
        return "needs root"
    if ct.missing_binary_reason():
        return ct.missing_binary_reason()
    if not glob.glob(os.path.join(EXAMPLES, "*.nft")):
        return "no nftables examples in " + EXAMPLES
    return None


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class NftExamplesTest(unittest.TestCase):
    def setUp(self):
        subprocess.run(["ip", "netns", "add", NS], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", NS], timeout=30)

    def test_examples_load_or_say_what_is_missing(self):
        loaded, unsupported, nft_fails, bad = [], [], [], []
        for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.nft"))):
            name = os.path.basename(path)
            # Examples include each other by relative path, as nft -f run from their directory.
            r = subprocess.run([ct.ctgate_binary(), "--check-ruleset", path], cwd=EXAMPLES,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            out = r.stdout.decode(errors="replace").strip()
            if r.returncode == 0:
                loaded.append(name)
                continue
            first = out.splitlines()[0] if out else "(no output)"
            if "not supported:" in first:
                unsupported.append((name, first.split("not supported:", 1)[1].strip()))
                continue
            k = subprocess.run(["ip", "netns", "exec", NS, "nft", "-c", "-f", path], cwd=EXAMPLES,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if k.returncode != 0:
                nft_fails.append((name, first))
            else:
                bad.append((name, first))
        total = len(loaded) + len(unsupported) + len(nft_fails) + len(bad)
        lines = ["nft examples: %d of %d load: %s" % (len(loaded), total, ", ".join(loaded))]
        lines += ["  not supported: %s: %s" % u for u in unsupported]
        lines += ["  fails in nft too: %s: %s" % f for f in nft_fails]
        lines += ["  WRONG: %s: %s" % b for b in bad]
        print("\n".join(lines), file=sys.stderr)
        self.assertEqual(bad, [], "examples nft loads but ctgate refuses without 'not supported'")
        self.assertGreaterEqual(len(loaded), 3)


if __name__ == "__main__":
    unittest.main()
