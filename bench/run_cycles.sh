#!/usr/bin/env bash
# In-process cycles per packet (ctgate-bench-cycles), RUNS times, with the
# median of every figure over the runs recorded in bench/results/ (see
# docs/bench.md). The issue-16 targets are read from these medians.
#
#   bench/run_cycles.sh [RUNS=5] [ctgate-bench-cycles flags...]
#
# Defaults: --huge --cases plain,ct_est,ct_rules10,ct_new,bytes,stages
# --flows 1000,1000000 --cpu 1; flags given here come later on the command
# line, so they win (e.g. --cases plain,ct_est, --nohuge, --proto tcp). A variant that
# is not the headline setup gets its own result kind (cycles_nohuge,
# cycles_tcp, cycles_nocksum), so it never replaces the headline figures.
#
# Prints every run's bench-cycles lines (prefixed run=N) and a table of the
# medians. The full output of each run stays in /tmp/ctgate-bench/cycles-*/.
# Needs root (DPDK) and 512 free 2 MiB hugepages (what .ci/setup.sh makes); build first:
# `ninja -C build bench/ctgate-bench-cycles`. Environment: BUILD or
# CTGATE_BUILD_DIR (build directory, default build), PYTHON (default python3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CTGATE_BUILD_DIR:-${BUILD:-$ROOT/build}}/bench/ctgate-bench-cycles
PY=${PYTHON:-python3}
RUNS=5
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  RUNS=$1
  shift
fi
case ${1:-} in -h|--help) sed -n 2,18p "$0"; exit 0 ;; esac
[ -x "$BIN" ] || { echo "run_cycles: $BIN not built" >&2; exit 1; }
COMMAND="bench/run_cycles.sh $RUNS"
for a in "$@"; do COMMAND+=" $(printf %q "$a")"; done
HUGE=--huge
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" -lt 512 ]; then
  HUGE=--nohuge
  echo "run_cycles: fewer than 512 free 2 MiB hugepages (1 GiB, --memory_mb 1024), running on 4 KiB pages" \
    "(recorded as cycles_nohuge)" >&2
fi
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
WORK=/tmp/ctgate-bench/cycles-$(date +%Y%m%d-%H%M%S)
mkdir -p "$WORK"
RAW=$WORK/raw.txt
: > "$RAW"
FAILED=0
for r in $(seq 1 "$RUNS"); do
  rc=0
  "$BIN" $HUGE --cases plain,ct_est,ct_rules10,ct_new,bytes,stages --flows 1000,1000000 --cpu 1 \
    --file-prefix "bench-cycles-$$" "$@" > "$WORK/run$r.out" 2> "$WORK/run$r.err" || rc=$?
  sed "s/^/run=$r /" "$WORK/run$r.out" >> "$RAW"
  grep '^bench-cycles: ' "$WORK/run$r.out" | sed "s/^/run=$r /" || true
  if [ "$rc" != 0 ]; then
    echo "run_cycles: run $r exited with $rc, see $WORK/run$r.err" >&2
    FAILED=$((FAILED + 1))
  fi
done
note=()
[ "$FAILED" = 0 ] || note=(--note "$FAILED of $RUNS runs failed a check; medians over the lines they printed")
"$PY" "$ROOT/bench/bench_result.py" write --tool cycles --raw "$RAW" --command "$COMMAND" \
  --started "$STARTED" --log-dir "$WORK" --param "runs=$RUNS" "${note[@]}" --summary ||
  echo "run_cycles: could not write a result file (raw output: $RAW)" >&2
[ "$FAILED" = 0 ]
