#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test:
#   unit tests (GoogleTest), the same unit tests under ASan+UBSan, the CLI
#   tests, pcap functional tests and netns end-to-end tests.
# Ends with the line "N passed, N failed". Exit status 0 only if all pass.
#
#   sudo bash tests/run_all.sh            # everything
#   sudo bash tests/run_all.sh --fast     # skip the sanitizer build
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FAST=0
[ "${1:-}" = "--fast" ] && FAST=1

passed=0
failed=0
failures=()
LOGDIR=${CTGATE_TEST_LOGS:-/tmp/ctgate-test-logs}
rm -rf "$LOGDIR" && mkdir -p "$LOGDIR"

bash .ci/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
if ! bash .ci/build.sh > "$LOGDIR/build.log" 2>&1; then
  tail -50 "$LOGDIR/build.log"
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# Adds a GoogleTest binary's counts. Reads its summary lines.
run_gtest() {
  local name=$1 exe=$2 log="$LOGDIR/${1//\//_}.log"
  CTGATE_SOURCE_DIR=$ROOT timeout 600 "$exe" > "$log" 2>&1
  local rc=$?
  local p f
  p=$(grep -oP '^\[  PASSED  \] \K[0-9]+' "$log" | tail -1)
  f=$(grep -oP '^\[  FAILED  \] \K[0-9]+(?= tests?, listed below)' "$log" | tail -1)
  p=${p:-0}
  f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed or hung
  passed=$((passed + p))
  failed=$((failed + f))
  printf '%-28s %4d passed %4d failed\n' "$name" "$p" "$f"
  if [ "$f" -ne 0 ]; then
    failures+=("$name")
    grep -E '^\[  FAILED  \]|Failure|error|Sanitizer' "$log" | head -20
  fi
}

# Adds a Python unittest file's counts (its "Ran N tests" / "FAILED (...)" lines).
run_pyunit() {
  local name=$1 file=$2 log="$LOGDIR/${1//\//_}.log"
  CTGATE_BUILD_DIR=$ROOT/build timeout 900 /usr/bin/python3 "$file" -v > "$log" 2>&1
  local rc=$?
  local ran f e
  ran=$(grep -oP '^Ran \K[0-9]+' "$log" | tail -1)
  f=$(grep -oP 'FAILED \(.*failures=\K[0-9]+' "$log" | tail -1)
  e=$(grep -oP 'FAILED \(.*errors=\K[0-9]+' "$log" | tail -1)
  ran=${ran:-0}
  f=$(( ${f:-0} + ${e:-0} ))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  local s=$(grep -oP 'skipped=\K[0-9]+' "$log" | tail -1)
  local p=$((ran - f - ${s:-0}))
  [ $p -lt 0 ] && p=0
  passed=$((passed + p))
  failed=$((failed + f))
  printf '%-28s %4d passed %4d failed%s\n' "$name" "$p" "$f" "${s:+ ($s skipped)}"
  if [ "$f" -ne 0 ]; then
    failures+=("$name")
    grep -E '^(FAIL|ERROR):|Error|assert' "$log" | head -20
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

echo "== CLI, functional and end-to-end tests"
for t in tests/control/test_*.py tests/functional/test_*.py tests/e2e/test_*.py; do
  [ -f "$t" ] || continue
  rel=${t#tests/}
  run_pyunit "${rel%.py}" "$t"
done

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed: ${failures[*]} (logs in $LOGDIR)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
