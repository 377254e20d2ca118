// Synproxy's finished-flow filter: counting, saturation, and the feed from
// conntrack's finish reports.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "synproxy/finished_filter.h"

namespace ctgate::synproxy {
namespace {

// The finished filter counts; a saturated counter stays put, so a removal
// can never make it claim "no finished entry" for a tuple that has one.
TEST(FinishedFilter, CountsAndSaturates) {
  finished_filter f;
  ct::ct_tuple t;
  t.src = 0x0a000102;
  t.dst = 0x0a000202;
  t.sport = 1234;
  t.dport = 80;
  t.proto = IPPROTO_TCP;
  ct::flow_key k = ct::make_key(t);
  uint32_t slot = f.slot_of(k);
  EXPECT_EQ(slot, f.slot_of(ct::make_key(ct::invert(t))));  // direction-free
  EXPECT_FALSE(f.maybe(k));
  f.add(slot);
  f.add(slot);
  EXPECT_TRUE(f.maybe(k));
  f.remove(slot);
  EXPECT_TRUE(f.maybe(k));
  f.remove(slot);
  EXPECT_FALSE(f.maybe(k));
  f.remove(slot);  // never below zero
  EXPECT_FALSE(f.maybe(k));
  for (int i = 0; i < 300; i++) f.add(slot);
  for (int i = 0; i < 300; i++) f.remove(slot);
  EXPECT_TRUE(f.maybe(k));  // saturated: sticks
}

// What conntrack calls: `finished` counts the tuple, `forgotten` uncounts it.
TEST(FinishedFilter, ListenerFeedsTheFilter) {
  finished_filter f;
  ct::ct_finish_listener l = finished_filter_listener(&f);
  ct::ct_tuple t;
  t.src = 0x0a000001;
  t.dst = 0x0a000002;
  t.sport = 40000;
  t.dport = 443;
  t.proto = IPPROTO_TCP;
  const ct::flow_key k = ct::make_key(t);
  l.finished(l.ctx, k);
  EXPECT_TRUE(f.maybe(k));
  l.forgotten(l.ctx, k);
  EXPECT_FALSE(f.maybe(k));
}

}  // namespace
}  // namespace ctgate::synproxy
