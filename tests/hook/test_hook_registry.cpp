// Linux's ordering rule (nf_hook_entries_grow) and snapshot publication.
#include <gtest/gtest.h>

#include "hook/hook_registry.h"

namespace ctgate {
namespace {

uint16_t noop(const hook_entry&, worker_ctx&, rte_mbuf**, uint16_t, verdict*) { return 0; }

std::vector<std::string> names(const hook_registry& r, hook_point hp) {
  std::vector<std::string> out;
  const auto& chain = r.current()->chains[static_cast<int>(hp)];
  for (uint16_t i = 0; i < chain.n; i++) out.push_back(chain.e[i].name);
  return out;
}

TEST(HookRegistry, SortedByPriorityLaterRegistrationFirstAmongEquals) {
  hook_registry r(nullptr);
  std::string err;
  ASSERT_GT(r.add(hook_point::input, PRI_FILTER, "filter", noop, nullptr, &err), 0);
  ASSERT_GT(r.add(hook_point::input, PRI_CONNTRACK_CONFIRM, "user_intmax", noop, nullptr, &err), 0);
  ASSERT_GT(r.add(hook_point::input, PRI_MANGLE, "mangle", noop, nullptr, &err), 0);
  ASSERT_GT(r.add(hook_point::input, PRI_CONNTRACK_CONFIRM, "ipv4_confirm", noop, nullptr, &err), 0);
  ASSERT_GT(r.add(hook_point::input, PRI_SECURITY, "security", noop, nullptr, &err), 0);
  ASSERT_GT(r.add(hook_point::input, PRI_FILTER, "filter2", noop, nullptr, &err), 0);
  EXPECT_EQ(names(r, hook_point::input),
            (std::vector<std::string>{"mangle", "filter2", "filter", "security", "ipv4_confirm",
                                      "user_intmax"}));
  EXPECT_TRUE(names(r, hook_point::forward).empty());
}

TEST(HookRegistry, ExtremePrioritiesAndRemoval) {
  hook_registry r(nullptr);
  std::string err;
  int a = r.add(hook_point::prerouting, INT_MIN, "first", noop, nullptr, &err);
  int b = r.add(hook_point::prerouting, INT_MAX, "last", noop, nullptr, &err);
  int c = r.add(hook_point::prerouting, 0, "middle", noop, nullptr, &err);
  EXPECT_EQ(names(r, hook_point::prerouting), (std::vector<std::string>{"first", "middle", "last"}));
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
  std::string err;
  int a = r.add(hook_point::output, 0, "a", noop, nullptr, &err);
  int b = r.add(hook_point::output, 0, "b", noop, nullptr, &err);
  EXPECT_NE(a, b);
  r.remove(a);
  int c = r.add(hook_point::output, 0, "c", noop, nullptr, &err);
  EXPECT_EQ(c, a);
}

TEST(HookRegistry, ChainCapacityIsBounded) {
  hook_registry r(nullptr);
  std::string err;
  for (int i = 0; i < k_max_hooks_per_point; i++)
    ASSERT_GT(r.add(hook_point::forward, i, "x", noop, nullptr, &err), 0);
  EXPECT_EQ(r.add(hook_point::forward, 0, "overflow", noop, nullptr, &err), -1);
  EXPECT_EQ(err, "too many callbacks on FORWARD");
}

TEST(HookRegistry, ListingIsInRunOrder) {
  hook_registry r(nullptr);
  std::string err;
  r.add(hook_point::postrouting, PRI_CONNTRACK_CONFIRM, "ipv4_confirm", noop, nullptr, &err);
  r.add(hook_point::prerouting, PRI_CONNTRACK, "ipv4_conntrack_in", noop, nullptr, &err);
  auto l = r.list();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].hp, hook_point::prerouting);
  EXPECT_EQ(l[0].priority, -200);
  EXPECT_EQ(std::string(hook_point_name(l[1].hp)), "POST_ROUTING");
}

}  // namespace
}  // namespace ctgate
