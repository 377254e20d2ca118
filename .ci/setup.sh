#!/usr/bin/env bash
# Installs everything ctgate needs on Debian 12 and prepares hugepages.
# Idempotent; used by the README's two commands and by CI. Run as root.
set -euo pipefail

PACKAGES=(
  # build
  build-essential g++ meson ninja-build pkg-config
  # checks: formatting (.clang-format), clang's thread-safety analysis, the
  # callgrind instruction-count guard, libFuzzer (clang's runtime libraries)
  clang clang-format valgrind libclang-rt-14-dev
  # DPDK 22.11 LTS and the libraries the project links
  dpdk dpdk-dev libdpdk-dev libtbb-dev libgflags-dev libgoogle-glog-dev libgtest-dev libyaml-cpp-dev
  # systemd's readiness and watchdog protocol (sd_notify); the Prometheus endpoint's HTTP server
  libsystemd-dev libmicrohttpd-dev
  # tests: namespaces, real kernel traffic, the kernel oracle, packet crafting
  iproute2 ethtool iputils-ping iputils-tracepath traceroute netcat-openbsd python3 python3-scapy nftables conntrack tcpdump
  # the reference for VLAN switching (this kernel has no vlan_filtering): OVS in userspace
  openvswitch-switch
)

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (it installs packages and configures hugepages)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2 MiB hugepages: 1 GiB by default (CTGATE_HUGEPAGES=N to change).
want=${CTGATE_HUGEPAGES:-512}
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -w "$nr" ] && [ "$(cat "$nr")" -lt "$want" ]; then
  echo "$want" > "$nr" || true
fi
mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages || true
echo "setup: hugepages $(cat "$nr" 2>/dev/null || echo '?') x 2 MiB"
