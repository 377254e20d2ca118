// Linux's ordering rule (nf_hook_entries_grow) and snapshot publication.
#include <gtest/gtest.h>

#include "hook/hook_registry.h"

namespace ctgate {
namespace {

uint16_t noop(const hook_entry&, worker_ctx&, rte_mbuf**, uint16_t, verdict*) { return 0; }

// The id of a registration that must succeed; 0 (never an id) when it failed.
int add(hook_registry& r, hook_point hp, int32_t priority, const char* name) {
  result<int> id = r.add(hp, priority, name, noop, nullptr);
  EXPECT_TRUE(id) << id.error().to_string();
  return id ? *id : 0;
}

std::vector<std::string> names(const hook_registry& r, hook_point hp) {
  std::vector<std::string> out;
  const auto& chain = r.current()->chains[static_cast<int>(hp)];
  for (uint16_t i = 0; i < chain.n; i++) out.push_back(chain.e[i].name);
  return out;
}

TEST(HookRegistry, SortedByPriorityLaterRegistrationFirstAmongEquals) {
  hook_registry r(nullptr);
  ASSERT_GT(add(r, hook_point::input, PRI_FILTER, "filter"), 0);
  ASSERT_GT(add(r, hook_point::input, PRI_CONNTRACK_CONFIRM, "user_intmax"), 0);
  ASSERT_GT(add(r, hook_point::input, PRI_MANGLE, "mangle"), 0);
  ASSERT_GT(add(r, hook_point::input, PRI_CONNTRACK_CONFIRM, "ipv4_confirm"), 0);
  ASSERT_GT(add(r, hook_point::input, PRI_SECURITY, "security"), 0);
  ASSERT_GT(add(r, hook_point::input, PRI_FILTER, "filter2"), 0);
  EXPECT_EQ(names(r, hook_point::input),
            (std::vector<std::string>{"mangle", "filter2", "filter", "security", "ipv4_confirm",
                                      "user_intmax"}));
  EXPECT_TRUE(names(r, hook_point::forward).empty());
}

TEST(HookRegistry, ExtremePrioritiesAndRemoval) {
  hook_registry r(nullptr);
  int a = add(r, hook_point::prerouting, INT_MIN, "first");
  int b = add(r, hook_point::prerouting, INT_MAX, "last");
  int c = add(r, hook_point::prerouting, 0, "middle");
  EXPECT_EQ(names(r, hook_point::prerouting),
            (std::vector<std::string>{"first", "middle", "last"}));
  uint64_t gen = r.current()->generation;
  EXPECT_TRUE(r.remove(c));
  EXPECT_GT(r.current()->generation, gen);  // a new snapshot was published
  EXPECT_EQ(names(r, hook_point::prerouting), (std::vector<std::string>{"first", "last"}));
  EXPECT_FALSE(r.remove(c));
  EXPECT_TRUE(r.remove(a));
  EXPECT_TRUE(r.remove(b));
  EXPECT_TRUE(r.list().empty());
}

TEST(HookRegistry, IdsAreUniqueAndReused) {
  hook_registry r(nullptr);
  int a = add(r, hook_point::output, 0, "a");
  int b = add(r, hook_point::output, 0, "b");
  EXPECT_NE(a, b);
  r.remove(a);
  int c = add(r, hook_point::output, 0, "c");
  EXPECT_EQ(c, a);
}

TEST(HookRegistry, ChainCapacityIsBounded) {
  hook_registry r(nullptr);
  for (int i = 0; i < k_max_hooks_per_point; i++) ASSERT_GT(add(r, hook_point::forward, i, "x"), 0);
  result<int> over = r.add(hook_point::forward, 0, "overflow", noop, nullptr);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().to_string(), "too many callbacks on FORWARD");
}

TEST(HookRegistry, ListingIsInRunOrder) {
  hook_registry r(nullptr);
  add(r, hook_point::postrouting, PRI_CONNTRACK_CONFIRM, "ipv4_confirm");
  add(r, hook_point::prerouting, PRI_CONNTRACK, "ipv4_conntrack_in");
  auto l = r.list();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].hp, hook_point::prerouting);
  EXPECT_EQ(l[0].priority, -200);
  EXPECT_EQ(std::string(hook_point_name(l[1].hp)), "POST_ROUTING");
}

}  // namespace
}  // namespace ctgate
