#!/usr/bin/env bash
# pktgen-dpdk, the client users bring, against the same forwarders as run_fwd_bench.sh
# (testpmd io as the baseline, ctgate plain and with conntrack, OVS-DPDK with --ovs), each
# run with one profile of bench/pktgen/ at the peak (rate 100%) and at fixed rates, where
# what counts is the loss. docs/bench.md, "pktgen-dpdk".
#
# usage: PKTGEN=/path/to/pktgen bench/run_pktgen.sh [--profile NAME] [--rates LIST]
#                                                   [run_fwd_bench.sh options]
#   --profile NAME   udp (default: udp-1k, udp-100k, udp-1m by the case's flows), imix,
#                    syn-flood, mixed (bench/pktgen/NAME.pkt)
#   --rates LIST     pktgen's rates on port 0, percent of line rate (default 100,1; memif
#                    reports 100 Gb/s, so 1% is 1.49 Mpps of 64-byte frames)
#   Cases (run_fwd_bench's --only) by profile, unless --only is given:
#     udp: testpmd,plain,ct1k,ctbig; imix, mixed: testpmd,plain,ct1k;
#     syn-flood: testpmd,ctbig (pktgen 23.03 repeats 24,576 distinct SYNs: docs/bench.md)
#   With --ovs, OVS-DPDK's plain and ct(commit) cases are added (run_fwd_bench's).
#
# On real hardware, pktgen on its own host or NIC ports, cabled to a gateway started from a
# drivers-config/ profile:
#   PKTGEN=... bench/run_pktgen.sh --only external --external-flows 1000000 \
#     --pktgen-ports "-a 0000:5e:00.0 -a 0000:5e:00.1" \
#     --pktgen-dst-macs <gateway lan MAC>,<gateway wan MAC>
#
# Each rate is one run_fwd_bench.sh run (its results file and bench/results JSON, kind
# fwd_pktgen_<profile>); the summary at the end says, per case, whether the generator (with
# memif) or the forwarder was the bottleneck: a forwarder that took at least 95% of what
# testpmd io took from the same generator in the same run was not the limit.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=udp
RATES=100,1
PASS=()
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -u/{/^set -u/d;p}' "$0"; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
if [ -z "$ONLY" ]; then
  case $PROFILE in
    udp) ONLY=testpmd,plain,ct1k,ctbig ;;
    imix|mixed) ONLY=testpmd,plain,ct1k ;;
    syn-flood) ONLY=testpmd,ctbig ;;
    *) echo "run_pktgen: unknown profile $PROFILE (udp, imix, syn-flood, mixed)" >&2; exit 2 ;;
  esac
fi
SUMMARY=()
for rate in ${RATES//,/ }; do
  results=$(mktemp /tmp/ctgate-pktgen-XXXXXX.txt)
  "$ROOT/bench/run_fwd_bench.sh" --generator pktgen --pktgen-profile "$PROFILE" \
    --pktgen-rate "$rate" --only "$ONLY" --results "$results" "${PASS[@]}"
  rc=$?
  [ $rc = 0 ] || echo "run_pktgen: run_fwd_bench.sh exited with $rc at rate $rate%" >&2
  # fwd-bench: case=NAME flows=N mpps=M ... ratio_vs_testpmd=R ...; the runs' loss.
  while read -r line; do
    case_=$(sed -n 's/.*case=\([^ ]*\).*/\1/p' <<< "$line")
    mpps=$(sed -n 's/.* mpps=\([^ ]*\).*/\1/p' <<< "$line")
    ratio=$(sed -n 's/.* ratio_vs_testpmd=\([^ ]*\).*/\1/p' <<< "$line")
    loss=$(grep -E "^  $case_-[0-9]+(\.retry[0-9]+)?: gen: " "$results" |
      sed -n 's/.* loss=\([^ ]*\).*/\1/p' | sort -g | awk '{a[NR] = $1} END {
        if (NR) printf "%.2f%%", 100 * a[int((NR + 1) / 2)]; else printf "-"}')
    if [ "$case_" = testpmd ] || [ "$case_" = external ]; then
      limit="baseline"
      [ "$case_" = external ] && limit="-"
    elif [ "$ratio" = - ] || [ -z "$ratio" ]; then
      limit="unknown (no testpmd baseline)"
    elif awk -v r="$ratio" 'BEGIN {exit !(r >= 0.95)}'; then
      limit="generator/memif (>= 95% of testpmd)"
    else
      limit="forwarder (${ratio}x testpmd)"
    fi
    SUMMARY+=("$(printf '%-9s %-10s %9s %8s %8s  %s' "$rate%" "$case_" "$mpps" "$loss" \
      "${ratio:--}" "$limit")")
  done < <(grep '^fwd-bench: ' "$results")
  echo "run_pktgen: rate $rate%: results in $results" >&2
done
echo
echo "pktgen-dpdk, profile $PROFILE: Mpps received (median of the runs), loss (1 - received/sent)"
printf '%-9s %-10s %9s %8s %8s  %s\n' rate case Mpps loss ratio bottleneck
printf '%s\n' "${SUMMARY[@]}"
