// ICMPv6 errors the gateway sends about packets it cannot forward (Linux's icmp6_send):
// destination unreachable, packet too big, time exceeded. docs/design/ipv6.md.
//
// The rules are Linux's icmp6_send and icmpv6_xrlim_allow:
// - never about an ICMPv6 error, nor about a packet from the unspecified or a multicast
//   address; about a packet to a multicast address or in an L2 group frame only for packet too
//   big (RFC 4443 2.4(e));
// - every type but packet too big is limited per destination (icmp.ratelimit_ms per message,
//   bursts of 6; Linux's icmpv6 ratemask 0-1,3-127) and, with ICMP, in total (icmp.msgs_per_sec);
// - the error quotes as much of the packet as fits in the minimum MTU of 1280 bytes, and
//   comes from the port's global address, or its link-local one for a link-local sender.
// Errors leave through LOCAL_OUT and POST_ROUTING like ICMP's.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

#include "config/config.h"

namespace ctgate {

struct worker_ctx;

// A packet of a translated connection as its sender sent it (ports in network order; an
// echo's id in both), and the address its answer comes from: what an error about it quotes
// and where it goes, as NAT would translate the error (nft's reject of a new connection, which
// no hook can find translated).
struct icmp6_as_sent {
  ipv6_addr src, dst;
  uint16_t sport = 0, dport = 0;
  ipv6_addr answer_src;
};

// Sends `type`/`code` about `orig` (still the caller's) if the rules allow; `info` is the
// header's second word (the MTU for packet too big). `as_sent`: the packet as its sender sent
// it, when NAT translated it. True when it was queued.
bool send_icmp6_error(worker_ctx& w, const rte_mbuf* orig, uint8_t type, uint8_t code,
                      uint32_t info = 0, const icmp6_as_sent* as_sent = nullptr);

}  // namespace ctgate
