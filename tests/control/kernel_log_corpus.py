# The packet driver that made tests/control/kernel_log_corpus.h: run inside the client
# namespace of the topology in docs/design/log.md, with the router ruleset given there; each
# test is bracketed by LOGX-BEGIN/END markers in /dev/kmsg so dmesg can be split per packet.
import sys, time, subprocess, json
from scapy.all import *
conf.verb = 0
IFACE = 'cr0'
E = lambda: Ether(src='02:00:00:00:01:01', dst='02:00:00:00:01:02')
C4, S4 = '10.88.1.1', '10.88.2.2'
C6, S6 = '2001:db8:88:1::1', '2001:db8:88:2::2'
results = []

def kmsg(s):
    with open('/dev/kmsg', 'w') as f:
        f.write(s + '\n')

def run_test(name, note, pkts=None, cmd=None):
    kmsg('LOGX-BEGIN ' + name)
    time.sleep(0.05)
    sent = []
    if pkts:
        for p in pkts:
            raw = bytes(p)
            full = Ether(raw)
            sent.append({'repr': repr(full), 'l3hex': raw[14:].hex()})
            sendp(full, iface=IFACE)
            time.sleep(0.05)
    if cmd:
        for c in cmd:
            r = subprocess.run(c, shell=True, capture_output=True, text=True, timeout=15)
            sent.append({'cmd': c, 'rc': r.returncode})
    time.sleep(0.3)
    kmsg('LOGX-END ' + name)
    results.append({'name': name, 'note': note, 'sent': sent})

v4 = lambda **kw: IP(src=C4, dst=S4, ttl=64, **kw)
v6 = lambda **kw: IPv6(src=C6, dst=S6, hlim=64, **kw)
tcpopts = [('MSS', 1460), ('SAckOK', b''), ('Timestamp', (12345, 0)), ('NOP', None), ('WScale', 7)]

T = []
# ---------- IPv4 ----------
T.append(('v4_tcp_syn_opts', 'IPv4 TCP SYN with MSS/SACKperm/TS/NOP/WS, DF, id 4660',
  [E()/v4(id=0x1234, flags='DF')/TCP(sport=40001, dport=80, seq=1000, ack=0, flags='S', window=64240, options=tcpopts)]))
T.append(('v4_tcp_ack_psh_payload', 'IPv4 TCP PSH+ACK with 6 bytes payload, DF',
  [E()/v4(id=0x1235, flags='DF')/TCP(sport=40001, dport=80, seq=1001, ack=2002, flags='PA', window=502)/Raw(b'hello\n')]))
T.append(('v4_tcp_urg', 'IPv4 TCP URG+ACK+PSH urgptr 3, 6 bytes payload, no DF',
  [E()/v4(id=0x1236)/TCP(sport=40001, dport=80, seq=1007, ack=2002, flags='UAP', window=502, urgptr=3)/Raw(b'abcdef')]))
T.append(('v4_tcp_allflags_res', 'IPv4 TCP with all 9 flags (FSRPAUECN, N=AE/NS) and 3 reserved bits = 0b101, urgptr 0x1234',
  [E()/v4(id=0x1237)/TCP(sport=40001, dport=80, seq=0xFFFFFFFF, ack=0x80000000, flags='FSRPAUECN', reserved=5, window=65535, urgptr=0x1234)]))
T.append(('v4_tcp_rst', 'IPv4 TCP RST only, window 0',
  [E()/v4(id=0x1238)/TCP(sport=40001, dport=80, seq=5, ack=0, flags='R', window=0)]))
T.append(('v4_tcp_truncated', 'IPv4 proto 6 with only 10 bytes of L4 data (INCOMPLETE)',
  [E()/v4(id=0x1239, proto=6)/Raw(b'\x9c\x41\x00\x50' + b'\x00'*6)]))
T.append(('v4_udp', 'IPv4 UDP 40002->9999, 10 byte payload, DF',
  [E()/v4(id=0x2000, flags='DF')/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v4_udp_nodf', 'IPv4 UDP without DF, id 8193',
  [E()/v4(id=0x2001, flags=0)/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v4_udp_evilbit', 'IPv4 UDP with reserved/evil bit (0x8000) and DF set',
  [E()/v4(id=0x2002, flags='evil+DF')/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v4_udp_tos_bb', 'IPv4 UDP TOS byte 0xbb (DSCP 46 EF + ECN CE=3)',
  [E()/v4(id=0x2003, tos=0xbb)/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v4_udp_tos_ff', 'IPv4 UDP TOS byte 0xff',
  [E()/v4(id=0x2004, tos=0xff)/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v4_udp_tos_01', 'IPv4 UDP TOS byte 0x01 (ECT(1) only)',
  [E()/v4(id=0x2005, tos=0x01)/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v4_udplite', 'IPv4 protocol 136 (UDPLite) header 40004->9999 cscov 8',
  [E()/v4(id=0x2006, proto=136)/Raw(bytes.fromhex('9c4427 0f00080000'.replace(' ','')) )]))
T.append(('v4_icmp_echo', 'IPv4 ICMP echo request id 16962 seq 7, 8 bytes data',
  [E()/v4(id=0x3000, flags='DF')/ICMP(type=8, code=0, id=0x4242, seq=7)/Raw(b'ABCDEFGH')]))
T.append(('v4_icmp_echoreply', 'IPv4 ICMP echo reply id 16962 seq 8',
  [E()/v4(id=0x3001)/ICMP(type=0, code=0, id=0x4242, seq=8)/Raw(b'ABCDEFGH')]))
T.append(('v4_icmp_portunreach', 'IPv4 ICMP type 3 code 3 quoting IPv4/UDP 10.88.2.2:9999 -> 10.88.1.1:40002 (inner ttl 63 id 4369 len 31)',
  [E()/v4(id=0x3002)/ICMP(type=3, code=3)/IP(src=S4, dst=C4, ttl=63, id=0x1111)/UDP(sport=9999, dport=40002)/Raw(b'xyz')]))
T.append(('v4_icmp_fragneeded', 'IPv4 ICMP type 3 code 4 mtu 1400 quoting IPv4/TCP (first 8 bytes of TCP only)',
  [E()/v4(id=0x3003)/ICMP(type=3, code=4, nexthopmtu=1400)/Raw(bytes(IP(src=S4, dst=C4, ttl=63, id=0x2222, flags='DF')/TCP(sport=80, dport=40001, seq=7777, ack=1001, flags='A', window=100)/Raw(b'x'*1000))[:28])]))
T.append(('v4_icmp_timeexceeded', 'IPv4 ICMP type 11 code 0 quoting full IPv4 ICMP echo',
  [E()/v4(id=0x3004)/ICMP(type=11, code=0)/IP(src=S4, dst=C4, ttl=1, id=0x3333)/ICMP(type=8, id=9, seq=10)/Raw(b'pq')]))
T.append(('v4_icmp_redirect', 'IPv4 ICMP type 5 code 1 gw 10.88.2.254 quoting IPv4/UDP',
  [E()/v4(id=0x3005)/ICMP(type=5, code=1, gw='10.88.2.254')/IP(src=S4, dst=C4, ttl=63, id=0x4444)/UDP(sport=9999, dport=40002)]))
T.append(('v4_icmp_paramprob', 'IPv4 ICMP type 12 code 0 pointer 20 quoting IPv4/UDP',
  [E()/v4(id=0x3006)/ICMP(type=12, code=0, ptr=20)/IP(src=S4, dst=C4, ttl=63, id=0x5555)/UDP(sport=9999, dport=40002)]))
T.append(('v4_icmp_sourcequench', 'IPv4 ICMP type 4 code 0 quoting IPv4/TCP (8 bytes)',
  [E()/v4(id=0x3007)/ICMP(type=4, code=0)/Raw(bytes(IP(src=S4, dst=C4, ttl=63, id=0x6666)/TCP(sport=80, dport=40001, seq=1, ack=2, flags='A'))[:28])]))
T.append(('v4_icmp_timestamp', 'IPv4 ICMP type 13 timestamp request',
  [E()/v4(id=0x3008)/ICMP(type=13, code=0, id=1, seq=2, ts_ori=100, ts_rx=0, ts_tx=0)]))
T.append(('v4_icmp_unreach_short', 'IPv4 ICMP type 3 code 1 with only 8 bytes (no quoted packet) -> INCOMPLETE',
  [E()/v4(id=0x3009)/ICMP(type=3, code=1)]))
T.append(('v4_icmp_type200', 'IPv4 ICMP unknown type 200 code 9',
  [E()/v4(id=0x300a)/ICMP(type=200, code=9)/Raw(b'zz')]))
T.append(('v4_icmp_short_hdr', 'IPv4 proto 1 with only 3 bytes of L4',
  [E()/v4(id=0x300b, proto=1)/Raw(b'\x08\x00\x00')]))
T.append(('v4_ipopt_nop_eol', 'IPv4 UDP with IP options NOP NOP NOP EOL (ihl 6)',
  [E()/v4(id=0x4000, options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()])/UDP(sport=40002, dport=9999)/Raw(b'opt')]))
T.append(('v4_ipopt_rr', 'IPv4 UDP with IP option Record Route (len 11, ptr 4, 2 empty slots) + EOL (ihl 8)',
  [E()/v4(id=0x4001, options=[IPOption_RR(pointer=4, routers=['0.0.0.0', '0.0.0.0']), IPOption_EOL()])/UDP(sport=40002, dport=9999)/Raw(b'rr')]))
T.append(('v4_frag_first', 'IPv4 UDP first fragment (MF, offset 0), id 30583, 32 bytes L4',
  fragment(E()/v4(id=0x7777)/UDP(sport=40003, dport=9999)/Raw(b'F'*48), fragsize=32)[:1]))
T.append(('v4_frag_second', 'IPv4 UDP last fragment (offset 4 units = 32 bytes, no MF), id 30583',
  fragment(E()/v4(id=0x7777)/UDP(sport=40003, dport=9999)/Raw(b'F'*48), fragsize=32)[1:2]))
T.append(('v4_frag_tcp_mid', 'IPv4 TCP middle fragment (MF, offset 2 units = 16 bytes), id 30584',
  [E()/v4(id=0x7778, flags='MF', frag=2, proto=6)/Raw(b'T'*16)]))
T.append(('v4_frag_icmp_last', 'IPv4 ICMP last fragment (offset 3 units = 24 bytes), id 30585',
  [E()/v4(id=0x7779, frag=3, proto=1)/Raw(b'I'*8)]))
T.append(('v4_gre', 'IPv4 protocol 47 GRE (4-byte header, proto 0x0800) + 4 bytes',
  [E()/v4(id=0x5000)/GRE(proto=0x0800)/Raw(b'gggg')]))
T.append(('v4_sctp', 'IPv4 protocol 132 SCTP 5000->5001 (common header only)',
  [E()/v4(id=0x5001, proto=132)/Raw(bytes.fromhex('13881389000000010000000000'))]))
T.append(('v4_esp', 'IPv4 protocol 50 ESP spi 0x1000 seq 1',
  [E()/v4(id=0x5002, proto=50)/Raw(bytes.fromhex('0000100000000001') + b'e'*8)]))
T.append(('v4_ah', 'IPv4 protocol 51 AH spi 0x2000 nh UDP',
  [E()/v4(id=0x5003, proto=51)/Raw(bytes.fromhex('1104000000002000000000010000000000000000000000000000'))]))
T.append(('v4_esp_short', 'IPv4 protocol 50 ESP with only 4 bytes',
  [E()/v4(id=0x5004, proto=50)/Raw(b'\x00\x00\x10\x00')]))
# ---------- IPv6 ----------
T.append(('v6_tcp_syn_opts', 'IPv6 TCP SYN with options',
  [E()/v6()/TCP(sport=40001, dport=80, seq=1000, ack=0, flags='S', window=64240, options=tcpopts)]))
T.append(('v6_tcp_ack_psh_payload', 'IPv6 TCP PSH+ACK 6 bytes payload',
  [E()/v6()/TCP(sport=40001, dport=80, seq=1001, ack=2002, flags='PA', window=502)/Raw(b'hello\n')]))
T.append(('v6_tcp_urg', 'IPv6 TCP URG+ACK+PSH urgptr 3',
  [E()/v6()/TCP(sport=40001, dport=80, seq=1007, ack=2002, flags='UAP', window=502, urgptr=3)/Raw(b'abcdef')]))
T.append(('v6_tcp_truncated', 'IPv6 nh 6 with only 10 bytes',
  [E()/v6(nh=6)/Raw(b'\x9c\x41\x00\x50' + b'\x00'*6)]))
T.append(('v6_udp', 'IPv6 UDP 40002->9999 10 bytes payload',
  [E()/v6()/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v6_tc_flowlabel', 'IPv6 UDP tc 0xb9 (185) flow label 0x12345 (74565)',
  [E()/v6(tc=0xb9, fl=0x12345)/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v6_tc_max', 'IPv6 UDP tc 0xff fl 0xfffff hlim 255',
  [E()/IPv6(src=C6, dst=S6, hlim=255, tc=0xff, fl=0xfffff)/UDP(sport=40002, dport=9999)/Raw(b'0123456789')]))
T.append(('v6_icmp_echo', 'ICMPv6 echo request id 16962 seq 7',
  [E()/v6()/ICMPv6EchoRequest(id=0x4242, seq=7, data=b'ABCDEFGH')]))
T.append(('v6_icmp_echoreply', 'ICMPv6 echo reply id 16962 seq 8',
  [E()/v6()/ICMPv6EchoReply(id=0x4242, seq=8, data=b'ABCDEFGH')]))
T.append(('v6_icmp_portunreach', 'ICMPv6 type 1 code 4 quoting IPv6/UDP 2001:db8:88:2::2:9999 -> ::1:40002',
  [E()/v6()/ICMPv6DestUnreach(code=4)/IPv6(src=S6, dst=C6, hlim=63)/UDP(sport=9999, dport=40002)/Raw(b'xyz')]))
T.append(('v6_icmp_pkttoobig', 'ICMPv6 type 2 mtu 1280 quoting IPv6/TCP',
  [E()/v6()/ICMPv6PacketTooBig(mtu=1280)/IPv6(src=S6, dst=C6, hlim=63)/TCP(sport=80, dport=40001, seq=7777, ack=1001, flags='A', window=100)]))
T.append(('v6_icmp_timeexceeded', 'ICMPv6 type 3 code 0 quoting IPv6/ICMPv6 echo',
  [E()/v6()/ICMPv6TimeExceeded(code=0)/IPv6(src=S6, dst=C6, hlim=1)/ICMPv6EchoRequest(id=9, seq=10)]))
T.append(('v6_icmp_paramprob', 'ICMPv6 type 4 code 0 pointer 40 quoting IPv6/UDP',
  [E()/v6()/ICMPv6ParamProblem(code=0, ptr=40)/IPv6(src=S6, dst=C6, hlim=63)/UDP(sport=9999, dport=40002)]))
T.append(('v6_icmp_mld_report', 'ICMPv6 type 131 MLD report (forwarded unicast)',
  [E()/v6()/ICMPv6MLReport(mladdr='ff02::1:3')]))
T.append(('v6_icmp_type200', 'ICMPv6 type 200 code 9',
  [E()/v6()/ICMPv6Unknown(type=200, code=9, msgbody=b'zzzz')]))
T.append(('v6_hbh_dst_udp', 'IPv6 Hop-by-Hop (PadN 4) + Destination Options (PadN 4) + UDP',
  [E()/v6()/IPv6ExtHdrHopByHop(options=[PadN(optdata=b'\x00'*4)])/IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00'*4)])/UDP(sport=40002, dport=9999)/Raw(b'ext')]))
T.append(('v6_routing_tcp', 'IPv6 Routing header type 0 segleft 0 + TCP SYN',
  [E()/v6()/IPv6ExtHdrRouting(type=0, segleft=0, addresses=[])/TCP(sport=40001, dport=80, seq=1, flags='S', window=1000)]))
T.append(('v6_frag_first', 'IPv6 fragment header offset 0 M=1 id 0xabcd + UDP',
  [E()/v6()/IPv6ExtHdrFragment(id=0xabcd, m=1, offset=0, nh=17)/Raw(bytes(UDP(sport=40003, dport=9999, len=8+48, chksum=0x1234))+b'F'*24)]))
T.append(('v6_frag_second', 'IPv6 fragment header offset 4 (32 bytes) M=0 id 0xabcd (UDP continuation)',
  [E()/v6()/IPv6ExtHdrFragment(id=0xabcd, m=0, offset=4, nh=17)/Raw(b'F'*24)]))
T.append(('v6_frag_then_dstopt', 'IPv6 non-first fragment (offset 2, M=1) whose nh is Destination Options',
  [E()/v6()/IPv6ExtHdrFragment(id=0xabce, m=1, offset=2, nh=60)/Raw(b'D'*16)]))
T.append(('v6_atomic_frag_tcp', 'IPv6 atomic fragment (offset 0, M=0) id 0x1 + TCP SYN',
  [E()/v6()/IPv6ExtHdrFragment(id=1, m=0, offset=0, nh=6)/TCP(sport=40001, dport=80, seq=1, flags='S', window=1000)]))
T.append(('v6_esp', 'IPv6 nh 50 ESP spi 0x1000',
  [E()/v6(nh=50)/Raw(bytes.fromhex('0000100000000001') + b'e'*8)]))
T.append(('v6_ah_udp', 'IPv6 nh 51 AH spi 0x2000 (payload len 4 -> 24 bytes) + UDP',
  [E()/v6(nh=51)/Raw(bytes.fromhex('1104000000002000000000010000000000000000000000000000')[:24] + bytes(UDP(sport=40002, dport=9999, len=8, chksum=0)))]))
T.append(('v6_gre', 'IPv6 nh 47 GRE',
  [E()/v6()/GRE(proto=0x86dd)/Raw(b'gggg')]))
T.append(('v6_sctp', 'IPv6 nh 132 SCTP',
  [E()/v6(nh=132)/Raw(bytes.fromhex('13881389000000010000000000'))]))
T.append(('v6_nonext', 'IPv6 nh 59 No Next Header, 4 bytes payload',
  [E()/v6(nh=59)/Raw(b'nnnn')]))

T.append(('v4_tcp_ipopt_tcpopt', 'IPv4 TCP SYN with IP options NOP,NOP,NOP,EOL and TCP options (MSS 1460, NOP, NOP, SAckOK), DF, TOS 0x10',
  [E()/v4(id=0x1240, flags='DF', tos=0x10, options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()])/TCP(sport=40010, dport=443, seq=123456789, ack=0, flags='S', window=29200, options=[('MSS', 1460), ('NOP', None), ('NOP', None), ('SAckOK', b'')])]))
T.append(('v4_icmp_err_quoting_tcp_full', 'IPv4 ICMP type 3 code 13 quoting full 20-byte TCP header with IP options in inner header',
  [E()/v4(id=0x3010)/ICMP(type=3, code=13)/IP(src=S4, dst=C4, ttl=63, id=0x7001, flags='DF', options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()])/TCP(sport=80, dport=40001, seq=99, ack=100, flags='SA', window=1024, options=[('MSS', 1400)])]))
T.append(('v4_icmp_err_quoting_icmp_err', 'IPv4 ICMP type 11 quoting an IPv4 ICMP type 3 (no second recursion)',
  [E()/v4(id=0x3011)/ICMP(type=11, code=1)/IP(src=S4, dst=C4, ttl=63, id=0x7002)/ICMP(type=3, code=3)/IP(src=C4, dst=S4, ttl=63, id=0x7003)/UDP(sport=1, dport=2)]))
T.append(('v6_icmp_err_quoting_frag', 'ICMPv6 type 1 code 0 quoting IPv6 with Fragment header (offset 0, M=1) + UDP',
  [E()/v6()/ICMPv6DestUnreach(code=0)/IPv6(src=S6, dst=C6, hlim=63)/IPv6ExtHdrFragment(id=0x55, m=1, offset=0, nh=17)/UDP(sport=9999, dport=40002, len=100)]))
T.append(('v6_icmp_echo_tc_fl_loglevel', 'ICMPv6 echo request with tc 0x2e fl 0xabcde (also see level-info rule L)',
  [E()/v6(tc=0x2e, fl=0xabcde)/ICMPv6EchoRequest(id=1, seq=65535)]))

R = 'ip netns exec logx-r '
Cc = 'ip netns exec logx-c '
K = [
 ('v4_ping_to_router', 'client ping -c1 10.88.1.254 (input chain on router, reply via output chain from kernel ICMP socket)', None,
   [Cc + 'ping -c1 -W1 -s 16 10.88.1.254']),
 ('v6_ping_to_router', 'client ping -6 -c1 2001:db8:88:1::fe', None,
   [Cc + 'ping -6 -c1 -W1 -s 16 2001:db8:88:1::fe']),
 ('v4_router_ping_out', 'router (root) ping -c1 10.88.2.2 -> output chain with UID (server drops, no reply)', None,
   [R + 'ping -c1 -W1 -s 16 10.88.2.2']),
 ('v4_router_udp_nobody', 'router sends UDP 10.88.2.254:55555 -> 10.88.2.2:9999 from uid/gid 65534', None,
   [R + "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c \"import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('10.88.2.254',55555));s.sendto(b'hi',('10.88.2.2',9999))\""]),
 ('v6_router_udp_nobody', 'router sends UDP [2001:db8:88:2::fe]:55555 -> [2001:db8:88:2::2]:9999 from uid/gid 65534', None,
   [R + "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c \"import socket;s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);s.bind(('2001:db8:88:2::fe',55555));s.sendto(b'hi',('2001:db8:88:2::2',9999))\""]),
 ('v4_ttl1_timeexceeded', 'client UDP ttl=1 -> router drops, sends ICMP time exceeded (output chain)',
   [E()/IP(src=C4, dst=S4, ttl=1, id=0x6000)/UDP(sport=40005, dport=9999)/Raw(b'ttl1')], None),
 ('v6_hlim1_timeexceeded', 'client UDP hlim=1 -> router sends ICMPv6 time exceeded (output chain)',
   [E()/IPv6(src=C6, dst=S6, hlim=1)/UDP(sport=40005, dport=9999)/Raw(b'hl1')], None),
 ('v4_real_portunreach', 'client UDP to server port 33434 (closed) -> server ICMP port unreachable forwarded back (IN=rs0 OUT=rc0)',
   [E()/IP(src=C4, dst=S4, ttl=64, id=0x6001)/UDP(sport=40006, dport=33434)/Raw(b'probe')], None),
 ('v6_real_portunreach', 'client UDPv6 to server port 33434 -> server ICMPv6 port unreachable forwarded back',
   [E()/IPv6(src=C6, dst=S6, hlim=64)/UDP(sport=40006, dport=33434)/Raw(b'probe')], None),
 ('v4_udp7777_pre_post', 'UDP to port 7777: prerouting (no-prefix log and flags all) and postrouting logs',
   [E()/IP(src=C4, dst=S4, ttl=64, id=0x6002)/UDP(sport=40007, dport=7777)/Raw(b'pp')], None),
 ('v6_udp7777_pre_post', 'UDPv6 to port 7777: prerouting and postrouting logs',
   [E()/IPv6(src=C6, dst=S6, hlim=64)/UDP(sport=40007, dport=7777)/Raw(b'pp')], None),
]
only = sys.argv[1:]
for name, note, pk in T:
    if only and name not in only: continue
    run_test(name, note, pkts=pk)
for name, note, pk, cm in K:
    if only and name not in only: continue
    run_test(name, note, pkts=pk, cmd=cm)
json.dump(results, open('/tmp/logx/results2.json', 'w'), indent=1)
print('done', len(results))
