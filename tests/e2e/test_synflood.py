#!/usr/bin/python3
"""A SYN flood against a service behind ctgate, with and without synproxy.

ctgate has three ports: lan and wan on veths to a client and a server
namespace (real kernel TCP), and `flood` on net_memif, fed by ctgate-gen
with spoofed SYNs from 1M distinct (address, port) sources at the server's
service port, as fast as the machine allows, for a bounded time.

With synproxy (the nft rules users write, and tcp_loose off): a real client
opens 200 connections during the flood and all succeed; the conntrack table
never holds an entry from a spoofed source (sampled during the flood and
checked after) and never reaches conntrack.max; the counters account for
every SYN (cookies sent + cookies not sent = SYNs received by synproxy).

Without synproxy and with a small conntrack.max (the second article): the
spoofed SYNs fill the table, it stays at max, and new flows, the client's
among them, are dropped by conntrack: the defence is what makes the
difference.

Automatic defence (config `synproxy.auto`, no ruleset): the flood's new-flow
rate crosses the threshold and cookie mode goes on (logged, counted); from
then on the table stops taking spoofed entries and real connections still
succeed; after the flood, cookie mode goes off again (logged, counted).

Run (root):  python3 tests/e2e/test_synflood.py [-v]
"""

import json
import os
import re
import select
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_netns_forward as nf  # noqa: E402
import test_synproxy as sp  # noqa: E402

GEN = os.path.join(nf.ct.build_dir(), "bench", "ctgate-gen")
PORT = sp.PORT
FLOOD_SECONDS = 12
FLOOD_FLOWS = 1 << 20
LEGIT = 200
SOCK = "/tmp/ctgt-flood-%d.sock" % nf.PID
GW_FLOOD_MAC, GEN_MAC = "02:fe:00:00:00:01", "02:fe:00:00:00:02"

CLIENT = r"""
import json, socket, sys, time
ok = 0
fails = []
for i in range(%d):
    try:
        c = socket.create_connection(("%s", %d), timeout=%s)
        c.settimeout(10)
        msg = b"ECHO" + b"legit %%d" %% i
        c.sendall(msg)
        got = b""
        while len(got) < len(msg) - 4:
            d = c.recv(100)
            if not d:
                break
            got += d
        c.close()
        ok += got == msg[4:]
    except Exception as e:
        fails.append("%%d: %%s" %% (i, e))
    time.sleep(0.02)
print(json.dumps({"ok": ok, "fails": fails[:5]}), flush=True)
"""


def skip_reason():
    r = nf.skip_reason()
    if r:
        return r
    if not os.access(GEN, os.X_OK):
        return "ctgate-gen not built"
    return None


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class SynFloodTest(nf.NetnsForwardTest):
    test_ping_tcp_and_conntrack = None  # inherited topology only

    def _start(self, ct_max, loose, synproxy=None):
        # A ctgate that had to be killed leaves its memif socket behind, and
        # the next one could not create it: never let one failure cascade.
        self._remove_socket()
        self.addCleanup(self._remove_socket)
        ports = [{"name": "lan", "devargs": "net_af_packet0,iface=%s,qpairs=1" % nf.IF_L,
                  "address": nf.GW_L + "/24"},
                 {"name": "wan", "devargs": "net_af_packet1,iface=%s,qpairs=1" % nf.IF_W,
                  "address": nf.GW_W + "/24"},
                 {"name": "flood",
                  "devargs": "net_memif0,role=server,socket=%s,socket-abstract=no,mac=%s" % (
                      SOCK, GW_FLOOD_MAC),
                  "address": "10.98.0.1/24"}]
        cfg = nf.ct.make_config(
            self.prefix, ports,
            # The spoofed sources live behind the flood port: answers to them
            # (cookie SYN-ACKs) go back to the generator, with no ARP.
            routes=[{"prefix": "10.99.0.0/16", "via": "10.98.0.2", "port": "flood"}],
            neighbors=[{"address": "10.98.0.2", "mac": GEN_MAC, "port": "flood"}],
            conntrack={"enable_hooks": True, "max": ct_max, "tcp_loose": loose},
            no_huge=False, memory_mb=512, mbufs=16384)
        if synproxy is not None:
            cfg["synproxy"] = synproxy
        path = nf.ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        # run_seconds only stops a ctgate whose test died without cleaning
        # up: far above any test's length, even on a starved machine.
        self.daemon = nf.ct.Daemon(path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                   run_seconds=600)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=30):
            self.fail("ctgate did not start:\n" + self.daemon.log()[-3000:])

    def _server(self):
        srv = subprocess.Popen(["ip", "netns", "exec", nf.NS_S, "/usr/bin/python3", "-c",
                                sp.server_script()], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(srv)
        self.assertEqual(srv.stdout.readline().strip(), b"ready")

    def _flood(self, seconds=FLOOD_SECONDS, rate_pps=0):
        cmd = [GEN, "--rate-pps", str(rate_pps), "--tx-port", "0", "--rx-port", "0", "--proto", "tcp", "--tcp-syn",
               "--flows", str(FLOOD_FLOWS), "--src-ip", "10.99.0.0", "--dst-ip", nf.SERVER,
               "--dst-port", str(PORT), "--src-mac", GEN_MAC, "--dst-mac", GW_FLOOD_MAC,
               "--seconds", str(seconds), "--warmup", "0", "--hold-until-stdin-eof", "--",
               "--no-pci", "--file-prefix", "ctgt-gen-%d" % nf.PID, "--lcores", "0@1,1@0",
               "-m", "256", "--vdev",
               "net_memif0,role=client,socket=%s,socket-abstract=no" % SOCK]
        with open(self.tmp.file("gen.log"), "wb") as log:
            gen = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        # The generator keeps its memif port open after its result until its stdin
        # closes: ctgate is stopped first, since a memif peer leaving while ctgate
        # still sends on the port can crash it (docs/reliability.md, Faults). Then
        # the generator is stopped (if still running) and its runtime directory
        # and hugepage files (256 MB) removed, whatever happens to the test.
        def reap(prefix="ctgt-gen-%d" % nf.PID):
            if self.daemon is not None:
                self.daemon.stop(grace=10)
            try:
                gen.stdin.close()
                gen.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            nf.stop_pid(gen)
            gen.stdout.close()
            nf.ct.cleanup_prefix(prefix)
        self.addCleanup(reap)
        return gen

    def _gen_result(self, gen, seconds=FLOOD_SECONDS):
        """The generator's result line, read without closing its stdin (it holds its
        port open until then); waits at most `seconds` + 60 s."""
        out, deadline = b"", time.monotonic() + seconds + 60
        while b"gen: sent=" not in out or not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([gen.stdout], [], [], left)[0]:
                break
            chunk = os.read(gen.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
        m = re.search(rb"gen: sent=(\d+) received=(\d+)", out)
        if m is None:
            with open(self.tmp.file("gen.log"), "rb") as log:
                self.fail((out + log.read()[-2000:]).decode(errors="replace"))
        return int(m.group(1)), int(m.group(2))

    def _legit(self, n, connect_timeout):
        return subprocess.Popen(
            ["ip", "netns", "exec", nf.NS_C, "/usr/bin/python3", "-c",
             CLIENT % (n, nf.SERVER, PORT, connect_timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def _sample_table(self, seconds):
        """While the flood runs: the largest `conntrack -C` seen (exact), and any
        `conntrack -L` line from a spoofed source (a listing is not a point-in-time
        snapshot under churn, so it is not used for counting)."""
        peak, spoofed = 0, []
        end = time.time() + seconds
        while time.time() < end:
            peak = max(peak, int(self.ctl("conntrack", "-C").strip()))
            spoofed += [l for l in self.ctl("conntrack", "-L").splitlines() if "src=10.99." in l]
            time.sleep(1.0)
        return peak, spoofed

    def _flood_with_clients(self, n, connect_timeout, head_start):
        """The full-length flood; `head_start` s into it, a client opens `n` connections
        while the table is sampled. Returns (SYNs sent, peak table, spoofed lines seen,
        the client's result, `ctgatectl stats --json` after)."""
        gen = self._flood()
        time.sleep(head_start)
        client = self._legit(n, connect_timeout)
        peak, spoofed = self._sample_table(FLOOD_SECONDS - head_start - 2)
        sent, _ = self._gen_result(gen)
        out, _ = client.communicate(timeout=300)
        res = json.loads(out.decode().strip().splitlines()[-1])
        return sent, peak, spoofed, res, json.loads(self.ctl("stats", "--json"))

    @staticmethod
    def _remove_socket():
        if os.path.exists(SOCK):
            os.unlink(SOCK)

    def _start_synproxy(self, ct_max):
        """ctgate with the synproxy ruleset users write (tcp_loose off), and the server."""
        self._start(ct_max, loose=False)
        self._load_rules("synproxy.nft", sp.RULESET)
        self._ping(nf.SERVER)
        self._server()

    def _load_rules(self, name, text):
        rules = self.tmp.file(name)
        with open(rules, "w") as f:
            f.write(text)
        self.ctl("ruleset", "load", rules)

    def test_flood_with_synproxy(self):
        ct_max = 65536
        self._start_synproxy(ct_max)

        sent, peak, spoofed, res, stats = self._flood_with_clients(LEGIT, 10, head_start=1.0)
        syn = stats["synproxy"]
        ct = stats["conntrack"]
        flood_rx = stats["ports"]["flood"]["rx_packets"]
        final = [l for l in self.ctl("conntrack", "-L").splitlines() if "src=10.99." in l]
        print("flood: sent=%d flood_rx=%d peak_table=%d synproxy=%s" % (sent, flood_rx, peak, syn),
              file=sys.stderr)

        self.assertGreaterEqual(sent, 1000000, "the generator must send at least 1M SYNs")
        self.assertEqual(res["ok"], LEGIT, res)
        self.assertEqual(spoofed, [], "entries from spoofed sources during the flood")
        self.assertEqual(final, [], "entries from spoofed sources after the flood")
        self.assertLess(peak, ct_max)
        self.assertEqual(sum(ct[w]["drop"] for w in ct if w.startswith("worker")), 0)
        # Every SYN that reached synproxy got a cookie or a counted drop, and
        # every frame the flood port received was such a SYN.
        self.assertEqual(syn["syn_received"], syn["cookies_sent"] + syn["cookies_not_sent"], syn)
        self.assertGreaterEqual(syn["syn_received"], flood_rx)
        self.assertGreaterEqual(flood_rx, 1000000 * 0.5, "most of the flood reached ctgate")

    def test_flood_without_synproxy_fills_the_table(self):
        ct_max = 2048
        self._start(ct_max, loose=True)
        self._load_rules("plain.nft", "table ip filter {\n\tchain forward {\n\t\ttype filter "
                         "hook forward priority filter;\n\t\tct state new counter\n\t}\n}\n")
        self._ping(nf.SERVER)
        self._server()
        sent, peak, spoofed, res, stats = self._flood_with_clients(20, 2, head_start=2.0)
        ct = stats["conntrack"]
        drops = sum(ct[w]["drop"] for w in ct if w.startswith("worker"))
        print("no synproxy: sent=%d peak_table=%d ct_drop=%d legit_ok=%d/20 %s" % (
            sent, peak, drops, res["ok"], res["fails"][:2]), file=sys.stderr)
        self.assertEqual(peak, ct_max, "the spoofed SYNs fill the table")
        self.assertGreater(len(spoofed), 0)
        self.assertGreater(drops, 0, "conntrack drops new flows once full")
        self.assertLess(res["ok"], 20, "legitimate connections suffer")

    def test_automatic_defence_switches_on_and_off(self):
        ct_max = 262144
        # The switch looks at the rate every 100 ms: at this flood rate the
        # spoofed SYNs tracked before it (~0.2 s) stay well under the 50%
        # fill that would keep cookie mode on after the flood.
        rate, seconds = 300000, 8
        self._start(ct_max, loose=True, synproxy={
            "auto": True, "ports": [PORT], "on_new_flows_per_s": 20000,
            "on_table_percent": 80, "off_table_percent": 50})
        self._ping(nf.SERVER)
        self._server()
        self.assertEqual(json.loads(self.ctl("synproxy", "stats", "--json"))["mode"],
                         "auto: standby")
        gen = self._flood(seconds, rate)
        self.assertTrue(self.daemon.wait_for_log(r"cookie mode ON", timeout=5),
                        "cookie mode did not switch on:\n" + self.daemon.log()[-2000:])
        time.sleep(0.5)
        on_stats = json.loads(self.ctl("synproxy", "stats", "--json"))
        after_on = int(self.ctl("conntrack", "-C").strip())
        client = self._legit(50, 10)
        out, _ = client.communicate(timeout=120)
        res = json.loads(out.decode().strip().splitlines()[-1])
        during = int(self.ctl("conntrack", "-C").strip())
        sent, _ = self._gen_result(gen, seconds)
        # A bound on the wait, not a timing: the switch needs the flood's
        # backlog drained and the rates below half the threshold, which a
        # starved machine can take a while to show.
        if not self.daemon.wait_for_log(r"cookie mode OFF", timeout=60):
            self.fail("cookie mode did not switch off:\n%s\n%s" % (
                self.ctl("synproxy", "stats"), self.daemon.log()[-2000:]))
        final = json.loads(self.ctl("synproxy", "stats", "--json"))
        lines = [l for l in self.daemon.log().splitlines() if "synproxy auto:" in l]
        print("auto: sent=%d table_after_on=%d table_during=%d legit=%d/50 cookies=%d %s" % (
            sent, after_on, during, res["ok"], final["cookies_sent"], lines), file=sys.stderr)
        self.assertEqual(on_stats["mode"], "auto: cookies on")
        self.assertEqual(res["ok"], 50, res)
        # Once on, spoofed SYNs add nothing: only the client's 50 flows (and
        # expiries) change the count.
        self.assertLessEqual(during, after_on + 50)
        self.assertLess(after_on, ct_max // 2)
        self.assertGreater(final["cookies_sent"], 100000)
        self.assertEqual(final["mode"], "auto: standby")
        self.assertEqual(final["auto_switches_on"], 1)
        self.assertEqual(final["auto_switches_off"], 1)
        self.assertEqual(len(lines), 2, lines)  # both transitions logged, once each


if __name__ == "__main__":
    unittest.main()
