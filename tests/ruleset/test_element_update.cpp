// Unit tests for element updates without a rebuild (lib/ruleset/element_update.cpp,
// set_edit.cpp): every step is applied both ways, as a full load (parse_string onto the tree,
// then compile) and in place (parse_element_commands, plan_element_update,
// apply_element_update on the compiled ruleset), and the two must agree on the error, the
// listing and every lookup.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "ruleset/ast.h"
#include "ruleset/compiled.h"
#include "ruleset/element_update.h"

namespace ctgate::nft {
namespace {

class both_paths {
 public:
  explicit both_paths(const std::string& decl, size_t limit = SIZE_MAX) : limit_(limit) {
    result<ruleset> r = parse_string(decl, "decl.nft");
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    if (!r) return;
    ast_ = *r;
    auto c = compile(ast_, "decl.nft", {}, 1);
    EXPECT_TRUE(c.ok()) << c.error().to_string();
    if (c) live_ = std::move(*c);
  }

  enum class path { in_place, full_load };

  // Applies `text` both ways; which way the in-place path went (a full load when it declines).
  // An error must be the same from both (file, line, column and message).
  path step(const std::string& text) {
    result<ruleset> slow = parse_string(text, "cmd.nft", {.set_elements = limit_}, &ast_);
    auto cmds = parse_element_commands(text, "cmd.nft", skeleton_of(live_->ast));
    if (!cmds) {
      EXPECT_FALSE(slow.ok()) << text;
      if (!slow.ok()) {
        EXPECT_EQ(cmds.error().to_string(), slow.error().to_string());
      }
      return path::full_load;
    }
    if (!*cmds) {
      if (slow) reload(*slow);
      return path::full_load;
    }
    auto plan = plan_element_update(*live_, **cmds, limit_);
    if (!plan) {
      EXPECT_FALSE(slow.ok()) << text << " failed in place only: " << plan.error().message;
      if (!slow.ok()) {
        EXPECT_EQ(plan.error().message, slow.error().message);
        EXPECT_EQ(plan.error().line, slow.error().line);
        EXPECT_EQ(plan.error().col, slow.error().col);
      }
      return path::in_place;
    }
    if (!*plan) {
      if (slow) reload(*slow);
      return path::full_load;
    }
    EXPECT_TRUE(slow.ok()) << text << " failed as a load only: " << slow.error().to_string();
    if (!slow) return path::in_place;
    ast_ = *slow;
    retired_sets old = apply_element_update(*live_, std::move(**plan));
    compare();
    return path::in_place;
  }

  const compiled_ruleset& live() const { return *live_; }

 private:
  void reload(const ruleset& ast) {
    ast_ = ast;
    auto c = compile(ast_, "decl.nft", {}, 1);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    live_ = std::move(*c);
  }

  // The listing, and lookups at and around every element's bounds, against a fresh compile.
  void compare() {
    EXPECT_EQ(format(live_->ast, nullptr, true), format(ast_, nullptr, true));
    auto fresh = compile(ast_, "decl.nft", {}, 1);
    ASSERT_TRUE(fresh.ok()) << fresh.error().to_string();
    for (size_t t = 0; t < ast_.tables.size(); ++t)
      for (size_t s = 0; s < ast_.tables[t].sets.size(); ++s) {
        const compiled_ruleset::named_store a = live_->named[t][s], b = (*fresh)->named[t][s];
        std::set<uint64_t> probes;
        for (const auto* st : {&ast_.tables[t].sets[s], &live_->ast.tables[t].sets[s]})
          for (const value_range& r : st->elems)
            for (uint64_t v : {r.lo - 1, r.lo, r.lo + 1, r.hi - 1, r.hi, r.hi + 1})
              probes.insert(v);
        for (uint64_t v : probes) {
          if (a.set != k_none) {
            EXPECT_EQ(live_->sets[a.set]->contains(v), (*fresh)->sets[b.set]->contains(v)) << v;
          }
          if (a.map == k_none) continue;
          const range_map::entry* x = live_->maps[a.map]->find(v);
          const range_map::entry* y = (*fresh)->maps[b.map]->find(v);
          ASSERT_EQ(x == nullptr, y == nullptr) << v;
          if (x != nullptr) {
            EXPECT_EQ(x->verdict, y->verdict) << v;
            EXPECT_EQ(x->value, y->value) << v;
          }
        }
      }
  }

  size_t limit_;
  ruleset ast_;
  std::unique_ptr<compiled_ruleset> live_;
};

using path = both_paths::path;

// n addresses 10.0.0.0, 10.0.0.2, ... (none adjacent: a set of them is hashed from 64 on).
std::string spaced_addresses(int n, int from = 0) {
  std::string out;
  for (int i = from; i < from + n; ++i) {
    const int v = 2 * i;
    out += (out.empty() ? "" : ", ") + std::string("10.0.") + std::to_string(v / 256) + "." +
           std::to_string(v % 256);
  }
  return out;
}

TEST(ElementUpdate, HashedSetAddsAndDeletesInPlace) {
  both_paths b("table ip t {\n  set s { type ipv4_addr; elements = { " + spaced_addresses(100) +
               " } }\n  chain c { type filter hook input priority 0; ip saddr @s drop; }\n}\n");
  ASSERT_TRUE(b.live().sets[b.live().named[0][0].set]->hashed());
  EXPECT_EQ(b.step("add element ip t s { 10.1.0.1, 10.0.0.1, 10.0.0.0 }"), path::in_place);
  EXPECT_EQ(b.step("delete element ip t s { 10.0.0.2, 10.1.0.1 }"), path::in_place);
  // Past a load of 1/2 (100 keys in 256 slots): the table is rebuilt twice its size.
  EXPECT_EQ(b.step("add element ip t s { " + spaced_addresses(200, 1000) + " }"), path::in_place);
  EXPECT_TRUE(b.live().sets[b.live().named[0][0].set]->hashed());
  EXPECT_EQ(b.step("delete element ip t s { 10.0.0.4 }\ndelete element ip t s { 10.0.0.4 }"),
            path::in_place);  // the second finds nothing: the error, and nothing applied
  EXPECT_EQ(b.step("delete element ip t s { 10.9.9.9 }"), path::in_place);
  // Added and deleted in one transaction: a full load, with the same result.
  EXPECT_EQ(b.step("add element ip t s { 10.2.0.1 }\ndelete element ip t s { 10.2.0.1 }"),
            path::full_load);
  EXPECT_EQ(b.step("delete element ip t s { 10.0.0.6 }\nadd element ip t s { 10.0.0.6 }"),
            path::full_load);
}

TEST(ElementUpdate, SortedSetMergesAndSplitsRanges) {
  both_paths b(
      "table ip t {\n  set ports { type inet_service; elements = { 22, 80 } }\n"
      "  chain c { type filter hook input priority 0; tcp dport @ports accept; }\n}\n");
  EXPECT_EQ(b.step("add element ip t ports { 23, 443, 21 }"), path::in_place);
  EXPECT_EQ(b.step("delete element ip t ports { 22 }"), path::in_place);
  EXPECT_EQ(b.step("add element ip t ports { 1-5 }"), path::full_load);  // the parser refuses
  EXPECT_EQ(b.step("element ip t ports { 22 }"), path::in_place);
}

TEST(ElementUpdate, IntervalSetRefusesOverlapsAndDeletesExactElements) {
  both_paths b(
      "table ip t {\n  set nets { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, "
      "192.168.0.0/16, 1.1.1.1 } }\n"
      "  chain c { type filter hook input priority 0; ip saddr @nets drop; }\n}\n");
  EXPECT_EQ(b.step("add element ip t nets { 172.16.0.0/12, 11.0.0.0-11.0.0.9 }"), path::in_place);
  EXPECT_EQ(b.step("add element ip t nets { 10.1.0.0/16 }"), path::in_place);  // conflicting
  EXPECT_EQ(b.step("add element ip t nets { 12.0.0.0/8, 12.1.0.0/16 }"), path::in_place);
  EXPECT_EQ(b.step("add element ip t nets { 1.1.1.2 }"), path::in_place);  // adjacent: fine
  EXPECT_EQ(b.step("delete element ip t nets { 10.0.0.0/8, 1.1.1.1 }"), path::in_place);
  EXPECT_EQ(b.step("delete element ip t nets { 192.168.1.0/24 }"), path::in_place);  // not one
  EXPECT_EQ(b.step("delete element ip t nets { 12.0.0.0/8 }\nadd element ip t nets { 12.0.0.0/9 }"),
            path::full_load);
}

TEST(ElementUpdate, MapsKeepTheirDataAndRefuseOtherDataForAKey) {
  both_paths b(
      "table ip t {\n  map svc { type inet_service : verdict; elements = { 22 : accept, 80 : "
      "drop } }\n  map marks { type ipv4_addr : mark; flags interval; elements = { "
      "10.0.0.0/24 : 1 } }\n  chain other { }\n"
      "  chain c { type filter hook input priority 0; tcp dport vmap @svc; meta mark set ip "
      "saddr map @marks; }\n}\n");
  EXPECT_EQ(b.step("add element ip t svc { 443 : accept, 22 : accept }"), path::in_place);
  EXPECT_EQ(b.step("add element ip t svc { 22 : drop }"), path::in_place);  // File exists
  EXPECT_EQ(b.step("delete element ip t svc { 80 }"), path::in_place);
  EXPECT_EQ(b.step("add element ip t marks { 10.0.1.0/24 : 2, 10.0.2.7 : 3 }"), path::in_place);
  EXPECT_EQ(b.step("delete element ip t marks { 10.0.0.0/24 }"), path::in_place);
  // A jump: the compiler checks loops and base chains, so a full load.
  EXPECT_EQ(b.step("add element ip t svc { 8080 : jump other }"), path::full_load);
}

TEST(ElementUpdate, HashedMapGrowsAndDeletes) {
  std::string elems;
  for (int i = 0; i < 64; ++i)
    elems += (i ? ", " : "") + std::to_string(1000 + 2 * i) + " : " + std::to_string(i);
  both_paths b("table ip t {\n  map m { type inet_service : mark; elements = { " + elems +
               " } }\n  chain c { type filter hook input priority 0; meta mark set tcp dport "
               "map @m; }\n}\n");
  ASSERT_TRUE(b.live().maps[b.live().named[0][0].map]->hashed());
  std::string more;
  for (int i = 0; i < 100; ++i)
    more += (i ? ", " : "") + std::to_string(3000 + i) + " : " + std::to_string(7 * i);
  EXPECT_EQ(b.step("add element ip t m { " + more + " }"), path::in_place);
  EXPECT_EQ(b.step("delete element ip t m { 1000, 3005 }"), path::in_place);
  EXPECT_EQ(b.step("add element ip t m { 1000 : 9 }"), path::in_place);
}

TEST(ElementUpdate, TheElementLimitCountsAsALoadDoes) {
  both_paths b("table ip t {\n  set s { type inet_service; elements = { 1, 2, 3 } }\n}\n", 5);
  EXPECT_EQ(b.step("add element ip t s { 4, 5, 6 }"), path::in_place);  // too many
  EXPECT_EQ(b.step("add element ip t s { 4, 5 }"), path::in_place);
}

TEST(ElementUpdate, OtherTextsTakeAFullLoad) {
  both_paths b(
      "table ip t {\n  set s { type ipv4_addr; }\n  set d { type ipv4_addr; flags timeout; }\n"
      "  set pairs { type ipv4_addr . inet_service; }\n"
      "  set m { type ipv4_addr; flags interval; auto-merge; }\n"
      "  chain c { type filter hook input priority 0; }\n}\n");
  EXPECT_EQ(b.step("add rule ip t c accept"), path::full_load);
  EXPECT_EQ(b.step("add element ip t s { 1.2.3.4 }\nadd rule ip t c drop"), path::full_load);
  EXPECT_EQ(b.step("define X = 1.2.3.4\nadd element ip t s { $X }"), path::full_load);
  EXPECT_EQ(b.step("add element ip t d { 1.2.3.4 timeout 10s }"), path::full_load);
  EXPECT_EQ(b.step("add element ip t pairs { 1.2.3.4 . 22 }"), path::full_load);
  EXPECT_EQ(b.step("add element ip t m { 1.2.3.0/24, 1.2.4.0/24 }"), path::full_load);
  // Errors the parser finds are its own either way.
  EXPECT_EQ(b.step("add element ip t nosuch { 1.2.3.4 }"), path::full_load);
  EXPECT_EQ(b.step("add element ip t s { 1.2.3.0/24 }"), path::full_load);
  EXPECT_EQ(b.step("add element ip t s { 1.2.3.4 timeout 1s }"), path::full_load);
}

// exact_index's insert and erase (backward-shift deletion) against std::set, on a crowded table.
// Random inserts and erases against a std::set, for each layout: 32-bit keys (all fit) or
// 64-bit keys, with positions (maps) or without (sets).
TEST(ElementUpdate, ExactIndexEditsKeepEveryKeyReachable) {
  for (const uint64_t base : {uint64_t{0}, uint64_t{1} << 40})
    for (const bool positions : {true, false}) {
      SCOPED_TRACE(testing::Message() << "base " << base << " positions " << positions);
      std::mt19937_64 rng(7);
      std::vector<uint64_t> keys;
      std::set<uint64_t> want;
      for (uint64_t k = 0; k < 40; ++k) {
        keys.push_back(base + k * 3);
        want.insert(base + k * 3);
      }
      exact_index ix(keys, positions);  // 128 slots
      for (int step = 0; step < 20000; ++step) {
        const uint64_t v = base + rng() % 200;
        if (rng() % 2 == 0) {
          ix.erase(v);
          want.erase(v);
        } else if (!want.contains(v) && ix.insert(v, 1)) {
          want.insert(v);
        }
        ASSERT_EQ(ix.keys(), want.size());
        if (step % 97 != 0) continue;
        for (uint64_t x = base; x < base + 200; ++x)
          ASSERT_EQ(ix.find(x) != k_none, want.contains(x)) << x;
      }
      const uint64_t all_ones = base ? UINT64_MAX : UINT32_MAX;  // the empty slot's pattern
      ASSERT_TRUE(ix.insert(all_ones, 3));
      EXPECT_EQ(ix.find(all_ones), positions ? 3u : 0u);
      EXPECT_EQ(ix.keys(), want.size() + 1);
      ix.erase(all_ones);
      EXPECT_EQ(ix.find(all_ones), k_none);
      EXPECT_EQ(ix.keys(), want.size());
    }
}

// Keys that share a home slot make one long cluster; erasing any of them must leave every
// other reachable (the cluster is shifted back), for both key widths.
TEST(ElementUpdate, ExactIndexOverflowingBucketsStayReachable) {
  for (const uint64_t base : {uint64_t{0}, uint64_t{1} << 40}) {
    SCOPED_TRACE(testing::Message() << "base " << base);
    std::vector<uint64_t> seed;
    for (uint64_t k = 0; k < 40; ++k) seed.push_back(base + 1'000'000 + k);
    exact_index ix(seed, true);  // 128 slots
    for (uint64_t k : seed) ix.erase(k);
    ASSERT_EQ(ix.keys(), 0u);
    std::vector<uint64_t> same_home;
    for (uint64_t v = base; same_home.size() < 40 && v < base + 100'000; ++v)
      if (ix.home_of(v) == ix.home_of(base)) same_home.push_back(v);
    ASSERT_EQ(same_home.size(), 40u);
    std::mt19937_64 rng(11);
    std::set<uint64_t> want;
    for (int step = 0; step < 5000; ++step) {
      const uint64_t v = same_home[rng() % same_home.size()];
      if (rng() % 3 == 0) {
        ix.erase(v);
        want.erase(v);
      } else if (!want.contains(v)) {
        ASSERT_TRUE(ix.insert(v, static_cast<uint32_t>(v - base)));
        want.insert(v);
      }
      ASSERT_EQ(ix.keys(), want.size());
      for (uint64_t x : same_home)
        ASSERT_EQ(ix.find(x), want.contains(x) ? static_cast<uint32_t>(x - base) : k_none) << x;
    }
  }
}

// A table past k_filter_min_bytes has a filter in front; edits keep it exact for present keys
// (erased keys' bits stay until a rebuild), for both key widths.
TEST(ElementUpdate, ExactIndexWithAFilterFindsEveryKeyAfterEdits) {
  for (const uint64_t base : {uint64_t{0}, uint64_t{1} << 40}) {
    SCOPED_TRACE(testing::Message() << "base " << base);
    std::vector<uint64_t> keys;
    std::set<uint64_t> want;
    for (uint64_t k = 0; k < 70000; ++k) {
      keys.push_back(base + k * 7);
      want.insert(base + k * 7);
    }
    exact_index ix(keys, false);
    std::mt19937_64 rng(5);
    for (int step = 0; step < 60000; ++step) {  // enough erases to rebuild the filter
      const uint64_t v = base + (rng() % 70000) * 7 + (rng() % 2);
      if (rng() % 2 == 0) {
        ix.erase(v);
        want.erase(v);
      } else if (!want.contains(v) && ix.insert(v, 0)) {
        want.insert(v);
      }
    }
    ASSERT_EQ(ix.keys(), want.size());
    for (uint64_t x = base; x < base + 70000 * 7; ++x)
      ASSERT_EQ(ix.find(x) != k_none, want.contains(x)) << x;
  }
}

// A table of 32-bit keys refuses a key that needs more (the caller rebuilds with every key,
// and the new table is 64-bit); a 64-bit key is never found in it.
TEST(ElementUpdate, ExactIndexOf32BitKeysRefusesAWiderKey) {
  exact_index ix({1, 2, 3}, false);
  EXPECT_FALSE(ix.insert(uint64_t{1} << 32, 0));
  EXPECT_EQ(ix.find((uint64_t{1} << 32) | 1), k_none);
  EXPECT_EQ(ix.find(UINT64_MAX), k_none);
  exact_index wide({1, 2, uint64_t{1} << 32}, true);
  EXPECT_EQ(wide.find(uint64_t{1} << 32), 2u);
  EXPECT_EQ(wide.find(UINT32_MAX), k_none);
  // A set of addresses edited past 32 bits through range_set::edited: rebuilt, every key kept.
  std::vector<value_range> r;
  for (uint64_t k = 0; k < 100; ++k) r.push_back({k * 2, k * 2});
  range_set s(r);
  ASSERT_TRUE(s.hashed());
  auto e = s.edited({{uint64_t{1} << 33, uint64_t{1} << 33}}, {{4, 4}});
  EXPECT_TRUE(e->contains(uint64_t{1} << 33));
  EXPECT_TRUE(e->contains(198));
  EXPECT_FALSE(e->contains(4));
  EXPECT_EQ(e->size(), 100u);
}

}  // namespace
}  // namespace ctgate::nft
