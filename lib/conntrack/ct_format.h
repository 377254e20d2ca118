// Observability for conntrack, in the shapes users know: conntrack-tools'
// `conntrack -L` lines, filters, counts, deletes. Runs on control threads
// (telemetry, TBB workers), never on the data plane.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "conntrack/conntrack.h"

namespace ctgate::ct {

// A consistent copy of one entry, taken without stopping its owner.
struct entry_view {
  uint32_t pos;
  uint32_t live;
  uint16_t owner;
  ct_tuple orig;
  ct_tuple reply;  // the stored one of a translated flow, else the inverse of orig
  uint16_t status;
  track_state ts;
  uint32_t expires_ms;
  uint32_t mark;
  ct_addr6 addr6{};   // an IPv6 entry's addresses (orig.family k_family_ipv6), original direction
  ct_addr6 reply6{};  // ... and its reply's (its original's swapped unless translated)
  bool acct = false;  // accounting on: the counts below are printed
  uint64_t packets[2] = {}, bytes[2] = {};
};
// False if the slot is not live or changed while being read. `acct`: the entry's accounting
// (flow_table::acct_at), null when off.
// `nat_reply`: the table's reply tuple at pos (flow_table::nat_reply_at), null before NAT.
// `addr6`: the table's IPv6 addresses at pos (flow_table::addr6_at), null without IPv6.
bool read_entry(const ct_entry& e, uint32_t pos, entry_view* out, const ct_acct* acct = nullptr,
                const ct_tuple* nat_reply = nullptr, const ct_addr6* addr6 = nullptr,
                const ct_addr6* nat_reply6 = nullptr);

// `conntrack -L` line (no newline), exactly conntrack-tools' layout:
// tcp      6 115 SYN_SENT src=... dst=... sport=.. dport=.. [UNREPLIED] src=... ... mark=0 use=1
// `extended` (conntrack -o extended) puts the family first: "ipv4     2 tcp      6 ...".
std::string format_entry(const entry_view& v, uint32_t now_ms, bool extended = false);

// Filters of conntrack -L/-D: -f, -p, --src, --dst, --sport, --dport, --state, --zone, --mark.
struct ct_filter {
  int family = -1;  // k_family_ipv4 or k_family_ipv6 (-f ipv4, -f ipv6)
  int proto = -1;
  int64_t src = -1, dst = -1;           // host order; an IPv4 address matches IPv4 entries only
  std::optional<ipv6_addr> src6, dst6;  // an IPv6 address matches IPv6 entries only
  int sport = -1, dport = -1;
  int state = -1;  // tcp_state
  int zone = -1;
  int64_t mark = -1;
  // conntrack --src-nat / --dst-nat / --any-nat (1, 2, 3): as conntrack-tools filters, by
  // comparing the tuples (the reply's destination against the original's source, the reply's
  // source against the original's destination; an ICMP flow's "ports" always differ).
  int nat = 0;
  // Not a filter: conntrack's -o extended (output=extended), the family before each line.
  bool extended = false;
  bool matches(const entry_view& v) const;
};
// Parses "family=ipv6 proto=tcp src=2001:db8::1 dport=80 state=ESTABLISHED" (space or '&'
// separated; conntrack's option names without dashes are accepted too:
// f, p, s, d; output=extended is -o extended). An unknown key or bad value is an error naming
// it.
result<ct_filter> parse_filter(const std::string& text);

// Parallel scan over the table (TBB); calls `fn` for matching entries, in
// position order per chunk, from several threads: fn must be thread safe.
void scan(const flow_table& t, const ct_filter& f,
          const std::function<void(const entry_view&)>& fn);

// Convenience: the matching lines (f.extended: -o extended's), sorted by position.
std::vector<std::string> list_lines(const flow_table& t, const ct_filter& f, uint32_t now_ms);

// Asks owners to delete matching entries; returns how many were requested.
// Entries whose owner ring is full are retried a bounded number of times.
uint64_t delete_matching(const flow_table& t, const ct_filter& f, ct_worker* const* workers,
                         uint16_t n_workers);

}  // namespace ctgate::ct
