#include "synproxy/seq_adjust.h"
#include "synproxy/bytes.h"

#include "packet/cksum.h"
#include "synproxy/tcp_options.h"

namespace ctgate::synproxy {

namespace {

constexpr size_t k_off_seq = 4;
constexpr size_t k_off_ack = 8;
constexpr size_t k_off_doff = 12;
constexpr size_t k_off_check = 16;

inline uint32_t fold(uint32_t x) {
  while (x >> 16) x = (x & 0xffff) + (x >> 16);
  return x;
}

// Collects ~m + m' (RFC 1624) for every rewritten 32-bit field, then
// applies it to the checksum once. The checksum sums 16-bit words at even
// offsets from the start of the segment; a field at an odd offset straddles
// words, and its contribution is the byte-swap of the aligned one (the
// one's complement sum commutes with byte swapping, RFC 1071), so those are
// summed apart and swapped before use.
class csum_update {
 public:
  void replace32(uint8_t* hdr, size_t off, uint32_t nv) {
    const uint32_t ov = get_be32(hdr + off);
    put_be32(hdr + off, nv);
    const uint32_t d = (~ov >> 16) + (~ov & 0xffff) + (nv >> 16) + (nv & 0xffff);
    (off & 1 ? odd_ : even_) += d;  // at most 11 fields of 4 * 0xffff: no overflow
  }
  void apply(uint8_t* hdr) const {
    const uint32_t odd = fold(odd_);
    const uint32_t swapped = (odd >> 8 | odd << 8) & 0xffff;
    const uint16_t check = cksum_adjust(get_be16(hdr + k_off_check), uint64_t{even_} + swapped);
    hdr[k_off_check] = static_cast<uint8_t>(check >> 8);
    hdr[k_off_check + 1] = static_cast<uint8_t>(check);
  }

 private:
  uint32_t even_ = 0;
  uint32_t odd_ = 0;
};

// Returns the header length, or 0 if the header cannot be trusted.
size_t header_len(const uint8_t* hdr, size_t tcp_len) {
  if (tcp_len < 20) return 0;
  const size_t hl = static_cast<size_t>(hdr[k_off_doff] >> 4) * 4;
  return hl < 20 || hl > tcp_len ? 0 : hl;
}

enum class dir { client_to_server, server_to_client };

// Walks the options with the same structural rules as parse_tcp_options and
// rewrites SACK edges / timestamps. False on a malformed block.
bool adjust_options(uint8_t* hdr, size_t hl, const seq_delta& d, dir w, csum_update& cs) {
  size_t i = 20;
  while (i < hl) {
    const uint8_t kind = hdr[i];
    if (kind == TCPOPT_EOL) return true;
    if (kind == TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= hl) return false;
    const size_t olen = hdr[i + 1];
    if (olen < 2 || olen > hl - i) return false;
    if (kind == TCPOPT_TS && olen == 10 && d.ts_off != 0) {
      if (w == dir::server_to_client) {
        cs.replace32(hdr, i + 2, get_be32(hdr + i + 2) - d.ts_off);  // TSval
      } else {
        cs.replace32(hdr, i + 6, get_be32(hdr + i + 6) + d.ts_off);  // TSecr
      }
    } else if (kind == TCPOPT_SACK && w == dir::client_to_server && d.seq_off != 0 && olen >= 10 &&
               (olen - 2) % 8 == 0) {
      for (size_t e = i + 2; e < i + olen; e += 4)
        cs.replace32(hdr, e, get_be32(hdr + e) + d.seq_off);
    }
    i += olen;
  }
  return true;
}

bool adjust(uint8_t* hdr, size_t tcp_len, const seq_delta& d, dir w) {
  const size_t hl = header_len(hdr, tcp_len);
  if (hl == 0) return false;
  if (d.seq_off == 0 && d.ts_off == 0) return true;
  csum_update cs;
  if (d.seq_off != 0) {
    if (w == dir::server_to_client)
      cs.replace32(hdr, k_off_seq, get_be32(hdr + k_off_seq) - d.seq_off);
    else
      cs.replace32(hdr, k_off_ack, get_be32(hdr + k_off_ack) + d.seq_off);
  }
  const bool ok = adjust_options(hdr, hl, d, w, cs);
  cs.apply(hdr);
  return ok;
}

}  // namespace

bool adjust_client_to_server(uint8_t* tcp_hdr, size_t tcp_len, const seq_delta& d) {
  return adjust(tcp_hdr, tcp_len, d, dir::client_to_server);
}

bool adjust_server_to_client(uint8_t* tcp_hdr, size_t tcp_len, const seq_delta& d) {
  return adjust(tcp_hdr, tcp_len, d, dir::server_to_client);
}

}  // namespace ctgate::synproxy
