#!/usr/bin/python3
"""Renders the figures of docs/bench.md from bench/results/*.json.

  bench/render_report.py            rewrite the generated blocks of docs/bench.md
                                    and the plots in docs/img/
  bench/render_report.py --check    exit 1 (and print a diff) when docs/bench.md
                                    differs from what would be rendered; writes nothing
  bench/render_report.py --no-plots rewrite docs/bench.md only

docs/bench.md keeps its hand-written text; only what lies between
  <!-- BEGIN generated: NAME ... -->  and  <!-- END generated: NAME -->
is replaced. Each block is rendered from the newest result file (by its date)
of one kind that has the figures the block needs, and says which file that is.
The plots need matplotlib (Debian: apt install python3-matplotlib); the text
and --check need only the standard library.
"""

import argparse
import difflib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_result  # noqa: E402

ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "bench.md")
IMG = os.path.join(ROOT, "docs", "img")
BLOCKS = ("targets", "cycles", "fwd", "ruleset", "syn_cycles", "synflood", "history")


# ---- values ----

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def lo_hi(v):
    """A figure is a number or a [low, high] range (transcribed spreads)."""
    if isinstance(v, list):
        return v[0], v[1]
    return v, v


def mid(v):
    lo, hi = lo_hi(v)
    return (lo + hi) / 2


def fmt(v, nd=1, unit=""):
    if v is None:
        return "–"
    if isinstance(v, list):
        return "%s–%s%s" % (fmt(v[0], nd), fmt(v[1], nd), unit)
    if not is_num(v):
        return str(v)
    if isinstance(v, int):  # transcribed figures given without decimals stay so
        nd = 0
    return ("{:,.%df}" % nd).format(v) + unit


def fmt_signed(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, list):
        return "+%s–%s" % (fmt(v[0], nd), fmt(v[1], nd))
    return ("+" if v >= 0 else "") + fmt(v, nd)


def arith(f, *vs):
    """f over figures that may be ranges: the range of f at the ends."""
    if any(v is None for v in vs):
        return None
    if not any(isinstance(v, list) for v in vs):
        return f(*vs)
    a = f(*[lo_hi(v)[0] for v in vs])
    b = f(*[lo_hi(v)[1] for v in vs])
    return [min(a, b), max(a, b)]


# ---- results ----

class Results:
    def __init__(self, directory):
        self.all = bench_result.load_results(directory)

    def newest(self, kind, get):
        """(value, result) of the newest result of `kind` for which get(result)
        is not None; (None, None) if there is none."""
        for r in reversed(self.all):
            if r.get("kind") != kind:
                continue
            v = get(r)
            if v is not None:
                return v, r
        return None, None


def tsc_of(r):
    return r.get("figures", {}).get("tsc_hz") or r.get("host", {}).get("tsc_hz")


def ccase(r, case, flows=None):
    """A case of a cycles-like result (cycles, syn_cycles), or None."""
    for c in r.get("figures", {}).get("cases", []):
        if c.get("case") == case and (flows is None or c.get("flows") == flows):
            return c
    return None


def cval(r, case, flows, key):
    c = ccase(r, case, flows)
    return None if c is None else c.get("values", {}).get(key)


def over_plain(r, flows):
    """Conntrack's cycles over plain at `flows`: the per-run median the tool
    printed, else the difference of the two figures."""
    v = cval(r, "ct_est", flows, "overhead_vs_plain")
    if v is not None:
        return v
    return arith(lambda a, b: a - b, cval(r, "ct_est", flows, "cycles_per_pkt"),
                 cval(r, "plain", flows, "cycles_per_pkt"))


def x_plain(r, flows):
    c = ccase(r, "ct_est", flows)
    if c is not None and c.get("x_plain") is not None:
        return c["x_plain"]
    return arith(lambda a, b: a / b, cval(r, "ct_est", flows, "cycles_per_pkt"),
                 cval(r, "plain", flows, "cycles_per_pkt"))


def fcase(r, case):
    for c in r.get("figures", {}).get("cases", []):
        if c.get("case") == case:
            return c
    return None


def fwd_rate(c):
    """A forwarder's headline rate: the quiet median when there is one."""
    if c is None:
        return None, None
    if c.get("quiet") is not None:
        return c["quiet"], "quiet"
    return c.get("mpps"), "median"


def fwd_same_run(r, a, b):
    """Ratio of case a to case b in one fwd result, both quiet or both median."""
    ca, cb = fcase(r, a), fcase(r, b)
    if ca is None or cb is None:
        return None
    for key in ("quiet", "mpps"):
        if ca.get(key) is not None and cb.get(key) is not None:
            return ca[key] / cb[key]
    return None


def fwd_ratio_to_testpmd(r, case):
    c = fcase(r, case)
    if c is None:
        return None
    for key in ("quiet_ratio", "ratio"):
        if is_num(c.get(key)):
            return c[key]
    return fwd_same_run(r, case, "testpmd")


def rs_case(r, case):
    for c in r.get("figures", {}).get("cases", []):
        if c.get("case") == case:
            return c
    return None


def rs_over_plain(r, case):
    c, p = rs_case(r, case), rs_case(r, "plain")
    if c is None:
        return None
    if c.get("over_plain") is not None:
        return c["over_plain"]
    return None if p is None else round(c["cycles_per_pkt"] - p["cycles_per_pkt"], 2)


# ---- markdown pieces ----

def link(r):
    return "[`%s`](../bench/results/%s)" % (r["_file"], r["_file"])


def source(r, what="Figures"):
    s = "%s from %s: %s, commit `%s`%s, `%s`" % (
        what, link(r), r["date"][:10], r["commit"], " (with local changes)" if r.get("dirty")
        else "", r["command"])
    if r.get("statistic"):
        s += "; %s" % r["statistic"]
    if r.get("source", "run") != "run":
        s += " (%s)" % r["source"]
    return "*" + s + ".*"


def table(head, rows):
    """A markdown table; columns empty in every row are left out."""
    keep = [i for i in range(len(head)) if any(row[i] not in ("", "–") for row in rows)]
    out = ["| " + " | ".join(head[i] for i in keep) + " |",
           "|" + "---|" * len(keep)]
    for row in rows:
        out.append("| " + " | ".join(row[i] for i in keep) + " |")
    return "\n".join(out)


# ---- blocks ----

def met(value, op, target):
    if value is None:
        return "–"
    lo, hi = lo_hi(value)
    ok = (lambda x: x <= target) if op == "<=" else (lambda x: x >= target)
    if ok(lo) and ok(hi):
        return "**yes**"
    if not ok(lo) and not ok(hi):
        return "no"
    return "partly"


def block_targets(res):
    """Issue 16's targets (one worker, 64-byte packets, hugepages, median of 5
    runs of ctgate-bench-cycles) against the newest figures."""
    rows = []

    def add(what, start, op, target, shown, f, found, note=""):
        value, r = found
        where = "–" if r is None else "%s (%s)" % (link(r), r["date"][:10])
        stat = str((r or {}).get("statistic") or "")
        if r is not None and r["kind"] in ("cycles", "syn_cycles") and \
                not stat.startswith("median of 5 "):
            note = (note + "; " if note else "") + stat.split(" (")[0].split(";")[0]
        # A result's own caveat (a slow host, say) travels with its figures.
        for n in (r or {}).get("notes") or []:
            note = (note + "; " if note else "") + n.split(". ")[0]
        rows.append([what, start, ("≤ " if op == "<=" else "≥ ") + shown,
                     f(value) if value is not None else "–", met(value, op, target), where,
                     note])

    def millions(v):
        return fmt(arith(lambda x: x / 1e6, v), 2, " M")

    def times(v):
        return fmt(v, 2, "×")

    add("Plain IPv4 forwarding, cycles/packet", "70", "<=", 50, "50", fmt,
        res.newest("cycles", lambda r: cval(r, "plain", 1000, "cycles_per_pkt")))
    add("Conntrack, established, 1K flows: cycles over plain", "+90", "<=", 30, "+30",
        fmt_signed, res.newest("cycles", lambda r: over_plain(r, 1000)))
    add("Conntrack, established, 1M flows: cycles over plain", "+107", "<=", 50, "+50",
        fmt_signed, res.newest("cycles", lambda r: over_plain(r, 1000000)))
    # ctgate-bench-cycles' ct_rules10 (hugepages, in the same run as plain) when a result has
    # it; before it existed, ctgate-bench-ruleset's rules_10 (4 KiB pages).
    found = res.newest("cycles", lambda r: cval(r, "ct_rules10", 1000000, "overhead_vs_plain"))
    note = ""
    if found[1] is None:
        found = res.newest("ruleset", lambda r: rs_over_plain(r, "rules_10"))
        if found[1] is not None and \
                str(found[1]["figures"].get("memory", "")).startswith("no-huge"):
            note = "`ctgate-bench-ruleset`, 4 KiB pages: not the issue's setup"
    add("Conntrack + 10-rule stateful ruleset, 1M flows: cycles over plain", "~+150", "<=", 80,
        "+80", fmt_signed, found, note)
    add("New flows/s per core, counting expiry", "2.3 M", ">=", 5e6, "5 M", millions,
        res.newest("cycles", lambda r: cval(r, "ct_new", 1000000, "new_flows_per_s_with_expiry")))
    add("Bytes per flow (heap growth)", "186 B", "<=", 128, "128 B", lambda v: fmt(v, 0, " B"),
        res.newest("cycles", lambda r: cval(r, "bytes", None, "bytes_per_flow_measured")))
    add("Spoofed SYN, automatic path: × plain forwarding of the same SYNs", "2.5×", "<=", 2,
        "2×", times,
        res.newest("syn_cycles", lambda r: (ccase(r, "syn_auto") or {}).get("x_syn_plain")))
    add("Conntrack 1M flows ÷ plain, same run", "–", "<=", 2.0, "2.0×", times,
        res.newest("cycles", lambda r: x_plain(r, 1000000)))
    add("Conntrack 1K flows ÷ plain, same run", "–", "<=", 1.6, "1.6×", times,
        res.newest("cycles", lambda r: x_plain(r, 1000)))
    add("memif: ctgate + conntrack ÷ OVS `ct(commit)`, 1M flows, same run", "–", ">=", 4, "4×",
        times, res.newest("fwd", lambda r: fwd_same_run(r, "ctbig", "ovsctbig")))
    add("memif: ctgate + conntrack at 1M flows ÷ testpmd io, same run", "–", ">=", 0.75,
        "0.75×", times, res.newest("fwd", lambda r: fwd_ratio_to_testpmd(r, "ctbig")))
    add("memif: ctgate plain ÷ testpmd io, same run", "–", ">=", 0.9, "0.9×", times,
        res.newest("fwd", lambda r: fwd_ratio_to_testpmd(r, "plain")))
    return table(["target", "issue 16 start", "goal", "current", "met", "from", "note"], rows)


def grouped(sections):
    """[(lines, result)] -> lines, with one source line before each run of
    sections that come from the same result file."""
    out = []
    for i, (lines, r) in enumerate(sections):
        if i == 0 or sections[i - 1][1] is not r:
            out += ([""] if out else []) + [source(r)]
        out += [""] + lines
    return out


def block_cycles(res):
    sections = []
    _, r = res.newest("cycles", lambda r: cval(r, "plain", 1000, "cycles_per_pkt") or
                      cval(r, "ct_est", 1000000, "cycles_per_pkt"))
    if r is not None:
        tsc = tsc_of(r)
        rows = []
        labels = {"plain": "plain", "ct_est": "conntrack, established",
                  "ct_rules10": "conntrack + 10-rule ruleset"}
        for c in r["figures"]["cases"]:
            if c["case"] not in labels:
                continue
            v = c["values"]
            cyc = v.get("cycles_per_pkt")
            mpps = v.get("mpps_per_core") or (arith(lambda x: tsc / x / 1e6, cyc) if tsc else None)
            over = times = ""
            if c["case"] == "ct_est":
                over = fmt_signed(over_plain(r, c["flows"]))
                times = fmt(x_plain(r, c["flows"]), 2, "×")
            elif c["case"] == "ct_rules10":
                over = fmt_signed(v.get("overhead_vs_plain"))
                times = fmt(arith(lambda a, b: a / b, cyc,
                                  cval(r, "plain", c["flows"], "cycles_per_pkt")), 2, "×")
            rows.append([labels[c["case"]], fmt(c["flows"], 0), fmt(cyc), fmt(mpps, 1), over,
                         times, fmt(c.get("cycles_best")) if c.get("runs", 1) > 1 else ""])
        sections.append(([table(["case", "flows", "cycles/packet", "Mpps per core at %s GHz" % (
            fmt(tsc / 1e9, 2) if tsc else "?"), "over plain", "× plain", "best run"], rows)], r))
    v, r = res.newest("cycles", lambda r: ccase(r, "ct_new"))
    if r is not None:
        x = v["values"]
        sections.append((["**New flows** (`ct_new`: every packet a new flow, %s flows a round): "
                          "%s cycles/packet, %s new flows/s per core; counting the expiry of "
                          "each flow (%s cycles), %s/s." % (
                              fmt(v["flows"], 0), fmt(x.get("cycles_per_pkt")),
                              fmt(arith(lambda a: a / 1e6, x.get("new_flows_per_s")), 2, " M"),
                              fmt(x.get("expire_cycles_per_flow"), 0),
                              fmt(arith(lambda a: a / 1e6, x.get("new_flows_per_s_with_expiry")),
                                  2, " M"))], r))
    v, r = res.newest("cycles", lambda r: ccase(r, "bytes"))
    if r is not None:
        b = v["values"]
        d = (ccase(r, "bytes_breakdown") or {}).get("values", {})
        rows = [["measured: DPDK heap growth per flow (1K → %s-flow table)" % fmt(v["flows"], 0),
                 fmt(b.get("bytes_per_flow_measured"))],
                ["`flow_table::memory_bytes()` / max, the table's own estimate",
                 fmt(b.get("bytes_per_flow_estimate"))]]
        if d:
            rows += [["– entries (`ct_entry` × capacity / max)", fmt(d.get("entries"))],
                     ["– `rte_hash`, all of it", fmt(d.get("hash_total"))],
                     ["  – of which the ext table", fmt(d.get("ext_table"))]]
            if "rcu_defer_queue" in d:  # results from before 2026-12-07
                rows += [["  – of which the RCU defer queue", fmt(d.get("rcu_defer_queue"))]]
            rows += [["a bare `rte_hash` (no ext table, defer queue or multi-writer caches)",
                      fmt(d.get("hash_without_ext_dq_mw"))]]
            if "rcu_defer_queue_not_used" in d:
                rows += [["`rte_hash`'s RCU defer queue, which the table no longer has "
                          "(not counted above)", fmt(d.get("rcu_defer_queue_not_used"))]]
        sections.append((["**Bytes per flow:**", "", table(["part", "bytes/flow"], rows)], r))
    v, r = res.newest("cycles", lambda r: ccase(r, "stages_ct_est") or ccase(r, "stages_plain"))
    if r is not None:
        cols = [c for c in r["figures"]["cases"] if c["case"].startswith("stages_")]
        names = [("parse", "parse"), ("prerouting", "PRE_ROUTING (`ct_in`: lookup and tracker)"),
                 ("route", "route"), ("forward", "forward + FORWARD hooks"),
                 ("postrouting", "POST_ROUTING (`ct_confirm`)"), ("tx", "tx")]
        rows = [[label] + [fmt(c["values"].get(k)) for c in cols] for k, label in names]
        head = ["stage"] + ["%s flows, %s" % (fmt(c["flows"], 0), "plain"
                                              if c["case"] == "stages_plain" else "conntrack")
                            for c in cols]
        sections.append((["**Where the cycles go** (median burst per stage, cycles/packet):", "",
                          table(head, rows)], r))
    out = grouped(sections)
    out += ["", "![cycles per packet](img/cycles.png)"]
    return "\n".join(out).lstrip("\n")


def fwd_table(r):
    tsc = tsc_of(r)
    rows = []
    for c in r["figures"]["cases"]:
        rate, _ = fwd_rate(c)
        runs = []
        for x in c.get("runs", []):
            s = fmt(x.get("mpps"), 2)
            if x.get("fwd_cpu") is not None or x.get("gen_cpu") is not None:
                s += " (%s/%s)" % (fmt(x.get("fwd_cpu"), 2), fmt(x.get("gen_cpu"), 2))
            runs.append(s)
        pmd = c.get("pmd_cycles_per_pkt_range")
        if pmd is None:
            p = [x["pmd_cycles_per_pkt"] for x in c.get("runs", []) if x.get("quiet") and
                 x.get("pmd_cycles_per_pkt") is not None]
            pmd = [min(p), max(p)] if len(p) > 1 else (p[0] if p else None)
        rows.append([c.get("label", c["case"]), fmt(c.get("flows"), 0), fmt(c.get("mpps"), 2),
                     fmt(c.get("best"), 2), fmt(c.get("quiet"), 2),
                     fmt(fwd_ratio_to_testpmd(r, c["case"]), 2),
                     fmt(c.get("per_cpu_ratio"), 2),
                     fmt(tsc / (rate * 1e6), 0) if tsc and rate else "–",
                     fmt(pmd, 0) if pmd is not None else "–", ", ".join(runs) or "–"])
    return table(["forwarder", "flows", "Mpps median", "best", "quiet", "× testpmd",
                  "× testpmd per CPU", "cycles/packet", "OVS pmd cycles/packet",
                  "runs: Mpps (fwd CPU/gen CPU)"], rows)


def fwd_pairs_table(r):
    """The same-run ratios the script printed (ctgate / OVS, masquerade /
    conntrack alone), or None for results without them."""
    pairs = r["figures"].get("pairs") or []
    if not pairs:
        return None
    label = {c["case"]: c.get("label", c["case"]) for c in r["figures"]["cases"]}
    rows = [["%s ÷ %s" % (label.get(p.get("a"), p.get("a")), label.get(p.get("b"), p.get("b"))),
             fmt(p.get("flows"), 0), fmt(p.get("ratio"), 2), fmt(p.get("quiet_ratio"), 2),
             fmt(p.get("per_cpu_ratio"), 2)] for p in pairs]
    return table(["same run", "flows", "× median", "× quiet", "× per CPU"], rows)


def block_fwd(res):
    _, r = res.newest("fwd", lambda r: r["figures"]["cases"] or None)
    if r is None:
        return "*No forwarding results yet.*"
    out = [source(r), "", fwd_table(r)]
    pt = fwd_pairs_table(r)
    if pt is not None:
        out += ["", pt]
    if fcase(r, "ovsctbig") is None and fcase(r, "ovsct1k") is None:
        _, o = res.newest("fwd", lambda r: fcase(r, "ovsctbig") or fcase(r, "ovsct1k"))
        if o is not None:
            out += ["", "The newest run with OVS-DPDK:", "", source(o), "", fwd_table(o)]
    out += ["", "![Mpps per forwarder](img/fwd_mpps.png)"]
    return "\n".join(out)


RS_LABELS = {"plain": "plain forwarding", "ct_only": "conntrack, no ruleset",
             "rules_0": "`ct state established counter accept` alone (every case's last rule)",
             "rules_10": "10 rules", "rules_1000": "1,000 rules (`udp dport N` each)",
             "set_100k": "`ip saddr @set`, 100,000 addresses",
             "set_100k_hit": "`ip saddr @set accept`, 100,000 addresses, every packet in it",
             "set_100k_int": "`ip saddr @set`, 100,000 prefixes (interval)",
             "vmap_10k": "`ip saddr vmap { ... }`, 10,000 sources (hashed)",
             "concat_100k": "`ip saddr . udp dport @set`, 100,000 pairs (packed, hashed)",
             "dynset_hot": "`update @set { udp dport }` every packet, one element (in cache)",
             "dynset_1m": "`update @set { ip saddr }` every packet, 1,048,576 elements"}


def block_ruleset(res):
    _, r = res.newest("ruleset", lambda r: r["figures"].get("cases") or None)
    if r is None:
        return "*No ruleset results yet.*"
    rows = []
    ct = rs_case(r, "ct_only")
    for c in r["figures"]["cases"]:
        over_ct = c.get("over_ct_only")
        if over_ct is None and ct is not None and c["case"] not in ("plain", "ct_only"):
            over_ct = round(c["cycles_per_pkt"] - ct["cycles_per_pkt"], 1)
        rows.append([RS_LABELS.get(c["case"], c["case"]), fmt(c["cycles_per_pkt"]),
                     fmt_signed(rs_over_plain(r, c["case"])) if c["case"] != "plain" else "",
                     fmt_signed(over_ct) if over_ct is not None else "",
                     fmt(c.get("load_ms"), 1, " ms") if c.get("load_ms") is not None else ""])
    out = [source(r), "", table(["case", "cycles/packet", "over plain", "over conntrack alone",
                                 "ruleset load"], rows)]
    rl = r["figures"].get("reload_100k_ms")
    if rl:
        out += ["", "Reload of the 100k-element ruleset (parse, compile, publish, grace period): "
                "median %s ms (min %s, max %s)." % (fmt(rl["median"], 0), fmt(rl["min"], 0),
                                                    fmt(rl["max"], 0))]
    return "\n".join(out)


SYN_LABELS = {"syn_plain": "forwarded, no conntrack, no rules",
              "syn_auto": "automatic defence (`synproxy.auto`), no ruleset",
              "syn_cookie": "the nft synproxy ruleset (raw notrack + filter synproxy)",
              "ack_forged": "ACKs with bad cookies, through the ruleset (ACK flood)"}


def block_syn_cycles(res):
    _, r = res.newest("syn_cycles", lambda r: ccase(r, "syn_plain"))
    if r is None:
        return "*No SYN-path results yet.*"
    tsc = tsc_of(r)
    rows = []
    for c in r["figures"]["cases"]:
        v = c["values"]
        cyc = v.get("cycles_per_pkt")
        mpps = v.get("mpps_per_core") or (arith(lambda x: tsc / x / 1e6, cyc) if tsc else None)
        x = 1.0 if c["case"] == "syn_plain" else c.get("x_syn_plain")
        rows.append(["`%s`" % c["case"], SYN_LABELS.get(c["case"], ""), fmt(cyc),
                     fmt(c.get("cycles_best")) if c.get("cycles_best") is not None else "",
                     fmt(x, 2), fmt(mpps, 1, " M")])
    return "\n".join([source(r), "", table(
        ["case", "path", "cycles/packet", "best run", "× plain (same frames)",
         "SYN/s per core at %s GHz" % (fmt(tsc / 1e9, 2) if tsc else "?")], rows)])


PHASES = {"absorb": "absorb: as fast as the generator can",
          "baseline": "no flood (baseline)", "flood_50": "flood at 50% of the absorb rate",
          "flood_100": "flood at 100%",
          "control": "control: the 100% flood dropped by a raw rule before synproxy",
          "no_defence": "no defence: the 100% flood, no synproxy, `max` 65536"}


def block_synflood(res):
    _, r = res.newest("synflood", lambda r: r["figures"].get("phases") or None)
    if r is None:
        return "*No SYN-flood results yet.*"
    rows = []
    for p in r["figures"]["phases"]:
        flood = p["phase"] != "baseline"
        cap = p.get("rate_cap_pps")
        rows.append([PHASES.get(p["phase"], p["phase"]),
                     ("max" if not cap else fmt(cap, 0)) if flood else "",
                     fmt(p.get("sent_per_s"), 0) if flood else "",
                     fmt(p.get("cookies_per_s"), 0) if flood else "",
                     fmt(p.get("bulk_mb_s"), 1) if p.get("bulk_mb_s") is not None else "",
                     "%s / %s" % (fmt(p["conn_ok"], 0), fmt(p["conn_tried"], 0))
                     if p.get("conn_ok") is not None else "",
                     fmt(p.get("conn_per_s"), 0) if p.get("conn_per_s") is not None else "",
                     fmt(p.get("ct_drops"), 0)])
    return "\n".join([source(r), "", table(
        ["phase", "flood cap (pps)", "flood sent/s", "cookies/s", "bulk MB/s",
         "connections ok", "conn/s", "conntrack drops"], rows)])


def block_history(res):
    rows = []
    for r in reversed(res.all):
        rows.append([r["date"][:10], "`%s`" % r["kind"], "`%s`" % r["commit"],
                     r.get("label") or "", "run" if r.get("source", "run") == "run"
                     else "transcribed", link(r)])
    return table(["date", "kind", "commit", "what", "source", "file"], rows)


RENDER = {"targets": block_targets, "cycles": block_cycles, "fwd": block_fwd,
          "ruleset": block_ruleset, "syn_cycles": block_syn_cycles,
          "synflood": block_synflood, "history": block_history}


def render_doc(text, res):
    out, pos = [], 0
    seen = set()
    while True:
        b = text.find("<!-- BEGIN generated: ", pos)
        if b < 0:
            out.append(text[pos:])
            break
        name_end = b + len("<!-- BEGIN generated: ")
        name = text[name_end:].split()[0].rstrip("->")
        head_end = text.index("-->", b) + 3
        end_marker = "<!-- END generated: %s -->" % name
        e = text.find(end_marker, head_end)
        if name not in RENDER or e < 0:
            sys.exit("render_report: block %r unknown or without %r" % (name, end_marker))
        seen.add(name)
        out.append(text[pos:head_end])
        out.append("\n\n" + RENDER[name](res).rstrip("\n") + "\n\n")
        out.append(end_marker)
        pos = e + len(end_marker)
    missing = set(BLOCKS) - seen
    if missing:
        print("render_report: no block for %s in docs/bench.md" % ", ".join(sorted(missing)),
              file=sys.stderr)
    return "".join(out)


# ---- plots ----

SHORT = {"testpmd": "testpmd\nio", "plain": "ctgate\nplain", "ct1k": "ctgate\nconntrack",
         "ctbig": "ctgate\nconntrack", "ovsplain": "OVS\noutput", "ovsct1k": "OVS\nct(commit)",
         "ovsctbig": "OVS\nct(commit)", "masq1k": "ctgate\nmasquerade",
         "masqbig": "ctgate\nmasquerade", "ovsmasq1k": "OVS\nct nat(src)",
         "ovsmasqbig": "OVS\nct nat(src)"}

def plots(res, img_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(img_dir, exist_ok=True)
    meta = {"Software": None}
    written = []

    # Forwarding: Mpps per forwarder, testpmd's rate as the baseline line.
    _, r = res.newest("fwd", lambda r: r["figures"]["cases"] or None)
    if r is not None:
        panels = [r]
        if fcase(r, "ovsctbig") is None and fcase(r, "ovsct1k") is None:
            _, o = res.newest("fwd", lambda r: fcase(r, "ovsctbig") or fcase(r, "ovsct1k"))
            if o is not None:
                panels.append(o)
        fig, axes = plt.subplots(len(panels), 1, figsize=(10, 0.5 + 4.2 * len(panels)),
                                 squeeze=False)
        for ax, p in zip(axes[:, 0], panels):
            cases = p["figures"]["cases"]
            labels, vals, colors, ratios = [], [], [], []
            for c in cases:
                rate, _ = fwd_rate(c)
                if rate is None:
                    continue
                fl = c.get("flows") or 0
                labels.append("%s\n%s flows" % (SHORT.get(c["case"], c["case"]),
                                                "1M" if fl >= 1000000 else "%dK" % (fl // 1000)))
                vals.append(rate)
                ratios.append(fwd_ratio_to_testpmd(p, c["case"]))
                colors.append("#999999" if c["case"] == "testpmd" else
                              "#d9822b" if c["case"].startswith("ovs") else "#2b6cb0")
            x = range(len(vals))
            ax.bar(x, vals, color=colors)
            base = fwd_rate(fcase(p, "testpmd"))[0]
            if base:
                ax.axhline(base, color="#555555", linestyle="--", linewidth=1)
                ax.text(len(vals) - 0.5, base, " testpmd io", va="bottom", ha="right",
                        fontsize=8, color="#555555")
            for i, v in enumerate(vals):
                t = "%.2f" % v + ("\n%.2f×" % ratios[i] if ratios[i] is not None else "")
                ax.text(i, v, t, ha="center", va="bottom", fontsize=8)
            ax.set_xticks(list(x))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_ylabel("Mpps received (quiet median where there is one)", fontsize=9)
            ax.set_ylim(0, max(vals + [base or 0]) * 1.25)
            ax.set_title("%s, commit %s" % (p["date"][:10], p["commit"]), fontsize=10)
        fig.suptitle("Forwarding over memif, one worker, 64-byte UDP")
        fig.tight_layout()
        path = os.path.join(img_dir, "fwd_mpps.png")
        fig.savefig(path, dpi=110, metadata=meta)
        plt.close(fig)
        written.append(path)

    # Cycles per packet: established flows against the targets, and the SYN paths.
    _, c = res.newest("cycles", lambda r: cval(r, "plain", 1000, "cycles_per_pkt"))
    _, s = res.newest("syn_cycles", lambda r: ccase(r, "syn_plain"))
    if c is not None or s is not None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        ax = axes[0]
        if c is not None:
            labels, vals, goals = [], [], []
            for flows in (1000, 1000000):
                p = cval(c, "plain", flows, "cycles_per_pkt")
                e = cval(c, "ct_est", flows, "cycles_per_pkt")
                fl = "1K" if flows == 1000 else "1M"
                if p is not None:
                    labels.append("plain\n%s flows" % fl)
                    vals.append(p)
                    goals.append(50)
                if e is not None:
                    labels.append("conntrack\n%s flows" % fl)
                    vals.append(e)
                    goals.append((p or 0) + (30 if flows == 1000 else 50) if p else None)
            ax.bar(range(len(vals)), [mid(v) for v in vals], color="#2b6cb0")
            for i, (v, g) in enumerate(zip(vals, goals)):
                ax.text(i, mid(v), fmt(v), ha="center", va="bottom", fontsize=8)
                if g is not None:
                    ax.hlines(g, i - 0.4, i + 0.4, colors="#c53030", linewidth=2)
            ax.plot([], [], color="#c53030", linewidth=2,
                    label="issue 16 goal (plain ≤ 50; conntrack ≤ plain + 30 / + 50)")
            ax.legend(fontsize=8, loc="upper left")
            ax.set_xticks(range(len(vals)))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_ylim(0, max(mid(v) for v in vals) * 1.3)
            ax.set_ylabel("cycles per packet (median burst)")
            ax.set_title("In process, %s, commit %s\n%s" % (
                c["date"][:10], c["commit"], (c.get("statistic") or "").split(" (")[0]),
                fontsize=9)
        else:
            ax.set_visible(False)
        ax = axes[1]
        if s is not None:
            cases = [x for x in s["figures"]["cases"] if "cycles_per_pkt" in x["values"]]
            vals = [x["values"]["cycles_per_pkt"] for x in cases]
            err = [[mid(v) - lo_hi(v)[0] for v in vals], [lo_hi(v)[1] - mid(v) for v in vals]]
            ax.bar(range(len(vals)), [mid(v) for v in vals],
                   color=["#999999" if x["case"] == "syn_plain" else "#2b6cb0" for x in cases])
            for i, v in enumerate(vals):
                if isinstance(v, list):
                    ax.errorbar(i, mid(v), yerr=[[err[0][i]], [err[1][i]]], capsize=4,
                                color="black", linewidth=1)
                    ax.text(i + 0.08, lo_hi(v)[1], fmt(v), ha="left", va="bottom", fontsize=8)
                else:
                    ax.text(i, v, fmt(v), ha="center", va="bottom", fontsize=8)
            plain = cval(s, "syn_plain", None, "cycles_per_pkt")
            if plain:
                ax.axhline(2 * plain, color="#c53030", linewidth=1.5,
                           label="issue 16 goal for syn_auto: 2× syn_plain")
                ax.legend(fontsize=8, loc="upper left")
            ax.set_xticks(range(len(vals)))
            ax.set_xticklabels([x["case"] for x in cases], fontsize=8)
            ax.set_ylim(0, max(lo_hi(v)[1] for v in vals) * 1.3)
            ax.set_ylabel("cycles per packet (median burst)")
            ax.set_title("Spoofed SYNs, %s, commit %s\n(bars: ranges of several run sets)" % (
                s["date"][:10], s["commit"]) if any(isinstance(v, list) for v in vals) else
                "Spoofed SYNs, %s, commit %s" % (s["date"][:10], s["commit"]), fontsize=9)
        else:
            ax.set_visible(False)
        fig.tight_layout()
        path = os.path.join(img_dir, "cycles.png")
        fig.savefig(path, dpi=110, metadata=meta)
        plt.close(fig)
        written.append(path)
    return written


def main():
    ap = argparse.ArgumentParser(description="render docs/bench.md from bench/results/")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if docs/bench.md is not what would be rendered")
    ap.add_argument("--no-plots", action="store_true", help="do not write docs/img/*.png")
    ap.add_argument("--results", default=bench_result.RESULTS_DIR)
    ap.add_argument("--doc", default=DOC)
    ap.add_argument("--img-dir", default=IMG)
    a = ap.parse_args()

    res = Results(a.results)
    with open(a.doc) as f:
        old = f.read()
    new = render_doc(old, res)
    rel = os.path.relpath(a.doc, os.getcwd())
    if a.check:
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), rel, rel + " (rendered)"))
            print("render_report: %s is out of date; run bench/render_report.py" % rel,
                  file=sys.stderr)
            return 1
        return 0
    if new != old:
        with open(a.doc, "w") as f:
            f.write(new)
        print("render_report: wrote %s" % rel, file=sys.stderr)
    if not a.no_plots:
        for p in plots(res, a.img_dir):
            print("render_report: wrote %s" % os.path.relpath(p, os.getcwd()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
