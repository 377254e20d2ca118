// libFuzzer target: synproxy's byte-level code on arbitrary segments.
// - parse_tcp_options never reads past its block (ASan); a block that
//   parses, written back as a SYN-ACK's options, parses to the same values;
// - a cookie made for a tuple validates for it, with the table MSS;
// - sequence translation reads only the header and options, and
//   translating by d then by -d gives back the segment (checksum included,
//   up to one's complement's two zeros).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "synproxy/cookie.h"
#include "synproxy/seq_adjust.h"
#include "synproxy/tcp_options.h"

namespace {

using namespace ctgate::synproxy;

uint32_t word(const uint8_t* d, size_t size, size_t i) {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; k++) v = v << 8 | (i + k < size ? d[i + k] : 0);
  return v;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Options: the whole input as an option block (copied, so ASan sees the end).
  std::vector<uint8_t> block(data, data + std::min<size_t>(size, 40));
  tcp_opts o;
  if (parse_tcp_options(block.data(), block.size(), &o)) {
    uint8_t out[40];
    size_t n = write_synack_options(out, sizeof out, o);
    if (n % 4 != 0 || n != synack_options_size(o)) fail("synack options size");
    tcp_opts back;
    if (!parse_tcp_options(out, n, &back)) fail("written options do not parse");
    const uint8_t ws = o.wscale == k_no_wscale ? k_no_wscale : std::min<uint8_t>(o.wscale, 14);
    if (back.mss != o.mss || back.sack_perm != o.sack_perm || back.has_ts != o.has_ts ||
        back.wscale != ws || (o.has_ts && (back.tsval != o.tsval || back.tsecr != o.tsecr)))
      fail("options changed on a round trip");
  }

  // Cookies: made and checked for one tuple.
  const cookie_secrets s = make_secrets(word(data, size, 0) | uint64_t{word(data, size, 4)} << 32);
  const uint32_t saddr = word(data, size, 8), daddr = word(data, size, 12);
  const uint32_t ports = word(data, size, 16), isn = word(data, size, 20);
  const uint32_t now_s = word(data, size, 24) >> 4;
  const auto sport = static_cast<uint16_t>(ports >> 16), dport = static_cast<uint16_t>(ports);
  const auto mss = static_cast<uint16_t>(word(data, size, 28));
  const uint32_t c = make_cookie(s, saddr, daddr, sport, dport, isn, mss, now_s);
  uint16_t mss_out = 0;
  if (!check_cookie(s, saddr, daddr, sport, dport, isn, c, now_s, &mss_out))
    fail("a fresh cookie does not validate");
  if (mss_out != mss_value(mss_index(mss))) fail("cookie MSS");
  (void)check_cookie(s, saddr, daddr, sport, dport, isn, word(data, size, 32), now_s, &mss_out);

  // Sequence translation over the input as a TCP header (+ options, + payload).
  if (size >= 8) {
    const seq_delta d{word(data, size, 0), word(data, size, 4)};
    const seq_delta neg{0u - d.seq_off, 0u - d.ts_off};
    std::vector<uint8_t> seg(data + 8, data + size);
    std::vector<uint8_t> orig = seg;
    const bool ok = adjust_client_to_server(seg.data(), seg.size(), d);
    if (seg.size() < 20 && seg != orig) fail("a short segment was touched");
    if (ok) {
      if (!adjust_client_to_server(seg.data(), seg.size(), neg)) fail("undo refused");
      auto csum = [](const std::vector<uint8_t>& v) {
        uint16_t x = static_cast<uint16_t>(v[16] << 8 | v[17]);
        return x == 0xffff ? 0 : x;
      };
      if (csum(seg) != csum(orig)) fail("checksum changed on d then -d");
      seg[16] = orig[16];
      seg[17] = orig[17];
      if (seg != orig) fail("segment changed on d then -d");
    }
    std::vector<uint8_t> seg2(data + 8, data + size);
    (void)adjust_server_to_client(seg2.data(), seg2.size(), d);
  }
  return 0;
}
