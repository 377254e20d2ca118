#include "common/jhash.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace ctgate {
namespace {

// Linux's jhash is lookup3's hashlittle: its published test values.
TEST(Jhash, IsLookup3) {
  EXPECT_EQ(jhash(nullptr, 0, 0), 0xdeadbeefu);
  const std::string s = "Four score and seven years ago";
  EXPECT_EQ(jhash(s.data(), 30, 0), 0x17770551u);
  EXPECT_EQ(jhash(s.data(), 30, 1), 0xcd628161u);
}

// jhash2 over n words is jhash over their 4n bytes, as the kernel's two functions agree on a
// little-endian CPU; no words give the initial value.
TEST(Jhash, Jhash2IsJhashOverTheWordsBytes) {
  EXPECT_EQ(jhash2(nullptr, 0, 0), 0xdeadbeefu);
  const uint32_t k[5] = {0x0100000a, 0x0201a8c0, 7, 0, 0xffffffff};
  for (uint32_t n = 1; n <= 5; ++n) {
    uint8_t bytes[sizeof k];
    std::memcpy(bytes, k, sizeof k);
    EXPECT_EQ(jhash2(k, n, 0x1234), jhash(bytes, 4 * n, 0x1234)) << n;
  }
  EXPECT_NE(jhash2(k, 4, 0), jhash2(k, 4, 1));
}

}  // namespace
}  // namespace ctgate
