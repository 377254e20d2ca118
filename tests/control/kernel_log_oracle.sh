#!/bin/bash
# The kernel oracle of tests/control/test_rule_log.cpp RuleLog.LinesAreTheKernels: three
# namespaces, a Linux router whose forward chain logs, the same frames the test sends, and the
# lines nf_log_syslog wrote (dmesg). Run as root; it cleans up and resets nf_log_all_netns.
set -e
C=klg-c; R=klg-r; S=klg-s
cleanup() { for n in $C $R $S; do ip netns del $n 2>/dev/null || true; done; sysctl -qw net.netfilter.nf_log_all_netns=0; }
trap cleanup EXIT
for n in $C $R $S; do ip netns add $n; ip netns exec $n ip link set lo up; for k in all default; do ip netns exec $n sysctl -qw net.ipv6.conf.$k.accept_dad=0 net.ipv6.conf.$k.accept_ra=0; done; done
ip link add klgc0 netns $C address 02:00:00:00:01:02 type veth peer name klgr0 netns $R address 02:00:00:00:01:01
ip link add klgs0 netns $S address 02:00:00:00:02:02 type veth peer name klgr1 netns $R address 02:00:00:00:02:01
ip netns exec $C ip addr add 10.88.1.2/24 dev klgc0; ip netns exec $C ip -6 addr add 2001:db8:88:1::2/64 dev klgc0 nodad; ip netns exec $C ip link set klgc0 up
ip netns exec $R ip addr add 10.88.1.1/24 dev klgr0; ip netns exec $R ip -6 addr add 2001:db8:88:1::1/64 dev klgr0 nodad; ip netns exec $R ip link set klgr0 up
ip netns exec $R ip addr add 10.88.2.1/24 dev klgr1; ip netns exec $R ip -6 addr add 2001:db8:88:2::1/64 dev klgr1 nodad; ip netns exec $R ip link set klgr1 up
ip netns exec $S ip addr add 10.88.2.2/24 dev klgs0; ip netns exec $S ip -6 addr add 2001:db8:88:2::2/64 dev klgs0 nodad; ip netns exec $S ip link set klgs0 up
ip netns exec $C ip route add default via 10.88.1.1; ip netns exec $C ip -6 route add default via 2001:db8:88:1::1
ip netns exec $S ip route add default via 10.88.2.1; ip netns exec $S ip -6 route add default via 2001:db8:88:2::1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip netns exec $R nft -f "$(dirname "$0")/kernel_log_rules.nft"
# neighbours
ip netns exec $C ping -c1 -W1 10.88.2.2 >/dev/null || true; ip netns exec $C ping -6 -c1 -W1 2001:db8:88:2::2 >/dev/null || true
sysctl -qw net.netfilter.nf_log_all_netns=1
dmesg -C 2>/dev/null || true
mark=$(date +%s%N)
ip netns exec $C /usr/bin/python3 - <<'PY'
from scapy.all import *
conf.verb=0
ifc="klgc0"
gm="02:00:00:00:01:01"; hm="02:00:00:00:01:02"
E=lambda: Ether(dst=gm, src=hm)
opts=[("MSS",1460),("SAckOK",b""),("Timestamp",(12345,0)),("NOP",None),("WScale",7)]
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4321,flags="DF",tos=0xb9,ttl=64)/TCP(sport=40000,dport=7001,flags="S",seq=1000,window=64240,options=opts), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4322)/TCP(sport=40001,dport=7002,flags="PAU",seq=2000,ack=3000,window=501,urgptr=7,options=opts)/Raw(b"x"*10), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4323)/UDP(sport=5353,dport=7003)/Raw(b"u"*12), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4324)/ICMP(type=8,id=77,seq=3)/Raw(b"p"*8), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4325)/ICMP(type=3,code=3)/IP(src="10.88.2.2",dst="10.88.1.2",id=9,ttl=50)/UDP(sport=7003,dport=5353,len=20), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4326)/ICMP(type=3,code=4,nexthopmtu=1400)/IP(src="10.88.2.2",dst="10.88.1.2",id=10)/TCP(sport=7001,dport=40000,flags="A",seq=5,ack=6), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4327,proto=47)/Raw(b"\x00\x00\x08\x00"+b"g"*20), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4328,flags="MF",frag=0)/UDP(sport=1,dport=7003)/Raw(b"f"*16), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4328,frag=3,proto=17)/Raw(b"f"*16), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.2.2",id=4329,options=[IPOption_NOP(),IPOption_NOP(),IPOption_NOP(),IPOption_EOL()])/TCP(sport=40002,dport=7009,flags="S",seq=9), iface=ifc)
sendp(E()/IP(src="10.88.1.2",dst="10.88.1.1",id=4330)/TCP(sport=40003,dport=7010,flags="S",seq=10), iface=ifc)
E6=lambda: Ether(dst=gm, src=hm)
sendp(E6()/IPv6(src="2001:db8:88:1::2",dst="2001:db8:88:2::2",tc=0xb8,fl=0x12345,hlim=64)/TCP(sport=40004,dport=7001,flags="S",seq=11,window=64800,options=opts), iface=ifc)
sendp(E6()/IPv6(src="2001:db8:88:1::2",dst="2001:db8:88:2::2")/TCP(sport=40005,dport=7002,flags="SE",seq=12,options=opts), iface=ifc)
sendp(E6()/IPv6(src="2001:db8:88:1::2",dst="2001:db8:88:2::2")/ICMPv6EchoRequest(id=5,seq=6,data=b"e"*8), iface=ifc)
sendp(E6()/IPv6(src="2001:db8:88:1::2",dst="2001:db8:88:2::2")/ICMPv6PacketTooBig(mtu=1280)/IPv6(src="2001:db8:88:2::2",dst="2001:db8:88:1::2")/UDP(sport=7003,dport=5353), iface=ifc)
sendp(E6()/IPv6(src="2001:db8:88:1::2",dst="2001:db8:88:2::2")/IPv6ExtHdrFragment(offset=0,m=1,id=0xabcd,nh=17)/UDP(sport=2,dport=7003)/Raw(b"q"*16), iface=ifc)
sendp(E6()/IPv6(src="2001:db8:88:1::2",dst="2001:db8:88:2::2")/IPv6ExtHdrFragment(offset=3,m=0,id=0xabcd,nh=17)/Raw(b"q"*16), iface=ifc)
sendp(E6()/IPv6(src="2001:db8:88:1::2",dst="2001:db8:88:2::2")/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/UDP(sport=3,dport=7003)/Raw(b"h"*4), iface=ifc)
PY
sleep 1
dmesg | grep -E "K[A-K]: " | sed -E 's/^\[[ 0-9.]+\] //' > /tmp/klog_lines.txt
cat /tmp/klog_lines.txt
