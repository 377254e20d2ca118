#!/usr/bin/python3
"""Real kernel TCP through ctgate's synproxy (nft `synproxy` statement).

Client and server namespaces with ctgate between them and the usual synproxy
ruleset: SYNs to the service untracked in raw prerouting, `ct state
invalid,untracked synproxy ...` in forward, `ct state invalid drop`. Through
it: a 10 MB transfer with a checksum, 1,000 short connections, a half-close
and a reset. Then the same through synproxy in front of a dnat'ed service (the
client calls the gateway's address; an output nat chain forwards to the server). The server's kernel must see exactly one normal handshake per
connection (TcpPassiveOpens), and ctgate's counters account for every cookie. Over IPv6
(Synproxy6Test, the dual-stack topology of test_ipv6_netns.py): the same client and server
through the statement in inet tables, 300 short connections.

Run (root):  python3 tests/e2e/test_synproxy.py [-v]
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_netns_forward as nf  # noqa: E402
import test_ipv6_netns as n6  # noqa: E402

PORT = 5001
SHORT = 1000

# The ruleset of both families from one template: an ip table's (IPv4, MSS 1460) and, for
# IPv6, inet tables whose forward rule names the family (IPv4 passes through untouched).
SYNPROXY_TEMPLATE = """flush ruleset
table %(family)s raw {
	chain prerouting {
		type filter hook prerouting priority raw;
		tcp dport %(port)d tcp flags syn notrack
	}
}
table %(family)s filter {
	chain forward {
		type filter hook forward priority filter;
		%(match)stcp dport %(port)d ct state invalid,untracked synproxy mss %(mss)d wscale 7 timestamp sack-perm
		ct state invalid counter drop
	}
}
"""
RULESET = SYNPROXY_TEMPLATE % {"family": "ip", "match": "", "port": PORT, "mss": 1460}

# Synproxy in front of a dnat'ed service, as Linux 6.18 has it (docs/design/nat.md): the
# client calls the gateway's lan address on port 8080; synproxy answers at input, and the
# output nat chain binds the SYN it sends to the server.
DNAT_PORT = 8080
DNAT_RULESET = """flush ruleset
table ip raw {
	chain prerouting {
		type filter hook prerouting priority raw;
		iifname "lan" ip daddr %(gw)s tcp dport %(dp)d tcp flags syn notrack
	}
}
table ip nat {
	chain out {
		type nat hook output priority -100;
		ip daddr %(gw)s tcp dport %(dp)d dnat to %(srv)s:%(port)d
	}
}
table ip filter {
	chain input {
		type filter hook input priority filter;
		tcp dport %(dp)d ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		ct state invalid counter drop
	}
}
""" % {"gw": nf.GW_L, "dp": DNAT_PORT, "srv": nf.SERVER, "port": PORT}

RULESET6 = SYNPROXY_TEMPLATE % {"family": "inet", "match": "meta nfproto ipv6 ", "port": PORT,
                                "mss": 1440}

# A server that handles every accepted connection by one small protocol:
#   "BULK"  -> read to EOF, reply with the sha256 of what it read
#   "ECHO"  -> echo one line and close
#   "HALF"  -> read to EOF (client half-closed), then send "bye" and close
#   "RST"   -> read a line and close with SO_LINGER 0 (a reset)
SERVER = r"""
import hashlib, socket, struct, sys, threading
s = socket.socket(socket.%(af)s)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("%(bind)s", %(port)d))
s.listen(512)
s.settimeout(120)
print("ready", flush=True)
def handle(c):
    try:
        c.settimeout(30)
        kind = c.recv(4)
        if kind == b"BULK":
            h = hashlib.sha256()
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                h.update(d)
            c.sendall(h.hexdigest().encode())
        elif kind == b"ECHO":
            c.sendall(c.recv(100))
        elif kind == b"HALF":
            while c.recv(1 << 16):
                pass
            c.sendall(b"bye")
        elif kind == b"RST":
            c.recv(100)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    except Exception as e:
        print("server error", e, file=sys.stderr, flush=True)
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"""


def server_script(v6=False):
    return SERVER % {"af": "AF_INET6" if v6 else "AF_INET", "bind": "::" if v6 else "0.0.0.0",
                     "port": PORT}

CLIENT = r"""
import hashlib, json, os, socket, sys, time
server = ("%(addr)s", %(port)d)
out = {}
def conn():
    c = socket.create_connection(server, timeout=20)
    return c
# 1. bulk transfer with checksum
data = os.urandom(10 * 1000 * 1000)
c = conn()
c.sendall(b"BULK" + data)
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = c.recv(100)
    if not d:
        break
    got += d
c.close()
out["bulk_ok"] = got.decode() == hashlib.sha256(data).hexdigest()
# 2. short connections
ok = 0
for i in range(%(short)d):
    try:
        c = conn()
        msg = b"ECHO" + b"hello %%d" %% i
        c.sendall(msg)
        want = msg[4:]
        got = b""
        while len(got) < len(want):
            d = c.recv(100)
            if not d:
                break
            got += d
        c.close()
        ok += got == want
    except Exception as e:
        print("short", i, e, file=sys.stderr)
out["short_ok"] = ok
# 3. half-close: the client closes its side, the server still answers
c = conn()
c.sendall(b"HALF" + b"x" * 5000)
c.shutdown(socket.SHUT_WR)
out["half_ok"] = c.recv(100) == b"bye"
c.close()
# 4. reset from the server
c = conn()
c.sendall(b"RST " + b"go\n")
try:
    d = c.recv(100)
    out["rst_ok"] = d == b""  # some kernels report EOF first
except ConnectionResetError:
    out["rst_ok"] = True
c.close()
print(json.dumps(out), flush=True)
"""


def passive_opens(ns):
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"],
                         stdout=subprocess.PIPE, timeout=10).stdout.decode()
    lines = [l.split() for l in out.splitlines() if l.startswith("Tcp:")]
    return int(lines[1][lines[0].index("PassiveOpens")])


def check_client_run(test, cli, short, stats):
    """The client's results: every transfer, short connection, half-close and reset."""
    test.assertEqual(cli.returncode, 0, cli.stderr.decode(errors="replace")[-2000:])
    res = json.loads(cli.stdout.decode().strip().splitlines()[-1])
    test.assertTrue(res["bulk_ok"], "10 MB transfer checksum")
    test.assertEqual(res["short_ok"], short,
                     "%s\n%s" % (cli.stderr.decode(errors="replace")[-2000:], stats))
    test.assertTrue(res["half_ok"], "half-close")
    test.assertTrue(res["rst_ok"], "reset")


@unittest.skipIf(nf.skip_reason() is not None, nf.skip_reason() or "")
class SynproxyTest(nf.NetnsForwardTest):
    test_ping_tcp_and_conntrack = None  # inherited topology only

    def _start_strict(self):
        # Synproxy needs the client's ACK to be INVALID, not a loose pickup.
        orig = nf.ct.make_config

        def strict(*a, **kw):
            cfg = orig(*a, **kw)
            cfg["conntrack"]["tcp_loose"] = False
            return cfg
        nf.ct.make_config = strict
        try:
            self._start_ctgate()
        finally:
            nf.ct.make_config = orig

    def _run(self, ruleset, addr, port, short):
        """Loads `ruleset`, runs the client against addr:port with `short` short connections,
        and checks the transfers, the server's handshakes and synproxy's counters."""
        self._start_strict()
        path = self.tmp.file("synproxy.nft")
        with open(path, "w") as f:
            f.write(ruleset)
        self.ctl("ruleset", "load", path)
        self._ping(nf.SERVER)  # neighbours resolved both ways
        opens_before = passive_opens(nf.NS_S)

        srv = subprocess.Popen(["ip", "netns", "exec", nf.NS_S, "/usr/bin/python3", "-c",
                                server_script()],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(srv)
        self.assertEqual(srv.stdout.readline().strip(), b"ready")
        client = CLIENT % {"addr": addr, "port": port, "short": short}
        cli = subprocess.run(["ip", "netns", "exec", nf.NS_C, "/usr/bin/python3", "-c", client],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
        stats = json.loads(self.ctl("raw", "/ctgate/synproxy/stats"))["/ctgate/synproxy/stats"]
        check_client_run(self, cli, short, stats)

        conns = 1 + short + 2
        # Every connection went through the cookie path (a lost ACK is
        # recovered by a repeat), and the server accepted exactly one ordinary
        # handshake per connection.
        self.assertGreaterEqual(stats["cookies_valid"], conns, stats)
        self.assertEqual(stats["handshakes_completed"], conns, stats)
        self.assertGreaterEqual(stats["cookies_sent"], conns, stats)  # SYN retransmits get cookies too
        self.assertEqual(stats["cookies_invalid"], 0, stats)
        self.assertEqual(passive_opens(nf.NS_S) - opens_before, conns)
        # Window tracking judged every segment in the server's sequence space
        # (the client's ACKs translated): none was out of window.
        ct_stats = json.loads(self.ctl("raw", "/ctgate/conntrack/stats"))
        ct_stats = ct_stats["/ctgate/conntrack/stats"]
        window_invalid = sum(v.get(k, 0) for name, v in ct_stats.items()
                             if name.startswith("worker")
                             for k in ("invalid_tcp_seq_over", "invalid_tcp_ack_over",
                                       "invalid_tcp_rst"))
        self.assertEqual(window_invalid, 0, ct_stats)
        return stats

    def test_real_tcp_through_synproxy(self):
        self._run(RULESET, nf.SERVER, PORT, SHORT)

    def test_real_tcp_through_synproxy_to_a_dnated_service(self):
        self._run(DNAT_RULESET, nf.GW_L, DNAT_PORT, 200)
        # The proxied connections were bound by the output nat chain: their reply tuples are
        # the server's.
        listing = self.ctl("conntrack", "-L", "--dst-nat")
        self.assertIn("dst=%s sport=" % nf.GW_L, listing)
        self.assertIn("dport=%d src=%s dst=%s sport=%d" % (DNAT_PORT, nf.SERVER, nf.CLIENT, PORT),
                      listing)


@unittest.skipIf(n6.skip_reason() is not None, n6.skip_reason() or "")
class Synproxy6Test(n6._Ipv6NetnsBase):
    """Kernel TCP over IPv6 through the synproxy statement in an inet table: the same
    client and server as over IPv4, with the server's kernel seeing one ordinary handshake
    per connection."""

    CONNTRACK = dict(n6._Ipv6NetnsBase.CONNTRACK, tcp_loose=False)
    SHORT6 = 300

    def ctl(self, *args):
        p = n6.ct.run_ctl(self.prefix, *args, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return p.stdout.decode(errors="replace")

    def test_real_tcp6_through_synproxy(self):
        self._start_ctgate()
        path = self.tmp.file("synproxy6.nft")
        with open(path, "w") as f:
            f.write(RULESET6)
        self.ctl("ruleset", "load", path)
        n, out, _ = self._ping(n6.SERVER6)  # neighbours resolved both ways
        self.assertGreaterEqual(n, 2, out)
        opens_before = passive_opens(n6.NS_S)
        srv = subprocess.Popen(["ip", "netns", "exec", n6.NS_S, "/usr/bin/python3", "-c",
                                server_script(v6=True)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(srv)
        self.assertEqual(srv.stdout.readline().strip(), b"ready")
        client = CLIENT % {"addr": n6.SERVER6, "port": PORT, "short": self.SHORT6}
        cli = subprocess.run(["ip", "netns", "exec", n6.NS_C, "/usr/bin/python3", "-c", client],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
        stats = json.loads(self.ctl("raw", "/ctgate/synproxy/stats"))["/ctgate/synproxy/stats"]
        check_client_run(self, cli, self.SHORT6, stats)
        conns = 1 + self.SHORT6 + 2
        self.assertGreaterEqual(stats["cookies_valid"], conns, stats)
        self.assertEqual(stats["handshakes_completed"], conns, stats)
        self.assertEqual(stats["cookies_invalid"], 0, stats)
        self.assertEqual(passive_opens(n6.NS_S) - opens_before, conns)
        listing = self.ctl("conntrack", "-L", "-f", "ipv6", "-p", "tcp", "--dport", str(PORT))
        self.assertIn("src=%s dst=%s" % (n6.CLIENT6, n6.SERVER6), listing)


if __name__ == "__main__":
    unittest.main()
