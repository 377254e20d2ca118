#!/usr/bin/python3
"""Prints "tx rx": packets sent and received over all ethdev ports of a running DPDK process,
read from its telemetry socket (DIR/dpdk_telemetry.v2, DIR = /var/run/dpdk/<file-prefix>).
bench/run_fwd_bench.sh reads pktgen's counts this way: no screen to scrape. Prints nothing
and exits 1 when the process cannot be asked. Standard library only."""

import json
import os
import socket
import sys


def ask(sock, command):
    sock.send(command.encode())
    return json.loads(sock.recv(1 << 20).decode())


def main():
    path = os.path.join(sys.argv[1], "dpdk_telemetry.v2")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(path)
            s.recv(1 << 16)  # the greeting
            ports = ask(s, "/ethdev/list")["/ethdev/list"]
            tx = rx = 0
            for p in ports:
                st = ask(s, "/ethdev/stats,%d" % p)["/ethdev/stats"]
                tx += st["opackets"]
                rx += st["ipackets"]
    except (OSError, ValueError, KeyError, TypeError):
        return 1
    print(tx, rx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
