#!/bin/bash
# Cycles per packet of the SYN-cookie path against plain forwarding of the
# same SYNs, repeated: this 2-vCPU VM's neighbours move single figures by up
# to 2x, so each run measures all cases back to back and the ratios are taken
# within a run; the summary gives, per case, the median and the best of the
# per-run figures (and best over best: the least disturbed of each).
#
#   bench/run_syn_cycles.sh [RUNS=7] [extra ctgate-bench-cycles flags...]
#
# Cases (bench/fwd_cycles.cpp): syn_plain (no conntrack, no rules), syn_cookie
# (the nft synproxy ruleset), syn_auto (ctgate's automatic defence, no rules),
# ack_forged (ACKs with bad cookies through the ruleset).
#
# At the end the runs' output and the per-case medians go to a result file,
# bench/results/YYYY-MM-DD_<commit>_syn_cycles.json (docs/bench.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${CTGATE_BUILD_DIR:-$HERE/../build}/bench/ctgate-bench-cycles
RUNS=${1:-7}
shift || true
[ -x "$BIN" ] || { echo "run_syn_cycles: $BIN not built" >&2; exit 1; }
HUGE=--huge
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" -lt 600 ]; then
  HUGE=--nohuge
  echo "run_syn_cycles: fewer than 600 free 2 MiB hugepages, running on 4 KiB pages" >&2
fi
OUT=$(mktemp)
RAW=$(mktemp)  # every run's whole stdout, prefixed run=N, for the result file
trap 'rm -f "$OUT" "$RAW"' EXIT
COMMAND="bench/run_syn_cycles.sh $RUNS"
for a in "$@"; do COMMAND+=" $(printf %q "$a")"; done
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for r in $(seq 1 "$RUNS"); do
  "$BIN" $HUGE --memory_mb 1100 --file-prefix "synbench-$$" --cases syn_plain,syn_cookie,syn_auto,ack_forged \
    --packets 2000000 "$@" | sed "s/^/run=$r /" | tee -a "$RAW" \
    | grep '^run=[0-9]* bench-cycles: case=' | tee -a "$OUT"
done
awk '
  { run=$1; sub("run=","",run)
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    c[run, f["case"]] = f["cycles_per_pkt"]; cases[f["case"]] = 1; runs[run] = 1 }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END {
    printf "\n%-11s %12s %12s %16s %16s\n", "case", "cyc (median)", "cyc (best)", "x syn_plain (med)", "best / best plain"
    split("syn_plain syn_cookie syn_auto ack_forged", order, " ")
    for (k = 1; k <= 4; k++) {
      cs = order[k]; if (!(cs in cases)) continue
      n = 0; for (r in runs) if ((r, cs) in c) { n++; v[n] = c[r, cs] + 0; q[n] = c[r, cs] / c[r, "syn_plain"] }
      m = median(v, n); best = v[1]; mr = median(q, n)
      if (cs == "syn_plain") plain_best = best
      br = best / plain_best
      printf "%-11s %12.1f %12.1f %16.2f %16.2f\n", cs, m, best, mr, br
      printf "syn-cycles: case=%s runs=%d cycles_median=%.1f cycles_best=%.1f ratio_median=%.2f ratio_best=%.2f\n", cs, n, m, best, mr, br > "/dev/stderr"
    }
  }' "$OUT"
"${PYTHON:-python3}" "$HERE/bench_result.py" write --tool syn_cycles --raw "$RAW" \
  --command "$COMMAND" --started "$STARTED" --param "runs=$RUNS" ||
  echo "run_syn_cycles: could not write a result file" >&2
