#!/usr/bin/python3
"""A tagging relay: the 802.1Q end of a trunk, for a kernel without VLAN subinterfaces
(CONFIG_VLAN_8021Q is off here: ../shared/lab/README.md).

    vlan_relay.py TRUNK IF:VID [IF:VID ...] --seconds N

Frames read on IF (untagged, from a host) leave TRUNK tagged VID; tagged frames read on TRUNK
leave the IF of their VID untagged; anything else is dropped. The kernel hands a received
frame's tag over out of band (PACKET_AUXDATA), whether or not it stayed in the data: both
are read. Runs N seconds at most, then exits; prints per-direction counts on the way out.
"""
import argparse
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
PACKET_OUTGOING = 4


def open_raw(ifname, auxdata=False):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    if auxdata:
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.setblocking(False)
    return s


def tag_of(data, ancdata):
    """(vid, untagged frame) of a frame read on the trunk, or (None, data)."""
    for level, kind, body in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(body) >= 20:
            status, _, _, _, _, tci = struct.unpack_from("=IIIHHH", body)
            if status & TP_STATUS_VLAN_VALID:
                return tci & 0xfff, data
    if len(data) >= 18 and data[12:14] == b"\x81\x00":
        vid = struct.unpack_from("!H", data, 14)[0] & 0xfff
        return vid, data[:12] + data[16:]
    return None, data


def read_frames(sock, limit=64):
    """(data, ancillary data) of up to `limit` frames `sock` received (not those it sent),
    without blocking."""
    for _ in range(limit):
        try:
            data, anc, _, addr = sock.recvmsg(65536, socket.CMSG_SPACE(32))
        except BlockingIOError:
            return
        if addr[2] != PACKET_OUTGOING:
            yield data, anc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trunk")
    ap.add_argument("access", nargs="+", help="IF:VID")
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    trunk = open_raw(args.trunk, auxdata=True)
    by_vid, by_sock = {}, {}
    for spec in args.access:
        ifname, vid = spec.split(":")
        s = open_raw(ifname)
        by_vid[int(vid)] = s
        by_sock[s] = int(vid)
    counts = {"tagged": 0, "untagged": 0, "dropped": 0}
    deadline = time.monotonic() + args.seconds
    socks = [trunk] + list(by_sock)
    print("relay ready", flush=True)
    while time.monotonic() < deadline:
        readable, _, _ = select.select(socks, [], [], 0.2)
        for s in readable:
            for data, anc in read_frames(s):  # bounded per wakeup
                if s is trunk:
                    vid, frame = tag_of(data, anc)
                    out = by_vid.get(vid)
                    if out is None:
                        counts["dropped"] += 1
                        continue
                    out.send(frame)
                    counts["untagged"] += 1
                else:
                    tag = struct.pack("!HH", 0x8100, by_sock[s])
                    trunk.send(data[:12] + tag + data[12:])
                    counts["tagged"] += 1
    print("relay done %s" % counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
