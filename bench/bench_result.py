#!/usr/bin/python3
"""Bench result files: one JSON file per bench run under bench/results/.

  bench/results/YYYY-MM-DD_<commit7>_<kind>[_N].json

The bench scripts write them at the end of a run (bench/run_fwd_bench.sh,
run_cycles.sh, run_syn_cycles.sh, run_ruleset.sh, synflood_bench.py) and
bench/render_report.py renders docs/bench.md from the newest of each kind.
The format is described in docs/bench.md#result-files. Top-level fields:

  format      "ctgate-bench-result/1"
  kind        fwd, cycles, syn_cycles, ruleset, synflood; a suffix marks a
              variant that is not the headline setup: _nohuge (4 KiB pages),
              _tcp / _tcp-syn (--proto), _nocksum (--ct_checksum=false)
  date        start of the run, UTC, "YYYY-MM-DDTHH:MM:SSZ" (a transcribed
              result may have only the day; date_basis then says why)
  commit      the ctgate commit measured (7 hex digits, or "unknown");
              dirty: true when the tree had uncommitted changes
  source      "run", or "transcribed from docs/bench.md at commit ..."
  command     the command line, as run from the top of the tree
  host        nproc, cpu_model, kernel, hugepages, tsc_hz (when known)
  params      what the command line set (window, repeat, flows, ...)
  statistic   how the figures were reduced: "median of 5 runs", ...
  raw         the lines the tool printed (transcribed results: the rows
              of docs/bench.md they come from)
  figures     the parsed figures, per kind (see the parse_* functions)
  notes       free text

Writing one from a bench script:

  bench/bench_result.py write --tool cycles|syn_cycles|fwd|ruleset \\
      --raw FILE --command CMD [--started ISO] [--commit REV] [--log-dir DIR] \\
      [--param K=V]... [--summary]

--tool picks the parser; the kind follows from it and from the output
(hugepages or not, protocol). The file name is printed on stderr.
Only the standard library is used (Debian's /usr/bin/python3 runs it).
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

FORMAT = "ctgate-bench-result/1"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")

_RUN_PREFIX = re.compile(r"^run=(\d+)\s+")


# ---- small helpers ----

def num(s):
    """'12.5' -> 12.5, '7' -> 7, 'none'/'-'/'' -> None; anything else stays a string."""
    if s is None:
        return None
    if isinstance(s, (int, float)):
        return s
    s = s.strip()
    if s in ("", "-", "none", "FAIL", "?"):
        return None
    try:
        if re.fullmatch(r"[+-]?\d+", s):
            return int(s)
        return float(s)
    except ValueError:
        return s


def kv_fields(text):
    """'a=1 b=x c=2.5' -> {'a': 1, 'b': 'x', 'c': 2.5}."""
    out = {}
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = num(v)
    return out


def median(values):
    v = [x for x in values if isinstance(x, (int, float))]
    if not v:
        return None
    m = statistics.median(v)
    return round(m, 4) if isinstance(m, float) else m


def split_runs(lines):
    """Lines prefixed 'run=N ' (the wrappers' runs) -> [(run, line)]; no prefix: run 1."""
    out = []
    for line in lines:
        m = _RUN_PREFIX.match(line)
        if m:
            out.append((int(m.group(1)), line[m.end():]))
        else:
            out.append((1, line))
    return out


# ---- parsers ----

def parse_cycles(lines):
    """ctgate-bench-cycles output (one or more runs, 'run=N ' prefixes) ->
    {tsc_hz, memory, proto, ct_checksum, runs, cases: [...]}.

    One entry per (case, flows) ('max' for the bytes cases), in order of
    first appearance: runs (how many runs printed it), values (the median
    over runs of every numeric field the tool printed), per_run (the
    per-run values of the main fields), and for ct_est / syn_* / ack_forged
    the ratio to the same run's baseline (plain at the same flow count,
    syn_plain): x_plain / x_syn_plain (median of the per-run ratios),
    with cycles_best (the lowest per-run figure) and x_syn_plain_best
    (best over best plain), as bench/run_syn_cycles.sh prints them."""
    head = {}
    rows = {}     # (case, flows) -> {run: fields}
    order = []
    runs = set()
    for run, line in split_runs(lines):
        if not line.startswith("bench-cycles: "):
            continue
        f = kv_fields(line[len("bench-cycles: "):])
        if "tsc_hz" in f:
            head = head or f  # every run prints it; the first one describes the setup
            continue
        if "case" not in f:
            continue
        key = (f["case"], f.get("flows", f.get("max")))
        if key not in rows:
            rows[key] = {}
            order.append(key)
        rows[key][run] = f
        runs.add(run)
    cases = []
    for key in order:
        per = rows[key]
        case, flows = key
        fields = []
        for f in per.values():
            for k, v in f.items():
                if isinstance(v, (int, float)) and k not in fields and k not in ("flows", "max"):
                    fields.append(k)
        entry = {"case": case, "flows": flows, "runs": len(per),
                 "values": {k: median([f.get(k) for f in per.values()]) for k in fields}}
        if "cycles_per_pkt" in fields:
            entry["per_run"] = {"cycles_per_pkt": [per[r].get("cycles_per_pkt")
                                                   for r in sorted(per)]}
            entry["cycles_best"] = min(f["cycles_per_pkt"] for f in per.values()
                                       if isinstance(f.get("cycles_per_pkt"), (int, float)))
        base = None
        if case == "ct_est":
            base = ("plain", flows, "x_plain")
        elif case.startswith("syn_") and case != "syn_plain" or case == "ack_forged":
            base = ("syn_plain", None, "x_syn_plain")
        if base is not None:
            bkey = next((k for k in order if k[0] == base[0] and
                         (base[1] is None or k[1] == base[1])), None)
            if bkey is not None:
                bper = rows[bkey]
                ratios = [per[r]["cycles_per_pkt"] / bper[r]["cycles_per_pkt"]
                          for r in sorted(per) if r in bper and bper[r].get("cycles_per_pkt")]
                if ratios:
                    entry[base[2]] = round(statistics.median(ratios), 3)
                    entry["per_run"][base[2]] = [round(x, 3) for x in ratios]
                bbest = min(f["cycles_per_pkt"] for f in bper.values())
                entry[base[2] + "_best"] = round(entry["cycles_best"] / bbest, 3)
        cases.append(entry)
    return {"tsc_hz": head.get("tsc_hz"), "memory": head.get("memory"),
            "proto": head.get("proto"), "ct_checksum": head.get("ct_checksum"),
            "runs": len(runs), "cases": cases}


def cycles_kind(base, fig):
    kind = base
    if fig.get("memory") not in (None, "hugepages"):
        kind += "_nohuge"
    if fig.get("proto") not in (None, "udp"):
        kind += "_" + str(fig["proto"])
    if fig.get("ct_checksum") == 0:
        kind += "_nocksum"
    return kind


_GEN_RUN = re.compile(r"^\s+([a-z0-9]+)-(\d+)(?:\.retry(\d+))?: gen: (.*)$")
_PMD = re.compile(r"^\s+([a-z0-9]+)-(\d+)(?:\.retry(\d+))?: pmd avg processing cycles per packet: "
                  r"([0-9.]+)")
_FWD_LABEL = {"testpmd": "testpmd io", "plain": "ctgate plain", "ct1k": "ctgate conntrack",
              "ctbig": "ctgate conntrack", "ovsplain": "OVS-DPDK output",
              "ovsct1k": "OVS-DPDK ct(commit)", "ovsctbig": "OVS-DPDK ct(commit)",
              "masq1k": "ctgate masquerade", "masqbig": "ctgate masquerade",
              "ovsmasq1k": "OVS-DPDK ct(commit,nat(src))",
              "ovsmasqbig": "OVS-DPDK ct(commit,nat(src))"}


def parse_fwd(lines):
    """bench/run_fwd_bench.sh's results file -> {proto, params, cases, pairs, cycles}.

    cases: one per forwarder as in its summary ('fwd-bench:' lines): mpps
    (median of the runs), best, quiet (median of the runs where both pollers
    had >= 95% of their CPU), mpps_per_fwd_cpu, ratio / quiet_ratio /
    per_cpu_ratio (to testpmd's figure of the same run), and runs: every
    run's rx Mpps, CPU shares, quiet flag and (OVS) pmd cycles/packet.
    pairs: the same-run ratios of two forwarders at one flow count
    ('fwd-bench-pair:' lines: ctgate / OVS, masquerade / conntrack alone):
    a, b, flows, ratio (medians), quiet_ratio, per_cpu_ratio.
    cycles: the ctgate-bench-cycles sections, {"nohuge": ..., "huge": ...},
    each as parse_cycles()."""
    params, runs, pmd, summary, pairs = {}, {}, {}, [], []
    sections, mode = {}, None
    for line in lines:
        m = re.match(r"^# dpdk (\S*), ctgate (.*), build (\S+), nice (\S+)$", line)
        if m:
            params.update(dpdk=m.group(1) or None, rev=m.group(2), build=m.group(3),
                          nice=num(m.group(4)))
        # ctgate-gen: "# udp, 64-byte frames, ..."; pktgen (--generator pktgen): "# pktgen_udp,
        # pktgen frames, rate 100%, ...", the profile's name after "pktgen_".
        m = re.match(r"^# (\w+), (?:64-byte|pktgen) frames(?:, rate (\S+)%)?, (\S+)s window "
                     r"after (\S+)s warm-up, repeat (\d+), retries (\d+), logs in (\S+)", line)
        if m:
            params.update(proto=m.group(1), seconds=num(m.group(3)), warmup=num(m.group(4)),
                          repeat=num(m.group(5)), retries=num(m.group(6)), log_dir=m.group(7))
            if m.group(2) is not None:
                params.update(generator="pktgen", rate_percent=num(m.group(2)))
        m = re.match(r"^# ctgate-bench-cycles \((\w+);", line)
        if m:
            mode = m.group(1)
            sections[mode] = []
            continue
        if mode is not None and line.startswith("bench-cycles: "):
            sections[mode].append(line)
            continue
        m = _GEN_RUN.match(line)
        if m:
            f = kv_fields(m.group(4))
            tag = "%s-%s%s" % (m.group(1), m.group(2),
                               ".retry" + m.group(3) if m.group(3) else "")
            fc, gc = f.get("fwd_cpu"), f.get("gen_cpu")
            runs.setdefault(m.group(1), []).append({
                "tag": tag, "mpps": f.get("rx_mpps"), "tx_mpps": f.get("tx_mpps"),
                "fwd_cpu": fc, "gen_cpu": gc,
                "mpps_per_fwd_cpu": f.get("rx_mpps_per_fwd_cpu"),
                "quiet": (fc >= 0.95 and gc >= 0.95)
                if isinstance(fc, (int, float)) and isinstance(gc, (int, float)) else None})
            continue
        m = _PMD.match(line)
        if m:
            tag = "%s-%s%s" % (m.group(1), m.group(2),
                               ".retry" + m.group(3) if m.group(3) else "")
            pmd[tag] = num(m.group(4))
            continue
        if line.startswith("fwd-bench: "):
            summary.append(kv_fields(line[len("fwd-bench: "):]))
        if line.startswith("fwd-bench-pair: "):
            pairs.append(kv_fields(line[len("fwd-bench-pair: "):]))
    cases = []
    for s in summary:
        name = s.get("case")
        rr = runs.get(name, [])
        for r in rr:
            if r["tag"] in pmd:
                r["pmd_cycles_per_pkt"] = pmd[r["tag"]]
        cases.append({"case": name, "flows": s.get("flows"), "label": _FWD_LABEL.get(name, name),
                      "mpps": s.get("mpps") or None, "best": s.get("best") or None,
                      "quiet": s.get("quiet"), "mpps_per_fwd_cpu": s.get("mpps_per_fwd_cpu"),
                      "ratio": s.get("ratio_vs_testpmd"), "quiet_ratio": s.get("quiet_ratio"),
                      "per_cpu_ratio": s.get("per_cpu_ratio"), "runs": rr})
    cycles = {m: parse_cycles(ls) for m, ls in sections.items()}
    tsc = next((c["tsc_hz"] for c in cycles.values() if c.get("tsc_hz")), None)
    return {"proto": params.get("proto", "udp"), "params": params, "tsc_hz": tsc,
            "cases": cases, "pairs": pairs, "cycles": cycles}


_RS_CASE = re.compile(r"^(\w+)\s+([0-9.]+) cycles/pkt(?:.*?load ([0-9.]+) ms)?")
_RS_HEAD = re.compile(r"^ctgate-bench-ruleset: (\d+) flows, (\d+) packets per case, tsc (\d+) Hz")
_RS_RELOAD = re.compile(r"^reload_100k_ms median ([0-9.]+) \(min ([0-9.]+) max ([0-9.]+)\)")


def parse_ruleset(lines):
    """ctgate-bench-ruleset output (one or more runs) -> {flows, packets,
    tsc_hz, memory, runs, cases: [{case, runs, cycles_per_pkt, load_ms,
    per_run}], reload_100k_ms: {median, min, max}}. Figures are medians
    over runs; over-plain / over-ct_only differences are left to readers."""
    head, per, order, reload, runs = {}, {}, [], [], set()
    for run, line in split_runs(lines):
        m = _RS_HEAD.match(line)
        if m:
            head = {"flows": int(m.group(1)), "packets": int(m.group(2)),
                    "tsc_hz": int(m.group(3))}
            runs.add(run)
            continue
        m = _RS_RELOAD.match(line)
        if m:
            reload.append(tuple(float(x) for x in m.groups()))
            continue
        m = _RS_CASE.match(line)
        if m:
            name = m.group(1)
            if name not in per:
                per[name] = {}
                order.append(name)
            per[name][run] = (float(m.group(2)), num(m.group(3)))
    cases = []
    for name in order:
        v = per[name]
        e = {"case": name, "runs": len(v),
             "cycles_per_pkt": median([x[0] for x in v.values()]),
             "per_run": {"cycles_per_pkt": [v[r][0] for r in sorted(v)]}}
        if any(x[1] is not None for x in v.values()):
            e["load_ms"] = median([x[1] for x in v.values()])
        # Differences to the same run's baselines, then their median.
        for base in ("plain", "ct_only"):
            if base in per and name != base and name != "plain":
                d = [v[r][0] - per[base][r][0] for r in sorted(v) if r in per[base]]
                if d:
                    e["over_" + base] = round(statistics.median(d), 2)
        cases.append(e)
    out = dict(head, memory="no-huge (4 KiB pages)", runs=len(runs), cases=cases)
    if reload:
        out["reload_100k_ms"] = {"median": median([r[0] for r in reload]),
                                 "min": min(r[1] for r in reload),
                                 "max": max(r[2] for r in reload)}
    return out


# ---- host, commit, writing ----

def host_info(tsc_hz=None):
    h = {"nproc": os.cpu_count(), "cpu_model": None, "kernel": os.uname().release,
         "hugepages_2m": None, "tsc_hz": tsc_hz}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    h["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") as f:
            h["hugepages_2m"] = int(f.read().strip())
    except (OSError, ValueError):
        pass
    return h


def _git(*args):
    # safe.directory: the scripts run as root in a tree someone else owns.
    # GIT_OPTIONAL_LOCKS=0: status must not write the index (read only).
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        return subprocess.run(["git", "-c", "safe.directory=" + ROOT, "-C", ROOT] + list(args),
                              capture_output=True, text=True, env=env, timeout=30,
                              check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit(rev=None):
    """(commit7, dirty). rev: a revision string as run_fwd_bench.sh logs it
    ('abc1234' or 'abc1234+local changes'); default: from git, or CTGATE_REV."""
    rev = rev or os.environ.get("CTGATE_REV")
    if rev:
        base = rev.split("+")[0].strip() or "unknown"
        return base[:7] if re.fullmatch(r"[0-9a-f]{7,40}", base) else base, "+" in rev
    head = _git("rev-parse", "--short=7", "HEAD")
    if not head:
        return "unknown", None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return head.strip()[:7], (bool(status.strip()) if status is not None else None)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_path(date, commit, kind, out_dir=RESULTS_DIR):
    stem = "%s_%s_%s" % (date[:10], commit, kind)
    path = os.path.join(out_dir, stem + ".json")
    n = 2
    while os.path.exists(path):
        path = os.path.join(out_dir, "%s_%d.json" % (stem, n))
        n += 1
    return path


def dump(result):
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"


def write_result(kind, command, raw, figures, date=None, commit=None, params=None,
                 statistic=None, notes=None, log_dir=None, tsc_hz=None, out_dir=RESULTS_DIR):
    """Writes one result file; returns its path."""
    commit7, dirty = git_commit(commit)
    date = date or utc_now()
    result = {"format": FORMAT, "kind": kind, "date": date, "commit": commit7, "dirty": dirty,
              "source": "run", "command": command, "host": host_info(tsc_hz),
              "params": params or {}, "statistic": statistic, "log_dir": log_dir,
              "notes": notes or [], "raw": raw, "figures": figures}
    os.makedirs(out_dir, exist_ok=True)
    path = result_path(date, commit7, kind, out_dir)
    with open(path, "w") as f:
        f.write(dump(result))
    if os.geteuid() == 0:  # sudo runs: leave the file to whoever owns the tree
        try:
            st = os.stat(HERE)
            for p in (out_dir, path):
                os.chown(p, st.st_uid, st.st_gid)
        except OSError:
            pass
    return path


def load_results(directory=RESULTS_DIR):
    """All result files, oldest first (by date, then file name)."""
    out = []
    if not os.path.isdir(directory):
        return out
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        with open(path) as f:
            r = json.load(f)
        if r.get("format") != FORMAT:
            raise ValueError("%s: not a %s file" % (path, FORMAT))
        r["_file"] = name
        out.append(r)
    out.sort(key=lambda r: (r.get("date", ""), r["_file"]))
    return out


# ---- command line ----

def _summary(tool, fig):
    """A median table for the wrappers' console output."""
    if tool == "cycles":
        print("\nmedian of %d run(s)" % fig["runs"])
        print("%-16s %9s %5s %12s %11s %10s %9s" % ("case", "flows", "runs", "cyc/pkt(med)",
                                                    "cyc(best)", "Mpps/core", "x plain"))
        for c in fig["cases"]:
            v = c["values"]
            if "cycles_per_pkt" not in v:
                continue
            x = c.get("x_plain", c.get("x_syn_plain"))
            print("%-16s %9s %5d %12.1f %11.1f %10s %9s" % (
                c["case"], c["flows"], c["runs"], v["cycles_per_pkt"], c["cycles_best"],
                "%.2f" % v["mpps_per_core"] if v.get("mpps_per_core") else "-",
                "%.2f" % x if x else "-"))
        for c in fig["cases"]:
            v = c["values"]
            if c["case"] == "ct_new":
                print("ct_new: new_flows_per_s=%s with_expiry=%s expire_cycles_per_flow=%s" % (
                    v.get("new_flows_per_s"), v.get("new_flows_per_s_with_expiry"),
                    v.get("expire_cycles_per_flow")))
            elif c["case"].startswith("bytes") or c["case"].startswith("stages"):
                print("%s: %s" % (c["case"], " ".join("%s=%s" % kv for kv in v.items())))
    elif tool == "ruleset":
        print("\nmedian of %d run(s)" % fig["runs"])
        for c in fig["cases"]:
            print("%-14s %8.1f cycles/pkt%s" % (c["case"], c["cycles_per_pkt"],
                                                "  load %.1f ms" % c["load_ms"]
                                                if c.get("load_ms") is not None else ""))
        if "reload_100k_ms" in fig:
            r = fig["reload_100k_ms"]
            print("reload_100k_ms median %.1f (min %.1f max %.1f)" % (r["median"], r["min"],
                                                                     r["max"]))


def main():
    ap = argparse.ArgumentParser(description="write a bench result file (bench/results/)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--tool", required=True, choices=["cycles", "syn_cycles", "fwd", "ruleset"])
    w.add_argument("--raw", required=True, help="the tool's output, as kept by the script")
    w.add_argument("--command", required=True)
    w.add_argument("--started", help="UTC start of the run (ISO 8601); default: now")
    w.add_argument("--commit", help="revision measured (default: git HEAD of this tree)")
    w.add_argument("--log-dir")
    w.add_argument("--param", action="append", default=[], metavar="K=V")
    w.add_argument("--note", action="append", default=[])
    w.add_argument("--out-dir", default=RESULTS_DIR)
    w.add_argument("--summary", action="store_true", help="print a median table on stdout")
    a = ap.parse_args()

    with open(a.raw, errors="replace") as f:
        raw = [line.rstrip("\n") for line in f]
    params = {}
    for p in a.param:
        k, _, v = p.partition("=")
        params[k] = num(v)
    if a.tool in ("cycles", "syn_cycles"):
        fig = parse_cycles(raw)
        kind = cycles_kind(a.tool, fig)
        statistic = "median of %d run(s) (each: the median burst)" % fig["runs"]
        tsc = fig["tsc_hz"]
        if not fig["cases"]:
            sys.exit("bench_result: no bench-cycles lines in %s" % a.raw)
    elif a.tool == "ruleset":
        fig = parse_ruleset(raw)
        kind = "ruleset"
        statistic = "median of %d run(s) (each: the median burst)" % fig["runs"]
        tsc = fig.get("tsc_hz")
        if not fig["cases"]:
            sys.exit("bench_result: no ctgate-bench-ruleset figures in %s" % a.raw)
    else:
        fig = parse_fwd(raw)
        kind = "fwd" if fig["proto"] == "udp" else "fwd_" + fig["proto"]
        params = dict(fig.pop("params"), **params)
        statistic = ("per forwarder: median, best and quiet median of %s run(s); "
                     "cycles: one run" % params.get("repeat", "?"))
        tsc = fig["tsc_hz"]
        if not fig["cases"] and not fig["cycles"]:
            sys.exit("bench_result: no figures in %s" % a.raw)
    path = write_result(kind, a.command, raw, fig, date=a.started, commit=a.commit,
                        params=params, statistic=statistic, notes=a.note, log_dir=a.log_dir,
                        tsc_hz=tsc, out_dir=a.out_dir)
    if a.summary:
        _summary(a.tool if a.tool != "syn_cycles" else "cycles", fig)
    print("result file: %s" % os.path.relpath(path, os.getcwd()), file=sys.stderr)


if __name__ == "__main__":
    main()
