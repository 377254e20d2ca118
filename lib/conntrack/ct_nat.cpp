#include "conntrack/ct_nat.h"

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <algorithm>

#include "common/jhash.h"
#include "packet/cksum.h"
#include "packet/manip.h"
#include "packet/parse.h"

namespace ctgate::ct {

namespace {

// Linux tries this many ports, then halves the count for each new random start while it
// stays at 16 or more (nf_nat_l4proto_unique_tuple): 128 + 64 + 32 + 16 + 8 at most.
constexpr unsigned k_max_attempts = 128;

// The TSC's low bits, mixed in at every draw, keep an observer of translated ports from
// running the generator forward.
uint16_t random_u16(ct_worker& w) {
  uint64_t x = w.nat_rand ^ (rte_rdtsc() & 0xffff);
  if (x == 0) x = 0x9e3779b97f4a7c15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  w.nat_rand = x;
  return static_cast<uint16_t>((x * 0x2545f4914f6cdd1dull) >> 48);
}

bool entry_holds(const ct_entry* o, uint32_t now_ms) {
  return is_live(o->live.load(std::memory_order_acquire)) && !ct_expired(*o, now_ms);
}

// Linux's nf_nat_used_tuple: whether a connection other than `e` would have candidate `t`
// (the original direction as translated) as its reply, i.e. some connection already uses the
// inverse of t. ctgate's keys are direction-free, so a flow holding either tuple of that key
// counts (Linux counts only the exact tuple: this is stricter for the rare flow that is t's
// own mirror image). Unconfirmed flows of this worker that chose the same reply count too:
// Linux needs no such check, since a CPU confirms each packet's flow before taking the next.
bool tuple_taken(const ct_worker& w, const ct_entry* e, const ct_tuple& t, uint32_t now_ms) {
  const flow_key key = make_key(t);
  const flow_table& table = *w.rt->table;
  if (const int32_t p = table.lookup(key); p >= 0 && entry_holds(table.at(p), now_ms)) return true;
  if (const reply_table* replies = w.rt->nat_replies.load(std::memory_order_acquire);
      replies != nullptr && replies->count() > 0)
    if (const int32_t p = replies->lookup(key); p >= 0 && entry_holds(table.at(p), now_ms))
      return true;
  for (uint16_t i = 0; i < w.n_unconfirmed; i++) {
    ct_entry* u = w.unconfirmed[i];
    if (u != e && (u->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK) &&
        make_key(*ct_unconfirmed_reply(u)) == key)
      return true;
  }
  return false;
}

// The port (ICMP, ICMPv6: the id) a binding of `manip` changes, in tuple t.
uint16_t& key_port(ct_tuple& t, nat_manip manip) {
  if (is_icmp_like(t.proto)) return t.sport;
  return manip == nat_manip::src ? t.sport : t.dport;
}

bool has_ports(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || is_icmp_like(proto);
}

// An IPv6 address against a range's end, as 128-bit numbers (ipv6_addr_cmp).
int addr6_cmp(const ipv6_addr& a, const ipv6_addr& b) { return std::memcmp(a.b, b.b, 16); }

// An IPv6 candidate's digests follow its addresses: a changed address changes both (they are
// the hash of the pair, ct_entry.h).
void redigest(const ct_worker& w, ct_tuple& t, const ct_addr6& a) {
  addr6_digests(w.rt->addr6_key, a.src, a.dst, &t.src, &t.dst);
}

// Linux's l4proto_in_range.
bool port_in_range(const ct_tuple& t, nat_manip manip, const nat_range& r) {
  if (!has_ports(t.proto)) return true;
  ct_tuple c = t;
  const uint16_t port = rte_be_to_cpu_16(key_port(c, manip));
  return port >= r.port_min && port <= r.port_max;
}

// Linux's nf_in_range: the source address (and port) already in the range. `a6`: an IPv6
// connection's addresses.
bool in_range(const ct_tuple& t, const nat_range& r, const ct_addr6* a6 = nullptr) {
  if ((r.flags & NAT_RANGE_MAP_IPS) && a6 != nullptr) {
    if (addr6_cmp(a6->src, r.addr6_min) < 0 || addr6_cmp(a6->src, r.addr6_max) > 0) return false;
  } else if (r.flags & NAT_RANGE_MAP_IPS) {
    const uint32_t a = rte_be_to_cpu_32(t.src);
    if (a < r.addr_min || a > r.addr_max) return false;
  }
  return !(r.flags & NAT_RANGE_PROTO_SPECIFIED) || port_in_range(t, nat_manip::src, r);
}

// Linux's find_appropriate_src: the mapping an earlier connection from the same source got
// (the source table's flow; Linux walks every such connection, ctgate keeps one per source),
// offered to connection `orig` as candidate *t when it lies in the range. An IPv6 connection
// (`orig6`: its addresses) compares sources by address, and gets the candidate's addresses in
// *a6 (its digests follow them).
bool find_appropriate_src(const ct_worker& w, const ct_entry* e, const ct_tuple& orig,
                          const ct_addr6* orig6, const nat_range& r, uint32_t now_ms, ct_tuple* t,
                          ct_addr6* a6) {
  const flow_table& table = *w.rt->table;
  auto same_src = [&](const ct_entry* o) {
    if (o->orig.sport != orig.sport || o->orig.proto != orig.proto || o->orig.zone != orig.zone ||
        o->orig.family != orig.family)
      return false;
    if (orig6 == nullptr) return o->orig.src == orig.src;
    const ct_addr6* oa = ct_addr6_of(table, o);
    return oa != nullptr && oa->src == orig6->src;
  };
  // The candidate: orig with the mapping's source (`reply`'s destination, and `reply6`'s).
  auto take = [&](const ct_tuple& reply, const ct_addr6* reply6) {
    *t = orig;
    t->src = reply.dst;
    t->sport = reply.dport;
    if (orig6 == nullptr) return in_range(*t, r);
    if (reply6 == nullptr) return false;
    *a6 = ct_addr6{reply6->dst, orig6->dst};
    redigest(w, *t, *a6);
    return in_range(*t, r, a6);
  };
  // This worker's unconfirmed flows first (Linux adds a connection to its source's chain
  // when it binds it, before confirm): an earlier packet of this burst.
  for (uint16_t i = 0; i < w.n_unconfirmed; i++) {
    ct_entry* u = w.unconfirmed[i];
    if (u == e || !(u->status.load(std::memory_order_relaxed) & CT_STATUS_SRC_NAT) ||
        !*ct_unconfirmed_offers_source(u) || !same_src(u))
      continue;
    if (take(*ct_unconfirmed_reply(u), orig6 != nullptr ? ct_unconfirmed_reply6(u) : nullptr))
      return true;
  }
  const reply_table* by_source = w.rt->nat_by_source.load(std::memory_order_acquire);
  if (by_source == nullptr || by_source->count() == 0) return false;
  const int32_t p =
      by_source->lookup(nat_source_key(*w.rt, orig, orig6 != nullptr ? &orig6->src : nullptr));
  if (p < 0) return false;
  const ct_entry* o = table.at(static_cast<uint32_t>(p));
  // The position may have been reused: the flow must still be the source's, and live.
  if (!entry_holds(o, now_ms) || !same_src(o) ||
      !(o->status.load(std::memory_order_relaxed) & CT_STATUS_SRC_NAT))
    return false;
  const ct_tuple* reply = table.nat_reply_at(static_cast<uint32_t>(p));
  if (reply == nullptr) return false;
  return take(*reply, table.nat_reply6_at(static_cast<uint32_t>(p)));
}

// Linux's find_best_ips_proto: one address, or one picked by a hash of the source (and, unless
// persistent, the destination), so a client keeps its address per server.
void find_best_ips(ct_tuple& t, const nat_range& r, nat_manip manip) {
  if (!(r.flags & NAT_RANGE_MAP_IPS)) return;
  uint32_t& var = manip == nat_manip::src ? t.src : t.dst;
  if (r.addr_min == r.addr_max) {
    var = rte_cpu_to_be_32(r.addr_min);
    return;
  }
  // The kernel hashes the whole nf_inet_addr (16 bytes, the IPv4 address first), seeded with
  // the destination's word as it lies in memory, xor the zone id.
  const uint32_t words[4] = {t.src, 0, 0, 0};
  const uint32_t seed = (r.flags & NAT_RANGE_PERSISTENT) ? 0 : t.dst ^ t.zone;
  const uint32_t j = jhash2(words, 4, seed);
  const uint32_t dist = r.addr_max - r.addr_min + 1;  // a whole-space range wraps to 0
  const uint32_t off =
      dist == 0 ? j : static_cast<uint32_t>((static_cast<uint64_t>(j) * dist) >> 32);
  var = rte_cpu_to_be_32(r.addr_min + off);
}

// The same for an IPv6 connection (the kernel's loop over the address's four words): the hash
// of the source address, seeded with the destination's last word xor the zone unless
// persistent, scales into the first word's span; once a word falls short of the range's
// maximum the later words take any value; the hash takes in each destination word as it goes
// (the translated one, for a destination binding, as the kernel reads it after writing).
void find_best_ips6(const ct_worker& w, ct_tuple& t, ct_addr6& a, const nat_range& r,
                    nat_manip manip) {
  if (!(r.flags & NAT_RANGE_MAP_IPS)) return;
  ipv6_addr& var = manip == nat_manip::src ? a.src : a.dst;
  if (r.addr6_min == r.addr6_max) {
    var = r.addr6_min;
    redigest(w, t, a);
    return;
  }
  auto word = [](const ipv6_addr& x, int i) {
    uint32_t v;
    std::memcpy(&v, x.b + 4 * i, 4);
    return v;
  };
  uint32_t src_words[4];
  std::memcpy(src_words, a.src.b, 16);
  const bool persistent = r.flags & NAT_RANGE_PERSISTENT;
  uint32_t j = jhash2(src_words, 4, persistent ? 0 : word(a.dst, 3) ^ t.zone);
  bool full_range = false;
  for (int i = 0; i < 4; i++) {
    uint32_t min = 0, dist = ~0u;
    if (!full_range) {
      min = rte_be_to_cpu_32(word(r.addr6_min, i));
      dist = rte_be_to_cpu_32(word(r.addr6_max, i)) - min + 1;
    }
    const uint32_t v =
        rte_cpu_to_be_32(min + static_cast<uint32_t>((static_cast<uint64_t>(j) * dist) >> 32));
    std::memcpy(var.b + 4 * i, &v, 4);
    if (v != word(r.addr6_max, i)) full_range = true;
    if (!persistent) j ^= word(a.dst, i);
  }
  redigest(w, t, a);
}

// Linux's nf_nat_used_tuple_harder: in the last attempts of a search for a new TCP
// connection's port (its SYN), a candidate held by a finished source-translated flow is
// freed by evicting that flow (ct_nat_evict_finished) instead of being skipped.
constexpr unsigned k_harder_threshold = k_max_attempts / 4;

bool tuple_taken_harder(ct_worker& w, const ct_entry* e, const ct_tuple& t, unsigned attempts_left,
                        uint32_t now_ms) {
  if (!tuple_taken(w, e, t, now_ms)) return false;
  if (attempts_left > k_harder_threshold || t.proto != IPPROTO_TCP ||
      e->load_track().l4state != TCP_CT_SYN_SENT)
    return true;
  return !ct_nat_evict_finished(w, e, make_key(t), now_ms) || tuple_taken(w, e, t, now_ms);
}

// Linux's nf_nat_l4proto_unique_tuple: searches the port range from an offset; false when
// every port it tried is taken.
bool unique_port(ct_worker& w, const ct_entry* e, ct_tuple& t, const nat_range& r, nat_manip manip,
                 uint32_t now_ms) {
  if (!has_ports(t.proto)) return !tuple_taken(w, e, t, now_ms);
  uint16_t& key = key_port(t, manip);
  uint32_t min, range_size;
  if (is_icmp_like(t.proto) && !(r.flags & NAT_RANGE_PROTO_SPECIFIED)) {
    min = 0;
    range_size = 65536;
  } else if (!(r.flags & NAT_RANGE_PROTO_SPECIFIED)) {
    if (manip == nat_manip::dst) return !tuple_taken(w, e, t, now_ms);  // never moves
    const uint16_t port = rte_be_to_cpu_16(key);
    if (port < 512) {
      min = 1;
      range_size = 511;
    } else if (port < 1024) {
      min = 600;
      range_size = 424;
    } else {
      min = 1024;
      range_size = 65535 - 1024 + 1;
    }
  } else {
    min = std::min(r.port_min, r.port_max);
    range_size = static_cast<uint32_t>(std::max(r.port_min, r.port_max)) - min + 1;
  }
  const bool random = (r.flags & NAT_RANGE_PROTO_RANDOM_ALL) || manip != nat_manip::dst;
  uint16_t off = random ? random_u16(w) : 0;  // 16 bits, wrapping, as Linux's
  unsigned attempts = std::min<uint32_t>(range_size, k_max_attempts);
  for (;;) {
    for (unsigned i = 0; i < attempts; i++, off++) {
      key = rte_cpu_to_be_16(static_cast<uint16_t>(min + off % range_size));
      if (!tuple_taken_harder(w, e, t, attempts - i, now_ms)) return true;
    }
    if (attempts >= range_size || attempts < 16) return false;
    attempts /= 2;
    off = random_u16(w);
  }
}

}  // namespace

nat_setup_result nat_setup(ct_worker& w, ct_entry* e, const nat_range& r, nat_manip manip,
                           uint32_t now_ms) {
  const uint16_t done = manip == nat_manip::src ? CT_STATUS_SRC_NAT_DONE : CT_STATUS_DST_NAT_DONE;
  const uint16_t bit = manip == nat_manip::src ? CT_STATUS_SRC_NAT : CT_STATUS_DST_NAT;
  // A second packet of the same new connection in this burst has its own unconfirmed entry
  // (confirm adopts the first's): it takes the first's binding, so both are translated alike
  // and the clash at confirm resolves (Linux confirms the first before it sees the second).
  for (uint16_t i = 0; i < w.n_unconfirmed; i++) {
    ct_entry* u = w.unconfirmed[i];
    const uint16_t us = u->status.load(std::memory_order_relaxed);
    if (u == e || !(us & done) || !(u->orig == e->orig)) continue;
    // An IPv6 tuple is digests: the same connection has the same addresses too.
    if (e->orig.family == k_family_ipv6 &&
        !(*ct_addr6_of(*w.rt->table, u) == *ct_addr6_of(*w.rt->table, e)))
      continue;
    if (us & bit) {
      *ct_unconfirmed_reply(e) = *ct_unconfirmed_reply(u);
      *ct_unconfirmed_offers_source(e) = *ct_unconfirmed_offers_source(u);
      if (e->orig.family == k_family_ipv6) *ct_unconfirmed_reply6(e) = *ct_unconfirmed_reply6(u);
    }
    e->status.fetch_or(static_cast<uint16_t>(us & (done | bit)), std::memory_order_relaxed);
    return (us & bit) ? nat_setup_result::bound : nat_setup_result::null;
  }
  // The connection as its original packets will look once translated: the inverse of the
  // reply tuple so far (a destination binding may already have changed it).
  ct_tuple orig = invert(ct_reply_tuple(*w.rt->table, e));
  // invert() maps a query's type to its reply's, not back: an echo's stays the request's.
  if (is_icmp_like(orig.proto)) orig.dport = e->orig.dport;
  // An IPv6 connection's addresses, as orig's digests stand for them; a6 is the candidate's.
  const bool v6 = e->orig.family == k_family_ipv6;
  ct_addr6 orig6{}, a6{};
  if (v6) {
    const ct_addr6* r6 = ct_reply_addr6(*w.rt->table, e);
    orig6 = r6 != nullptr ? ct_addr6{r6->dst, r6->src} : *ct_addr6_of(*w.rt->table, e);
    a6 = orig6;
  }
  ct_tuple t = orig;
  bool found = false;
  // get_unique_tuple: a source translation first keeps the connection as it is when that is
  // in the range and free; when it is out of the range, it takes the mapping the source's
  // earlier connection got, when that is in the range and free (find_appropriate_src).
  if (manip == nat_manip::src && !(r.flags & NAT_RANGE_PROTO_RANDOM_ALL)) {
    if (in_range(orig, r, v6 ? &orig6 : nullptr))
      found = !tuple_taken(w, e, orig, now_ms);
    else
      found = find_appropriate_src(w, e, orig, v6 ? &orig6 : nullptr, r, now_ms, &t, &a6) &&
              !tuple_taken(w, e, t, now_ms);
  }
  if (!found) {
    t = orig;
    if (v6) {
      a6 = orig6;
      find_best_ips6(w, t, a6, r, manip);
    } else {
      find_best_ips(t, r, manip);
    }
    if (!(r.flags & NAT_RANGE_PROTO_RANDOM_ALL)) {
      if (r.flags & NAT_RANGE_PROTO_SPECIFIED) {
        // A single port is taken without a check, as Linux does: a clash drops at confirm.
        found = port_in_range(t, manip, r) &&
                (r.port_min == r.port_max || !tuple_taken(w, e, t, now_ms));
      } else {
        found = !tuple_taken(w, e, t, now_ms);
      }
    }
    if (!found && !unique_port(w, e, t, r, manip, now_ms)) {
      w.counters.add(ct_counter::nat_no_port);
      if (w.rt->nat_log.allow(now_ms) && w.rt->mailbox != nullptr) {
        w.rt->nat_full_note = {
            r.addr_min, r.addr_max,  r.port_min, r.port_max, static_cast<uint8_t>(manip),
            v6,         r.addr6_min, r.addr6_max};
        w.rt->mailbox->raise(log_kind::nat_no_port);
      }
      return nat_setup_result::no_port;
    }
  }
  if (t == orig && (!v6 || a6 == orig6)) {
    e->status.fetch_or(done, std::memory_order_relaxed);
    return nat_setup_result::null;
  }
  *ct_unconfirmed_reply(e) = invert(t);
  if (v6) *ct_unconfirmed_reply6(e) = ct_addr6{a6.dst, a6.src};
  // The mapping is offered to the source's later connections only where their own choice
  // could differ from it (find_appropriate_src): a moved port, or an address picked per
  // destination from a range. A kept port on one address (masquerade, most snat) is what
  // they get anyway, so most flows cost the source table nothing.
  if (manip == nat_manip::src)
    *ct_unconfirmed_offers_source(e) =
        t.sport != orig.sport || ((r.flags & NAT_RANGE_MAP_IPS) &&
                                  (v6 ? !(r.addr6_min == r.addr6_max) : r.addr_min != r.addr_max) &&
                                  !(r.flags & NAT_RANGE_PERSISTENT));
  e->status.fetch_or(static_cast<uint16_t>(done | bit), std::memory_order_relaxed);
  w.counters.add(ct_counter::nat_bound);
  return nat_setup_result::bound;
}

namespace {

// The tuple of the direction opposite to `dir` (Linux's ct->tuplehash[!dir].tuple), in place.
const ct_tuple& other_tuple(const ct_worker& w, const ct_entry* e, uint8_t dir) {
  if (dir != static_cast<uint8_t>(ct_dir::original)) return e->orig;
  return e->pos == k_no_pos ? *ct_unconfirmed_reply(const_cast<ct_entry*>(e))
                            : *w.rt->table->nat_reply_at(e->pos);
}

// What a rewrite of kind `kind` writes (nf_nat_manip_pkt): the packet becomes the inverse of
// the other direction's tuple, so its source is the other's destination, and the other way
// round; an ICMP query's id is the other's sport either way.
struct nat_target {
  uint32_t addr;
  uint16_t port;
};
nat_target target_of(const ct_tuple& other, manip_kind kind) {
  if (kind == manip_kind::src)
    return {other.dst, is_icmp_like(other.proto) ? other.sport : other.dport};
  return {other.src, other.sport};
}

// An IPv6 connection's addresses of the direction opposite to `dir`, and the address a
// rewrite of kind `kind` writes from them. Precondition: the connection is translated.
const ipv6_addr& target6_of(const ct_worker& w, const ct_entry* e, uint8_t dir, manip_kind kind) {
  const ct_addr6& other = dir != static_cast<uint8_t>(ct_dir::original)
                              ? *ct_addr6_of(*w.rt->table, e)
                              : *ct_reply_addr6(*w.rt->table, e);
  return kind == manip_kind::src ? other.dst : other.src;
}

// The transport bytes of packet m the buffer holds: none of a later fragment.
size_t l4_avail(const rte_mbuf* mb, const pkt_meta* m) {
  const uint32_t in_buf =
      rte_pktmbuf_data_len(mb) > m->l4_off ? rte_pktmbuf_data_len(mb) - m->l4_off : 0;
  return (m->flags & PKT_F_FRAGMENT) && !(m->flags & PKT_F_FIRST_FRAGMENT)
             ? 0
             : std::min<uint32_t>(m->l4_len, in_buf);
}

// The IPv6 half of nat_packet: the address from the connection's IPv6 addresses.
[[gnu::noinline]] void nat_packet6(ct_worker& w, rte_mbuf* mb, pkt_meta* m, manip_kind kind,
                                   const nat_target& to) {
  const ipv6_addr& addr = target6_of(w, m->ct, m->ct_dir, kind);
  ipv6_manip(rte_pktmbuf_mtod_offset(mb, uint8_t*, m->l3_off), m->l4.proto,
             rte_pktmbuf_mtod_offset(mb, void*, m->l4_off), l4_avail(mb, m), kind, addr.b, to.port);
}

}  // namespace

void nat_packet(ct_worker& w, rte_mbuf* mb, pkt_meta* m, nat_manip manip) {
  const ct_tuple& other = other_tuple(w, m->ct, m->ct_dir);
  const manip_kind kind = manip == nat_manip::src ? manip_kind::src : manip_kind::dst;
  const nat_target to = target_of(other, kind);
  if (m->flags & PKT_F_IPV6) [[unlikely]] {
    nat_packet6(w, mb, m, kind, to);
  } else {
    ipv4_manip(rte_pktmbuf_mtod_offset(mb, rte_ipv4_hdr*, m->l3_off),
               rte_pktmbuf_mtod_offset(mb, void*, m->l4_off), l4_avail(mb, m), kind, to.addr,
               to.port);
    (kind == manip_kind::src ? m->src : m->dst) = to.addr;
  }
  if (kind == manip_kind::src) {
    if (has_ports(other.proto)) m->sport = to.port;
  } else {
    if (is_icmp_like(other.proto))
      m->sport = to.port;
    else if (has_ports(other.proto))
      m->dport = to.port;
  }
}

namespace {

// nat_icmp_error for ICMPv6 (nf_nat_icmpv6_reply_translation): the quote, after its extension
// headers, is translated back; the outer address as for IPv4; the checksum, which covers the
// pseudo header, summed again.
bool nat_icmp6_error(ct_worker& w, rte_mbuf* mb, pkt_meta* m, nat_manip manip) {
  const ct_entry* e = m->ct;
  const uint16_t status = e->status.load(std::memory_order_relaxed);
  const uint32_t in_buf =
      rte_pktmbuf_data_len(mb) > m->l4_off ? rte_pktmbuf_data_len(mb) - m->l4_off : 0;
  // The message is summed again below: all of it must be in the first segment.
  if (in_buf < m->l4_len) return false;
  const uint32_t icmp_len = m->l4_len;
  auto* icmp = rte_pktmbuf_mtod_offset(mb, uint8_t*, m->l4_off);
  auto* ip6 = rte_pktmbuf_mtod_offset(mb, uint8_t*, m->l3_off);
  if (!w.rt->check_checksums && !ipv6_l4_cksum_ok(ip6, icmp, icmp_len, IPPROTO_ICMPV6))
    return false;
  if (!nat_rewrites(status, manip, m->ct_dir)) return true;
  constexpr uint32_t k_icmp6_hdr = 8, k_ip6_hdr = 40;
  if (icmp_len < k_icmp6_hdr + k_ip6_hdr + 8) return false;
  uint8_t* quote = icmp + k_icmp6_hdr;
  ipv6_chain c;
  if (ipv6_skip_ext(quote, icmp_len - k_icmp6_hdr, &c) != parse_result::ipv6 ||
      icmp_len - k_icmp6_hdr < c.l4_off + 8)
    return false;
  const manip_kind kind = manip == nat_manip::src ? manip_kind::src : manip_kind::dst;
  const manip_kind inner_kind = kind == manip_kind::src ? manip_kind::dst : manip_kind::src;
  const nat_target to = target_of(other_tuple(w, e, m->ct_dir), kind);
  const ipv6_addr addr = target6_of(w, e, m->ct_dir, kind);
  ipv6_manip(quote, c.proto, quote + c.l4_off, icmp_len - k_icmp6_hdr - c.l4_off, inner_kind,
             addr.b, to.port);
  ipv6_manip(ip6, IPPROTO_ICMPV6, icmp, 0, kind, addr.b, 0);
  icmp[2] = icmp[3] = 0;
  const uint16_t sum = ipv6_l4_cksum(ip6, icmp, icmp_len, IPPROTO_ICMPV6);
  std::memcpy(icmp + 2, &sum, 2);
  return true;
}

}  // namespace

bool nat_icmp_error(ct_worker& w, rte_mbuf* mb, pkt_meta* m, nat_manip manip) {
  if (m->flags & PKT_F_IPV6) return nat_icmp6_error(w, mb, m, manip);
  const ct_entry* e = m->ct;
  const uint16_t status = e->status.load(std::memory_order_relaxed);
  // The parse stage and conntrack's quote check saw an ICMP header, the quoted IPv4 header
  // and 8 bytes of its transport header in the buffer's first segment.
  const uint32_t in_buf =
      rte_pktmbuf_data_len(mb) > m->l4_off ? rte_pktmbuf_data_len(mb) - m->l4_off : 0;
  const uint32_t icmp_len = std::min<uint32_t>(m->l4_len, in_buf);
  auto* icmp = rte_pktmbuf_mtod_offset(mb, uint8_t*, m->l4_off);
  // Linux checks the message's checksum here whatever conntrack was told
  // (nf_ip_checksum); ctgate's conntrack already did unless checksums are off.
  if (!w.rt->check_checksums &&
      (icmp_len < m->l4_len || cksum_fold(cksum_add(0, icmp, icmp_len)) != 0xffff))
    return false;
  // A redirect about a translated connection would have its ends talk to each other past the
  // translation: dropped, as are redirects about connections not yet bound both ways.
  if (m->l4.icmp_type == icmp::redirect &&
      ((status & CT_STATUS_NAT_DONE_MASK) != CT_STATUS_NAT_DONE_MASK ||
       (status & CT_STATUS_NAT_MASK)))
    return false;
  if (!nat_rewrites(status, manip, m->ct_dir)) return true;
  if (icmp_len < sizeof(rte_icmp_hdr) + sizeof(rte_ipv4_hdr) + 8) return false;
  auto* inner = reinterpret_cast<rte_ipv4_hdr*>(icmp + sizeof(rte_icmp_hdr));
  const uint32_t ihl = (inner->version_ihl & 0xf) * 4u;
  if (ihl < sizeof(rte_ipv4_hdr) || icmp_len < sizeof(rte_icmp_hdr) + ihl + 8) return false;
  // The outer header becomes what a packet of the connection in this direction would be
  // (only the address: an error has no port), and the quote, which went the other way, what
  // its sender saw: the same address and port, at the quote's other end.
  const manip_kind kind = manip == nat_manip::src ? manip_kind::src : manip_kind::dst;
  const manip_kind inner_kind = kind == manip_kind::src ? manip_kind::dst : manip_kind::src;
  const nat_target to = target_of(other_tuple(w, e, m->ct_dir), kind);
  ipv4_manip(inner, icmp + sizeof(rte_icmp_hdr) + ihl, icmp_len - sizeof(rte_icmp_hdr) - ihl,
             inner_kind, to.addr, to.port);
  // The quote changed under the ICMP checksum, by amounts the update above did not all see
  // (the quoted transport checksum is often cut off): sum the message again, as Linux does.
  auto* ih = reinterpret_cast<rte_icmp_hdr*>(icmp);
  ih->icmp_cksum = 0;
  ih->icmp_cksum = static_cast<uint16_t>(~cksum_fold(cksum_add(0, icmp, icmp_len)));
  auto* ip = rte_pktmbuf_mtod_offset(mb, rte_ipv4_hdr*, m->l3_off);
  ipv4_manip(ip, icmp, 0, kind, to.addr, 0);
  (kind == manip_kind::src ? m->src : m->dst) = to.addr;
  return true;
}

bool nat_sent_tuple(const ct_worker& w, const ct_entry* e, uint8_t dir, ct_tuple* out) {
  // An IPv6 tuple holds digests, not addresses: nat_sent_tuple6.
  if (!(e->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK) ||
      e->orig.family == k_family_ipv6)
    return false;
  const uint8_t other = dir == static_cast<uint8_t>(ct_dir::original)
                            ? static_cast<uint8_t>(ct_dir::reply)
                            : static_cast<uint8_t>(ct_dir::original);
  *out = other_tuple(w, e, other);
  return true;
}

bool nat_sent_tuple6(const ct_worker& w, const ct_entry* e, uint8_t dir, ct_tuple* out,
                     ct_addr6* addrs) {
  if (!(e->status.load(std::memory_order_relaxed) & CT_STATUS_NAT_MASK) ||
      e->orig.family != k_family_ipv6)
    return false;
  const bool original = dir == static_cast<uint8_t>(ct_dir::original);
  *out = other_tuple(
      w, e,
      original ? static_cast<uint8_t>(ct_dir::reply) : static_cast<uint8_t>(ct_dir::original));
  *addrs = original ? *ct_addr6_of(*w.rt->table, e) : *ct_reply_addr6(*w.rt->table, e);
  return true;
}

}  // namespace ctgate::ct
