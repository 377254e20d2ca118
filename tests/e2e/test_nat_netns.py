#!/usr/bin/python3
"""End-to-end NAT test: real kernel TCP through ctgate's masquerade, dnat and hairpin NAT.

    netns ctgn-i-<pid>: inside server
    eth0 10.77.1.2/24, default via 10.77.1.1
      |
     vi0         netns ctgn-c-<pid>: inside clients and the lan switch, default via 10.77.1.1
    [br0] 10.77.1.3/24, 10.77.1.10-209/24
      |
     eth0 <-veth-> ctgnl<pid> [ctgate] ctgnw<pid> <-veth-> eth0 10.77.2.2/24 (netns ctgn-s-<pid>,
                   lan 10.77.1.1/24   wan 10.77.2.1/24             outside, no default route)

The lan side is one L2 segment: a bridge br0 in the client netns joins ctgate's lan veth and a
veth to the inside-server netns, so the inside server is a host of its own on the lan, as in a
real network. ctgate runs on net_af_packet ports with one worker and this ruleset:

    prerouting (dstnat):  iifname "wan" tcp dport 8080 dnat to 10.77.1.2:80
                          iifname "lan" ip daddr 10.77.2.1 tcp dport 8080 dnat to 10.77.1.2:80
    postrouting (srcnat): ip saddr 10.77.1.0/24 ip daddr 10.77.1.0/24 masquerade
                          oifname "wan" masquerade
    forward (filter, policy drop): ct state established,related accept; ct state invalid drop;
                          iifname "lan" accept; ct status dnat accept

The outside server netns has only its connected route 10.77.2.0/24: it can answer 10.77.2.1
but has no way to reach 10.77.1.0/24, so a reply gets back to a client only when ctgate
translated the connection (checked with `ip route get` before the traffic).

1. test_masquerade_200_clients: 200 clients, each bound to its own address
   10.77.1.10-209, fetch a 64 KiB blob (deterministic: shake_256 of the blob's number) from a
   python server on 10.77.2.2:5001, at most 32 at once; every sha256 must match. The server
   must have seen only 10.77.2.1, at 200 distinct ports; `ctgatectl conntrack -L --src-nat -p
   tcp` must hold each client's flow with reply src=10.77.2.2:5001 dst=10.77.2.1, its reply
   port the one the server saw. A ping from a client to the server (echo ids translated) comes
   first.
2. test_dnat_port_forward: an outside client (10.77.2.2) opens 20 connections to
   10.77.2.1:8080 and fetches a 256 KiB blob over each from the inside server 10.77.1.2:80.
   The server sees the client's real address and port (dnat only); `--dst-nat` lists the
   flows with reply src=10.77.1.2:80 dst=10.77.2.2, and `--src-nat` does not.
3. test_hairpin: an inside client (10.77.1.3, in the client netns) fetches 20 blobs from the
   inside server by the public address 10.77.2.1:8080. Why this is real hairpin NAT: the
   client has no route for 10.77.2.1 but the default one, so its SYN goes to ctgate (lan
   MAC). ctgate dnats it to 10.77.1.2:80 at prerouting, routes it back out of lan and, at
   postrouting, the hairpin rule masquerades it to 10.77.1.1 (lan's address). The inside
   server is another host on the same segment (its own netns across the bridge), so
   without the masquerade it would answer 10.77.1.3 directly over the bridge, from
   10.77.1.2:80, and the client, which talks to 10.77.2.1:8080, would reset that answer. With
   it, the server answers 10.77.1.1, which is on-link (ARP to ctgate), and ctgate undoes both
   translations. So the transfer works only if every packet in both directions crossed
   ctgate and both bindings held. Checked: the server saw only 10.77.1.1; the flow is in both
   `--src-nat` and `--dst-nat` with reply src=10.77.1.2:80 dst=10.77.1.1.

Every method starts its own topology and ctgate (own --file-prefix, cleaned up after). On a
failure the message carries `ctgatectl conntrack -S`, `ctgatectl stats` and the end of the
daemon's log. Namespaces and veths are removed in cleanup, also on failure. Every loop is
bounded in count and time; nothing asserts on timing.

Run (root):  python3 tests/e2e/test_nat_netns.py [-v]
"""

import json
import os
import select
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ctgate_test as ct  # noqa: E402

PID = os.getpid()
NS_C = "ctgn-c-%d" % PID      # inside clients, and the lan bridge
NS_I = "ctgn-i-%d" % PID      # inside server
NS_S = "ctgn-s-%d" % PID      # outside: server of test 1, client of test 2
IF_L = "ctgnl%d" % PID        # host ends, <= 15 chars (pid <= 7 digits)
IF_W = "ctgnw%d" % PID
GW_L, GW_W = "10.77.1.1", "10.77.2.1"
INSIDE_SERVER, HAIRPIN_CLIENT, OUTSIDE = "10.77.1.2", "10.77.1.3", "10.77.2.2"
CLIENTS = ["10.77.1.%d" % (10 + i) for i in range(200)]
LAN_NET = "10.77.1.0/24"
OUT_PORT, IN_PORT, PUB_PORT = 5001, 80, 8080
PY = ct.SYSTEM_PYTHON

RULESET = """flush ruleset
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wan" tcp dport %(pub)d dnat to %(srv)s:%(inp)d
		iifname "lan" ip daddr %(gw_w)s tcp dport %(pub)d dnat to %(srv)s:%(inp)d
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %(lan)s ip daddr %(lan)s masquerade
		oifname "wan" masquerade
	}
}
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid counter drop
		iifname "lan" accept
		ct status dnat counter accept
		counter
	}
}
""" % {"pub": PUB_PORT, "srv": INSIDE_SERVER, "inp": IN_PORT, "gw_w": GW_W, "lan": LAN_NET}

# A blob server: "GET <n>\n" is answered with blob n (shake_256 of "ctgate-nat-<n>", SIZE
# bytes), then the server closes. It prints "ready" once listening, and at the end one JSON
# list of {peer, pport, id, sent, err}. It stops after EXPECT connections or LIFE seconds.
SERVER = r"""
import hashlib, json, socket, sys, threading, time
addr, port, expect, life, size = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                  float(sys.argv[4]), int(sys.argv[5]))
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((addr, port))
ls.listen(1024)
ls.settimeout(0.5)
seen, lock = [], threading.Lock()

def serve(c, peer):
    rec = {"peer": peer[0], "pport": peer[1], "id": None, "sent": 0, "err": None}
    try:
        c.settimeout(20)
        buf = b""
        while b"\n" not in buf and len(buf) < 64:
            d = c.recv(64)
            if not d:
                break
            buf += d
        n = int(buf.split()[1])
        rec["id"] = n
        c.sendall(hashlib.shake_256(b"ctgate-nat-%d" % n).digest(size))
        rec["sent"] = size
    except Exception as e:
        rec["err"] = repr(e)
    finally:
        c.close()
    with lock:
        seen.append(rec)

print("ready", flush=True)
deadline = time.time() + life
threads = []
while time.time() < deadline and len(threads) < expect:
    try:
        c, peer = ls.accept()
    except socket.timeout:
        continue
    t = threading.Thread(target=serve, args=(c, peer), daemon=True)
    t.start()
    threads.append(t)
for t in threads:
    t.join(max(0.1, deadline - time.time()))
with lock:
    print(json.dumps(seen), flush=True)
"""

# The clients: JOBS is a JSON list of [source address, blob number]. Each job binds its
# source address, connects, asks for its blob and checks the sha256 of what it gets, with a
# timeout per socket operation and per transfer; at most CONC run at once, and none starts
# after TOTAL seconds. Prints one JSON
# list of {src, sport, id, len, ok, err}.
CLIENT = r"""
import concurrent.futures, hashlib, json, socket, sys, time
jobs = json.loads(sys.argv[1])
dst, dport, size, conc, tmo = (sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                               int(sys.argv[5]), float(sys.argv[6]))
end = time.time() + float(sys.argv[7])

def one(job):
    src, n = job
    rec = {"src": src, "sport": None, "id": n, "len": 0, "ok": False, "err": None}
    if time.time() > end:
        rec["err"] = "not started: the clients' time is up"
        return rec
    s = socket.socket()
    try:
        s.settimeout(tmo)
        s.bind((src, 0))
        rec["sport"] = s.getsockname()[1]
        s.connect((dst, dport))
        s.sendall(b"GET %d\n" % n)
        h, got, deadline = hashlib.sha256(), 0, time.time() + tmo
        while got <= size and time.time() < deadline:
            d = s.recv(1 << 16)
            if not d:
                break
            h.update(d)
            got += len(d)
        else:
            raise RuntimeError("transfer did not end (%d bytes)" % got)
        rec["len"] = got
        want = hashlib.sha256(hashlib.shake_256(b"ctgate-nat-%d" % n).digest(size)).hexdigest()
        rec["ok"] = got == size and h.hexdigest() == want
        if not rec["ok"]:
            rec["err"] = "bad data: %d bytes, sha256 %s" % (got, h.hexdigest())
    except Exception as e:
        rec["err"] = repr(e)
    finally:
        s.close()
    return rec

with concurrent.futures.ThreadPoolExecutor(conc) as ex:
    out = list(ex.map(one, jobs))
print(json.dumps(out), flush=True)
"""


sh, ns = ct.sh, ct.ns  # shared helpers; also used by the tests importing this module


def skip_reason():
    if not ct.is_root():
        return "needs root (network namespaces, veths, DPDK)"
    r = ct.missing_binary_reason()
    if r:
        return r
    for tool in ("ip", "ethtool", "ping", "sysctl"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            return "%s not installed" % tool
    if not os.path.exists(PY):
        return "%s not found" % PY
    return None


def by_proto_tcp(text):
    return [e for e in ct.parse_conntrack_lines(text) if not e["unparsed"] and e["protonum"] == 6]


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class NatNetnsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = ct.TempDir("nat")
        self.prefix = ct.file_prefix("nat")
        self.daemon = None
        self.procs = []
        self.addCleanup(self._cleanup)
        self._make_topology()
        self._start_ctgate()

    # ------------------------------------------------------------------ topology

    def _make_topology(self):
        for n in (NS_C, NS_I, NS_S):
            sh("ip", "netns", "add", n)
            for k in ("all", "default"):
                ns(n, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % k, check=False)
            ns(n, "ip", "link", "set", "lo", "up")
        for host_if, n in ((IF_L, NS_C), (IF_W, NS_S)):
            ct.veth_into(n, host_if)
        # The lan segment: bridge br0 in the client netns over ctgate's veth and a veth to
        # the inside server's netns.
        sh("ip", "-n", NS_C, "link", "add", "vi0", "type", "veth", "peer", "name", "eth0",
           "netns", NS_I)
        sh("ip", "-n", NS_C, "link", "add", "br0", "type", "bridge", "stp_state", "0")
        for dev in ("eth0", "vi0"):
            sh("ip", "-n", NS_C, "link", "set", dev, "master", "br0")
            sh("ip", "-n", NS_C, "link", "set", dev, "up")
        sh("ip", "-n", NS_C, "link", "set", "br0", "up")
        batch = ["addr add %s/24 dev br0" % a for a in [HAIRPIN_CLIENT] + CLIENTS]
        sh("ip", "-n", NS_C, "-batch", "-", stdin=("\n".join(batch) + "\n").encode())
        sh("ip", "-n", NS_C, "route", "add", "default", "via", GW_L)
        sh("ip", "-n", NS_I, "addr", "add", INSIDE_SERVER + "/24", "dev", "eth0")
        sh("ip", "-n", NS_I, "link", "set", "eth0", "up")
        sh("ip", "-n", NS_I, "route", "add", "default", "via", GW_L)
        # The outside host: its connected route only, no way back to the lan.
        sh("ip", "-n", NS_S, "addr", "add", OUTSIDE + "/24", "dev", "eth0")
        sh("ip", "-n", NS_S, "link", "set", "eth0", "up")
        # af_packet never fills in partial checksums: TX offload off wherever a packet
        # bound for ctgate is made (the bridge for the clients' own packets).
        for n, dev in ((NS_C, "br0"), (NS_C, "eth0"), (NS_C, "vi0"), (NS_I, "eth0"),
                       (NS_S, "eth0")):
            ns(n, "ethtool", "-K", dev, "tx", "off")

    def _cleanup(self):
        for p in self.procs:
            ct.stop_pid(p)
        if self.daemon is not None:  # also closes the log of one that exited by itself
            self.daemon.stop(grace=10)
        ct.cleanup_prefix(self.prefix)
        ct.remove_netns((NS_C, NS_I, NS_S), (IF_L, IF_W))
        self.tmp.cleanup()

    # ------------------------------------------------------------------ daemon

    def ctl(self, *args, timeout=60):
        """ctgatectl against this test's ctgate: its output; a failure fails the test."""
        return ct.ctl_or_fail(self, self.prefix, self.daemon, *args, timeout=timeout)

    def diag(self):
        """Counters and the log tail for a failure message (best effort, never fails)."""
        out = []
        for args in (("conntrack", "-S"), ("stats",), ("ruleset", "list")):
            try:
                p = ct.run_ctl(self.prefix, *args, timeout=20)
                out.append("$ ctgatectl %s\n%s%s" % (" ".join(args),
                                                    p.stdout.decode(errors="replace"),
                                                    p.stderr.decode(errors="replace")))
            except Exception as e:  # noqa: BLE001 - diagnostics only
                out.append("$ ctgatectl %s: %r" % (" ".join(args), e))
        if self.daemon is not None:
            out.append("--- ctgate log tail ---\n" + self.daemon.log()[-2500:])
        return "\n".join(out)

    def _start_ctgate(self):
        rules = self.tmp.file("nat.nft")
        with open(rules, "w") as f:
            f.write(RULESET)
        cfg = ct.make_config(
            self.prefix,
            ports=[{"name": "lan", "devargs": "net_af_packet0,iface=%s,qpairs=1" % IF_L,
                    "address": GW_L + "/24"},
                   {"name": "wan", "devargs": "net_af_packet1,iface=%s,qpairs=1" % IF_W,
                    "address": GW_W + "/24"}],
            conntrack={"enable_hooks": True, "max": 65536},
            no_huge=not os.environ.get("CTGATE_TEST_HUGE"))
        cfg["ruleset"] = rules
        cfg_path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        self.daemon = ct.Daemon(cfg_path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                run_seconds=80)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=20):
            self.fail("ctgate did not start:\n" + self.daemon.log()[-3000:])

    def ct_stats(self):
        """conntrack -S counters summed over workers."""
        stats = json.loads(self.ctl("conntrack", "-S", "--json"))
        total = {}
        for k, w in stats.items():
            if k.startswith("worker") and isinstance(w, dict):
                for name, v in w.items():
                    if isinstance(v, int):
                        total[name] = total.get(name, 0) + v
        return total

    # ------------------------------------------------------------------ traffic

    def _start_server(self, netns, addr, port, expect, size, life=45):
        p = subprocess.Popen(["ip", "netns", "exec", netns, PY, "-c", SERVER, addr, str(port),
                              str(expect), str(life), str(size)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        line = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                ch = os.read(p.stdout.fileno(), 1)
                if not ch:
                    break
                line += ch
        if line.strip() != b"ready":
            ct.stop_pid(p)
            self.fail("server in %s did not start: %r %r" % (netns, line, p.stderr.read()))
        return p

    def _finish_server(self, p):
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            ct.stop_pid(p)
            self.fail("server did not finish")
        try:
            return json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.fail("server output: %r %r" % (out, err))

    def _run_clients(self, netns, jobs, dst, dport, size, conc, tmo=10, total=40):
        p = subprocess.run(["ip", "netns", "exec", netns, PY, "-c", CLIENT, json.dumps(jobs),
                            dst, str(dport), str(size), str(conc), str(tmo), str(total)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=total + 3 * tmo + 15)
        try:
            return json.loads(p.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.fail("clients (rc %d): %r %r" % (p.returncode, p.stdout[-2000:],
                                                  p.stderr[-2000:]))

    def _transfer(self, server_ns, server_addr, server_port, client_ns, jobs, dst, dport,
                  size, conc):
        """Runs a server and the client jobs; asserts every job succeeded. Returns
        (client records, server records)."""
        srv = self._start_server(server_ns, server_addr, server_port, len(jobs), size)
        clients = self._run_clients(client_ns, jobs, dst, dport, size, conc)
        served = self._finish_server(srv)
        bad = [c for c in clients if not c["ok"]]
        if bad:
            self.fail("%d of %d transfers failed, e.g. %s\nserver records with errors: %s\n%s"
                      % (len(bad), len(jobs), bad[:5],
                         [s for s in served if s["err"]][:5], self.diag()))
        self.assertEqual(len(clients), len(jobs))
        self.assertEqual(len(served), len(jobs), "connections the server completed")
        self.assertEqual([s for s in served if s["err"]], [], "server errors")
        return clients, served

    def _ping(self, netns, src, dst):
        p = ns(netns, "ping", "-n", "-c", "5", "-W", "1", "-i", "0.3", "-I", src, dst,
               check=False, timeout=20)
        out = p.stdout.decode(errors="replace")
        got = [ln for ln in out.splitlines() if "bytes from %s" % dst in ln]
        return len(got), out

    # ------------------------------------------------------------------ the tests

    def test_masquerade_200_clients(self):
        # The outside server must have no way back to the clients but through NAT.
        r = ns(NS_S, "ip", "route", "get", CLIENTS[0], check=False)
        self.assertNotEqual(r.returncode, 0, "outside netns has a route to the lan: %s"
                            % r.stdout.decode(errors="replace"))

        n, out = self._ping(NS_C, CLIENTS[0], OUTSIDE)
        self.assertGreaterEqual(n, 3, "ping through masquerade:\n%s\n%s" % (out, self.diag()))

        size = 64 * 1024
        jobs = [[a, i] for i, a in enumerate(CLIENTS)]
        clients, served = self._transfer(NS_S, OUTSIDE, OUT_PORT, NS_C, jobs, OUTSIDE,
                                         OUT_PORT, size, conc=32)
        self.assertEqual({s["peer"] for s in served}, {GW_W},
                         "source addresses the outside server saw")
        self.assertEqual(sorted(s["id"] for s in served), list(range(len(CLIENTS))))
        pports = {s["id"]: s["pport"] for s in served}
        self.assertEqual(len(set(pports.values())), len(CLIENTS), "distinct translated ports")

        listing = self.ctl("conntrack", "-L", "--src-nat", "-p", "tcp")
        flows = {}
        for e in by_proto_tcp(listing):
            if e["orig"].get("dst") == OUTSIDE and e["orig"].get("dport") == str(OUT_PORT):
                flows[(e["orig"]["src"], int(e["orig"]["sport"]))] = e
        missing = []
        for c in clients:
            e = flows.get((c["src"], c["sport"]))
            if e is None:
                missing.append(c)
                continue
            want = {"src": OUTSIDE, "dst": GW_W, "sport": str(OUT_PORT),
                    "dport": str(pports[c["id"]])}
            self.assertEqual({k: e["reply"].get(k) for k in want}, want, e["raw"])
            self.assertIn("ASSURED", e["flags"], e["raw"])
        self.assertEqual(missing, [], "flows missing from conntrack -L --src-nat:\n"
                         + listing[-3000:])
        self.assertEqual(len(flows), len(CLIENTS), listing[-3000:])

        st = self.ct_stats()
        for k in ("insert_failed", "nat_no_port"):
            self.assertEqual(st.get(k, 0), 0, "%s in conntrack -S:\n%s" % (k, self.diag()))

    def test_dnat_port_forward(self):
        size = 256 * 1024
        jobs = [[OUTSIDE, i] for i in range(20)]
        clients, served = self._transfer(NS_I, INSIDE_SERVER, IN_PORT, NS_S, jobs, GW_W,
                                         PUB_PORT, size, conc=5)
        # dnat only: the inside server sees the outside client as it is.
        self.assertEqual({s["peer"] for s in served}, {OUTSIDE}, "peers of the inside server")
        self.assertEqual(sorted(s["pport"] for s in served),
                         sorted(c["sport"] for c in clients), "client ports kept")

        listing = self.ctl("conntrack", "-L", "--dst-nat", "-p", "tcp")
        flows = {int(e["orig"]["sport"]): e for e in by_proto_tcp(listing)
                 if e["orig"].get("src") == OUTSIDE and e["orig"].get("dst") == GW_W
                 and e["orig"].get("dport") == str(PUB_PORT)}
        for c in clients:
            e = flows.get(c["sport"])
            self.assertIsNotNone(e, "flow of port %d missing from --dst-nat:\n%s"
                                 % (c["sport"], listing[-3000:]))
            want = {"src": INSIDE_SERVER, "sport": str(IN_PORT), "dst": OUTSIDE,
                    "dport": str(c["sport"])}
            self.assertEqual({k: e["reply"].get(k) for k in want}, want, e["raw"])
            self.assertIn("ASSURED", e["flags"], e["raw"])
        snat = [e for e in by_proto_tcp(self.ctl("conntrack", "-L", "--src-nat", "-p", "tcp"))
                if e["orig"].get("dport") == str(PUB_PORT)]
        self.assertEqual(snat, [], "dnat-only flows listed as source-translated")

        st = self.ct_stats()
        self.assertEqual(st.get("insert_failed", 0), 0, self.diag())

    def test_hairpin(self):
        size = 128 * 1024
        jobs = [[HAIRPIN_CLIENT, i] for i in range(20)]
        clients, served = self._transfer(NS_I, INSIDE_SERVER, IN_PORT, NS_C, jobs, GW_W,
                                         PUB_PORT, size, conc=5)
        # The hairpin masquerade: the inside server only ever talks to ctgate's lan address.
        self.assertEqual({s["peer"] for s in served}, {GW_L}, "peers of the inside server")
        pports = {s["id"]: s["pport"] for s in served}

        dnat = {int(e["orig"]["sport"]): e
                for e in by_proto_tcp(self.ctl("conntrack", "-L", "--dst-nat", "-p", "tcp"))
                if e["orig"].get("src") == HAIRPIN_CLIENT}
        snat = {int(e["orig"]["sport"]): e
                for e in by_proto_tcp(self.ctl("conntrack", "-L", "--src-nat", "-p", "tcp"))
                if e["orig"].get("src") == HAIRPIN_CLIENT}
        for c in clients:
            for name, table in (("--dst-nat", dnat), ("--src-nat", snat)):
                e = table.get(c["sport"])
                self.assertIsNotNone(e, "hairpin flow of port %d missing from %s: %s"
                                     % (c["sport"], name, sorted(table)))
                self.assertEqual((e["orig"]["dst"], e["orig"]["dport"]),
                                 (GW_W, str(PUB_PORT)), e["raw"])
                want = {"src": INSIDE_SERVER, "sport": str(IN_PORT), "dst": GW_L,
                        "dport": str(pports[c["id"]])}
                self.assertEqual({k: e["reply"].get(k) for k in want}, want, e["raw"])
                self.assertIn("ASSURED", e["flags"], e["raw"])

        st = self.ct_stats()
        self.assertEqual(st.get("insert_failed", 0), 0, self.diag())


if __name__ == "__main__":
    unittest.main(verbosity=2)
