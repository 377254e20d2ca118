# shellcheck shell=bash
# What the demos share: sourced by app/demo.sh and app/bridge-demo.sh from the repository's
# root, after they set PREFIX (the DPDK file prefix) and CTL (ctgatectl with that prefix).

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Installs the dependencies and builds, the build's log in $1 (its tail shown on failure).
install_and_build() {
  say "install and build"
  bash .ci/setup.sh
  bash .ci/build.sh > "$1" 2>&1 || { tail -30 "$1"; exit 1; }
  echo "built build/app/ctgate"
}

# Starts ctgate on config $1 for $2 seconds, its output in $3, and waits (at most 20 s) until
# its telemetry answers; sets GW_PID. Shows the log and fails if ctgate exits first.
start_gateway() {
  say "start ctgate --config $1 (log: $3)"
  build/app/ctgate --config "$1" --run-seconds "$2" > "$3" 2>&1 &
  GW_PID=$!
  for _ in $(seq 100); do
    [ -S "/var/run/dpdk/$PREFIX/dpdk_telemetry.v2" ] && "${CTL[@]}" info > /dev/null 2>&1 && return 0
    kill -0 "$GW_PID" 2>/dev/null || { cat "$3"; exit 1; }
    sleep 0.2
  done
  echo "ctgate did not answer on its telemetry socket in 20 s"
  exit 1
}

# Stops the ctgate this demo started (SIGINT, then at most 5 s for it to exit).
stop_gateway() {
  if [ -n "${GW_PID:-}" ] && kill -0 "$GW_PID" 2>/dev/null; then
    kill -INT "$GW_PID"
    for _ in $(seq 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
  fi
}
