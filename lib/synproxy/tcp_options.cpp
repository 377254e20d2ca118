#include "synproxy/tcp_options.h"

#include <cstring>

#include "synproxy/bytes.h"

namespace ctgate::synproxy {

namespace {

// One 32-bit store per option word, not four byte stores: the SYN-ACK's
// checksum reads these words right back, and a word load that spans several
// pending narrower stores cannot be forwarded from the store buffer (a stall
// of ~10 cycles per word on x86).
inline void put4(uint8_t* p, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t v[4] = {a, b, c, d};
  uint32_t w;
  std::memcpy(&w, v, 4);
  std::memcpy(p, &w, 4);
}

inline void put_word_be32(uint8_t* p, uint32_t v) {
  put4(p, static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
       static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v));
}

bool want_wscale(const tcp_opts& o) { return o.wscale != k_no_wscale; }

}  // namespace

bool parse_tcp_options(const uint8_t* opts, size_t len, tcp_opts* out) {
  *out = tcp_opts{};
  size_t i = 0;
  while (i < len) {
    const uint8_t kind = opts[i];
    if (kind == TCPOPT_EOL) return true;  // the rest is padding
    if (kind == TCPOPT_NOP) {
      i++;
      continue;
    }
    // Every other kind is kind, length, data; the length counts both header
    // bytes, so < 2 would loop forever or walk backwards.
    if (i + 1 >= len) return false;
    const size_t olen = opts[i + 1];
    if (olen < 2 || olen > len - i) return false;
    const uint8_t* d = opts + i + 2;
    switch (kind) {
      case TCPOPT_MSS:
        if (olen != 4) return false;
        out->mss = get_be16(d);
        out->mss_at = static_cast<uint8_t>(i + 2);
        break;
      case TCPOPT_WSCALE:
        if (olen != 3) return false;
        out->wscale = d[0] > k_max_wscale ? k_max_wscale : d[0];
        break;
      case TCPOPT_SACK_PERM:
        if (olen != 2) return false;
        out->sack_perm = true;
        break;
      case TCPOPT_TS:
        if (olen != 10) return false;
        out->has_ts = true;
        out->tsval = get_be32(d);
        out->tsecr = get_be32(d + 4);
        break;
      default: break;  // SACK blocks, MD5, MPTCP, experiments...: not ours to read here
    }
    i += olen;
  }
  return true;
}

size_t synack_options_size(const tcp_opts& o) {
  size_t n = 0;
  if (o.mss) n += 4;
  if (o.has_ts)
    n += 12;  // SACK_PERM (or NOP,NOP) + TS: SACK_PERM rides in the TS word
  else if (o.sack_perm)
    n += 4;
  if (want_wscale(o)) n += 4;
  return n;
}

size_t write_synack_options(uint8_t* out, size_t cap, const tcp_opts& o) {
  const size_t need = synack_options_size(o);
  if (need > cap) return 0;
  uint8_t* p = out;
  if (o.mss) {
    put4(p, TCPOPT_MSS, 4, static_cast<uint8_t>(o.mss >> 8), static_cast<uint8_t>(o.mss));
    p += 4;
  }
  // Pairing the 2-byte SACK_PERM with the 10-byte TS fills 12 bytes with
  // no padding and keeps TSval/TSecr 32-bit aligned, which lets fast paths
  // (ours included) rewrite them as whole words.
  if (o.has_ts) {
    if (o.sack_perm)
      put4(p, TCPOPT_SACK_PERM, 2, TCPOPT_TS, 10);
    else
      put4(p, TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TS, 10);
    put_word_be32(p + 4, o.tsval);
    put_word_be32(p + 8, o.tsecr);
    p += 12;
  } else if (o.sack_perm) {
    put4(p, TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM, 2);
    p += 4;
  }
  if (want_wscale(o)) {
    put4(p, TCPOPT_NOP, TCPOPT_WSCALE, 3, o.wscale > k_max_wscale ? k_max_wscale : o.wscale);
    p += 4;
  }
  return static_cast<size_t>(p - out);
}

}  // namespace ctgate::synproxy
