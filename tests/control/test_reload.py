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
import re
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

    def config(self, ruleset, v6=False, **keys):
        ports = [{"name": "lan", "devargs": "net_null0", "address": "10.0.1.1/24"},
                 {"name": "wan", "devargs": "net_null1", "address": "10.0.2.1/24"}]
        if v6:
            ports[0]["address6"] = "2001:db8:1::1/64"
            ports[1]["address6"] = "2001:db8:2::1/64"
        # IPv6's trie takes 64 MiB, and a live change builds the next one beside it.
        cfg = ct.make_config(self.prefix, ports, memory_mb=512 if v6 else 256)
        if ruleset:
            cfg["ruleset"] = "rules.nft"  # relative to the config file
        cfg.update(keys)
        return ct.write_config(self.tmp.file("ctgate.yaml"), cfg)

    def start(self, ruleset, **keys):
        path = self.config(ruleset, **keys)
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
        self.assertIn("STATUS=forwarding; config reloaded", ready)
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
        self.assertTrue(d.wait_for_log(r"SIGHUP: config not reloaded, the running one stays: "
                                       r".*rules\.nft:4:", WAIT), d.log()[-2000:])
        self.assertIn("table ip extra", self.listing())

        p = ct.run_ctl(self.prefix, "reload", timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("rules.nft:4:", p.stderr.decode(errors="replace"))
        self.write(RULES_A)
        p = ct.run_ctl(self.prefix, "reload", timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        self.assertIn("config reloaded: 1 tables, 1 chains, 1 rules",
                      p.stderr.decode(errors="replace") + p.stdout.decode(errors="replace"))
        self.assertIn("tcp dport 22 accept", self.listing())
        self.assertEqual(d.stop(), 0, d.log()[-2000:])

    def reload(self, rc=0):
        p = ct.run_ctl(self.prefix, "reload", timeout=30)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, rc, err)
        return err

    def test_nothing_to_reload(self):
        d = self.start(ruleset=False)
        err = self.reload()
        self.assertIn("reload: the config file is the running one: nothing else changed", err)
        self.assertIn("config reloaded.", err)
        self.assertEqual(d.stop(), 0, d.log()[-2000:])

    def test_routes_neighbours_timeouts_and_metrics_reload(self):
        """What can change live does, each change listed; a key that takes a restart is
        refused with its line, and then nothing changes; the config's routes replace the
        static ones, ctgatectl's included."""
        d = self.start(ruleset=False)
        ct.run_ctl(self.prefix, "route", "add", "192.0.2.0/24", "via", "10.0.2.7", timeout=30)
        self.config(False, routes=[{"prefix": "198.51.100.0/24", "via": "10.0.2.9"}],
                    neighbors=[{"address": "10.0.2.9", "mac": "02:00:00:00:02:09",
                                "port": "wan"}],
                    conntrack={"timeouts": {"udp": 45}},
                    metrics={"listen": "127.0.0.1:0"}, stats_interval_s=5)
        err = self.reload()
        for line in ("reload: metrics: listening on 127.0.0.1:0",
                     "reload: route: deleted 192.0.2.0/24 via 10.0.2.7 dev wan",
                     "reload: route: added 198.51.100.0/24 via 10.0.2.9 dev wan",
                     "reload: neigh: added 10.0.2.9 lladdr 02:00:00:00:02:09 dev wan PERMANENT",
                     "reload: conntrack.timeouts: the new values apply from each flow's next "
                     "packet",
                     "reload: stats_interval_s: 5"):
            self.assertIn(line, err)
        routes = ct.run_ctl(self.prefix, "route", timeout=30).stdout.decode()
        self.assertIn("198.51.100.0/24 via 10.0.2.9 dev wan", routes)
        self.assertNotIn("192.0.2.0/24", routes)
        neigh = ct.run_ctl(self.prefix, "neigh", timeout=30).stdout.decode()
        self.assertIn("10.0.2.9 dev wan lladdr 02:00:00:00:02:09 PERMANENT", neigh)
        self.assertTrue(d.wait_for_log(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", WAIT))
        url = re.findall(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", d.log())[-1]
        _, metrics = ct.scrape(url)
        self.assertEqual(metrics['ctgate_routes{family="ipv4"}'], 3)
        self.assertTrue(d.wait_for_log(r"stats: rx=", WAIT), "stats every 5 s now")

        # workers and a port: refused with their lines, nothing reloaded (the route stays).
        cfg = ct.make_config(self.prefix, [
            {"name": "lan", "devargs": "net_null0", "address": "10.0.1.1/24"},
            {"name": "wan", "devargs": "net_null1", "address": "10.0.2.1/24", "mtu": 9000}])
        cfg["workers"] = 2
        with open(self.tmp.file("ctgate.yaml"), "w") as f:
            f.write(ct.to_yaml(cfg))
        err = self.reload(rc=1)
        self.assertRegex(err, r"ctgate\.yaml:\d+: workers: changed, and it takes a restart: "
                              r"nothing was reloaded")
        self.assertRegex(err, r"ctgate\.yaml:\d+: ports: changed too, and it takes a restart")
        self.assertIn("198.51.100.0/24", ct.run_ctl(self.prefix, "route", timeout=30).stdout
                      .decode())
        # Back to the first config: the route and the neighbour go, metrics stop.
        self.config(False)
        err = self.reload()
        self.assertIn("reload: route: deleted 198.51.100.0/24 via 10.0.2.9 dev wan", err)
        self.assertIn("reload: neigh: deleted 10.0.2.9", err)
        self.assertIn("reload: metrics: off", err)
        self.assertEqual(d.stop(), 0, d.log()[-2000:])

    def test_ipv6_routes_and_neighbours_reload(self):
        """IPv6 routes and neighbours change live as IPv4's do: ctgatectl's and the config's,
        each change listed; the trie is rebuilt and swapped under the running workers."""
        d = self.start(ruleset=False, v6=True,
                       routes=[{"prefix": "2001:db8:99::/48", "via": "2001:db8:2::2"}])
        out = ct.run_ctl(self.prefix, "route", "add", "2001:db8:77::/48", "via", "fe80::7",
                         "dev", "wan", timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("added 2001:db8:77::/48 via fe80::7 dev wan", out.stdout.decode())
        self.assertIn("2001:db8:77::/48 via fe80::7 dev wan",
                      ct.run_ctl(self.prefix, "route", "-6", timeout=30).stdout.decode())
        self.config(False, v6=True,
                    routes=[{"prefix": "2001:db8:99::/48", "via": "2001:db8:2::3"},
                            {"prefix": "::/0", "via": "fe80::1", "port": "wan"}],
                    neighbors=[{"address": "fe80::1", "mac": "02:00:00:00:02:01",
                                "port": "wan"}])
        err = self.reload()
        for line in ("reload: route: deleted 2001:db8:77::/48 via fe80::7 dev wan",
                     "reload: route: replaced 2001:db8:99::/48 via 2001:db8:2::2 dev wan with "
                     "2001:db8:99::/48 via 2001:db8:2::3 dev wan",
                     "reload: route: added default via fe80::1 dev wan",
                     "reload: neigh: added fe80::1 lladdr 02:00:00:00:02:01 dev wan PERMANENT"):
            self.assertIn(line, err)
        routes = ct.run_ctl(self.prefix, "route", "-6", timeout=30).stdout.decode()
        self.assertEqual(routes, "default via fe80::1 dev wan\n"
                                 "2001:db8:1::/64 dev lan proto kernel\n"
                                 "2001:db8:2::/64 dev wan proto kernel\n"
                                 "2001:db8:99::/48 via 2001:db8:2::3 dev wan\n")
        neigh = ct.run_ctl(self.prefix, "neigh", timeout=30).stdout.decode()
        self.assertIn("fe80::1 dev wan lladdr 02:00:00:00:02:01 PERMANENT", neigh)
        self.config(False, v6=True)
        err = self.reload()
        self.assertIn("reload: route: deleted default via fe80::1 dev wan", err)
        self.assertIn("reload: neigh: deleted fe80::1", err)
        self.assertNotIn("fe80::1 dev wan", ct.run_ctl(self.prefix, "neigh", timeout=30)
                         .stdout.decode())
        self.assertEqual(d.stop(), 0, d.log()[-2000:])


if __name__ == "__main__":
    unittest.main()
