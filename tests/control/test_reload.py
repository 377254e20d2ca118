#!/usr/bin/env python3
"""Reloading the ruleset (issue 17): SIGHUP, `ctgatectl reload` and systemd's ExecReload.

ctgate runs on two net_null ports with a config naming a ruleset file, this test as its
service manager (NOTIFY_SOCKET). The file is rewritten, then:
- SIGHUP: the live ruleset becomes the file's (`ctgatectl ruleset list`), systemd hears
  RELOADING=1 then READY=1, the log says what was loaded;
- a broken file and SIGHUP: the error is logged with the file and line, the live ruleset stays,
  and READY=1 says the reload failed;
- `ctgatectl reload` on the broken file: exit code 1 and the error; fixed, exit code 0;
- a config without a ruleset: `ctgatectl reload` says there is nothing to reload.
Every wait is bounded; no timing is asserted.

Run (root):  python3 tests/control/test_reload.py [-v]
"""

import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import ctgate_test as ct  # noqa: E402

WAIT = 60

RULES_A = """table inet fw {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 22 accept
  }
}
"""
RULES_B = """table inet fw {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
  }
}
table ip extra {
  chain pre {
    type filter hook prerouting priority -150;
  }
}
"""
RULES_BROKEN = """table inet fw {
  chain forward {
    type filter hook forward priority 0; policy drop;
    tcp dport frobnicate accept
  }
}
"""


@unittest.skipIf(not ct.is_root() or ct.missing_binary_reason() is not None,
                 "needs root and a built ctgate")
class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = ct.TempDir("reload")
        self.addCleanup(self.tmp.cleanup)
        self.prefix = ct.file_prefix("reload")
        self.addCleanup(ct.cleanup_prefix, self.prefix)
        self.rules = self.tmp.file("rules.nft")
        self.write(RULES_A)
        self.sock_path = self.tmp.file("notify.sock")
        self.notify = ct.NotifySocket(self.sock_path)
        self.addCleanup(self.notify.close)

    def write(self, text):
        with open(self.rules, "w") as f:
            f.write(text)

    def start(self, ruleset):
        cfg = ct.make_config(self.prefix, [
            {"name": "lan", "devargs": "net_null0", "address": "10.0.1.1/24"},
            {"name": "wan", "devargs": "net_null1", "address": "10.0.2.1/24"}])
        if ruleset:
            cfg["ruleset"] = "rules.nft"  # relative to the config file
        path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path)
        d = ct.Daemon(path, self.tmp.file("ctgate.log"), prefix=self.prefix, env=env)
        self.addCleanup(d.stop)
        self.assertIsNotNone(self.next_msg("READY=1"), "no READY=1:\n" + d.log()[-2000:])
        return d

    def next_msg(self, want):
        """The next notification holding line `want`, or None within WAIT seconds."""
        return self.notify.next(want, time.monotonic() + WAIT)

    def listing(self):
        p = ct.run_ctl(self.prefix, "ruleset", "list", timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return p.stdout.decode()

    def test_sighup_and_ctgatectl_reload(self):
        d = self.start(ruleset=True)
        self.assertIn("tcp dport 22 accept", self.listing())

        self.write(RULES_B)
        os.kill(d.proc.pid, signal.SIGHUP)
        self.assertIsNotNone(self.next_msg("RELOADING=1"), d.log()[-2000:])
        ready = self.next_msg("READY=1")
        self.assertIsNotNone(ready, d.log()[-2000:])
        self.assertIn("STATUS=forwarding; ruleset reloaded", ready)
        self.assertTrue(d.wait_for_log(r"SIGHUP: ruleset rules.nft reloaded: 2 tables, 2 chains, "
                                       r"1 rules", WAIT), d.log()[-2000:])
        text = self.listing()
        self.assertIn("table ip extra", text)
        self.assertNotIn("tcp dport 22", text)  # replaced, not added to

        # A file that does not load: said with its line, and the live ruleset stays.
        self.write(RULES_BROKEN)
        os.kill(d.proc.pid, signal.SIGHUP)
        ready = self.next_msg("READY=1")
        self.assertIsNotNone(ready, d.log()[-2000:])
        self.assertIn("the last reload failed", ready)
        self.assertTrue(d.wait_for_log(r"SIGHUP: ruleset not reloaded, the live one stays: "
                                       r".*rules\.nft:4:", WAIT), d.log()[-2000:])
        self.assertIn("table ip extra", self.listing())

        p = ct.run_ctl(self.prefix, "reload", timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("rules.nft:4:", p.stderr.decode(errors="replace"))
        self.write(RULES_A)
        p = ct.run_ctl(self.prefix, "reload", timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        self.assertIn("ruleset reloaded: 1 tables, 1 chains, 1 rules",
                      p.stderr.decode(errors="replace") + p.stdout.decode(errors="replace"))
        self.assertIn("tcp dport 22 accept", self.listing())
        self.assertEqual(d.stop(), 0, d.log()[-2000:])

    def test_nothing_to_reload(self):
        d = self.start(ruleset=False)
        p = ct.run_ctl(self.prefix, "reload", timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("the config names no ruleset (ruleset:): nothing to reload",
                      p.stderr.decode(errors="replace"))
        self.assertEqual(d.stop(), 0, d.log()[-2000:])


if __name__ == "__main__":
    unittest.main()
