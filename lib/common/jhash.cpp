#include "common/jhash.h"

#include <bit>

namespace ctgate {

uint32_t jhash(const void* key, uint32_t len, uint32_t initval) {
  const auto* k = static_cast<const uint8_t*>(key);
  // lookup3's mix and final steps, with Linux's starting value (JHASH_INITVAL + len + seed).
  uint32_t a = 0xdeadbeefu + len + initval, b = a, c = a;
  auto word = [](const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
  };
  while (len > 12) {
    a += word(k);
    b += word(k + 4);
    c += word(k + 8);
    a -= c, a ^= std::rotl(c, 4), c += b;
    b -= a, b ^= std::rotl(a, 6), a += c;
    c -= b, c ^= std::rotl(b, 8), b += a;
    a -= c, a ^= std::rotl(c, 16), c += b;
    b -= a, b ^= std::rotl(a, 19), a += c;
    c -= b, c ^= std::rotl(b, 4), b += a;
    len -= 12;
    k += 12;
  }
  if (len == 0) return c;
  // The last 1..12 bytes, little-endian into a, b, c (the kernel's fall-through switch).
  uint32_t tail[3] = {0, 0, 0};
  for (uint32_t i = 0; i < len; ++i) tail[i / 4] |= static_cast<uint32_t>(k[i]) << (8 * (i % 4));
  a += tail[0];
  b += tail[1];
  c += tail[2];
  c ^= b, c -= std::rotl(b, 14);
  a ^= c, a -= std::rotl(c, 11);
  b ^= a, b -= std::rotl(a, 25);
  c ^= b, c -= std::rotl(b, 16);
  a ^= c, a -= std::rotl(c, 4);
  b ^= a, b -= std::rotl(a, 14);
  c ^= b, c -= std::rotl(b, 24);
  return c;
}

}  // namespace ctgate
