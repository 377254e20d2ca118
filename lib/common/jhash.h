// Linux's jhash (lib/jhash.h): Bob Jenkins' lookup3 hashlittle with the kernel's starting
// value. nft's `jhash` expression and NAT's choice of an address in a range
// (find_best_ips_proto) use it, and both are compared with the kernel bit for bit.
#pragma once

#include <cstdint>

namespace ctgate {

// jhash(): `len` bytes, little-endian words, seeded with `initval`.
uint32_t jhash(const void* key, uint32_t len, uint32_t initval);

// jhash2(): `n` 32-bit words. The same hash as jhash() over their 4n bytes on a little-endian
// host, which is what the kernel's two functions give there too.
inline uint32_t jhash2(const uint32_t* words, uint32_t n, uint32_t initval) {
  return jhash(words, n * 4, initval);
}

}  // namespace ctgate
