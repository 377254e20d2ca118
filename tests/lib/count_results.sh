# shellcheck shell=bash
# Counting of test results, sourced by tests/run_all.sh (and tests/lib/test_count_results.sh).
#
#   count_gtest LOG RC     a GoogleTest binary's output and exit status
#   count_pyunit LOG RC    a Python unittest file's output (run with -v) and exit status
#
# Each sets R_PASSED, R_FAILED, R_SKIPPED and the array R_SKIPS, one line per skipped test:
# "NAME<TAB>WHY". Skips and expected failures are never passed: both count as skipped. An
# unexpected success counts as failed (a test marked as showing a bug passed: stale marker).
# A nonzero exit status with no failure counted (crash, timeout, no summary) is one failure.

# GoogleTest: "[  PASSED  ] N tests.", "[  FAILED  ] N tests, listed below:",
# "[  SKIPPED ] N tests, listed below:" followed by one "[  SKIPPED ] Suite.Name" per test.
count_gtest() {
  local log=$1 rc=$2 line
  R_PASSED=$(grep -oP '^\[  PASSED  \] \K[0-9]+' "$log" | tail -1)
  R_FAILED=$(grep -oP '^\[  FAILED  \] \K[0-9]+(?= tests?, listed below)' "$log" | tail -1)
  R_SKIPPED=$(grep -oP '^\[  SKIPPED \] \K[0-9]+(?= tests?, listed below)' "$log" | tail -1)
  R_PASSED=${R_PASSED:-0} R_FAILED=${R_FAILED:-0} R_SKIPPED=${R_SKIPPED:-0}
  if [ "$rc" -ne 0 ] && [ "$R_FAILED" -eq 0 ]; then R_FAILED=1; fi
  R_SKIPS=()
  while IFS= read -r line; do R_SKIPS+=("$line"); done < <(awk '
    /^\[ RUN      \] / { grab = 0; reason = "" }
    /: Skipped$/ { grab = 1; next }
    grab && NF && !/^\[/ { reason = $0; grab = 0 }
    /^\[  SKIPPED \] [^ ]+ \(/ { why[$4] = reason; listing = 0; next }
    /^\[  SKIPPED \] [0-9]+ tests?, listed below:/ { listing = 1; next }
    listing && /^\[  SKIPPED \] [^ ]+$/ {
      r = why[$4]; if (length(r) > 90) r = substr(r, 1, 87) "..."
      print $4 "\tskipped" (r == "" ? "" : ": " r); next }
    { listing = 0 }' "$log")
  _count_unnamed "$log"
}

# unittest -v: one "name (module.Class.name) ... RESULT" per test (a docstring or the test's
# own output can put RESULT on a later line), then "Ran N tests" and
# "OK|FAILED (failures=F, errors=E, skipped=S, expected failures=X, unexpected successes=U)".
# A skip or error in setUpClass/setUpModule (or an error in a tearDown of those) counts in S or E
# but not in N, so those are taken off before N - F - E - S - X - U gives the passed tests.
count_pyunit() {
  local log=$1 rc=$2 ran info key val f=0 e=0 s=0 x=0 u=0 line
  ran=$(grep -oP '^Ran \K[0-9]+(?= tests? in )' "$log" | tail -1)
  info=$(grep -P '^(OK|FAILED|NO TESTS RAN)( \(.*\))?$' "$log" | tail -1)
  if [[ $info =~ \((.*)\)$ ]]; then
    info=${BASH_REMATCH[1]}
    while IFS= read -r line; do
      key=${line%=*} val=${line##*=}
      case $key in
        failures) f=$val ;;
        errors) e=$val ;;
        skipped) s=$val ;;
        "expected failures") x=$val ;;
        "unexpected successes") u=$val ;;
      esac
    done < <(printf '%s\n' "${info//, /$'\n'}")
  fi
  local fixture_skips fixture_errors
  fixture_skips=$(grep -cP '^(setUpClass|setUpModule) \(.*\) \.\.\. skipped ' "$log")
  fixture_errors=$(grep -cP '^ERROR: (setUpClass|tearDownClass|setUpModule|tearDownModule) \(' "$log")
  R_PASSED=$(( ${ran:-0} - f - (e - fixture_errors) - (s - fixture_skips) - x - u ))
  [ "$R_PASSED" -lt 0 ] && R_PASSED=0
  R_FAILED=$((f + e + u))
  R_SKIPPED=$((s + x))
  if [ "$rc" -ne 0 ] && [ "$R_FAILED" -eq 0 ]; then R_FAILED=1; fi
  R_SKIPS=()
  while IFS= read -r line; do R_SKIPS+=("$line"); done < <(awk '
    function name(s,   id) {                   # "test_x (__main__.C.test_x)" -> "C.test_x"
      id = s; sub(/^[^ ]+ \(/, "", id); sub(/\).*$/, "", id); sub(/^__main__\./, "", id)
      split(s, w, " ")
      if (w[1] ~ /^(setUp|tearDown)(Class|Module)$/) return id " (" w[1] ")"
      if (id !~ ("\\." w[1] "$")) id = id "." w[1]   # before Python 3.11: "(module.Class)"
      return id }
    /^[A-Za-z_][A-Za-z0-9_]* \([A-Za-z0-9_.]+\)( \[.*\])?( \.\.\. |$)/ { cur = name($0) }
    cur != "" && /(^|\.\.\. )(ok|FAIL|ERROR)$/ { cur = "" }
    cur != "" && /(^|\.\.\. )(skipped .*|expected failure)$/ {
      r = $0; match(r, /(^|\.\.\. )(skipped |expected failure$)/); r = substr(r, RSTART)
      sub(/^\.\.\. /, "", r)
      if (r ~ /^skipped /) { sub(/^skipped /, "", r); r = "skipped: " substr(r, 2, length(r) - 2) }
      if (length(r) > 100) r = substr(r, 1, 97) "..."
      print cur "\t" r; cur = "" }' "$log")
  _count_unnamed "$log"
}

# Where fewer skips were named than counted (an odd log), one line says how many are missing.
_count_unnamed() {
  local missing=$((R_SKIPPED - ${#R_SKIPS[@]}))
  [ "$missing" -gt 0 ] && R_SKIPS+=("($missing more)	see $1")
  return 0
}
