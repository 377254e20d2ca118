#!/usr/bin/python3
"""End-to-end test: dual-stack (IPv4 and IPv6) kernel traffic through ctgate on
net_af_packet ports.

    netns ctg6-c-<pid>                                     netns ctg6-s-<pid>
    eth0 10.79.1.2/24      <-veth-> ctg6l<n> [ctgate] ctg6w<n> <-veth-> eth0 10.79.2.2/24
         2001:db8:1::2/64            lan             wan                2001:db8:2::2/64
                           10.79.1.1/24, 2001:db8:1::1/64
                                    10.79.2.1/24, 2001:db8:2::1/64

The topology of test_netns_forward.py with its own names and subnets (so both can run at
once), plus IPv6: each ctgate port has `address6` and a fixed `mac`, from which the gateway's
EUI-64 link-local address is computed (fe80::/64, as Linux's addrgenmode eui64). The
namespaces use ctgate as their default gateway for both families. Their IPv6 addresses are
added with `nodad`, DAD is off for the link-local addresses and accept_ra is 0.

- Ping (IPv6) the gateway's global and link-local addresses and the server through the
  gateway; IPv4 still reaches the server.
- A route of the config (`2001:db8:99::/48 via 2001:db8:2::2`) reaches an address on the
  server's loopback.
- 10 MB of kernel TCP over IPv6 with nc, sha256 compared at the server.
- `tracepath -6`: hop 1 is the gateway (ICMPv6 time exceeded), then the server is reached.
- The wan port at MTU 1400: a 1500-byte DF ping gets "packet too big, mtu=1400" from the
  gateway (never fragmented); the client's kernel learns the path MTU, and 1 MB of TCP
  completes.
- After traffic, `ctgatectl stats` (only shown in failure messages) and a clean exit on
  SIGINT.

Namespaces and veths are removed in tearDown, also on failure.

Run (root):  python3 tests/e2e/test_ipv6_netns.py [-v]
"""

import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ctgate_test as ct  # noqa: E402

PID = os.getpid()
NS_C = "ctg6-c-%d" % PID
NS_S = "ctg6-s-%d" % PID
IF_L = "ctg6l%d" % (PID % 10000)      # host ends, <= 15 chars
IF_W = "ctg6w%d" % (PID % 10000)
CLIENT, GW_L, SERVER, GW_W = "10.79.1.2", "10.79.1.1", "10.79.2.2", "10.79.2.1"
CLIENT6, GW6_L, SERVER6, GW6_W = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::2", "2001:db8:2::1"
ROUTED_PREFIX6, ROUTED6 = "2001:db8:99::/48", "2001:db8:99::1"  # on the server's lo
MAC_L, MAC_W = "02:c6:00:79:01:01", "02:c6:00:79:02:01"
TCP_PORT = 5002
DATA_BYTES = 10 * 1024 * 1024 + 4321
PMTU_DATA_BYTES = 1024 * 1024 + 77
WAN_MTU_SMALL = 1400
PTB_PING_SIZE = 1452          # + 8 (ICMPv6) + 40 (IPv6) = 1500 bytes on the wire
CMD_TIMEOUT = 60

sh, ns, stop_pid = ct.sh, ct.ns, ct.stop_pid


def link_local(mac):
    """The EUI-64 link-local address of `mac` (RFC 4291 appendix A): fe80::/64 with the
    MAC's universal/local bit flipped and ff:fe inserted in the middle."""
    b = bytes(int(x, 16) for x in mac.split(":"))
    iid = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:6]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))


LL_L = link_local(MAC_L)  # fe80::c6:ff:fe79:101


def nc_has_ipv6():
    """True if the installed nc takes -6 (netcat-openbsd; netcat-traditional does not)."""
    try:
        p = subprocess.run(["nc", "-h"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "-46" in p.stdout.decode(errors="replace")


def skip_reason():
    if not ct.is_root():
        return "needs root (network namespaces, veths, DPDK)"
    r = ct.missing_binary_reason()
    if r:
        return r
    if not os.path.isdir("/proc/sys/net/ipv6"):
        return "the kernel has no IPv6"
    for tool in ("ip", "ethtool", "nc", "ping", "ss", "timeout"):
        if shutil.which(tool) is None:
            return "%s not installed" % tool
    if not nc_has_ipv6():
        return "nc does not take -6 (install netcat-openbsd)"
    return None


class _Ipv6NetnsBase(unittest.TestCase):
    """Topology in setUp, ctgate started by each test (`_start_ctgate`), everything removed
    in the cleanup. No tests of its own."""

    WAN_MTU = None  # ctgate's wan `mtu:`; None: the default (1500)
    CONNTRACK = {"enable_hooks": True, "max": 65536}  # the config's `conntrack:`

    def setUp(self):
        self.tmp = ct.TempDir("e2e6")
        self.prefix = ct.file_prefix("e2e6")
        self.daemon = None
        self.procs = []
        self.addCleanup(self._cleanup)
        self._make_topology()

    # ------------------------------------------------------------------ topology

    def _make_topology(self):
        for n in (NS_C, NS_S):
            sh("ip", "netns", "add", n)
            # Set before eth0 is made, which inherits `default`: no DAD (the link-local
            # address is usable at once), no router advertisements, no solicitations.
            for conf in ("all", "default"):
                for k, v in (("disable_ipv6", 0), ("accept_ra", 0), ("accept_dad", 0),
                             ("router_solicitations", 0)):
                    ns(n, "sysctl", "-qw", "net.ipv6.conf.%s.%s=%d" % (conf, k, v))
        for host_if, mac, n, addr, gw, addr6, gw6 in (
                (IF_L, MAC_L, NS_C, CLIENT, GW_L, CLIENT6, GW6_L),
                (IF_W, MAC_W, NS_S, SERVER, GW_W, SERVER6, GW6_W)):
            # The host end gets the ctgate port's MAC too, so it is the same whether or
            # not af_packet applies `mac:` to the interface.
            ct.veth_into(n, host_if, mac)
            ns(n, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=0")
            ns(n, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0")
            ns(n, "ip", "link", "set", "lo", "up")
            ns(n, "ip", "addr", "add", addr + "/24", "dev", "eth0")
            ns(n, "ip", "-6", "addr", "add", addr6 + "/64", "dev", "eth0", "nodad")
            ns(n, "ip", "link", "set", "eth0", "up")
            ns(n, "ip", "route", "add", "default", "via", gw)
            ns(n, "ip", "-6", "route", "add", "default", "via", gw6)
            # af_packet never fills in partial checksums: TX offload off in the netns.
            ns(n, "ethtool", "-K", "eth0", "tx", "off")
        ns(NS_S, "ip", "-6", "addr", "add", ROUTED6 + "/128", "dev", "lo")
        # Bounded: every address usable (none tentative), a link-local one on each eth0.
        deadline = time.monotonic() + 10
        for _ in range(100):
            pending = [n for n in (NS_C, NS_S) if self._addresses_pending(n)]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if pending:
            self.fail("IPv6 addresses not ready in %s:\n%s" % (
                ", ".join(pending),
                "\n".join(ns(n, "ip", "-6", "addr", "show", "dev", "eth0",
                             check=False).stdout.decode(errors="replace") for n in pending)))

    @staticmethod
    def _addresses_pending(n):
        out = ns(n, "ip", "-6", "addr", "show", "dev", "eth0",
                 check=False).stdout.decode(errors="replace")
        return "tentative" in out or "scope link" not in out

    def _cleanup(self):
        for p in self.procs:
            stop_pid(p)
        if self.daemon is not None:  # also closes the log of one that exited by itself
            self.daemon.stop(grace=10)
        ct.cleanup_prefix(self.prefix)
        ct.remove_netns((NS_C, NS_S), (IF_L, IF_W))
        self.tmp.cleanup()

    # ------------------------------------------------------------------ daemon

    def _start_ctgate(self):
        wan = {"name": "wan", "devargs": "net_af_packet1,iface=%s,qpairs=1" % IF_W,
               "address": GW_W + "/24", "address6": GW6_W + "/64", "mac": MAC_W}
        if self.WAN_MTU is not None:
            wan["mtu"] = self.WAN_MTU
        cfg = ct.make_config(
            self.prefix,
            ports=[{"name": "lan", "devargs": "net_af_packet0,iface=%s,qpairs=1" % IF_L,
                    "address": GW_L + "/24", "address6": GW6_L + "/64", "mac": MAC_L},
                   wan],
            routes=[{"prefix": ROUTED_PREFIX6, "via": SERVER6}],
            conntrack=dict(self.CONNTRACK),
            # IPv6's fib takes 64 MiB more (route6_table.h), and a live route change builds
            # the next one beside it.
            memory_mb=512,
            no_huge=not os.environ.get("CTGATE_TEST_HUGE"))
        self.cfg_path = ct.write_config(self.tmp.file("ctgate.yaml"), cfg)
        self.daemon = ct.Daemon(self.cfg_path, self.tmp.file("ctgate.log"), prefix=self.prefix,
                                run_seconds=150)
        if not self.daemon.wait_for_log(r"ctgate running", timeout=20):
            with open(self.cfg_path) as f:
                config = f.read()
            self.fail("ctgate did not start:\n%s\n--- config ---\n%s" % (
                self.daemon.log()[-3000:], config))

    def stats(self):
        """`ctgatectl stats`, or why it failed: for failure messages only, never checked."""
        try:
            p = ct.run_ctl(self.prefix, "stats", timeout=30)
        except subprocess.TimeoutExpired:
            return "ctgatectl stats: timed out"
        text = p.stdout.decode(errors="replace")
        if p.returncode != 0:
            text += "ctgatectl stats: exit %d: %s" % (p.returncode,
                                                     p.stderr.decode(errors="replace"))
        return text

    def _assert_clean_exit(self, context=""):
        """SIGINT, then exit code 0, `ctgate stopped` and final stats that forwarded."""
        rc = self.daemon.stop(grace=20)
        log = self.daemon.log()
        self.assertEqual(rc, 0, "ctgate exit after SIGINT:\n%s%s" % (log[-3000:], context))
        self.assertIn("ctgate stopped", log, context)
        final = ct.parse_final_stats(log)
        self.assertIsNotNone(final, log[-3000:] + context)
        self.assertGreater(final.get("forwarded", 0), 0, log[-3000:] + context)
        return final

    # ------------------------------------------------------------------ traffic

    def _ping(self, dst, *extra, count=3, family="-6"):
        """(received, output) of `ping -6 -c 3 -W 2 DST` from the client."""
        p = ns(NS_C, "ping", family, "-n", "-c", str(count), "-W", "2", *extra, dst,
               check=False, timeout=30)
        out = p.stdout.decode(errors="replace")
        m = re.search(r"(\d+) received", out)
        return (int(m.group(1)) if m else 0), out, p.returncode

    def _wait_listening(self, port):
        for _ in range(50):
            ss = ns(NS_S, "ss", "-Htln", "sport", "= :%d" % port, check=False)
            if str(port) in ss.stdout.decode(errors="replace"):
                return True
            time.sleep(0.1)
        return False

    def _tcp_transfer(self, size, dst=SERVER6):
        """Sends `size` random bytes from the client to nc on the server over IPv6.
        (sha256 sent, sha256 received, bytes received, client, server)."""
        src = self.tmp.file("in.bin")
        out_path = self.tmp.file("out.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(size))
        with open(out_path, "wb") as out, open(self.tmp.file("nc-server.err"), "wb") as err:
            # -d: the server never reads stdin, so it exits when the client closes.
            server = subprocess.Popen(
                ["ip", "netns", "exec", NS_S, "timeout", str(CMD_TIMEOUT), "nc", "-6", "-d",
                 "-l", "-p", str(TCP_PORT)], stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.procs.append(server)
        if not self._wait_listening(TCP_PORT):
            self.fail("nc server did not listen")
        with open(src, "rb") as inp:
            client = subprocess.run(
                ["ip", "netns", "exec", NS_C, "timeout", str(CMD_TIMEOUT), "nc", "-6", "-q",
                 "1", "-w", "10", dst, str(TCP_PORT)], stdin=inp, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=CMD_TIMEOUT + 10)
        try:  # not long for a server whose client has already failed
            server.wait(timeout=CMD_TIMEOUT + 10 if client.returncode == 0 else 5)
        except subprocess.TimeoutExpired:
            stop_pid(server)
        with open(src, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        with open(out_path, "rb") as f:
            data = f.read()
        return want, hashlib.sha256(data).hexdigest(), len(data), client, server

    def _load_chain(self, name, table, chain, hook, *rules):
        """Replaces the running ctgate's ruleset (ctgatectl ruleset load) with one inet table
        of one base chain: `hook` is its type-hook-priority-policy line, `rules` its rules."""
        text = "flush ruleset\ntable inet %s {\n  chain %s {\n    %s;\n" % (table, chain, hook)
        text += "".join("    %s\n" % r for r in rules) + "  }\n}\n"
        path = self.tmp.file(name + ".nft")
        with open(path, "w") as f:
            f.write(text)
        load = ct.run_ctl(self.prefix, "ruleset", "load", path, timeout=30)
        self.assertEqual(load.returncode, 0, load.stderr.decode(errors="replace"))

    def _assert_transfer(self, size):
        want, got, n, client, server = self._tcp_transfer(size)
        context = "\nnc client exit %s: %s\nnc server exit %s\n%s" % (
            client.returncode, client.stderr.decode(errors="replace"), server.returncode,
            self.stats())
        self.assertEqual(client.returncode, 0, "nc client" + context)
        self.assertEqual(n, size, "bytes received by the server" + context)
        self.assertEqual(got, want, "sha256 of the transferred data" + context)


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class Ipv6NetnsTest(_Ipv6NetnsBase):
    def test_1_ping6_gateway_link_local_and_server(self):
        self._start_ctgate()
        for what, dst in (("the gateway's global address", GW6_L),
                          ("the gateway's link-local address", LL_L + "%eth0"),
                          ("the server through the gateway", SERVER6)):
            n, out, _ = self._ping(dst)
            self.assertGreaterEqual(n, 2, "ping -6 %s (%s):\n%s\n%s" % (
                what, dst, out, self.stats()))
        n, out, _ = self._ping(SERVER, family="-4")
        self.assertGreaterEqual(n, 2, "IPv4 ping to the server (dual stack):\n%s\n%s" % (
            out, self.stats()))
        neigh = ns(NS_C, "ip", "-6", "neigh", "show", GW6_L, "dev", "eth0",
                   check=False).stdout.decode(errors="replace")
        self.assertIn(MAC_L, neigh.lower(), "the client resolved the gateway by ND:\n" + neigh)

    def test_1b_static_ipv6_route(self):
        self._start_ctgate()
        n, out, _ = self._ping(ROUTED6)
        self.assertGreaterEqual(n, 2, "ping -6 %s, routed %s via %s:\n%s\n%s" % (
            ROUTED6, ROUTED_PREFIX6, SERVER6, out, self.stats()))

    def test_2e_route_changes_during_transfer(self):
        """ctgatectl route add/replace/del on IPv6 while kernel TCP crosses the gateway: a host
        route to the server is added, moved to a next hop and deleted over and over (each a new
        trie swapped in under the workers); the data arrives whole, nothing is dropped for want
        of a route, and the list ends as it began. Then an IPv6 neighbour added and deleted."""
        self._start_ctgate()
        n, out, _ = self._ping(SERVER6)  # neighbours resolved both ways
        self.assertGreaterEqual(n, 2, out)
        before = ct.run_ctl(self.prefix, "route", "-6", timeout=30).stdout.decode()
        self.assertIn("2001:db8:2::/64 dev wan proto kernel\n", before)
        done, churned = threading.Event(), []
        t = threading.Thread(
            target=lambda: churned.append(ct.churn_host_route(self.prefix, SERVER6, done)))
        t.start()
        try:
            want, got, size, client, server = self._tcp_transfer(DATA_BYTES)
        finally:
            done.set()
            t.join(timeout=120)
        changes, errors = churned[0]
        print("IPv6 route changes during the transfer: %d" % len(changes))
        self.assertEqual(errors, [])
        self.assertGreaterEqual(len(changes), 3, "route changes during the transfer")
        self.assertEqual(changes[0], "added %s/128 dev wan" % SERVER6)
        self.assertEqual(changes[1], "replaced %s/128 dev wan with %s/128 via %s dev wan" %
                         (SERVER6, SERVER6, SERVER6))
        self.assertEqual(client.returncode, 0, "nc client: %s" % client.stderr)
        self.assertEqual(got, want, "sha256 of the transferred data")
        stats = json.loads(ct.run_ctl(self.prefix, "stats", "--json", timeout=30).stdout)
        self.assertEqual(stats["drops"].get("no_route", 0), 0, stats["drops"])
        self.assertEqual(ct.run_ctl(self.prefix, "route", "-6", timeout=30).stdout.decode(),
                         before)
        add = ct.run_ctl(self.prefix, "neigh", "add", "2001:db8:2::50", "lladdr",
                         "02:00:00:00:02:50", "dev", "wan", timeout=30)
        self.assertEqual(add.stdout.decode().strip(),
                         "added 2001:db8:2::50 lladdr 02:00:00:00:02:50 dev wan PERMANENT")
        self.assertIn("2001:db8:2::50 dev wan lladdr 02:00:00:00:02:50 PERMANENT\n",
                      ct.run_ctl(self.prefix, "neigh", timeout=30).stdout.decode())
        self.assertEqual(ct.run_ctl(self.prefix, "neigh", "del", "2001:db8:2::50",
                                    timeout=30).stdout.decode().strip(), "deleted 2001:db8:2::50")
        self._assert_clean_exit()

    def test_2_tcp6_10mb(self):
        self._start_ctgate()
        self._assert_transfer(DATA_BYTES)

    def test_2b_stateful_inet_ruleset_tracks_ipv6(self):
        """A stateful inet forward policy: the client's connection passes (10 MB, checked),
        conntrack -L -f ipv6 lists it as conntrack-tools does, and a connection the server
        opens towards the client is refused."""
        self._start_ctgate()
        self._load_chain("stateful", "fw", "fwd",
                         "type filter hook forward priority 0; policy drop",
                         "ct state established,related accept", "ct state invalid drop",
                         'iifname "lan" ct state new accept')
        n, out, _ = self._ping(SERVER6)
        self.assertGreaterEqual(n, 2, "ping -6 through the stateful policy:\n" + out)
        self._assert_transfer(DATA_BYTES)
        listing = ct.run_ctl(self.prefix, "conntrack", "-L", "-f", "ipv6", "-p", "tcp",
                             "--dport", str(TCP_PORT), timeout=30)
        lines = listing.stdout.decode(errors="replace").splitlines()
        self.assertEqual(listing.returncode, 0, listing.stderr.decode(errors="replace"))
        self.assertTrue(lines, "no IPv6 TCP entry:\n" + self.stats())
        e = ct.parse_conntrack_lines(lines[0])[0]
        self.assertEqual((e["orig"]["src"], e["orig"]["dst"]), (CLIENT6, SERVER6), lines[0])
        self.assertIn("ASSURED", e["flags"], lines[0])
        self.assertIn(e["state"], ("TIME_WAIT", "CLOSE", "FIN_WAIT", "LAST_ACK", "CLOSE_WAIT",
                                   "ESTABLISHED"), lines[0])
        # The extended format leads with the family, as conntrack -o extended.
        ext = ct.run_ctl(self.prefix, "conntrack", "-L", "-f", "ipv6", "-o", "extended",
                         timeout=30).stdout.decode(errors="replace").splitlines()
        self.assertTrue(ext and all(l.startswith("ipv6     10 ") for l in ext), ext)
        # The server opening a connection to the client: a new flow from wan, refused.
        p = ns(NS_S, "timeout", "5", "nc", "-6", "-z", "-w", "2", CLIENT6, "22", check=False,
               timeout=15)
        self.assertNotEqual(p.returncode, 0, "a connection from the server passed")

    def test_2d_masquerade_ipv6(self):
        """IPv6 masquerade (an inet table's nat chain): kernel TCP (10 MB, checked) and ping -6
        from the client reach the server from the gateway's wan address, and conntrack -L
        shows the translated reply tuple."""
        self._start_ctgate()
        self._load_chain("masq6", "nat", "post", "type nat hook postrouting priority srcnat",
                         'oifname "wan" masquerade')
        n, out, _ = self._ping(SERVER6)
        self.assertGreaterEqual(n, 2, "ping -6 through masquerade:\n" + out)
        self._assert_transfer(DATA_BYTES)
        listing = ct.run_ctl(self.prefix, "conntrack", "-L", "-f", "ipv6", "-p", "tcp",
                             "--dport", str(TCP_PORT), "--src-nat", timeout=30)
        lines = listing.stdout.decode(errors="replace").splitlines()
        self.assertTrue(lines, "no translated IPv6 TCP entry:\n" + self.stats())
        e = ct.parse_conntrack_lines(lines[0])[0]
        self.assertEqual((e["orig"]["src"], e["reply"]["dst"]), (CLIENT6, GW6_W), lines[0])

    def test_2c_ip6_address_rules_and_rejects_reach_the_kernel_client(self):
        """ip6 saddr|daddr rules with reject: the client's kernel hears a TCP reset
        (ECONNREFUSED) and ICMPv6 admin-prohibited (EACCES) and no-route (ENETUNREACH) from the
        gateway, as from Linux's nf_reject_ipv6; a connection the rules do not name passes."""
        self._start_ctgate()
        self._load_chain(
            "reject6", "fw", "fwd", "type filter hook forward priority 0; policy accept",
            "ip6 saddr 2001:db8:1::/64 tcp dport 7001 reject with tcp reset",
            "ip6 daddr %s tcp dport 7002 reject with icmpv6 admin-prohibited" % SERVER6,
            "ip6 saddr { %s } tcp dport 7003 reject with icmpv6 no-route" % CLIENT6)
        n, out, _ = self._ping(SERVER6)  # neighbours resolved both ways
        self.assertGreaterEqual(n, 1, out)
        probe = ("import errno, socket, sys\n"
                 "s = socket.socket(socket.AF_INET6)\n"
                 "s.settimeout(4)\n"
                 "try:\n"
                 "    s.connect((sys.argv[1], int(sys.argv[2])))\n"
                 "    print('CONNECTED')\n"
                 "except OSError as e:\n"
                 "    print(errno.errorcode.get(e.errno, 'TIMEOUT') if e.errno else 'TIMEOUT')\n")
        got = {}
        for port in (7001, 7002, 7003):
            p = ns(NS_C, "python3", "-c", probe, SERVER6, str(port), check=False, timeout=15)
            got[port] = p.stdout.decode(errors="replace").strip()
        self.assertEqual(got, {7001: "ECONNREFUSED", 7002: "EACCES", 7003: "ENETUNREACH"},
                         self.stats())
        self._assert_transfer(256 * 1024)

    def test_3_tracepath6_shows_the_gateway_hop(self):
        if shutil.which("tracepath") is None:
            self.skipTest("tracepath not installed (Debian package iputils-tracepath)")
        self._start_ctgate()
        n, out, _ = self._ping(SERVER6)  # neighbours resolved both ways
        self.assertGreater(n, 0, "ping -6 the server:\n%s\n%s" % (out, self.stats()))
        p = ns(NS_C, "tracepath", "-6", "-n", "-m", "3", SERVER6, check=False, timeout=60)
        out = p.stdout.decode(errors="replace")
        hops = {}  # hop -> [lines], "1?: [LOCALHOST]" left out
        for line in out.splitlines():
            m = re.match(r"\s*(\d+):\s+(\S+)", line)
            if m:
                hops.setdefault(int(m.group(1)), []).append(line)
        first = hops.get(1, [])
        self.assertTrue(first and all(l.split()[1] == GW6_L for l in first),
                        "hop 1 should be the gateway %s:\n%s\n%s" % (GW6_L, out, self.stats()))
        reached = [l for ls in hops.values() for l in ls if "reached" in l]
        self.assertTrue(reached and reached[0].split()[1] == SERVER6,
                        "the server should be reached:\n%s\n%s" % (out, self.stats()))

    def test_5_stats_and_clean_exit(self):
        self._start_ctgate()
        pings = []
        for dst, family in ((SERVER6, "-6"), (GW6_L, "-6"), (SERVER, "-4")):
            n, out, _ = self._ping(dst, family=family)
            pings.append("%s: %d received" % (dst, n))
        self._assert_transfer(256 * 1024 + 3)
        stats = self.stats()
        context = "\n--- pings ---\n%s\n--- ctgatectl stats ---\n%s" % (
            "\n".join(pings), stats)
        self._assert_clean_exit(context)


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class Ipv6PacketTooBigTest(_Ipv6NetnsBase):
    WAN_MTU = WAN_MTU_SMALL

    def test_4_packet_too_big_and_pmtu_discovery(self):
        self._start_ctgate()
        n, out, _ = self._ping(SERVER6)  # small pings pass; neighbours resolved both ways
        self.assertGreaterEqual(n, 2, "small ping -6 to the server:\n%s\n%s" % (
            out, self.stats()))

        # 1500 bytes with DF semantics (-M do): the gateway answers "packet too big,
        # mtu=1400" and never fragments. iputils prints the error of the first request
        # ("From 2001:db8:1::1 icmp_seq=1 Packet too big: mtu=1400"), the second one fails
        # locally once the kernel has learned the path MTU ("... message too long, mtu: 1400").
        n, out, rc = self._ping(SERVER6, "-s", str(PTB_PING_SIZE), "-M", "do", count=2)
        self.assertEqual(n, 0, "no big echo should get through:\n%s\n%s" % (out, self.stats()))
        self.assertNotEqual(rc, 0, out)
        self.assertIn(str(WAN_MTU_SMALL), out,
                      "packet too big with mtu=%d:\n%s\n%s" % (WAN_MTU_SMALL, out, self.stats()))
        route = ns(NS_C, "ip", "-6", "route", "get", SERVER6,
                   check=False).stdout.decode(errors="replace")
        self.assertIn("mtu %d" % WAN_MTU_SMALL, route,
                      "the client learned the path MTU from the ping:\n" + route)

        # Forget it, so TCP has to learn it by itself from the gateway's packet too big.
        # (`ip -6 route flush cache` keeps the exception; replacing the route drops it.)
        ns(NS_C, "ip", "-6", "route", "replace", "default", "via", GW6_L)
        route = ns(NS_C, "ip", "-6", "route", "get", SERVER6,
                   check=False).stdout.decode(errors="replace")
        self.assertNotIn("mtu %d" % WAN_MTU_SMALL, route, "the path MTU was forgotten")
        self._assert_transfer(PMTU_DATA_BYTES)
        route = ns(NS_C, "ip", "-6", "route", "get", SERVER6,
                   check=False).stdout.decode(errors="replace")
        self.assertIn("mtu %d" % WAN_MTU_SMALL, route,
                      "the client's kernel learned the path MTU from TCP:\n" + route)
        self._assert_clean_exit("\n" + self.stats())


if __name__ == "__main__":
    unittest.main(verbosity=2)
