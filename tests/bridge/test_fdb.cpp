// The forwarding database (lib/bridge/fdb.h): learning, moves, ageing, bounds, and workers
// learning while the control thread ages.
#include "bridge/fdb.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>

namespace ctgate {
namespace {

std::array<uint8_t, 6> mac_of(uint32_t n) {
  return {0x02,
          0x00,
          static_cast<uint8_t>(n >> 24),
          static_cast<uint8_t>(n >> 16),
          static_cast<uint8_t>(n >> 8),
          static_cast<uint8_t>(n)};
}

std::unique_ptr<fdb> make(uint32_t max, std::vector<uint32_t> limits = {0, 0, 0, 0}) {
  result<std::unique_ptr<fdb>> t = fdb::create("t", max, limits);
  EXPECT_TRUE(t) << t.error().to_string();
  return std::move(*t);
}

TEST(Fdb, LearnsPerVlanAndLooksUp) {
  auto t = make(1024);
  const auto a = mac_of(1);
  EXPECT_EQ(t->lookup(10, a.data()), -1);
  EXPECT_EQ(t->learn(10, a.data(), 2, 100), fdb_learn::learned);
  EXPECT_EQ(t->lookup(10, a.data()), 2);
  // The same MAC in another VLAN is another entry (independent VLAN learning).
  EXPECT_EQ(t->lookup(20, a.data()), -1);
  EXPECT_EQ(t->learn(20, a.data(), 3, 100), fdb_learn::learned);
  EXPECT_EQ(t->lookup(20, a.data()), 3);
  EXPECT_EQ(t->lookup(10, a.data()), 2);
  EXPECT_EQ(t->learn(10, a.data(), 2, 100), fdb_learn::known);
  EXPECT_EQ(t->count(), 2u);
  EXPECT_EQ(t->port_count(2), 1u);
  auto es = t->entries();
  ASSERT_EQ(es.size(), 2u);
}

TEST(Fdb, MovesToTheNewPortAndCountsPerPort) {
  auto t = make(1024);
  const auto a = mac_of(7);
  t->learn(1, a.data(), 0, 5);
  EXPECT_EQ(t->learn(1, a.data(), 1, 6), fdb_learn::moved);
  EXPECT_EQ(t->lookup(1, a.data()), 1);
  EXPECT_EQ(t->port_count(0), 0u);
  EXPECT_EQ(t->port_count(1), 1u);
  EXPECT_EQ(t->count(), 1u);
}

TEST(Fdb, AgesEntriesNotSeenForTheAgeingTime) {
  auto t = make(1024);
  const auto a = mac_of(1), b = mac_of(2);
  t->learn(1, a.data(), 0, 100);
  t->learn(1, b.data(), 0, 100);
  t->learn(1, b.data(), 0, 350);  // refreshed
  EXPECT_EQ(t->age(399, 300), 0u);
  EXPECT_EQ(t->age(400, 300), 1u);  // a: seen at 100, expired at 100 + 300
  EXPECT_EQ(t->lookup(1, a.data()), -1);
  EXPECT_EQ(t->lookup(1, b.data()), 0);
  EXPECT_EQ(t->count(), 1u);
  EXPECT_EQ(t->port_count(0), 1u);
  // Learned again once gone.
  EXPECT_EQ(t->learn(1, a.data(), 0, 401), fdb_learn::learned);
  EXPECT_EQ(t->age(10000, 300), 2u);
  EXPECT_EQ(t->count(), 0u);
}

TEST(Fdb, StaticEntriesNeverAgeNorMove) {
  auto t = make(1024);
  const auto a = mac_of(3);
  ASSERT_TRUE(t->add_static(1, a.data(), 2));
  EXPECT_EQ(t->learn(1, a.data(), 0, 10), fdb_learn::fixed);
  EXPECT_EQ(t->lookup(1, a.data()), 2);
  EXPECT_EQ(t->age(1000000, 300), 0u);
  EXPECT_EQ(t->flush(-1), 0u);
  EXPECT_EQ(t->lookup(1, a.data()), 2);
  ASSERT_EQ(t->entries().size(), 1u);
  EXPECT_TRUE(t->entries()[0].is_static);
}

TEST(Fdb, FullMeansNotLearnedAndMemoryStaysFixed) {
  auto t = make(64);
  const size_t bytes = t->memory_bytes();
  uint32_t learned = 0, full = 0;
  for (uint32_t i = 0; i < 10000; i++) {
    const auto m = mac_of(i);
    fdb_learn r = t->learn(1, m.data(), static_cast<uint16_t>(i % 4), 1);
    learned += r == fdb_learn::learned;
    full += r == fdb_learn::full;
  }
  EXPECT_EQ(learned, 64u);
  EXPECT_EQ(full, 10000u - 64u);
  EXPECT_EQ(t->count(), 64u);
  EXPECT_EQ(t->memory_bytes(), bytes);
  // The first 64 are still found; what was never learned is not.
  for (uint32_t i = 0; i < 64; i++) {
    const auto m = mac_of(i);
    EXPECT_EQ(t->lookup(1, m.data()), static_cast<int>(i % 4));
  }
  const auto late = mac_of(9999);
  EXPECT_EQ(t->lookup(1, late.data()), -1);
}

TEST(Fdb, PortLearningLimit) {
  auto t = make(1024, {3, 0});
  for (uint32_t i = 0; i < 3; i++) {
    const auto m = mac_of(i);
    EXPECT_EQ(t->learn(1, m.data(), 0, 1), fdb_learn::learned);
  }
  const auto extra = mac_of(100);
  EXPECT_EQ(t->learn(1, extra.data(), 0, 1), fdb_learn::limited);
  EXPECT_EQ(t->learn(1, extra.data(), 1, 1), fdb_learn::learned);  // port 1 has no limit
  // Nor may a MAC move onto a port at its limit.
  EXPECT_EQ(t->learn(1, extra.data(), 0, 2), fdb_learn::limited);
  EXPECT_EQ(t->lookup(1, extra.data()), 1);
  EXPECT_EQ(t->flush(0), 3u);
  EXPECT_EQ(t->learn(1, extra.data(), 0, 2), fdb_learn::moved);
}

// Two workers learn and look up while the control thread ages and flushes: every lookup
// answers a port the MAC was learned on, or -1, and the counts end consistent.
TEST(Fdb, WorkersLearnWhileTheControlThreadAges) {
  auto t = make(4096);
  std::atomic<bool> bad{false};
  auto worker = [&](uint16_t port) {
    for (uint32_t round = 0; round < 200; round++)
      for (uint32_t i = 0; i < 512; i++) {
        // MACs 0-255 are shared (they move between the two ports), the rest per worker.
        const uint32_t n = i < 256 ? i : i + port * 1000;
        const auto m = mac_of(n);
        t->learn(static_cast<uint16_t>(1 + n % 3), m.data(), port, round);
        const int p = t->lookup(static_cast<uint16_t>(1 + n % 3), m.data());
        if (p != -1 && p != 0 && p != 1) bad = true;
        if (i >= 256 && p != -1 && p != port) bad = true;
      }
  };
  std::thread a(worker, 0), b(worker, 1);
  for (uint32_t i = 0; i < 200; i++) {
    t->age(i, 2);
    if (i % 50 == 0) t->flush(-1);
  }
  a.join();
  b.join();
  EXPECT_FALSE(bad);
  const auto es = t->entries();
  uint32_t on0 = 0, on1 = 0;
  for (const fdb_entry& e : es) (e.port == 0 ? on0 : on1)++;
  EXPECT_EQ(t->count(), es.size());
  EXPECT_EQ(t->port_count(0), on0);
  EXPECT_EQ(t->port_count(1), on1);
  t->flush(-1);
  EXPECT_EQ(t->count(), 0u);
  EXPECT_EQ(t->port_count(0), 0u);
  EXPECT_EQ(t->port_count(1), 0u);
}

}  // namespace
}  // namespace ctgate
