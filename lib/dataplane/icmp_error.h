// ICMP errors the gateway sends about packets it cannot forward (Linux's
// icmp_send): time exceeded, fragmentation needed, net unreachable.
//
// The rules are Linux's __icmp_send and icmpv4_xrlim_allow /
// icmp_global_allow (docs/design/icmp.md):
// - never about an ICMP error, a fragment other than the first, an L2
//   broadcast or multicast frame, or a packet to or from a broadcast or
//   multicast address;
// - the types in icmp.ratemask (default: destination unreachable, source
//   quench, time exceeded, parameter problem) are limited per destination
//   (a token bucket of icmp.ratelimit_ms per message, bursts of 6) and in
//   total (icmp.msgs_per_sec, bursts of icmp.msgs_burst); fragmentation
//   needed is never limited, so path-MTU discovery is not throttled;
// - the error quotes the offending datagram as received, up to 576 bytes in
//   all, comes from the address of the port the packet arrived on, and has
//   TOS precedence "internetwork control".
// Errors are queued per burst and leave through LOCAL_OUT and POST_ROUTING,
// so conntrack sees them (RELATED to a tracked flow) and rules apply.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_mbuf.h>

namespace ctgate {

struct worker_ctx;

// Per-destination token buckets, one table per worker (Linux: inet_peer,
// shared). Direct-mapped: a colliding destination takes the slot over and
// starts with a full burst, as a new inet_peer does.
struct icmp_peer {
  uint32_t addr = 0;  // network order; 0 = empty
  uint32_t last_ms = 0;
  uint32_t tokens_ms = 0;
};
inline constexpr uint32_t k_icmp_peers = 256;

// The global bucket, shared by the workers: credit (low 32 bits) and the
// time it was last refilled (high 32 bits), updated together by CAS.
struct icmp_global_bucket {
  std::atomic<uint64_t> state{0};
};

// Sends `type`/`code` about `orig` (still owned by the caller, not yet
// dropped) if the rules allow; `info` is the ICMP header's second word (the
// next-hop MTU for fragmentation needed). Counts what happened.
void send_icmp_error(worker_ctx& w, const rte_mbuf* orig, uint8_t type, uint8_t code,
                     uint32_t info = 0);

// Pure pieces, for the tests.
// Linux's inet_peer_xrlim_allow on one slot.
bool icmp_peer_allow(icmp_peer& p, uint32_t addr_be, uint32_t now_ms, uint32_t ratelimit_ms);
// Linux's icmp_global_allow; `random3` is a random value in 0..2 (the credit
// spent is randomised, as Linux does since CVE-2020-25705).
bool icmp_global_allow(icmp_global_bucket& b, uint32_t now_ms, uint32_t per_sec, uint32_t burst,
                       uint32_t random3);

}  // namespace ctgate
