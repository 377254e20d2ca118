#!/usr/bin/python3
"""Functional test of switching (issue 15) on four net_pcap ports: learning, flooding, and
VLAN tags pushed and popped on egress, checked frame by frame on every output.

    p0 access VLAN 10   p1 access VLAN 10   p2 trunk (VLANs 10, 20; no native)   p3 access 20

The worker polls p0, p1, p2, p3 in that order, one burst each per loop, and every input has
fewer frames than a burst: p0's frames are all switched before p1's, and so on. So what is
learned when is fixed, and each output is exactly known.

Run:  python3 tests/functional/test_pcap_bridge.py [-v]
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ctgate_test as ct  # noqa: E402

ct.reexec_with_system_python("scapy")

import logging  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ARP, IP, UDP, Dot1Q, Ether, Raw  # noqa: E402

A, B, C, D, E, F, G, X = ("02:00:00:00:0c:%02x" % i for i in range(1, 9))
BCAST = "ff:ff:ff:ff:ff:ff"
STP = "01:80:c2:00:00:00"


def ip_payload(tag):
    """An IPv4/UDP datagram whose payload names the frame."""
    return IP(src="10.50.0.1", dst="10.50.0.2") / UDP(sport=1000, dport=2000) / Raw(
        tag.encode().ljust(32, b"."))


def frame(dst, src, vid, tag):
    """The frame `tag` from src to dst, untagged (vid 0) or tagged `vid`."""
    if vid:
        return bytes(Ether(dst=dst, src=src) / Dot1Q(vlan=vid) / ip_payload(tag))
    return bytes(Ether(dst=dst, src=src) / ip_payload(tag))


ARP_A = Ether(dst=BCAST, src=A) / ARP(hwsrc=A, psrc="10.50.0.1", pdst="10.50.0.9")
INPUT = {
    0: [bytes(ARP_A),                                    # learned: A on p0 (VLAN 10)
        frame(X, A, 0, "a-to-unknown"),                  # unknown: flooded in VLAN 10
        bytes(Ether(dst=STP, src=A) / Raw(b"\0" * 46))],  # STP: never forwarded
    1: [frame(A, B, 0, "b-to-a")],                       # known: to p0 alone
    2: [frame(A, C, 10, "c-to-a"),                       # from the trunk, untagged to p0
        frame(BCAST, D, 20, "d-bcast-20"),               # VLAN 20: p3 alone
        frame(BCAST, E, 30, "e-vlan-30"),                # not carried: dropped
        frame(BCAST, F, 0, "f-untagged"),                # the trunk has no native VLAN
        frame(B, C, 10, "c-to-b")],                      # to p1 alone
    3: [frame(A, G, 0, "g-to-a-in-20")],                 # A is in VLAN 10: flooded in 20
}
EXPECTED = {
    0: [frame(A, B, 0, "b-to-a"), frame(A, C, 0, "c-to-a")],
    1: [bytes(ARP_A), frame(X, A, 0, "a-to-unknown"), frame(B, C, 0, "c-to-b")],
    2: [bytes(Ether(dst=BCAST, src=A) / Dot1Q(vlan=10) / ARP_A.payload),
        frame(X, A, 10, "a-to-unknown"), frame(A, G, 20, "g-to-a-in-20")],
    3: [frame(BCAST, D, 0, "d-bcast-20")],
}


@unittest.skipIf(ct.missing_binary_reason() is not None, ct.missing_binary_reason() or "")
@unittest.skipIf(not ct.is_root(), "DPDK needs root (runtime dir /var/run/dpdk)")
class PcapBridgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tmp = ct.TempDir("pcapbr")
        prefix = ct.file_prefix("pcapbr")
        try:
            ports = []
            for p in range(4):
                ct.write_pcap(tmp.file("in%d.pcap" % p), INPUT[p])
                ports.append({"name": "p%d" % p, "devargs": "net_pcap%d,rx_pcap=%s,tx_pcap=%s" % (
                    p, tmp.file("in%d.pcap" % p), tmp.file("out%d.pcap" % p))})
            cfg = ct.make_config(prefix, ports=ports,
                                 no_huge=not os.environ.get("CTGATE_TEST_HUGE"))
            cfg["bridges"] = [{"name": "br0", "ports": [
                {"port": "p0", "pvid": 10}, {"port": "p1", "pvid": 10},
                {"port": "p2", "pvid": 0, "vlans": [10, 20]}, {"port": "p3", "pvid": 20}]}]
            ct.write_config(tmp.file("ctgate.yaml"), cfg)
            cls.result = ct.run_ctgate(tmp.file("ctgate.yaml"), tmp.file("ctgate.log"), 60,
                                       prefix=prefix, run_seconds=30, exit_idle_ms=1500)
            cls.out = {p: ct.read_pcap(tmp.file("out%d.pcap" % p)) for p in range(4)}
        finally:
            ct.cleanup_prefix(prefix)
            tmp.cleanup()

    def test_clean_run(self):
        self.assertEqual(self.result.rc, 0, self.result.describe())
        self.assertFalse(self.result.timed_out, self.result.describe())

    def test_each_port_sent_exactly_the_expected_frames(self):
        for p in range(4):
            self.assertEqual([f.hex() for f in self.out[p]], [f.hex() for f in EXPECTED[p]],
                             "port p%d" % p)

    def test_counters(self):
        s = self.result.stats
        self.assertIsNotNone(s, self.result.describe())
        self.assertEqual(s["bridged"], 3, s)        # b-to-a, c-to-a, c-to-b
        self.assertEqual(s["bridge_flooded"], 4, s)  # the ARP, a-to-unknown, d, g
        self.assertEqual(s["fdb_learned"], 5, s)     # A, B, C in VLAN 10; D, G in 20
        self.assertEqual(s["tx"], 9, s)


if __name__ == "__main__":
    unittest.main()
