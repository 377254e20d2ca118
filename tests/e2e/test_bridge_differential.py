#!/usr/bin/python3
"""Differential test: a stateful firewall on a bridge, ctgate's against the Linux kernel's.

The same frames cross two bridges, each between two hosts:

  kernel:  netns KA eth0 <-veth-> kr0 [netns KR: br0, br_netfilter, an inet table with
                                  kr1  ct state]                           <-veth-> eth0 KB
  ctgate:  netns GA eth0 <-veth-> p0 [ctgate bridge br0 on net_af_packet ports, a bridge
                                  p1  table with ct state (nf_conntrack_bridge's model)] <-> GB

This kernel has no nf_conntrack_bridge, so the reference for stateful bridging is what it
has: br_netfilter (bridge-nf-call-iptables), which passes bridged IPv4 through the inet hooks
and conntrack. The rule bodies are the same text; only the table's family differs.

Frames are crafted with scapy and sent from one host's AF_PACKET socket (the packet helper of
test_conntrack_differential.py); the other host waits, bounded, for the frame with that IP id:
forwarded or not is the verdict. The hosts drop their own IPv4 input, so their kernels never
answer. After the sequence, both conntrack tables are compared line by line, without the
timeout column (tuples, states, [UNREPLIED]/[ASSURED] and mark are significant).

Run (root):  python3 tests/e2e/test_bridge_differential.py [-v]
"""

import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctgate_test as ct  # noqa: E402

ct.reexec_with_system_python("scapy")

import logging  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw  # noqa: E402

import test_conntrack_differential as cd  # noqa: E402

PID = os.getpid()
TAG = PID % 10000
NS = {k: "ctbd-%s-%d" % (k, PID) for k in ("kr", "ka", "kb", "ga", "gb")}
CTGATE_IF = ["cbd%d_%d" % (i, TAG) for i in range(2)]
A, B = "10.77.0.1", "10.77.0.2"
MAC_A, MAC_B = "02:00:00:77:00:01", "02:00:00:77:00:02"
WAIT_MS = 1500

# The chain body both firewalls run: A's side may open anything, B's side nothing.
RULES = """\t\tct state established,related accept
\t\tct state invalid drop
\t\tip saddr %s accept
""" % A
KERNEL_RULESET = """table inet fw {
\tchain forward {
\t\ttype filter hook forward priority filter; policy drop;
%s\t}
}
""" % RULES
CTGATE_RULESET = KERNEL_RULESET.replace("table inet fw", "table bridge fw")

sh, ns = cd.sh, cd.ns


def skip_reason():
    if not ct.is_root():
        return "needs root (network namespaces, veths, nft, conntrack, DPDK)"
    r = ct.missing_binary_reason()
    if r:
        return r
    for tool in ("ip", "nft", "conntrack", "sysctl"):
        if shutil.which(tool) is None:
            return "%s not installed (the kernel oracle needs it)" % tool
    if not os.path.isdir("/proc/sys/net/bridge"):
        return "no br_netfilter in this kernel"
    return None


def frame(side, l4, ipid):
    """A frame from `side` ("a" or "b") to the other host, IP id `ipid`."""
    src, dst, smac, dmac = (A, B, MAC_A, MAC_B) if side == "a" else (B, A, MAC_B, MAC_A)
    return bytes(Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, id=ipid) / l4)


def tcp(sport, dport, flags, seq, ack=0):
    return TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240)


# (side, L4, what the step shows). A's TCP handshake and data, UDP and ping both ways; B's
# attempts to open anything towards A; a stray RST (invalid).
STEPS = [
    ("a", tcp(40000, 80, "S", 1000), "A opens TCP"),
    ("b", tcp(80, 40000, "SA", 5000, 1001), "B answers"),
    ("a", tcp(40000, 80, "A", 1001, 5001), "handshake done"),
    ("a", tcp(40000, 80, "PA", 1001, 5001) / Raw(b"x" * 20), "A's data"),
    ("b", tcp(80, 40000, "A", 5001, 1021), "B's ACK"),
    ("b", tcp(41000, 22, "S", 7000), "B opens TCP: dropped"),
    ("a", UDP(sport=5000, dport=53) / Raw(b"q" * 8), "A's UDP"),
    ("b", UDP(sport=53, dport=5000) / Raw(b"r" * 8), "B's answer"),
    ("b", UDP(sport=6000, dport=53) / Raw(b"q" * 8), "B's own UDP: dropped"),
    ("a", ICMP(type=8, id=7, seq=1) / Raw(b"p" * 8), "A pings"),
    ("b", ICMP(type=0, id=7, seq=1) / Raw(b"p" * 8), "B answers the ping"),
    ("b", ICMP(type=8, id=9, seq=1) / Raw(b"p" * 8), "B pings: dropped"),
    ("b", tcp(42000, 443, "R", 1), "a stray RST: dropped"),
]


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class BridgeFirewallDifferential(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = ct.TempDir("brdiff")
        self.prefix = ct.file_prefix("brdiff")
        self.daemon = None
        self.peers = {}
        self.addCleanup(self._cleanup)
        for n in NS.values():
            sh("ip", "netns", "add", n)
            ns(n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
            ns(n, "ip", "link", "set", "lo", "up")
        self._kernel_bridge()
        self._ctgate_bridge()
        peer_ns = {"ka": NS["ka"], "kb": NS["kb"], "ga": NS["ga"], "gb": NS["gb"]}
        self.peers = cd.start_peers(self.tmp, cd.HELPER, cd.Peer, peer_ns)

    def _host(self, n, mac):
        ns(n, "ip", "link", "set", "eth0", "address", mac)
        ns(n, "ip", "link", "set", "eth0", "up")
        # The host's own kernel stays silent: no RST, no ICMP, no reply of its own.
        ns(n, "nft", "add table ip quiet; add chain ip quiet in { type filter hook input "
           "priority 0; policy drop; }")

    def _kernel_bridge(self):
        r = NS["kr"]
        ns(r, "ip", "link", "add", "br0", "type", "bridge")
        for i, far, mac in ((0, "ka", MAC_A), (1, "kb", MAC_B)):
            ns(r, "ip", "link", "add", "kr%d" % i, "type", "veth", "peer", "name", "eth0",
               "netns", NS[far])
            ns(r, "ip", "link", "set", "kr%d" % i, "master", "br0")
            ns(r, "ip", "link", "set", "kr%d" % i, "up")
            self._host(NS[far], mac)
        ns(r, "ip", "link", "set", "br0", "up")
        p = ns(r, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1", check=False)
        if p.returncode != 0:
            self.skipTest("bridge-nf-call-iptables cannot be set in a netns here")
        path = self.tmp.file("kernel.nft")
        with open(path, "w") as f:
            f.write(KERNEL_RULESET)
        ns(r, "nft", "-f", path)
        self.sysctls = cd.prepare_oracle(self, r)

    def _ctgate_bridge(self):
        for i, far, mac in ((0, "ga", MAC_A), (1, "gb", MAC_B)):
            ct.veth_into(NS[far], CTGATE_IF[i])
            self._host(NS[far], mac)
        cfg = ct.make_config(
            self.prefix,
            ports=[{"name": "p%d" % i, "devargs": "net_af_packet%d,iface=%s,qpairs=1" %
                    (i, CTGATE_IF[i])} for i in range(2)],
            no_huge=not os.environ.get("CTGATE_TEST_HUGE"))
        cfg["bridges"] = [{"name": "br0", "ports": [{"port": "p0"}, {"port": "p1"}]}]
        cfg["ruleset"] = self.tmp.file("ctgate.nft")
        with open(cfg["ruleset"], "w") as f:
            f.write(CTGATE_RULESET)
        path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        self.daemon = ct.Daemon(path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                run_seconds=90)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=20):
            self.fail("ctgate did not start:\n" + self.daemon.log()[-3000:])

    def _cleanup(self):
        for p in self.peers.values():
            p.close()
        if self.daemon is not None:
            self.daemon.stop(grace=10)
        ct.cleanup_prefix(self.prefix)
        ct.remove_netns(NS.values(), CTGATE_IF)
        self.tmp.cleanup()

    def _through(self, prefix, side, data, ipid):
        """Whether the frame from `side` arrived at the other host of bridge `prefix`."""
        sender = self.peers[prefix + side]
        receiver = self.peers[prefix + ("b" if side == "a" else "a")]
        sender.send(data)
        return receiver.wait_for(ipid, WAIT_MS) is not None

    def test_same_verdicts_and_connections(self):
        verdicts = {"k": [], "g": []}
        for i, (side, l4, note) in enumerate(STEPS):
            ipid = 0x4200 + i
            data = frame(side, l4, ipid)
            for prefix in ("k", "g"):
                verdicts[prefix].append((note, self._through(prefix, side, data, ipid)))
        self.assertEqual(verdicts["g"], verdicts["k"])
        self.assertEqual([v for _, v in verdicts["k"]],
                         [not note.endswith("dropped") for _, _, note in STEPS],
                         "the kernel itself did not do what the steps say")
        # Only the steps' flows: the hosts' own IGMP reports reach the kernel bridge's local
        # input, which confirms them, and ctgate's bridge here has no interface to take them.
        kernel = sorted(cd.ct_key(line)[0] for line in cd.kernel_conntrack(NS["kr"])
                        if "src=10.77.0." in line)
        ours = sorted(cd.ct_key(line)[0]
                      for line in ct.ctl_or_fail(self, self.prefix, self.daemon, "conntrack",
                                                 "-L").splitlines() if "src=10.77.0." in line)
        self.assertEqual(ours, kernel)
        self.assertEqual(len(kernel), 3)  # the TCP connection, the UDP flow, the ping


if __name__ == "__main__":
    unittest.main()
