#!/usr/bin/env bash
# The SYN-flood demo: installs, builds, then floods a service behind ctgate
# with spoofed SYNs (ctgate-gen on a memif port) while a real client connects
# through it, first with synproxy, then without (the second article). Prints
# what the gateway absorbed and what the client saw.
#
#   sudo bash app/flood-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
bash .ci/build.sh > /tmp/ctgate-flood-build.log 2>&1 || { tail -30 /tmp/ctgate-flood-build.log; exit 1; }
echo "== flood with synproxy, without it, and with the automatic defence (about a minute)"
/usr/bin/python3 tests/e2e/test_synflood.py -v 2>&1 | grep -E "flood:|no synproxy:|ok$|FAIL|Error|^Ran|^OK"
