#!/usr/bin/env bash
# What a ruleset costs per packet (ctgate-bench-ruleset), RUNS times, with the
# median of every figure recorded in bench/results/ (see docs/bench.md).
#
#   bench/run_ruleset.sh [RUNS=3] [ctgate-bench-ruleset flags...]
#
# Defaults of the tool: --flows 1000000 --packets 4000000. It always runs on
# 4 KiB pages (--no-huge) and CPU 0. Prints every run's output (prefixed
# run=N) and a table of the medians; the full output of each run stays in
# /tmp/ctgate-bench/ruleset-*/. Needs root (DPDK); build first:
# `ninja -C build bench/ctgate-bench-ruleset`. Environment: BUILD or
# CTGATE_BUILD_DIR (build directory, default build), PYTHON (default python3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CTGATE_BUILD_DIR:-${BUILD:-$ROOT/build}}/bench/ctgate-bench-ruleset
PY=${PYTHON:-python3}
RUNS=3
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  RUNS=$1
  shift
fi
case ${1:-} in -h|--help) sed -n 2,12p "$0"; exit 0 ;; esac
[ -x "$BIN" ] || { echo "run_ruleset: $BIN not built" >&2; exit 1; }
COMMAND="bench/run_ruleset.sh $RUNS"
for a in "$@"; do COMMAND+=" $(printf %q "$a")"; done
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
WORK=/tmp/ctgate-bench/ruleset-$(date +%Y%m%d-%H%M%S)
mkdir -p "$WORK"
RAW=$WORK/raw.txt
: > "$RAW"
FAILED=0
for r in $(seq 1 "$RUNS"); do
  rc=0
  "$BIN" "$@" > "$WORK/run$r.out" 2> "$WORK/run$r.err" || rc=$?
  sed "s/^/run=$r /" "$WORK/run$r.out" | tee -a "$RAW"
  if [ "$rc" != 0 ]; then
    echo "run_ruleset: run $r exited with $rc, see $WORK/run$r.err" >&2
    FAILED=$((FAILED + 1))
  fi
done
note=()
[ "$FAILED" = 0 ] || note=(--note "$FAILED of $RUNS runs failed; medians over the lines they printed")
"$PY" "$ROOT/bench/bench_result.py" write --tool ruleset --raw "$RAW" --command "$COMMAND" \
  --started "$STARTED" --log-dir "$WORK" --param "runs=$RUNS" "${note[@]}" --summary ||
  echo "run_ruleset: could not write a result file (raw output: $RAW)" >&2
[ "$FAILED" = 0 ]
