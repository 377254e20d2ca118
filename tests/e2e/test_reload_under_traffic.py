#!/usr/bin/python3
"""Atomic ruleset reload under traffic, end to end.

A client streams numbered UDP datagrams through ctgate to a server while
`ctgatectl ruleset load` replaces the ruleset 100 times, alternating two
rulesets that both accept the stream (and differ elsewhere). Every datagram
must arrive: a reload may not lose a packet that both rulesets accept. The
gateway's own counters must show no hook drop either.

Topology and daemon handling come from test_netns_forward.py.

Run (root):  python3 tests/e2e/test_reload_under_traffic.py [-v]
"""

import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_netns_forward as nf  # noqa: E402

PORT = 9999
COUNT = 12000
RATE = 800  # datagrams per second: ~15 s of traffic, well below any host limit
RELOADS = 100

RULESET_A = """flush ruleset
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		udp dport %d counter accept
		icmp type echo-request accept
	}
}
""" % PORT

RULESET_B = """flush ruleset
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		udp dport { %d, 53 } counter accept
		ct state established,related counter accept
		tcp dport 22 accept
		icmp type echo-request accept
	}
}
""" % PORT

RECEIVER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("0.0.0.0", %d))
s.settimeout(3.0)
seen = set()
deadline = time.time() + 60
print("ready", flush=True)
while time.time() < deadline and len(seen) < %d:
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        if seen:
            break
        continue
    seen.add(int(data.split(b" ")[0]))
print(len(seen), flush=True)
""" % (PORT, COUNT)

SENDER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.time()
for i in range(%d):
    s.sendto(b"%%d reload-test" %% i, ("%s", %d))
    delay = start + (i + 1) / %d - time.time()
    if delay > 0:
        time.sleep(delay)
print("sent", flush=True)
""" % (COUNT, nf.SERVER, PORT, RATE)


@unittest.skipIf(nf.skip_reason() is not None, nf.skip_reason() or "")
class ReloadUnderTrafficTest(nf.NetnsForwardTest):
    test_ping_tcp_and_conntrack = None  # inherited topology only

    def test_hundred_reloads_lose_nothing(self):
        self._start_ctgate()
        files = []
        for name, text in (("a.nft", RULESET_A), ("b.nft", RULESET_B)):
            path = self.tmp.file(name)
            with open(path, "w") as f:
                f.write(text)
            files.append(path)
        self.ctl("ruleset", "load", files[0])
        # Resolve neighbours both ways before the stream starts.
        self._ping(nf.SERVER)

        rx = subprocess.Popen(["ip", "netns", "exec", nf.NS_S, "/usr/bin/python3", "-c", RECEIVER],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(rx)
        self.assertEqual(rx.stdout.readline().strip(), b"ready")
        tx = subprocess.Popen(["ip", "netns", "exec", nf.NS_C, "/usr/bin/python3", "-c", SENDER],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(tx)

        loaded = during = 0
        for i in range(RELOADS):
            self.ctl("ruleset", "load", files[(i + 1) % 2])
            loaded += 1
            during += tx.poll() is None  # the stream was still running
        print("%d reloads, %d of them while the stream ran" % (loaded, during), file=sys.stderr)
        tx_out, tx_err = tx.communicate(timeout=60)
        self.assertIn(b"sent", tx_out, tx_err)
        rx_out, rx_err = rx.communicate(timeout=70)
        received = int(rx_out.split()[-1])

        self.assertEqual(loaded, RELOADS)
        self.assertGreaterEqual(during, RELOADS // 2, "reloads must overlap the traffic")
        stats = json.loads(self.ctl("stats", "--json"))
        drops = stats["drops"]
        self.assertEqual(received, COUNT,
                         "datagrams lost across %d reloads; gateway drops: %s" % (RELOADS, drops))
        self.assertEqual(drops.get("hook", 0), 0, drops)


if __name__ == "__main__":
    unittest.main()
