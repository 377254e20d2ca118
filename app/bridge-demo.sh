#!/usr/bin/env bash
# The bridge demo: installs, builds, and runs ctgate as a switch with a stateful firewall
# (drivers-config/bridge-demo.yaml and bridge-demo.nft) between three network namespaces of
# one subnet: the inside host opens TCP and pings across, the outside hosts cannot open
# anything towards it, and talk to each other freely. Shows the FDB, the bridge's hooks,
# conntrack -L and the ruleset's counters. Stops by itself after DEMO_SECONDS (default 40).
#
#   sudo bash app/bridge-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_TOTAL=${DEMO_SECONDS:-40}
CONFIG=drivers-config/bridge-demo.yaml
PREFIX=ctgate-bridge-demo
CTL=(python3 "$ROOT/app/ctgatectl/ctgatectl" --file-prefix "$PREFIX")
LOG=/tmp/ctgate-bridge-demo.log
GW_PID=""
HOSTS=(ctb-inside:ctb-in:10.20.0.1 ctb-outside1:ctb-out1:10.20.0.2 ctb-outside2:ctb-out2:10.20.0.3)
source app/demo-lib.sh

cleanup() {
  set +e
  stop_gateway
  for h in "${HOSTS[@]}"; do
    IFS=: read -r ns ifname _ <<< "$h"
    ip netns del "$ns" 2>/dev/null
    ip link del "$ifname" 2>/dev/null
  done
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

install_and_build /tmp/ctgate-bridge-demo-build.log

say "network: ctb-inside (10.20.0.1) -- [inside  ctgate br0  out1, out2] -- ctb-outside1 (.2), ctb-outside2 (.3)"
cleanup
for h in "${HOSTS[@]}"; do
  IFS=: read -r ns ifname addr <<< "$h"
  ip netns add "$ns"
  ip link add "$ifname" type veth peer name eth0 netns "$ns"
  sysctl -qw "net.ipv6.conf.$ifname.disable_ipv6=1"
  ip link set "$ifname" up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  # veths leave TX checksums to "hardware"; af_packet would forward them unfilled.
  ip netns exec "$ns" ethtool -K eth0 tx off > /dev/null
done

start_gateway "$CONFIG" "$SECONDS_TOTAL" "$LOG"
sed 's/^/    /' drivers-config/bridge-demo.nft | grep -v '^    #'

say "the bridge's hooks: nf_conntrack_bridge's and the forward chain"
"${CTL[@]}" hooks -f bridge

say "inside -> outside: ping both"
ip netns exec ctb-inside ping -c 3 -i 0.3 -W 1 10.20.0.2 | tail -2
ip netns exec ctb-inside ping -c 3 -i 0.3 -W 1 10.20.0.3 | tail -2

say "kernel TCP inside -> outside1: 10 MB with a checksum"
head -c 10000000 /dev/urandom > /tmp/ctgate-bridge-demo.in
ip netns exec ctb-outside1 timeout 30 nc -l -p 5001 > /tmp/ctgate-bridge-demo.out &
NC_PID=$!
sleep 0.5
ip netns exec ctb-inside timeout 30 nc -q 1 -w 5 10.20.0.2 5001 < /tmp/ctgate-bridge-demo.in
wait $NC_PID || true
a=$(sha256sum < /tmp/ctgate-bridge-demo.in | cut -c1-16)
b=$(sha256sum < /tmp/ctgate-bridge-demo.out | cut -c1-16)
echo "sent $a, received $b: $([ "$a" = "$b" ] && echo MATCH || echo MISMATCH)"
rm -f /tmp/ctgate-bridge-demo.in /tmp/ctgate-bridge-demo.out

say "outside -> inside: ping and TCP are refused (new connections towards the inside)"
ip netns exec ctb-outside1 ping -c 2 -i 0.3 -W 1 10.20.0.1 | tail -2 || true
ip netns exec ctb-outside1 timeout 3 nc -z -w 2 10.20.0.1 22 && echo "connected?!" ||
  echo "refused, as the ruleset says"

say "outside1 <-> outside2: not fenced"
ip netns exec ctb-outside1 ping -c 3 -i 0.3 -W 1 10.20.0.3 | tail -2

say "the FDB (bridge fdb show), conntrack -L, and the ruleset's counters"
"${CTL[@]}" fdb
"${CTL[@]}" conntrack -L || true
"${CTL[@]}" ruleset list

say "stop"
kill -INT $GW_PID 2>/dev/null || true
wait $GW_PID || true
GW_PID=""
grep -E "final stats|stopped" "$LOG"
[ "$a" = "$b" ]
