// nftables base chains on the hooks: the evaluator (a hook callback per base
// chain) and what its statements need on the data plane.
#pragma once

#include <cstdint>

#include "hook/hook.h"
#include "ruleset/compiled.h"

namespace ctgate {

struct worker_ctx;

// What a base chain's hook entry points at.
struct nft_chain_ref {
  nft::compiled_ruleset* rs;
  uint32_t chain;
};

// The hook callback for a base chain (priv = nft_chain_ref*).
uint16_t nft_chain_hook(const hook_entry& self, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                        verdict* v);

// One packet through base chain `chain` (its jumps included, its live sets not prefetched):
// the verdict. The NAT hooks run nat chains with it (nft_nat.h).
verdict nft_eval_chain(worker_ctx& w, nft::compiled_ruleset& rs, uint32_t chain, rte_mbuf* mb);

}  // namespace ctgate
