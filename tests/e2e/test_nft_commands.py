#!/usr/bin/python3
"""nft -f command semantics against the kernel (issue 12): the same steps applied to this
machine's nftables (in a network namespace of the test's own) and to a running ctgate, and
`nft -a list ruleset` compared with `ctgatectl ruleset list -a` after every step.

Steps are files (`ctgatectl ruleset load FILE` / `nft -f FILE`) and command lines
(`ctgatectl nft 'CMD'` / `nft 'CMD'`): a second file adds a table next to the first, a
table and a chain declared again are extended, `flush ruleset` replaces everything, rules
go in at positions and handles, `replace` keeps a handle, `delete` by handle removes the
right rule, elements come and go, named counters, quotas, limits and ct timeout policies are
added, named, redeclared and deleted, and a step that fails (on both) changes nothing. Handles
are compared too: they are the kernel's numbers.

Run (root):  python3 tests/e2e/test_nft_commands.py [-v]
"""

import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import ctgate_test as ct  # noqa: E402

NS = "ctgt-nft-%d" % os.getpid()

FIRST = """table ip filter {
	set admin {
		type ipv4_addr
		elements = { 10.0.0.1, 10.0.0.2 }
	}

	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr @admin tcp dport 22 accept
		tcp dport { 80, 443 } counter accept
	}
}
"""

SECOND = """table ip extra {
	chain forward {
		type filter hook forward priority filter; policy accept;
		udp dport 53 accept
	}
}
table ip filter {
	chain input {
		type filter hook input priority filter; policy drop;
		icmp type echo-request accept
	}
}
"""

# Named objects in a table of their own: a failed kernel transaction still uses up the handles
# it allocated before the error (step 14 did in ip filter), which ctgate does not imitate
# (docs/ruleset.md).
OBJECTS = """table ip objs {
	counter web { }
	quota q { over 10 mbytes }
	limit l { rate 10/second burst 5 packets }
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 80 counter name "web"
		tcp dport 80 quota name q drop
		tcp dport 81 limit name "l" accept
	}
}
"""

REPLACE_ALL = """flush ruleset
table ip only {
	chain output {
		type filter hook output priority filter; policy accept;
		tcp dport 25 drop
	}
}
"""

# (kind, text, should_succeed): kind "file" or "cmd", or "list": a listing command whose output
# is compared with nft's.
STEPS = [
    ("file", FIRST, True),
    ("file", SECOND, True),
    ("cmd", "add rule ip filter input position 5 tcp dport 8080 accept", True),
    ("cmd", "insert rule ip filter input tcp dport 1 drop", True),
    ("cmd", "insert rule ip filter input position 5 tcp dport 2 drop", True),
    ("cmd", "replace rule ip filter input handle 5 tcp dport 3 drop", True),
    ("cmd", "add rule ip filter input index 0 tcp dport 4 drop", True),
    ("cmd", "delete rule ip filter input handle 9", True),
    ("cmd", "add element ip filter admin { 10.0.0.3 }", True),
    ("cmd", "delete element ip filter admin { 10.0.0.1 }", True),
    ("cmd", "delete rule ip filter input handle 999", False),
    ("cmd", "delete set ip filter admin", False),
    ("cmd", "delete element ip filter admin { 192.0.2.1 }", False),
    # Element commands alone are applied in place (no reload): the listing must not tell.
    ("cmd", "add element ip filter admin { 10.0.0.7, 10.0.0.2, 10.0.0.9 }; "
            "delete element ip filter admin { 10.0.0.3 }", True),
    ("file", "add element ip filter admin { 10.0.0.3 }\n"
             "delete element ip filter admin { 10.0.0.7 }\n", True),
    ("cmd", "add element ip filter admin { 10.0.0.11 }; "
            "delete element ip filter admin { 10.0.0.12 }", False),
    # Parts of the ruleset, as nft lists them.
    ("list", "list tables", True),
    ("list", "list table ip filter", True),
    ("list", "list table filter", True),
    ("list", "list chain ip filter input", True),
    ("list", "list set ip filter admin", True),
    ("list", "list sets", True),
    ("list", "list maps", True),
    ("list", "list chains", True),
    ("list", "list sets table ip filter", True),
    ("cmd", "add chain ip extra forward { type filter hook input priority filter; }", False),
    ("cmd", "add rule ip filter input tcp dport 9 accept; delete table ip nosuch", False),
    ("cmd", "flush chain ip extra forward", True),
    ("cmd", "add chain ip extra helper; add rule ip extra forward jump helper", True),
    ("cmd", "delete chain ip extra helper", False),
    ("cmd", "flush table ip filter", True),
    ("file", OBJECTS, True),
    ("cmd", "add counter ip objs c2", True),
    ("cmd", "add quota ip objs q2 { 5 kbytes }; add limit ip objs l2 { rate 1/minute }", True),
    ("cmd", "delete counter ip objs web", False),
    ("cmd", "delete counter ip objs c2", True),
    ("cmd", "create quota ip objs q { 1 bytes }", False),
    ("file", "table ip objs {\n\tquota q { 20 mbytes }\n\tcounter web { packets 5 bytes 5 }\n}\n",
     True),
    ("cmd", "add rule ip objs input counter name nope", False),
    ("list", "list counters", True),
    ("list", "list quotas", True),
    ("list", "list limits table ip objs", True),
    ("list", "list counter ip objs web", True),
    # Object maps, in a table of their own (a failed rule above used up a handle in the
    # kernel's objs): a named one, and an anonymous one in a rule.
    ("cmd", 'add table ip om; add counter ip om web; add quota ip om q { 5 kbytes }; '
            'add chain ip om input { type filter hook input priority 0; }; '
            'add map ip om cnt { type inet_service : counter; elements = { 80 : "web" } }; '
            'add rule ip om input counter name tcp dport map @cnt', True),
    ("cmd", 'add rule ip om input quota name ip saddr map { 10.0.0.1 : "q" } drop', True),
    ("cmd", 'add element ip om cnt { 8080 : "web" }', True),
    # nft reset: the objects as listed, then zeroed.
    ("list", "reset counters", True),
    ("list", "list counters", True),
    ("file", "table ip objs {\n\tcounter web { packets 7 bytes 70 }\n\tquota q { 20 mbytes "
             "used 3 mbytes }\n}\n", True),
    ("list", "reset counter ip objs web", True),
    ("list", "reset quotas table ip objs", True),
    ("list", "list quotas", True),
    # ct timeout objects, in a table of their own, the failing steps after the others (a
    # failed kernel transaction uses up handles, see OBJECTS).
    ("cmd", "add table ip tmo; add chain ip tmo input { type filter hook input priority 0; }; "
            "add ct timeout ip tmo ssh { protocol tcp; policy = { established: 3600, close: 5 }; "
            "}; add rule ip tmo input tcp dport 22 ct timeout set \"ssh\"", True),
    ("file", "table ip tmo {\n\tct timeout dns {\n\t\tprotocol udp\n\t\tl3proto ip\n"
             "\t\tpolicy = { unreplied : 10, replied : 120 }\n\t}\n}\n", True),
    ("cmd", "add ct timeout ip tmo ssh { protocol udp; }", True),
    ("list", "list ct timeout ip tmo ssh", True),
    ("cmd", "delete ct timeout ip tmo dns", True),
    ("cmd", "create ct timeout ip tmo ssh { protocol udp; }", False),
    ("cmd", "delete ct timeout ip tmo ssh", False),
    ("cmd", "add ct timeout ip tmo dns { protocol icmp; }", False),
    # ct count (a syntax error never reaches the kernel: no handles used).
    ("cmd", "add rule ip tmo input tcp dport 22 ct count over 2 counter reject; "
            "insert rule ip tmo input ct count 5 accept", True),
    ("cmd", "add rule ip tmo input ct count until 3", False),
    ("cmd", "delete table ip extra", True),
    ("file", REPLACE_ALL, True),
]


def skip_reason():
    if os.geteuid() != 0:
        return "needs root"
    if ct.missing_binary_reason():
        return ct.missing_binary_reason()
    if subprocess.run(["which", "nft"], stdout=subprocess.DEVNULL).returncode != 0:
        return "nft not installed"
    return None


def kernel(*args, stdin=None):
    return subprocess.run(["ip", "netns", "exec", NS, "nft", *args], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class NftCommandsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = ct.TempDir("nftcmd")
        self.prefix = ct.file_prefix("nftcmd")
        self.daemon = None
        self.addCleanup(self._cleanup)
        subprocess.run(["ip", "netns", "add", NS], check=True, timeout=30)
        ports = [{"name": "lan", "devargs": "net_null0", "address": "10.0.1.1/24"},
                 {"name": "wan", "devargs": "net_null1", "address": "10.0.2.1/24"}]
        cfg = ct.make_config(self.prefix, ports)
        path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        self.daemon = ct.Daemon(path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                run_seconds=300)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=30):
            self.fail("ctgate did not start:\n" + self.daemon.log()[-3000:])

    def _cleanup(self):
        if self.daemon is not None:
            self.daemon.stop(grace=10)
        subprocess.run(["ip", "netns", "del", NS], timeout=30)
        self.tmp.cleanup()

    def ctl(self, *args):
        return ct.run_ctl(self.prefix, *args, timeout=60)

    def listings(self):
        k = kernel("-a", "list", "ruleset")
        self.assertEqual(k.returncode, 0, k.stderr)
        c = self.ctl("ruleset", "list", "-a")
        self.assertEqual(c.returncode, 0, c.stderr)
        # nft ends the last table without a newline and puts none between tables' blank lines
        # the same way: compare line by line, ignoring blank lines at the ends.
        return k.stdout.decode().strip(), c.stdout.decode().strip()

    def test_steps_match_the_kernel(self):
        self.maxDiff = None
        for i, (kind, text, ok) in enumerate(STEPS):
            with self.subTest(step=i, text=text.splitlines()[0]):
                if kind == "list":
                    k = kernel(*text.split())
                    c = self.ctl("nft", text)
                    self.assertEqual(k.returncode, 0, k.stderr.decode())
                    self.assertEqual(c.returncode, 0, c.stderr.decode())
                    self.assertEqual(c.stdout.decode().strip(), k.stdout.decode().strip(), text)
                    continue
                if kind == "file":
                    path = self.tmp.file("step%d.nft" % i)
                    with open(path, "w") as f:
                        f.write(text)
                    k = kernel("-f", path)
                    c = self.ctl("ruleset", "load", path)
                else:
                    k = kernel(text)
                    c = self.ctl("nft", text)
                self.assertEqual(k.returncode == 0, ok, "kernel: %s" % k.stderr.decode())
                self.assertEqual(c.returncode == 0, ok,
                                 "ctgate: %s%s" % (c.stdout.decode(), c.stderr.decode()))
                if not ok:
                    self.assertIn("error", c.stderr.decode())
                elif all(re.match(r"\s*(add|delete) element ", cmd)
                         for cmd in re.split(r"[;\n]", text) if cmd.strip()):
                    self.assertIn("(in place, no reload)", c.stdout.decode() + c.stderr.decode())
                want, got = self.listings()
                self.assertEqual(got, want, "after step %d (%s)" % (i, text.splitlines()[0]))
        print("nft commands: %d steps, listings with handles equal to the kernel's after each"
              % len(STEPS), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
