// Unit tests for dynamic sets (lib/ruleset/dynset.h and the set declarations, statements and
// listings around them): the lock-free element table (add, update, delete, expiry, size,
// sweep, concurrent adds), the grammar of `flags dynamic,timeout`, `timeout`, `size`,
// `add|update|delete @s { ... }` and meters with any key, listed as nft 1.0.6 lists the same
// ruleset (checked against the kernel's nft on this machine), and refused with nft's errors.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ruleset/ast.h"
#include "ruleset/compiled.h"
#include "ruleset/dynset.h"

namespace ctgate::nft {
namespace {

dyn_key key(uint32_t a, uint32_t b = 0) {
  const uint64_t parts[4] = {a, b, 0, 0};
  return dyn_key::of(parts);
}

TEST(DynTable, AddFindDeleteAndExpire) {
  dyn_table t(100, false);
  EXPECT_EQ(t.add(key(1), 0, false, 1000, nullptr), dyn_table::outcome::added);
  EXPECT_EQ(t.add(key(1), 0, false, 1000, nullptr), dyn_table::outcome::present);
  EXPECT_EQ(t.add(key(2), 500, false, 1000, nullptr), dyn_table::outcome::added);
  EXPECT_TRUE(t.contains(key(1), 1000));
  EXPECT_TRUE(t.contains(key(2), 1499));
  EXPECT_FALSE(t.contains(key(2), 1500));  // expired at 1000 + 500
  EXPECT_FALSE(t.contains(key(3), 1000));
  EXPECT_EQ(t.count(), 2u);
  // update restarts the timeout; add does not.
  EXPECT_EQ(t.add(key(2, 7), 500, false, 1000, nullptr), dyn_table::outcome::added);
  EXPECT_EQ(t.add(key(2, 7), 500, false, 1400, nullptr), dyn_table::outcome::present);
  EXPECT_FALSE(t.contains(key(2, 7), 1500));
  EXPECT_EQ(t.add(key(2, 7), 500, false, 1500, nullptr), dyn_table::outcome::added);
  EXPECT_EQ(t.add(key(2, 7), 500, true, 1800, nullptr), dyn_table::outcome::present);
  EXPECT_TRUE(t.contains(key(2, 7), 2000));
  EXPECT_TRUE(t.remove(key(1), 2000));
  EXPECT_FALSE(t.remove(key(1), 2000));
  EXPECT_FALSE(t.contains(key(1), 2000));
  // The clock wraps: timeouts compare by signed difference.
  EXPECT_EQ(t.add(key(9), 0x200, false, 0xffffff00u, nullptr), dyn_table::outcome::added);
  EXPECT_TRUE(t.contains(key(9), 0x10));
  EXPECT_FALSE(t.contains(key(9), 0x100));
}

TEST(DynTable, SizeLimitsElementsAndSweepFreesExpiredOnes) {
  dyn_table t(3, false);
  for (uint32_t i = 0; i < 3; ++i)
    EXPECT_EQ(t.add(key(i), 100, false, 1, nullptr), dyn_table::outcome::added);
  EXPECT_EQ(t.add(key(3), 100, false, 1, nullptr), dyn_table::outcome::full);
  EXPECT_EQ(t.count(), 3u);
  // Expired elements count until swept or until their slot is taken again.
  EXPECT_EQ(t.sweep(50), 0u);
  EXPECT_EQ(t.sweep(200), 3u);
  EXPECT_EQ(t.count(), 0u);
  EXPECT_EQ(t.add(key(3), 100, false, 200, nullptr), dyn_table::outcome::added);
  std::vector<uint32_t> seen;
  t.for_each(250, [&](const dyn_key& k, uint32_t timeout, uint32_t expires) {
    seen.push_back(k.part(0));
    EXPECT_EQ(timeout, 100u);
    EXPECT_EQ(expires, 50u);
  });
  EXPECT_EQ(seen, std::vector<uint32_t>{3});
  EXPECT_EQ(t.bytes(), 16 * 32u);
}

// Two threads add, look up and delete overlapping keys at once (bounded: 20,000 operations
// each); afterwards every key either thread left is found exactly once, and the count agrees.
TEST(DynTable, ConcurrentUpdatesKeepTheTableConsistent) {
  dyn_table t(4096, false);
  std::atomic<bool> go{false};
  auto worker = [&](uint32_t seed) {
    while (!go.load()) {
    }
    for (uint32_t i = 0; i < 20000; ++i) {
      const uint32_t k = (i * 2654435761u + seed) % 3000;
      if (i % 5 == 4)
        t.remove(key(k), 1);
      else
        t.add(key(k), 0, i % 2 == 0, 1, nullptr);
      (void)t.contains(key((k + 1) % 3000), 1);
    }
  };
  std::thread a(worker, 1), b(worker, 7);
  go.store(true);
  a.join();
  b.join();
  uint32_t live = 0;
  t.for_each(1, [&](const dyn_key& k, uint32_t, uint32_t) {
    ++live;
    EXPECT_TRUE(t.contains(k, 1));
  });
  EXPECT_EQ(live, t.count());
  EXPECT_LE(t.count(), 4096u);
}

ruleset parse_ok(const std::string& text) {
  result<ruleset> rs = parse_string(text, "rs.nft");
  EXPECT_TRUE(rs.ok()) << text << "\n" << rs.error().to_string();
  return rs ? *rs : ruleset{};
}

std::string parse_err(const std::string& text) {
  result<ruleset> rs = parse_string(text, "rs.nft");
  EXPECT_FALSE(rs.ok()) << text;
  return rs ? "" : rs.error().to_string();
}

// What nft 1.0.6 lists for the same input (kernel oracle, this machine): a set a rule adds to
// becomes dynamic with size 65535; `flags timeout` is implied by `timeout T` when it is the only
// flag; elements keep their own timeouts.
TEST(DynamicSets, DeclarationsAndStatementsListAsNft) {
  const ruleset rs = parse_ok(R"(table ip t {
  set s { type ipv4_addr; flags dynamic,timeout; timeout 1m; size 1000; }
  set s2 { type ipv4_addr; }
  set g { type ipv4_addr; flags timeout; timeout 30s; }
  set b { type ipv4_addr; flags timeout; }
  set d { type ipv4_addr; flags dynamic; }
  set e { type ipv4_addr; flags dynamic,timeout; gc-interval 10s; }
  set c { type ipv4_addr . inet_service; flags timeout; elements = { 1.2.3.4 . 80 timeout 10s } }
  chain c {
    type filter hook input priority 0;
    add @s { ip saddr }
    update @s { ip saddr timeout 30s } counter
    add @s2 { ip daddr }
    delete @s { ip saddr }
    update @s { ip saddr limit rate over 10/second } drop
    ip saddr @s drop
    meter foo { ip saddr limit rate over 10/second } drop
    meter bar size 1000 { ip saddr . tcp dport timeout 10s limit rate 5/minute burst 3 packets } accept
  }
})");
  EXPECT_EQ(format(rs), R"(table ip t {
	set s {
		type ipv4_addr
		size 1000
		flags dynamic,timeout
		timeout 1m
	}

	set s2 {
		type ipv4_addr
		size 65535
		flags dynamic
	}

	set g {
		type ipv4_addr
		timeout 30s
	}

	set b {
		type ipv4_addr
		flags timeout
	}

	set d {
		type ipv4_addr
		flags dynamic
	}

	set e {
		type ipv4_addr
		flags dynamic,timeout
		gc-interval 10s
	}

	set c {
		type ipv4_addr . inet_service
		flags timeout
		elements = { 1.2.3.4 . 80 timeout 10s }
	}

	chain c {
		type filter hook input priority filter; policy accept;
		add @s { ip saddr }
		update @s { ip saddr timeout 30s } counter packets 0 bytes 0
		add @s2 { ip daddr }
		delete @s { ip saddr }
		update @s { ip saddr limit rate over 10/second } drop
		ip saddr @s drop
		meter foo size 65535 { ip saddr limit rate over 10/second } drop
		meter bar size 1000 { ip saddr . tcp dport timeout 10s limit rate 5/minute burst 3 packets } accept
	}
}
)");
  // The listing loads back to itself.
  EXPECT_EQ(format(parse_ok(format(rs))), format(rs));
}

TEST(DynamicSets, ErrorsSayWhatIsWrong) {
  const std::string head =
      "table ip t {\n  set s { type ipv4_addr; }\n  set i { type ipv4_addr; "
      "flags interval; }\n  chain c { type filter hook input priority 0;\n";
  auto rule_err = [&](const std::string& rule) { return parse_err(head + rule + "\n  }\n}\n"); };
  EXPECT_NE(rule_err("update @s { ip saddr timeout 5s }")
                .find("rs.nft:5:8: error: set 's' has no timeouts: declare it with flags timeout "
                      "to give its elements one (nft: Operation not supported)"),
            std::string::npos)
      << rule_err("update @s { ip saddr timeout 5s }");
  EXPECT_NE(rule_err("add @s { ip saddr . tcp dport }").find("datatype mismatch"),
            std::string::npos);
  EXPECT_NE(rule_err("add @i { ip saddr }")
                .find("not supported: adding to or deleting from set "
                      "'i' from a rule: it has flags interval"),
            std::string::npos);
  EXPECT_NE(rule_err("add @nope { ip saddr }").find("set 'nope' does not exist"),
            std::string::npos);
  EXPECT_NE(rule_err("delete @s { ip saddr timeout 1s }").find("delete takes a key only"),
            std::string::npos);
  EXPECT_NE(rule_err("add @s { ip saddr timeout 5x }")
                .find("invalid time '5x': units are d, h, m, s and ms"),
            std::string::npos);
  EXPECT_NE(
      rule_err("add @s { ip saddr timeout 30d }").find("is too long: at most 2147483 seconds"),
      std::string::npos);
  EXPECT_NE(rule_err("add @s { iifname }").find("not supported"), std::string::npos);
  EXPECT_NE(parse_err("table ip t { set s { type ipv4_addr; elements = { 1.2.3.4 timeout 1s } } }")
                .find("element 1.2.3.4 has a timeout, but set 's' has none: declare it with "
                      "flags timeout"),
            std::string::npos);
  EXPECT_NE(parse_err("table ip t { set s { type ipv4_addr; flags interval, timeout; } }")
                .find("not supported: sets with flags interval and timeouts or dynamic updates"),
            std::string::npos);
  EXPECT_NE(parse_err("table ip t { set s { type ipv4_addr; gc-interval 1s; } }")
                .find("rs.nft:1:18: error: set 's' has a gc-interval but no timeouts "
                      "(nft: Invalid argument)"),
            std::string::npos);
  EXPECT_NE(parse_err("table ip t { set s { type ipv4_addr; size 0; } }")
                .find("set size must be at least 1"),
            std::string::npos);
}

TEST(DynamicSets, TimesParseAndPrintAsNft) {
  EXPECT_EQ(duration_text(60'000), "1m");
  EXPECT_EQ(duration_text(9'964), "9s964ms");
  EXPECT_EQ(duration_text(90'061'001), "1d1h1m1s1ms");
  EXPECT_EQ(duration_text(0), "0s");
  const ruleset rs =
      parse_ok("table ip t { set s { type ipv4_addr; timeout 1h30m; gc-interval 500ms; } }\n");
  EXPECT_EQ(rs.tables[0].sets[0].timeout_ms, 5'400'000u);
  EXPECT_EQ(rs.tables[0].sets[0].gc_interval_ms, 500u);
  // A live listing loads back: elements with the time they have left.
  const ruleset listed = parse_ok(
      "table ip t { set s { type ipv4_addr . inet_service; flags timeout; elements = { 1.2.3.4 . "
      "80 timeout 10s expires 9s964ms, 1.2.3.5 . 22 } } }\n");
  const set& ls = listed.tables[0].sets[0];
  ASSERT_EQ(ls.elem_timeouts.size(), 1u);
  EXPECT_EQ(ls.elem_timeouts.begin()->second, (std::pair<uint64_t, uint64_t>{10'000, 9'964}));
  EXPECT_EQ(parse_ok("table ip t { set s { type ipv4_addr; timeout 90; } }\n")
                .tables[0]
                .sets[0]
                .timeout_ms,
            90'000u);
}

}  // namespace
}  // namespace ctgate::nft
