#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ (committed).

- fuzz_nft: every ruleset the tests and the demo use (tests/e2e/rulesets, drivers-config).
- fuzz_config: every shipped config (drivers-config/*.yaml).
- fuzz_pipeline: packet sequences in the target's record format ([port][advance][len16]
  [frame]): a TCP handshake, data and close; UDP both ways; pings; a fragmented datagram
  (in order, out of order, overlapping); a SYN to the synproxy port and its ACK; ARP; TTL 1;
  a DF packet over the wan MTU; a time step past the UDP timeout.
- fuzz_tcp: TCP option blocks of SYNs (Linux's, Windows', none) followed by headers.
- fuzz_telemetry: every command once without parameters, and with what ctgatectl sends:
  conntrack filters, trace expressions, ruleset paths (a directory, a FIFO, a missing file,
  a wildcard include) and ruleset texts.

File names are the content's sha1, as libFuzzer names its own. Run again after changing a
seed; it only adds files.

    python3 tests/fuzz/seeds.py
"""

import glob
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import ctgate_test as ct  # noqa: E402

ct.reexec_with_system_python("scapy")

import logging  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, Raw, fragment  # noqa: E402
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoReply,  # noqa: E402
                                ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                                ICMPv6NDOptSrcLLAddr, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)

LAN_HOST, WAN_HOST = "10.0.1.2", "10.0.2.2"
GW_MAC, H_MAC = "02:00:00:00:00:01", "02:00:00:00:01:02"


def save(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


def rec(port, frame, adv=0):
    frame = bytes(frame)
    return struct.pack("!BBH", port, adv, len(frame)) + frame


def eth(pkt):
    return Ether(dst=GW_MAC, src=H_MAC) / pkt


def pipeline_seeds():
    c2s = lambda p: rec(0, eth(IP(src=LAN_HOST, dst=WAN_HOST) / p))  # noqa: E731
    s2c = lambda p: rec(1, eth(IP(src=WAN_HOST, dst=LAN_HOST) / p))  # noqa: E731
    seeds = []
    # TCP handshake, data both ways, FIN close.
    seeds.append(b"".join([
        c2s(TCP(sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1460),
                                                                       ("WScale", 7)])),
        s2c(TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001,
                options=[("MSS", 1460), ("WScale", 7)])),
        c2s(TCP(sport=40000, dport=80, flags="A", seq=1001, ack=5001)),
        c2s(TCP(sport=40000, dport=80, flags="PA", seq=1001, ack=5001) / Raw(b"GET / HTTP/1.0\r\n\r\n")),
        s2c(TCP(sport=80, dport=40000, flags="PA", seq=5001, ack=1019) / Raw(b"x" * 600)),
        c2s(TCP(sport=40000, dport=80, flags="FA", seq=1019, ack=5601)),
        s2c(TCP(sport=80, dport=40000, flags="FA", seq=5601, ack=1020)),
        c2s(TCP(sport=40000, dport=80, flags="A", seq=1020, ack=5602)),
    ]))
    # A RST in and out of the window.
    seeds.append(b"".join([
        c2s(TCP(sport=40001, dport=22, flags="S", seq=1)),
        s2c(TCP(sport=22, dport=40001, flags="SA", seq=9, ack=2)),
        s2c(TCP(sport=22, dport=40001, flags="R", seq=100000)),
        s2c(TCP(sport=22, dport=40001, flags="R", seq=10)),
    ]))
    # UDP both ways, then a step past the UDP timeout (advance byte 200 + 31 s).
    seeds.append(c2s(UDP(sport=5353, dport=53) / Raw(b"q" * 30)) +
                 s2c(UDP(sport=53, dport=5353) / Raw(b"a" * 60)) +
                 rec(0, eth(IP(src=LAN_HOST, dst=WAN_HOST) / UDP(sport=5353, dport=53)), 231))
    # Ping through and to the gateway.
    seeds.append(c2s(ICMP(type=8, id=7, seq=1) / Raw(b"p" * 56)) +
                 s2c(ICMP(type=0, id=7, seq=1) / Raw(b"p" * 56)) +
                 rec(0, eth(IP(src=LAN_HOST, dst="10.0.1.1") / ICMP(type=8, id=8, seq=1))))
    # Fragments: in order, reversed, overlapping; a large ping to the gateway.
    big = IP(src=LAN_HOST, dst=WAN_HOST, id=77) / UDP(sport=5000, dport=53) / Raw(b"f" * 3000)
    frags = fragment(big, fragsize=1480)
    seeds.append(b"".join(rec(0, eth(f)) for f in frags))
    seeds.append(b"".join(rec(0, eth(f)) for f in reversed(frags)))
    ov = IP(src=LAN_HOST, dst=WAN_HOST, id=78, proto=17, flags="MF", frag=100) / Raw(b"o" * 800)
    seeds.append(rec(0, eth(frags[0])) + rec(0, eth(ov)) + rec(0, eth(frags[1])))
    pbig = IP(src=LAN_HOST, dst="10.0.1.1", id=79) / ICMP(type=8, id=9, seq=1) / Raw(b"P" * 2500)
    seeds.append(b"".join(rec(0, eth(f)) for f in fragment(pbig, fragsize=1480)))
    # Synproxy: a SYN to 8080 and an ACK with a guessed cookie.
    seeds.append(c2s(TCP(sport=41000, dport=8080, flags="S", seq=77,
                         options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)),
                                  ("WScale", 7)])) +
                 c2s(TCP(sport=41000, dport=8080, flags="A", seq=78, ack=12345)))
    # ARP for the gateway, a gratuitous ARP, TTL 1, DF over the wan MTU (1280), no route.
    seeds.append(rec(0, Ether(dst="ff:ff:ff:ff:ff:ff", src=H_MAC) /
                     ARP(op=1, hwsrc=H_MAC, psrc=LAN_HOST, pdst="10.0.1.1")) +
                 rec(1, Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:02:09") /
                     ARP(op=2, hwsrc="02:00:00:00:02:09", psrc="10.0.2.9", pdst="10.0.2.9")))
    seeds.append(rec(0, eth(IP(src=LAN_HOST, dst=WAN_HOST, ttl=1) / UDP(sport=1, dport=53))) +
                 rec(0, eth(IP(src=LAN_HOST, dst=WAN_HOST, flags="DF") / UDP(sport=2, dport=53) /
                            Raw(b"d" * 1400))) +
                 rec(0, eth(IP(src=LAN_HOST, dst=WAN_HOST) / UDP(sport=3, dport=53) /
                            Raw(b"n" * 1400))) +
                 rec(0, eth(IP(src=LAN_HOST, dst="192.0.2.1") / UDP(sport=4, dport=53))))
    # An unresolved next hop on the wan (queued, ARP asked).
    seeds.append(rec(0, eth(IP(src=LAN_HOST, dst="10.0.2.77") / UDP(sport=5, dport=53))) +
                 rec(1, Ether(dst=GW_MAC, src="02:00:00:00:02:4d") /
                     ARP(op=2, hwsrc="02:00:00:00:02:4d", psrc="10.0.2.77", pdst="10.0.2.1")))
    # IPv6: neighbour discovery, echo to the gateway, UDP and TCP through, extension headers,
    # a later fragment, hop limit 1, too big for the wan (1280), an unresolved next hop.
    c6 = lambda p, **kw: rec(0, eth(IPv6(src="2001:db8:1::2", dst="2001:db8:2::2", **kw) / p))  # noqa: E731
    seeds.append(
        rec(0, Ether(dst="33:33:ff:00:00:01", src=H_MAC) /
            IPv6(src="2001:db8:1::2", dst="ff02::1:ff00:1", hlim=255) /
            ICMPv6ND_NS(tgt="2001:db8:1::1") / ICMPv6NDOptSrcLLAddr(lladdr=H_MAC)) +
        rec(0, eth(IPv6(src="2001:db8:1::2", dst="2001:db8:1::1") /
                   ICMPv6EchoRequest(id=3, seq=1, data=b"e" * 32))) +
        c6(UDP(sport=5353, dport=53) / Raw(b"q" * 30)) +
        c6(TCP(sport=40000, dport=80, flags="S", seq=1)) +
        c6(IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() /
           UDP(sport=1, dport=53)) +
        c6(IPv6ExtHdrFragment(offset=100, m=1, id=5, nh=17) / Raw(b"t" * 64)) +
        c6(UDP(sport=2, dport=53), hlim=1) +
        c6(UDP(sport=3, dport=53) / Raw(b"b" * 1300)))
    # IPv6 synproxy: a SYN to 8080 with options, an ACK with a guessed cookie, a server SYN-ACK.
    seeds.append(
        c6(TCP(sport=41000, dport=8080, flags="S", seq=77,
               options=[("MSS", 1440), ("SAckOK", b""), ("Timestamp", (5, 0)),
                        ("WScale", 7)])) +
        c6(TCP(sport=41000, dport=8080, flags="A", seq=78, ack=12345)) +
        rec(1, Ether(dst=GW_MAC, src="02:00:00:00:02:02") /
            IPv6(src="2001:db8:2::2", dst="2001:db8:1::2") /
            TCP(sport=8080, dport=41000, flags="SA", seq=900, ack=78)))
    seeds.append(
        rec(0, eth(IPv6(src="2001:db8:1::2", dst="2001:db8:2::77") / UDP(sport=6, dport=53))) +
        rec(1, Ether(dst=GW_MAC, src="02:00:00:00:02:77") /
            IPv6(src="2001:db8:2::77", dst="2001:db8:2::1", hlim=255) /
            ICMPv6ND_NA(tgt="2001:db8:2::77", S=1, O=1) /
            ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:02:77")))
    # IPv6 NAT: dnat of tcp/8081 and the inside server's answer, a masqueraded query, its
    # answer and an ICMPv6 error quoting it, an echo through snat.
    w6 = lambda src, dst, p: rec(1, Ether(dst=GW_MAC, src="02:00:00:00:02:02") /  # noqa: E731
                                 IPv6(src=src, dst=dst) / p)
    seeds.append(
        w6("2001:db8:2::2", "2001:db8:2::1", TCP(sport=43000, dport=8081, flags="S", seq=5)) +
        rec(0, eth(IPv6(src="2001:db8:1::3", dst="2001:db8:2::2") /
                   TCP(sport=80, dport=43000, flags="SA", seq=70, ack=6))) +
        c6(UDP(sport=5400, dport=53) / Raw(b"m" * 20)) +
        w6("2001:db8:2::2", "2001:db8:2::1", UDP(sport=53, dport=5400) / Raw(b"r" * 20)) +
        w6("2001:db8:2::2", "2001:db8:2::1",
           ICMPv6DestUnreach(code=4) / IPv6(src="2001:db8:2::1", dst="2001:db8:2::2", hlim=63) /
           UDP(sport=5400, dport=53) / Raw(b"m" * 20)) +
        c6(ICMPv6EchoRequest(id=0x99, seq=1, data=b"n" * 8)) +
        w6("2001:db8:2::2", "2001:db8:2::1", ICMPv6EchoReply(id=0x99, seq=1, data=b"n" * 8)))
    # IPv6 fragments for nf_defrag_ipv6: in order, reversed, an overlap, an odd length, an
    # atomic fragment, a fragmented echo to the gateway, a datagram whose fragments are too big
    # for the wan (1280).
    def frags6(l4, pieces, ident, dst="2001:db8:2::2"):
        whole = IPv6(src="2001:db8:1::2", dst=dst) / l4
        data, nh = bytes(whole)[40:], whole[IPv6].nh
        return [rec(0, eth(IPv6(src="2001:db8:1::2", dst=dst) /
                           IPv6ExtHdrFragment(nh=nh, offset=o // 8, m=m, id=ident) /
                           Raw(data[o:o + n]))) for o, n, m in pieces]
    q = UDP(sport=5354, dport=53) / Raw(b"f" * 2000)
    seeds.append(b"".join(frags6(q, [(0, 1232, 1), (1232, 776, 0)], 21)))
    seeds.append(b"".join(reversed(frags6(q, [(0, 1000, 1), (1000, 1008, 0)], 22))))
    seeds.append(b"".join(frags6(q, [(0, 1000, 1), (504, 1000, 1), (1000, 1008, 0)], 23)))
    seeds.append(b"".join(frags6(q, [(0, 1000, 1), (1000, 999, 1)], 24)))
    seeds.append(b"".join(frags6(UDP(sport=5355, dport=53) / Raw(b"a" * 24), [(0, 32, 0)], 25)))
    seeds.append(b"".join(frags6(ICMPv6EchoRequest(id=4, seq=1, data=b"p" * 3000),
                                 [(0, 1448, 1), (1448, 1448, 1), (2896, 112, 0)], 26,
                                 dst="2001:db8:1::1")))
    seeds.append(b"".join(frags6(q, [(0, 1400, 1), (1400, 608, 0)], 27)))
    # Found by the fuzzer: an atomic fragment to an unresolved neighbour leaves whole and waits.
    seeds.append(b"".join(frags6(UDP(sport=5356, dport=53) / Raw(b"n" * 24), [(0, 32, 0)], 28,
                                 dst="2001:db8:2::5602")))
    # Switching (ports 2 and 3: an access port of VLAN 10, a trunk of 10 and 20): a broadcast
    # learned and flooded tagged, the tagged answer switched back untagged, VLAN 20 and a
    # priority tag, a MAC moving, STP's address, and ten new MACs into the 16-entry FDB.
    b1, b2 = "02:00:00:00:0b:01", "02:00:00:00:0b:02"
    seeds.append(b"".join([
        rec(2, Ether(dst="ff:ff:ff:ff:ff:ff", src=b1) / ARP(psrc="10.9.0.1", pdst="10.9.0.2")),
        rec(3, Ether(dst=b1, src=b2) / Dot1Q(vlan=10) / IP(src="10.9.0.2", dst="10.9.0.1") /
            ICMP()),
        rec(2, Ether(dst=b2, src=b1) / IP(src="10.9.0.1", dst="10.9.0.2") / ICMP()),
        rec(3, Ether(dst=b1, src=b2) / Dot1Q(vlan=20) / IP() / UDP()),
        rec(3, Ether(dst=b1, src=b2) / Dot1Q(vlan=0, prio=5) / IP() / UDP()),
        rec(3, Ether(dst=b2, src=b1) / Dot1Q(vlan=10) / IP() / UDP(), adv=250),
        rec(2, Ether(dst="01:80:c2:00:00:00", src=b1) / Raw(b"\x00" * 40)),
    ] + [rec(2, Ether(dst=b2, src="02:00:00:00:0c:%02x" % i) / IP() / UDP()) for i in range(10)]))
    # lan.100 (port 0 tagged 100): ARP and ping to its address, a flow routed to wan and its
    # answer tagged back, an unknown VLAN, a priority tag, and a tagged frame cut short.
    v = lambda vid, p: rec(0, Ether(dst=GW_MAC, src=H_MAC) / Dot1Q(vlan=vid) / p)  # noqa: E731
    seeds.append(b"".join([
        v(100, ARP(psrc="10.0.100.2", pdst="10.0.100.1", hwsrc=H_MAC)),
        v(100, IP(src="10.0.100.2", dst="10.0.100.1") / ICMP()),
        v(100, IP(src="10.0.100.2", dst=WAN_HOST) / UDP(sport=4000, dport=53)),
        rec(1, Ether(dst=GW_MAC, src="02:00:00:00:02:02") /
            IP(src=WAN_HOST, dst="10.0.100.2") / UDP(sport=53, dport=4000)),
        v(200, IP(src="10.0.100.2", dst="10.0.100.1") / ICMP()),
        v(0, IP(src=LAN_HOST, dst="10.0.1.1") / ICMP()),
        bytes(rec(0, Ether(dst=GW_MAC, src=H_MAC, type=0x8100) / Raw(b"\x00\x64"))),
    ]))
    for s in seeds:
        save("fuzz_pipeline", s)


def tcp_seeds():
    blocks = [
        bytes(TCP(options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                           ("WScale", 7)]))[20:],
        bytes(TCP(options=[("MSS", 1460), ("NOP", None), ("WScale", 8), ("NOP", None),
                           ("NOP", None), ("SAckOK", b"")]))[20:],
        bytes(TCP(options=[("MSS", 536)]))[20:],
        b"",
    ]
    hdr = bytes(TCP(sport=1, dport=2, flags="A", seq=10, ack=20,
                    options=[("NOP", None), ("NOP", None), ("Timestamp", (5, 6)),
                             ("SAck", (100, 200))]))
    for b in blocks:
        save("fuzz_tcp", b + bytes(8) + hdr)


def telemetry_seeds():
    """[command index][mode][params]: indices in lib/control/telemetry.cpp's table order."""
    with open(os.path.join(ROOT, "lib", "control", "telemetry.cpp")) as f:
        names = [l.split('"')[1] for l in f if l.strip().startswith('{"/ctgate/')]
    idx = {n.split("/ctgate/")[1]: i for i, n in enumerate(names)}
    for i in range(len(names)):
        save("fuzz_telemetry", bytes([i, 1]))
    filters = ["proto=tcp", "proto=udp dport=53", "src=10.0.1.2 dst=10.0.2.2 sport=40002",
               "proto=icmp", "state=SYN_SENT", "mark=0x1", "zone=0", "dport=99999", "bogus"]
    for f in filters:
        for cmd in ("conntrack/list", "conntrack/delete"):
            save("fuzz_telemetry", bytes([idx[cmd], 0]) + f.encode())
    for e in ("tcp dport 80", "ip saddr 10.0.1.2 udp dport 53", "", "ct state new", "tcp dport"):
        save("fuzz_telemetry", bytes([idx["trace/start"], 0]) + e.encode())
    for p in ("dir", "fifo", "empty.nft", "all.nft", "missing.nft", ".."):
        save("fuzz_telemetry", bytes([idx["ruleset/load"], 0]) + p.encode())
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "e2e", "rulesets", "*.nft")))[:8]:
        with open(path, "rb") as f:
            save("fuzz_telemetry", bytes([idx["ruleset/load"], 2]) + f.read())


def text_seeds():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "e2e", "rulesets", "*.nft")) +
                       glob.glob(os.path.join(ROOT, "drivers-config", "*.nft"))):
        with open(path, "rb") as f:
            save("fuzz_nft", f.read())
    for path in sorted(glob.glob(os.path.join(ROOT, "drivers-config", "*.yaml"))):
        with open(path, "rb") as f:
            save("fuzz_config", f.read())


if __name__ == "__main__":
    pipeline_seeds()
    tcp_seeds()
    telemetry_seeds()
    text_seeds()
    for t in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print("%-14s %d files" % (t, len(os.listdir(os.path.join(HERE, "corpus", t)))))
