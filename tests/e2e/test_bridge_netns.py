#!/usr/bin/python3
"""End-to-end test of switching (issue 15): kernel hosts on one ctgate bridge, on
net_af_packet ports, two of them in VLANs over a trunk.

    h1 10.88.0.1 -- p0 (access VLAN 10) --+
    h2 10.88.0.2 -- p1 (access VLAN 10) --+-- [ctgate bridge br0]
    h5 10.88.0.5 -- p3 (access VLAN 20) --+
                  p2 (trunk: VLANs 10, 20) -- tr: vlan_relay.py -- h3 10.88.0.3 (VLAN 10)
                                                                -- h4 10.88.0.4 (VLAN 20)
    hw 10.89.0.2 -- wan (routed, 10.89.0.1; test 4 only)

This kernel has no 802.1Q subinterfaces, so the trunk's far end is tests/lib/vlan_relay.py in
namespace tr: it tags h3's frames 10 and h4's 20, and untags what comes back. All five hosts
share one subnet; VLANs alone keep 10 and 20 apart.

Checked: ping and kernel TCP (2 MB, sha256) within VLAN 10 across access and trunk ports;
VLAN 20 across the trunk; no traffic between the VLANs; `ctgatectl fdb` and `bridge vlan`;
a MAC moving to another port; learned entries ageing out; and, with a small FDB flooded by
random source MACs, the table bounded, its memory unchanged, and traffic still flowing. A
stateful firewall on the bridge (`table bridge` with `ct state`): connections out of p0 work,
none into it. And a routed bridge interface (br0.10, 10.88.0.254 in VLAN 10): answered on
the access ports and the trunk, routing between VLAN 10 and the routed port wan both ways
(ping and kernel TCP), none from VLAN 20.

Run (root):  python3 tests/e2e/test_bridge_netns.py [-v]
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
TAG = PID % 10000
NS = {h: "ctbr-%s-%d" % (h, PID) for h in ("h1", "h2", "h3", "h4", "h5", "tr", "hw")}
HOST_IF = ["cbr%d_%d" % (i, TAG) for i in range(5)]  # ctgate's ends, p0..p3 and wan
ADDR = {"h1": "10.88.0.1", "h2": "10.88.0.2", "h3": "10.88.0.3", "h4": "10.88.0.4",
        "h5": "10.88.0.5", "hw": "10.89.0.2", "br0.10": "10.88.0.254"}
MAC = {h: "02:00:00:88:00:0%d" % i
       for i, h in enumerate(("h1", "h2", "h3", "h4", "h5", "hw"), 1)}
RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "vlan_relay.py")
TCP_PORT = 5002
DATA_BYTES = 2 * 1024 * 1024 + 777
CMD_TIMEOUT = 30

sh, ns = ct.sh, ct.ns


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


def host_setup(n, ifname, host):
    """A host's interface: its MAC, address, no IPv6 chatter, checksums filled in (af_packet
    never completes a partial one)."""
    ns(n, "ip", "link", "set", ifname, "address", MAC[host])
    ns(n, "ip", "link", "set", ifname, "mtu", "1400")
    ns(n, "ip", "addr", "add", ADDR[host] + "/24", "dev", ifname)
    ns(n, "ip", "link", "set", ifname, "up")
    ns(n, "ethtool", "-K", ifname, "tx", "off")


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class BridgeNetnsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = ct.TempDir("br")
        self.prefix = ct.file_prefix("br")
        self.daemon = None
        self.procs = []
        self.addCleanup(self._cleanup)
        self._make_topology()

    def _make_topology(self):
        for n in NS.values():
            sh("ip", "netns", "add", n)
            ns(n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
            ns(n, "ip", "link", "set", "lo", "up")
        for i, far in enumerate(("h1", "h2", "tr", "h5")):
            ct.veth_into(NS[far], HOST_IF[i])
            sh("ip", "link", "set", HOST_IF[i], "mtu", "1500")
        ct.veth_into(NS["hw"], HOST_IF[4])
        for h in ("h1", "h2", "h5", "hw"):
            host_setup(NS[h], "eth0", h)
        # The trunk's far end: tr's eth0, and one veth per VLAN to h3 and h4.
        ns(NS["tr"], "ip", "link", "set", "eth0", "up")
        for h, v in (("h3", "v10"), ("h4", "v20")):
            ns(NS["tr"], "ip", "link", "add", v, "type", "veth", "peer", "name", "eth0", "netns",
               NS[h])
            ns(NS["tr"], "ip", "link", "set", v, "up")
            host_setup(NS[h], "eth0", h)
        relay_log = open(self.tmp.file("relay.log"), "w")
        self.relay = subprocess.Popen(
            ["ip", "netns", "exec", NS["tr"], sys.executable, RELAY, "eth0", "v10:10", "v20:20",
             "--seconds", "120"], stdout=relay_log, stderr=subprocess.STDOUT)
        relay_log.close()
        self.procs.append(self.relay)

    def _cleanup(self):
        for p in self.procs:
            ct.stop_pid(p)
        if self.daemon is not None:
            self.daemon.stop(grace=10)
        ct.cleanup_prefix(self.prefix)
        ct.remove_netns(NS.values(), HOST_IF)
        self.tmp.cleanup()

    def ctl(self, *args, timeout=60):
        return ct.ctl_or_fail(self, self.prefix, self.daemon, *args, timeout=timeout)

    def _start(self, ageing_time_s=300, max_entries=4096, ruleset=None, interfaces=None):
        ports = [{"name": "p%d" % i, "devargs": "net_af_packet%d,iface=%s,qpairs=1" %
                  (i, HOST_IF[i])} for i in range(4)]
        if interfaces:  # and the routed port behind them
            ports.append({"name": "wan", "devargs": "net_af_packet4,iface=%s,qpairs=1" %
                          HOST_IF[4], "address": "10.89.0.1/24"})
        cfg = ct.make_config(self.prefix, ports=ports,
                             no_huge=not os.environ.get("CTGATE_TEST_HUGE"))
        cfg["bridges"] = [{
            "name": "br0", "ageing_time_s": ageing_time_s, "max_entries": max_entries,
            "ports": [{"port": "p0", "pvid": 10}, {"port": "p1", "pvid": 10},
                      {"port": "p2", "pvid": 0, "vlans": [10, 20]},
                      {"port": "p3", "pvid": 20}]}]
        if interfaces:
            cfg["bridges"][0]["interfaces"] = interfaces
        if ruleset is not None:
            cfg["ruleset"] = self.tmp.file("bridge.nft")
            with open(cfg["ruleset"], "w") as f:
                f.write(ruleset)
        path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        self.daemon = ct.Daemon(path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                run_seconds=90)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=20):
            self.fail("ctgate did not start:\n" + self.daemon.log()[-3000:])

    def ping(self, src, dst, count=4):
        p = ns(NS[src], "ping", "-n", "-c", str(count), "-W", "1", "-i", "0.3", ADDR[dst],
               check=False, timeout=20)
        out = p.stdout.decode(errors="replace")
        m = re.search(r"(\d+) received", out)
        return (int(m.group(1)) if m else 0), out

    def fdb(self):
        """`ctgatectl fdb` lines as (mac, port, vlan, static)."""
        out = self.ctl("fdb")
        rows = []
        for line in out.splitlines():
            f = line.split()
            rows.append((f[0], f[2], int(f[4]), line.endswith(" static")))
        return rows, out

    def counters(self):
        return json.loads(self.ctl("raw", "/ctgate/counters"))["/ctgate/counters"]

    def tcp_transfer(self, src, dst):
        data = os.urandom(DATA_BYTES)
        inp, outp = self.tmp.file("in.bin"), self.tmp.file("out.bin")
        with open(inp, "wb") as f:
            f.write(data)
        with open(outp, "wb") as out:
            server = subprocess.Popen(
                ["ip", "netns", "exec", NS[dst], "timeout", str(CMD_TIMEOUT), "nc", "-d", "-l",
                 "-p", str(TCP_PORT)], stdout=out, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL)
        self.procs.append(server)
        for _ in range(50):
            ss = ns(NS[dst], "ss", "-Htln", "sport", "= :%d" % TCP_PORT, check=False)
            if str(TCP_PORT) in ss.stdout.decode(errors="replace"):
                break
            time.sleep(0.1)
        else:
            self.fail("nc server did not listen")
        with open(inp, "rb") as f:
            client = subprocess.run(
                ["ip", "netns", "exec", NS[src], "timeout", str(CMD_TIMEOUT), "nc", "-q", "1",
                 "-w", "10", ADDR[dst], str(TCP_PORT)], stdin=f, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=CMD_TIMEOUT + 10)
        try:
            server.wait(timeout=CMD_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            ct.stop_pid(server)
        with open(outp, "rb") as f:
            got = f.read()
        self.assertEqual(client.returncode, 0, client.stderr)
        self.assertEqual(len(got), len(data), "bytes received")
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())

    def relay_log(self):
        with open(self.tmp.file("relay.log")) as f:
            return f.read()

    # ------------------------------------------------------------------ tests

    def test_1_vlans_trunk_fdb_move_and_ageing(self):
        self._start(ageing_time_s=4)
        # VLAN 10: access to access, and access to the host behind the trunk (tagged there).
        for src, dst in (("h1", "h2"), ("h1", "h3"), ("h3", "h2")):
            n, out = self.ping(src, dst)
            self.assertGreaterEqual(n, 3, "%s -> %s:\n%s\nfdb:\n%s\ncounters: %s" % (
                src, dst, out, self.fdb()[1], self.counters()))
        # VLAN 20 over the trunk.
        n, out = self.ping("h4", "h5")
        self.assertGreaterEqual(n, 3, "h4 -> h5:\n" + out)
        # Between the VLANs nothing passes, although the hosts share a subnet.
        for src, dst in (("h1", "h4"), ("h5", "h2"), ("h3", "h5")):
            n, out = self.ping(src, dst, count=2)
            self.assertEqual(n, 0, "%s -> %s crossed VLANs:\n%s" % (src, dst, out))
        self.tcp_transfer("h1", "h3")

        rows, out = self.fdb()
        where = {(mac, vlan): port for mac, port, vlan, _ in rows}
        self.assertEqual(where.get((MAC["h1"], 10)), "p0", out)
        self.assertEqual(where.get((MAC["h2"], 10)), "p1", out)
        self.assertEqual(where.get((MAC["h3"], 10)), "p2", out)
        self.assertEqual(where.get((MAC["h4"], 20)), "p2", out)
        self.assertEqual(where.get((MAC["h5"], 20)), "p3", out)
        self.assertNotIn((MAC["h1"], 20), where, out)
        self.assertIn("%s dev p0 vlan 10 master br0" % MAC["h1"], out)
        vlan = self.ctl("bridge", "vlan")
        self.assertRegex(vlan, r"p0\s+10 PVID Egress Untagged")
        self.assertRegex(vlan, r"p2\s+10\n\s+20\n")
        c = self.counters()
        self.assertGreater(c["bridged"], 1000)  # the TCP transfer, switched by the FDB
        self.assertGreater(c["bridge_flooded"], 0)
        self.assertGreaterEqual(c["fdb_learned"], 5)

        # h1's MAC shows up behind p1 (a host moved): the entry follows.
        ns(NS["h2"], "ip", "link", "set", "eth0", "address", MAC["h1"])
        self.ping("h2", "h3", count=2)
        rows, out = self.fdb()
        self.assertIn((MAC["h1"], "p1", 10, False), rows, out)
        self.assertGreaterEqual(self.counters()["fdb_moved"], 1)

        # Silence: learned entries age out after ageing_time_s (4 s), checked once a second.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows, out = self.fdb()
            if not rows:
                break
            time.sleep(0.5)
        self.assertEqual(rows, [], "entries left after ageing:\n" + out)

    def test_2_full_fdb_floods_and_keeps_its_memory(self):
        self._start(max_entries=64)
        before = json.loads(self.ctl("fdb", "--json"))["bridges"]["br0"]
        # 3000 frames from random source MACs out of h1 (a MAC flood).
        flood = ("import os, socket\n"
                 "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
                 "s.bind(('eth0', 0))\n"
                 "for i in range(3000):\n"
                 "    src = bytes([2]) + os.urandom(5)\n"
                 "    s.send(b'\\xff' * 6 + src + b'\\x08\\x00' + bytes(46))\n")
        ns(NS["h1"], sys.executable, "-c", flood, timeout=60)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            c = self.counters()
            if c["fdb_learned"] + c["fdb_not_learned"] >= 3000:
                break
            time.sleep(0.2)
        after = json.loads(self.ctl("fdb", "--json"))["bridges"]["br0"]
        self.assertLessEqual(after["entries"], 64)
        self.assertEqual(after["memory_bytes"], before["memory_bytes"])
        # Not all 3000 arrive (the af_packet ring overflows): most of those that do are not
        # learned.
        self.assertGreater(c["fdb_not_learned"], 500)
        # The frames of unlearned hosts flood: traffic keeps flowing.
        n, out = self.ping("h2", "h3")
        self.assertGreaterEqual(n, 3, "h2 -> h3 with the FDB full:\n" + out)

    def test_3_stateful_firewall_on_the_bridge(self):
        # A transparent firewall: p0's host may open TCP and ping to anyone in VLAN 10; the
        # answers come back as established; nothing may open a connection towards p0.
        self._start(ruleset=FIREWALL)
        n, out = self.ping("h1", "h2")
        self.assertGreaterEqual(n, 3, "h1 -> h2 through the firewall:\n" + out)
        try:
            self.tcp_transfer("h1", "h3")  # across the trunk, every answer established
        except AssertionError as e:
            raise AssertionError("%s\ncounters: %s\nconntrack -S: %s\nhooks: %s" % (
                e, self.counters(), self.ctl("conntrack", "-S"), self.ctl("hooks", "-v"))) from e
        n, out = self.ping("h2", "h1", count=2)
        self.assertEqual(n, 0, "h2 opened a flow towards p0:\n" + out)
        n, out = self.ping("h2", "h3")  # the rest of VLAN 10 is not fenced
        self.assertGreaterEqual(n, 3, "h2 -> h3:\n" + out)
        lines = self.ctl("conntrack", "-L")
        self.assertRegex(lines, r"tcp +6 \d+ \w+ src=10\.88\.0\.1 dst=10\.88\.0\.3 sport=\d+ "
                         r"dport=%d src=10\.88\.0\.3 dst=10\.88\.0\.1 .*\[ASSURED\]" % TCP_PORT)
        self.assertRegex(lines, r"icmp +1 \d+ src=10\.88\.0\.1 dst=10\.88\.0\.2 type=8 ")
        hooks = self.ctl("hooks", "-f", "bridge")
        self.assertRegex(hooks, r"bridge PRE_ROUTING\n +-200 → nf_ct_bridge_pre")
        self.assertRegex(hooks, r"bridge FORWARD\n +-200 → nft filter forward")
        self.assertRegex(hooks, r"bridge POST_ROUTING\n +2147483647 → nf_ct_bridge_post")
        c = self.counters()
        self.assertGreater(c["drop_hook"], 0)

    def test_4_routed_bridge_interface(self):
        # br0.10: the bridge's interface in VLAN 10, the hosts' gateway to wan's hw.
        self._start(interfaces=[{"vlan": 10, "address": "10.88.0.254/24"}],
                    ruleset=ROUTED_FIREWALL)
        for h in ("h1", "h3"):
            ns(NS[h], "ip", "route", "add", "default", "via", ADDR["br0.10"])
        ns(NS["hw"], "ip", "route", "add", "10.88.0.0/24", "via", "10.89.0.1")
        for src, dst in (("h1", "br0.10"), ("h1", "hw"), ("hw", "h3")):
            n, out = self.ping(src, dst)
            self.assertGreaterEqual(n, 3, "%s -> %s:\n%s\nfdb:\n%s\ncounters: %s" % (
                src, dst, out, self.fdb()[1], self.counters()))
        # br0.10's own echo replies to the trunk meet the bridge's output chain and are dropped
        # there (Linux's br_dev_xmit runs NF_BR_LOCAL_OUT); h3's ARP with br0.10 is not.
        n, out = self.ping("h3", "br0.10", count=2)
        self.assertEqual(n, 0, "h3 had br0.10's echo replies:\n" + out)
        listing = self.ctl("ruleset", "list")
        self.assertRegex(listing, r'oifname "p2" icmp type echo-reply counter packets [1-9]')
        self.tcp_transfer("hw", "h3")  # routed into the bridge, tagged on the trunk
        self.tcp_transfer("h1", "hw")  # and out of it
        # VLAN 20 shares the subnet but has no interface: nothing answers it.
        n, out = self.ping("h4", "br0.10", count=2)
        self.assertEqual(n, 0, "h4 (VLAN 20) reached br0.10:\n" + out)
        c = self.counters()
        self.assertGreater(c["bridge_up"], 1000)  # the transfer from h1, up to br0.10
        stats = self.ctl("stats")
        self.assertRegex(stats, r"br0\.10 +10\.88\.0\.254/24")
        # Tracked once: the routed flows' entries, none doubled by the bridge's conntrack.
        lines = self.ctl("conntrack", "-L")
        self.assertEqual(len(re.findall(r"src=10\.89\.0\.2 dst=10\.88\.0\.3 sport=\d+ dport=%d "
                                        % TCP_PORT, lines)), 1, lines)
        self.assertRegex(lines, r"src=10\.88\.0\.1 dst=10\.89\.0\.2 sport=\d+ dport=%d .*"
                         r"\[ASSURED\]" % TCP_PORT)


# test_4's: a bridge table that tracks (so the bridge's conntrack runs), drops br0.10's echo
# replies to the trunk at output, and an inet table that lets in only what is established or
# from VLAN 10.
ROUTED_FIREWALL = """table bridge filter {
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		ct state invalid counter
	}
	chain output {
		type filter hook output priority filter; policy accept;
		oifname "p2" icmp type echo-reply counter drop
	}
}
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "br0.10" accept
		iifname "wan" ip daddr 10.88.0.3 accept
	}
}
"""

# The firewall of test_3 (docs/design/bridge.md shows it too).
FIREWALL = """table bridge filter {
	chain forward {
		type filter hook forward priority filter; policy accept;
		meta protocol arp accept
		ct state established,related accept
		oifname "p0" ct state new drop
		ct state invalid drop
	}
}
"""


if __name__ == "__main__":
    unittest.main()
