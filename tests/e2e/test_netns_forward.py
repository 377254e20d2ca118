#!/usr/bin/python3
"""End-to-end test: real kernel traffic through ctgate on net_af_packet ports.

    netns ctgt-c-<pid>                                     netns ctgt-s-<pid>
    eth0 10.77.1.2/24 <-veth-> ctgtl<n> [ctgate] ctgtw<n> <-veth-> eth0 10.77.2.2/24
                               10.77.1.1/24   10.77.2.1/24

Client and server use ctgate as their default gateway. The test pings the gateway and
the server through it, moves >= 2 MB of random data over TCP with nc and compares
sha256, then stops ctgate with SIGINT and checks the clean exit and the conntrack dump.
Namespaces and veths are removed in tearDown, also on failure.

Run (root):  python3 tests/e2e/test_netns_forward.py [-v]
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ctgate_test as ct  # noqa: E402

PID = os.getpid()
NS_C = "ctgt-c-%d" % PID
NS_S = "ctgt-s-%d" % PID
IF_L = "ctgtl%d" % (PID % 10000)      # host ends, <= 15 chars
IF_W = "ctgtw%d" % (PID % 10000)
CLIENT, GW_L, SERVER, GW_W = "10.77.1.2", "10.77.1.1", "10.77.2.2", "10.77.2.1"
VLAN_HOST, VLAN_GW = "10.77.100.2", "10.77.100.1"  # a host in VLAN 100, ctgate's lan.100
NS_V = "ctgt-v-%d" % PID
RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "vlan_relay.py")
TCP_PORT = 5001
DATA_BYTES = 2 * 1024 * 1024 + 12345
CMD_TIMEOUT = 30


sh, ns = ct.sh, ct.ns  # shared helpers; also used by the tests importing this module
stop_pid = ct.stop_pid


def skip_reason():
    if not ct.is_root():
        return "needs root (network namespaces, veths, DPDK)"
    r = ct.missing_binary_reason()
    if r:
        return r
    for tool in ("ip", "ethtool", "nc", "ping", "timeout"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            return "%s not installed" % tool
    return None


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class NetnsForwardTest(unittest.TestCase):
    def setUp(self):
        self.tmp = ct.TempDir("e2e")
        self.prefix = ct.file_prefix("e2e")
        self.daemon = None
        self.procs = []
        self.addCleanup(self._cleanup)
        self._make_topology()

    # ------------------------------------------------------------------ topology

    def _make_topology(self):
        for n in (NS_C, NS_S):
            sh("ip", "netns", "add", n)
        for host_if, n, addr, gw in ((IF_L, NS_C, CLIENT, GW_L), (IF_W, NS_S, SERVER, GW_W)):
            ct.veth_into(n, host_if)
            self._host(n, addr, gw)

    @staticmethod
    def _host(n, addr, gw):
        """Namespace n's eth0 as a host: addr/24, default route via gw, IPv4 only."""
        ns(n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
        ns(n, "ip", "link", "set", "lo", "up")
        ns(n, "ip", "addr", "add", addr + "/24", "dev", "eth0")
        ns(n, "ip", "link", "set", "eth0", "up")
        ns(n, "ip", "route", "add", "default", "via", gw)
        # af_packet never fills in partial checksums: TX offload off in the netns.
        ns(n, "ethtool", "-K", "eth0", "tx", "off")

    def _cleanup(self):
        for p in self.procs:
            stop_pid(p)
        if self.daemon is not None:  # also closes the log of one that exited by itself
            self.daemon.stop(grace=10)
        ct.cleanup_prefix(self.prefix)
        ct.remove_netns((NS_C, NS_S), (IF_L, IF_W))
        self.tmp.cleanup()

    # ------------------------------------------------------------------ daemon

    def ctl(self, *args, timeout=60):
        """ctgatectl against this test's ctgate: its output; a failure fails the test."""
        return ct.ctl_or_fail(self, self.prefix, self.daemon, *args, timeout=timeout)

    def _start_ctgate(self, lan_vlans=None, huge=False, metrics=False):
        lan = {"name": "lan", "devargs": "net_af_packet0,iface=%s,qpairs=1" % IF_L,
               "address": GW_L + "/24"}
        if lan_vlans:
            lan["vlans"] = lan_vlans
        cfg = ct.make_config(
            self.prefix,
            ports=[lan,
                   {"name": "wan", "devargs": "net_af_packet1,iface=%s,qpairs=1" % IF_W,
                    "address": GW_W + "/24"}],
            conntrack={"enable_hooks": True, "max": 65536},
            no_huge=not (huge or os.environ.get("CTGATE_TEST_HUGE")))
        if metrics:
            cfg["metrics"] = {"listen": "127.0.0.1:0"}  # any free port: the log says which
        self.cfg_path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        self.dump_path = self.tmp.file("ct.txt")
        self.daemon = ct.Daemon(self.cfg_path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                run_seconds=40, dump_conntrack=self.dump_path)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=20):
            self.fail("ctgate did not start:\n" + self.daemon.log()[-3000:])

    def _ping(self, dst, src_ns=NS_C):
        p = ns(src_ns, "ping", "-n", "-c", "5", "-W", "1", "-i", "0.3", dst, check=False,
               timeout=20)
        out = p.stdout.decode(errors="replace")
        m = re.search(r"(\d+) received", out)
        return (int(m.group(1)) if m else 0), out

    def _tcp_transfer(self, src_ns=NS_C):
        src = self.tmp.file("in.bin")
        dst = self.tmp.file("out.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(DATA_BYTES))
        with open(dst, "wb") as out, open(self.tmp.file("nc-server.err"), "wb") as err:
            # -d: the server never reads stdin, so it exits when the client closes.
            server = subprocess.Popen(
                ["ip", "netns", "exec", NS_S, "timeout", str(CMD_TIMEOUT), "nc", "-d", "-l",
                 "-p", str(TCP_PORT)], stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.procs.append(server)
        # wait (bounded) until the server listens
        for _ in range(50):
            ss = ns(NS_S, "ss", "-Htln", "sport", "= :%d" % TCP_PORT, check=False)
            if str(TCP_PORT) in ss.stdout.decode(errors="replace"):
                break
            time.sleep(0.1)
        else:
            self.fail("nc server did not listen")
        with open(src, "rb") as inp:
            client = subprocess.run(
                ["ip", "netns", "exec", src_ns, "timeout", str(CMD_TIMEOUT), "nc", "-q", "1",
                 "-w", "10", SERVER, str(TCP_PORT)], stdin=inp, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=CMD_TIMEOUT + 10)
        try:
            server.wait(timeout=CMD_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            stop_pid(server)
        with open(src, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        with open(dst, "rb") as f:
            data = f.read()
        return want, hashlib.sha256(data).hexdigest(), len(data), client, server

    def _transfer_while(self, work, done):
        """_tcp_transfer with `work` running on a thread meanwhile; `done` is set after it."""
        t = threading.Thread(target=work)
        t.start()
        try:
            return self._tcp_transfer()
        finally:
            done.set()
            t.join(timeout=120)

    # ------------------------------------------------------------------ the test

    def test_ping_tcp_and_conntrack(self):
        self._start_ctgate()

        n, out = self._ping(GW_L)
        self.assertGreaterEqual(n, 3, "ping the gateway:\n" + out)
        n, out = self._ping(SERVER)
        self.assertGreaterEqual(n, 3, "ping the server through the gateway:\n" + out)

        want, got, size, client, server = self._tcp_transfer()
        self.assertEqual(client.returncode, 0, "nc client: %s" % client.stderr)
        self.assertEqual(size, DATA_BYTES, "bytes received by the server")
        self.assertEqual(got, want, "sha256 of the transferred data")

        rc = self.daemon.stop(grace=20)
        log = self.daemon.log()
        self.assertEqual(rc, 0, "ctgate exit after SIGINT:\n" + log[-3000:])
        self.assertIn("ctgate stopped", log)
        stats = ct.parse_final_stats(log)
        self.assertIsNotNone(stats, log[-3000:])
        self.assertGreater(stats["forwarded"], 0)
        self.assertGreaterEqual(stats["local_in"], 3, "echo requests to the gateway")

        with open(self.dump_path) as f:
            dump = f.read()
        entries = ct.parse_conntrack_lines(dump)
        self.assertTrue(all(not e["unparsed"] for e in entries), dump)
        tcp = [e for e in entries if e["protonum"] == 6 and e["orig"].get("src") == CLIENT
               and e["orig"].get("dst") == SERVER and e["orig"].get("dport") == str(TCP_PORT)]
        self.assertEqual(len(tcp), 1, "one entry for the TCP transfer:\n" + dump)
        e = tcp[0]
        self.assertIn("ASSURED", e["flags"], e["raw"])
        self.assertNotIn("UNREPLIED", e["flags"], e["raw"])
        self.assertIn(e["state"], ("TIME_WAIT", "CLOSE", "ESTABLISHED"), e["raw"])
        self.assertEqual(e["reply"].get("src"), SERVER)
        self.assertEqual(e["reply"].get("sport"), str(TCP_PORT))
        icmp = [e for e in entries if e["protonum"] == 1 and e["orig"].get("src") == CLIENT]
        self.assertTrue(icmp, "an icmp entry for the pings:\n" + dump)
        for e in icmp:
            self.assertEqual(e["orig"].get("type"), "8", e["raw"])
            self.assertNotIn("UNREPLIED", e["flags"], e["raw"])
        self.assertEqual(sorted({e["orig"]["dst"] for e in icmp}), sorted([GW_L, SERVER]),
                         "echo entries for the gateway and the server:\n" + dump)


    def test_vlan_subinterface(self):
        """lan.100 (VLAN 100 on lan, 10.77.100.1/24): a host in VLAN 100 reaches the server
        through it, tagged both ways on lan's wire. This kernel has no 802.1Q subinterfaces
        (CONFIG_VLAN_8021Q is off), so the host's side of the tag is tests/lib/vlan_relay.py
        in the client's namespace, between its eth0 (the trunk) and the host's veth."""
        sh("ip", "netns", "add", NS_V)
        self.addCleanup(ct.remove_netns, (NS_V,), ())
        ns(NS_C, "ip", "link", "add", "tr100", "type", "veth", "peer", "name", "eth0",
           "netns", NS_V)
        ns(NS_C, "sysctl", "-qw", "net.ipv6.conf.tr100.disable_ipv6=1", check=False)
        ns(NS_C, "ip", "link", "set", "tr100", "up")
        self._host(NS_V, VLAN_HOST, VLAN_GW)
        relay_log = self.tmp.file("relay.log")
        with open(relay_log, "w") as log:
            relay = subprocess.Popen(
                ["ip", "netns", "exec", NS_C, sys.executable, RELAY, "eth0", "tr100:100",
                 "--seconds", "90"], stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(relay)
        for _ in range(50):
            with open(relay_log) as f:
                if "relay ready" in f.read():
                    break
            time.sleep(0.1)
        self._start_ctgate(lan_vlans=[{"id": 100, "address": VLAN_GW + "/24"}], huge=True)
        capture, capture_path, _ = self._capture("lan.100", "icmp", "-c", "4", "--duration",
                                                 "30")

        n, out = self._ping(VLAN_GW, src_ns=NS_V)
        self.assertGreaterEqual(n, 3, "ping lan.100's address:\n" + out)
        # Captured on lan's device with `vlan 100`: the tagged frames, nothing untagged.
        capture.wait(timeout=40)
        p = subprocess.run(["tcpdump", "-nn", "-e", "-r", capture_path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=CMD_TIMEOUT)
        lines = p.stdout.decode(errors="replace").splitlines()
        self.assertEqual(len(lines), 4, lines)
        self.assertTrue(all("vlan 100" in l and "ICMP echo" in l for l in lines), lines)
        n, out = self._ping(GW_L)
        self.assertGreaterEqual(n, 3, "ping lan's own address, untagged:\n" + out)
        n, out = self._ping(SERVER, src_ns=NS_V)
        self.assertGreaterEqual(n, 3, "ping the server through lan.100:\n" + out)
        want, got, size, client, server = self._tcp_transfer(src_ns=NS_V)
        self.assertEqual(client.returncode, 0, "nc client: %s" % client.stderr)
        self.assertEqual(got, want, "sha256 of the transferred data")

        stats = json.loads(self.ctl("stats", "--json"))
        self.assertIn("lan.100", stats["ports"], stats["ports"])
        lan100 = stats["ports"]["lan.100"]
        self.assertGreater(lan100["rx_packets"], 0, lan100)
        self.assertGreater(lan100["tx_packets"], 0, lan100)
        self.assertEqual(lan100.get("vlan"), 100)
        self.assertEqual(lan100.get("vlan_of"), "lan")

        self.assertEqual(self.daemon.stop(grace=20), 0, self.daemon.log()[-3000:])
        with open(self.dump_path) as f:
            dump = f.read()
        tcp = [e for e in ct.parse_conntrack_lines(dump) if e["protonum"] == 6
               and e["orig"].get("src") == VLAN_HOST and e["orig"].get("dst") == SERVER]
        self.assertEqual(len(tcp), 1, "one entry for the TCP transfer over lan.100:\n" + dump)
        self.assertIn("ASSURED", tcp[0]["flags"], tcp[0]["raw"])

    def test_route_changes_during_transfer(self):
        """ctgatectl route add/replace/del while kernel TCP crosses the gateway: a host route
        to the server is added, moved and deleted over and over during the transfer; the data
        arrives whole, no packet is dropped for want of a route, and the list ends as it
        began. Then ctgatectl neigh add/del."""
        self._start_ctgate()
        n, out = self._ping(SERVER)
        self.assertGreaterEqual(n, 3, out)
        before = self.ctl("route", "list")
        self.assertIn("10.77.2.0/24 dev wan proto kernel scope link src %s\n" % GW_W, before)
        done, churned = threading.Event(), []

        def churn():
            churned.append(ct.churn_host_route(self.prefix, SERVER, done))

        want, got, size, client, server = self._transfer_while(churn, done)
        changes, errors = churned[0]
        print("route changes during the transfer: %d" % len(changes))
        self.assertEqual(errors, [])
        self.assertGreaterEqual(len(changes), 3, "route changes during the transfer")
        self.assertEqual(changes[0], "added %s/32 dev wan" % SERVER)
        self.assertEqual(changes[1], "replaced %s/32 dev wan with %s/32 via %s dev wan" %
                         (SERVER, SERVER, SERVER))
        self.assertEqual(client.returncode, 0, "nc client: %s" % client.stderr)
        self.assertEqual(got, want, "sha256 of the transferred data")
        stats = json.loads(self.ctl("stats", "--json"))
        self.assertEqual(stats["drops"].get("no_route", 0), 0, stats["drops"])
        self.assertEqual(self.ctl("route", "list"), before)
        self.assertIn("route: added %s/32 dev wan" % SERVER, self.daemon.log())
        # Neighbours, as ip neigh: a static entry added, listed, deleted.
        self.assertEqual(self.ctl("neigh", "add", "10.77.2.50", "lladdr", "02:00:00:00:02:50",
                                  "dev", "wan").strip(),
                         "added 10.77.2.50 lladdr 02:00:00:00:02:50 dev wan PERMANENT")
        self.assertIn("10.77.2.50 dev wan lladdr 02:00:00:00:02:50 PERMANENT\n",
                      self.ctl("neigh"))
        self.assertEqual(self.ctl("neigh", "del", "10.77.2.50").strip(), "deleted 10.77.2.50")
        self.assertNotIn("10.77.2.50 ", self.ctl("neigh"))

    def _capture(self, port, *args):
        """`ctgatectl capture PORT ARGS` started in the background, once dumpcap says it
        captures: the process and its output file's path."""
        path = self.tmp.file("%s.pcapng" % port)
        err = self.tmp.file("capture-%s.err" % port)
        with open(err, "w") as f:
            proc = subprocess.Popen([ct.SYSTEM_PYTHON, ct.CTL, "--file-prefix", self.prefix,
                                     "capture", port, *args, "-w", path],
                                    stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        for _ in range(150):  # dumpcap's EAL start: a second or two
            with open(err) as f:
                text = f.read()
            # Its counts line comes once its callbacks are on the queues; "Capturing on"
            # is on stdout, which a file buffers until dumpcap exits.
            if "Packets captured" in text or proc.poll() is not None:
                break
            time.sleep(0.1)
        self.assertIn("Packets captured", text, "dumpcap did not start:\n" + text +
                      "\nctgate's log:\n" + self.daemon.log()[-2000:])
        return proc, path, err

    @staticmethod
    def _read_capture(path):
        """tcpdump's one-line summaries of a capture file (pcapng)."""
        p = subprocess.run(["tcpdump", "-nn", "-r", path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=CMD_TIMEOUT)
        return p.stdout.decode(errors="replace")

    def test_capture(self):
        """ctgatectl capture (dpdk-dumpcap attached to the running gateway): the pings
        through lan are in the file, both ways, the other traffic filtered out; after the
        capture ends the gateway forwards on, and its log has no error."""
        self._start_ctgate(huge=True)
        n, out = self._ping(SERVER)  # neighbours resolved before the capture
        self.assertGreaterEqual(n, 3, out)
        proc, path, err = self._capture("lan", "icmp", "-c", "10", "--duration", "30")
        wan_proc, wan_path, _ = self._capture("wan", "icmp", "--duration", "30", "-c", "4")
        before = time.time()
        n, out = self._ping(SERVER)
        after = time.time()
        self.assertEqual(n, 5, out)
        for p in (proc, wan_proc):
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.fail("capture did not stop after -c")
        with open(err) as f:
            self.assertEqual(proc.returncode, 0, f.read())
        lines = self._read_capture(path)
        requests = re.findall(r"IP %s > %s: ICMP echo request" % (CLIENT, SERVER), lines)
        replies = re.findall(r"IP %s > %s: ICMP echo reply" % (SERVER, CLIENT), lines)
        self.assertEqual((len(requests), len(replies)), (5, 5), lines)
        self.assertEqual(len(lines.splitlines()), 10, lines)
        # The packets' times are the wall clock's (DPDK 22.11's capture clock, set right at
        # start: main.cpp set_capture_clock); a generous bound, not a timing.
        for t in ct.pcapng_times(path):
            self.assertTrue(before - 60 <= t <= after + 60,
                            "packet time %.3f, ping between %.3f and %.3f" % (t, before, after))
        self.assertEqual(len(ct.pcapng_times(path)), 10)
        # On wan, the same pings, after the gateway routed them (TTL 63 at the server).
        wan_lines = self._read_capture(wan_path)
        self.assertEqual(len(re.findall(r"IP %s > %s: ICMP echo request" % (CLIENT, SERVER),
                                        wan_lines)), 2, wan_lines)
        self.assertEqual(len(wan_lines.splitlines()), 4, wan_lines)
        n, out = self._ping(SERVER)
        self.assertEqual(n, 5, "forwarding after the capture:\n" + out)
        self.assertEqual(self.daemon.stop(grace=20), 0, self.daemon.log()[-3000:])
        self.assertIn("capture: ready", self.daemon.log())
        self.assertNotRegex(self.daemon.log(), r"(?m)^[EW]\d{8} ", self.daemon.log()[-3000:])

    def test_metrics_scrape(self):
        """The Prometheus endpoint during a TCP transfer: every scrape parses, the counters
        move, the transfer is intact, and the ports' and conntrack's figures agree with
        ctgatectl stats (taken between two scrapes once the traffic stopped)."""
        self._start_ctgate(metrics=True)
        m = re.search(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", self.daemon.log())
        self.assertIsNotNone(m, self.daemon.log()[-3000:])
        url = m.group(1)
        ctype, before = ct.scrape(url)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        n, out = self._ping(SERVER)
        self.assertGreaterEqual(n, 3, out)

        scrapes, errors, done = [], [], threading.Event()

        def scrape_loop():
            for _ in range(400):  # bounded; ~10 a second while the transfer runs
                if done.is_set():
                    return
                try:
                    scrapes.append(ct.scrape(url)[1])
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                time.sleep(0.1)

        want, got, size, client, _ = self._transfer_while(scrape_loop, done)
        self.assertEqual(errors, [])
        self.assertGreaterEqual(len(scrapes), 1)
        self.assertEqual((size, got), (DATA_BYTES, want), "the transfer, scraped meanwhile")

        def lan_rx(s):
            return s['ctgate_port_rx_packets_total{port="lan"}']

        series = [before] + scrapes
        for a, b in zip(series, series[1:]):
            self.assertLessEqual(lan_rx(a), lan_rx(b), "a counter never goes back")
        first, stats_json, last = ct.scrape(url)[1], self.ctl("stats", "--json"), ct.scrape(url)[1]
        stats = json.loads(stats_json)
        self.assertGreater(lan_rx(last), lan_rx(before) + DATA_BYTES // 1500 // 2)
        self.assertGreater(last['ctgate_conntrack_stat_new_total{worker="0"}'],
                           before['ctgate_conntrack_stat_new_total{worker="0"}'])
        self.assertGreater(last['ctgate_dataplane_forwarded_total{worker="0"}'], 0)
        for port in stats["ports"].values():
            key = 'ctgate_port_%%s_packets_total{port="%s"}' % port["name"]
            for d in ("rx", "tx"):
                self.assertLessEqual(first[key % d], port[d + "_packets"], (key, d))
                self.assertLessEqual(port[d + "_packets"], last[key % d], (key, d))
        self.assertEqual(last["ctgate_conntrack_max"], stats["conntrack"]["max"])
        w0 = stats["workers"]["worker0"]
        self.assertLessEqual(first['ctgate_dataplane_forwarded_total{worker="0"}'],
                             w0["forwarded"])
        self.assertLessEqual(w0["forwarded"], last['ctgate_dataplane_forwarded_total{worker="0"}'])
        self.assertEqual(self.daemon.stop(grace=20), 0, self.daemon.log()[-3000:])
        self.assertNotRegex(self.daemon.log(), r"(?m)^[EW]\d{8} ", self.daemon.log()[-3000:])

    def test_conntrack_events(self):
        """ctgatectl conntrack -E during a TCP transfer and a conntrack -D: the flow's NEW,
        its UPDATEs through the handshake and the close, and its DESTROY, in conntrack -E's
        format (each line also parses as a -L line); -o json gives the same events as objects."""
        self._start_ctgate()
        n, out = self._ping(SERVER)  # neighbours resolved: the transfer's flow is the only TCP one
        self.assertGreaterEqual(n, 3, out)

        def listen(*extra):
            path = self.tmp.file("events-%d.txt" % len(self.procs))
            err = self.tmp.file("events-%d.err" % len(self.procs))
            with open(path, "w") as out, open(err, "w") as errf:
                p = subprocess.Popen([ct.SYSTEM_PYTHON, ct.CTL, "--file-prefix", self.prefix,
                                      "conntrack", "-E", "-p", "tcp", "--duration", "12"]
                                     + list(extra), stdout=out, stderr=errf)
            self.procs.append(p)
            return p, path, err

        text_proc, text_path, text_err = listen()
        json_proc, json_path, json_err = listen("-o", "json", "-e", "NEW,DESTROY")
        time.sleep(1.5)  # both have polled once: events are on
        want, got, size, client, _ = self._tcp_transfer()
        self.assertEqual((size, got), (DATA_BYTES, want))
        time.sleep(0.5)
        self.ctl("conntrack", "-D", "-p", "tcp")
        for p in (text_proc, json_proc):
            p.wait(timeout=30)
        with open(text_path) as f:
            lines = f.read().splitlines()
        with open(text_err) as f:
            err = f.read()
        self.assertEqual(text_proc.returncode, 0, err)
        self.assertIn("flow events have been shown", err)
        print("\n".join(lines))
        kinds = [l.split("]")[0].strip() + "]" for l in lines]
        self.assertEqual(kinds[0], "[NEW]", "\n".join(lines))
        self.assertEqual(kinds[-1], "[DESTROY]", "\n".join(lines))
        self.assertEqual(kinds.count("[NEW]"), 1, "\n".join(lines))
        self.assertRegex(lines[0], r"^    \[NEW\] tcp      6 120 SYN_SENT src=%s dst=%s sport=\d+ "
                         r"dport=%d \[UNREPLIED\] src=%s dst=%s sport=%d dport=\d+$"
                         % (CLIENT, SERVER, TCP_PORT, SERVER, CLIENT, TCP_PORT))
        states = [l.split()[4] for l in lines if l.startswith(" [UPDATE]")]
        self.assertEqual(states[:2], ["SYN_RECV", "ESTABLISHED"], "\n".join(lines))
        self.assertIn("TIME_WAIT", states, "\n".join(lines))
        # Deleted with time left: the seconds it had, as Linux's conntrack -D shows them.
        self.assertRegex(lines[-1], r"^\[DESTROY\] tcp      6 1\d\d TIME_WAIT src=%s .*\[ASSURED\]$"
                         % CLIENT)
        # Each event is a -L line after its tag.
        for line in lines:
            body = line.split("] ", 1)[1]
            parsed = ct.parse_conntrack_lines(body + " use=1")
            self.assertFalse(parsed[0]["unparsed"], line)
        with open(json_path) as f:
            objs = [json.loads(l) for l in f.read().splitlines()]
        with open(json_err) as f:
            err = f.read()
        self.assertEqual([o["event"] for o in objs], ["NEW", "DESTROY"], err)
        self.assertEqual(objs[0]["orig"]["dport"], TCP_PORT)
        self.assertEqual(objs[0]["state"], "SYN_SENT")
        self.assertEqual(objs[0]["flags"], ["UNREPLIED"])
        self.assertIn("ASSURED", objs[1]["flags"])
        self.assertGreater(objs[1]["timeout"], 100)
        self.assertEqual(self.daemon.stop(grace=20), 0, self.daemon.log()[-3000:])

    # ------------------------------------------------------------- events against the kernel

    def _event_traffic(self, client_ns, server_ns):
        """One ping, then a 100 kB TCP transfer (connect, data, close)."""
        ns(client_ns, "ping", "-n", "-c", "1", "-W", "2", SERVER, check=False, timeout=20)
        with open(os.devnull, "wb") as null:
            server = subprocess.Popen(["ip", "netns", "exec", server_ns, "timeout", "10", "nc",
                                       "-d", "-l", "-p", str(TCP_PORT)], stdout=null,
                                      stderr=null, stdin=subprocess.DEVNULL)
        self.procs.append(server)
        for _ in range(50):  # bounded wait for the listener
            ss = ns(server_ns, "ss", "-Htln", "sport", "= :%d" % TCP_PORT, check=False)
            if str(TCP_PORT) in ss.stdout.decode(errors="replace"):
                break
            time.sleep(0.1)
        subprocess.run(["ip", "netns", "exec", client_ns, "timeout", "10", "nc", "-q", "1", "-w",
                        "5", SERVER, str(TCP_PORT)], input=os.urandom(100000),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        server.wait(timeout=20)
        time.sleep(0.5)

    def _kernel_events(self, setup=True):
        """conntrack -E of a Linux router (netns, ip_forward) carrying _event_traffic between
        the same addresses, then conntrack -D. setup=False: the router is there already."""
        kc, kr, ks = ("ctgt-k%s-%d" % (x, PID) for x in "crs")
        if setup:
            self._kernel_router(kc, kr, ks)
        out = self.tmp.file("kernel-events.txt")
        with open(out, "w") as f:
            listener = subprocess.Popen(["ip", "netns", "exec", kr, "timeout", "15", "conntrack",
                                         "-E", "-f", "ipv4"], stdout=f, stderr=subprocess.DEVNULL)
        self.procs.append(listener)
        time.sleep(1)
        self._event_traffic(kc, ks)
        ns(kr, "conntrack", "-D", "-f", "ipv4", check=False)
        time.sleep(1)
        stop_pid(listener)
        with open(out) as f:
            return f.read().splitlines()

    def _kernel_router(self, kc, kr, ks):
        """Client, router and server namespaces, the router's conntrack on."""
        self.addCleanup(ct.remove_netns, (kc, kr, ks), ())
        for n in (kc, kr, ks):
            sh("ip", "netns", "add", n)
            ns(n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
            ns(n, "ip", "link", "set", "lo", "up")
        for n, addr, gw, dev in ((kc, CLIENT, GW_L, "r0"), (ks, SERVER, GW_W, "r1")):
            ns(n, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", dev)
            ns(n, "ip", "link", "set", dev, "netns", kr)
            ns(n, "ip", "addr", "add", addr + "/24", "dev", "eth0")
            ns(n, "ip", "link", "set", "eth0", "up")
            ns(n, "ip", "route", "add", "default", "via", gw)
            ns(kr, "ip", "addr", "add", gw + "/24", "dev", dev)
            ns(kr, "ip", "link", "set", dev, "up")
        ns(kr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # Conntrack on in the router: a ruleset that uses it, as ctgate's enable_hooks.
        ns(kr, "nft", "add table ip t; add chain ip t f { type filter hook forward priority 0; }; "
           "add rule ip t f ct state established counter")

    def _ctgate_events(self):
        out = self.tmp.file("ctgate-events.txt")
        with open(out, "w") as f:
            listener = subprocess.Popen([ct.SYSTEM_PYTHON, ct.CTL, "--file-prefix", self.prefix,
                                         "conntrack", "-E", "-f", "ipv4", "--duration", "20"],
                                        stdout=f, stderr=subprocess.DEVNULL)
        self.procs.append(listener)
        time.sleep(1.5)
        self._event_traffic(NS_C, NS_S)
        self.ctl("conntrack", "-D", "-f", "ipv4")
        time.sleep(1)
        stop_pid(listener)  # SIGTERM after its last poll
        with open(out) as f:
            return f.read().splitlines()

    @staticmethod
    def _normalise_events(lines):
        """(line without ports, ids and timeouts, timeout or None) per event; conntrack-tools'
        [USERSPACE] note (who deleted it) left out. Two things are the endpoints' timing or
        the table's order, not conntrack's, and are evened out: an UPDATE to CLOSE_WAIT is
        there only when the server ACKs the client's FIN before sending its own (else FIN+ACK
        goes FIN_WAIT -> LAST_ACK), and conntrack -D destroys in table order (the final DESTROY
        block is sorted)."""
        out = []
        for line in lines:
            if not line.lstrip().startswith("[") or " CLOSE_WAIT " in line:
                continue
            line = re.sub(r" \[USERSPACE\].*$", "", line)
            line = re.sub(r"(sport|dport)=(?!%d\b)\d+" % TCP_PORT, r"\1=P", line)
            line = re.sub(r"id=\d+", "id=I", line)
            m = re.match(r"^(\s*\[\w+\] \w+\s+\d+) (\d+) (.*)$", line)
            if m:
                out.append((m.group(1) + " T " + m.group(3), int(m.group(2))))
            else:
                out.append((line, None))
        first_destroy = len(out)
        while first_destroy > 0 and out[first_destroy - 1][0].startswith("[DESTROY]"):
            first_destroy -= 1
        return out[:first_destroy] + sorted(out[first_destroy:])

    def test_conntrack_events_match_the_kernel(self):
        """conntrack -E of the same ping and TCP connection, and their deletion, through a
        Linux router and through ctgate: the same events in the same order, the same states,
        tuples and flags, timeouts within 2 s."""
        # ctnetlink's events are best effort: under load the kernel can fold one into the next
        # (a FIN_WAIT update seen only as LAST_ACK; CI saw it once). The oracle's run is
        # repeated, at most 3 times, until it has every event.
        for attempt in range(3):
            kernel = self._normalise_events(self._kernel_events(setup=attempt == 0))
            if len(kernel) >= 10:
                break
            print("kernel run %d had %d events: again" % (attempt + 1, len(kernel)))
        self._start_ctgate()
        n, out = self._ping(SERVER)  # neighbours resolved; the ping's flow is deleted below
        self.assertGreaterEqual(n, 3, out)
        self.ctl("conntrack", "-F")
        ours = self._normalise_events(self._ctgate_events())
        print("kernel:\n" + "\n".join(l for l, _ in kernel))
        self.assertGreaterEqual(len(kernel), 10, kernel)
        self.assertEqual([l for l, _ in ours], [l for l, _ in kernel])
        for (line, t_ours), (_, t_kernel) in zip(ours, kernel):
            if t_kernel is not None:
                self.assertLessEqual(abs(t_ours - t_kernel), 2, line)
        self.assertEqual(self.daemon.stop(grace=20), 0, self.daemon.log()[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
