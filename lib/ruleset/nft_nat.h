// NAT's hooks for nftables (docs/design/nat.md, "Hooks"): Linux's NAT core runs a hook's
// `type nat` chains itself, at its own priority (prerouting and output -100 for destination
// NAT, input and postrouting 100 for source NAT), for a new connection that has no binding of
// that kind yet, in the chains' priority order, until one binds. Every packet of a translated
// connection is then rewritten there from its entry.
#pragma once

#include <cstdint>
#include <vector>

#include "conntrack/ct_nat.h"
#include "hook/hook.h"
#include "ruleset/compiled.h"

namespace ctgate {

struct worker_ctx;

// What a NAT hook entry points at: the ruleset, the kind of translation its hook makes, and
// its nat chains (indices into rs->chains) in the order they run.
struct nft_nat_ref {
  nft::compiled_ruleset* rs;
  ct::nat_manip manip;
  std::vector<uint32_t> chains;
};

// Linux's priorities of the NAT hooks (NF_IP_PRI_NAT_DST, NF_IP_PRI_NAT_SRC).
inline constexpr int32_t k_nat_dst_priority = -100;
inline constexpr int32_t k_nat_src_priority = 100;

// The hook callback (priv = nft_nat_ref*).
uint16_t nft_nat_hook(const hook_entry& self, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                      verdict* v);

// A nat statement (rs.nats[nat]) reached by packet `mb`: binds its new connection, or drops it
// when the range has no free tuple. Only a connection's first packet, unconfirmed, is bound.
// `mapped`: the data its map gave for the packet's key (nat_spec: map_addr_port), or nullptr.
verdict nft_nat_stmt(worker_ctx& w, const nft::compiled_ruleset& rs, uint32_t nat, rte_mbuf* mb,
                     const uint64_t* mapped);

}  // namespace ctgate
