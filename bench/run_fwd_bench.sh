#!/usr/bin/env bash
# The forwarding benchmark in one run (see docs/bench.md):
#
#   1. dpdk-testpmd --forward-mode=io          (baseline: what memif + the generator allow)
#   2. ctgate, plain forwarding                 (conntrack hooks not registered)
#   3. ctgate, conntrack on, 1K flows
#   4. ctgate, conntrack on, --big-flows flows  (default 1M)
#   5. ctgate-bench-cycles                      (in-process cycles/packet, no ports)
#   6. with --ovs: OVS-DPDK (Debian openvswitch-switch-dpdk) on the same memif
#      setup: plain output, ct(commit) at 1K and --big-flows flows
#   8. with --bridge: ctgate switching between two members of a bridge, with 1K and
#      --bridge-big-macs source and destination MACs (the generator's --macs: every
#      destination announced from the far port first, so it is learned); with --ovs
#      too, OVS-DPDK's NORMAL action (its MAC learning) on the same ports; and at 1K, the
#      same bridge with a stateful bridge table (brct1k: nf_conntrack_bridge's hooks and `ct
#      state`) against OVS's NORMAL after ct(commit) (ovsnormalct1k)
#   9. with --capture: ctgate plain while dpdk-dumpcap captures lan (both directions), with
#      a filter that matches nothing (capnone: the callbacks and the BPF filter a packet) and
#      with none, every packet copied to the capture (capall, written to /dev/null, 64 bytes
#      kept): what a live capture costs the worker (docs/operations.md, "Capture")
#   7. with --nat: ctgate, conntrack on and a ruleset that masquerades
#      everything leaving the wan port (to its address, 10.2.0.1), at 1K and
#      --masq-big-flows flows; with --ovs too, OVS-DPDK
#      `ct(commit,nat(src=10.2.0.1)),output:2` at the same flow counts
#
# Every forwarder runs as a DPDK process with two net_memif server ports;
# ctgate-gen is the client on the other side: it sends on port 0, counts
# what comes back on port 1. With --generator pktgen, pktgen-dpdk takes its place
# (bench/run_pktgen.sh is the way in: a profile of bench/pktgen/ per run). Forwarder worker on CPU 1, generator worker on
# CPU 0; both main lcores sleep and share the CPUs.
#
# usage: bench/run_fwd_bench.sh [--seconds N] [--warmup N] [--repeat N] [--big-flows N]
#                               [--proto udp|tcp] [--results FILE] [--no-cycles] [--only LIST]
#                               [--ovs] [--nat] [--masq-big-flows N] [--bridge]
#                               [--bridge-big-macs N] [--capture]
#                               [--quiet-wait N] [--retries N] [--nice N]
#                               [--generator ctgate-gen|pktgen] [--pktgen-profile NAME]
#                               [--pktgen-rate PCT]
#   --generator pktgen   pktgen-dpdk ($PKTGEN, built by bench/pktgen/build_pktgen.sh) sends
#                    instead of ctgate-gen, in tmux (it needs a terminal); counts come from its
#                    ports' ethdev statistics (DPDK telemetry), CPU shares from schedstat
#   --pktgen-profile NAME  bench/pktgen/NAME.pkt for every case; "udp" (default) picks
#                    udp-1k, udp-100k or udp-1m by the case's flows (1000, 100000, 1000000)
#   --pktgen-rate PCT  pktgen's rate on port 0, percent of its line rate (default 100: the peak)
#   --pktgen-ports ARGS  pktgen's EAL port arguments instead of the two memif clients, e.g.
#                    "-a 0000:5e:00.0 -a 0000:5e:00.1" for NIC ports cabled to a gateway
#   --pktgen-dst-macs LAN,WAN  the MACs pktgen sends to (the profiles' 02:00:00:00:01:01 and
#                    02:00:00:00:02:01): the gateway's ports, on real hardware
#   --external-flows N  the "external" case (--only external): no forwarder is started, pktgen
#                    sends to one running elsewhere (a gateway from a drivers-config/ profile);
#                    N picks the udp profile (default 1000)
#   --only LIST      comma-separated subset of: testpmd,plain,ct1k,ctbig,cycles
#                    (and ovsplain,ovsct1k,ovsctbig, masq1k,masqbig, ovsmasq1k,ovsmasqbig,
#                    br1k,brbig,brct1k, ovsnormal1k,ovsnormalbig,ovsnormalct1k,
#                    capnone,capall)
#   --capture        add capnone,capall
#   --bridge         add br1k,brbig,brct1k; with --ovs also ovsnormal1k,ovsnormalbig,
#                    ovsnormalct1k
#   --bridge-big-macs N  MACs of brbig and ovsnormalbig (default 100000)
#   --ovs            add the OVS-DPDK cases (needs openvswitch-switch-dpdk)
#   --nat            add masq1k,masqbig; with --ovs also ovsmasq1k,ovsmasqbig
#                    (--ovs and --nat add to the list, wherever --only stands)
#   --masq-big-flows N  flows of masqbig and ovsmasqbig (default 50000, at most
#                    --big-flows). One source address has 64,512 ports (1024-65535)
#                    toward the generator's one destination 198.18.0.10:9, so that
#                    many flows at most can be masqueraded at once, by ctgate, OVS
#                    or Linux; 50000 fills 78% of them. Beyond the port space, the
#                    other flows' packets are dropped (ctgate: nat_no_port; OVS:
#                    "Unable to NAT due to tuple space exhaustion").
#   --quiet-wait N   before each run, wait up to N s (default 120) for the other
#                    processes on the host to use < 15% CPU; 0: do not wait
#   --retries N      repeat a run whose pollers did not both get >= 95% of their
#                    CPU, up to N more times (default 0); every run is reported
#   --nice N         run generator and forwarders under `nice -n N` (e.g. -10), so
#                    a build on the same CPUs disturbs them less (default 0). With
#                    autogroup scheduling (sched_autogroup_enabled=1) nice only
#                    ranks tasks within a session, so the session's autogroup nice
#                    is set too, and restored at exit. Careful: that can starve
#                    other people's builds and time-bounded tests on a shared host.
#
# Each run records how much CPU its two pollers really got in the window (the
# generator reads the forwarder thread's /proc schedstat) and how much other
# processes took; "quiet" results only use runs where both pollers had >= 95%.
# The NAT cases also record that the translation happened: ctgate's entry of
# the generator's first flow (`ctgatectl conntrack -L`) and its NAT counters;
# OVS's translated connections (`dpctl/dump-conntrack`) and datapath flows.
#
# Needs root, hugepages (about 1 GiB free: `grep Huge /proc/meminfo`) and a
# build: `ninja -C build app/ctgate bench/ctgate-gen bench/ctgate-bench-cycles`.
#
# At the end the results file and its parsed figures also go to
# bench/results/YYYY-MM-DD_<commit>_fwd.json (docs/bench.md#result-files).
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
GEN=$BUILD/bench/ctgate-gen
CTGATE=$BUILD/app/ctgate
CTGATECTL=$ROOT/app/ctgatectl/ctgatectl
CYCLES=$BUILD/bench/ctgate-bench-cycles
TESTPMD=${TESTPMD:-dpdk-testpmd}

SECONDS_RUN=10
WARMUP=2
REPEAT=1
BIG_FLOWS=1000000
MASQ_BIG_FLOWS=50000
PROTO=udp
RESULTS=""
ONLY="testpmd,plain,ct1k,ctbig,cycles"
QUIET_WAIT=120
NICE=0
RETRIES=0
OVS=0
NAT=0
BRIDGE=0
BRIDGE_BIG_MACS=100000
CAPTURE=0
GENERATOR=ctgate-gen
PKTGEN=${PKTGEN:-}
PKTGEN_PROFILE=udp
PKTGEN_RATE=100
PKTGEN_PORTS=""
PKTGEN_DST_MACS="02:00:00:00:01:01,02:00:00:00:02:01"
EXTERNAL_FLOWS=1000

COMMAND="bench/run_fwd_bench.sh"  # for the result file
for a in "$@"; do COMMAND+=" $(printf %q "$a")"; done
STARTED_UTC=$(date -u +%Y-%m-%dT%H:%M:%SZ)

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --big-flows) BIG_FLOWS=$2; shift 2 ;;
    --proto) PROTO=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --no-cycles) ONLY=${ONLY//,cycles/}; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --retries) RETRIES=$2; shift 2 ;;
    --ovs) OVS=1; shift ;;
    --nat) NAT=1; shift ;;
    --masq-big-flows) MASQ_BIG_FLOWS=$2; shift 2 ;;
    --bridge) BRIDGE=1; shift ;;
    --bridge-big-macs) BRIDGE_BIG_MACS=$2; shift 2 ;;
    --capture) CAPTURE=1; shift ;;
    --generator) GENERATOR=$2; shift 2 ;;
    --pktgen-profile) PKTGEN_PROFILE=$2; shift 2 ;;
    --pktgen-rate) PKTGEN_RATE=$2; shift 2 ;;
    --pktgen-ports) PKTGEN_PORTS=$2; shift 2 ;;
    --pktgen-dst-macs) PKTGEN_DST_MACS=$2; shift 2 ;;
    --external-flows) EXTERNAL_FLOWS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -u/{/^set -u/d;p}' "$0"; exit 0 ;;
    *) echo "run_fwd_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ $OVS = 1 ] && ONLY="$ONLY,ovsplain,ovsct1k,ovsctbig"
[ $NAT = 1 ] && ONLY="$ONLY,masq1k,masqbig"
[ $NAT = 1 ] && [ $OVS = 1 ] && ONLY="$ONLY,ovsmasq1k,ovsmasqbig"
[ $BRIDGE = 1 ] && ONLY="$ONLY,br1k,brbig,brct1k"
[ $BRIDGE = 1 ] && [ $OVS = 1 ] && ONLY="$ONLY,ovsnormal1k,ovsnormalbig,ovsnormalct1k"
[ $CAPTURE = 1 ] && ONLY="$ONLY,capnone,capall"
[ "$MASQ_BIG_FLOWS" -gt "$BIG_FLOWS" ] && MASQ_BIG_FLOWS=$BIG_FLOWS
[ "$MASQ_BIG_FLOWS" -gt 64512 ] && [[ ",$ONLY," == *masqbig,* ]] &&
  echo "run_fwd_bench: warning: $MASQ_BIG_FLOWS flows need more than the 64512 ports of" \
    "one masquerade address: the rest are dropped" >&2

for b in "$GEN" "$CTGATE" "$CYCLES"; do
  [ -x "$b" ] || { echo "run_fwd_bench: $b not built" >&2; exit 1; }
done
case $GENERATOR in
  ctgate-gen) ;;
  pktgen)
    [ -n "$PKTGEN" ] && [ -x "$PKTGEN" ] || { echo "run_fwd_bench: set PKTGEN to pktgen's" \
      "binary (bench/pktgen/build_pktgen.sh builds one)" >&2; exit 1; }
    command -v tmux > /dev/null || { echo "run_fwd_bench: pktgen needs tmux" >&2; exit 1; }
    [ "$PKTGEN_PROFILE" = udp ] || [ -f "$ROOT/bench/pktgen/$PKTGEN_PROFILE.pkt" ] ||
      { echo "run_fwd_bench: no bench/pktgen/$PKTGEN_PROFILE.pkt" >&2; exit 1; } ;;
  *) echo "run_fwd_bench: --generator is ctgate-gen or pktgen" >&2; exit 2 ;;
esac
command -v "$TESTPMD" >/dev/null || { echo "run_fwd_bench: $TESTPMD not found" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run_fwd_bench: needs root (DPDK)" >&2; exit 1; }
if [[ ",$ONLY," == *,ovs* ]]; then
  for b in ovsdb-tool ovsdb-server ovs-vsctl ovs-ofctl ovs-appctl \
      "${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}"; do
    command -v "$b" > /dev/null ||
      { echo "run_fwd_bench: $b not found (apt install openvswitch-switch-dpdk)" >&2; exit 1; }
  done
fi

STAMP=$(date +%Y%m%d-%H%M%S)
WORK=/tmp/ctgate-bench/$STAMP
mkdir -p "$WORK"
[ -n "$RESULTS" ] || RESULTS=$WORK/results.txt
: > "$RESULTS"

SOCK0=/tmp/ctg-bench-0.sock
SOCK1=/tmp/ctg-bench-1.sock
MEMIF_OPTS="socket-abstract=no"   # a socket file the script can wait for
GEN_PREFIX=ctg-bench-gen
GEN_EAL=(--no-pci --file-prefix "$GEN_PREFIX" --lcores "0@1,1@0" -m 256
         --vdev "net_memif0,role=client,socket=$SOCK0,$MEMIF_OPTS"
         --vdev "net_memif1,role=client,socket=$SOCK1,$MEMIF_OPTS")
# Upper bound on any one server's life: startup + warmup + window + slack.
SERVER_LIMIT=$((SECONDS_RUN + WARMUP + 60))

STARTED=()   # PIDs this script started and has not reaped
OVS_DB_PIDS=()  # pidfiles of detached OVS daemons this script started
GEN_EXTRA=()
# The generator sends 10.1.1.0-10.1.16.255 -> 198.18.0.10 into ctgate's lan
# port; ctgate routes it out of wan, whose address the NAT cases masquerade to
# (and OVS's nat(src=...) takes the same address).
WAN_ADDR=10.2.0.1
# Every DPDK process here has its own file prefix. DPDK leaves its runtime
# dir and, without --huge-unlink, its hugepage files (<prefix>map_N) behind
# at exit, still holding the pages: each is removed once its process is gone.
DPDK_PREFIXES=("$GEN_PREFIX" ctg-bench-tpmd ctg-bench-fwd ctg-bench-ovs ctg-bench-cycles)
HUGE_DIRS=$(awk '$3 == "hugetlbfs" {print $2}' /proc/mounts)
clean_prefix() {  # clean_prefix PREFIX: only after its process has exited
  local h
  rm -rf "/var/run/dpdk/$1"
  for h in $HUGE_DIRS; do rm -f "$h/$1map_"*; done
}
log() { echo "$*" | tee -a "$RESULTS"; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }

stop_pid() {  # stop_pid PID SIGNAL: signal, wait up to 10 s, then KILL
  local pid=$1 sig=$2 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return; }
  kill "-$sig" "$pid" 2>/dev/null
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

cleanup() {
  local p
  for p in "${STARTED[@]}"; do stop_pid "$p" TERM; done
  STARTED=()
  for p in "${OVS_DB_PIDS[@]}"; do stop_pidfile "$p"; done
  for p in "${DPDK_PREFIXES[@]}"; do clean_prefix "$p"; done
  exec 3>&-
  rm -f "$SOCK0" "$SOCK1"
  [ -n "${AUTOGROUP_OLD:-}" ] && echo "$AUTOGROUP_OLD" > /proc/$$/autogroup 2>/dev/null
}
trap cleanup EXIT

AUTOGROUP_OLD=""
if [ "$NICE" != 0 ] && [ -w /proc/$$/autogroup ]; then
  AUTOGROUP_OLD=$(sed -n 's/.* nice \(-\{0,1\}[0-9]*\)$/\1/p' /proc/$$/autogroup)
  echo "$NICE" > /proc/$$/autogroup 2>/dev/null || AUTOGROUP_OLD=""
fi
trap 'exit 130' INT TERM

forget() {  # forget PID: drop it from STARTED once reaped
  local p=$1 keep=() q
  for q in "${STARTED[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
  STARTED=("${keep[@]}")
}

wait_sockets() {  # the memif servers create their socket files at probe time
  local i
  for i in $(seq 300); do
    [ -S "$SOCK0" ] && [ -S "$SOCK1" ] && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# find_tid PID PATTERN: the thread of PID, or of one of its children, whose
# name matches PATTERN (the forwarder's polling thread); empty if none.
find_tid() {
  local p t
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    for t in /proc/"$p"/task/*; do
      [[ "$(cat "$t/comm" 2>/dev/null)" =~ $2 ]] && { basename "$t"; return; }
    done
  done
}

# take_gen_line NAME LINE: records a generator's "gen:" line and sets MPPS, FWD_CPU, GEN_CPU
# and CAPACITY from it.
take_gen_line() {
  local name=$1 line=$2
  echo "  $name: $line" >> "$RESULTS"
  echo "  $name: $line" >&2
  MPPS=$(sed -n 's/.* rx_mpps=\([0-9.]*\).*/\1/p' <<< "$line")
  FWD_CPU=$(sed -n 's/.* fwd_cpu=\([0-9.]*\).*/\1/p' <<< "$line")
  GEN_CPU=$(sed -n 's/.* gen_cpu=\([0-9.]*\).*/\1/p' <<< "$line")
  CAPACITY=$(sed -n 's/.* rx_mpps_per_fwd_cpu=\([0-9.]*\).*/\1/p' <<< "$line")
}

# run_gen NAME FLOWS: runs the generator against whatever server is up;
# sets MPPS to the received rate (empty on failure). Functions set globals
# rather than print, so no server is ever started inside a $(...) subshell
# where the cleanup trap could not see its PID.
run_gen() {
  local name=$1 flows=$2 line
  if [ "$GENERATOR" = pktgen ]; then
    run_pktgen "$name" "$flows"
    return
  fi
  local extra=("${GEN_EXTRA[@]}")
  [ -n "${PEER_TID:-}" ] && extra+=(--peer-tid "$PEER_TID")
  [ "$PROTO" = tcp ] && extra+=(--proto tcp)
  timeout -s INT $((SECONDS_RUN + WARMUP + 60)) nice -n "$NICE" "$GEN" --flows "$flows" \
    --seconds "$SECONDS_RUN" \
    --warmup "$WARMUP" --link-wait-ms 30000 "${extra[@]}" -- "${GEN_EAL[@]}" \
    > "$WORK/$name.gen.out" 2> "$WORK/$name.gen.err"
  clean_prefix "$GEN_PREFIX"
  line=$(grep '^gen: sent=' "$WORK/$name.gen.out")
  take_gen_line "$name" "$line"
}

# pktgen_stats: "tx rx" packets over all of pktgen's ports (ethdev statistics, through its
# DPDK telemetry socket).
pktgen_stats() {  # three tries: a telemetry connection can be refused while another closes
  local i out
  for i in 1 2 3; do
    out=$("${PYTHON:-python3}" "$ROOT/bench/pktgen/ethstats.py" "/var/run/dpdk/$GEN_PREFIX") &&
      [ -n "$out" ] && { echo "$out"; return 0; }
    sleep 0.2
  done
  return 1
}

# cpu_ns TID: nanoseconds thread TID has run (schedstat's first field); 0 if unknown.
cpu_ns() { { [ -n "$1" ] && cut -d' ' -f1 "/proc/$1/schedstat" 2>/dev/null; } || echo 0; }

# run_pktgen NAME FLOWS: run_gen with pktgen-dpdk. The profile's .pkt file configures the
# ports and starts sending; after the warm-up, the window's counts give the rates. Writes the
# same "gen:" line as ctgate-gen, with loss (1 - received/sent) and the profile.
run_pktgen() {
  local name=$1 flows=$2 profile=$PKTGEN_PROFILE session="ctg-pktgen-$$" pid="" tid="" i
  local t0 t1 s0 s1 f0 f1 g0 g1 tx rx secs line
  MPPS=""
  if [ "$profile" = udp ]; then
    case $flows in
      1000) profile=udp-1k ;; 100000) profile=udp-100k ;; 1000000) profile=udp-1m ;;
      *) echo "  $name: pktgen has no udp profile for $flows flows (1000, 100000, 1000000)" \
           | tee -a "$RESULTS" >&2; return ;;
    esac
  fi
  local ports=${PKTGEN_PORTS:-"--no-pci --vdev net_memif0,role=client,socket=$SOCK0,$MEMIF_OPTS,mac=02:00:00:00:00:01 --vdev net_memif1,role=client,socket=$SOCK1,$MEMIF_OPTS,mac=02:00:00:00:00:02"}
  sed -e "s/^set 0 rate 100$/set 0 rate $PKTGEN_RATE/" \
    -e "s/02:00:00:00:01:01/${PKTGEN_DST_MACS%%,*}/g" -e "s/02:00:00:00:02:01/${PKTGEN_DST_MACS##*,}/g" \
    "$ROOT/bench/pktgen/$profile.pkt" > "$WORK/$name.pkt"
  # Its main lcore (display, CLI) shares CPU 1 with the forwarder's main lcore; lcore 1 polls
  # both ports on CPU 0. 1.5 GB: its packet pools. OVS's PMD transmits on queue 1 (ctgate-gen's
  # --queues 2): pktgen gives a port one queue per lcore, so a second lcore, on CPU 0 too,
  # polls each port's queue 1, and the generator's CPU is shared by two pollers.
  local lcores="0@1,1@0" map="1.[0-1]"
  if [[ " ${GEN_EXTRA[*]:-} " == *" --queues 2 "* ]]; then
    lcores="0@1,1@0,2@0" map="[1-2:1].0, [1-2:1].1"
  fi
  tmux new-session -d -s "$session" -x 200 -y 50 \
    "timeout --foreground -s INT $((SECONDS_RUN + WARMUP + 40)) nice -n $NICE $PKTGEN \
     --lcores $lcores --file-prefix $GEN_PREFIX --socket-mem 1500 $ports \
     -- -P -m '$map' -f $WORK/$name.pkt > $WORK/$name.gen.err 2>&1"
  for i in $(seq 100); do  # EAL, then the profile's own 3 s for the links
    pid=$(pgrep -n -x pktgen) && tid=$(find_tid "$pid" '^(rte-worker|lcore-worker)') && [ -n "$tid" ] && break
    sleep 0.1
  done
  sleep $((WARMUP + 4))
  s0=$(pktgen_stats); t0=$(date +%s.%N); f0=$(cpu_ns "$PEER_TID"); g0=$(cpu_ns "$tid")
  sleep "$SECONDS_RUN"
  s1=$(pktgen_stats); t1=$(date +%s.%N); f1=$(cpu_ns "$PEER_TID"); g1=$(cpu_ns "$tid")
  # Traffic stops before pktgen quits: its ports close while nothing is in flight, so the
  # forwarder's memif peer sees a quiet disconnect.
  tmux send-keys -t "$session" "stop all" Enter 2>/dev/null
  sleep 1
  tmux send-keys -t "$session" "quit" Enter 2>/dev/null
  for i in $(seq 100); do tmux has-session -t "$session" 2>/dev/null || break; sleep 0.1; done
  tmux kill-session -t "$session" 2>/dev/null
  clean_prefix "$GEN_PREFIX"
  if [ -z "$s0" ] || [ -z "$s1" ]; then
    echo "  $name: no counts from pktgen (telemetry), see $WORK/$name.gen.err" \
      | tee -a "$RESULTS" >&2
    return
  fi
  line=$(awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v f0="$f0" -v f1="$f1" \
    -v g0="$g0" -v g1="$g1" -v prof="$profile" -v rate="$PKTGEN_RATE" 'BEGIN {
      split(s0, a, " "); split(s1, b, " "); secs = t1 - t0
      tx = b[1] - a[1]; rx = b[2] - a[2]
      fc = (f1 - f0) / (secs * 1e9); gc = (g1 - g0) / (secs * 1e9)
      loss = tx > 0 ? 1 - rx / tx : 0
      printf "gen: sent=%d received=%d seconds=%.2f", tx, rx, secs
      printf " tx_mpps=%.3f rx_mpps=%.3f loss=%.4f", tx / secs / 1e6, rx / secs / 1e6, loss
      if (f1 > 0) printf " fwd_cpu=%.2f", fc
      if (g1 > 0) printf " gen_cpu=%.2f", gc
      if (f1 > 0 && fc > 0) printf " rx_mpps_per_fwd_cpu=%.3f", rx / secs / 1e6 / fc
      printf " generator=pktgen profile=%s rate=%s", prof, rate }')
  take_gen_line "$name" "$line"
}

# The external case: the forwarder runs elsewhere (real NICs); only the generator here.
bench_external() {
  MPPS="" FWD_CPU="" GEN_CPU="" CAPACITY="" PEER_TID=""
  run_gen "$1" "$2"
}

# One testpmd io run; sets MPPS.
bench_testpmd() {
  local name=$1 flows=$2 pid
  MPPS="" FWD_CPU="" GEN_CPU="" CAPACITY="" PEER_TID=""
  rm -f "$SOCK0" "$SOCK1" "$WORK/$name.in"
  mkfifo "$WORK/$name.in"
  # testpmd forwards until its stdin reaches EOF ("Press enter to exit"):
  # fd 3 holds the FIFO open for exactly as long as the generator runs.
  timeout -s INT "$SERVER_LIMIT" nice -n "$NICE" "$TESTPMD" --lcores "0@0,1@1" --no-pci \
    --file-prefix ctg-bench-tpmd \
    -m 256 --vdev "net_memif0,role=server,socket=$SOCK0,$MEMIF_OPTS" \
    --vdev "net_memif1,role=server,socket=$SOCK1,$MEMIF_OPTS" \
    -- --forward-mode=io --nb-cores=1 --total-num-mbufs=16384 \
    < "$WORK/$name.in" > "$WORK/$name.server.log" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  exec 3> "$WORK/$name.in"
  if wait_sockets "$pid"; then
    PEER_TID=$(find_tid "$pid" '^(rte-worker|lcore-worker)')
    run_gen "$name" "$flows"
  else
    echo "  $name: testpmd did not come up, see $WORK/$name.server.log" | tee -a "$RESULTS" >&2
  fi
  exec 3>&-
  stop_pid "$pid" INT
  forget "$pid"
  clean_prefix ctg-bench-tpmd
}

# The start of every ctgate config here: EAL (memory $1 MiB), one worker, the ports key.
config_head() {
  cat <<EOF
# generated by bench/run_fwd_bench.sh
eal:
  lcores: "0@0,1@1"        # main lcore on CPU 0 (sleeps), worker on CPU 1
  memory_mb: $1
  file_prefix: ctg-bench-fwd
  no_pci: true
workers: 1
mbufs: 16384
ports:
EOF
}

# One ctgate run; sets MPPS. $3: conntrack (true/false), $4: conntrack max,
# $5: none, masq (a ruleset masquerading everything leaving wan), bridge (both ports in
# one bridge: switching, $4 its max_entries), or bridge_ct (that bridge with a stateful bridge
# table: conntrack on the bridge path).
bench_ctgate() {
  local name=$1 flows=$2 ct=$3 max=$4 rs=${5:-none} cfg=$WORK/$1.yaml mem=512
  local ruleset='""'
  MPPS="" FWD_CPU="" GEN_CPU="" CAPACITY="" PEER_TID=""
  if [ "$rs" = bridge ] || [ "$rs" = bridge_ct ]; then
    # Switching: both ports members of one bridge (VLAN 1), an FDB with room for every
    # source and destination MAC.
    if [ "$rs" = bridge_ct ]; then
      ruleset=$WORK/$name.nft
      cat > "$ruleset" <<EOF
# generated by bench/run_fwd_bench.sh: conntrack on the bridge path, every flow committed
table bridge filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    ct state new accept
  }
}
EOF
    fi
    { config_head "$mem"; cat <<EOF
  - name: p0
    devargs: "net_memif0,role=server,socket=$SOCK0,$MEMIF_OPTS"
  - name: p1
    devargs: "net_memif1,role=server,socket=$SOCK1,$MEMIF_OPTS"
bridges:
  - name: br0
    max_entries: $max
    ports:
      - port: p0
      - port: p1
conntrack:
  max: $(( flows * 2 + 65536 ))
ruleset: $ruleset
EOF
    } > "$cfg"
    GEN_EXTRA=(--macs "$flows" --src-mac 02:00:01:00:00:00 --dst-mac 02:00:02:00:00:00)
    run_ctgate_with "$name" "$flows" "$cfg" "$rs"
    GEN_EXTRA=()
    return
  fi
  [ "$max" -gt 400000 ] && mem=768
  if [ "$rs" = masq ]; then
    ruleset=$WORK/$name.nft
    cat > "$ruleset" <<EOF
# generated by bench/run_fwd_bench.sh: source NAT of every flow to wan's address
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" masquerade
  }
}
EOF
  fi
  { config_head "$mem"; cat <<EOF
  - name: lan
    devargs: "net_memif0,role=server,socket=$SOCK0,$MEMIF_OPTS"
    address: 10.1.0.1/16
    mac: "02:00:00:00:01:01"   # ctgate-gen's --dst-mac: other MACs are drop_other_host
  - name: wan
    devargs: "net_memif1,role=server,socket=$SOCK1,$MEMIF_OPTS"
    address: $WAN_ADDR/16
    mac: "02:00:00:00:02:01"   # pktgen's mixed profile sends into wan too
routes:
  - prefix: 198.18.0.0/15  # the generator's destination 198.18.0.10
    via: 10.2.0.254
neighbors:
  - address: 10.2.0.254
    mac: "02:00:00:00:02:fe"
    port: wan
  - address: 10.1.0.2     # pktgen's port 0: the mixed profile's new flows come back to it
    mac: "02:00:00:00:00:01"
    port: lan
conntrack:
  enable_hooks: $ct
  max: $max
ruleset: $ruleset
EOF
  } > "$cfg"
  run_ctgate_with "$name" "$flows" "$cfg" "$rs"
}

# start_capture NAME capnone|capall: dpdk-dumpcap on lan (net_memif0) of the running ctgate,
# through ctgatectl capture; returns once dumpcap reports (its callbacks are on the queues).
start_capture() {
  local name=$1 kind=$2 i filter=()
  [ "$kind" = capnone ] && filter=(tcp port 7)  # the generator sends UDP or TCP to port 9
  python3 "$CTGATECTL" --file-prefix ctg-bench-fwd capture lan "${filter[@]}" -s 64 \
    --duration $((SECONDS_RUN + WARMUP + 30)) -w /dev/null > "$WORK/$name.capture.log" 2>&1 &
  CAPTURE_PID=$!
  STARTED+=("$CAPTURE_PID")
  for i in $(seq 150); do
    grep -q 'Packets captured' "$WORK/$name.capture.log" && return
    kill -0 "$CAPTURE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "  $name: capture did not start, see $WORK/$name.capture.log" | tee -a "$RESULTS" >&2
}

stop_capture() {  # stop_capture NAME: dumpcap's own summary goes to the results
  stop_pid "$CAPTURE_PID" INT
  forget "$CAPTURE_PID"
  CAPTURE_PID=""
  # dumpcap rewrites its count in place; the last number is the total.
  echo "  $1: dumpcap: captured $(tr '\b' ' ' < "$WORK/$1.capture.log" \
    | grep -o 'Packets captured: [0-9 ]*' | tail -1 | awk '{print $NF}'); $(grep -o \
    'Packets received/dropped.*' "$WORK/$1.capture.log" | tail -1)" >> "$RESULTS"
}

# run_ctgate_with NAME FLOWS CONFIG RULESET-KIND: starts ctgate on CONFIG, runs the generator,
# keeps the stats, stops it. Sets MPPS.
run_ctgate_with() {
  local name=$1 flows=$2 cfg=$3 rs=$4 pid
  rm -f "$SOCK0" "$SOCK1"
  nice -n "$NICE" "$CTGATE" --config "$cfg" --run-seconds "$SERVER_LIMIT" \
    > "$WORK/$name.server.log" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  if wait_sockets "$pid"; then
    PEER_TID=$(find_tid "$pid" '^(rte-worker|lcore-worker)')
    [ "$rs" = capnone ] || [ "$rs" = capall ] && start_capture "$name" "$rs"
    run_gen "$name" "$flows"
    [ -n "${CAPTURE_PID:-}" ] && stop_capture "$name"
    # Per-reason drop counters, while the daemon still runs.
    timeout 10 python3 "$CTGATECTL" stats --file-prefix ctg-bench-fwd > "$WORK/$name.stats" 2>&1
    # Bridging: the FDB learned every MAC (its size, and the counters of learning).
    if [ "$rs" = bridge ] || [ "$rs" = bridge_ct ]; then
      timeout 20 python3 "$CTGATECTL" fdb --json --file-prefix ctg-bench-fwd \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["bridges"])' \
        > "$WORK/$name.fdb" 2>&1
      echo "  $name: fdb: $(cat "$WORK/$name.fdb")" >> "$RESULTS"
    fi
    # NAT: the generator's first flow as conntrack lists it (its reply tuple
    # goes to the masquerade address), and the per-worker counters.
    if [ "$rs" = masq ]; then
      timeout 20 python3 "$CTGATECTL" conntrack -L -s 10.1.1.0 --sport 1024 \
        --file-prefix ctg-bench-fwd > "$WORK/$name.ct-sample" 2>&1
      timeout 20 python3 "$CTGATECTL" conntrack -S --file-prefix ctg-bench-fwd \
        > "$WORK/$name.ct-stats" 2>&1
      timeout 20 python3 "$CTGATECTL" conntrack -C --file-prefix ctg-bench-fwd \
        > "$WORK/$name.ct-count" 2>&1
    fi
  else
    echo "  $name: ctgate did not come up, see $WORK/$name.server.log" | tee -a "$RESULTS" >&2
  fi
  stop_pid "$pid" INT
  forget "$pid"
  clean_prefix ctg-bench-fwd
  grep -o 'final stats: .*' "$WORK/$name.server.log" | head -c 600 | sed "s/^/  $name: /" \
    >> "$RESULTS"
  echo >> "$RESULTS"
  sed -n '/^DROP_REASON/,/^$/p' "$WORK/$name.stats" 2>/dev/null | grep -v '^$' \
    | sed "s/^/  $name: /" \
    >> "$RESULTS"
  if [ "$rs" = masq ]; then
    echo "  $name: nat: entries $(head -1 "$WORK/$name.ct-count" 2>/dev/null | xargs)," \
      "first flow: $(grep -m1 'src=10.1.1.0 ' "$WORK/$name.ct-sample" 2>/dev/null)" \
      >> "$RESULTS"
    grep '^cpu=' "$WORK/$name.ct-stats" 2>/dev/null | while read -r line; do
      echo "  $name: nat: $(grep -oE '^cpu=[0-9]+|\<(insert|insert_failed|drop|nat_[a-z_]+|invalid_nat_tuple)=[0-9]+' <<< "$line" | xargs)"
    done >> "$RESULTS"
    grep -q "dst=$WAN_ADDR " "$WORK/$name.ct-sample" 2>/dev/null ||
      echo "  $name: nat: the first flow is not masqueraded to $WAN_ADDR," \
        "see $WORK/$name.ct-sample" | tee -a "$RESULTS" >&2
  fi
}

# OVS-DPDK, following the lab notes: private run/db/log dirs, the DPDK
# build of ovs-vswitchd called directly (no update-alternatives), main lcore
# on CPU 0 and the PMD on CPU 1 like the other forwarders, two memif server
# ports with 2 rx queues (OVS transmits on queue 1, so the generator polls
# 2 queues). $3: plain, commit or masq (ct(commit,nat(src=WAN_ADDR))). Sets MPPS.
OVS_VSWITCHD=${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}
stop_pidfile() {  # daemons detach: they are ours, but not our children
  local pid i st
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  # Their CPU time is ours too, but `times` cannot see it: keep it here.
  if read -r -a st < "/proc/$pid/stat" 2>/dev/null; then
    DETACHED_TICKS=$((DETACHED_TICKS + st[13] + st[14]))
  fi
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
bench_ovs() {
  local name=$1 flows=$2 mode=$3 d=$WORK/$1.ovs i ok=0
  MPPS="" FWD_CPU="" GEN_CPU="" CAPACITY="" PEER_TID=""
  mkdir -p "$d"
  export OVS_RUNDIR=$d OVS_DBDIR=$d OVS_LOGDIR=$d
  local vsctl=(ovs-vsctl --db="unix:$d/db.sock" --timeout=30)
  rm -f "$SOCK0" "$SOCK1"
  ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema &&
  ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/ovsdb-server.pid" \
    --log-file="$d/ovsdb-server.log" --detach > "$d/ovsdb-server.out" 2>&1 &&
  OVS_DB_PIDS+=("$d/ovsdb-server.pid") &&
  "${vsctl[@]}" --no-wait init &&
  "${vsctl[@]}" --no-wait set Open_vSwitch . other_config:dpdk-init=true \
    other_config:dpdk-socket-mem=256 other_config:dpdk-socket-limit=320 \
    other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2 \
    other_config:dpdk-extra="--no-pci --file-prefix=ctg-bench-ovs \
--vdev=net_memif0,role=server,socket=$SOCK0,$MEMIF_OPTS \
--vdev=net_memif1,role=server,socket=$SOCK1,$MEMIF_OPTS" &&
  nice -n "$NICE" "$OVS_VSWITCHD" "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" \
    --log-file="$d/ovs-vswitchd.log" --detach > "$d/ovs-vswitchd.out" 2>&1 &&
  OVS_DB_PIDS+=("$d/ovs-vswitchd.pid") &&
  "${vsctl[@]}" add-br br0 -- set bridge br0 datapath_type=netdev &&
  "${vsctl[@]}" add-port br0 p0 -- set Interface p0 type=dpdk options:dpdk-devargs=net_memif0 \
    options:n_rxq=2 ofport_request=1 &&
  "${vsctl[@]}" add-port br0 p1 -- set Interface p1 type=dpdk options:dpdk-devargs=net_memif1 \
    options:n_rxq=2 ofport_request=2 &&
  ovs-ofctl del-flows br0 && ok=1
  if [ $ok = 1 ]; then
    case $mode in
      plain) ovs-ofctl add-flow br0 "in_port=1,actions=output:2" ;;
      commit) ovs-ofctl add-flow br0 "ip,in_port=1,actions=ct(commit),output:2" ;;
      # Source NAT as the lab notes' commit flow: one pass, no recirculation.
      # The datapath's ct action rewrites the packet before output:2 (ports
      # from 1024-65535 since the generator's are; the original when free).
      masq) ovs-ofctl add-flow br0 \
        "ip,in_port=1,actions=ct(commit,nat(src=$WAN_ADDR)),output:2" ;;
      # MAC learning: room for every MAC (OVS keeps 2048 by default).
      normal) ovs-ofctl add-flow br0 "actions=NORMAL" &&
        "${vsctl[@]}" set bridge br0 other_config:mac-table-size=$((flows * 2 + 1024)) ;;
      # NORMAL behind conntrack, as OVS users write a stateful switch: untracked IP goes
      # through ct and back to table 1, new connections are committed; the rest switched.
      normal_ct) ovs-ofctl add-flow br0 "table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1)" &&
        ovs-ofctl add-flow br0 "table=0,priority=0,actions=NORMAL" &&
        ovs-ofctl add-flow br0 "table=1,ip,ct_state=+trk+new,actions=ct(commit),NORMAL" &&
        ovs-ofctl add-flow br0 "table=1,ip,ct_state=+trk+est,actions=NORMAL" &&
        "${vsctl[@]}" set bridge br0 other_config:mac-table-size=$((flows * 2 + 1024)) ;;
    esac
    ovs-ofctl dump-flows br0 > "$d/of-flows.txt" 2>&1
    "${vsctl[@]}" get Open_vSwitch . other_config > "$d/other_config.txt" 2>&1
    # The daemon detached into its own session, hence its own autogroup.
    [ -n "$AUTOGROUP_OLD" ] &&
      echo "$NICE" > "/proc/$(cat "$d/ovs-vswitchd.pid")/autogroup" 2>/dev/null
    # The control socket is named after the binary (ovs-vswitchd-dpdk.PID.ctl).
    local appctl=(ovs-appctl -t "$d/$(basename "$OVS_VSWITCHD").$(cat "$d/ovs-vswitchd.pid").ctl")
    "${appctl[@]}" dpctl/ct-set-maxconns $((flows * 2 + 100000)) > "$d/maxconns.txt" 2>&1
    if wait_sockets "$(cat "$d/ovs-vswitchd.pid")"; then
      "${appctl[@]}" dpif-netdev/pmd-stats-clear > /dev/null 2>&1
      GEN_EXTRA=(--queues 2)
      { [ "$mode" = normal ] || [ "$mode" = normal_ct ]; } &&
        GEN_EXTRA+=(--macs "$flows" --src-mac 02:00:01:00:00:00 --dst-mac 02:00:02:00:00:00)
      PEER_TID=$(find_tid "$(cat "$d/ovs-vswitchd.pid")" '^pmd')
      run_gen "$name" "$flows"
      GEN_EXTRA=()
      "${appctl[@]}" dpif-netdev/pmd-stats-show > "$d/pmd-stats.txt" 2>&1
      "${appctl[@]}" dpctl/ct-stats-show > "$d/ct-stats.txt" 2>&1
      if [ "$mode" = masq ]; then
        # Proof of translation: the committed connections' reply tuples go
        # to WAN_ADDR, and the datapath flow carries the nat action.
        "${appctl[@]}" dpctl/dump-conntrack > "$d/conntrack.txt" 2>&1
        "${appctl[@]}" dpctl/dump-flows > "$d/dp-flows.txt" 2>&1
        echo "  $name: nat: connections $(grep -c '^udp\|^tcp' "$d/conntrack.txt")," \
          "translated to $WAN_ADDR $(grep -c "reply=(src=[^,]*,dst=$WAN_ADDR," \
          "$d/conntrack.txt"), first flow:" \
          "$(grep -m1 'orig=(src=10\.1\.1\.0,[^)]*sport=1024,' "$d/conntrack.txt")" \
          >> "$RESULTS"
        echo "  $name: nat: datapath actions: $(grep -o 'actions:.*' "$d/dp-flows.txt" \
          | sort | uniq -c | sort -rn | head -3 | xargs)" >> "$RESULTS"
        echo "  $name: nat: tuple space exhausted $(grep -c 'Unable to NAT' \
          "$d/ovs-vswitchd.log") times (ovs-vswitchd.log, rate-limited)" >> "$RESULTS"
        grep -q "reply=(src=[^,]*,dst=$WAN_ADDR," "$d/conntrack.txt" ||
          echo "  $name: nat: no connection translated to $WAN_ADDR, see $d/conntrack.txt" \
            | tee -a "$RESULTS" >&2
      fi
      sed -n '/^pmd thread/,/^main thread/p' "$d/pmd-stats.txt" \
        | grep -E 'idle cycles|avg processing cycles|packets received' \
        | sed "s/^ */  $name: pmd /" >> "$RESULTS"
    else
      echo "  $name: OVS ports did not come up, see $d/ovs-vswitchd.log" | tee -a "$RESULTS" >&2
    fi
  else
    echo "  $name: OVS setup failed, see $d" | tee -a "$RESULTS" >&2
  fi
  stop_pidfile "$d/ovs-vswitchd.pid"
  stop_pidfile "$d/ovsdb-server.pid"
  OVS_DB_PIDS=()
  clean_prefix ctg-bench-ovs
  unset OVS_RUNDIR OVS_DBDIR OVS_LOGDIR
}

# Busy % of all CPUs over one second (nothing of ours runs between cases).
cpu_busy() {
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 1
  read -r -a b < <(grep '^cpu ' /proc/stat)
  awk -v u=$((b[1] + b[2] + b[3] + b[6] + b[7] + b[8] - a[1] - a[2] - a[3] - a[6] - a[7] - a[8])) \
      -v i=$((b[4] + b[5] - a[4] - a[5])) 'BEGIN {printf "%d", (u + i) ? 100 * u / (u + i) : 0}'
}

# Other engineers' builds share these 2 CPUs: wait for a quiet moment and
# note how busy the host was. Sets BUSY.
wait_quiet() {
  local t0=$SECONDS
  BUSY=$(cpu_busy)
  while [ "$QUIET_WAIT" -gt 0 ] && [ "$BUSY" -ge 15 ] && [ $((SECONDS - t0)) -lt "$QUIET_WAIT" ]; do
    sleep 2
    BUSY=$(cpu_busy)
  done
}

# CPU accounting around one run: busy and steal jiffies of the host, and the
# CPU time of our reaped children (bash `times`). OTHERS: % of all CPUs used
# by processes that are not ours during the run; STEAL: % stolen by the
# hypervisor.
HZ_TICKS=$(getconf CLK_TCK)
NCPU=$(nproc)
host_ticks() {  # prints "busy steal total"
  local c
  read -r -a c < <(grep '^cpu ' /proc/stat)
  echo $((c[1] + c[2] + c[3] + c[6] + c[7])) "${c[8]}" \
    $((c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7] + c[8]))
}
children_secs() {  # CPU seconds of reaped children so far; sets CHILD_SECS
  # `times` must run in this shell: in a pipe or $(...) it would report the
  # subshell's (empty) children.
  times > "$WORK/.times"
  CHILD_SECS=$(tail -1 "$WORK/.times" | awk '{
    s = 0
    for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
    printf "%.2f", s }')
}
DETACHED_TICKS=0
usage_begin() {
  read -r U_BUSY U_STEAL U_TOTAL < <(host_ticks)
  children_secs
  U_OURS=$CHILD_SECS
  U_DETACHED=$DETACHED_TICKS
}
usage_end() {
  local busy steal total ours
  read -r busy steal total < <(host_ticks)
  children_secs
  ours=$CHILD_SECS
  read -r OTHERS STEAL < <(awk -v b=$((busy - U_BUSY)) -v s=$((steal - U_STEAL)) \
      -v t=$((total - U_TOTAL)) -v o="$ours" -v o0="$U_OURS" -v hz="$HZ_TICKS" \
      -v dt=$((DETACHED_TICKS - U_DETACHED)) 'BEGIN {
    if (t <= 0) { print 0, 0; exit }
    x = 100 * (b - (o - o0) * hz - dt) / t; if (x < 0) x = 0
    printf "%d %d\n", x + 0.5, 100 * s / t + 0.5 }')
}

median() {
  sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]
    else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
best() { sort -g | tail -1; }

log "# ctgate forwarding benchmark, $(date -Is)"
log "# host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "kernel $(uname -r)"
if [ -z "${CTGATE_REV:-}" ]; then  # set it when the tree is not a git checkout
  CTGATE_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || CTGATE_REV="$CTGATE_REV+local changes"
fi
log "# dpdk $(pkg-config --modversion libdpdk 2>/dev/null), ctgate $CTGATE_REV, build $BUILD," \
  "nice $NICE"
FRAMES_LABEL="$PROTO, 64-byte frames"
[ "$GENERATOR" = pktgen ] && FRAMES_LABEL="pktgen_${PKTGEN_PROFILE//-/_}, pktgen frames, rate $PKTGEN_RATE%"
log "# $FRAMES_LABEL, ${SECONDS_RUN}s window after ${WARMUP}s warm-up, repeat $REPEAT," \
  "retries $RETRIES, logs in $WORK"
log "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A RUNS QUIET SHOWN CAP
CASES=()
want external && CASES+=("external:$EXTERNAL_FLOWS")
want testpmd && CASES+=("testpmd:1000")
want plain && CASES+=("plain:1000")
want ct1k && CASES+=("ct1k:1000")
want ctbig && CASES+=("ctbig:$BIG_FLOWS")
want masq1k && CASES+=("masq1k:1000")
want masqbig && CASES+=("masqbig:$MASQ_BIG_FLOWS")
want ovsplain && CASES+=("ovsplain:1000")
want ovsct1k && CASES+=("ovsct1k:1000")
want ovsctbig && CASES+=("ovsctbig:$BIG_FLOWS")
want ovsmasq1k && CASES+=("ovsmasq1k:1000")
want ovsmasqbig && CASES+=("ovsmasqbig:$MASQ_BIG_FLOWS")
want br1k && CASES+=("br1k:1000")
want brbig && CASES+=("brbig:$BRIDGE_BIG_MACS")
want ovsnormal1k && CASES+=("ovsnormal1k:1000")
want ovsnormalbig && CASES+=("ovsnormalbig:$BRIDGE_BIG_MACS")
want brct1k && CASES+=("brct1k:1000")
want ovsnormalct1k && CASES+=("ovsnormalct1k:1000")
want capnone && CASES+=("capnone:1000")
want capall && CASES+=("capall:1000")
# run_case NAME FLOWS TAG: one run of a case, with its bookkeeping. Sets
# RUN_QUIET to 1 when both pollers had their CPU.
run_case() {
  local name=$1 flows=$2 tag=$3
  RUN_QUIET=0
  wait_quiet
  echo "  $tag: host busy ${BUSY}% before the run" >> "$RESULTS"
  usage_begin
  case $name in
    testpmd) bench_testpmd "$tag" "$flows" ;;
    external) bench_external "$tag" "$flows" ;;
    plain) bench_ctgate "$tag" "$flows" false 65536 ;;
    ct1k) bench_ctgate "$tag" "$flows" true 65536 ;;
    ctbig) bench_ctgate "$tag" "$flows" true $((flows + flows / 4 + 1024)) ;;
    masq1k) bench_ctgate "$tag" "$flows" true 65536 masq ;;
    masqbig) bench_ctgate "$tag" "$flows" true $((flows + flows / 4 + 1024)) masq ;;
    ovsplain) bench_ovs "$tag" "$flows" plain ;;
    ovsct1k|ovsctbig) bench_ovs "$tag" "$flows" commit ;;
    ovsmasq1k|ovsmasqbig) bench_ovs "$tag" "$flows" masq ;;
    br1k|brbig) bench_ctgate "$tag" "$flows" false $((flows * 2 + flows / 2 + 1024)) bridge ;;
    ovsnormal1k|ovsnormalbig) bench_ovs "$tag" "$flows" normal ;;
    brct1k) bench_ctgate "$tag" "$flows" false $((flows * 2 + flows / 2 + 1024)) bridge_ct ;;
    ovsnormalct1k) bench_ovs "$tag" "$flows" normal_ct ;;
    capnone|capall) bench_ctgate "$tag" "$flows" false 65536 "$name" ;;
  esac
  usage_end
  echo "  $tag: other processes used ${OTHERS}% of the CPUs during the run, steal ${STEAL}%" \
    >> "$RESULTS"
  RUNS[$name]="${RUNS[$name]:-} ${MPPS:-FAIL}"
  CAP[$name]="${CAP[$name]:-} ${CAPACITY:-}"
  # Quiet: both pollers had their CPU to themselves for >= 95% of the
  # window (from the generator's schedstat readings), or, where the
  # forwarder thread was not found, others + steal took < 10%.
  if [ -n "${MPPS:-}" ]; then
    if [ -n "${FWD_CPU:-}" ] && [ -n "${GEN_CPU:-}" ]; then
      awk -v f="$FWD_CPU" -v g="$GEN_CPU" 'BEGIN {exit !(f >= 0.95 && g >= 0.95)}' && RUN_QUIET=1
    elif [ $((OTHERS + STEAL)) -lt 10 ]; then
      RUN_QUIET=1
    fi
  fi
  [ $RUN_QUIET = 1 ] && QUIET[$name]="${QUIET[$name]:-} $MPPS"
  SHOWN[$name]="${SHOWN[$name]:-} ${MPPS:-FAIL}(${FWD_CPU:-?}/${GEN_CPU:-?})"
}

for r in $(seq "$REPEAT"); do
  for c in "${CASES[@]}"; do
    name=${c%%:*}; flows=${c##*:}
    run_case "$name" "$flows" "$name-$r"
    # A disturbed run is kept, and retried up to --retries times.
    for t in $(seq "$RETRIES"); do
      [ "$RUN_QUIET" = 1 ] && break
      run_case "$name" "$flows" "$name-$r.retry$t"
    done
  done
done

if [ ${#CASES[@]} -gt 0 ]; then
  nums() { tr ' ' '\n' | grep -E '^[0-9.]+$' || true; }
  base=$(nums <<< "${RUNS[testpmd]:-}" | median)
  qbase=$(nums <<< "${QUIET[testpmd]:-}" | median)
  cbase=$(nums <<< "${CAP[testpmd]:-}" | median)
  ratio() {
    [ -n "$1" ] && [ -n "$2" ] &&
      awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) exit 1; printf "%.2f", a / b}' || echo -
  }
  log ""
  log "Mpps received by the generator (64 B, $PROTO), median and best of the runs."
  log "quiet: median of the runs where both pollers (forwarder, generator) had >= 95% of"
  log "their CPU. per-cpu: received Mpps per second of CPU the forwarder thread got (its"
  log "capacity when it is the bottleneck). runs: Mpps(forwarder CPU share/generator CPU share)."
  log "$(printf '%-22s %8s %7s %7s %7s %7s %6s %6s %6s  %s' forwarder flows median best quiet \
    per-cpu ratio q-ratio c-ratio runs)"
  for c in "${CASES[@]}"; do
    name=${c%%:*}; flows=${c##*:}
    med=$(nums <<< "${RUNS[$name]}" | median); bst=$(nums <<< "${RUNS[$name]}" | best)
    qmed=$(nums <<< "${QUIET[$name]:-}" | median)
    cmed=$(nums <<< "${CAP[$name]:-}" | median)
    case $name in
      testpmd) label="testpmd io (baseline)" ;;
      external) label="external forwarder" ;;
      plain) label="ctgate plain" ;;
      ovsplain) label="OVS-DPDK plain" ;;
      ovsct*) label="OVS-DPDK ct(commit)" ;;
      ovsmasq*) label="OVS-DPDK ct nat(src)" ;;
      ovsnormalct*) label="OVS-DPDK ct+NORMAL" ;;
      ovsnormal*) label="OVS-DPDK NORMAL" ;;
      brct*) label="ctgate bridge+ct" ;;
      capnone) label="ctgate plain, capture" ;;
      capall) label="ctgate plain, capture all" ;;
      br*) label="ctgate bridge" ;;
      masq*) label="ctgate masquerade" ;;
      *) label="ctgate conntrack" ;;
    esac
    log "$(printf '%-22s %8s %7s %7s %7s %7s %6s %6s %6s  %s' "$label" "$flows" "${med:-FAIL}" \
      "${bst:-FAIL}" "${qmed:--}" "${cmed:--}" "$(ratio "$med" "$base")" \
      "$(ratio "$qmed" "$qbase")" "$(ratio "$cmed" "$cbase")" "$(echo ${SHOWN[$name]})")"
    echo "fwd-bench: case=$name flows=$flows mpps=${med:-0} best=${bst:-0} quiet=${qmed:-none}" \
      "mpps_per_fwd_cpu=${cmed:-none} ratio_vs_testpmd=$(ratio "$med" "$base")" \
      "quiet_ratio=$(ratio "$qmed" "$qbase") per_cpu_ratio=$(ratio "$cmed" "$cbase")" >> "$RESULTS"
  done
  # Same-run ratios of two forwarders at the same flow count: ctgate against
  # OVS-DPDK doing the same work, and what source NAT costs each of them.
  pairs=""
  for p in ct1k:ovsct1k ctbig:ovsctbig masq1k:ovsmasq1k masqbig:ovsmasqbig \
      br1k:ovsnormal1k brbig:ovsnormalbig brct1k:ovsnormalct1k brct1k:br1k \
      masq1k:ct1k masqbig:ctbig ovsmasq1k:ovsct1k ovsmasqbig:ovsctbig; do
    a=${p%%:*} b=${p##*:} fa="" fb=""
    for c in "${CASES[@]}"; do
      [ "${c%%:*}" = "$a" ] && fa=${c##*:}
      [ "${c%%:*}" = "$b" ] && fb=${c##*:}
    done
    [ -n "$fa" ] && [ "$fa" = "$fb" ] && pairs+=" $a:$b:$fa"
  done
  if [ -n "$pairs" ]; then
    log ""
    log "Same-run ratios, Mpps of the first over the second (median, quiet, per-cpu):"
    for p in $pairs; do
      IFS=: read -r a b fl <<< "$p"
      med=$(ratio "$(nums <<< "${RUNS[$a]:-}" | median)" "$(nums <<< "${RUNS[$b]:-}" | median)")
      qmed=$(ratio "$(nums <<< "${QUIET[$a]:-}" | median)" "$(nums <<< "${QUIET[$b]:-}" | median)")
      cmed=$(ratio "$(nums <<< "${CAP[$a]:-}" | median)" "$(nums <<< "${CAP[$b]:-}" | median)")
      log "$(printf '  %-22s %8s %6s %6s %6s' "$a / $b" "$fl" "$med" "$qmed" "$cmed")"
      echo "fwd-bench-pair: a=$a b=$b flows=$fl ratio=$med quiet_ratio=$qmed" \
        "per_cpu_ratio=$cmed" >> "$RESULTS"
    done
  fi
  log "# load average at end of forwarding runs: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

if want cycles; then
  # Twice: with --no-huge (4 KiB pages, the binary's default) and with
  # hugepages (as the gateway runs): page size alone moves the numbers a lot.
  for mode in nohuge huge; do
    args=()
    [ $mode = huge ] && args=(--huge)
    log ""
    wait_quiet
    log "# ctgate-bench-cycles ($mode; in process, CPU 1, no ports; host busy ${BUSY}% before)"
    timeout -s INT 600 "$CYCLES" --cpu 1 --file-prefix ctg-bench-cycles --proto "$PROTO" \
      --flows "1000,$BIG_FLOWS" --new_flows "$BIG_FLOWS" "${args[@]}" \
      > "$WORK/cycles-$mode.out" 2> "$WORK/cycles-$mode.err"
    rc=$?
    clean_prefix ctg-bench-cycles
    grep -v '^EAL\|^TELEMETRY' "$WORK/cycles-$mode.out" | tee -a "$RESULTS"
    [ $rc = 0 ] || log "# ctgate-bench-cycles exited with $rc, see $WORK/cycles-$mode.err"
  done
  log "# load average after the cycles bench: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
log ""
log "# results: $RESULTS"
"${PYTHON:-python3}" "$ROOT/bench/bench_result.py" write --tool fwd --raw "$RESULTS" \
  --command "$COMMAND" --started "$STARTED_UTC" --commit "$CTGATE_REV" --log-dir "$WORK" ||
  echo "run_fwd_bench: could not write a result file" >&2
