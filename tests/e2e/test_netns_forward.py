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

    def _start_ctgate(self, lan_vlans=None):
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
            no_huge=not os.environ.get("CTGATE_TEST_HUGE"))
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
        self._start_ctgate(lan_vlans=[{"id": 100, "address": VLAN_GW + "/24"}])

        n, out = self._ping(VLAN_GW, src_ns=NS_V)
        self.assertGreaterEqual(n, 3, "ping lan.100's address:\n" + out)
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
