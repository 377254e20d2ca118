// The stages of the worker pipeline. Each takes a burst and returns how many
// packets it handed on (the rest were dropped, consumed or set aside).
//
//   rx -> vlan (a port with VLAN subinterfaces: tagged frames become their subinterface's)
//   rx -> bridge (a bridge member's frames: switched, sent; with bridge-family hooks,
//         through bridge PRE_ROUTING -> learn, look up -> bridge FORWARD -> POST_ROUTING,
//         or bridge INPUT -> up to a bridge interface; what an interface sends, through
//         bridge OUTPUT -> POST_ROUTING)
//
//   rx -> parse(+arp) -> PRE_ROUTING -> route -+-> LOCAL_IN -> local ------+
//                                              |                           v
//                                              +-> forward(ttl) -> FORWARD |  LOCAL_OUT ->
//                                              route_out
//                                                          |               |        |
//                                                          +--> POST_ROUTING <------+ -> fragment
//                                                          -> tx
#pragma once

#include "dataplane/worker.h"

namespace ctgate {

uint16_t stage_rx(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t max);
// A burst of a port with VLAN subinterfaces (port_info::has_vlans): frames tagged for one of
// them lose the tag and go to `tagged`, with the subinterface's port index in `tagged_port`
// (*n_tagged of them, in order); untagged frames stay in pkts (the count returned); frames of
// other VLANs are dropped.
uint16_t stage_vlan(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n, rte_mbuf** tagged,
                    uint16_t* tagged_port, uint16_t* n_tagged);
// Switches a burst from a bridge member (port_info::bridge): learns, forwards or floods in the
// frame's VLAN, sends. Returns the frames for the bridge's interfaces (to an interface's MAC,
// or copies of group frames in its VLAN), left in pkts untagged, each with in_port its
// interface's.
uint16_t stage_bridge(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// Sends a frame of bridge interface `itf` (port_info::iface_of), its addresses written: switched
// by the bridge's FDB in the interface's VLAN (tagged where the member carries it tagged), or
// flooded in it, through the bridge family's OUTPUT and POST_ROUTING if a chain hooks them
// (Linux's br_dev_xmit). Counts `tx` for each frame it gives a member; the interface's own TX
// count is the caller's.
void bridge_output(worker_ctx& w, const port_info& itf, rte_mbuf* m);
// The callbacks of a hook point registered for the bridge family (a bridge table's chains,
// nf_conntrack_bridge's), over a burst of switched frames.
uint16_t stage_hook_bridge(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n);
// One frame's verdict at a bridge hook point, the frame left alone whatever it is: a flooded
// frame meets FORWARD (OUTPUT if a bridge interface sent it) and POST_ROUTING once per output
// port (Linux's br_flood), and is dropped only if no port takes it. The bridge's callbacks never
// steal a frame.
verdict bridge_hook_verdict(worker_ctx& w, hook_point hp, rte_mbuf* m);
// Parses; ARP is answered/learned here and consumed. Returns IPv4 packets; IPv6 ones go to
// v6 (*n6 of them), in order.
uint16_t stage_parse(worker_ctx& w, rte_mbuf** pkts, uint16_t n, rte_mbuf** v6, uint16_t* n6);
void stage_arp(worker_ctx& w, rte_mbuf* m);
// Neighbour discovery to the gateway (an ICMPv6 message of types 133-137, checksum checked):
// answered and learned here, consumed.
void stage_nd(worker_ctx& w, rte_mbuf* m);
// Runs every callback of a hook point over the burst.
uint16_t stage_hook(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n);
// The same from the first callback `from` (null: all of them), for packets that ran the ones
// before on another worker (a hand-off resumes at conntrack).
uint16_t stage_hook_from(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n, hook_fn from);
// Looks destinations up; local packets go to `local`, forwarded ones stay in
// `pkts`. Returns the number left in pkts; *n_local gets the local count.
uint16_t stage_route(worker_ctx& w, rte_mbuf** pkts, uint16_t n, rte_mbuf** local,
                     uint16_t* n_local);
// Routes packets the gateway generated (no local delivery for them).
uint16_t stage_route_output(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// Local delivery: answers ICMP echo in place; returns replies (to send).
uint16_t stage_local(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// TTL check and decrement for forwarded packets.
uint16_t stage_forward(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// Fragments datagrams over their output MTU (DF clear) and reassembled
// ones, sending the fragments itself; returns the packets left to send.
uint16_t stage_fragment(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// Next-hop resolution, L2 rewrite and buffered TX.
uint16_t stage_tx(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
void stage_tx_flush(worker_ctx& w);
// Sends one fully built frame on a port (ARP replies and requests).
void stage_tx_one(worker_ctx& w, uint16_t port_idx, rte_mbuf* m);
// The same, counted by the caller (per burst): switched frames.
void stage_tx_frame(worker_ctx& w, uint16_t port_idx, rte_mbuf* m);

// IPv6's stages (docs/design/ipv6.md): the same path over an IPv6 burst.
// The hooks' callbacks registered for IPv6 (an inet table's chains).
uint16_t stage_hook6(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n);
// ... from the first callback `from`, as stage_hook_from.
uint16_t stage_hook6_from(worker_ctx& w, hook_point hp, rte_mbuf** pkts, uint16_t n, hook_fn from);
// Looks destinations up (rte_fib6; link-local and multicast by port); local packets go to
// `local`, forwarded ones stay in pkts.
uint16_t stage_route6(worker_ctx& w, rte_mbuf** pkts, uint16_t n, rte_mbuf** local,
                      uint16_t* n_local);
// Routes IPv6 packets the gateway generated (a link-local destination: out the port the
// packet they answer came in on, meta->in_port).
uint16_t stage_route_output6(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// Hop limit and MTU (packet too big: IPv6 is never fragmented on the way).
uint16_t stage_forward6(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// Local delivery: neighbour discovery (consumed), echo answered in place; returns replies.
uint16_t stage_local6(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
// Next-hop resolution (neighbour discovery), L2 rewrite and buffered TX.
uint16_t stage_tx6(worker_ctx& w, rte_mbuf** pkts, uint16_t n);

// One RX burst through the whole pipeline (used by the worker loop, tests
// and benchmarks). `pkts` holds n received packets of port `port`.
void process_burst(worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n);
// Reassembly's timers, between bursts (defrag_expire), and what they generate: IPv6's time
// exceeded about a datagram given up. At most `budget` datagrams of each family.
// IPv6 fragmentation after POST_ROUTING: reassembled datagrams over their largest fragment,
// and the gateway's own packets over the MTU (stage_fragment6.cpp).
uint16_t stage_fragment6(worker_ctx& w, rte_mbuf** pkts, uint16_t n);
void defrag_tick(worker_ctx& w, uint32_t budget = 64);
// Packets other workers handed to this one (conntrack's hand-off ring: translated flows this
// worker owns), through the rest of the pipeline from conntrack on. Returns how many it took.
uint16_t process_handoffs(worker_ctx& w, uint16_t burst);

}  // namespace ctgate
