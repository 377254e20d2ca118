#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test:
#   unit tests (GoogleTest), the same unit tests under ASan+UBSan, the CLI
#   tests, pcap functional tests and netns end-to-end tests.
# Skipped tests and expected failures (tests marked as showing a known bug) count as
# skipped, never as passed, and are listed by name at the end; an unexpected success (such a
# test passing: its marker is stale) counts as failed. The last line is
# "N passed, N failed", with ", N skipped" when some were. Exit status 0 only if none failed.
#
#   sudo bash tests/run_all.sh              # everything
#   sudo bash tests/run_all.sh --fast       # skip the sanitizer build
#   bash tests/run_all.sh --self-test       # only the self-test of the counting below
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FAST=0
SELF_TEST_ONLY=0
for arg in "$@"; do
  case $arg in
    --fast) FAST=1 ;;
    --self-test) SELF_TEST_ONLY=1 ;;
    *) echo "usage: $0 [--fast] [--self-test]" >&2; exit 2 ;;
  esac
done
source tests/lib/count_results.sh

passed=0
failed=0
skipped=0
failures=()
skips=()    # "FILE<TAB>TEST<TAB>WHY"
LOGDIR=${CTGATE_TEST_LOGS:-/tmp/ctgate-test-logs}
rm -rf "$LOGDIR" && mkdir -p "$LOGDIR"

# Adds one file's counts (R_PASSED, R_FAILED, R_SKIPPED, R_SKIPS from count_results.sh).
add_counts() {
  local name=$1 s
  passed=$((passed + R_PASSED))
  failed=$((failed + R_FAILED))
  skipped=$((skipped + R_SKIPPED))
  for s in "${R_SKIPS[@]}"; do skips+=("$name	$s"); done
  printf '%-34s %4d passed %4d failed %4d skipped\n' "$name" "$R_PASSED" "$R_FAILED" "$R_SKIPPED"
  [ "$R_FAILED" -eq 0 ] || failures+=("$name")
}

# The self-test of the counting: its last line is "N passed, N failed".
run_self_test() {
  local log="$LOGDIR/self-test_count_results.log"
  bash tests/lib/test_count_results.sh > "$log" 2>&1
  local rc=$? counts
  counts=$(tail -1 "$log")
  R_PASSED=0 R_FAILED=0 R_SKIPPED=0 R_SKIPS=()
  if [[ $counts =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    R_PASSED=${BASH_REMATCH[1]} R_FAILED=${BASH_REMATCH[2]}
  fi
  if [ "$rc" -ne 0 ] && [ "$R_FAILED" -eq 0 ]; then R_FAILED=1; fi
  add_counts "self-test/count_results"
  [ "$R_FAILED" -eq 0 ] || grep -v '^ok ' "$log" | head -20
}

# The closing lines: failed files, the skipped tests by name, then the counts (last line).
report() {
  echo
  if [ ${#failures[@]} -gt 0 ]; then
    echo "failed: ${failures[*]} (logs in $LOGDIR)"
  fi
  if [ ${#skips[@]} -gt 0 ]; then
    echo "skipped or expected failure:"
    printf '%s\n' "${skips[@]}" | awk -F'\t' '{ printf "  %-34s %s (%s)\n", $1, $2, $3 }'
  fi
  echo "$passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
  [ "$failed" -eq 0 ]
}

echo "== self-test of the result counting"
run_self_test
if [ "$SELF_TEST_ONLY" -eq 1 ]; then report; exit; fi

if ! bash .ci/setup.sh; then
  echo "setup failed"; failed=$((failed + 1)); failures+=("setup"); report; exit 1
fi
if ! bash .ci/build.sh > "$LOGDIR/build.log" 2>&1; then
  tail -50 "$LOGDIR/build.log"
  echo "build failed"; failed=$((failed + 1)); failures+=("build"); report; exit 1
fi

# Adds a GoogleTest binary's counts (its summary lines).
run_gtest() {
  local name=$1 exe=$2 log="$LOGDIR/${1//\//_}.log"
  CTGATE_SOURCE_DIR=$ROOT timeout 600 "$exe" > "$log" 2>&1
  count_gtest "$log" $?
  add_counts "$name"
  if [ "$R_FAILED" -ne 0 ]; then
    grep -E '^\[  FAILED  \]|Failure|error|Sanitizer' "$log" | head -20
  fi
}

# Adds a Python unittest file's counts (its "Ran N tests" / "OK|FAILED (...)" lines).
run_pyunit() {
  local name=$1 file=$2 log="$LOGDIR/${1//\//_}.log"
  CTGATE_BUILD_DIR=$ROOT/build timeout 900 /usr/bin/python3 "$file" -v > "$log" 2>&1
  count_pyunit "$log" $?
  add_counts "$name"
  if [ "$R_FAILED" -ne 0 ]; then
    # Each failure's report as unittest prints it (the assertion's whole message:
    # e2e tests add how ctgate ended and the end of its log), bounded.
    awk '/^(FAIL|ERROR|UNEXPECTED SUCCESS):/ { p = 1 }
         /^==========+$/ || /^Ran [0-9]+ tests? in/ { p = 0 }
         p' "$log" | cut -c1-400 | head -80
  fi
}

echo "== unit tests"
for exe in build/tests/*/test_*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  run_gtest "unit/$(basename "$exe")" "$exe"
done

if [ "$FAST" -eq 0 ]; then
  echo "== unit tests under ASan+UBSan"
  if BUILD_DIR=build-asan bash .ci/build.sh -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbuildtype=debug > "$LOGDIR/build-asan.log" 2>&1; then
    for exe in build-asan/tests/*/test_*; do
      [ -x "$exe" ] && [ -f "$exe" ] || continue
      ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_gtest "asan/$(basename "$exe")" "$exe"
    done
  else
    tail -30 "$LOGDIR/build-asan.log"
    failed=$((failed + 1))
    failures+=("build-asan")
  fi
fi

if [ "$FAST" -eq 0 ]; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-60}
  echo "== fuzzers, ${FUZZ_SECONDS} s each on the committed corpora (tests/fuzz/run.sh)"
  bash tests/fuzz/run.sh --seconds "$FUZZ_SECONDS" > "$LOGDIR/fuzz.log" 2>&1
  sed -n '/^target/,$p' "$LOGDIR/fuzz.log" | grep -v ' passed, ' || tail -20 "$LOGDIR/fuzz.log"
  R_PASSED=0 R_FAILED=1 R_SKIPPED=0 R_SKIPS=()
  if [[ $(tail -1 "$LOGDIR/fuzz.log") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    R_PASSED=${BASH_REMATCH[1]} R_FAILED=${BASH_REMATCH[2]}
  fi
  add_counts "fuzz/libFuzzer"
fi

echo "== CLI, functional and end-to-end tests"
for t in tests/build/test_*.py tests/control/test_*.py tests/functional/test_*.py tests/e2e/test_*.py; do
  [ -f "$t" ] || continue
  rel=${t#tests/}
  run_pyunit "${rel%.py}" "$t"
done

report
