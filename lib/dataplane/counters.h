// The data plane's per-worker counters, defined once.
#pragma once

#include "common/counters.h"

namespace ctgate {

// Every way a packet can leave the data plane, plus activity counters.
#define DP_COUNTERS(X)                                                                             \
  X(rx, "packets received")                                                                        \
  X(tx, "packets handed to a TX queue")                                                            \
  X(bursts, "non-empty RX bursts")                                                                 \
  X(idle_polls, "loops that received nothing")                                                     \
  X(forwarded, "packets routed to another host")                                                   \
  X(local_in, "packets delivered to the gateway itself")                                           \
  X(local_out, "packets the gateway generated (ICMP echo replies)")                                \
  X(arp_in, "ARP packets received")                                                                \
  X(arp_reply_sent, "ARP replies sent for our addresses")                                          \
  X(arp_request_sent, "ARP requests sent to resolve next hops")                                    \
  X(arp_probe_sent, "unicast ARP probes of stale neighbours")                                      \
  X(arp_neigh_updated, "known neighbours refreshed by other ARP (gratuitous)")                     \
  X(neigh_queued, "packets held while their next hop resolves")                                    \
  X(neigh_queue_sent, "held packets sent once the next hop answered")                              \
  X(rx_checksum_filled,                                                                            \
    "TCP/UDP checksums filled in that the sender left to offload (L4_CKSUM_NONE)")                 \
  X(rx_udp_no_checksum, "UDP sent without a checksum that the device flagged as not filled in")    \
  X(rx_checksum_not_filled,                                                                        \
    "flagged left to offload, but no TCP/UDP pseudo sum to fill: as it is")                        \
  X(drop_runt, "drop: frame shorter than Ethernet header")                                         \
  X(drop_unsupported_ethertype, "drop: not IPv4, IPv6 or ARP")                                     \
  X(drop_other_host, "drop: unicast frame to another host's MAC (PACKET_OTHERHOST)")               \
  X(drop_l2_multicast_forward, "drop: to forward, but an L2 broadcast/multicast frame")            \
  X(drop_ip_truncated, "drop: truncated IPv4 header")                                              \
  X(drop_ip_bad_version, "drop: IP version is not 4")                                              \
  X(drop_ip_bad_ihl, "drop: bad IPv4 header length")                                               \
  X(drop_ip_bad_total_len, "drop: bad IPv4 total length")                                          \
  X(drop_ip_bad_checksum, "drop: bad IPv4 header checksum")                                        \
  X(drop_arp_ignored, "drop: ARP not for us or malformed (consumed)")                              \
  X(drop_ip6_truncated, "drop: truncated IPv6 header")                                             \
  X(drop_ip6_bad_payload_len, "drop: IPv6 payload length 0 (jumbogram) or beyond the frame")       \
  X(drop_ip6_ext_truncated, "drop: IPv6 extension header beyond the payload")                      \
  X(drop_ip6_ext_too_many, "drop: more than 8 IPv6 extension headers")                             \
  X(drop_ip6_hbh_not_first, "drop: IPv6 hop-by-hop options header not first")                      \
  X(ip6_forwarded, "IPv6 packets routed to another host (in forwarded too)")                       \
  X(ip6_local_in, "IPv6 packets delivered to the gateway itself (in local_in too)")                \
  X(nd_in, "neighbour solicitations and advertisements received")                                  \
  X(nd_na_sent, "neighbour advertisements sent for our addresses")                                 \
  X(nd_ns_sent, "neighbour solicitations sent to resolve next hops")                               \
  X(drop_nd_ignored, "drop: neighbour discovery not for us, or malformed (consumed)")              \
  X(drop_ip6_multicast, "drop: IPv6 multicast to a group the gateway is not in")                   \
  X(drop_ip6_link_local, "drop: link-local, not ours: never forwarded")                            \
  X(drop_ip6_not_routing, "drop: IPv6 not for the gateway, which has no address6 (not routing)")   \
  X(drop_ip6_martian_source,                                                                       \
    "drop: IPv6 source multicast, loopback, v4-mapped, unspecified; or to ::1")                    \
  X(drop_hop_limit_exceeded, "drop: IPv6 hop limit expired in transit")                            \
  X(drop_ip6_too_big, "drop: IPv6 over the output MTU (packet too big sent; not fragmented)")      \
  X(drop_ip6_fragment_local,                                                                       \
    "drop: an IPv6 fragment to the gateway, not reassembled (no conntrack)")                       \
  X(drop_icmp6_bad_checksum, "drop: ICMPv6 to the gateway with a bad checksum")                    \
  X(vlan_rx, "frames received tagged for a VLAN subinterface (tag removed)")                       \
  X(drop_vlan_unknown, "drop: tagged with a VLAN no subinterface of the port takes")               \
  X(drop_vlan_tag, "drop: no room to tag a frame for a VLAN subinterface (shared or no headroom)") \
  X(bridged, "frames switched to the one port the FDB names")                                      \
  X(bridge_flooded, "frames flooded in their VLAN: broadcast, multicast, unknown unicast")         \
  X(bridge_up, "frames handed to a bridge interface: to its MAC, or a group frame's copy")         \
  X(fdb_learned, "source MACs learned (new FDB entries)")                                          \
  X(fdb_moved, "source MACs seen on another port: their entry moved")                              \
  X(fdb_not_learned,                                                                               \
    "source MACs not learned: FDB full, the port's learning_limit, or static elsewhere")           \
  X(drop_bridge_vlan, "drop: VLAN not carried by the ingress port, or untagged with no pvid")      \
  X(drop_bridge_bad_source, "drop: bridged frame from a multicast or all-zero source MAC")         \
  X(drop_bridge_link_local, "drop: to 01:80:c2:00:00:0X (STP, LLDP, pause): never forwarded")      \
  X(drop_bridge_same_port, "drop: destination learned on the ingress port")                        \
  X(drop_bridge_egress_vlan, "drop: destination port does not carry the frame's VLAN")             \
  X(drop_bridge_no_egress, "drop: flooded, but no other port carries the frame's VLAN")            \
  X(drop_no_route, "drop: no route to destination")                                                \
  X(drop_broadcast, "drop: to a subnet broadcast/network address")                                 \
  X(drop_martian_source, "drop: source is loopback, 0/8, multicast, broadcast or ours")            \
  X(drop_ttl_exceeded, "drop: TTL expired in transit")                                             \
  X(drop_hook, "drop: a hook callback returned DROP")                                              \
  X(drop_local_unhandled, "drop: delivered locally, no service (not echo)")                        \
  X(drop_neigh_unresolved, "drop: next hop MAC unknown, no room to wait for it")                   \
  X(drop_neigh_queue_overflow,                                                                     \
    "drop: oldest packet for an unresolved next hop (unres_qlen_bytes)")                           \
  X(drop_neigh_failed, "drop: next hop never answered ARP (host unreachable sent)")                \
  X(drop_mtu_exceeded, "drop: larger than the output port's MTU with DF (frag needed sent)")       \
  X(reasm_reqds, "fragments taken for reassembly (ReasmReqds)")                                    \
  X(reasm_oks, "datagrams reassembled (ReasmOKs)")                                                 \
  X(reasm_frags, "fragments merged into reassembled datagrams")                                    \
  X(reasm_fails, "datagrams given up: timeout, overlap, bad length, memory (ReasmFails)")          \
  X(reasm_timeout, "datagrams not complete within ipfrag.time_ms (ReasmTimeout)")                  \
  X(reasm_overlaps, "datagrams discarded for overlapping fragments (ReasmOverlaps)")               \
  X(drop_frag_duplicate, "drop: fragment repeating data already held (datagram kept)")             \
  X(drop_frag_overlap, "drop: fragment of a datagram with overlapping fragments")                  \
  X(drop_frag_discarded, "drop: fragment of a datagram with inconsistent lengths")                 \
  X(drop_frag_oversize, "drop: fragment of a datagram over 65535 bytes")                           \
  X(drop_frag_ecn, "drop: fragment of a datagram mixing not-ECT with ECT/CE")                      \
  X(drop_frag_no_buffer, "drop: fragment; no reassembly buffer left (ipfrag.reasm_buffers)")       \
  X(drop_frag_mem, "drop: fragment of a new datagram over ipfrag.high_thresh")                     \
  X(drop_frag_timeout, "drop: fragment held longer than ipfrag.time_ms")                           \
  X(frag_oks, "datagrams fragmented for an output MTU (FragOKs)")                                  \
  X(frag_creates, "fragments created on output (FragCreates)")                                     \
  X(frag_fails, "datagrams that could not be fragmented: DF or no mbufs (FragFails)")              \
  X(drop_tx_full, "drop: TX queue full")                                                           \
  X(drop_port_detached, "drop: output port detached (its interface is gone)")                      \
  X(drop_no_mbuf, "drop: no mbuf for a reply or a flooded frame's retagged header")                \
  X(reject_sent, "TCP resets / ICMP unreachables sent by reject (over IPv6 also icmp_error_sent)") \
  X(mss_clamped, "TCP MSS options lowered by tcp option maxseg size set")                          \
  X(icmp_error_sent, "ICMP errors sent about packets not forwarded (TTL, MTU, no route)")          \
  X(icmp_error_ratelimited, "ICMP errors not sent: icmp.ratelimit_ms or msgs_per_sec")             \
  X(icmp_error_not_allowed, "ICMP errors not sent: about an error, fragment, broadcast")           \
  X(local_out_full, "generated packets not sent: the burst's local-out queue was full")            \
  X(log_suppressed, "log statements dropped: log ring full")                                       \
  X(set_full, "set elements not added from a rule: the set is full (its size)")                    \
  X(unconfirmed_leaked, "unconfirmed entries left at the end of a burst (bug if > 0)")
CTGATE_DEFINE_COUNTERS(dp_counter, DP_COUNTERS)

}  // namespace ctgate
