#!/usr/bin/python3
"""Faults a gateway survives (issue 11), with real kernels on both sides.

The topology of test_fragments.py: client and server namespaces, ctgate between them on
net_tap ports, a `ct state` ruleset. Each test breaks one thing and checks that ctgate
keeps running, counts what it lost, and works again once the fault is gone:

- the server's link goes down and comes back: pings fail while it is down (counted as
  TX errors of the port), and succeed again after;
- the mbuf pool is emptied (fault injection holds every free mbuf): RX stops and counts
  `rx_nombuf`; once released, traffic resumes and the pool's in-use count returns to
  where it was;
- a worker stops polling for 2 s (fault injection, a busy stall before it reports
  quiescence) while a ruleset load runs: the load waits for the worker's grace period
  (it ends after the stall, in the log's order), and traffic flows after;
- SIGTERM under a flood of new flows: ctgate exits cleanly, and --dump-conntrack holds
  exactly the entries its final stats line counts;
- a second ctgate with the same file_prefix fails with a clear message naming the first,
  which keeps running; once stopped, ctgate leaves no runtime directory or hugepage file.

Why an injected stall and not SIGSTOP on the worker's thread: job-control signals stop
every thread of a process, so SIGSTOP cannot deschedule one worker alone.

Run (root):  python3 tests/e2e/test_faults.py [-v]
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_fragments as fr  # noqa: E402

nf = fr.nf
ct = fr.ct

# New flows as fast as one process makes them: a socket per datagram, so a new
# source port each time, to the port the ruleset lets in.
FLOOD_PY = """import socket, time
end = time.time() + %f
n = 0
while time.time() < end and n < %d:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ('%s', %d))
    s.close()
    n += 1
print(n, flush=True)
"""


class FaultsTest(fr.FragmentsTest):
    test_fragmented_udp_and_ping = None  # the topology only

    def _start_faulty(self):
        """ctgate with fault injection on."""
        self._start(fault_injection=True)

    def _ping_ok(self, count=3):
        p = fr.ns(fr.NS_C, "ping", "-n", "-c", str(count), "-W", "1", "-i", "0.3", fr.SERVER,
                  check=False, timeout=30)
        out = p.stdout.decode(errors="replace")
        m = re.search(r"(\d+) received", out)
        return int(m.group(1)) if m else 0

    def _raw(self, cmd):
        reply = json.loads(self.ctl("--json", "raw", cmd))
        return reply[cmd.split(",", 1)[0]]

    def _info(self):
        return self._raw("/ctgate/info")

    def _port(self, name):
        ports = json.loads(self.ctl("--json", "raw", "/ctgate/ports"))["/ctgate/ports"]
        return next(p for p in ports.values() if p["name"] == name)

    def test_link_down_and_up(self):
        self._start()
        self.assertEqual(self._ping_ok(), 3)
        fr.ns(fr.NS_S, "ip", "link", "set", fr.TAP_W, "down")
        before = self._port("wan")
        self.assertEqual(self._ping_ok(3), 0, "pings while the server's link is down")
        after = self._port("wan")
        fr.ns(fr.NS_S, "ip", "link", "set", fr.TAP_W, "up")
        # The kernel dropped the server's default route with the link: back, as
        # an operator (or networkd) would do.
        fr.ns(fr.NS_S, "ip", "route", "replace", "default", "via", fr.GW_W)
        # The kernel needs the link up (and its route back) before it answers: a bound.
        got = 0
        for _ in range(10):
            got = self._ping_ok(2)
            if got:
                break
        print("link down: wan tx %d -> %d, oerrors %d -> %d; after up: %d/2 replies" % (
            before["tx_packets"], after["tx_packets"], before.get("hw_oerrors", 0),
            after.get("hw_oerrors", 0), got), file=sys.stderr)
        self.assertGreater(got, 0, "forwarding again once the link is up")
        lost = (after.get("hw_oerrors", 0) - before.get("hw_oerrors", 0)) + \
            (after["tx_packets"] - after.get("hw_opackets", 0)) - \
            (before["tx_packets"] - before.get("hw_opackets", 0))
        self.assertGreater(lost, 0, "the frames the down link refused are counted")
        self.assertIsNone(self.daemon.proc.poll(), "ctgate still running")

    def test_mbuf_pool_emptied(self):
        self._start_faulty()
        self.assertEqual(self._ping_ok(), 3)
        base = self._info()["mbufs_in_use"]
        held = self._raw("/ctgate/fault/hold_mbufs,1000000")["held"]
        self.assertGreater(held, 0)
        nombuf_before = self._port("lan").get("hw_rx_nombuf", 0)
        self.assertEqual(self._ping_ok(3), 0, "no mbufs, no forwarding")
        nombuf = self._port("lan").get("hw_rx_nombuf", 0) - nombuf_before
        released = self._raw("/ctgate/fault/release_mbufs")["released"]
        self.assertEqual(released, held)
        got = 0
        for _ in range(10):
            got = self._ping_ok(2)
            if got:
                break
        time.sleep(0.5)
        after = self._info()["mbufs_in_use"]
        print("pool emptied: held=%d rx_nombuf=+%d in_use %d -> %d, replies after=%d" % (
            held, nombuf, base, after, got), file=sys.stderr)
        self.assertGreater(nombuf, 0, "RX without mbufs is counted")
        self.assertGreater(got, 0, "traffic resumes")
        # Per-lcore caches can hold a few more or fewer than before: not a leak.
        self.assertLessEqual(abs(after - base), 512 + 32)

    def test_worker_stall_delays_the_grace_period(self):
        self._start_faulty()
        self.assertEqual(self._ping_ok(), 3)
        rules = self.tmp.file("again.nft")
        with open(rules, "w") as f:
            f.write(fr.RULESET)
        self.assertEqual(self._raw("/ctgate/fault/stall_worker,0 2000")["stalling_ms"], 2000)
        self.ctl("ruleset", "load", rules)
        workers = json.loads(self.ctl("--json", "raw", "/ctgate/workers"))["/ctgate/workers"]
        gap_us = workers["worker0"]["loop_gap_max_us"]
        print("stall: loop_gap_max_us=%d" % gap_us, file=sys.stderr)
        # The load's grace period cannot end before the stalled worker's next
        # quiescent report, so the load returns after the stall: the stall is
        # then in the worker's longest loop gap, and the daemon logged the load.
        self.assertGreaterEqual(gap_us, 2000000)
        self.assertTrue(self.daemon.wait_for_log(r"ruleset .*again.nft loaded", timeout=30))
        self.assertEqual(self._ping_ok(), 3)

    def test_sigterm_under_a_flood_dumps_every_entry(self):
        dump = self.tmp.file("ct.txt")
        self._start(dump=dump)
        self.assertEqual(self._ping_ok(1), 1)
        flood = subprocess.Popen(
            ["ip", "netns", "exec", fr.NS_C, "timeout", "30", "python3", "-c",
             FLOOD_PY % (20.0, 2000000, fr.SERVER, fr.UDP_PORT)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self.procs.append(flood)
        for _ in range(100):  # until the table has a few thousand entries (bounded)
            if int(self.ctl("conntrack", "-C").strip()) > 3000:
                break
            time.sleep(0.1)
        t0 = time.monotonic()
        os.kill(self.daemon.proc.pid, signal.SIGTERM)
        try:
            rc = self.daemon.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("ctgate did not stop within 30 s of SIGTERM")
        took = time.monotonic() - t0
        nf.stop_pid(flood)
        log = self.daemon.log()
        stats = ct.parse_final_stats(log)
        with open(dump) as f:
            lines = f.read().splitlines()
        print("sigterm under flood: exit %d after %.2f s, ct_count=%s, dump lines=%d" % (
            rc, took, stats and stats.get("ct_count"), len(lines)), file=sys.stderr)
        self.assertEqual(rc, 0, log[-2000:])
        self.assertIn("ctgate stopped", log)
        self.assertIsNotNone(stats, log[-2000:])
        self.assertGreater(stats["ct_count"], 3000)
        self.assertEqual(len(lines), stats["ct_count"])
        self.assertEqual(len(ct.parse_conntrack_lines("\n".join(lines))), len(lines))
        self.assertFalse(os.path.exists("/var/run/dpdk/" + self.prefix), "runtime dir left")

    def test_second_instance_with_the_same_prefix(self):
        self._start(huge=True)  # so that hugepage files are there to be removed
        first = self.daemon
        # No prefix: the harness must not clean the first one's runtime directory.
        second = ct.run_ctgate(first.cmd[first.cmd.index("--config") + 1],
                               self.tmp.file("second.log"), timeout=60)
        log2 = second.log
        self.assertEqual(second.rc, 1, log2[-2000:])
        self.assertIn("eal.file_prefix '%s' is in use by process %d" % (
            self.prefix, first.proc.pid), log2)
        self.assertIsNone(first.proc.poll(), "the first ctgate keeps running")
        self.assertEqual(self._ping_ok(), 3)
        self.assertEqual(first.stop(grace=20), 0)
        self.assertFalse(os.path.exists("/var/run/dpdk/" + self.prefix), "runtime dir left")
        leftovers = [n for d in ("/dev/hugepages",) if os.path.isdir(d)
                     for n in os.listdir(d) if n.startswith(self.prefix + "map_")]
        self.assertEqual(leftovers, [])


class AfPacketVethRecreatedTest(nf.NetnsForwardTest):
    """On net_af_packet: the server's veth deleted, then made again with the same name."""
    test_ping_tcp_and_conntrack = None  # the topology only

    def _ping_ok(self, count=3):
        p = nf.ns(nf.NS_C, "ping", "-n", "-c", str(count), "-W", "1", "-i", "0.3", nf.SERVER,
                  check=False, timeout=30)
        m = re.search(r"(\d+) received", p.stdout.decode(errors="replace"))
        return int(m.group(1)) if m else 0

    def _make_wan(self):
        nf.sh("ip", "link", "add", nf.IF_W, "type", "veth", "peer", "name", "eth0", "netns",
              nf.NS_S)
        nf.sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % nf.IF_W, check=False)
        nf.sh("ip", "link", "set", nf.IF_W, "up")
        nf.ns(nf.NS_S, "ip", "addr", "add", nf.SERVER + "/24", "dev", "eth0")
        nf.ns(nf.NS_S, "ip", "link", "set", "eth0", "up")
        nf.ns(nf.NS_S, "ip", "route", "add", "default", "via", nf.GW_W)
        nf.ns(nf.NS_S, "ethtool", "-K", "eth0", "tx", "off")

    def test_veth_deleted_and_made_again(self):
        self._start_ctgate()
        self.assertEqual(self._ping_ok(), 3)
        nf.sh("ip", "link", "del", nf.IF_W)
        self.assertTrue(self.daemon.wait_for_log(r"port wan: interface .* is gone", timeout=10),
                        self.daemon.log()[-2000:])
        self.assertEqual(self._ping_ok(2), 0, "no server while its veth is gone")
        drops = json.loads(self.ctl("--json", "raw", "/ctgate/drops"))["/ctgate/drops"]
        self._make_wan()
        self.assertTrue(self.daemon.wait_for_log(r"port wan: .* attached again", timeout=10),
                        self.daemon.log()[-2000:])
        got = 0
        for _ in range(10):  # the server's kernel resolves the gateway again: bounded
            got = self._ping_ok(2)
            if got:
                break
        print("af_packet veth recreated: drops while gone %s; replies after %d/2" % (
            {k: v for k, v in drops.items() if v}, got),
              file=sys.stderr)
        self.assertGreater(got, 0, "forwarding again on the new veth")
        self.assertIsNone(self.daemon.proc.poll())
        rc = self.daemon.stop(grace=20)
        self.assertEqual(rc, 0, self.daemon.log()[-2000:])


if __name__ == "__main__":
    unittest.main()
