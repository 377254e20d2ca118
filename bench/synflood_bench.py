#!/usr/bin/python3
"""ctgate under a SYN flood: what a core absorbs, and what real users get meanwhile.

Uses the flood test's topology (tests/e2e/test_synflood.py): real kernel TCP
between a client and a server namespace through ctgate on af_packet veths,
plus a net_memif port fed by ctgate-gen with spoofed SYNs from 1M sources at
the server's port. ctgate runs the synproxy ruleset users write (raw notrack,
filter synproxy, tcp_loose off). Phases, each with a fresh flood:

  absorb     flood as fast as the generator can for --seconds: spoofed SYNs
             answered with cookies per second by the one worker core
  baseline   no flood: the legitimate workload alone
  flood_50   flood capped at 50% of the measured absorb rate, with the workload
  flood_100  flood capped at 100% of it, with the workload
  control    the same flood dropped by a raw rule (`ip saddr 10.99.0.0/16
             drop`) before synproxy sees it: what the generator's and the
             worker's CPU use alone cost the workload on this shared machine
  no_defence the 100% flood with synproxy off and conntrack.max 65536 (the
             second article's setup), with the workload

The legitimate workload, from the client namespace: a bulk TCP transfer for
--work-seconds (throughput, MB/s), then as many short connections as fit in
--work-seconds, one after the other, each with a 3 s connect timeout
(success rate and connections/s).

Everything shares this machine's 2 vCPUs (generator, ctgate's worker, the
kernel's TCP on both sides), so treat the figures as a same-run comparison
between phases, not as server-hardware numbers. Prints one line per phase and
a table; needs root. The phases also go to a result file,
bench/results/YYYY-MM-DD_<commit>_synflood.json (docs/bench.md).

  sudo python3 bench/synflood_bench.py [--seconds 10] [--work-seconds 3]
"""

import argparse
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)
import bench_result  # noqa: E402
import test_netns_forward as nf  # noqa: E402
import test_synflood as fl  # noqa: E402
import test_synproxy as sp  # noqa: E402

WORKLOAD = r"""
import json, os, socket, time
server = ("%s", %d)
work = %f
out = {}
# Bulk: as much as fits in `work` seconds, then the server's hash ends it.
chunk = os.urandom(1 << 16)
c = socket.create_connection(server, timeout=10)
c.settimeout(30)
c.sendall(b"BULK")
sent, t0 = 0, time.time()
while time.time() - t0 < work:
    c.sendall(chunk)
    sent += len(chunk)
c.shutdown(socket.SHUT_WR)
while c.recv(100):
    pass
c.close()
out["bulk_mb_s"] = sent / (time.time() - t0) / 1e6
# Short connections, one after the other.
ok = tried = 0
t0 = time.time()
while time.time() - t0 < work:
    tried += 1
    try:
        c = socket.create_connection(server, timeout=3)
        c.settimeout(5)
        c.sendall(b"ECHOping")
        ok += c.recv(100) == b"ping"
        c.close()
    except Exception:
        pass
out["conn_tried"] = tried
out["conn_ok"] = ok
out["conn_per_s"] = ok / (time.time() - t0)
print(json.dumps(out), flush=True)
"""

ARGS = None
STARTED = None
RAW = []  # the lines printed, for the result file


class SynFloodBench(fl.SynFloodTest):
    test_flood_with_synproxy = None
    test_flood_without_synproxy_fills_the_table = None
    test_automatic_defence_switches_on_and_off = None

    def _stats(self):
        return json.loads(self.ctl("stats", "--json"))

    def _workload(self):
        p = nf.subprocess.Popen(
            ["ip", "netns", "exec", nf.NS_C, "/usr/bin/python3", "-c",
             WORKLOAD % (nf.SERVER, fl.PORT, ARGS.work_seconds)],
            stdout=nf.subprocess.PIPE, stderr=nf.subprocess.PIPE)
        out, err = p.communicate(timeout=120 + 4 * ARGS.work_seconds)
        try:
            return json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": (out + err).decode(errors="replace")[-500:]}

    def _phase(self, name, rate_pps, flood=True):
        before = self._stats()
        gen = self._flood(ARGS.seconds, rate_pps) if flood else None
        if gen is not None:
            time.sleep(1.0)  # let the flood reach its rate first
        work = self._workload() if name != "absorb" else {}
        sent = 0
        if gen is not None:
            sent, _ = self._gen_result(gen, ARGS.seconds)
        after = self._stats()
        syn0, syn1 = before.get("synproxy", {}), after.get("synproxy", {})
        cookies = syn1.get("cookies_sent", 0) - syn0.get("cookies_sent", 0)
        ct = after["conntrack"]
        row = {"phase": name, "rate_cap_pps": rate_pps, "gen_sent": sent,
               "flood_seconds": ARGS.seconds if flood else 0,
               "cookies_per_s": round(cookies / ARGS.seconds) if flood else 0,
               "ct_drops": sum(ct[w]["drop"] for w in ct if w.startswith("worker")),
               "table": int(self.ctl("conntrack", "-C").strip())}
        row.update(work)
        line = "synflood-bench: " + " ".join("%s=%s" % (k, (round(v, 2) if isinstance(v, float)
                                                           else v)) for k, v in row.items())
        print(line, flush=True)
        RAW.append(line)
        return row

    def test_bench(self):
        rows = []
        self._start_synproxy(1 << 20)
        absorb = self._phase("absorb", 0)
        rows.append(absorb)
        rate = max(absorb["cookies_per_s"], 1000)
        rows.append(self._phase("baseline", 0, flood=False))
        rows.append(self._phase("flood_50", rate // 2))
        rows.append(self._phase("flood_100", rate))
        self._load_rules("control.nft", sp.RULESET + (
            "table ip flooddrop {\n\tchain prerouting {\n\t\ttype filter hook prerouting "
            "priority raw - 5;\n\t\tip saddr 10.99.0.0/16 drop\n\t}\n}\n"))
        rows.append(self._phase("control", rate))
        # The same flood with no defence: a fresh ctgate, no synproxy rules.
        self.daemon.stop(grace=10)
        for p in self.procs:
            nf.stop_pid(p)
        self.procs = []
        nf.ct.cleanup_prefix(self.prefix)
        self._start(65536, loose=True)
        self._ping(nf.SERVER)
        self._server()
        rows.append(self._phase("no_defence", rate))

        table = ["", "%-11s %10s %10s %11s %10s %10s %8s %9s %8s" % (
            "phase", "cap pps", "sent/s", "cookies/s", "bulk MB/s", "conn ok", "conn/s",
            "ct drops", "table")]
        for r in rows:
            table.append("%-11s %10s %10d %11d %10s %10s %8s %9d %8d" % (
                r["phase"], r["rate_cap_pps"] or ("max" if r["flood_seconds"] else "-"),
                r["gen_sent"] / ARGS.seconds, r["cookies_per_s"],
                "%.1f" % r["bulk_mb_s"] if "bulk_mb_s" in r else "-",
                "%d/%d" % (r["conn_ok"], r["conn_tried"]) if "conn_ok" in r else "-",
                "%.0f" % r["conn_per_s"] if "conn_per_s" in r else "-", r["ct_drops"],
                r["table"]))
        print("\n".join(table))
        self._record(rows, table)

    def _record(self, rows, table):
        phases = [dict(r, sent_per_s=round(r["gen_sent"] / ARGS.seconds)) for r in rows]
        command = " ".join(["sudo", "python3", "bench/synflood_bench.py"] + sys.argv[1:])
        try:
            path = bench_result.write_result(
                "synflood", command, RAW + table, {"phases": phases}, date=STARTED,
                params={"seconds": ARGS.seconds, "work_seconds": ARGS.work_seconds},
                statistic="one run")
            print("result file: %s" % os.path.relpath(path), file=sys.stderr)
        except (OSError, ValueError) as e:
            print("synflood_bench: could not write a result file: %s" % e, file=sys.stderr)


def main():
    global ARGS, STARTED
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10, help="flood length per phase")
    ap.add_argument("--work-seconds", type=float, default=3,
                    help="length of each half of the legitimate workload")
    ARGS = ap.parse_args()
    STARTED = bench_result.utc_now()
    if os.geteuid() != 0:
        sys.exit("synflood_bench: needs root (namespaces, hugepages)")
    reason = fl.skip_reason()
    if reason:
        sys.exit("synflood_bench: " + reason)
    suite = unittest.TestSuite([SynFloodBench("test_bench")])
    res = unittest.TextTestRunner(verbosity=0).run(suite)
    sys.exit(0 if res.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
