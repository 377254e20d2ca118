#!/usr/bin/env bash
# Deterministic performance guard (issue 16): instructions per packet of
# process_burst() under callgrind, for plain forwarding, conntrack on
# established flows (alone and through a 10-rule forward chain), the
# automatic SYN-cookie path, routing into and out of
# a VLAN subinterface, switching (plain and through a stateful bridge
# table), and a new flow's whole life (ct_new: created, confirmed, expired and
# its position reclaimed, per flow), compared with the
# committed baseline (bench/callgrind_baseline.txt). Fails when a case rises
# by more than TOL percent (default 5). Instruction counts do not depend on
# the machine's load, so this is not a timing test; it runs in CI
# (tests/build/test_perf_guard.py).
#
#   bench/callgrind_guard.sh            # check against the baseline
#   bench/callgrind_guard.sh --update   # measure and rewrite the baseline
#
# Each case runs twice, with 20,000 and 40,000 measured packets; the
# difference of the two totals over the 20,000 extra packets is the steady
# per-packet cost, free of set-up and warm-up. Only process_burst(), the
# stage_tx_flush() after it, and what they call are counted (--toggle-collect),
# which includes the bench's TX sink (where a device's TX queue would be); for
# ct_new also ct_housekeeping(), which expires the flows, with 20,000 and
# 40,000 flows (@N in a case's flags stands for the count). About three minutes on two cores. Needs valgrind and a built
# bench/ctgate-bench-cycles (CTGATE_BUILD_DIR or BUILD, default build/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CTGATE_BUILD_DIR:-${BUILD:-$ROOT/build}}/bench/ctgate-bench-cycles
BASELINE=$ROOT/bench/callgrind_baseline.txt
TOL=${TOL:-5}
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
command -v valgrind > /dev/null || { echo "callgrind_guard: valgrind not installed" >&2; exit 2; }
[ -x "$BIN" ] || { echo "callgrind_guard: $BIN not built" >&2; exit 2; }

CASES=(
  "plain|--cases plain --flows 1000"
  "ct_est|--cases ct_est --flows 1000"
  "ct_rules10|--cases ct_rules10 --flows 1000"
  "tcp_est|--cases ct_est --flows 1000 --proto tcp-est"
  "syn_auto|--cases syn_auto --syn_sources 1000 --syn_table_flows 1000"
  "vlan_in|--cases vlan_in --flows 1000"
  "vlan_out|--cases vlan_out --flows 1000"
  "bridge|--cases bridge --flows 1000"
  "bridge_ct|--cases bridge_ct --flows 1000"
  "ct_new|--cases ct_new --new_flows @N --new_rounds 1|--toggle-collect=ctgate::ct::ct_housekeeping*"
)
P1=20000
P2=40000
WORK=$(mktemp -d /tmp/ctgate-callgrind.XXXXXX)
trap 'rm -rf "$WORK"; rm -rf /var/run/dpdk/cgguard$$* 2>/dev/null || true' EXIT

# Total instructions inside process_burst() and stage_tx_flush() (and the case's extra
# --toggle-collect) for one run.
instructions() {  # name flags packets extra-valgrind-flags
  local out="$WORK/$1.$3.out" flags="$2 --packets $3"
  [[ "$2" == *@N* ]] && flags=${2//@N/$3}  # a count of flows, not packets
  # shellcheck disable=SC2086
  if ! valgrind --tool=callgrind --toggle-collect='ctgate::process_burst*' \
      --toggle-collect='ctgate::stage_tx_flush*' ${4:+"$4"} \
      --callgrind-out-file="$out" "$BIN" $flags --memory_mb 256 \
      --file_prefix "cgguard$$" > "$WORK/$1.$3.log" 2>&1; then
    echo "callgrind_guard: $1 with $3 packets failed:" >&2
    tail -20 "$WORK/$1.$3.log" >&2
    exit 2
  fi
  awk '/^totals:/ {print $2}' "$out"
}

declare -A measured
for c in "${CASES[@]}"; do
  IFS='|' read -r name flags extra <<< "$c"
  a=$(instructions "$name" "$flags" $P1 "$extra")
  b=$(instructions "$name" "$flags" $P2 "$extra")
  measured[$name]=$(awk -v a="$a" -v b="$b" -v n=$((P2 - P1)) 'BEGIN {printf "%.1f", (b - a) / n}')
done

if [ "$UPDATE" = 1 ]; then
  {
    echo "# Instructions per packet of process_burst() and stage_tx_flush() under callgrind, ct_new per flow (bench/callgrind_guard.sh)."
    echo "# Written by: bench/callgrind_guard.sh --update, $(date -u +%Y-%m-%d), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    for c in "${CASES[@]}"; do
      name=${c%%|*}
      echo "$name ${measured[$name]}"
    done
  } > "$BASELINE"
  cat "$BASELINE"
  exit 0
fi

[ -f "$BASELINE" ] || { echo "callgrind_guard: no baseline; run with --update" >&2; exit 2; }
fail=0
printf '%-10s %12s %12s %8s\n' case baseline now change
for c in "${CASES[@]}"; do
  name=${c%%|*}
  base=$(awk -v n="$name" '$1 == n {print $2}' "$BASELINE")
  now=${measured[$name]}
  if [ -z "$base" ]; then
    printf '%-10s %12s %12s %8s\n' "$name" - "$now" "new"
    continue
  fi
  change=$(awk -v a="$base" -v b="$now" 'BEGIN {printf "%+.1f%%", (b - a) * 100 / a}')
  verdict=$(awk -v a="$base" -v b="$now" -v t="$TOL" 'BEGIN {print (b > a * (1 + t / 100)) ? "over" : "ok"}')
  printf '%-10s %12s %12s %8s %s\n' "$name" "$base" "$now" "$change" "$verdict"
  [ "$verdict" = ok ] || fail=1
done
if [ "$fail" = 1 ]; then
  echo "callgrind_guard: instructions per packet rose more than $TOL% (if intended, rerun with --update and say why in the commit)" >&2
  exit 1
fi
