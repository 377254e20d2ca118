#!/usr/bin/env bash
# The README demo: installs, builds, and runs ctgate between two network
# namespaces on its default config (drivers-config/demo.yaml), with a real
# kernel TCP transfer and pings crossing it, live stats, and conntrack -L.
# Stops by itself after DEMO_SECONDS (default 45) or on Ctrl-C.
#
#   sudo bash app/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_TOTAL=${DEMO_SECONDS:-45}
CONFIG=${DEMO_CONFIG:-drivers-config/demo.yaml}
PREFIX=ctgate-demo
CTL=(python3 "$ROOT/app/ctgatectl/ctgatectl" --file-prefix "$PREFIX")
LOG=/tmp/ctgate-demo.log
GW_PID=""
source app/demo-lib.sh

cleanup() {
  set +e
  stop_gateway
  ip netns del ctg-client 2>/dev/null
  ip netns del ctg-server 2>/dev/null
  ip link del ctg-lan 2>/dev/null
  ip link del ctg-wan 2>/dev/null
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

install_and_build /tmp/ctgate-demo-build.log

say "network: ctg-client (10.10.1.2, 2001:db8:1::2) -- [lan  ctgate  wan] -- ctg-server (10.10.2.2, 2001:db8:2::2)"
cleanup
ip netns add ctg-client
ip netns add ctg-server
ip link add ctg-lan type veth peer name eth0 netns ctg-client
ip link add ctg-wan type veth peer name eth0 netns ctg-server
ip link set ctg-lan up
ip link set ctg-wan up
for ns in ctg-client ctg-server; do
  ip -n $ns link set lo up
  ip -n $ns link set eth0 up
  # veths leave TX checksums to "hardware"; af_packet would forward them unfilled.
  ip netns exec $ns ethtool -K eth0 tx off > /dev/null
done
ip -n ctg-client addr add 10.10.1.2/24 dev eth0
ip -n ctg-server addr add 10.10.2.2/24 dev eth0
ip -n ctg-client route add default via 10.10.1.1
ip -n ctg-server route add default via 10.10.2.1
# Dual stack: static IPv6 (no duplicate address detection wait, no router advertisements).
for ns in ctg-client ctg-server; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.disable_ipv6=0
done
ip -n ctg-client addr add 2001:db8:1::2/64 dev eth0 nodad
ip -n ctg-server addr add 2001:db8:2::2/64 dev eth0 nodad
ip -n ctg-client -6 route add default via 2001:db8:1::1
ip -n ctg-server -6 route add default via 2001:db8:2::1

start_gateway "$CONFIG" "$SECONDS_TOTAL" "$LOG"
"${CTL[@]}" info

say "hooks registered (conntrack.enable_hooks: true)"
"${CTL[@]}" hooks

say "dual stack, before any ruleset: ping -6 the gateway and the server, tracepath -6"
ip netns exec ctg-client ping -6 -c 3 -i 0.3 -W 1 2001:db8:1::1 | tail -2
ip netns exec ctg-client ping -6 -c 3 -i 0.3 -W 1 2001:db8:2::2 | tail -2
ip netns exec ctg-client timeout 10 tracepath -6 -n -m 3 2001:db8:2::2 || true
"${CTL[@]}" neigh

say "load the demo ruleset: allow ssh/http/5001 and ping from lan, drop the rest"
echo "(one inet table: its stateful rules track IPv4 and IPv6 alike)"
sed 's/^/    /' drivers-config/demo.nft | grep -v '^    #'
"${CTL[@]}" ruleset load drivers-config/demo.nft
"${CTL[@]}" hooks

say "ping the gateway and, through it, the server (IPv4 and IPv6)"
ip netns exec ctg-client ping -c 3 -i 0.3 -W 1 10.10.1.1 | tail -2
ip netns exec ctg-client ping -c 3 -i 0.3 -W 1 10.10.2.2 | tail -2
ip netns exec ctg-client ping -6 -c 3 -i 0.3 -W 1 2001:db8:2::2 | tail -2

say "kernel TCP through ctgate: 20 MB with a checksum"
head -c 20000000 /dev/urandom > /tmp/ctgate-demo.in
ip netns exec ctg-server timeout 30 nc -l -p 5001 > /tmp/ctgate-demo.out &
NC_PID=$!
sleep 0.5
start=$(date +%s.%N)
ip netns exec ctg-client timeout 30 nc -q 1 -w 5 10.10.2.2 5001 < /tmp/ctgate-demo.in
wait $NC_PID || true
end=$(date +%s.%N)
a=$(sha256sum < /tmp/ctgate-demo.in | cut -c1-16)
b=$(sha256sum < /tmp/ctgate-demo.out | cut -c1-16)
printf 'sent %s, received %s: %s (%.1f Mbit/s)\n' "$a" "$b" \
  "$([ "$a" = "$b" ] && echo MATCH || echo MISMATCH)" \
  "$(echo "20000000*8/($end-$start)/1000000" | bc -l 2>/dev/null || echo 0)"
rm -f /tmp/ctgate-demo.in /tmp/ctgate-demo.out

say "a connection the ruleset refuses: server -> client port 6000 (dropped by policy)"
ip netns exec ctg-server timeout 3 nc -z -w 2 10.10.1.2 6000 && echo "connected?!" || echo "refused, as the ruleset says"

say "the ruleset with live counters"
"${CTL[@]}" ruleset list

say "conntrack -L (both families), then conntrack -L -f ipv6 -o extended"
"${CTL[@]}" conntrack -L || true
"${CTL[@]}" conntrack -L -f ipv6 -o extended || true

say "live stats while a ping runs (until the gateway's ${SECONDS_TOTAL}s are up, or Ctrl-C)"
ip netns exec ctg-client ping -i 0.5 -W 1 10.10.2.2 > /dev/null 2>&1 &
PING_PID=$!
left=$(( SECONDS_TOTAL - $(ps -o etimes= -p $GW_PID | tr -d ' ') - 2 ))
[ $left -lt 1 ] && left=1
"${CTL[@]}" stats --watch --interval 2 --count $(( (left + 1) / 2 )) || true
kill $PING_PID 2>/dev/null || true

say "stop"
kill -INT $GW_PID 2>/dev/null || true
wait $GW_PID || true
GW_PID=""
grep -E "final stats|stopped" "$LOG"
[ "$a" = "$b" ]
