#!/usr/bin/python3
"""Differential test: ctgate's nftables firewall (with conntrack) against the Linux kernel's.

Each test loads one ruleset file from tests/e2e/rulesets/ twice:

  kernel:  `nft -f FILE` in netns R (after `nft flush ruleset`). R's interfaces are named
           `lan` (to netns C, 10.0.1.1/24) and `wan` (to netns S, 10.0.2.1/24), so
           `iifname "lan"` means the same as on ctgate.
  ctgate:  `ctgate-replay --config CFG --ruleset FILE`, ports `lan` (port 0) and `wan`
           (port 1), static neighbours, `conntrack.enable_hooks: false`: conntrack is
           registered by the ruleset's ct rules, as in the kernel.

The same packet sequence then goes through both, and the test compares every packet's
verdict (the kernel forwarded the frame <=> ctgate transmitted it on the other port) and the
conntrack tables at checkpoints and at the end.

The kernel side reuses test_conntrack_differential.py (imported, not copied): its Step,
TcpFlow and packet builders, its Peer process driver, its table normalisation and its
documented known differences (trackers.md #3). What is new here is how a *drop* is
observed fast: after each packet the sender also sends an IPv6 "sentinel" frame along the
same path (R forwards IPv6; the rulesets are `table ip`, so IPv6 passes untouched and
untracked). Frames on one path are handled in order, so when the far side sees the sentinel
without the packet, R has dropped the packet; no 2 s timeout per drop. A short grace period
after the sentinel still catches a reordered packet (counted as "late").

Known differences are explicit: a per-packet verdict difference has to be declared on its
step (`vknown`), is checked to be exactly the documented one and printed as
"KNOWN DIFFERENCE". Table differences use test_conntrack_differential's mechanism.
See tests/e2e/README.md.

Run (root):  python3 tests/e2e/test_ruleset_differential.py [-v] [Class.test_name]
Environment: CTGATE_BUILD_DIR, CTGATE_KEEP_TMP, CTDIFF_VERBOSE=1 (print every table),
             RSDIFF_GRACE_MS (default 10).
"""

import os
import re
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import ctgate_test as ct  # noqa: E402

ct.reexec_with_system_python("scapy")

import random  # noqa: E402

import test_conntrack_differential as ctd  # noqa: E402
from scapy.all import ICMP, IP, TCP, UDP, Ether, IPv6, Raw  # noqa: E402

PID = os.getpid()
NS_R = "rsdf-r-%d" % PID
NS_C = "rsdf-c-%d" % PID
NS_S = "rsdf-s-%d" % PID
RULESETS = os.path.join(HERE, "rulesets")

CLIENT, GW_L, SERVER, GW_W = ctd.CLIENT, ctd.GW_L, ctd.SERVER, ctd.GW_W
# Further hosts on each side (ruleset 2's sets and prefixes, the randomized test). Every
# one has a static neighbour entry on both routers; all of them live behind C or S.
CLIENTS = [CLIENT] + ["10.0.1.%d" % n for n in (3, 15, 16, 31, 50, 99, 100, 120, 121, 200, 201)]
SERVERS = [SERVER] + ["10.0.2.%d" % n for n in (3, 127, 128, 200)]
# IPv6 for the sentinels only.
C6, GW6_L, S6, GW6_W = "fd00:1::2", "fd00:1::1", "fd00:2::2", "fd00:2::1"

FORWARD_WAIT_MS = 2000   # no frame and no sentinel after this long: the harness is broken
GRACE_MS = int(os.environ.get("RSDIFF_GRACE_MS", "10"))  # after the sentinel, for a late frame
PASS, DROP = True, False
# Tests that show a ctgate bug are expected failures, so the suite stays green until the fix;
# RSDIFF_SHOW_BUGS=1 runs them as plain tests, to see the mismatch in detail.
known_bug = (lambda f: f) if os.environ.get("RSDIFF_SHOW_BUGS") else unittest.expectedFailure

# The per-namespace packet helper (standard library only):
#   send HEX [HEX...]      -> "sent"              (the frames, in order, on one socket)
#   wait IPID MS GRACE ADDRS -> "got HEX [late]" | "none" | "lost"
# `wait` looks for the IPv4 frame with IP id IPID and source and destination ADDRS (hex). The IPv6/UDP sentinel with flow label
# IPID means the frame was dropped, unless it still comes within GRACE ms ("late").
# "lost": neither came within MS.
HELPER = r'''
import select, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.setblocking(False)
print("ready", flush=True)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    p = line.split()
    if not p:
        continue
    if p[0] == "send":
        for h in p[1:]:
            s.send(bytes.fromhex(h))
        print("sent", flush=True)
    elif p[0] == "wait":
        want, ms, grace, addrs = int(p[1]), int(p[2]), int(p[3]), bytes.fromhex(p[4])
        deadline, got, sentinel = time.monotonic() + ms / 1000.0, None, False
        while got is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not select.select([s], [], [], left)[0]:
                continue
            for _ in range(10000):
                try:
                    data, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == 4:          # PACKET_OUTGOING: our own sends
                    continue
                et = data[12:14]
                if et == b"\x08\x00" and len(data) >= 34 and \
                        int.from_bytes(data[18:20], "big") == want and data[26:34] == addrs:
                    got = data
                    break
                if et == b"\x86\xdd" and len(data) >= 62 and data[20] == 17 and not sentinel \
                        and int.from_bytes(data[14:18], "big") & 0xfffff == want:
                    sentinel = True
                    deadline = min(deadline, time.monotonic() + grace / 1000.0)
        if got is not None:
            print("got " + got.hex() + (" late" if sentinel else ""), flush=True)
        else:
            print("none" if sentinel else "lost", flush=True)
    elif p[0] == "quit":
        break
'''


class Peer(ctd.Peer):
    """ctd's helper driver, with the sentinel protocol above."""

    def send_frames(self, *frames):
        r = self._cmd("send " + " ".join(bytes(f).hex() for f in frames), 10)
        if r != "sent":
            raise RuntimeError("helper in %s: send failed: %r" % (self.netns, r))

    def verdict(self, ipid, src, dst):
        """(forwarded frame or None, late)."""
        addrs = socket.inet_aton(src) + socket.inet_aton(dst)
        r = self._cmd("wait %d %d %d %s" % (ipid, FORWARD_WAIT_MS, GRACE_MS, addrs.hex()),
                      FORWARD_WAIT_MS / 1000.0 + 10)
        if r.startswith("got "):
            parts = r.split()
            return bytes.fromhex(parts[1]), len(parts) > 2
        if r == "none":
            return None, False
        raise RuntimeError("helper in %s: neither frame %d nor its sentinel arrived (%r): "
                           "R is not forwarding IPv6 sentinels" % (self.netns, ipid, r))


# --------------------------------------------------------------------------- steps

def _at(st, client, server, expect=None, vknown=None):
    """Puts a ctd Step on other hosts ('c' = the lan-side host, 's' = the wan-side one) and
    attaches the expected kernel verdict (a check of the test's design against the oracle)
    and a declared verdict difference, if any."""
    st.pkt[IP].src, st.pkt[IP].dst = (client, server) if st.side == "c" else (server, client)
    st.expect = expect
    st.vknown = vknown
    return st


def tcp(side, cport, sport, flags, seq, ack=0, payload=b"", client=CLIENT, server=SERVER,
        expect=None, vknown=None, **kw):
    """A TCP segment between lan host `client`:cport and wan host `server`:sport."""
    a, b = (cport, sport) if side == "c" else (sport, cport)
    return _at(ctd.tcp(side, a, b, flags, seq, ack, payload, **kw), client, server, expect,
               vknown)


def udp(side, cport, sport, payload=b"x", client=CLIENT, server=SERVER, expect=None,
        vknown=None, **kw):
    a, b = (cport, sport) if side == "c" else (sport, cport)
    return _at(ctd.udp(side, a, b, payload, **kw), client, server, expect, vknown)


def icmp(side, itype, ident, seq, client=CLIENT, server=SERVER, expect=None, vknown=None,
         **kw):
    return _at(ctd.icmp(side, itype, ident, seq, **kw), client, server, expect, vknown)


class Flow(ctd.TcpFlow):
    """ctd.TcpFlow (consistent sequence numbers) between any lan and wan hosts; every
    packet builder also takes expect= and vknown=."""

    def __init__(self, cport, sport, cisn, sisn, client=CLIENT, server=SERVER):
        super().__init__(cport, sport, cisn, sisn)
        self.client, self.server = client, server
        self.tuple = (6, client, server, str(cport), str(sport))

    def _pkt(self, side, flags, payload=b"", ack=True, expect=None, vknown=None, **kw):
        st = super()._pkt(side, flags, payload, ack, **kw)
        st.flow = self.tuple
        return _at(st, self.client, self.server, expect, vknown)


def icmp_error(side, quoted, itype=3, code=3, client=CLIENT, server=SERVER, expect=None,
               vknown=None, note=""):
    """An ICMP error sent by `side` that quotes `quoted` (a Step's packet as it was
    forwarded: TTL one lower) - IP header and the first 8 bytes of its payload."""
    q = quoted.pkt.copy()
    q[IP].ttl -= 1
    raw = bytes(q)
    src, dst = (client, server) if side == "c" else (server, client)
    st = ctd.Step(side, IP(src=src, dst=dst) / ICMP(type=itype, code=code) /
                  Raw(raw[:(raw[0] & 15) * 4 + 8]), note=note)
    st.expect, st.vknown = expect, vknown
    return st


# --------------------------------------------------------------------------- the test

@unittest.skipIf(ctd.skip_reason() is not None, ctd.skip_reason() or "")
class RulesetDifferentialTest(unittest.TestCase):
    maxDiff = None

    # Reused from the conntrack differential test: the frame builder, the documented
    # conntrack differences and the table/timeout comparison (which reads self.sysctls,
    # self.applied_known and calls these).
    _note_known = ctd.DifferentialBase._note_known
    _apply_known = ctd.DifferentialBase._apply_known
    _compare_tables = ctd.DifferentialBase._compare

    WAN_MTU = None  # the router's wan link MTU (both sides), when not the default 1500

    def setUp(self):
        self.tmp = ct.TempDir("rsdiff")
        self.peers = {}
        self.applied_known = []
        self.addCleanup(self._cleanup)
        self._make_topology()

    # ------------------------------------------------------------------ topology

    def _make_topology(self):
        for n in (NS_R, NS_C, NS_S):
            ctd.sh("ip", "netns", "add", n)
        for n in (NS_R, NS_C, NS_S):
            for k in ("accept_dad=0", "router_solicitations=0", "accept_ra=0"):
                ctd.ns(n, "sysctl", "-qw", "net.ipv6.conf.default." + k, check=False)
            ctd.ns(n, "ip", "link", "set", "lo", "up")
        ctd.sh("ip", "-n", NS_R, "link", "add", "lan", "type", "veth", "peer", "name", "eth0",
               "netns", NS_C)
        ctd.sh("ip", "-n", NS_R, "link", "add", "wan", "type", "veth", "peer", "name", "eth0",
               "netns", NS_S)
        self.mac = {}
        for n, side, rif, addr, gw, addr6, gw6, hosts in (
                (NS_C, "c", "lan", CLIENT, GW_L, C6, GW6_L, CLIENTS),
                (NS_S, "s", "wan", SERVER, GW_W, S6, GW6_W, SERVERS)):
            ctd.ns(NS_R, "ip", "addr", "add", gw + "/24", "dev", rif)
            ctd.ns(NS_R, "ip", "-6", "addr", "add", gw6 + "/64", "dev", rif, "nodad")
            ctd.ns(NS_R, "ip", "link", "set", rif, "up")
            ctd.ns(n, "ip", "addr", "add", addr + "/24", "dev", "eth0")
            ctd.ns(n, "ip", "-6", "addr", "add", addr6 + "/64", "dev", "eth0", "nodad")
            ctd.ns(n, "ip", "link", "set", "eth0", "up")
            ctd.ns(n, "ip", "route", "add", "default", "via", gw)
            ctd.ns(n, "ethtool", "-K", "eth0", "tx", "off", check=False)
            self.mac[side] = ctd.DifferentialBase._link_mac(n, "eth0")
            self.mac["r" + side] = ctd.DifferentialBase._link_mac(NS_R, rif)
            # Static neighbours: R never ARPs, so no queueing and no extra frames.
            for h in hosts:
                ctd.ns(NS_R, "ip", "neigh", "replace", h, "lladdr", self.mac[side], "dev", rif,
                       "nud", "permanent")
            ctd.ns(NS_R, "ip", "-6", "neigh", "replace", addr6, "lladdr", self.mac[side],
                   "dev", rif, "nud", "permanent")
            # The end hosts answer nothing (IPv4 or IPv6): no RST, no ICMP.
            path = self.tmp.file("drop-%s.nft" % side)
            with open(path, "w") as f:
                f.write("table inet rsdiff {\n  chain in_drop {\n    type filter hook input "
                        "priority -500; policy drop;\n  }\n}\n")
            ctd.ns(n, "nft", "-f", path)
        ctd.ns(NS_R, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ctd.ns(NS_R, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        if self.WAN_MTU is not None:
            ctd.ns(NS_R, "ip", "link", "set", "wan", "mtu", str(self.WAN_MTU))
        self.sysctls = ctd.prepare_oracle(self, NS_R)
        self.peers = ctd.start_peers(self.tmp, HELPER, Peer, {"c": NS_C, "s": NS_S})

    def _cleanup(self):
        ctd.cleanup_topology(self.peers, (NS_C, NS_S, NS_R), self.tmp)

    # ------------------------------------------------------------------ the two runs

    def _frame(self, st, idx):
        """The Ethernet frame of step `idx` as the kernel router sees it; ctgate gets the
        same bytes. The IP id is the step number (the far side finds the frame by it),
        unless the step has its own (fragments of one datagram share theirs)."""
        pkt = st.pkt.copy()
        pkt[IP].id = getattr(st, "ipid", None) or idx
        return bytes(Ether(dst=self.mac["r" + st.side], src=self.mac[st.side]) / pkt)

    def _sentinel(self, side, ipid):
        src, dst = (C6, S6) if side == "c" else (S6, C6)
        return Ether(dst=self.mac["r" + side], src=self.mac[side]) / \
            IPv6(src=src, dst=dst, fl=ipid) / UDP(sport=9, dport=9) / Raw(b"rsdiff sentinel")

    def _run_kernel(self, ruleset, steps):
        """Loads the ruleset in R, sends each step's frame (and its sentinel), reads the
        verdict at the far end, snapshots the table where asked. Per step: dict(passed,
        late, ct (list or None), gap_ms, t)."""
        ctd.ns(NS_R, "nft", "flush", "ruleset")
        ctd.ns(NS_R, "conntrack", "-F", check=False)
        ctd.ns(NS_R, "nft", "-f", ruleset)
        res = []
        t0 = prev_ms = None
        for i, st in enumerate(steps):
            if st.sleep:
                time.sleep(st.sleep)
            ipid = getattr(st, "ipid", None) or i + 1
            frame, sentinel = self._frame(st, i + 1), self._sentinel(st.side, ipid)
            far = self.peers["s" if st.side == "c" else "c"]
            t = time.monotonic()
            self.peers[st.side].send_frames(frame, sentinel)
            got, late = far.verdict(ipid, st.pkt[IP].src, st.pkt[IP].dst)
            snap = ctd.kernel_conntrack(NS_R, "-f", "ipv4") if (st.snap or i == len(steps) - 1) else None
            # ctgate's clock advances by whole ms: round the elapsed time, not each gap,
            # so that the two clocks do not drift apart over a long sequence.
            if t0 is None:
                t0 = t
            ms = int(round((t - t0) * 1000))
            gap = 0 if prev_ms is None else ms - prev_ms
            prev_ms = ms
            res.append({"passed": got is not None, "late": late, "ct": snap, "gap_ms": gap,
                        "t": t, "frame": got})
        return res

    def _run_ctgate(self, ruleset, steps, kernel):
        timeouts = {ctd.TIMEOUT_SYSCTLS[k]: v for k, v in self.sysctls.items()
                    if k in ctd.TIMEOUT_SYSCTLS}
        cfg = {
            "ports": [{"name": "lan", "devargs": "net_null0", "address": GW_L + "/24"},
                      {"name": "wan", "devargs": "net_null1", "address": GW_W + "/24"}],
            "neighbors": [{"address": h, "mac": self.mac["c"], "port": "lan"}
                          for h in CLIENTS] +
                         [{"address": h, "mac": self.mac["s"], "port": "wan"}
                          for h in SERVERS],
            "conntrack": {"enable_hooks": False, "tcp_loose": True, "timeouts": timeouts},
        }
        if self.WAN_MTU is not None:
            cfg["ports"][1]["mtu"] = self.WAN_MTU
        cfg_path = ct.write_config(self.tmp.file("replay.yaml"), cfg)
        steps_path = self.tmp.file("steps.txt")
        with open(steps_path, "w") as f:
            for i, (st, k) in enumerate(zip(steps, kernel)):
                f.write("%d %s %d\n" % (0 if st.side == "c" else 1,
                                        self._frame(st, i + 1).hex(), k["gap_ms"]))
        with open(steps_path) as inp:
            proc = subprocess.Popen([ctd.replay_binary(), "--config", cfg_path,
                                     "--ruleset", ruleset],
                                    stdin=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                stdout, stderr = proc.communicate(timeout=ctd.REPLAY_TIMEOUT)
            except subprocess.TimeoutExpired:
                ctd.stop_pid(proc)
                stdout, stderr = proc.communicate()
            finally:
                ct.cleanup_prefix("ctgate-replay-%d" % proc.pid)
        out = stdout.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, "ctgate-replay failed:\n%s\n%s" % (
            out[-2000:], stderr.decode(errors="replace")[-2000:]))
        got = ctd.parse_replay(out)
        self.assertEqual(len(got), len(steps), "ctgate-replay steps:\n" + out[-2000:])
        return got

    # ------------------------------------------------------------------ comparison

    def _verdicts(self, steps, kernel, ctg, failures):
        """Per packet: the design's expectation against the kernel, then ctgate against
        the kernel, with declared differences checked and reported."""
        for i, (st, k, c) in enumerate(zip(steps, kernel, ctg)):
            idx = i + 1
            want_port = 1 if st.side == "c" else 0
            c_pass = c["verdict"] == "pass" and any(p == want_port for p, _ in c["out"])
            word = {True: "pass", False: "drop"}
            expect, vknown = getattr(st, "expect", None), getattr(st, "vknown", None)
            if expect is not None and k["passed"] != expect:
                failures.append("step %d (%s): test design expects the kernel to %s, it "
                                "did %s" % (idx, st.note, word[expect], word[k["passed"]]))
            if vknown is not None:
                name, k_want, c_want, why = vknown
                if (k["passed"], c_pass) != (k_want, c_want):
                    failures.append("step %d (%s): expected the documented difference %s "
                                    "(kernel %s, ctgate %s), got kernel %s, ctgate %s" % (
                                        idx, st.note, name, word[k_want], word[c_want],
                                        word[k["passed"]], word[c_pass]))
                else:
                    sys.stderr.write("\n  KNOWN DIFFERENCE %s step %d (%s): kernel %s, "
                                     "ctgate %s: %s\n" % (name, idx, st.note, word[k_want],
                                                          word[c_want], why))
                continue
            if c_pass != k["passed"]:
                failures.append("step %d (%s, from %s): kernel %s, ctgate %s (verdict %s, "
                                "out %s)" % (idx, st.note, st.side, word[k["passed"]],
                                             word[c_pass], c["verdict"],
                                             [p for p, _ in c["out"]]))

    def _expiry_races(self, kernel, ctg):
        """An entry that expires within a second of a checkpoint may be listed on one side
        only: the two clocks are a few ms apart. Not a ctgate difference; such entries are
        left out of that checkpoint (and printed)."""
        for i, (k, c) in enumerate(zip(kernel, ctg)):
            if k["ct"] is None:
                continue
            kt = {ctd.orig_tuple(l): l for l in k["ct"]}
            cc = {ctd.orig_tuple(l): l for l in c["ct"]}
            for side, mine, other in (("kernel", kt, cc), ("ctgate", cc, kt)):
                for tup, line in list(mine.items()):
                    if tup not in other and int(line.split()[2]) <= 1:
                        (k["ct"] if side == "kernel" else c["ct"]).remove(line)
                        sys.stderr.write("\n  TIMING step %d: %s lists an entry about to "
                                         "expire, the other side not: %s\n" % (
                                             i + 1, side, line))

    def _diff(self, name, steps):
        """Runs `steps` against ruleset file `name` on both sides and compares."""
        ruleset = os.path.join(RULESETS, name)
        t = time.monotonic()
        kernel = self._run_kernel(ruleset, steps)
        t_kernel = time.monotonic() - t
        self._udp_timing(steps, kernel)
        t = time.monotonic()
        ctg = self._run_ctgate(ruleset, steps, kernel)
        t_ctgate = time.monotonic() - t
        passed = sum(k["passed"] for k in kernel)
        late = sum(k["late"] for k in kernel)
        sys.stderr.write("\n  %s: %d packets, kernel passed %d and dropped %d (%d late "
                         "after the sentinel); kernel %.1f s, ctgate-replay %.1f s\n" % (
                             name, len(steps), passed, len(steps) - passed, late, t_kernel,
                             t_ctgate))
        failures = []
        self._verdicts(steps, kernel, ctg, failures)
        self._expiry_races(kernel, ctg)
        try:
            self._compare_tables(steps, kernel, ctg, check_verdicts=False)
        except self.failureException as e:
            failures.append(str(e))
        if failures:
            self.fail("%s: %d problem(s):\n%s" % (name, len(failures), "\n".join(failures)))
        return kernel, ctg

    @staticmethod
    def _udp_timing(steps, kernel):
        """UDP flows with a packet within 100 ms of their 2 s stream boundary: which side of
        it each clock saw is a race, not semantics (ctd's udp_assured_timing)."""
        first = {}
        for st, k in zip(steps, kernel):
            if st.pkt.haslayer(UDP) and not st.pkt.haslayer(ICMP):
                u, ip = st.pkt[UDP], st.pkt[IP]
                c, s = (ip.src, ip.dst) if st.side == "c" else (ip.dst, ip.src)
                flow = (17, c, s, str(u.sport if st.side == "c" else u.dport),
                        str(u.dport if st.side == "c" else u.sport))
                if flow not in first and not k["passed"]:
                    continue        # not opened by this packet: no entry, nothing to race
                t0 = first.setdefault(flow, k["t"])
                if abs(k["t"] - t0 - 2.0) < 0.1:
                    st.known.append(("udp_assured_timing", flow))

    # ------------------------------------------------------------------ 1: stateful firewall

    def test_1_stateful_forward(self):
        steps = []
        ssh = Flow(40001, 22, 1000, 5000)
        steps += [ssh.syn(note="ssh SYN", expect=PASS),
                  ssh.synack(note="ssh SYN/ACK", expect=PASS),
                  ssh.ack("c", note="ssh ACK", expect=PASS),
                  ssh.data("c", 100, note="ssh data c", expect=PASS),
                  ssh.ack("s", note="ssh ACK s", expect=PASS),
                  ssh.data("s", 300, note="ssh data s", expect=PASS),
                  ssh.ack("c", note="ssh ACK c", expect=PASS),
                  ssh.fin("c", note="ssh FIN c", expect=PASS),
                  ssh.ack("s", note="ssh ACK s", expect=PASS),
                  ssh.fin("s", note="ssh FIN s", expect=PASS),
                  ssh.ack("c", note="ssh last ACK", expect=PASS)]
        web = Flow(40002, 80, 77777, 99999)
        steps += [web.syn(note="http SYN", expect=PASS),
                  web.synack(note="http SYN/ACK", expect=PASS),
                  web.ack("c", note="http ACK", expect=PASS),
                  web.data("c", 500, note="http request", expect=PASS),
                  web.ack("s", note="http ACK", expect=PASS),
                  web.rst("c", note="http RST from client", expect=PASS)]
        tls = Flow(40003, 443, 3000000, 4000000)
        steps += [tls.syn(note="https SYN", expect=PASS),
                  tls.synack(note="https SYN/ACK", expect=PASS),
                  tls.ack("c", note="https ACK", expect=PASS)]
        # Blocked port: the SYN dies at the policy; the server's SYN/ACK then has no entry
        # (INVALID: a SYN/ACK cannot open one), a retry SYN dies again.
        blk = Flow(40004, 8080, 5000, 6000)
        steps += [blk.syn(note="8080 SYN", expect=DROP),
                  blk.synack(note="8080 SYN/ACK (no entry)", expect=DROP),
                  tcp("c", 40004, 8080, "S", 5000, note="8080 retry SYN", expect=DROP)]
        # Loose pickup (ct state new) of a stray ACK: allowed port passes, another not.
        lp = Flow(40005, 80, 123456, 654321)
        steps += [lp.ack("c", note="stray ACK to 80", expect=PASS),
                  lp.ack("s", note="its reply", expect=PASS),
                  lp.data("c", 10, note="data after pickup", expect=PASS),
                  lp.ack("s", note="ACK", expect=PASS),
                  tcp("c", 40006, 25, "A", 1, 1, note="stray ACK to 25", expect=DROP)]
        # From the wan: nothing new gets in.
        steps += [tcp("s", 22, 40007, "S", 9000, note="SYN from wan to 22", expect=DROP),
                  tcp("s", 40008, 80, "A", 9000, 1, note="stray ACK from wan", expect=DROP)]
        # UDP
        steps += [udp("c", 40010, 53, note="dns query", expect=PASS),
                  udp("s", 40010, 53, note="dns answer", expect=PASS),
                  udp("c", 40010, 53, note="dns query 2", expect=PASS),
                  udp("c", 40011, 123, note="ntp (blocked)", expect=DROP),
                  udp("s", 40011, 123, note="ntp answer (new from wan)", expect=DROP),
                  udp("s", 40012, 5000, note="udp from wan", expect=DROP)]
        # ICMP
        steps += [icmp("c", 8, 0x100, 1, note="ping", expect=PASS),
                  icmp("s", 0, 0x100, 1, note="pong", expect=PASS),
                  icmp("c", 8, 0x100, 2, note="ping 2", expect=PASS),
                  icmp("s", 8, 0x101, 1, note="ping from wan", expect=DROP),
                  icmp("s", 0, 0x102, 1, note="pong without ping (INVALID)", expect=DROP),
                  icmp("c", 13, 0x103, 1, note="timestamp request (not allowed)",
                       expect=DROP)]
        # INVALID: flags no tracker accepts.
        steps += [tcp("c", 40020, 22, "SF", 1, note="SYN+FIN to 22", expect=DROP),
                  tcp("c", 40021, 80, "", 1, note="no flags to 80", expect=DROP),
                  tcp("c", 40003, 443, "SF", tls.cnxt, tls.snxt,
                      note="SYN+FIN on the https flow", expect=DROP),
                  tls.data("s", 50, note="https data after it", expect=PASS)]
        # Routing before filtering: TTL 1 expires at the router (no entry is confirmed).
        ttl = tcp("c", 40022, 22, "S", 1, note="SYN to 22 with TTL 1", expect=DROP)
        ttl.pkt[IP].ttl = 1
        steps.append(ttl)
        kernel, _ = self._diff("1_stateful_forward.nft", steps)
        self.assertTrue(kernel[-1]["ct"], "the kernel tracked nothing")

    # ------------------------------------------------------------------ 2: sets and ranges

    @staticmethod
    def _ip(a):
        return tuple(int(x) for x in a.split("."))

    def _r2_opens(self, client, server, kind, dport):
        """Ruleset 2's verdict for a new flow from the lan (a Python model of the file)."""
        c, s = self._ip(client)[3], self._ip(server)[3]
        trusted = c <= 15 or 100 <= c <= 120 or c == 200
        if kind == "tcp" and trusted and 1000 <= dport <= 2000:
            return PASS
        if kind in ("tcp", "udp") and trusted and s >= 128:
            return PASS
        if kind == "udp" and not trusted and dport in (53, 123):
            return PASS
        return kind == "icmp" and 16 <= c <= 31

    def test_2_sets_ranges(self):
        steps = []
        port = 41000
        probes = [("tcp", 1500), ("tcp", 80), ("udp", 53), ("udp", 5000), ("icmp", 0)]
        clients = [h for h in CLIENTS if h != "10.0.1.3"]
        pairs = [(c, s, k, p) for c in clients for s in SERVERS if s != "10.0.2.3"
                 for k, p in probes]
        pairs += [(CLIENT, SERVER, "tcp", p) for p in (999, 1000, 2000, 2001)]
        for c, s, kind, dport in pairs:
            port += 1
            ok = self._r2_opens(c, s, kind, dport)
            note = "%s %s -> %s:%d" % (kind, c, s, dport)
            if kind == "tcp":
                f = Flow(port, dport, 1000 + port, 50000 + port, client=c, server=s)
                steps += [f.syn(note=note, expect=ok), f.synack(note="reply", expect=ok)]
            elif kind == "udp":
                steps += [udp("c", port, dport, client=c, server=s, note=note, expect=ok),
                          udp("s", port, dport, client=c, server=s, note="reply", expect=ok)]
            else:
                steps += [icmp("c", 8, port, 1, client=c, server=s, note=note, expect=ok),
                          icmp("s", 0, port, 1, client=c, server=s, note="reply", expect=ok)]
        # From the wan: the upper half of the server subnet may open privileged TCP ports.
        for s in SERVERS:
            for dport in (22, 1023, 1024):
                port += 1
                ok = self._ip(s)[3] >= 128 and dport < 1024
                note = "tcp %s -> %s:%d from wan" % (s, CLIENT, dport)
                steps += [tcp("s", dport, port, "S", 7000, server=s, note=note, expect=ok),
                          tcp("c", dport, port, "SA", 8000, 7001, server=s, note="reply",
                              expect=ok)]
        for i, st in enumerate(steps):
            st.snap = (i + 1) % 10 == 0
        self._diff("2_sets_ranges.nft", steps)

    # ------------------------------------------------------------------ 3: tcp flags

    FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40,
             "C": 0x80}
    FLAG_FORMS = {   # port: the form in 3_tcp_flags.nft, as a function of the flag byte
        7001: lambda f: f & 0x12 == 0x02,            # tcp flags syn / syn,ack
        7002: lambda f: f & 0x12 == 0x12,            # tcp flags & (syn|ack) == syn|ack
        7003: lambda f: f == 0x10,                   # tcp flags == ack
        7004: lambda f: f & 0x05 == 0,               # tcp flags ! fin,rst
        7005: lambda f: f in (0x02, 0x12),           # tcp flags { syn, syn|ack }
        7006: lambda f: f & 0x12 != 0x02,            # tcp flags != syn / syn,ack
        7007: lambda f: f & 0x03 != 0,               # tcp flags syn,fin
        7008: lambda f: f != 0x10,                   # tcp flags != ack
    }

    def test_3_tcp_flags(self):
        combos = ["", "F", "S", "R", "P", "A", "U", "E", "C", "SA", "FA", "RA", "PA", "SF",
                  "SR", "FPU", "SAE", "SEC", "AC", "FSRPAUEC"]
        steps = []
        port = 42000
        for dport, form in sorted(self.FLAG_FORMS.items()):
            for flags in combos:
                port += 1
                byte = sum(self.FLAGS[x] for x in flags)
                steps.append(tcp("c", port, dport, flags, 1000, 1 if "A" in flags else 0,
                                 note="flags %s (0x%02x) to %d" % (flags or "none", byte,
                                                                   dport),
                                 expect=form(byte)))
        for i, st in enumerate(steps):
            st.snap = (i + 1) % 20 == 0
        kernel, _ = self._diff("3_tcp_flags.nft", steps)
        # No rule uses ct: conntrack is not registered on either side.
        self.assertEqual([k["ct"] for k in kernel if k["ct"] is not None and k["ct"]], [])

    # ------------------------------------------------------------------ 4: chains, notrack

    def test_4_chains_notrack(self):
        steps = []
        # Untracked UDP service, both directions, even when the wan starts.
        steps += [udp("c", 43001, 9000, note="udp 9000 (notrack)", expect=PASS),
                  udp("s", 43001, 9000, note="its reply (notrack)", expect=PASS),
                  udp("c", 43001, 9000, note="again", expect=PASS),
                  udp("c", 43002, 9099, note="udp 9099 (notrack)", expect=PASS),
                  udp("c", 43003, 9100, note="udp 9100 (tracked, not allowed)", expect=DROP),
                  udp("s", 43004, 9050, note="udp from wan, sport 9050 (notrack)",
                      expect=PASS)]
        # TCP 9100: only the lan's packets are untracked. The server's SYN/ACK is tracked,
        # has no entry and is INVALID; its data is picked up as new from the wan.
        nt = Flow(43005, 9100, 1000, 2000)
        steps += [nt.syn(note="9100 SYN (notrack)", expect=PASS),
                  nt.synack(note="9100 SYN/ACK (tracked: INVALID)", expect=DROP),
                  nt.ack("c", note="9100 ACK (notrack)", expect=PASS),
                  nt.data("s", 100, note="9100 data from wan (new from wan)", expect=DROP),
                  nt.data("c", 100, note="9100 data from lan (notrack)", expect=PASS)]
        # jump from_lan -> return -> the rule after the jump.
        rt = Flow(43006, 8080, 3000, 4000)
        steps += [rt.syn(note="8080 SYN (from_lan returns)", expect=PASS),
                  rt.synack(note="8080 SYN/ACK", expect=PASS),
                  rt.ack("c", note="8080 ACK", expect=PASS)]
        # jump from_lan -> jump ssh: accepted inside ssh, or back in from_lan's drop.
        ok = Flow(43007, 22, 5000, 6000)
        steps += [ok.syn(note="22 SYN from 10.0.1.2 (ssh accepts)", expect=PASS),
                  ok.synack(note="22 SYN/ACK", expect=PASS)]
        bad = Flow(43008, 22, 5000, 6000, client="10.0.1.50")
        steps += [bad.syn(note="22 SYN from 10.0.1.50 (ssh returns, dropped)", expect=DROP),
                  bad.synack(note="22 SYN/ACK (INVALID)", expect=DROP)]
        steps += [Flow(43009, 80, 1, 2).syn(note="80 SYN", expect=PASS),
                  Flow(43010, 443, 1, 2).syn(note="443 SYN", expect=PASS),
                  Flow(43011, 25, 1, 2).syn(note="25 SYN (falls off from_lan, policy)",
                                            expect=DROP),
                  udp("c", 43012, 53, note="dns", expect=PASS),
                  udp("s", 43012, 53, note="dns answer", expect=PASS),
                  icmp("c", 8, 0x400, 1, note="ping", expect=PASS),
                  icmp("s", 0, 0x400, 1, note="pong", expect=PASS)]
        # goto from_wan: accepted there, or nothing comes back (not even the accept after
        # the goto); a return in a chain reached by goto ends at the base chain's policy.
        steps += [tcp("s", 2222, 43013, "S", 7000, note="SYN from wan to 2222", expect=PASS),
                  tcp("c", 2222, 43013, "SA", 8000, 7001, note="its SYN/ACK", expect=PASS),
                  tcp("s", 2222, 43013, "A", 7001, 8001, note="ACK", expect=PASS),
                  tcp("s", 3333, 43014, "S", 7000, note="SYN from wan to 3333 (goto, falls "
                      "off)", expect=DROP),
                  icmp("s", 8, 0x401, 1, note="ping from wan (return after goto)",
                       expect=DROP)]
        # INVALID before any chain jump.
        steps += [tcp("c", 43015, 80, "SF", 1, note="SYN+FIN to 80", expect=DROP)]
        kernel, _ = self._diff("4_chains_notrack.nft", steps)
        for k in kernel:
            for l in k["ct"] or []:
                self.assertNotIn("dport=9000", l, "a notrack flow was tracked: " + l)

    # ------------------------------------------------------------------ 5: marks

    def test_5_marks(self):
        steps = []
        # meta mark: set in prerouting, matched in forward. The reply has no mark.
        steps += [udp("c", 44001, 5000, note="udp 5000 (meta mark 0x5)", expect=PASS),
                  udp("s", 44001, 5000, note="its reply (no mark: policy)", expect=DROP),
                  udp("c", 44001, 5000, note="again", expect=PASS),
                  udp("c", 44002, 5001, note="udp 5001 (no mark)", expect=DROP)]
        # ct mark set at the SYN (prerouting): every later packet passes by ct mark 0x7.
        m7 = Flow(44003, 8000, 1000, 2000)
        steps += [m7.syn(note="8000 SYN (ct mark set 0x7)", expect=PASS),
                  m7.synack(note="8000 SYN/ACK (ct mark 0x7)", expect=PASS),
                  m7.ack("c", note="8000 ACK", expect=PASS),
                  m7.data("s", 200, note="8000 data s", expect=PASS),
                  m7.ack("c", note="8000 ACK c", expect=PASS)]
        # ... a flow to 8000 that starts without a SYN gets no mark.
        nm = Flow(44004, 8000, 5000, 6000)
        steps += [nm.ack("c", note="8000 stray ACK (no ct mark)", expect=DROP),
                  nm.ack("s", note="8000 reply (no entry)", expect=DROP)]
        # ct mark set in forward on each lan packet; replies pass by the mark.
        m9 = Flow(44005, 8001, 7000, 8000)
        steps += [m9.syn(note="8001 SYN (ct mark set 0x9)", expect=PASS),
                  m9.synack(note="8001 SYN/ACK (ct mark 0x9, established)", expect=PASS),
                  m9.ack("c", note="8001 ACK", expect=PASS),
                  tcp("s", 8001, 44006, "S", 1, note="SYN from wan to 8001", expect=DROP)]
        # ct mark set on a dropped reply: the connection keeps the mark (and the reply).
        steps += [udp("c", 44007, 5353, note="udp 5353", expect=PASS),
                  udp("s", 44007, 5353, note="reply: ct mark set 0x3, drop", expect=DROP),
                  udp("c", 44007, 5353, note="udp 5353 again", expect=PASS),
                  icmp("c", 8, 0x500, 1, note="ping (policy)", expect=DROP)]
        kernel, _ = self._diff("5_marks.nft", steps)
        final = " ".join(kernel[-1]["ct"])
        for mark in ("mark=7", "mark=9", "mark=3"):
            self.assertIn(mark, final, "the oracle did not set " + mark)

    # ------------------------------------------------------------------ 6: randomized

    def test_6_randomized(self):
        steps = random_sequence(random.Random(4242), 50)
        self.assertGreaterEqual(len(steps), 1000)
        for i, st in enumerate(steps):
            st.snap = (i + 1) % 100 == 0
        kernel, _ = self._diff("1_stateful_forward.nft", steps)
        passed = sum(k["passed"] for k in kernel)
        self.assertTrue(200 < passed < len(steps) - 100,
                        "the sequence should mix passes and drops: %d of %d passed" % (
                            passed, len(steps)))
        self.assertGreaterEqual(len(kernel[-1]["ct"]), 20, "the oracle should hold most flows")

    def test_6b_randomized_state_marks(self):
        # Another seed, against ruleset 6: ruleset 1 plus `ct state established ct mark set
        # 0x2` in a mangle prerouting chain, so every checkpoint also shows which
        # connections have had an ESTABLISHED packet (mark=2).
        steps = random_sequence(random.Random(4243), 50)
        self.assertGreaterEqual(len(steps), 1000)
        for i, st in enumerate(steps):
            st.snap = (i + 1) % 100 == 0
        kernel, _ = self._diff("6_state_marks.nft", steps)
        self.assertIn("mark=2", " ".join(kernel[-1]["ct"]))

    # ------------------------------------------------------------------ 7: ICMP errors

    # An ICMP error quoting a tracked flow is RELATED (nf_conntrack_icmpv4_error; ctgate:
    # icmp_error_related in lib/conntrack/conntrack.cpp), so ruleset 1's `ct state
    # established,related accept` forwards it.
    def test_7_icmp_error_related(self):
        q = udp("c", 45001, 53, note="dns query", expect=PASS)
        syn = Flow(45002, 443, 1000, 2000).syn(note="https SYN", expect=PASS)
        self._diff("1_stateful_forward.nft", [
            q, icmp_error("s", q, 3, 3, note="port unreachable for it (RELATED)", expect=PASS),
            syn, icmp_error("s", syn, 3, 1, note="host unreachable for it (RELATED)",
                            expect=PASS),
        ])

    # ------------------------------------------------------------------ 8: window tracking

    def test_8_window_tracking(self):
        # Segments Linux's window tracking refuses are INVALID on both sides, so ruleset
        # 1's `ct state invalid drop` drops them (trackers.md, "Window tracking").
        data = Flow(47001, 22, 1000, 5000)
        far = tcp("c", 47001, 22, "PA", data.cnxt + 10 ** 6, data.snxt, b"x" * 100,
                  note="data 1,000,000 bytes beyond the window", expect=DROP)
        steps = [data.syn(note="SYN"), data.synack(note="SYN/ACK"),
                 data.ack("c", note="ACK"), data.data("c", 100, note="data"),
                 data.ack("s", note="ACK of data"), far,
                 data.data("c", 100, note="data in window again", expect=PASS),
                 data.ack("s", note="ACK", expect=PASS)]
        # An out-of-window RST: INVALID (dropped), the flow stays ESTABLISHED and the
        # server's next segment passes.
        rst = Flow(47002, 80, 1000, 5000)
        steps += [rst.syn(note="SYN"), rst.synack(note="SYN/ACK"), rst.ack("c", note="ACK"),
                  tcp("c", 47002, 80, "RA", rst.cnxt + 10 ** 6, rst.snxt,
                      note="RST 1,000,000 bytes beyond the window", expect=DROP),
                  rst.data("s", 10, note="data after it", expect=PASS)]
        self._diff("1_stateful_forward.nft", steps)

    # ------------------------------------------------------------------ 9: checksums

    # With nf_conntrack_checksum 1 (the default; ctgate: `conntrack.checksum`) a packet
    # with a bad L4 checksum is INVALID, so ruleset 1's `ct state invalid drop` drops it
    # and no entry is created.
    def test_9_bad_l4_checksum(self):
        if self.sysctls.get("checksum", 1) != 1:
            self.skipTest("nf_conntrack_checksum is 0 in the router netns")
        q = udp("c", 48001, 53, note="dns query, bad UDP checksum", expect=DROP)
        q.pkt[UDP].chksum = 0x1234
        syn = tcp("c", 48002, 22, "S", 1000, note="SYN to 22, bad TCP checksum", expect=DROP)
        syn.pkt[TCP].chksum = 0x1234
        self._diff("1_stateful_forward.nft", [
            q, syn, udp("c", 48003, 53, note="a good dns query", expect=PASS)])

    # ------------------------------------------------------------------ 10: fragments

    # Linux reassembles before conntrack (nf_defrag_ipv4 at -400): a fragment is held until
    # its datagram is complete, conntrack and the rules see the whole datagram, and it
    # leaves cut as it came (frag_max_size). ctgate does the same
    # (lib/dataplane/defrag.cpp, docs/design/fragments.md).

    @staticmethod
    def _frag(side, payload, offset, more, note, expect, ipid, proto=17):
        src, dst = (CLIENT, SERVER) if side == "c" else (SERVER, CLIENT)
        chunk = payload[offset:]
        st = ctd.Step(side, IP(src=src, dst=dst, proto=proto, flags="MF" if more else 0,
                               frag=offset // 8) / Raw(chunk), note=note)
        st.ipid, st.expect, st.vknown = ipid, expect, None
        return st

    def _cut(self, side, payload, offsets, note, expect_last, ipid, proto=17):
        """Fragments of `payload` (an IP payload) starting at `offsets`; the last one
        completes the datagram."""
        steps = []
        bounds = list(offsets) + [len(payload)]
        for i, off in enumerate(offsets):
            last = i == len(offsets) - 1
            st = self._frag(side, payload[:bounds[i + 1]], off, not last,
                            "%s, fragment at %d%s" % (note, off, " (complete)" if last else
                                                      " (held)"),
                            expect_last if last else DROP, ipid, proto)
            steps.append(st)
        return steps

    def test_10_fragmented_udp(self):
        whole = bytes(IP(src=CLIENT, dst=SERVER) / UDP(sport=49001, dport=53) /
                      Raw(b"q" * 72))[20:]                       # the UDP datagram, 80 bytes
        answer = bytes(IP(src=SERVER, dst=CLIENT) / UDP(sport=53, dport=49001) /
                       Raw(b"a" * 1900))[20:]
        self._diff("1_stateful_forward.nft",
                   self._cut("c", whole, [0, 32], "dns query", PASS, 60001) +
                   self._cut("s", answer, [0, 1480], "dns answer", PASS, 60002) +
                   [udp("s", 49001, 53, note="a whole answer: established", expect=PASS)])

    def test_10b_overlapping_and_duplicate_fragments(self):
        # A duplicate is dropped and the datagram kept; an overlap discards the datagram
        # (RFC 5722, which Linux applies to IPv4 too); a fragment beyond the last one does.
        q = bytes(IP(src=CLIENT, dst=SERVER) / UDP(sport=49002, dport=53) /
                  Raw(b"d" * 112))[20:]                          # 120 bytes
        F = self._frag
        steps = [
            F("c", q[:40], 0, True, "first fragment", DROP, 60011),
            F("c", q[:40], 0, True, "the same again (duplicate)", DROP, 60011),
            F("c", q[:24], 8, True, "inside the first (duplicate)", DROP, 60011),
            F("c", q, 40, False, "last fragment: complete", PASS, 60011),
            F("c", q[:48], 0, True, "next datagram, first fragment", DROP, 60012),
            F("c", q[:64], 40, True, "overlapping it", DROP, 60012),
            F("c", q, 64, False, "the rest: a new queue, never complete", DROP, 60012),
            F("c", q, 64, False, "third datagram: last fragment", DROP, 60013),
            F("c", q + b"x" * 8, 64, True, "past the last fragment's end (corrupt)", DROP,
              60013),
            F("c", q[:64], 0, True, "then its start: a new queue", DROP, 60013),
        ]
        self._diff("1_stateful_forward.nft", steps)

    def test_10c_fragmented_ping(self):
        req = bytes(IP(src=CLIENT, dst=SERVER) / ICMP(type=8, id=77, seq=1) /
                    Raw(b"p" * 2000))[20:]
        rep = bytes(IP(src=SERVER, dst=CLIENT) / ICMP(type=0, id=77, seq=1) /
                    Raw(b"p" * 2000))[20:]
        self._diff("1_stateful_forward.nft",
                   self._cut("c", req, [0, 1480], "echo request", PASS, 60021, proto=1) +
                   self._cut("s", rep, [0, 1480], "echo reply", PASS, 60022, proto=1))

    def test_10d_ttl_expiry(self):
        # TTL 1 expires at the router before FORWARD (the sender gets time exceeded,
        # tests/e2e/test_icmp_errors.py); TTL 2 goes through.
        dead = udp("c", 49031, 53, note="TTL 1: expires here", expect=DROP)
        dead.pkt[IP].ttl = 1
        live = udp("c", 49032, 53, note="TTL 2: forwarded", expect=PASS)
        live.pkt[IP].ttl = 2
        self._diff("1_stateful_forward.nft", [dead, live])

    # ------------------------------------------------------------------ 11: reopen and marks

    # A reopened connection is a new one: Linux kills the old entry and the SYN creates a
    # fresh one with ct mark 0. ctgate reopens in place (trackers.md #4) and resets the
    # mark with the status bits (clear_status in lib/conntrack/conntrack.cpp).
    # ------------------------------------------------------------------ 12: maps

    def test_12_maps(self):
        steps = []
        port = 52000
        # TCP by port through the anonymous and the named verdict map (and the web chain).
        for client, dport, ok in ((CLIENT, 80, PASS), ("10.0.1.3", 80, DROP), (CLIENT, 22, DROP),
                                  (CLIENT, 8000, PASS), (CLIENT, 8099, PASS),
                                  (CLIENT, 8100, DROP), (CLIENT, 443, PASS),
                                  (CLIENT, 8443, PASS), ("10.0.1.3", 8443, DROP),
                                  (CLIENT, 444, DROP)):
            port += 1
            f = Flow(port, dport, 1000 + port, 50000 + port, client=client)
            note = "tcp %s -> %d" % (client, dport)
            steps += [f.syn(note=note, expect=ok), f.synack(note="reply", expect=ok)]
        # UDP by the ct mark the address map gave the connection.
        for server, dport, ok in (("10.0.2.3", 53, PASS), ("10.0.2.200", 53, DROP),
                                  ("10.0.2.200", 123, PASS), ("10.0.2.3", 123, DROP)):
            port += 1
            note = "udp -> %s:%d" % (server, dport)
            steps += [udp("c", port, dport, server=server, note=note, expect=ok),
                      udp("s", port, dport, server=server, note="reply", expect=ok)]
        for i, st in enumerate(steps):
            st.snap = (i + 1) % 8 == 0
        kernel, _ = self._diff("7_maps.nft", steps)
        final = " ".join(kernel[-1]["ct"])
        for mark in ("mark=4", "mark=8"):
            self.assertIn(mark, final, "the oracle did not set " + mark)

    def test_13_concatenations(self):
        steps = []
        port = 53000
        # TCP: by server . port, by client subnet . port range, by the mark map, and port 7
        # to every pair but one.
        for client, server, dport, ok in (
                (CLIENT, "10.0.2.3", 22, PASS), (CLIENT, SERVER, 22, DROP),
                (CLIENT, SERVER, 80, PASS), (CLIENT, "10.0.2.3", 80, DROP),
                ("10.0.1.3", SERVER, 8050, PASS), ("10.0.1.15", SERVER, 8099, PASS),
                ("10.0.1.16", SERVER, 8050, DROP), ("10.0.1.16", SERVER, 9000, PASS),
                ("10.0.1.15", SERVER, 8100, DROP), ("10.0.1.15", SERVER, 9000, DROP),
                (CLIENT, SERVER, 443, PASS), ("10.0.1.3", SERVER, 443, DROP),
                (CLIENT, SERVER, 7, PASS), ("10.0.1.3", SERVER, 7, DROP),
                ("10.0.1.3", "10.0.2.3", 7, PASS)):
            port += 1
            f = Flow(port, dport, 1000 + port, 50000 + port, client=client, server=server)
            note = "tcp %s -> %s:%d" % (client, server, dport)
            steps += [f.syn(note=note, expect=ok), f.synack(note="reply", expect=ok)]
        # UDP: the three-field verdict map (exact elements, then ranges), then the anonymous
        # set with a port range.
        for client, server, dport, ok in (
                (CLIENT, "10.0.2.3", 53, PASS), ("10.0.1.3", "10.0.2.3", 53, DROP),
                ("10.0.1.15", "10.0.2.128", 53, PASS), ("10.0.1.15", "10.0.2.200", 53, PASS),
                ("10.0.1.15", "10.0.2.127", 53, DROP), (CLIENT, SERVER, 123, PASS),
                ("10.0.1.3", SERVER, 150, PASS), ("10.0.1.3", SERVER, 201, DROP),
                ("10.0.1.15", SERVER, 123, DROP)):
            port += 1
            note = "udp %s -> %s:%d" % (client, server, dport)
            steps += [udp("c", port, dport, client=client, server=server, note=note, expect=ok),
                      udp("s", port, dport, client=client, server=server, note="reply",
                          expect=ok)]
        for i, st in enumerate(steps):
            st.snap = (i + 1) % 8 == 0
        kernel, _ = self._diff("8_concat.nft", steps)
        final = " ".join(kernel[-1]["ct"])
        self.assertIn("mark=1", final, "the oracle did not set the mark map's mark")

    def test_14_dynamic_sets(self):
        """A blocklist filled from the packet path (the set's timeout, an element's own,
        delete) and a port knock keyed by client . server, timed by the kernel's clock: the
        replay advances ctgate's by the same gaps."""
        steps = []
        port = [54000]

        def syn(client, dport, ok, note, sleep=0.0, server=SERVER):
            port[0] += 1
            f = Flow(port[0], dport, 1000 + port[0], 50000 + port[0], client=client,
                     server=server)
            st = f.syn(note=note, expect=ok)
            st.sleep = sleep
            return [st, f.synack(note=note + " reply", expect=ok)]

        def knock(client, server, note, sleep=0.0):
            port[0] += 1
            st = udp("c", port[0], 7000, client=client, server=server, note=note, expect=DROP)
            st.sleep = sleep
            return [st]

        other = "10.0.1.3"
        steps += syn(CLIENT, 80, PASS, "web")
        steps += syn(CLIENT, 22, DROP, "ssh before knocking")
        steps += knock(CLIENT, SERVER, "knock")
        steps += syn(CLIENT, 22, PASS, "ssh after knocking")
        steps += syn(CLIENT, 22, DROP, "ssh to another server", server="10.0.2.3")
        steps += syn(CLIENT, 23, DROP, "telnet: blocked for 2 s")
        steps += syn(CLIENT, 80, DROP, "web while blocked")
        steps += syn(other, 24, DROP, "tcp 24: blocked for 4 s")
        steps += syn(other, 80, DROP, "web while blocked")
        steps += syn(CLIENT, 80, PASS, "web after the set's 2 s", sleep=2.3)
        steps += syn(other, 80, DROP, "web: still within the element's 4 s")
        steps += syn(CLIENT, 22, DROP, "ssh after the knock's 3 s", sleep=0.9)
        steps += knock(other, SERVER, "knock while blocked")
        port[0] += 1
        steps += [udp("c", port[0], 25, client=other, note="unblock", expect=PASS)]
        steps += syn(other, 80, PASS, "web after unblocking")
        steps += syn(other, 22, DROP, "ssh: the knock came while blocked")
        for i, st in enumerate(steps):
            st.snap = (i + 1) % 6 == 0
        self._diff("10_dynset.nft", steps)

    def test_15_named_objects(self):
        """A quota object shared by two rules (DNS on 53 and 5353), a limit object (pings)
        and a counter object named by two rules: the kernel's verdicts once the shared quota
        is used up and once the bucket is empty (burst packets, not rate + burst)."""
        steps = []
        port = 55000
        # 29-byte datagrams: 29, 58 and 87 bytes are under the quota, the fourth makes 116.
        for dport, ok in ((53, PASS), (5353, PASS), (53, PASS), (53, DROP), (5353, DROP)):
            port += 1
            note = "dns to %d" % dport
            steps += [udp("c", port, dport, note=note, expect=ok),
                      udp("s", port, dport, note=note + " reply", expect=ok)]
        # rate 1/minute, burst 2: the bucket holds two packets (Linux 6.x's nft_limit), so two
        # pings get through and the next two do not.
        for ident, ok in ((700, PASS), (701, PASS), (702, DROP), (703, DROP)):
            steps += [icmp("c", 8, ident, 1, note="ping %d" % ident, expect=ok),
                      icmp("s", 0, ident, 1, note="pong %d" % ident, expect=ok)]
        for dport, ok in ((80, PASS), (443, PASS), (22, DROP)):
            port += 1
            f = Flow(port, dport, 1000 + port, 50000 + port)
            steps += [f.syn(note="tcp %d" % dport, expect=ok),
                      f.synack(note="reply", expect=ok)]
        self._diff("11_objects.nft", steps)

    def test_16_jhash(self):
        """ct marks from a jhash of source address . port (the conntrack table shows them),
        verdicts from another as a match and from a jhash of destination address . port in a
        vmap: the same numbers as the kernel's hash, register layout and scaling."""
        steps = []
        for i in range(12):
            port = 56000 + i * 7
            steps += [udp("c", port, 53, note="udp %d" % port),
                      udp("s", port, 53, note="reply")]
        for i in range(12):
            port = 57000 + i
            f = Flow(port, 1000 + i * 13, 1000 + port, 50000 + port)
            steps += [f.syn(note="tcp to %d" % (1000 + i * 13)),
                      f.synack(note="reply")]
        kernel, _ = self._diff("12_jhash.nft", steps)
        final = " ".join(kernel[-1]["ct"])
        self.assertGreater(len(set(re.findall(r"mark=(\d)", final)) - {"0"}), 1,
                           "the oracle's marks do not spread: " + final)

    def test_17_zones_keep_overlapping_flows_apart(self):
        """Two flows with one tuple, one in zone 0 and one in zone 1 (DSCP cs1 sets the zone in
        prerouting at priority raw): two entries, each with its own state, and a reply in the
        other zone is not theirs."""
        cs1 = 0x20  # DSCP cs1 in the TOS byte

        def zoned(st, tos):
            st.pkt[IP].tos = tos
            return st

        steps = []
        # UDP: the same tuple in both zones, each answered in its own zone.
        steps += [udp("c", 40000, 53, note="udp zone 0", expect=PASS),
                  udp("s", 40000, 53, note="reply zone 0", expect=PASS),
                  zoned(udp("c", 40000, 53, note="same tuple, zone 1", expect=PASS), cs1),
                  zoned(udp("s", 40000, 53, note="reply zone 1", expect=PASS), cs1)]
        # A flow only in zone 0: its reply marked cs1 is looked up in zone 1, finds nothing and
        # is a new connection from the server's side, which the ruleset drops.
        steps += [udp("c", 40001, 53, note="udp zone 0 only", expect=PASS),
                  zoned(udp("s", 40001, 53, note="reply in zone 1: not its flow", expect=DROP),
                        cs1),
                  udp("s", 40001, 53, note="reply in zone 0", expect=PASS)]
        # TCP: one handshake in each zone for the same tuple.
        a = Flow(40002, 22, 1000, 5000)
        b = Flow(40002, 22, 90000, 70000)
        steps += [a.syn(note="ssh SYN zone 0", expect=PASS),
                  a.synack(note="ssh SYN/ACK zone 0", expect=PASS),
                  zoned(b.syn(note="ssh SYN zone 1, same tuple", expect=PASS), cs1),
                  zoned(b.synack(note="ssh SYN/ACK zone 1", expect=PASS), cs1),
                  a.ack("c", note="ssh ACK zone 0", expect=PASS),
                  zoned(b.ack("c", note="ssh ACK zone 1", expect=PASS), cs1)]
        kernel, _ = self._diff("13_zones.nft", steps)
        final = " ".join(kernel[-1]["ct"])
        self.assertIn("zone=1", final, "the oracle made no zone 1 entry: " + final)

    def test_18_ct_expiration(self):
        """ct expiration against the kernel's: 0 for a new (unconfirmed) connection, 30 s for
        a replied UDP flow (dropped: under 50 s), 60 s in SYN_RECV and days when established
        (both kept)."""
        u = 41000
        f = Flow(41001, 80, 1000, 5000)
        steps = [udp("c", u, 53, note="udp new: expiration 0", expect=PASS),
                 udp("s", u, 53, note="udp reply: 30 s left", expect=DROP),
                 udp("c", u, 53, note="udp again: 30 s left", expect=DROP),
                 f.syn(note="SYN: new", expect=PASS),
                 f.synack(note="SYN/ACK: 60 s left", expect=PASS),
                 f.ack("c", note="ACK: established, days left", expect=PASS),
                 f.data("c", 100, note="data", expect=PASS)]
        self._diff("14_expiration.nft", steps)

    def test_19_ct_timeout_policies(self):
        """ct timeout objects against the kernel's: the policy's timeouts in every TCP state
        of a connection given one in the forward chain (SYN_SENT to TIME_WAIT), the policy's
        unreplied timeout for UDP; none at priority raw (before conntrack) and none from a
        policy of another protocol. The tables' timeout columns carry the comparison."""
        f = Flow(42001, 22, 1000, 5000)
        steps = [udp("c", 42000, 53, note="udp: policy u (17 s)", expect=PASS),
                 udp("s", 42000, 53, note="udp reply", expect=PASS),
                 udp("c", 42002, 54, note="udp: u, then tcp's t ignored", expect=PASS),
                 udp("c", 42003, 55, note="udp: raw's policy comes too early", expect=PASS),
                 f.syn(note="SYN: syn_sent 11", expect=PASS),
                 f.synack(note="SYN/ACK: syn_recv 13", expect=PASS),
                 f.ack("c", note="ACK: established 99", expect=PASS),
                 f.data("c", 100, note="data", expect=PASS),
                 f.ack("s", note="ACK", expect=PASS),
                 f.fin("c", note="FIN: fin_wait 23", expect=PASS),
                 f.ack("s", note="ACK: close_wait 21", expect=PASS),
                 f.fin("s", note="FIN: last_ack 19", expect=PASS),
                 f.ack("c", note="last ACK: time_wait 9", expect=PASS)]
        kernel, _ = self._diff("15_ct_timeout.nft", steps)
        final = " ".join(kernel[-1]["ct"])
        # The policy's 9 s, not the sysctl's 120 s: the oracle applied it.
        self.assertRegex(final, r"tcp +6 [0-9] TIME_WAIT", "the oracle's policy: " + final)

    def test_20_ct_count(self):
        """ct count against the kernel's nft_connlimit: a third SSH connection is dropped
        while two are open, and no longer counts once dropped; packets of counted
        connections add nothing; a connection in TIME_WAIT stops counting, so a new one
        passes; `ct count 1` accepts one DNS flow and lets the next fall through to drop,
        and a packet of a connection not assured yet walks the list only up to itself
        (Linux 6.18), so the dropped flow after it still counts.
        The kernel forgets a dropped connection that another CPU added only 2 jiffies
        later: the step after each drop waits 50 ms."""
        f1, f2, f3 = (Flow(43001 + i, 22, 1000 * (i + 1), 5000 * (i + 1)) for i in range(3))
        f4, f5, f6 = (Flow(43004 + i, 22, 1000 * (i + 4), 5000 * (i + 4)) for i in range(3))
        def later(st):
            st.sleep = 0.05
            return st

        steps = [f1.syn(note="SSH 1: count 1", expect=PASS),
                 f2.syn(note="SSH 2: count 2", expect=PASS),
                 f3.syn(note="SSH 3: count 3, over 2", expect=DROP),
                 later(f1.synack(note="SSH 1 SYN/ACK: adds nothing; 3 forgotten", expect=PASS)),
                 f1.ack("c", note="SSH 1 ACK", expect=PASS),
                 f1.data("c", 100, note="SSH 1 data", expect=PASS),
                 f4.syn(note="SSH 4: over 2 again", expect=DROP),
                 later(f1.ack("s", note="ACK", expect=PASS)),
                 f1.fin("c", note="SSH 1 FIN", expect=PASS),
                 f1.ack("s", note="ACK", expect=PASS),
                 f1.fin("s", note="FIN", expect=PASS),
                 f1.ack("c", note="last ACK: SSH 1 in TIME_WAIT", expect=PASS),
                 f5.syn(note="SSH 5: 1 closed, count 2", expect=PASS),
                 f6.syn(note="SSH 6: over 2", expect=DROP),
                 udp("c", 44001, 53, note="DNS 1: count 1, accepted", expect=PASS),
                 udp("c", 44002, 53, note="DNS 2: count 2, falls to drop", expect=DROP),
                 later(udp("c", 44001, 53, note="DNS 1 again: not assured, so its walk stops "
                           "at itself, before 2: still 2", expect=DROP))]
        self._diff("16_ct_count.nft", steps)

    def test_21_ct_count_per_source(self):
        """ct count per element of a dynamic set (`add @s { ip saddr ct count over 2 }`)
        against the kernel's: two SSH connections per source, a third dropped; a second
        source has a count of its own; a source whose connection closed (TIME_WAIT) gets
        another; `ct count 1` per source accepts one DNS flow per address. The step after each
        drop waits 50 ms, as in test 20 (the kernel forgets a dropped connection that another
        CPU added 2 jiffies later)."""
        a, b = CLIENTS[1], CLIENTS[2]
        fa = [Flow(45001 + i, 22, 1000 * (i + 1), 5000 * (i + 1), client=a) for i in range(4)]
        fb = [Flow(45101 + i, 22, 1000 * (i + 1), 5000 * (i + 1), client=b) for i in range(3)]

        def later(st):
            st.sleep = 0.05
            return st

        steps = [fa[0].syn(note="a SSH 1: count 1", expect=PASS),
                 fa[1].syn(note="a SSH 2: count 2", expect=PASS),
                 fa[2].syn(note="a SSH 3: over 2", expect=DROP),
                 later(fb[0].syn(note="b SSH 1: b's own count", expect=PASS)),
                 fb[1].syn(note="b SSH 2", expect=PASS),
                 fb[2].syn(note="b SSH 3: over 2", expect=DROP),
                 later(fa[0].synack(note="a SSH 1 SYN/ACK", expect=PASS)),
                 fa[0].ack("c", note="a SSH 1 ACK", expect=PASS),
                 fa[0].data("c", 100, note="a SSH 1 data", expect=PASS),
                 fa[0].ack("s", note="ACK", expect=PASS),
                 fa[0].fin("c", note="a SSH 1 FIN", expect=PASS),
                 fa[0].ack("s", note="ACK", expect=PASS),
                 fa[0].fin("s", note="FIN", expect=PASS),
                 fa[0].ack("c", note="last ACK: a SSH 1 in TIME_WAIT", expect=PASS),
                 fa[3].syn(note="a SSH 4: 1 closed, count 2", expect=PASS),
                 udp("c", 46001, 53, client=a, note="a DNS 1: accepted", expect=PASS),
                 udp("c", 46002, 53, client=a, note="a DNS 2: falls to drop", expect=DROP),
                 later(udp("c", 46003, 53, client=b, note="b DNS 1: accepted", expect=PASS))]
        self._diff("17_ct_count_per_source.nft", steps)

    def test_22_ct_accounting(self):
        """ct bytes, packets and avgpkt against the kernel's (nft_ct over nf_conn_acct): the
        counts include the packet itself and packets dropped after conntrack; each direction
        alone and both summed; avgpkt is bytes / packets. Reading them turns accounting on,
        so both tables list packets= and bytes= per direction, compared line by line."""
        f = Flow(47001, 80, 1000, 5000)
        steps = [udp("c", 47100, 53, note="dns 1: 1 packet", expect=PASS),
                 udp("c", 47100, 53, note="dns 2", expect=PASS),
                 udp("c", 47100, 53, note="dns 3", expect=PASS),
                 udp("c", 47100, 53, note="dns 4: original packets 4 > 3", expect=DROP),
                 udp("s", 47100, 53, payload=b"a" * 60, note="answer: reply bytes 88",
                     expect=PASS),
                 udp("s", 47100, 53, payload=b"a" * 60, note="answer 2: reply bytes 176",
                     expect=DROP),
                 f.syn(note="SYN: 40 bytes", expect=PASS),
                 f.synack(note="SYN/ACK: 80", expect=PASS),
                 f.ack("c", note="ACK: 120", expect=PASS),
                 f.data("c", 200, note="data: 360, not over 400", expect=PASS),
                 f.data("s", 100, note="answer: 500 (the rule is for dport 80)", expect=PASS),
                 f.data("c", 10, note="data: 550, over 400", expect=DROP),
                 udp("c", 47101, 54, payload=b"b" * 300, note="avgpkt 328", expect=DROP),
                 udp("c", 47102, 54, payload=b"b" * 100, note="avgpkt 128", expect=PASS),
                 udp("c", 47103, 55, payload=b"c" * 6, note="original avgpkt 34", expect=DROP),
                 udp("c", 47104, 55, payload=b"c" * 30, note="original avgpkt 58", expect=PASS),
                 udp("c", 47105, 56, note="packets 1: != 2, accepted", expect=PASS),
                 udp("c", 47105, 56, note="packets 2: falls to drop", expect=DROP),
                 udp("s", 47105, 56, note="reply: 3 (no rule for it)", expect=PASS),
                 udp("c", 47105, 56, note="packets 4: accepted", expect=PASS)]
        self._diff("18_ct_acct.nft", steps)

    def test_11_reopen_keeps_no_mark(self):
        # TIME_WAIT reopen: Linux kills the old entry and the SYN creates a fresh one, with
        # ct mark 0; ctgate reopens in place (trackers.md #4).
        f = Flow(50001, 22, 1000, 5000)
        g = Flow(50001, 22, 900000, 700000)
        steps = [f.syn(note="SYN"), f.synack(note="SYN/ACK (mark 0x2)"),
                 f.ack("c", note="ACK"), f.fin("c", note="FIN c"), f.ack("s", note="ACK s"),
                 f.fin("s", note="FIN s"), f.ack("c", note="last ACK -> TIME_WAIT"),
                 g.syn(note="new SYN in TIME_WAIT (fresh entry: no mark)", expect=PASS),
                 g.synack(note="SYN/ACK (mark 0x2 again)", expect=PASS),
                 g.ack("c", note="ACK", expect=PASS)]
        self._diff("6_state_marks.nft", steps)

    def test_11b_retry_after_reset_keeps_no_mark(self):
        # A RST before any reply: Linux kills the entry (the RST itself is ESTABLISHED and
        # marks the dying entry); the retry SYN creates a fresh one with ct mark 0.
        f = Flow(50002, 80, 1000, 5000)
        known = ("rst_before_reply", f.tuple)
        rst = f.rst("s", note="RST/ACK from server", known=[known], expect=PASS)
        rst.pkt[TCP].seq = 0
        f.cnxt = 3000
        self._diff("6_state_marks.nft", [
            f.syn(note="SYN", expect=PASS), rst,
            f.syn(note="retry SYN (fresh entry: no mark)", ends=[known], expect=PASS),
            f.synack(note="SYN/ACK", expect=PASS), f.ack("c", note="ACK", expect=PASS)])


# --------------------------------------------------------------------------- random

R_CLIENTS = [CLIENT, "10.0.1.3"]
R_SERVERS = [SERVER, "10.0.2.3"]
# One cycle of flow kinds; 50 flows go through it five times.
R_KINDS = ["tcp_ok", "udp_ok", "tcp_ok", "icmp_ok", "tcp_blocked", "tcp_ok", "stray_ok",
           "udp_blocked", "from_wan", "tcp_ok"]


def _tcp_script(rng, f, i, s):
    """Handshake (perhaps cut short, perhaps a retransmitted SYN), data both ways with
    every segment acknowledged (sometimes two segments in flight), then FIN close, RST or
    nothing. Sequence numbers stay consistent, so the kernel's window checks pass."""
    s.append(f.syn(note="f%d SYN" % i))
    if rng.random() < 0.15:
        s.append(tcp("c", f.cport, f.sport, "S", f.cnxt - 1, client=f.client,
                     server=f.server, note="f%d SYN retransmitted" % i))
    stop = rng.random()
    if stop > 0.06:
        s.append(f.synack(note="f%d SYN/ACK" % i))
    if stop <= 0.12:
        return
    s.append(f.ack("c", note="f%d ACK" % i))
    _data(rng, f, i, s, rng.randrange(6, 20))


def _data(rng, f, i, s, n):
    for _ in range(n):
        side = rng.choice("cs")
        other = "s" if side == "c" else "c"
        s.append(f.data(side, rng.randrange(1, 1400), note="f%d data %s" % (i, side)))
        if rng.random() < 0.2:
            s.append(f.data(side, rng.randrange(1, 1400), note="f%d more data %s" % (i, side)))
        s.append(f.ack(other, note="f%d ACK %s" % (i, other)))
        if rng.random() < 0.05:
            s.append(f.ack(other, note="f%d duplicate ACK %s" % (i, other)))
        if rng.random() < 0.03:
            s.append(tcp(side, f.cport, f.sport, "SF", f.cnxt if side == "c" else f.snxt,
                         client=f.client, server=f.server,
                         note="f%d SYN+FIN (INVALID)" % i))
    end = rng.random()
    if end < 0.45:
        first = rng.choice("cs")
        other = "s" if first == "c" else "c"
        s += [f.fin(first, note="f%d FIN %s" % (i, first)),
              f.ack(other, note="f%d ACK" % i),
              f.fin(other, note="f%d FIN %s" % (i, other)),
              f.ack(first, note="f%d last ACK" % i)]
    elif end < 0.6:
        s.append(f.rst(rng.choice("cs"), note="f%d RST" % i))


def random_sequence(rng, n_flows):
    """All packets of `n_flows` flows, interleaved at random but in order per flow, for
    ruleset 1: allowed TCP (22, 80, 443) with consistent sequence numbers, loose pickups,
    blocked TCP and UDP, flows opened from the wan, UDP both ways, ICMP echo."""
    scripts = []
    for i in range(n_flows):
        kind = R_KINDS[i % len(R_KINDS)]
        c, sv = rng.choice(R_CLIENTS), rng.choice(R_SERVERS)
        cport = 46000 + i
        s = []
        if kind == "tcp_ok":
            f = Flow(cport, rng.choice((22, 80, 443)), rng.randrange(1, 2 ** 31),
                     rng.randrange(1, 2 ** 31), client=c, server=sv)
            _tcp_script(rng, f, i, s)
        elif kind == "stray_ok":
            f = Flow(cport, rng.choice((22, 80, 443)), rng.randrange(1, 2 ** 31),
                     rng.randrange(1, 2 ** 31), client=c, server=sv)
            s += [f.ack("c", note="f%d stray ACK" % i), f.ack("s", note="f%d its reply" % i)]
            _data(rng, f, i, s, rng.randrange(3, 12))
        elif kind == "tcp_blocked":
            f = Flow(cport, rng.choice((25, 3306, 8080)), rng.randrange(1, 2 ** 31),
                     rng.randrange(1, 2 ** 31), client=c, server=sv)
            s += [f.syn(note="f%d SYN (blocked)" % i), f.synack(note="f%d SYN/ACK" % i)]
            for _ in range(rng.randrange(1, 4)):
                s.append(tcp("c", cport, f.sport, "S", f.cnxt - 1, client=c, server=sv,
                             note="f%d retry SYN" % i))
            s.append(f.ack("c", note="f%d ACK (blocked)" % i))
            s.append(f.data("s", 100, note="f%d data from wan" % i))
        elif kind == "from_wan":
            sport, isn = rng.randrange(30000, 40000), rng.randrange(1, 2 ** 31)
            dport = rng.choice((22, 80, 6000))
            for k in range(rng.randrange(2, 6)):
                s.append(tcp("s", dport, sport, "S", isn, client=c, server=sv,
                             note="f%d SYN from wan" % i))
                s.append(tcp("c", dport, sport, "SA", 5000, isn + 1, client=c, server=sv,
                             note="f%d SYN/ACK from lan" % i))
            for k in range(rng.randrange(2, 8)):
                side = rng.choice("cs")
                s.append(udp(side, dport, sport, client=c, server=sv,
                             note="f%d udp %s (opened from wan)" % (i, side)))
            ident = 0x2000 + i
            for seq in range(1, rng.randrange(2, 6)):
                s.append(icmp("s", 8, ident, seq, client=c, server=sv,
                              note="f%d ping from wan" % i))
                s.append(icmp("c", 0, ident, seq, client=c, server=sv,
                              note="f%d pong from lan" % i))
        elif kind in ("udp_ok", "udp_blocked"):
            sport = 53 if kind == "udp_ok" else rng.choice((123, 5000))
            s.append(udp("c", cport, sport, client=c, server=sv, note="f%d udp c" % i))
            for _ in range(rng.randrange(6, 30)):
                side = rng.choice("cs")
                s.append(udp(side, cport, sport, b"u" * rng.randrange(1, 200), client=c,
                             server=sv, note="f%d udp %s" % (i, side)))
        else:  # icmp_ok
            ident = 0x1000 + i
            for seq in range(1, rng.randrange(4, 16)):
                s.append(icmp("c", 8, ident, seq, client=c, server=sv, note="f%d ping" % i))
                if rng.random() < 0.8:
                    s.append(icmp("s", 0, ident, seq, client=c, server=sv,
                                  note="f%d pong" % i))
        scripts.append(s)
    out = []
    pos = [0] * len(scripts)
    total = sum(len(s) for s in scripts)
    for _ in range(total):
        live = [j for j in range(len(scripts)) if pos[j] < len(scripts[j])]
        if not live:
            break
        j = rng.choice(live)
        out.append(scripts[j][pos[j]])
        pos[j] += 1
    return out


class RulesetDifferentialMtuTest(RulesetDifferentialTest):
    """The router's wan link at MTU 1280 while the hosts keep 1500: what is too big for the
    next hop, with DF and without, whole and in fragments."""
    WAN_MTU = 1280

    def test_mtu_1_oversized_df_and_fragmentation(self):
        def big(cport, df, note, expect):
            st = udp("c", cport, 53, b"m" * 1400, note=note, expect=expect)
            st.pkt[IP].flags = "DF" if df else 0
            return st
        dgram = bytes(IP(src=CLIENT, dst=SERVER) / UDP(sport=49101, dport=53) /
                      Raw(b"f" * 2392))[20:]                     # 2400 bytes
        F = self._frag

        def df_frags(size, ipid, note, expect_last):
            steps = self._cut("c", dgram, list(range(0, len(dgram), size)), note, expect_last,
                              ipid)
            for st in steps:
                st.pkt[IP].flags = (st.pkt[IP].flags or 0) | 2   # DF
            return steps
        self._diff("1_stateful_forward.nft", [
            big(49100, True, "1428 bytes, DF: fragmentation needed", DROP),
            big(49100, False, "1428 bytes, no DF: fragmented by the router", PASS),
            F("c", dgram[:1400], 0, True, "first fragment, 1420 bytes", DROP, 60031),
            F("c", dgram, 1400, False, "last fragment: reassembled, refragmented", PASS,
              60031)] +
            df_frags(1200, 60032, "DF fragments of 1220 bytes (fit: forwarded as they came)",
                     PASS) +
            df_frags(1400, 60033, "DF fragments of 1420 bytes (too big: fragmentation needed)",
                     DROP))


    @staticmethod
    def _mss(raw):
        """The MSS option of a forwarded TCP frame (Ethernet or IP), None if it has none."""
        p = Ether(raw)
        if IP not in p:
            p = IP(raw)
        return next((v for k, v in p[TCP].options if k == "MSS"), None)

    def test_mtu_2_mss_clamping(self):
        # rt mtu with the wan at 1280: min(1280, 1500) - 40 = 1240, both ways.
        def with_mss(st, mss):
            if mss:
                st.pkt[TCP].options = [("MSS", mss)]
            return st
        f22, f23 = Flow(49201, 22, 1000, 5000), Flow(49202, 23, 2000, 6000)
        steps = [
            with_mss(f22.syn(note="SYN, MSS 1460: rt mtu", expect=PASS), 1460),
            with_mss(f22.synack(note="SYN/ACK, MSS 1460: rt mtu", expect=PASS), 1460),
            with_mss(f23.syn(note="SYN to 23, MSS 1460: set 1200", expect=PASS), 1460),
            with_mss(Flow(49203, 22, 3000, 7000).syn(note="SYN, MSS 1000: not raised",
                                                     expect=PASS), 1000),
            with_mss(Flow(49204, 24, 4000, 8000).syn(note="SYN to 24, MSS 1460: dropped",
                                                     expect=DROP), 1460),
            with_mss(Flow(49205, 24, 5000, 9000).syn(note="SYN to 24, MSS 1300: rt mtu",
                                                     expect=PASS), 1300),
            Flow(49206, 22, 6000, 10000).syn(note="SYN without MSS", expect=PASS)]
        kernel, ctg = self._diff("9_mss.nft", steps)
        seen = []
        for st, k, c in zip(steps, kernel, ctg):
            if not k["passed"]:
                continue
            kmss = self._mss(k["frame"])
            cmss = self._mss(bytes.fromhex(c["out"][0][1]))
            self.assertEqual(kmss, cmss, "%s: the kernel forwarded MSS %s, ctgate %s" % (
                st.note, kmss, cmss))
            seen.append(kmss)
        self.assertEqual(seen, [1240, 1240, 1200, 1000, 1240, None], "the oracle's MSS values")


# Only its own tests: the inherited ones already run at the default MTU.
for _name in [n for n in dir(RulesetDifferentialTest) if n.startswith("test_")]:
    setattr(RulesetDifferentialMtuTest, _name, None)


if __name__ == "__main__":
    unittest.main(verbosity=2)
