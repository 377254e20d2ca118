#!/usr/bin/python3
"""ctgate soak: a long run under churn, floods, reloads, flushes and scans (issue 11).

ctgate runs with three net_memif ports, conntrack on, tcp_loose off and a synproxy ruleset.
For --seconds (600 by default), all at once:

- ctgate-gen sends 400k UDP packets/s into `lan`, a quarter of them from a new flow
  (a new source port): 100k new flows/s with geometric lifetimes. The table (max 131072)
  fills within seconds and stays full: early drop from then on;
- a second ctgate-gen floods `flood` with spoofed SYNs (1M sources, 200k/s) for 5 s of
  every minute (first at 20 s), at the synproxy-protected port;
- `ruleset load` once a second, alternating two rulesets;
- `conntrack -D` with a filter, then `conntrack -F`, every 10 s;
- `conntrack -L` scans back to back, the whole time.

ctgate's worker gets the last CPU to itself; the generators, this driver, ctgatectl and
ctgate's main lcore share the others (on a 2-core machine: CPU 0), so the heartbeat
measures ctgate rather than the scheduler. Every 10 s it samples mbufs in use, the table's count, the process's RSS and the worker's
longest loop gap (its heartbeat). At the end (traffic stopped) it checks:

- mbufs in use are back to the baseline taken before any traffic;
- the table's count equals a full scan;
- the heap's live bytes, idle at the end, are at most 1 MiB above their floor after
  warm-up (the lowest sample of the first half after the first fifth, at least 20 s), and
  RSS at most 16 MiB (it also holds what the allocator keeps): scans and reloads allocate
  transiently, a leak raises the floor;
- the worker's longest loop gap stays under --max-stall-ms (0: report only; CI runs
  report only, as timing on a shared machine is not a test);
- no reload, delete, flush or scan failed; ctgate exits 0 on SIGINT; its log has no
  error or warning besides the expected table-full lines.

It prints a summary table and writes samples.csv, soak.svg (RSS and table count over
time), summary.txt, the logs and the exact commands to --out.

    bench/soak.sh                       # 10 minutes
    bench/soak.sh --seconds 60 --ci     # the CI version
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import ctgate_test as ct  # noqa: E402

PID = os.getpid()
PREFIX = "ctgate-soak-%d" % PID
GEN_PREFIX, FLOOD_PREFIX = "ctg-soak-gen-%d" % PID, "ctg-soak-flood-%d" % PID
SOCKS = ["/tmp/ctg-soak-%d-%s.sock" % (PID, n) for n in ("lan", "wan", "flood")]
GEN_MAC, FLOOD_MAC = "02:fe:00:00:00:02", "02:fe:00:00:00:03"
LAN_MAC, WAN_MAC, FLOOD_GW_MAC = "02:fe:00:00:01:01", "02:fe:00:00:01:02", "02:fe:00:00:01:03"
CT_MAX = 131072
SYNPROXY_PORT = 8080

RULESET = """flush ruleset
table ip raw {
	chain pre {
		type filter hook prerouting priority raw;
		tcp dport %(port)d tcp flags syn notrack
	}
}
table ip filter {
	set blocked {
		type ipv4_addr
		flags interval
		elements = { 192.0.2.0/24, %(extra)s }
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ip saddr @blocked counter drop
		tcp dport %(port)d ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		ct state invalid counter drop
		ct state established,related counter accept
		%(udp_rule)s
	}
}
"""
RULESETS = [
    RULESET % {"port": SYNPROXY_PORT, "extra": "198.51.100.1", "udp_rule":
               "iifname \"lan\" udp dport 9 counter accept"},
    RULESET % {"port": SYNPROXY_PORT, "extra": "203.0.113.0/25", "udp_rule":
               "iifname \"lan\" ct state new udp dport { 9, 10 } counter accept"},
]
EXPECTED_LOG = [r"nf_conntrack: table full, dropping packet", r"ruleset .* loaded",
                r"synproxy"]


def build_file(*parts):
    return os.path.join(ct.build_dir(), *parts)


class Soak:
    def __init__(self, args):
        self.a = args
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.commands = []
        self.procs = []
        self.stop = threading.Event()
        self.failures = {"reload": 0, "delete": 0, "scan": 0, "sample": 0, "flood": 0}
        self.flood_sent = 0
        self.counts = {"reload": 0, "delete": 0, "flush": 0, "scan": 0, "floods": 0}
        self.deleted = 0
        self.samples = []
        self.errors = []
        self.t0 = None
        self.huge = not args.no_huge and self._hugepages_free() >= 400
        # The worker's CPU (the last one) is left to it alone when there are few:
        # the generators, this driver, ctgatectl and ctgate's main lcore share the
        # others. Otherwise a busy generator on the worker's CPU takes scheduler
        # slices from it, and the heartbeat measures the scheduler, not ctgate.
        ncpu = os.cpu_count() or 1
        self.worker_cpu = ncpu - 1
        others = set(range(ncpu - 1)) or {0}
        self.gen_lcores = "0@%d,1@%d" % (min(others), max(others))
        os.sched_setaffinity(0, others)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _hugepages_free():
        try:
            with open("/proc/meminfo") as f:
                m = re.search(r"HugePages_Free:\s+(\d+)", f.read())
            return int(m.group(1)) if m else 0
        except OSError:
            return 0

    def ctl(self, *args, timeout=30):
        p = ct.run_ctl(PREFIX, *args, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def ctl_json(self, *args):
        rc, out, err = self.ctl("--json", *args)
        if rc != 0:
            raise RuntimeError("ctgatectl %s: %s" % (" ".join(args), err.strip()))
        return json.loads(out)

    def raw(self, cmd):
        return self.ctl_json("raw", cmd)[cmd]

    def spawn(self, cmd, log, **kw):
        self.commands.append(" ".join(cmd))
        f = open(os.path.join(self.out, log), "wb")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             **kw)
        self.procs.append(p)
        return p

    def elapsed(self):
        return time.monotonic() - self.t0

    # ------------------------------------------------------------------ ctgate
    def write_config(self):
        ports = [{"name": n, "devargs": "net_memif%d,role=server,socket=%s,socket-abstract=no,"
                  "mac=%s" % (i, s, m), "address": a}
                 for i, (n, s, m, a) in enumerate(zip(
                     ("lan", "wan", "flood"), SOCKS, (LAN_MAC, WAN_MAC, FLOOD_GW_MAC),
                     ("10.1.0.1/16", "10.2.0.1/16", "10.98.0.1/24")))]
        cfg = ct.make_config(
            PREFIX, ports,
            routes=[{"prefix": "198.18.0.0/15", "via": "10.2.0.254", "port": "wan"},
                    {"prefix": "10.99.0.0/16", "via": "10.98.0.2", "port": "flood"}],
            neighbors=[{"address": "10.2.0.254", "mac": GEN_MAC, "port": "wan"},
                       {"address": "10.98.0.2", "mac": FLOOD_MAC, "port": "flood"}],
            conntrack={"enable_hooks": True, "max": CT_MAX, "tcp_loose": False},
            no_huge=not self.huge, memory_mb=768, mbufs=16384,
            lcores="0@%d,1@%d" % (0, self.worker_cpu))
        cfg["ports"] = [dict(p, rx_desc=1024, tx_desc=1024) for p in cfg["ports"]]
        self.rules = []
        for i, text in enumerate(RULESETS):
            path = os.path.join(self.out, "ruleset-%d.nft" % i)
            with open(path, "w") as f:
                f.write(text)
            self.rules.append(path)
        cfg["ruleset"] = self.rules[0]
        return ct.write_config(os.path.join(self.out, "ctgate.yaml"), cfg)

    def start_ctgate(self):
        for s in SOCKS:
            if os.path.exists(s):
                os.unlink(s)
        cmd = ct.ctgate_cmd(self.write_config(), run_seconds=self.a.seconds + 300)
        self.ctgate = self.spawn(cmd, "ctgate.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.ctgate.poll() is not None:
                raise RuntimeError("ctgate exited at start: see %s/ctgate.log" % self.out)
            if "ctgate running" in self.log():
                return
            time.sleep(0.2)
        raise RuntimeError("ctgate did not start within 60 s")

    def log(self):
        with open(os.path.join(self.out, "ctgate.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.ctgate.pid) as f:
                return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            return 0

    # ------------------------------------------------------------------ traffic
    def gen_cmd(self, prefix, socks, lcores, seconds, extra, huge=True):
        eal = ["--no-pci", "--file-prefix", prefix, "--lcores", lcores, "-m", "256"]
        if not (self.huge and huge):
            eal.append("--no-huge")
        for i, s in enumerate(socks):
            eal += ["--vdev", "net_memif%d,role=client,socket=%s,socket-abstract=no" % (i, s)]
        return [build_file("bench", "ctgate-gen"), "--seconds", str(seconds), "--warmup", "0",
                *extra, "--", *eal]

    def start_churn(self):
        extra = ["--proto", "udp", "--flows", "65536", "--rate-pps", str(self.a.rate_pps),
                 "--churn", str(self.a.churn), "--src-ip", "10.1.1.0", "--dst-ip",
                 "198.18.0.10", "--dst-port", "9", "--src-mac", GEN_MAC, "--dst-mac", LAN_MAC,
                 "--tx-port", "0", "--rx-port", "1"]
        self.churn = self.spawn(self.gen_cmd(GEN_PREFIX, SOCKS[:2], self.gen_lcores,
                                             self.a.seconds, extra), "gen-churn.log")

    def flood_once(self):
        extra = ["--proto", "tcp", "--tcp-syn", "--flows", str(1 << 20), "--rate-pps",
                 str(self.a.flood_pps), "--src-ip", "10.99.0.0", "--dst-ip", "198.18.0.20",
                 "--dst-port", str(SYNPROXY_PORT), "--src-mac", FLOOD_MAC, "--dst-mac",
                 FLOOD_GW_MAC, "--tx-port", "0", "--rx-port", "0"]
        # No hugepages for the flood: ctgate and the churn generator may hold them all.
        log = "gen-flood-%d.log" % self.counts["floods"]
        p = self.spawn(self.gen_cmd(FLOOD_PREFIX, SOCKS[2:], self.gen_lcores, 5, extra,
                                    huge=False), log)
        self.counts["floods"] += 1
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            ct.stop_pid(p)
        ct.cleanup_prefix(FLOOD_PREFIX)
        with open(os.path.join(self.out, log), "rb") as f:
            m = re.search(rb"gen: sent=(\d+)", f.read())
        if m is None or int(m.group(1)) == 0:
            raise RuntimeError("the SYN flood sent nothing (see %s)" % log)
        self.flood_sent += int(m.group(1))

    # ------------------------------------------------------------------ load
    def failed(self, name, e):
        """Counts a failed operation; the first 20 are kept for the summary."""
        self.failures[name] += 1
        if len(self.errors) < 20:
            self.errors.append("%s at %.0f s: %s" % (name, self.elapsed(), e))

    def loop(self, name, every, body):
        def run():
            next_t = time.monotonic()
            while not self.stop.is_set():
                try:
                    body()
                except Exception as e:  # noqa: BLE001 - counted and reported
                    self.failed(name, e)
                next_t += every
                self.stop.wait(max(0.0, next_t - time.monotonic()))
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        return t

    def reload(self):
        path = self.rules[self.counts["reload"] % 2]
        self.counts["reload"] += 1
        rc, _, err = self.ctl("ruleset", "load", path)
        if rc != 0:
            raise RuntimeError(err.strip()[:200])

    def delete_and_flush(self):
        port = random.randrange(1024, 65536)
        rc, out, err = self.ctl("conntrack", "-D", "-p", "udp", "--sport", str(port))
        self.counts["delete"] += 1
        if rc != 0:
            raise RuntimeError(err.strip()[:200])
        m = re.search(r"(\d+) flow entr", out + err)
        self.deleted += int(m.group(1)) if m else 0
        rc, _, err = self.ctl("conntrack", "-F")
        self.counts["flush"] += 1
        if rc != 0:
            raise RuntimeError("flush: " + err.strip()[:200])

    def scan(self):
        rc, out, err = self.ctl("conntrack", "-L", timeout=120)
        self.counts["scan"] += 1
        if rc != 0:
            raise RuntimeError(err.strip()[:200])

    def flood_loop(self):
        start = min(20.0, self.a.seconds / 3)
        while not self.stop.wait(max(0.0, start - self.elapsed())):
            if self.elapsed() + 5 > self.a.seconds:
                return
            try:
                self.flood_once()
            except Exception as e:  # noqa: BLE001 - counted and reported
                self.failed("flood", e)
            start += 60.0

    def sample(self):
        info = self.raw("/ctgate/info")
        workers = self.raw("/ctgate/workers")
        stats = self.ctl_json("conntrack", "-S")
        count = int(self.raw("/ctgate/conntrack/count")["count"])
        early = sum(w.get("early_drop", 0) for w in stats.values() if isinstance(w, dict))
        drop = sum(w.get("drop", 0) for w in stats.values() if isinstance(w, dict))
        gap = max(w.get("loop_gap_max_us", 0) for w in workers.values())
        self.samples.append({
            "t": round(self.elapsed(), 1), "rss_kib": self.rss_kib(),
            "heap_kib": info["heap_in_use_bytes"] // 1024, "ct_count": count,
            "mbufs_in_use": info["mbufs_in_use"], "early_drop": early, "ct_drop": drop,
            "loop_gap_max_us": gap, "reloads": self.counts["reload"],
            "scans": self.counts["scan"]})
        s = self.samples[-1]
        print("soak: t=%5.0fs rss=%6.1f MiB heap=%6.1f MiB ct=%6d mbufs=%5d early_drop=%9d gap_max=%6.1f ms "
              "reloads=%d scans=%d" % (s["t"], s["rss_kib"] / 1024, s["heap_kib"] / 1024, count, s["mbufs_in_use"],
                                       early, gap / 1000, s["reloads"], s["scans"]),
              flush=True)

    # ------------------------------------------------------------------ the run
    def run(self):
        self.start_ctgate()
        self.t0 = time.monotonic()
        baseline = self.raw("/ctgate/info")["mbufs_in_use"]
        self.sample()
        self.start_churn()
        threads = [self.loop("reload", 1.0, self.reload),
                   self.loop("delete", 10.0, self.delete_and_flush),
                   self.loop("scan", 0.0, self.scan),
                   self.loop("sample", 10.0, self.sample)]
        flood = threading.Thread(target=self.flood_loop, daemon=True)
        flood.start()
        try:
            self.churn.wait(timeout=self.a.seconds + 120)
        except subprocess.TimeoutExpired:
            ct.stop_pid(self.churn)
        self.stop.set()
        for t in threads + [flood]:
            t.join(timeout=180)
        ct.cleanup_prefix(GEN_PREFIX)
        time.sleep(2)  # in-flight frames drain; the worker polls an idle port
        self.sample()
        final = self.final_checks(baseline)
        self.ctgate.send_signal(signal.SIGINT)
        try:
            exit_code = self.ctgate.wait(timeout=60)
        except subprocess.TimeoutExpired:
            ct.stop_pid(self.ctgate)
            exit_code = None
        ct.cleanup_prefix(PREFIX)
        for s in SOCKS:
            if os.path.exists(s):
                os.unlink(s)
        final["exit"] = (exit_code == 0, "ctgate exit code %s after SIGINT" % exit_code)
        bad = [l for l in self.log().splitlines() if re.match(r"^[EWF]\d{8} ", l)
               and not any(re.search(p, l) for p in EXPECTED_LOG)]
        final["log"] = (not bad, "%d unexpected error/warning lines%s" % (
            len(bad), (": " + bad[0][:160]) if bad else ""))
        return self.report(final)

    def final_checks(self, baseline):
        last = self.samples[-1]
        checks = {}
        in_use = self.raw("/ctgate/info")["mbufs_in_use"]
        checks["mbufs"] = (in_use == baseline, "mbufs in use %d, baseline %d" % (in_use,
                                                                              baseline))
        # Traffic has stopped, but entries still expire: a count, a scan, a count, until
        # the two counts agree (bounded).
        agree = False
        tries = []
        for _ in range(10):
            c1 = int(self.raw("/ctgate/conntrack/count")["count"])
            rc, out, _ = self.ctl("conntrack", "-L", timeout=120)
            c2 = int(self.raw("/ctgate/conntrack/count")["count"])
            lines = len(out.splitlines()) if rc == 0 else -1
            tries.append("%d/%d/%d" % (c1, lines, c2))
            if c1 == c2:
                agree = True
                break
        checks["table"] = (agree and lines == c1,
                           "count %d, scan %d lines%s" % (
                               c1, lines, "" if len(tries) == 1 else
                               " (count/scan/count: %s)" % " ".join(tries)))
        # Scans and reloads allocate transiently (a 131k-entry listing is tens of MiB),
        # so single samples jump. A leak raises the floor: the end, idle, against the
        # lowest sample of the first half after warm-up. The heap's live bytes are the
        # leak check (1 MiB); RSS also holds what the allocator keeps after frees, so
        # it gets a looser bound (16 MiB).
        warm_t = max(20.0, self.a.seconds / 5)
        half = [s for s in self.samples[1:-1] if warm_t <= s["t"] <= (warm_t + self.a.seconds) / 2]
        for key, what, bound in (("heap_kib", "heap in use", 1024), ("rss_kib", "RSS", 16384)):
            if not half:
                checks[key[:-4]] = (False, "no sample after warm-up")
                continue
            floor, end = min(s[key] for s in half), last[key]
            peak = max(s[key] for s in self.samples)
            checks[key[:-4]] = (end - floor <= bound,
                                "%s at the end %.1f MiB vs floor after warm-up %.1f MiB (%+.1f, "
                                "bound %d); peak %.1f MiB" % (
                                    what, end / 1024, floor / 1024, (end - floor) / 1024,
                                    bound // 1024, peak / 1024))
        gap_ms = last["loop_gap_max_us"] / 1000
        if self.a.max_stall_ms:
            checks["heartbeat"] = (gap_ms <= self.a.max_stall_ms,
                                   "worker's longest loop gap %.1f ms (limit %d)" % (
                                       gap_ms, self.a.max_stall_ms))
        else:
            checks["heartbeat"] = (True, "worker's longest loop gap %.1f ms (reported, not "
                                   "checked)" % gap_ms)
        fails = sum(self.failures.values())
        cookies = self.ctl_json("synproxy", "stats").get("cookies_sent", 0)
        checks["operations"] = (fails == 0 and self.counts["reload"] > 0 and
                                self.counts["scan"] > 0 and
                                (cookies > 0 or self.a.seconds < 30),
                                "%d reloads, %d deletes (%d entries), %d flushes, %d scans, "
                                "%d floods (%d SYNs, %d cookies sent); %d failed" % (
                                    self.counts["reload"], self.counts["delete"], self.deleted,
                                    self.counts["flush"], self.counts["scan"],
                                    self.counts["floods"], self.flood_sent, cookies, fails))
        checks["table_full"] = (any(s["early_drop"] > 0 or s["ct_count"] >= CT_MAX * 0.9
                                    for s in self.samples),
                                "table reached its maximum: early drops %d, peak count %d" % (
                                    last["early_drop"], max(s["ct_count"] for s in self.samples)))
        return checks

    def report(self, checks):
        with open(os.path.join(self.out, "samples.csv"), "w") as f:
            keys = list(self.samples[0].keys())
            f.write(",".join(keys) + "\n")
            for s in self.samples:
                f.write(",".join(str(s[k]) for k in keys) + "\n")
        write_svg(os.path.join(self.out, "soak.svg"), self.samples)
        lines = ["soak: %d s, %d pps churn x %.2f, flood %d pps for 5 s/min, %s" % (
            self.a.seconds, self.a.rate_pps, self.a.churn, self.a.flood_pps,
            "hugepages" if self.huge else "no hugepages")]
        try:
            with open(os.path.join(self.out, "gen-churn.log"), "rb") as f:
                m = re.search(rb"gen: sent=(\d+) received=(\d+) seconds=([\d.]+)", f.read())
            sent, secs = int(m.group(1)), float(m.group(3))
            lines.append("achieved: %.0f pps sent, %.0f new flows/s; worker on CPU %d alone" % (
                sent / secs, sent / secs * self.a.churn, self.worker_cpu))
        except (OSError, AttributeError, ZeroDivisionError):
            lines.append("achieved: (no generator summary in gen-churn.log)")
        lines.append("")
        lines.append("%-12s %-6s %s" % ("check", "result", "detail"))
        for name, (ok, detail) in checks.items():
            lines.append("%-12s %-6s %s" % (name, "ok" if ok else "FAIL", detail))
        lines += [""] + self.errors[:10]
        lines.append("")
        lines.append("commands:")
        lines += ["  " + c for c in self.commands[:4]]
        lines.append("results: %s (samples.csv, soak.svg, logs)" % self.out)
        passed = sum(1 for ok, _ in checks.values() if ok)
        failed = len(checks) - passed
        lines.append("%d passed, %d failed" % (passed, failed))
        text = "\n".join(lines)
        print(text)
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(text + "\n")
        return failed == 0

    def cleanup(self):
        self.stop.set()
        for p in self.procs:
            ct.stop_pid(p)
        for pfx in (PREFIX, GEN_PREFIX, FLOOD_PREFIX):
            ct.cleanup_prefix(pfx)
        for s in SOCKS:
            if os.path.exists(s):
                os.unlink(s)


def write_svg(path, samples):
    """RSS (MiB) and table count over time, two polylines on one plot, no dependency."""
    w, h, pad = 720, 300, 50
    t_max = max(s["t"] for s in samples) or 1

    def series(key, scale, color, label, y_label_x):
        vmax = max(s[key] * scale for s in samples) or 1
        pts = " ".join("%.1f,%.1f" % (pad + s["t"] / t_max * (w - 2 * pad),
                                      h - pad - s[key] * scale / vmax * (h - 2 * pad))
                       for s in samples)
        return ('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                '<text x="%d" y="%d" fill="%s" font-size="12">%s (max %.1f)</text>' % (
                    color, pts, y_label_x, pad - 20, color, label, vmax))
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad, h - pad, w - pad,
                                                                         h - pad),
           '<text x="%d" y="%d" font-size="12">time, s (0 .. %.0f)</text>' % (
               w // 2 - 40, h - 15, t_max),
           series("rss_kib", 1 / 1024, "#c03020", "RSS MiB", pad),
           series("ct_count", 1, "#2050c0", "conntrack entries", w // 2),
           "</svg>"]
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=600)
    p.add_argument("--rate-pps", type=int, default=400000)
    p.add_argument("--churn", type=float, default=0.25)
    p.add_argument("--flood-pps", type=int, default=200000)
    p.add_argument("--max-stall-ms", type=int, default=10,
                   help="fail if the worker's longest loop gap exceeds this (0: report only)")
    p.add_argument("--ci", action="store_true", help="report the heartbeat, do not check it")
    p.add_argument("--no-huge", action="store_true")
    p.add_argument("--out", default="/tmp/ctgate-soak/%s" % time.strftime("%Y%m%d-%H%M%S"))
    a = p.parse_args()
    if a.ci:
        a.max_stall_ms = 0
    for b in (ct.ctgate_binary(), build_file("bench", "ctgate-gen")):
        if not os.access(b, os.X_OK):
            print("soak: %s not built (meson setup build && ninja -C build)" % b)
            print("0 passed, 1 failed")
            return 1
    # Ctrl-C or SIGTERM: stop the run and clean up like any other end.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    s = Soak(a)
    try:
        ok = s.run()
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - the run's failure
        print("soak: %s" % (e or "interrupted"))
        print("0 passed, 1 failed")
        ok = False
    finally:
        s.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
