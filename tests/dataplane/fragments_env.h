// Helpers shared by the reassembly tests of both families (test_defrag.cpp, test_defrag6.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace ctgate::test {

// The payload the fragments a test saw carry, put back together in offset order; each must
// start where the one before ended. `Seen` is a family's view of one sent fragment, with its
// `offset` (bytes) and `payload`.
template <typename Seen>
std::vector<uint8_t> joined(std::vector<Seen> f) {
  std::sort(f.begin(), f.end(), [](const Seen& a, const Seen& b) { return a.offset < b.offset; });
  std::vector<uint8_t> out;
  for (const Seen& x : f) {
    EXPECT_EQ(x.offset, out.size());
    out.insert(out.end(), x.payload.begin(), x.payload.end());
  }
  return out;
}

}  // namespace ctgate::test
