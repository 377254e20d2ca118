#!/usr/bin/env python3
"""Tests for app/ctgatectl/ctgatectl against a fake DPDK telemetry server.

The server runs in-process (a thread on a SOCK_SEQPACKET unix socket in a
temp dir), greets like DPDK 22.11 and answers with canned replies shaped like
ctgate's; the CLI runs as a subprocess with --socket. Every wait is bounded.
Run: python3 tests/control/test_ctgatectl.py
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.normpath(os.path.join(HERE, "..", "..", "app", "ctgatectl", "ctgatectl"))
RUN_TIMEOUT = 20  # seconds per CLI run; a hang fails the test instead of the suite
SERVER_POLL = 0.1

HOOK_ROWS = [
    "PRE_ROUTING -200 ipv4_conntrack_in 7 0",
    "LOCAL_IN -150 mangle_in 5 1",
    "LOCAL_IN 2147483647 ipv4_confirm 0 0",
    "LOCAL_IN 2147483647 nft_do_chain_ipv4 0 0",
    "FORWARD 0 filter_forward 12 3",
    "POST_ROUTING 2147483647 ipv4_confirm 12 0",
]
HOOK6_ROWS = [
    "PRE_ROUTING -200 ipv6_conntrack_in 3 0",
    "FORWARD 0 filter_forward 12 3",
]
HOOK_BRIDGE_ROWS = [
    "PRE_ROUTING -200 nf_ct_bridge_pre 5 0",
    "FORWARD -200 nft filter forward 5 1",
    "POST_ROUTING 2147483647 nf_ct_bridge_post 4 0",
]

CT_LINES = (
    "tcp      6 431999 ESTABLISHED src=10.10.1.2 dst=10.10.2.2 sport=40000 dport=2570 "
    "src=10.10.2.2 dst=10.10.1.2 sport=2570 dport=40000 [ASSURED] mark=0 use=1\n"
    "tcp      6 119 SYN_SENT src=10.10.1.2 dst=10.10.2.2 sport=40001 dport=2570 [UNREPLIED] "
    "src=10.10.2.2 dst=10.10.1.2 sport=2570 dport=40001 mark=0 use=1\n"
)


def worker_counters(rx, tx, fwd, drops_no_route):
    c = {"lcore": 1, "running": 1, "rx": rx, "tx": tx, "bursts": 3, "idle_polls": 100,
         "forwarded": fwd, "local_in": 2, "local_out": 2, "arp_in": 1, "arp_reply_sent": 1,
         "arp_request_sent": 1, "drop_runt": 0, "drop_no_route": drops_no_route,
         "drop_hook": 1, "unconfirmed_leaked": 0, "ct_owned": 2}
    return c


def ct_worker_stats(found):
    keys = ["found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
            "clash_resolve", "search_restart", "new", "expired", "deleted",
            "unconfirmed_freed", "untracked", "alloc_failed", "invalid_truncated_tcp",
            "invalid_state"]
    d = {k: 0 for k in keys}
    d.update(found=found, insert=2, new=2)
    d["unconfirmed"] = 0
    return d


class FakeTelemetry:
    """A DPDK-telemetry-shaped server. Replies are data or callables(params);
    a reply of NO_REPLY makes the server stay silent (to test timeouts)."""

    NO_REPLY = object()

    def __init__(self, path, replies, backlog=4, hold=None):
        self.path = path
        self.hold = hold  # an Event: accept nothing until it is set
        self.replies = replies
        self.received = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.srv.bind(path)
        self.srv.listen(backlog)
        self.srv.settimeout(SERVER_POLL)
        self.threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self.threads[0].start()

    def commands(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.stop.set()
        for t in list(self.threads):
            t.join(timeout=5)
        self.srv.close()

    def _accept_loop(self):
        if self.hold is not None:
            self.hold.wait(RUN_TIMEOUT)
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(SERVER_POLL)
            greeting = {"version": "DPDK 22.11.11", "pid": os.getpid(), "max_output_len": 16384}
            conn.send(json.dumps(greeting).encode())
            while not self.stop.is_set():
                try:
                    msg = conn.recv(1024)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not msg:
                    return
                text = msg.decode()
                with self.lock:
                    self.received.append(text)
                cmd, _, params = text.partition(",")
                reply = self.replies.get(cmd)  # unknown command: null, like DPDK
                if callable(reply):
                    reply = reply(params or None)
                if reply is self.NO_REPLY:
                    continue
                conn.send(json.dumps({cmd: reply}).encode())


# A listing with named objects in two tables and none in a third (as nft lists it).
RULESET_WITH_OBJECTS = """table ip a {
\tchain c {
\t\taccept
\t}
}
table inet filter {
\tcounter http {
\t\tpackets 3 bytes 100
\t}

\tquota q {
\t\t5 kbytes
\t}

\tcounter z {
\t\tpackets 0 bytes 0
\t}

\tchain c {
\t\tcounter name "http"
\t}
}
table ip b {
\tcounter x {
\t\tpackets 0 bytes 0
\t}
}
"""


class CtgatectlTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ctgatectl-test-")
        self.dumps = []
        self.sock_path = os.path.join(self.tmp.name, "dpdk_telemetry.v2")
        self.server = FakeTelemetry(self.sock_path, self.canned_replies())

    def tearDown(self):
        self.server.close()
        self.tmp.cleanup()

    # ---- fake daemon ----------------------------------------------------

    def write_dump(self, params):
        if params and "BOGUS" in params:
            return {"error": "state: unknown TCP state 'BOGUS'"}
        path = os.path.join(self.tmp.name, f"ctgate-1-ct-{len(self.dumps)}.txt")
        with open(path, "w") as f:
            f.write(CT_LINES)
        self.dumps.append(path)
        return {"file": path, "count": 2}

    def canned_replies(self):
        return {
            "/ctgate/info": {"config": "drivers-config/demo.yaml", "workers": 2, "ports": 2,
                             "uptime_ms": 12345, "pid": 4242},
            "/ctgate/ports": {
                "lan": {"rx_packets": 10, "tx_packets": 8, "address": "10.10.1.1/24",
                        "mac": "02:00:00:00:00:01", "hw_ipackets": 11, "hw_opackets": 8,
                        "hw_ibytes": 1100, "hw_obytes": 800, "hw_imissed": 0,
                        "hw_ierrors": 0, "hw_oerrors": 0, "hw_rx_nombuf": 0},
                "wan": {"rx_packets": 8, "tx_packets": 10, "address": "10.10.2.1/24",
                        "mac": "02:00:00:00:00:02"},
            },
            "/ctgate/workers": {"worker1": worker_counters(5, 4, 3, 0),
                                "worker0": worker_counters(13, 14, 9, 2)},
            "/ctgate/drops": {"runt": 0, "no_route": 2, "hook": 2, "conntrack_table_full": 0,
                              "conntrack_insert_failed": 0},
            "/ctgate/counters": {"rx": 18, "tx": 18},
            "/ctgate/hooks": lambda params: {"ipv6": HOOK6_ROWS,
                                             "bridge": HOOK_BRIDGE_ROWS}.get(params, HOOK_ROWS),
            "/ctgate/conntrack/stats": {"count": 2, "max": 65536, "hooks_registered": 1,
                                        "table_full_events": 0, "table_full_logged": 0,
                                        "worker0": ct_worker_stats(3),
                                        "worker1": ct_worker_stats(1)},
            "/ctgate/conntrack/count": {"count": 2, "max": 65536},
            "/ctgate/synproxy/stats": {"syn_received": 7, "cookies_sent": 7, "cookies_valid": 5,
                                       "cookies_invalid": 1, "hook_registered": 1,
                                       "mode": "ruleset"},
            "/ctgate/conntrack/list": self.write_dump,
            "/ctgate/conntrack/unconfirmed": {"worker0": 0, "worker1": 0},
            "/ctgate/conntrack/delete": lambda params: {"deleted": 1 if params else 2},
            "/ctgate/conntrack/flush": {"deleted": 2},
            "/ctgate/slow": FakeTelemetry.NO_REPLY,
            "/ctgate/ruleset/list": self.write_listing,
        }

    def write_listing(self, params):
        path = os.path.join(self.tmp.name, "ctgate-1-ruleset.txt")
        with open(path, "w") as f:
            f.write(RULESET_WITH_OBJECTS)
        return {"file": path}

    # ---- helpers --------------------------------------------------------

    def run_cli(self, *args, env=None, socket_opt=True):
        argv = [sys.executable, CLI] + (["--socket", self.sock_path] if socket_opt else [])
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run(argv + list(args), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=full_env)

    def assert_ok(self, res):
        self.assertEqual(res.returncode, 0, f"stderr: {res.stderr}")

    def assert_one_line_error(self, res, expected=None):
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertEqual(res.stderr.count("\n"), 1, res.stderr)
        self.assertTrue(res.stderr.startswith("ctgatectl: "), res.stderr)
        if expected is not None:
            self.assertEqual(res.stderr, expected + "\n")

    # ---- hooks ----------------------------------------------------------

    def test_hooks_listing(self):
        res = self.run_cli("hooks")
        self.assert_ok(res)
        self.assertEqual(res.stdout, (
            "🪝 ipv4 PRE_ROUTING\n"
            "       -200 → ipv4_conntrack_in\n"
            "\n"
            "🪝 ipv4 LOCAL_IN\n"
            "       -150 → mangle_in\n"
            " 2147483647 → ipv4_confirm, nft_do_chain_ipv4\n"
            "\n"
            "🪝 ipv4 FORWARD\n"
            "          0 → filter_forward\n"
            "\n"
            "🪝 ipv4 POST_ROUTING\n"
            " 2147483647 → ipv4_confirm\n"
            "\n"
            "🪝 ipv6 PRE_ROUTING\n"
            "       -200 → ipv6_conntrack_in\n"
            "\n"
            "🪝 ipv6 FORWARD\n"
            "          0 → filter_forward\n"
            "\n"
            "🪝 bridge PRE_ROUTING\n"
            "       -200 → nf_ct_bridge_pre\n"
            "\n"
            "🪝 bridge FORWARD\n"
            "       -200 → nft filter forward\n"
            "\n"
            "🪝 bridge POST_ROUTING\n"
            " 2147483647 → nf_ct_bridge_post\n"))
        self.assertEqual(self.server.commands(),
                         ["/ctgate/hooks,ipv4", "/ctgate/hooks,ipv6", "/ctgate/hooks,bridge"])

    def test_hooks_one_family(self):
        res = self.run_cli("hooks", "-f", "ipv6")
        self.assert_ok(res)
        self.assertEqual(res.stdout, (
            "🪝 ipv6 PRE_ROUTING\n"
            "       -200 → ipv6_conntrack_in\n"
            "\n"
            "🪝 ipv6 FORWARD\n"
            "          0 → filter_forward\n"))
        self.assertEqual(self.server.commands(), ["/ctgate/hooks,ipv6"])

    def test_hooks_verbose(self):
        res = self.run_cli("hooks", "-v")
        self.assert_ok(res)
        lines = res.stdout.splitlines()
        self.assertIn(" 2147483647 → ipv4_confirm       packets=0   drops=0", lines)
        self.assertIn(" 2147483647 → nft_do_chain_ipv4  packets=0   drops=0", lines)
        self.assertIn("          0 → filter_forward     packets=12  drops=3", lines)

    def test_hooks_json_is_raw_reply(self):
        res = self.run_cli("hooks", "--json")
        self.assert_ok(res)
        self.assertEqual(json.loads(res.stdout),
                         {"ipv4": HOOK_ROWS, "ipv6": HOOK6_ROWS, "bridge": HOOK_BRIDGE_ROWS})

    # ---- conntrack ------------------------------------------------------

    def test_list_passes_filters_prints_file_and_removes_it(self):
        res = self.run_cli("conntrack", "-L", "-p", "tcp", "--dport", "2570")
        self.assert_ok(res)
        self.assertEqual(self.server.commands(), ["/ctgate/conntrack/list,proto=tcp dport=2570"])
        self.assertEqual(res.stdout, CT_LINES)
        self.assertEqual(res.stderr, "ctgate (ctgatectl): 2 flow entries have been shown.\n")
        self.assertEqual(len(self.dumps), 1)
        self.assertFalse(os.path.exists(self.dumps[0]), "dump file was not removed")

    def test_list_all_filters_in_fixed_order(self):
        res = self.run_cli("conntrack", "-L", "conntrack", "--mark", "0x10", "-w", "3",
                           "--state", "established", "--sport", "1", "--dport", "2",
                           "-d", "10.0.0.2", "-s", "10.0.0.1", "-p", "TCP")
        self.assert_ok(res)
        self.assertEqual(self.server.commands(), [
            "/ctgate/conntrack/list,proto=tcp src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 "
            "state=ESTABLISHED zone=3 mark=16"])

    def test_list_ipv6_family_addresses_and_extended_output(self):
        res = self.run_cli("conntrack", "-L", "-o", "extended", "-s", "2001:DB8::0:1",
                           "-f", "ipv6", "-p", "icmpv6")
        self.assert_ok(res)
        self.assertEqual(self.server.commands(), [
            "/ctgate/conntrack/list,family=ipv6 proto=icmpv6 src=2001:db8::1 output=extended"])
        bad = self.run_cli("conntrack", "-L", "-s", "2001:db8::g")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("not an IP address", bad.stderr)

    def test_list_without_filters_sends_no_params(self):
        res = self.run_cli("conntrack", "-L")
        self.assert_ok(res)
        self.assertEqual(self.server.commands(), ["/ctgate/conntrack/list"])
        self.assertEqual(res.stdout, CT_LINES)

    def test_list_json(self):
        res = self.run_cli("conntrack", "-L", "--json")
        self.assert_ok(res)
        self.assertEqual(json.loads(res.stdout),
                         {"count": 2, "entries": CT_LINES.splitlines()})
        self.assertFalse(os.path.exists(self.dumps[0]))

    def test_list_error_reply(self):
        res = self.run_cli("conntrack", "-L", "--state", "BOGUS")
        self.assert_one_line_error(
            res, "ctgatectl: /ctgate/conntrack/list: state: unknown TCP state 'BOGUS'")
        self.assertEqual(res.stdout, "")

    def test_list_unconfirmed(self):
        res = self.run_cli("conntrack", "-L", "unconfirmed")
        self.assert_ok(res)
        self.assertEqual(res.stdout, "worker0 unconfirmed=0\nworker1 unconfirmed=0\n")
        self.assertEqual(res.stderr, "ctgate (ctgatectl): 0 flow entries have been shown.\n")

    def test_filters_rejected_where_unsupported(self):
        res = self.run_cli("conntrack", "-S", "-p", "tcp")
        self.assertEqual(res.returncode, 2)
        self.assertIn("filters apply only to -L, -D and -E", res.stderr)
        res = self.run_cli("conntrack", "-L", "--src", "1.2.3.4 dport=5")
        self.assertEqual(res.returncode, 2)
        self.assertEqual(self.server.commands(), [])

    def test_count(self):
        res = self.run_cli("conntrack", "-C")
        self.assert_ok(res)
        self.assertEqual(res.stdout, "2\n")

    def test_stats_format(self):
        res = self.run_cli("conntrack", "-S")
        self.assert_ok(res)
        tail = ("new=2 expired=0 deleted=0 unconfirmed_freed=0 untracked=0 alloc_failed=0 "
                "invalid_truncated_tcp=0 invalid_state=0 unconfirmed=0")
        head = ("insert=2 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 "
                "clash_resolve=0 ")
        self.assertEqual(res.stdout,
                         f"cpu=0   \tfound=3 invalid=0 {head}{tail}\n"
                         f"cpu=1   \tfound=1 invalid=0 {head}{tail}\n"
                         "count=2 max=65536\n")

    def test_delete_with_filters(self):
        res = self.run_cli("conntrack", "-D", "-p", "udp", "--src", "10.10.1.2")
        self.assert_ok(res)
        self.assertEqual(self.server.commands(),
                         ["/ctgate/conntrack/delete,proto=udp src=10.10.1.2"])
        self.assertEqual(res.stdout, "")
        self.assertEqual(res.stderr, "ctgate (ctgatectl): 1 flow entries have been deleted.\n")

    def test_flush(self):
        res = self.run_cli("conntrack", "-F")
        self.assert_ok(res)
        self.assertEqual(self.server.commands(), ["/ctgate/conntrack/flush"])
        self.assertEqual(res.stderr,
                         "ctgate (ctgatectl): connection tracking table has been emptied.\n")

    # ---- stats ----------------------------------------------------------

    def test_stats_json_keys(self):
        res = self.run_cli("stats", "--json")
        self.assert_ok(res)
        data = json.loads(res.stdout)
        self.assertEqual(set(data), {"info", "ports", "workers", "drops", "conntrack", "synproxy"})
        self.assertEqual(data["conntrack"]["worker0"]["found"], 3)
        self.assertEqual(data["synproxy"]["cookies_valid"], 5)

    def test_synproxy_stats(self):
        res = self.run_cli("synproxy", "stats")
        self.assert_ok(res)
        self.assertIn("cookies_sent     7", res.stdout)
        self.assertIn("mode             ruleset", res.stdout)

    def test_global_json_before_subcommand(self):
        res = self.run_cli("--json", "stats")
        self.assert_ok(res)
        self.assertIn("conntrack", json.loads(res.stdout))

    def test_stats_tables(self):
        res = self.run_cli("stats")
        self.assert_ok(res)
        lines = res.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["PORT", "ADDRESS", "RX", "TX", "HW_RX", "HW_TX",
                                            "HW_RX_BYTES", "HW_TX_BYTES", "MISSED", "RX_ERR",
                                            "TX_ERR", "NOMBUF"])
        self.assertEqual(lines[2].split(), ["wan", "10.10.2.1/24", "8", "10"] + ["-"] * 8)
        # Numbers are right-aligned under their header.
        self.assertEqual(lines[0].index("HW_RX_BYTES") + len("HW_RX_BYTES"),
                         lines[1].index("1100") + len("1100"))
        workers_at = lines.index(next(l for l in lines if l.startswith("WORKER")))
        self.assertEqual(lines[workers_at + 1].split(),
                         ["worker0", "1", "13", "14", "9", "2", "3", "2"])
        self.assertIn("no_route           2", lines)
        self.assertNotIn("runt", res.stdout)  # zero drop reasons are hidden
        self.assertEqual(lines[-1], "conntrack: count=2 max=65536")

    def test_stats_watch_is_bounded(self):
        res = self.run_cli("stats", "--watch", "--interval", "0.05", "--count", "3")
        self.assert_ok(res)
        self.assertEqual(res.stdout.count("ctgatectl stats"), 3)
        self.assertIn("RX/S", res.stdout)
        self.assertEqual(self.server.commands().count("/ctgate/ports"), 3)

    def test_stats_watch_json_lines(self):
        res = self.run_cli("stats", "--watch", "--json", "--interval", "0.05", "--count", "2")
        self.assert_ok(res)
        samples = [json.loads(l) for l in res.stdout.splitlines()]
        self.assertEqual(len(samples), 2)
        self.assertIsNone(samples[0]["rates"]["ports"]["lan"]["rx_packets"])
        self.assertEqual(samples[1]["rates"]["ports"]["lan"]["rx_packets"], 0.0)

    # ---- info, raw ------------------------------------------------------

    def test_info(self):
        res = self.run_cli("info")
        self.assert_ok(res)
        self.assertIn("config     drivers-config/demo.yaml\n", res.stdout)
        self.assertIn(f"socket     {self.sock_path}\n", res.stdout)

    def test_raw(self):
        res = self.run_cli("raw", "/ctgate/conntrack/count")
        self.assert_ok(res)
        self.assertEqual(json.loads(res.stdout),
                         {"/ctgate/conntrack/count": {"count": 2, "max": 65536}})

    def test_raw_unknown_command_is_error(self):
        res = self.run_cli("raw", "/nope")
        self.assertEqual(json.loads(res.stdout), {"/nope": None})
        self.assert_one_line_error(res, "ctgatectl: /nope: unknown command or failed in ctgate")

    # ---- route ----------------------------------------------------------

    def serve_routes(self):
        replies = self.server.replies
        listing = os.path.join(self.tmp.name, "ctgate-1-routes.txt")

        def route_list(params):
            with open(listing, "w") as f:
                f.write("10.0.1.0/24 dev lan proto kernel scope link src 10.0.1.1\n"
                        "default via 10.0.2.9 dev wan\n")
            return {"file": listing, "count": 2}

        def route_change(params):
            if "10.9.9.9" in params:
                return {"error": "route: via: 10.9.9.9 is not in the subnet of any port"}
            return {"done": "did " + params}

        replies["/ctgate/route/list"] = route_list
        replies["/ctgate/route/change"] = route_change
        return listing

    def test_route_list_prints_ip_route_lines_and_removes_the_file(self):
        listing = self.serve_routes()
        for argv in (("route",), ("route", "list"), ("route", "show")):
            res = self.run_cli(*argv)
            self.assert_ok(res)
            self.assertEqual(res.stdout, "10.0.1.0/24 dev lan proto kernel scope link src "
                                         "10.0.1.1\ndefault via 10.0.2.9 dev wan\n")
            self.assertFalse(os.path.exists(listing))
        res = self.run_cli("route", "--json")
        self.assertEqual(json.loads(res.stdout)["count"], 2)

    def test_route_changes_are_sent_as_typed(self):
        self.serve_routes()
        res = self.run_cli("route", "add", "198.51.100.0/24", "via", "10.0.2.9", "dev", "wan")
        self.assert_ok(res)
        self.assertEqual(res.stdout, "did add 198.51.100.0/24 via 10.0.2.9 dev wan\n")
        self.assertIn("/ctgate/route/change,add 198.51.100.0/24 via 10.0.2.9 dev wan",
                      self.server.commands())
        self.assert_one_line_error(
            self.run_cli("route", "add", "10.9.0.0/16", "via", "10.9.9.9"),
            "ctgatectl: /ctgate/route/change: route: via: 10.9.9.9 is not in the subnet of any "
            "port")
        res = self.run_cli("route", "del")
        self.assertEqual(res.returncode, 2)
        self.assertIn("route del PREFIX", res.stderr)
        res = self.run_cli("route", "add", "10.0.0.0/8,x")
        self.assertEqual(res.returncode, 2)

    def test_route_minus_6_lists_and_changes_ipv6(self):
        """-6 asks for IPv6's listing and leads a change (ip -6 route del default); an IPv6
        prefix needs no -6, the daemon tells the family by it."""
        self.serve_routes()
        for argv in (("route", "-6"), ("route", "list", "-6"), ("route", "-6", "show")):
            self.assert_ok(self.run_cli(*argv))
        self.assertEqual([c for c in self.server.commands() if "/route/list" in c],
                         ["/ctgate/route/list,6"] * 3)
        res = self.run_cli("route", "-6", "del", "default")
        self.assert_ok(res)
        self.assertIn("/ctgate/route/change,-6 del default", self.server.commands())
        res = self.run_cli("route", "add", "2001:db8:77::/48", "via", "fe80::1", "dev", "wan")
        self.assert_ok(res)
        self.assertIn("/ctgate/route/change,add 2001:db8:77::/48 via fe80::1 dev wan",
                      self.server.commands())

    # ---- conntrack -E -----------------------------------------------------

    def test_conntrack_events_polls_from_a_cursor_and_prints_each_event(self):
        """-E starts with cursor=start, then asks from the cursor each reply gives; prints
        what the reply files hold; --limit stops it; lost events are reported."""
        replies = self.server.replies
        polls = []
        batches = [["    [NEW] udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=1 dport=53 "
                    "[UNREPLIED] src=10.0.2.2 dst=10.0.1.2 sport=53 dport=1"],
                   [],
                   [" [UPDATE] udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=1 dport=53 "
                    "src=10.0.2.2 dst=10.0.1.2 sport=53 dport=1",
                    "[DESTROY] udp      17 src=10.0.1.2 dst=10.0.2.2 sport=1 dport=53 "
                    "src=10.0.2.2 dst=10.0.1.2 sport=53 dport=1"]]

        def events(params):
            polls.append(params)
            if params.startswith("cursor=start"):
                return {"cursor": 7, "count": 0, "lost": 0}
            lines = batches.pop(0) if batches else []
            path = os.path.join(self.tmp.name, "ev-%d.txt" % len(polls))
            with open(path, "w") as f:
                f.write("".join(l + "\n" for l in lines))
            return {"file": path, "cursor": 7 + len(polls), "count": len(lines),
                    "lost": 3 if len(polls) == 3 else 0}

        replies["/ctgate/conntrack/events"] = events
        res = self.run_cli("conntrack", "-E", "-p", "udp", "-e", "new,destroy,update",
                           "--limit", "3")
        self.assert_ok(res)
        self.assertEqual(res.stdout.splitlines(), [
            "    [NEW] udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=1 dport=53 [UNREPLIED] "
            "src=10.0.2.2 dst=10.0.1.2 sport=53 dport=1",
            " [UPDATE] udp      17 30 src=10.0.1.2 dst=10.0.2.2 sport=1 dport=53 src=10.0.2.2 "
            "dst=10.0.1.2 sport=53 dport=1",
            "[DESTROY] udp      17 src=10.0.1.2 dst=10.0.2.2 sport=1 dport=53 src=10.0.2.2 "
            "dst=10.0.1.2 sport=53 dport=1"])
        self.assertEqual(polls[0], "cursor=start events=NEW,DESTROY,UPDATE proto=udp")
        self.assertEqual(polls[1], "cursor=7 events=NEW,DESTROY,UPDATE proto=udp")
        self.assertEqual(polls[2], "cursor=9 events=NEW,DESTROY,UPDATE proto=udp")
        self.assertIn("3 events lost", res.stderr)
        self.assertIn("3 flow events have been shown. 3 lost.", res.stderr)
        self.assertEqual([f for f in os.listdir(self.tmp.name) if f.startswith("ev-")], [])

    def test_conntrack_events_options(self):
        self.server.replies["/ctgate/conntrack/events"] = lambda p: {"cursor": 1, "count": 0}
        res = self.run_cli("conntrack", "-E", "-o", "json", "--duration", "0.3")
        self.assert_ok(res)
        self.assertIn("/ctgate/conntrack/events,cursor=start output=json", self.server.commands())
        self.assertIn("0 flow events have been shown.", res.stderr)
        res = self.run_cli("conntrack", "-E", "-e", "NEW,BOGUS")
        self.assertEqual(res.returncode, 2)
        self.assertIn("expected NEW, UPDATE, DESTROY or ALL", res.stderr)
        res = self.run_cli("conntrack", "-L", "-o", "json")
        self.assertEqual(res.returncode, 2)
        self.assertIn("-o json is for -E", res.stderr)
        res = self.run_cli("conntrack", "-L", "--limit", "3")
        self.assertEqual(res.returncode, 2)
        self.assertIn("are for -E", res.stderr)

    # ---- capture --------------------------------------------------------

    def serve_capture_ports(self, capture="available"):
        """The daemon as it keys /ctgate/ports (by index, name inside), with a VLAN
        subinterface, and a fake dpdk-dumpcap that records its arguments."""
        replies = self.server.replies
        replies["/ctgate/info"] = dict(replies["/ctgate/info"], capture=capture)
        replies["/ctgate/ports"] = {
            "0": {"name": "lan", "ethdev": "net_af_packet0", "port_id": 0},
            "1": {"name": "lan.100", "vlan": 100, "vlan_of": "lan"},
            "2": {"name": "wan", "ethdev": "0000:5e:00.1", "port_id": 1},
            "3": {"name": "gone"},
        }
        self.args_file = os.path.join(self.tmp.name, "dumpcap-args")
        fake = os.path.join(self.tmp.name, "dpdk-dumpcap")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\nexit ${FAKE_RC:-0}\n' % self.args_file)
        os.chmod(fake, 0o755)
        return {"CTGATE_DUMPCAP": fake}

    def dumpcap_args(self):
        with open(self.args_file) as f:
            return f.read().splitlines()

    def test_capture_runs_dumpcap_on_the_ports_device(self):
        env = self.serve_capture_ports()
        res = self.run_cli("--file-prefix", "gw1", "capture", "wan", "-w", "/tmp/x.pcapng",
                           "-c", "5", env=env)
        self.assert_ok(res)
        self.assertEqual(self.dumpcap_args(), ["--file-prefix=gw1", "-i", "0000:5e:00.1", "-w",
                                               "/tmp/x.pcapng", "-p", "-c", "5"])
        self.assertIn("capturing on wan (0000:5e:00.1) to /tmp/x.pcapng", res.stderr)

    def test_capture_on_a_vlan_subinterface_filters_its_tag(self):
        env = self.serve_capture_ports()
        res = self.run_cli("capture", "lan.100", "tcp", "port", "80", "-w", "v.pcap", "--pcap",
                           "--duration", "9", "-s", "128", "--promiscuous", env=env)
        self.assert_ok(res)
        self.assertEqual(self.dumpcap_args(),
                         ["--file-prefix=ctgate", "-i", "net_af_packet0", "-w", "v.pcap", "-f",
                          "vlan 100 and (tcp port 80)", "-a", "duration:9", "-s", "128", "-P"])

    def test_capture_errors(self):
        env = self.serve_capture_ports()
        self.assert_one_line_error(
            self.run_cli("capture", "dmz", "-w", "x", env=env),
            "ctgatectl: no port 'dmz' (ports: lan, lan.100, wan, gone)")
        self.assert_one_line_error(
            self.run_cli("capture", "gone", "-w", "x", env=env),
            "ctgatectl: port gone has no device attached now (see ctgatectl stats)")
        res = self.run_cli("capture", "lan", "-w", "x", env=dict(env, FAKE_RC="2"))
        self.assertEqual(res.returncode, 1)
        self.assertIn("ctgatectl: dpdk-dumpcap exited with status 2: ", res.stderr)
        res = self.run_cli("capture", "lan", env=env)
        self.assertEqual(res.returncode, 2)
        self.assertIn("-w/--write", res.stderr)

    def test_capture_refused_without_hugepages(self):
        env = self.serve_capture_ports(capture="unavailable: eal.no_huge")
        self.assert_one_line_error(
            self.run_cli("capture", "lan", "-w", "x", env=env),
            "ctgatectl: capture unavailable: eal.no_huge (dpdk-dumpcap maps the gateway's "
            "hugepages)")
        self.assertFalse(os.path.exists(self.args_file))

    # ---- errors, connection ---------------------------------------------

    def test_connect_waits_while_the_queue_is_full(self):
        # DPDK telemetry listens with a backlog of 1 and accepts in a thread: a client that
        # finds the queue full gets EAGAIN and must wait for room, not fail (the soak test
        # met this with reloads, scans and deletes at once).
        path = os.path.join(self.tmp.name, "busy.sock")
        hold = threading.Event()
        busy = FakeTelemetry(path, self.canned_replies(), backlog=0, hold=hold)
        fillers = []
        try:
            for _ in range(4):  # connections nobody accepts yet, until the queue is full
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.setblocking(False)
                try:
                    s.connect(path)
                except BlockingIOError:
                    s.close()
                    break
                fillers.append(s)
            self.assertTrue(fillers, "the queue did not take one connection")
            timer = threading.Timer(0.5, hold.set)
            timer.start()
            res = subprocess.run([sys.executable, CLI, "--socket", path, "info"],
                                 capture_output=True, text=True, timeout=RUN_TIMEOUT)
            timer.join()
            self.assert_ok(res)
            self.assertIn("uptime", res.stdout)
        finally:
            for s in fillers:
                s.close()
            hold.set()
            busy.close()

    def test_timeout_is_bounded(self):
        res = self.run_cli("--timeout", "0.3", "raw", "/ctgate/slow")
        self.assert_one_line_error(
            res, f"ctgatectl: no reply to /ctgate/slow from {self.sock_path} within 0.3s")

    def test_missing_socket_with_file_prefix(self):
        env = {"RUNTIME_DIRECTORY": self.tmp.name}
        res = self.run_cli("--file-prefix", "nope", "hooks", env=env, socket_opt=False)
        path = os.path.join(self.tmp.name, "dpdk", "nope", "dpdk_telemetry.v2")
        self.assert_one_line_error(
            res, f"ctgatectl: cannot connect to {path}: "
                 "is ctgate running with --file-prefix nope?")

    def test_missing_socket_path(self):
        missing = os.path.join(self.tmp.name, "absent.sock")
        res = subprocess.run([sys.executable, CLI, "--socket", missing, "stats"],
                             capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assert_one_line_error(res, f"ctgatectl: cannot connect to {missing}: "
                                        "is ctgate running?")

    def test_file_prefix_from_env(self):
        rundir = os.path.join(self.tmp.name, "run")
        os.makedirs(os.path.join(rundir, "dpdk", "demo"))
        os.symlink(self.sock_path, os.path.join(rundir, "dpdk", "demo", "dpdk_telemetry.v2"))
        env = {"RUNTIME_DIRECTORY": rundir, "CTGATE_FILE_PREFIX": "demo"}
        res = self.run_cli("conntrack", "-C", env=env, socket_opt=False)
        self.assert_ok(res)
        self.assertEqual(res.stdout, "2\n")

    def test_unknown_subcommand(self):
        res = self.run_cli("frobnicate")
        self.assertEqual(res.returncode, 2)
        self.assertIn("usage: ctgatectl", res.stderr)
        self.assertEqual(self.server.commands(), [])

    def test_no_subcommand(self):
        res = self.run_cli()
        self.assertEqual(res.returncode, 2)
        self.assertIn("usage: ctgatectl", res.stderr)

    def test_script_is_executable(self):
        self.assertTrue(os.access(CLI, os.X_OK))
        with open(CLI) as f:
            self.assertEqual(f.readline(), "#!/usr/bin/env python3\n")


    def test_nft_list_objects_prints_what_nft_prints(self):
        # The outputs of nft 1.0.6 for the same tables (checked live by test_nft_commands).
        res = self.run_cli("nft", "list quotas")
        self.assert_ok(res)
        self.assertEqual(res.stdout, "table inet filter {\n\tquota q {\n\t\t5 kbytes\n\t}\n}\n"
                                     "table ip b {\n}\n")
        res = self.run_cli("nft", "list counter inet filter http")
        self.assert_ok(res)
        self.assertEqual(res.stdout, "table inet filter {\n\tcounter http {\n\t\tpackets 3 bytes "
                                     "100\n\t}\n}\n")
        self.assert_one_line_error(self.run_cli("nft", "list counter inet filter nope"),
                                   "ctgatectl: counter 'nope' does not exist in table inet "
                                   "filter (nft: No such file or directory)")

    def test_nft_list_parts(self):
        # Shapes of nft 1.0.6's outputs (checked live by test_nft_commands).
        res = self.run_cli("nft", "list tables")
        self.assert_ok(res)
        self.assertEqual(res.stdout, "table ip a\ntable inet filter\ntable ip b\n")
        res = self.run_cli("nft", "list chain inet filter c")
        self.assert_ok(res)
        self.assertEqual(res.stdout,
                         "table inet filter {\n\tchain c {\n\t\tcounter name \"http\"\n\t}\n}\n")
        res = self.run_cli("nft", "list table b")  # the family defaults to ip
        self.assert_ok(res)
        self.assertEqual(res.stdout, "table ip b {\n\tcounter x {\n\t\tpackets 0 bytes 0\n\t}\n}\n")
        res = self.run_cli("nft", "list chains")
        self.assert_ok(res)
        self.assertEqual(res.stdout, "table ip a {\n\tchain c {\n\t}\n}\n"
                                     "table inet filter {\n\tchain c {\n\t}\n}\n")
        self.assert_one_line_error(self.run_cli("nft", "list set inet filter s"),
                                   "ctgatectl: set 's' does not exist in table inet filter "
                                   "(nft: No such file or directory)")
        self.assert_one_line_error(self.run_cli("nft", "list table ip nope"),
                                   "ctgatectl: table ip nope does not exist (nft: No such file or "
                                   "directory)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
