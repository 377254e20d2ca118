// L2/L3/L4 parsing into pkt_meta. Pure functions over bytes, so the same
// code is unit tested, fuzzed and run on the data plane.
#pragma once

#include <cstdint>

#include "packet/pkt_meta.h"

namespace ctgate {

// Outcome of parsing an Ethernet frame. Drop reasons are per-packet counters
// of the parse stage; L4 problems are not drops (conntrack counts them as
// invalid and rules decide).
enum class parse_result : uint8_t {
  ipv4 = 0,  // meta filled
  arp,       // ARP for the arp stage (meta.l3_off set)
  runt,      // shorter than an Ethernet header
  unsupported_ethertype,
  ip_truncated,  // shorter than 20 bytes of IPv4 header
  ip_bad_version,
  ip_bad_ihl,        // IHL < 5 or header beyond the frame
  ip_bad_total_len,  // total length < IHL*4 or beyond the frame
  ip_bad_checksum,
  count_,
};
const char* parse_result_name(parse_result r);

// Parses `len` bytes at `frame`. Fills every field of *m that parsing owns
// (offsets, addresses, ports, l4 info, flags, l4_invalid) and clears ct, mark,
// zone, ct_info. `check_ip_csum` is false when the NIC already verified it.
parse_result parse_frame(const uint8_t* frame, uint32_t len, bool check_ip_csum, pkt_meta* m);

}  // namespace ctgate
