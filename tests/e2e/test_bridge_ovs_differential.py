#!/usr/bin/python3
"""Differential test: VLAN switching, ctgate's bridge against Open vSwitch's NORMAL action.

This kernel has no `vlan_filtering`, so it cannot be the reference for VLANs; issue 15 names OVS
in userspace instead. Both switches get the same four ports, each one end of a veth whose other
end the test holds:

    p0  access, VLAN 10        ctgate: a bridge on net_af_packet ports (pvid 10 / 10 / 0 with
    p1  access, VLAN 10                vlans [10, 20] / 20)
    p2  trunk, VLANs 10 and 20  OVS:   a userspace bridge (datapath_type=netdev) with
        (no native VLAN)               tag=10 / tag=10 / trunks=10,20 / tag=20 and its default
    p3  access, VLAN 20                NORMAL flow

Each step sends one frame (EtherType 0x88b5 with a marker) into one port of each switch and
collects, for a bounded time, where it came out and with which tag (read from the frame or
from PACKET_AUXDATA, where the kernel puts a received tag). The steps build up the MAC tables
as they go: flooding in the VLAN, learned destinations, tags pushed and popped, VLANs not
carried, untagged frames on a trunk with no native VLAN, priority tags, a MAC that moves.

One step differs on purpose: a frame tagged with an access port's own VLAN. Linux's bridge
(`br_allowed_ingress`) takes it, as the VLAN is the port's; OVS drops any frame with a nonzero
VID on an access port (ovs-vswitchd.conf.db, vlan_mode access). ctgate follows Linux
(docs/design/bridge.md); the test checks that each switch does what its documentation says.

Run (root):  python3 tests/e2e/test_bridge_ovs_differential.py [-v]
"""

import os
import select
import shutil
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ctgate_test as ct  # noqa: E402
from vlan_relay import open_raw, read_frames, tag_of  # noqa: E402

PID = os.getpid()
TAG = PID % 10000
# Per switch ("g" ctgate, "o" OVS) and port: the switch's end and the test's end.
SWITCH_IF = {s: ["cv%s%d_%d" % (s, i, TAG) for i in range(4)] for s in "go"}
TEST_IF = {s: ["cv%st%d_%d" % (s, i, TAG) for i in range(4)] for s in "go"}
OVS_BRIDGE = "cvbr%d" % TAG
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
WAIT_S = 0.5  # how long a step collects what its frame caused

BCAST = "ff:ff:ff:ff:ff:ff"
A, B, C10, C20, D, E = ("02:00:00:66:00:%02x" % i for i in (1, 2, 3, 4, 5, 6))
NOBODY = "02:00:00:66:00:99"

# (input port, tag on the wire: None untagged, 0 priority-tagged, else the VID; source,
#  destination, what it shows, the expected ports and tags out: {port: tag or None}).
STEPS = [
    (0, None, A, BCAST, "broadcast floods VLAN 10, tagged on the trunk", {1: None, 2: 10}),
    (2, 20, C20, BCAST, "tagged 20 on the trunk: to VLAN 20's access port", {3: None}),
    (2, 10, C10, A, "to a learned MAC: there alone, untagged", {0: None}),
    (1, None, B, C10, "to a MAC learned behind the trunk: tagged", {2: 10}),
    (0, None, A, NOBODY, "unknown unicast floods its VLAN", {1: None, 2: 10}),
    (3, None, D, A, "A is unknown in VLAN 20: flooded there", {2: 20}),
    (2, 30, C10, BCAST, "a VLAN the trunk does not carry: dropped", {}),
    (2, None, C10, BCAST, "untagged on a trunk without a native VLAN: dropped", {}),
    (0, 20, A, BCAST, "another VLAN's tag on an access port: dropped", {}),
    (0, 0, A, BCAST, "priority-tagged: the access VLAN's", {1: None, 2: 10}),
    (1, None, A, BCAST, "A moves to p1", {0: None, 2: 10}),
    (2, 10, C10, A, "and is found there", {1: None}),
]
# The step where the two differ by design: (ctgate's = Linux's, OVS's).
OWN_TAG_ON_ACCESS = (0, 10, E, BCAST, "its own VLAN's tag on an access port")
OWN_TAG_EXPECTED = {"g": {1: None, 2: 10}, "o": {}}


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def make_frame(tag, src, dst, marker):
    f = mac_bytes(dst) + mac_bytes(src)
    if tag is not None:
        f += struct.pack("!HH", 0x8100, tag)
    f += b"\x88\xb5" + marker
    return f + bytes(max(0, 60 - len(f)))


def skip_reason():
    if not ct.is_root():
        return "needs root (veths, DPDK, Open vSwitch)"
    r = ct.missing_binary_reason()
    if r:
        return r
    for tool in ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"):
        if shutil.which(tool) is None:
            return "%s not installed (Debian's openvswitch-switch)" % tool
    if not os.path.exists(SCHEMA):
        return "no %s" % SCHEMA
    return None


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class BridgeOvsDifferential(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = ct.TempDir("brovs")
        self.prefix = ct.file_prefix("brovs")
        self.daemon = None
        self.procs = []
        self.socks = {}
        self.addCleanup(self._cleanup)
        for s in "go":
            for i in range(4):
                ct.sh("ip", "link", "add", SWITCH_IF[s][i], "type", "veth", "peer", "name",
                      TEST_IF[s][i])
                for name in (SWITCH_IF[s][i], TEST_IF[s][i]):
                    ct.sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % name,
                          check=False)
                    ct.sh("ip", "link", "set", name, "up")
        self._start_ctgate()
        self._start_ovs()
        for s in "go":
            for i in range(4):
                self.socks[(s, i)] = open_raw(TEST_IF[s][i], auxdata=True)

    def _start_ctgate(self):
        cfg = ct.make_config(
            self.prefix,
            ports=[{"name": "p%d" % i, "devargs": "net_af_packet%d,iface=%s,qpairs=1" %
                    (i, SWITCH_IF["g"][i])} for i in range(4)],
            no_huge=not os.environ.get("CTGATE_TEST_HUGE"))
        cfg["bridges"] = [{
            "name": "br0",
            "ports": [{"port": "p0", "pvid": 10}, {"port": "p1", "pvid": 10},
                      {"port": "p2", "pvid": 0, "vlans": [10, 20]},
                      {"port": "p3", "pvid": 20}]}]
        path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        self.daemon = ct.Daemon(path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                run_seconds=90)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=20):
            self.fail("ctgate did not start:\n" + self.daemon.log()[-3000:])

    def vsctl(self, *args):
        return ct.sh("ovs-vsctl", "--db=unix:" + self.ovs_db, "--timeout=20", *args,
                     timeout=30)

    def _start_ovs(self):
        """A private ovsdb-server and ovs-vswitchd (their own files under the test's temporary
        directory), children of this test, stopped by PID at the end."""
        d = self.tmp.file("ovs")
        os.makedirs(d)
        env = dict(os.environ, OVS_RUNDIR=d, OVS_DBDIR=d, OVS_LOGDIR=d, OVS_SYSCONFDIR=d)
        self.ovs_db = os.path.join(d, "db.sock")
        ct.sh("ovsdb-tool", "create", os.path.join(d, "conf.db"), SCHEMA)
        for argv in (["ovsdb-server", os.path.join(d, "conf.db"),
                      "--remote=punix:" + self.ovs_db, "--unixctl=" + os.path.join(d, "db.ctl"),
                      "--log-file=" + os.path.join(d, "ovsdb.log")],
                     ["ovs-vswitchd", "unix:" + self.ovs_db,
                      "--unixctl=" + os.path.join(d, "vswitchd.ctl"),
                      "--log-file=" + os.path.join(d, "vswitchd.log")]):
            log = open(os.path.join(d, argv[0] + ".out"), "w")
            self.procs.append(subprocess.Popen(argv, env=env, stdout=log,
                                               stderr=subprocess.STDOUT))
            log.close()
            if argv[0] == "ovsdb-server":
                for _ in range(100):
                    if os.path.exists(self.ovs_db):
                        break
                    time.sleep(0.1)
                self.vsctl("--no-wait", "init")
        self.vsctl("add-br", OVS_BRIDGE, "--", "set", "bridge", OVS_BRIDGE,
                   "datapath_type=netdev")
        for i, spec in enumerate(("tag=10", "tag=10", "trunks=10,20", "tag=20")):
            self.vsctl("add-port", OVS_BRIDGE, SWITCH_IF["o"][i], "--", "set", "port",
                       SWITCH_IF["o"][i], spec)
        # Ready when every port has an OpenFlow number.
        for _ in range(100):
            out = self.vsctl("--bare", "--columns=ofport", "list", "interface").stdout.decode()
            nums = [int(x) for x in out.split() if x.lstrip("-").isdigit()]
            if len([n for n in nums if n > 0]) >= 4:
                break
            time.sleep(0.1)
        else:
            self.fail("OVS ports did not come up:\n" + self._ovs_log())

    def _ovs_log(self):
        try:
            with open(os.path.join(self.tmp.file("ovs"), "vswitchd.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return "(no log)"

    def _cleanup(self):
        for sk in self.socks.values():
            sk.close()
        for p in reversed(self.procs):
            ct.stop_pid(p)
        if self.daemon is not None:
            self.daemon.stop(grace=10)
        ct.cleanup_prefix(self.prefix)
        ct.remove_netns([], [n for s in "go" for n in SWITCH_IF[s]] + [OVS_BRIDGE])
        self.tmp.cleanup()

    def _drain(self):
        for sk in self.socks.values():
            for _ in range(1000):
                try:
                    sk.recv(65536)
                except BlockingIOError:
                    break

    def _step(self, switch, port, tag, src, dst, marker):
        """Where the frame came out of `switch`: {port: tag or None}."""
        self.socks[(switch, port)].send(make_frame(tag, src, dst, marker))
        seen = {}
        socks = {self.socks[(switch, i)]: i for i in range(4)}
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select(list(socks), [], [], left)
            for sk in readable:
                for data, anc in read_frames(sk):  # bounded per wakeup
                    vid, frame = tag_of(data, anc)
                    if marker in frame:
                        self.assertNotIn(socks[sk], seen, "two copies out of one port")
                        seen[socks[sk]] = vid
        return seen

    def test_same_ports_and_tags_as_ovs(self):
        self._drain()  # whatever the ports said while coming up
        results = {"g": [], "o": []}
        for n, (port, tag, src, dst, note, _) in enumerate(STEPS):
            for s in "go":
                marker = b"ctgate-vlan-diff-%s-%02d" % (s.encode(), n)
                results[s].append((note, self._step(s, port, tag, src, dst, marker)))
        self.assertEqual(results["g"], results["o"],
                         "ctgate and OVS differ\nOVS log:\n" + self._ovs_log())
        self.assertEqual(results["o"], [(note, want) for *_, note, want in STEPS],
                         "OVS itself did not do what the steps say")
        # The designed difference, each switch as documented.
        port, tag, src, dst, note = OWN_TAG_ON_ACCESS
        for s in "go":
            got = self._step(s, port, tag, src, dst, b"ctgate-vlan-diff-%s-own" % s.encode())
            self.assertEqual(got, OWN_TAG_EXPECTED[s], "%s: %s" % (s, note))


if __name__ == "__main__":
    unittest.main()
