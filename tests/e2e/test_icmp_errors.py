#!/usr/bin/python3
"""ICMP errors from the gateway, with real kernel programs (issue 10).

The topology of test_netns_forward.py (client and server namespaces, ctgate between them on
net_af_packet ports):

- `traceroute` from the client to the server shows the gateway as hop 1: ctgate answers the
  TTL-1 probes with time exceeded, from its lan address.
- The first ping to the server is answered: ctgate holds it while ARP resolves the server
  (Linux's neighbour queue), and `ctgatectl neigh` then lists the server as REACHABLE.
- A ping to an address on the wan subnet that nobody has gets "Destination Host
  Unreachable" from the gateway once ARP gives up (arp.mcast_solicit requests).
- With ctgate's wan port at MTU 1280 while both hosts keep 1500, kernel TCP moves 10 MB
  from the client to the server: its 1500-byte DF segments are refused with "fragmentation
  needed, MTU 1280", the client's kernel lowers the path MTU (visible in its route cache)
  and the transfer completes with the right checksum (path-MTU discovery).

Run (root):  python3 tests/e2e/test_icmp_errors.py [-v]
"""

import json
import os
import re
import shutil
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_netns_forward as nf  # noqa: E402


def missing_tools():
    for tool in ("traceroute",):
        if shutil.which(tool) is None:
            return "%s is not installed (.ci/setup.sh installs it)" % tool
    return None


@unittest.skipIf(nf.skip_reason() is not None or missing_tools() is not None,
                 nf.skip_reason() or missing_tools() or "")
class IcmpErrorsTest(nf.NetnsForwardTest):
    test_ping_tcp_and_conntrack = None  # inherited topology only

    def _start(self, wan_mtu=None):
        orig = nf.ct.make_config

        def patched(*a, **kw):
            cfg = orig(*a, **kw)
            if wan_mtu is not None:
                cfg["ports"][1]["mtu"] = wan_mtu
            return cfg
        nf.ct.make_config = patched
        try:
            self._start_ctgate()
        finally:
            nf.ct.make_config = orig

    def counters(self):
        return json.loads(self.ctl("raw", "/ctgate/counters"))["/ctgate/counters"]

    def test_traceroute_shows_the_gateway_hop(self):
        self._start()
        got, out = self._ping(nf.SERVER)  # neighbours resolved both ways
        self.assertGreater(got, 0, out)
        p = nf.ns(nf.NS_C, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", nf.SERVER,
                  check=False, timeout=60)
        out = p.stdout.decode(errors="replace")
        hops = {}
        for line in out.splitlines():
            m = re.match(r"\s*(\d+)\s+(\S+)", line)
            if m:
                hops[int(m.group(1))] = m.group(2)
        self.assertEqual(hops.get(1), nf.GW_L, "hop 1 should be the gateway:\n" + out)
        self.assertEqual(hops.get(2), nf.SERVER, "hop 2 should be the server:\n" + out)
        c = self.counters()
        self.assertGreaterEqual(c.get("icmp_error_sent", 0), 1, c)

    def test_first_ping_to_a_new_neighbour_is_answered(self):
        self._start()
        p = nf.ns(nf.NS_C, "ping", "-n", "-c", "1", "-W", "5", nf.SERVER, check=False,
                  timeout=20)
        out = p.stdout.decode(errors="replace")
        self.assertIn("1 received", out, "the first ping was lost:\n" + out)
        neigh = self.ctl("neigh")
        line = [l for l in neigh.splitlines() if l.startswith(nf.SERVER + " ")]
        self.assertEqual(len(line), 1, neigh)
        self.assertIn("dev wan lladdr", line[0])
        self.assertTrue(line[0].endswith("REACHABLE"), line[0])
        c = self.counters()
        self.assertGreaterEqual(c.get("neigh_queue_sent", 0), 1, c)

    def test_unanswered_neighbour_gives_host_unreachable(self):
        self._start()
        nobody = "10.77.2.99"
        p = nf.ns(nf.NS_C, "ping", "-n", "-c", "1", "-W", "8", nobody, check=False, timeout=20)
        out = p.stdout.decode(errors="replace")
        self.assertIn("From %s" % nf.GW_L, out, out)
        self.assertIn("Destination Host Unreachable", out, out)
        neigh = self.ctl("neigh")
        self.assertIn(nobody + " dev wan FAILED", neigh)

    def test_pmtu_discovery_across_a_1280_byte_link(self):
        self._start(wan_mtu=1280)
        got, out = self._ping(nf.SERVER)
        self.assertGreater(got, 0, out)
        saved = nf.DATA_BYTES
        nf.DATA_BYTES = 10 * 1024 * 1024
        try:
            want, have, n, client, server = self._tcp_transfer()
        finally:
            nf.DATA_BYTES = saved
        self.assertEqual(client.returncode, 0, client.stderr.decode(errors="replace"))
        self.assertEqual(n, 10 * 1024 * 1024, "bytes received")
        self.assertEqual(want, have, "sha256 of the 10 MB transfer")
        c = self.counters()
        self.assertGreaterEqual(c.get("drop_mtu_exceeded", 0), 1, c)
        self.assertGreaterEqual(c.get("icmp_error_sent", 0), 1, c)
        route = nf.ns(nf.NS_C, "ip", "route", "get", nf.SERVER, check=False).stdout.decode()
        self.assertIn("mtu 1280", route, "the client's kernel learned the path MTU")


if __name__ == "__main__":
    unittest.main(verbosity=2)
