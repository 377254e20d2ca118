#!/usr/bin/env bash
# The forwarding benchmark in one run (see docs/bench.md):
#
#   1. dpdk-testpmd --forward-mode=io          (baseline: what memif + the generator allow)
#   2. ctgate, plain forwarding                 (conntrack hooks not registered)
#   3. ctgate, conntrack on, 1K flows
#   4. ctgate, conntrack on, --big-flows flows  (default 1M)
#   5. ctgate-bench-cycles                      (in-process cycles/packet, no ports)
#
# Every forwarder runs as a DPDK process with two net_memif server ports;
# ctgate-gen is the client on the other side: it sends on port 0, counts
# what comes back on port 1. Forwarder worker on CPU 1, generator worker on
# CPU 0; both main lcores sleep and share the CPUs.
#
# usage: bench/run_fwd_bench.sh [--seconds N] [--warmup N] [--repeat N] [--big-flows N]
#                               [--proto udp|tcp] [--results FILE] [--no-cycles] [--only LIST]
#                               [--quiet-wait N]
#   --only LIST      comma-separated subset of: testpmd,plain,ct1k,ctbig,cycles
#   --quiet-wait N   before each run, wait up to N s (default 120) for the other
#                    processes on the host to use < 15% CPU; 0: do not wait
#
# Needs root, hugepages (about 1 GiB free: `grep Huge /proc/meminfo`) and a
# build: `ninja -C build app/ctgate bench/ctgate-gen bench/ctgate-bench-cycles`.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
GEN=$BUILD/bench/ctgate-gen
CTGATE=$BUILD/app/ctgate
CYCLES=$BUILD/bench/ctgate-bench-cycles
TESTPMD=${TESTPMD:-dpdk-testpmd}

SECONDS_RUN=10
WARMUP=2
REPEAT=1
BIG_FLOWS=1000000
PROTO=udp
RESULTS=""
ONLY="testpmd,plain,ct1k,ctbig,cycles"
QUIET_WAIT=120

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
    -h|--help) sed -n 2,25p "$0"; exit 0 ;;
    *) echo "run_fwd_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

for b in "$GEN" "$CTGATE" "$CYCLES"; do
  [ -x "$b" ] || { echo "run_fwd_bench: $b not built" >&2; exit 1; }
done
command -v "$TESTPMD" >/dev/null || { echo "run_fwd_bench: $TESTPMD not found" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run_fwd_bench: needs root (DPDK)" >&2; exit 1; }

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
  exec 3>&- 2>/dev/null
  rm -f "$SOCK0" "$SOCK1"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() { local p=$1 keep=() q; for q in "${STARTED[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done; STARTED=("${keep[@]}"); }

wait_sockets() {  # the memif servers create their socket files at probe time
  local i
  for i in $(seq 300); do
    [ -S "$SOCK0" ] && [ -S "$SOCK1" ] && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# run_gen NAME FLOWS: runs the generator against whatever server is up;
# sets MPPS to the received rate (empty on failure). Functions set globals
# rather than print, so no server is ever started inside a $(...) subshell
# where the cleanup trap could not see its PID.
run_gen() {
  local name=$1 flows=$2 line
  local extra=()
  [ "$PROTO" = tcp ] && extra=(--proto tcp)
  timeout -s INT $((SECONDS_RUN + WARMUP + 60)) "$GEN" --flows "$flows" --seconds "$SECONDS_RUN" \
    --warmup "$WARMUP" --link-wait-ms 30000 "${extra[@]}" -- "${GEN_EAL[@]}" \
    > "$WORK/$name.gen.out" 2> "$WORK/$name.gen.err"
  line=$(grep '^gen: sent=' "$WORK/$name.gen.out")
  echo "  $name: $line" >> "$RESULTS"
  echo "  $name: $line" >&2
  MPPS=$(sed -n 's/.*rx_mpps=\([0-9.]*\).*/\1/p' <<< "$line")
}

# One testpmd io run; sets MPPS.
bench_testpmd() {
  local name=$1 flows=$2 pid
  MPPS=""
  rm -f "$SOCK0" "$SOCK1" "$WORK/$name.in"
  mkfifo "$WORK/$name.in"
  # testpmd forwards until its stdin reaches EOF ("Press enter to exit"):
  # fd 3 holds the FIFO open for exactly as long as the generator runs.
  timeout -s INT "$SERVER_LIMIT" "$TESTPMD" --lcores "0@0,1@1" --no-pci --file-prefix ctg-bench-tpmd \
    -m 256 --vdev "net_memif0,role=server,socket=$SOCK0,$MEMIF_OPTS" \
    --vdev "net_memif1,role=server,socket=$SOCK1,$MEMIF_OPTS" \
    -- --forward-mode=io --nb-cores=1 --total-num-mbufs=16384 \
    < "$WORK/$name.in" > "$WORK/$name.server.log" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  exec 3> "$WORK/$name.in"
  if wait_sockets "$pid"; then
    run_gen "$name" "$flows"
  else
    echo "  $name: testpmd did not come up, see $WORK/$name.server.log" | tee -a "$RESULTS" >&2
  fi
  exec 3>&-
  stop_pid "$pid" INT
  forget "$pid"
}

# One ctgate run; sets MPPS. $3: conntrack (true/false), $4: conntrack max.
bench_ctgate() {
  local name=$1 flows=$2 ct=$3 max=$4 pid cfg=$WORK/$1.yaml mem=512
  MPPS=""
  [ "$max" -gt 400000 ] && mem=768
  cat > "$cfg" <<EOF
# generated by bench/run_fwd_bench.sh
eal:
  lcores: "0@0,1@1"        # main lcore on CPU 0 (sleeps), worker on CPU 1
  memory_mb: $mem
  file_prefix: ctg-bench-fwd
  no_pci: true
workers: 1
mbufs: 16384
ports:
  - name: lan
    devargs: "net_memif0,role=server,socket=$SOCK0,$MEMIF_OPTS"
    address: 10.1.0.1/16
  - name: wan
    devargs: "net_memif1,role=server,socket=$SOCK1,$MEMIF_OPTS"
    address: 10.2.0.1/16
routes:
  - prefix: 198.18.0.0/15  # the generator's destination 198.18.0.10
    via: 10.2.0.254
neighbors:
  - address: 10.2.0.254
    mac: "02:00:00:00:02:fe"
    port: wan
conntrack:
  enable_hooks: $ct
  max: $max
EOF
  rm -f "$SOCK0" "$SOCK1"
  "$CTGATE" --config "$cfg" --run-seconds "$SERVER_LIMIT" > "$WORK/$name.server.log" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  if wait_sockets "$pid"; then
    run_gen "$name" "$flows"
  else
    echo "  $name: ctgate did not come up, see $WORK/$name.server.log" | tee -a "$RESULTS" >&2
  fi
  stop_pid "$pid" INT
  forget "$pid"
  grep -o 'final stats: .*' "$WORK/$name.server.log" | head -c 600 | sed "s/^/  $name: /" >> "$RESULTS"
  echo >> "$RESULTS"
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

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
best() { sort -g | tail -1; }

log "# ctgate forwarding benchmark, $(date -Is)"
log "# host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
log "# dpdk $(pkg-config --modversion libdpdk 2>/dev/null), ctgate $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')"
log "# $PROTO, 64-byte frames, ${SECONDS_RUN}s window after ${WARMUP}s warm-up, repeat $REPEAT, logs in $WORK"
log "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A RUNS
CASES=()
want testpmd && CASES+=("testpmd:1000")
want plain && CASES+=("plain:1000")
want ct1k && CASES+=("ct1k:1000")
want ctbig && CASES+=("ctbig:$BIG_FLOWS")
for r in $(seq "$REPEAT"); do
  for c in "${CASES[@]}"; do
    name=${c%%:*}; flows=${c##*:}
    wait_quiet
    echo "  $name-$r: host busy ${BUSY}% before the run" >> "$RESULTS"
    case $name in
      testpmd) bench_testpmd "testpmd-$r" "$flows" ;;
      plain) bench_ctgate "plain-$r" "$flows" false 65536 ;;
      ct1k) bench_ctgate "ct1k-$r" "$flows" true 65536 ;;
      ctbig) bench_ctgate "ctbig-$r" "$flows" true $((flows + flows / 4 + 1024)) ;;
    esac
    RUNS[$name]="${RUNS[$name]:-} ${MPPS:-FAIL}"
  done
done

if [ ${#CASES[@]} -gt 0 ]; then
  base=$(tr ' ' '\n' <<< "${RUNS[testpmd]:-}" | grep -E '^[0-9.]+$' | median)
  log ""
  log "$(printf '%-28s %8s %12s %10s %10s  %s' forwarder flows 'Mpps(median)' 'Mpps(best)' 'vs testpmd' runs)"
  for c in "${CASES[@]}"; do
    name=${c%%:*}; flows=${c##*:}
    vals=$(tr ' ' '\n' <<< "${RUNS[$name]}" | grep -E '^[0-9.]+$' || true)
    med=$(median <<< "$vals"); bst=$(best <<< "$vals")
    ratio=-
    [ -n "$base" ] && [ -n "$med" ] && ratio=$(awk -v a="$med" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
    case $name in
      testpmd) label="testpmd io (baseline)" ;;
      plain) label="ctgate plain forwarding" ;;
      ct1k) label="ctgate conntrack" ;;
      ctbig) label="ctgate conntrack" ;;
    esac
    log "$(printf '%-28s %8s %12s %10s %10s  %s' "$label" "$flows" "${med:-FAIL}" "${bst:-FAIL}" "$ratio" "$(echo ${RUNS[$name]})")"
    echo "fwd-bench: case=$name flows=$flows mpps=${med:-0} best=${bst:-0} ratio_vs_testpmd=$ratio" >> "$RESULTS"
  done
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
    grep -v '^EAL\|^TELEMETRY' "$WORK/cycles-$mode.out" | tee -a "$RESULTS"
    [ $rc = 0 ] || log "# ctgate-bench-cycles exited with $rc, see $WORK/cycles-$mode.err"
  done
  log "# load average after the cycles bench: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
log ""
log "# results: $RESULTS"
