#!/usr/bin/env bash
# Self-test of tests/lib/count_results.sh (the counting in tests/run_all.sh): synthetic
# GoogleTest and unittest logs, and one real unittest run with this machine's Python.
# Ends with "N passed, N failed"; exit status 0 only if all pass.
#
#   bash tests/lib/test_count_results.sh     (or: bash tests/run_all.sh --self-test)
set -uo pipefail
source "$(dirname "$0")/count_results.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ok=0
bad=0

# check NAME KIND RC "PASSED FAILED SKIPPED" [SKIP_LINE...] (the log is on stdin)
check() {
  local name=$1 kind=$2 rc=$3 want=$4 got
  shift 4
  cat > "$TMP/$name.log"
  "count_$kind" "$TMP/$name.log" "$rc"
  got="$R_PASSED $R_FAILED $R_SKIPPED"
  local want_skips got_skips
  want_skips=$(printf '%s\n' "$@")
  got_skips=$(printf '%s\n' "${R_SKIPS[@]}")
  if [ "$got" = "$want" ] && [ "$got_skips" = "$want_skips" ]; then
    ok=$((ok + 1))
    echo "ok   $name"
  else
    bad=$((bad + 1))
    echo "FAIL $name: passed failed skipped = $got, want $want"
    [ "$got_skips" = "$want_skips" ] || printf 'skips:\n%s\nwant:\n%s\n' "$got_skips" "$want_skips"
  fi
}
T=$'\t'

check gtest_all_pass gtest 0 "3 0 0" <<'EOF'
[==========] 3 tests from 1 test suite ran. (1 ms total)
[  PASSED  ] 3 tests.
EOF

check gtest_skip_fail gtest 1 "1 1 2" "Alpha.Skip${T}skipped: no hugepages" "Beta.Skip2${T}skipped" <<'EOF'
[==========] Running 4 tests from 2 test suites.
[ RUN      ] Alpha.Ok
[       OK ] Alpha.Ok (0 ms)
[ RUN      ] Alpha.Skip
g.cpp:3: Skipped
no hugepages
[  SKIPPED ] Alpha.Skip (0 ms)
[ RUN      ] Beta.Skip2
g.cpp:4: Skipped

[  SKIPPED ] Beta.Skip2 (0 ms)
[ RUN      ] Beta.Fail
g.cpp:5: Failure
[  FAILED  ] Beta.Fail (0 ms)
[==========] 4 tests from 2 test suites ran. (0 ms total)
[  PASSED  ] 1 test.
[  SKIPPED ] 2 tests, listed below:
[  SKIPPED ] Alpha.Skip
[  SKIPPED ] Beta.Skip2
[  FAILED  ] 1 test, listed below:
[  FAILED  ] Beta.Fail

 1 FAILED TEST
EOF

check gtest_crash gtest 134 "0 1 0" <<'EOF'
[ RUN      ] Alpha.Ok
==1234==ERROR: AddressSanitizer: heap-use-after-free
EOF

check py_all_pass pyunit 0 "2 0 0" <<'EOF'
test_a (__main__.A.test_a) ... ok
test_b (__main__.A.test_b) ... ok

----------------------------------------------------------------------
Ran 2 tests in 0.001s

OK
EOF

# An expected failure is skipped, not passed (the case that used to count as passed).
check py_expected_failure pyunit 0 "1 0 1" \
  "RulesetDifferentialTest.test_10_fragmented_udp${T}expected failure" <<'EOF'
test_1 (__main__.RulesetDifferentialTest.test_1) ... ok
test_10_fragmented_udp (__main__.RulesetDifferentialTest.test_10_fragmented_udp) ... expected failure

----------------------------------------------------------------------
Ran 2 tests in 9.000s

OK (expected failures=1)
EOF

check py_unexpected_success pyunit 1 "1 1 0" <<'EOF'
test_a (__main__.A.test_a) ... ok
test_b (__main__.A.test_b) ... unexpected success

======================================================================
UNEXPECTED SUCCESS: test_b (__main__.A.test_b)
----------------------------------------------------------------------
Ran 2 tests in 0.001s

FAILED (unexpected successes=1)
EOF

# A skipped class (skipIf on the class): every test is run as a skip.
check py_class_skipped pyunit 0 "0 0 2" "B.test_b1${T}skipped: needs root" \
  "B.test_b2${T}skipped: needs root" <<'EOF'
test_b1 (__main__.B.test_b1) ... skipped 'needs root'
test_b2 (__main__.B.test_b2) ... skipped 'needs root'

----------------------------------------------------------------------
Ran 2 tests in 0.000s

OK (skipped=2)
EOF

# Skip in setUpClass: counted as a skip, not in "Ran"; an error in setUpClass likewise.
check py_fixtures pyunit 1 "1 1 1" "C (setUpClass)${T}skipped: no netns" <<'EOF'
test_a (__main__.A.test_a) ... ok
setUpClass (__main__.C) ... skipped 'no netns'
setUpClass (__main__.D) ... ERROR

======================================================================
ERROR: setUpClass (__main__.D)
----------------------------------------------------------------------
RuntimeError: x
----------------------------------------------------------------------
Ran 1 test in 0.000s

FAILED (errors=1, skipped=1)
EOF

# Before Python 3.11 the parentheses hold module.Class only; docstrings and the test's own
# output move the result to a later line.
check py_old_format_noisy pyunit 0 "1 0 2" "A.test_x${T}expected failure" \
  "A.test_y${T}skipped: it's... complicated" <<'EOF'
test_w (__main__.A)
A docstring. ... ok
test_x (__main__.A)
Noisy one. ... some output
expected failure
test_y (__main__.A) ... skipped "it's... complicated"

----------------------------------------------------------------------
Ran 3 tests in 0.001s

OK (skipped=1, expected failures=1)
EOF

# The greedy pattern this replaces read "expected failures=2" as failures=2.
check py_counts_not_confused pyunit 1 "0 1 2" "A.test_x${T}expected failure" \
  "A.test_y${T}expected failure" <<'EOF'
test_f (__main__.A.test_f) ... FAIL
test_x (__main__.A.test_x) ... expected failure
test_y (__main__.A.test_y) ... expected failure
----------------------------------------------------------------------
Ran 3 tests in 0.001s

FAILED (failures=1, expected failures=2)
EOF

check py_killed pyunit 124 "0 1 0" <<'EOF'
test_a (__main__.A.test_a) ... 
EOF

check py_unnamed pyunit 0 "1 0 2" "A.test_x${T}expected failure" "(1 more)${T}see $TMP/py_unnamed.log" <<'EOF'
test_x (__main__.A.test_x) ... expected failure
----------------------------------------------------------------------
Ran 3 tests in 0.001s

OK (skipped=1, expected failures=1)
EOF

# The same kinds of result from this machine's Python.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
cat > "$TMP/live.py" <<'EOF'
import sys, unittest
class A(unittest.TestCase):
    def test_ok(self): pass
    def test_doc(self):
        """A docstring."""
    def test_skip(self): self.skipTest("no root")
    @unittest.expectedFailure
    def test_xfail(self): self.fail()
    @unittest.expectedFailure
    def test_xfail_noisy(self):
        print("some output", file=sys.stderr); self.fail()
    @unittest.expectedFailure
    def test_xpass(self): pass
    def test_fail(self): self.fail("boom")
    def test_err(self): raise RuntimeError("x")
@unittest.skipIf(True, "no netns")
class B(unittest.TestCase):
    def test_b(self): pass
class C(unittest.TestCase):
    @classmethod
    def setUpClass(cls): raise unittest.SkipTest("class skip")
    def test_c(self): pass
unittest.main()
EOF
"$PY" "$TMP/live.py" -v > "$TMP/live.log" 2>&1
check py_live pyunit $? "2 3 5" "A.test_skip${T}skipped: no root" "A.test_xfail${T}expected failure" \
  "A.test_xfail_noisy${T}expected failure" "B.test_b${T}skipped: no netns" \
  "C (setUpClass)${T}skipped: class skip" < "$TMP/live.log"

echo "$ok passed, $bad failed"
[ "$bad" -eq 0 ]
