#!/usr/bin/env bash
# ctgate soak (issue 11): a long run under churn, SYN floods, reloads, flushes
# and scans; see bench/soak.py for what runs and what is checked.
#
#   bench/soak.sh                      # 10 minutes, results in /tmp/ctgate-soak/<time>/
#   bench/soak.sh --seconds 60 --ci    # the CI version (heartbeat reported, not checked)
#
# Needs a build (meson setup build && ninja -C build) and root. Ends with
# "N passed, N failed", one per check.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/soak.py "$@"
