#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, coverage over lib/) into
# build-fuzz/ and runs each for a while on its committed corpus
# (tests/fuzz/corpus/<target>/). New inputs go to a scratch copy unless
# --merge is given, which folds the ones that add coverage back into the
# committed corpus. A crash leaves its input in $LOGDIR/fuzz/<target>/ and
# counts as a failure; turn it into a regression test and fix it.
#
#   tests/fuzz/run.sh                      # 60 s per target (CI)
#   tests/fuzz/run.sh --seconds 1800 --merge fuzz_nft
#
# Prints one line per target (executions, coverage, corpus, result) and ends
# with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SECONDS_PER=60
MERGE=0
TARGETS=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --merge) MERGE=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_pipeline fuzz_nft fuzz_config fuzz_tcp fuzz_telemetry)
LOGDIR=${CTGATE_TEST_LOGS:-/tmp/ctgate-test-logs}/fuzz
mkdir -p "$LOGDIR"
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang++ > /dev/null; then
  echo "fuzz: clang++ not installed (.ci/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  CXX=clang++ meson setup "$BUILD" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized > "$LOGDIR/setup.log" 2>&1 || { tail -30 "$LOGDIR/setup.log"; echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$BUILD" > "$LOGDIR/build.log" 2>&1; then
  tail -40 "$LOGDIR/build.log"; echo "0 passed, 1 failed"; exit 1
fi

declare -A MAX_LEN=([fuzz_pipeline]=16384 [fuzz_nft]=8192 [fuzz_config]=8192 [fuzz_tcp]=256 [fuzz_telemetry]=8192)
passed=0
failed=0
printf '%-14s %12s %8s %8s %8s  %s\n' target executions cov features corpus result
for t in "${TARGETS[@]}"; do
  exe=$BUILD/tests/fuzz/$t
  corpus=$ROOT/tests/fuzz/corpus/$t
  work=$(mktemp -d "/tmp/ctgate-fuzz-$t.XXXXXX")
  art=$LOGDIR/$t
  rm -rf "$art" && mkdir -p "$art"
  cp -r "$corpus/." "$work/" 2>/dev/null || true
  args=(-max_total_time="$SECONDS_PER" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1
        -max_len="${MAX_LEN[$t]:-4096}" -artifact_prefix="$art/")
  [ "$t" = fuzz_nft ] && args+=(-dict="$ROOT/tests/fuzz/nft.dict")
  # ASan: leaks are checked (the targets free what they make); UBSan stops at the first report.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    timeout $((SECONDS_PER + 120)) "$exe" "${args[@]}" "$work" > "$art/run.log" 2>&1
  rc=$?
  execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$art/run.log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$art/run.log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$last")
  if [ $rc -eq 0 ]; then
    result=ok
    passed=$((passed + 1))
  else
    result="FAILED (exit $rc; $art)"
    failed=$((failed + 1))
    grep -E 'ERROR|invariant|abort|SUMMARY|listing|changed|Sanitizer' "$art/run.log" | head -8
  fi
  printf '%-14s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
  if [ $MERGE -eq 1 ] && [ $rc -eq 0 ]; then
    ASAN_OPTIONS=detect_leaks=0 "$exe" -merge=1 -max_len="${MAX_LEN[$t]:-4096}" "$corpus" "$work" \
      > "$art/merge.log" 2>&1 || echo "$t: merge failed ($art/merge.log)"
  fi
  rm -rf "$work"
  # A target that crashed never ran its exit handler: remove its EAL runtime
  # directory (fuzz_eal.h names it after the pid), nor removed its scratch
  # directory (fuzz_telemetry).
  for d in /var/run/dpdk/ctgate-fuzz-* /tmp/ctgate-fuzz-tel-*; do
    [ -d "$d" ] && ! kill -0 "${d##*-}" 2> /dev/null && rm -rf "$d"
  done
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
