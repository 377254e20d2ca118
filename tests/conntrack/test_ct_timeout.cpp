// Unit tests for the timeout policy slots (lib/conntrack/ct_timeout.cpp): a policy a load keeps
// keeps its slot and generation, a new one takes the slot released longest ago with a new
// generation, and a snapshot holds only the policies declared.
#include <gtest/gtest.h>

#include <vector>

#include "conntrack/ct_timeout.h"

namespace ctgate::ct {
namespace {

ct_timeout_request policy(uint64_t serial, uint32_t established_ms) {
  ct_timeout_request r;
  r.identity = {1, serial, serial};
  r.l4proto = 6;
  r.first = TC_TCP_SYN_SENT;
  r.ms = {{TC_TCP_ESTABLISHED, established_ms}};
  return r;
}

TEST(CtTimeoutRegistry, KeptPoliciesKeepTheirSlotsNewOnesGetANewGeneration) {
  ct_timeout_registry reg;
  tracker_params params;
  timeout_table base{};
  base.ms[TC_TCP_CLOSE] = 10000;
  std::vector<uint32_t> refs;
  auto first = reg.assign({policy(1, 5000), policy(2, 6000)}, params, base, &refs);
  ASSERT_TRUE(first);
  ASSERT_EQ(refs.size(), 2u);
  const uint32_t a = refs[0], b = refs[1];
  EXPECT_NE(a & 0xff, b & 0xff);
  const ct_timeout_policy& pa = first->slot[a & 0xff];
  EXPECT_EQ(pa.gen, a >> 8);
  EXPECT_EQ(pa.t.ms[TC_TCP_ESTABLISHED], 5000u);
  EXPECT_EQ(pa.t.ms[TC_TCP_CLOSE], 10000u);  // from the base
  EXPECT_EQ(pa.params.timeouts, &pa.t);
  // Policy 2 kept, 1 dropped, 3 new: 2 keeps its reference, 3 does not reuse 1's (slot, gen).
  auto second = reg.assign({policy(2, 6000), policy(3, 7000)}, params, base, &refs);
  ASSERT_TRUE(second);
  EXPECT_EQ(refs[0], b);
  EXPECT_NE(refs[1], a);
  // 1 is gone from the snapshot: its flows fall back to the gateway's timeouts.
  EXPECT_NE(second->slot[a & 0xff].gen, a >> 8);
  // Every slot once, then one more: the slot released longest ago comes back, generation + 1.
  std::vector<ct_timeout_request> many;
  for (uint64_t s = 10; s < 10 + k_max_timeout_policies; ++s) many.push_back(policy(s, 1000));
  ASSERT_TRUE(reg.assign(many, params, base, &refs));
  many.push_back(policy(999, 1000));
  EXPECT_FALSE(reg.assign(many, params, base, &refs));  // 257 declared
}

}  // namespace
}  // namespace ctgate::ct
