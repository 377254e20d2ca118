#!/usr/bin/env bash
# Builds pktgen-dpdk 23.03 against the system's DPDK 22.11 (Debian 12's), for
# bench/run_pktgen.sh. pktgen is not packaged in Debian, and it is not vendored here.
#
# usage: bench/pktgen/build_pktgen.sh DIR
#   DIR holds a checkout of Pktgen-DPDK at tag pktgen-23.03.0; if it does not exist, it is
#   cloned there (git clone -b pktgen-23.03.0 https://github.com/pktgen/Pktgen-DPDK DIR).
#   Prints the binary's path last: export PKTGEN=<it> for bench/run_pktgen.sh.
#
# What it does:
#   1. apt-get installs the build's dependencies (libbsd, libnuma, libpcap, meson, ninja;
#      DPDK's -dev package from .ci/setup.sh);
#   2. makes two changes to the source:
#      - pktgen 23.03 panics when a port cannot set its MTU, and memif cannot (-ENOTSUP):
#        that one error is let through (app/pktgen-port-cfg.c);
#      - two threads that only wait spin (rte_pause) and take half a CPU each: the display
#        and statistics timer, pinned to the CPU numbered like the main lcore's id (not the
#        main lcore's CPU: with --lcores 0@1,1@0, the polling lcore's), and the command line
#        on the main lcore. Each sleeps 1 ms a turn instead (app/pktgen.c _timer_thread,
#        lib/cli/cli.c cli_start): statistics every second, the screen every half second and
#        typing do not notice. On a host with spare cores this changes nothing measured;
#   3. meson setup (Lua off, the default) and ninja.
set -eu -o pipefail
DIR=${1:?usage: bench/pktgen/build_pktgen.sh DIR (a Pktgen-DPDK checkout at pktgen-23.03.0)}
TAG=pktgen-23.03.0
if [ ! -d "$DIR" ]; then
  git clone -q --depth 1 -b "$TAG" https://github.com/pktgen/Pktgen-DPDK "$DIR"
fi
[ -f "$DIR/app/pktgen-port-cfg.c" ] ||
  { echo "build_pktgen: $DIR is not a Pktgen-DPDK checkout" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    libbsd-dev libnuma-dev libpcap-dev meson ninja-build pkg-config dpdk-dev libdpdk-dev \
    > /dev/null
fi
cfg=$DIR/app/pktgen-port-cfg.c
if ! grep -q 'ret != -ENOTSUP' "$cfg"; then
  # if ((ret = rte_eth_dev_set_mtu(pid, pktgen.eth_mtu)) < 0)  ->  ... < 0 && ret != -ENOTSUP)
  sed -i 's/if ((ret = rte_eth_dev_set_mtu(pid, pktgen.eth_mtu)) < 0)/if ((ret = rte_eth_dev_set_mtu(pid, pktgen.eth_mtu)) < 0 \&\& ret != -ENOTSUP)/' "$cfg"
  grep -q 'ret != -ENOTSUP' "$cfg" ||
    { echo "build_pktgen: could not apply the memif MTU change to $cfg" >&2; exit 1; }
fi
src=$DIR/app/pktgen.c
if ! grep -q 'usleep(1000); /\* ctgate' "$src"; then
  # The timer loop's rte_pause(), the one followed by the loop's end and "return NULL".
  perl -0pi -e 's/(process_stats\(\);.*?pktgen_page_display\(\);\n\s*\}\n\n\s*)rte_pause\(\);/$1usleep(1000); \/* ctgate: do not spin *\//s' "$src"
  grep -q 'usleep(1000); /\* ctgate' "$src" ||
    { echo "build_pktgen: could not apply the timer change to $src" >&2; exit 1; }
fi
cli=$DIR/lib/cli/cli.c
if ! grep -q 'usleep(1000); /\* ctgate' "$cli"; then
  # cli_start's input loop: poll, then rte_pause().
  perl -0pi -e 's/(cli_input\(&c, 1\);\n\s*)rte_pause\(\);/$1usleep(1000); \/* ctgate: do not spin *\//s' "$cli"
  grep -q 'usleep(1000); /\* ctgate' "$cli" ||
    { echo "build_pktgen: could not apply the command-line change to $cli" >&2; exit 1; }
fi
[ -d "$DIR/build" ] || meson setup "$DIR/build" "$DIR" > "$DIR/build-setup.log" 2>&1 ||
  { echo "build_pktgen: meson setup failed, see $DIR/build-setup.log" >&2; exit 1; }
ninja -C "$DIR/build" > "$DIR/build.log" 2>&1 ||
  { echo "build_pktgen: build failed, see $DIR/build.log" >&2; tail -20 "$DIR/build.log" >&2; exit 1; }
echo "$DIR/build/app/pktgen"
