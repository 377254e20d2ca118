// Evaluates compiled nftables chains over a burst. Per packet: walk the
// chain's rules; a rule's matches are compares against pkt_meta fields or
// O(log n) set lookups; statements update counters, marks and limiters, or
// end the chain with a verdict. jump/goto/return use a bounded stack.
#include "ruleset/nft_chain.h"

#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conntrack/ct_nat.h"
#include "dataplane/gateway.h"
#include "dataplane/icmp6_error.h"
#include "dataplane/ipv6.h"
#include "packet/manip.h"
#include "ruleset/nft_nat.h"
#include "synproxy/synproxy.h"
#include "synproxy/tcp_options.h"

namespace ctgate {

namespace {

using namespace nft;

constexpr int k_max_depth = 16;  // nft's jump stack limit

// nft's ct state bit for a packet.
uint32_t ct_state_bit(const pkt_meta* m) {
  switch (m->ct_info) {
    case CTINFO_NEW: return CT_STATE_NEW;
    case CTINFO_ESTABLISHED: return CT_STATE_ESTABLISHED;
    case CTINFO_RELATED: return CT_STATE_RELATED;
    case CTINFO_UNTRACKED: return CT_STATE_UNTRACKED;
    default: return CT_STATE_INVALID;  // includes "not looked at": nft sees no ct
  }
}

// The TCP MSS option: its value, and where that is in the first segment. False when the
// packet has none (not TCP, or no MSS option among its options).
[[gnu::noinline]] bool mss_option(const rte_mbuf* mb, const pkt_meta* m, uint32_t* at,
                                  uint16_t* mss) {
  if (m->l4.proto != IPPROTO_TCP || m->l4_invalid != L4_OK) return false;
  const uint8_t* th = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l4_off);
  const uint32_t hlen = (th[12] >> 4) * 4u;
  if (hlen <= sizeof(rte_tcp_hdr) || m->l4_off + hlen > rte_pktmbuf_data_len(mb)) return false;
  synproxy::tcp_opts o;
  synproxy::parse_tcp_options(th + sizeof(rte_tcp_hdr), hlen - sizeof(rte_tcp_hdr), &o);
  if (o.mss_at == 0) return false;
  *at = m->l4_off + static_cast<uint32_t>(sizeof(rte_tcp_hdr)) + o.mss_at;
  *mss = o.mss;
  return true;
}

// A word of an IPv6 connection's address (`ct original|reply ip6 saddr|daddr`, lowered):
// nft_ct_get_eval's tuple of that direction, the reply one as NAT made it. False for an IPv4
// connection, so neither == nor != matches it (nft's implicit `meta nfproto ipv6`).
[[gnu::noinline, gnu::cold]] bool ct_addr6_word(const compiled_ruleset& rs, field f,
                                                const pkt_meta* m, uint64_t* out) {
  if (m->ct == nullptr || rs.ct_table == nullptr) return false;
  const ct::ct_addr6* a = ct::ct_addr6_of(*rs.ct_table, m->ct);
  if (a == nullptr) return false;
  // Four words of original saddr, original daddr, reply saddr, reply daddr, in that order.
  const auto idx =
      static_cast<unsigned>(f) - static_cast<unsigned>(field::ct_original_ip6_saddr_w0);
  const unsigned which = idx / 4;
  const ipv6_addr* addr;
  if (const ct::ct_addr6* r = ct::ct_reply_addr6(*rs.ct_table, m->ct); r != nullptr && which >= 2)
    addr = which == 2 ? &r->src : &r->dst;
  else  // untranslated: the reply's daddr is the original's saddr
    addr = which == 0 || which == 3 ? &a->src : &a->dst;
  uint32_t be;
  std::memcpy(&be, addr->b + 4 * (idx % 4), sizeof be);
  *out = rte_be_to_cpu_32(be);
  return true;
}

// The link-layer fields: a frame's Ethernet header, read from its start, and the bridge's view
// of a switched frame. False when the packet has no Ethernet header (one the gateway made) or
// the field is a bridge's and no bridge switched the frame. Inlined as load_field is: a bridge
// table's rules are mostly these.
[[gnu::always_inline]] inline bool link_field(field f, const rte_mbuf* mb, const pkt_meta* m,
                                              uint64_t* out) {
  const bool bridged = (m->l2_flags & L2F_BRIDGED) != 0;
  if (f == field::vlan_id) {
    *out = m->vlan;
    return (m->l2_flags & L2F_VLAN_ID) != 0;  // only on a bridged frame
  }
  if (f == field::meta_ibrname || f == field::meta_obrname) {
    // A bridge's members: the port the frame came in by, or the one it leaves by (a flood
    // has none, so no name matches it).
    *out = f == field::meta_ibrname ? m->in_port : m->out_port;
    return bridged && *out != k_out_port_flood;
  }
  if (m->l3_off < sizeof(rte_ether_hdr)) return false;
  const uint8_t* h = rte_pktmbuf_mtod(mb, const uint8_t*);
  if (f == field::ether_type) {
    // As on the wire: 0x8100 when tagged. A bridged frame's as it is at the hook (L2F_VLAN_ID),
    // else the type in front of its network header.
    if (bridged)
      *out = (m->l2_flags & L2F_VLAN_ID)
                 ? RTE_ETHER_TYPE_VLAN
                 : static_cast<uint64_t>(h[m->l3_off - 2]) << 8 | h[m->l3_off - 1];
    else
      *out = static_cast<uint64_t>(h[12]) << 8 | h[13];
    return true;
  }
  // Eight bytes from the address on (the header has 14), the first six the address.
  uint64_t be;
  std::memcpy(&be, h + (f == field::ether_saddr ? 6 : 0), sizeof be);
  *out = rte_be_to_cpu_64(be) >> 16;
  return true;
}

// Reads a field; false when the packet has no such field (e.g. tcp dport of
// a UDP packet), in which case nft's match fails.
// Inlined into the evaluator: a call per match cost more than the match.
[[gnu::always_inline]] inline bool load_field(const compiled_ruleset& rs, field f,
                                              const rte_mbuf* mb, const pkt_meta* m,
                                              uint64_t* out) {
  bool l4ok = m->l4_invalid == L4_OK;
  // An inet chain's IPv6 packet: no `ip` field matches it. Tested in the cases that need it,
  // so that the other fields cost nothing more.
  auto v6 = [m] { return (m->flags & PKT_F_IPV6) != 0; };
  // Nor a bridge's frame that is not IP (ARP, ...), which matches no IP or L4 field (nft's
  // implicit `ether type ip` in front of them); its PKT_F_IPV6 is clear, so the `ip6` fields
  // fail on it already, and its l4.proto is 0, so the TCP, UDP and ICMP ones.
  auto not_ip = [m] { return (m->l2_flags & L2F_NOT_IP) != 0; };
  auto not_ip4 = [&] { return v6() || not_ip(); };
  switch (f) {
    case field::ip_saddr: *out = rte_be_to_cpu_32(m->src); return !not_ip4();
    case field::ip_daddr: *out = rte_be_to_cpu_32(m->dst); return !not_ip4();
    case field::ip_protocol: *out = m->l4.proto; return !not_ip4();
    case field::meta_l4proto: *out = m->l4.proto; return !not_ip();
    case field::meta_iif:
    case field::meta_iifname: *out = m->in_port; return true;
    case field::meta_oif:
    case field::meta_oifname: *out = m->out_port; return m->out_port != k_out_port_flood;
    case field::meta_mark: *out = m->mark; return true;
    case field::ct_state: *out = ct_state_bit(m); return true;
    case field::ct_mark:
      if (m->ct == nullptr) return false;
      *out = m->ct->mark.load(std::memory_order_relaxed);
      return true;
    case field::ip_ttl:
    case field::ip_length:
    case field::ip_id:
    case field::ip_version:
    case field::ip_hdrlength: {
      if (not_ip4()) return false;
      // The IPv4 header is in the first segment (stage_parse checked it).
      const uint8_t* ip = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off);
      switch (f) {
        case field::ip_ttl: *out = ip[8]; break;
        case field::ip_length: *out = static_cast<uint64_t>(ip[2]) << 8 | ip[3]; break;
        case field::ip_id: *out = static_cast<uint64_t>(ip[4]) << 8 | ip[5]; break;
        case field::ip_version: *out = ip[0] >> 4; break;
        default: *out = ip[0] & 0xf; break;
      }
      return true;
    }
    case field::meta_length: *out = rte_pktmbuf_pkt_len(mb) - m->l3_off; return true;
    case field::meta_nfproto:
      // The family of the chain's hook, Linux's pkt->state->pf: NFPROTO_BRIDGE (7) for a
      // bridge's frames, NFPROTO_IPV6 or NFPROTO_IPV4 for routed packets.
      *out = (m->l2_flags & L2F_BRIDGED) ? 7 : v6() ? 10 : 2;
      return true;
    case field::meta_protocol:
      if (m->l2_flags & L2F_BRIDGED) {
        // skb->protocol: the EtherType in front of the network header (inside the tag).
        const uint8_t* type = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off - 2);
        *out = static_cast<uint64_t>(type[0]) << 8 | type[1];
        return true;
      }
      *out = v6() ? 0x86dd : 0x0800;  // ETH_P_IPV6, ETH_P_IP
      return true;
    case field::ip_dscp:
    case field::ip_ecn:
    case field::ip_frag_off: {
      if (not_ip4()) return false;
      const uint8_t* ip = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off);
      *out = f == field::ip_dscp  ? ip[1] >> 2
             : f == field::ip_ecn ? ip[1] & 3
                                  : static_cast<uint64_t>(ip[6]) << 8 | ip[7];
      return true;
    }
    case field::meta_pkttype:
      // stage_parse dropped frames for other hosts; what is left is ours, or a group
      // address (PKT_F_L2_MULTICAST) whose first byte says which. Packets the gateway makes
      // are the host's, as Linux's are. A bridge switches other hosts' unicast frames:
      // `other` (PACKET_OTHERHOST, as eth_type_trans marks them), but those to a bridge
      // interface (br_handle_frame makes them the host's) and those it sends.
      if (!(m->flags & PKT_F_L2_MULTICAST) || m->l3_off < sizeof(rte_ether_hdr)) {
        *out = (m->l2_flags & (L2F_BRIDGED | L2F_TO_HOST | L2F_SENT)) == L2F_BRIDGED ? 3 : 0;
      } else {
        const uint8_t* dst = rte_pktmbuf_mtod(mb, const uint8_t*);  // first, tagged or not
        static constexpr uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        *out = std::memcmp(dst, bcast, sizeof(bcast)) == 0 ? 1 : 2;
      }
      return true;
    case field::ct_direction:
      if (m->ct == nullptr) return false;
      *out = m->ct_dir;
      return true;
    case field::ct_status:
      // Linux's IPS_* bits 0..11; ctgate keeps its own above them.
      if (m->ct == nullptr) return false;
      *out = m->ct->status.load(std::memory_order_relaxed) & 0x0fffu;
      return true;
    case field::ct_zone:
      // The connection's zone; before conntrack has run, the one it will look the packet
      // up in (Linux: the template's).
      *out = m->ct != nullptr ? m->ct->orig.zone : m->zone;
      return true;
    case field::tcp_sport:
    case field::tcp_dport:
      if (m->l4.proto != IPPROTO_TCP || !l4ok) return false;
      *out = rte_be_to_cpu_16(f == field::tcp_sport ? m->sport : m->dport);
      return true;
    case field::udp_sport:
    case field::udp_dport:
      if (m->l4.proto != IPPROTO_UDP || !l4ok) return false;
      *out = rte_be_to_cpu_16(f == field::udp_sport ? m->sport : m->dport);
      return true;
    case field::th_sport:
    case field::th_dport:
      if ((m->l4.proto != IPPROTO_TCP && m->l4.proto != IPPROTO_UDP) || !l4ok) return false;
      *out = rte_be_to_cpu_16(f == field::th_sport ? m->sport : m->dport);
      return true;
    case field::tcp_flags:
      if (m->l4.proto != IPPROTO_TCP || !l4ok) return false;
      *out = m->l4.tcp_flags;
      return true;
    case field::numgen:
    case field::jhash: return false;          // made by its statement, not read (see numgen_state)
    case field::ct_expiration: return false;  // needs the clock: eval_match reads it
    case field::ct_bytes:
    case field::ct_packets:
    case field::ct_avgpkt:
    case field::ct_original_bytes:
    case field::ct_original_packets:
    case field::ct_original_avgpkt:
    case field::ct_reply_bytes:
    case field::ct_reply_packets:
    case field::ct_reply_avgpkt:
    case field::ct_original_saddr:
    case field::ct_original_daddr:
    case field::ct_reply_saddr:
    case field::ct_reply_daddr: return false;  // out of line: made_value reads them
    case field::tcp_option_maxseg: {
      uint32_t at;
      uint16_t mss;
      if (!mss_option(mb, m, &at, &mss)) return false;
      *out = mss;
      return true;
    }
    case field::icmp_type:
      if (m->l4.proto != IPPROTO_ICMP || !l4ok) return false;
      *out = m->l4.icmp_type;
      return true;
    case field::icmpv6_type:
      if (m->l4.proto != IPPROTO_ICMPV6 || !l4ok) return false;
      *out = m->l4.icmp_type;
      return true;
    case field::icmp_code:
      if (m->l4.proto != IPPROTO_ICMP || !l4ok) return false;
      *out = m->l4.icmp_code;
      return true;
    case field::icmpv6_code:
      if (m->l4.proto != IPPROTO_ICMPV6 || !l4ok) return false;
      *out = m->l4.icmp_code;
      return true;
    case field::ip6_nexthdr:
    case field::ip6_hoplimit:
    case field::ip6_length:
    case field::ip6_version:
    case field::ip6_flowlabel:
    case field::ip6_dscp:
    case field::ip6_ecn: {
      if (!v6()) return false;
      // The fixed header is in the first segment (stage_parse checked it).
      const uint8_t* ip = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off);
      const uint32_t traffic_class = (ip[0] & 0xfu) << 4 | ip[1] >> 4;
      switch (f) {
        case field::ip6_nexthdr: *out = ip[6]; break;
        case field::ip6_hoplimit: *out = ip[7]; break;
        case field::ip6_length: *out = static_cast<uint64_t>(ip[4]) << 8 | ip[5]; break;
        case field::ip6_version: *out = ip[0] >> 4; break;
        case field::ip6_flowlabel:
          *out =
              static_cast<uint64_t>(ip[1] & 0xf) << 16 | static_cast<uint64_t>(ip[2]) << 8 | ip[3];
          break;
        case field::ip6_dscp: *out = traffic_class >> 2; break;
        default: *out = traffic_class & 3; break;
      }
      return true;
    }
    case field::ip6_saddr:
    case field::ip6_daddr:
    case field::ct_original_ip6_saddr:
    case field::ct_original_ip6_daddr:
    case field::ct_reply_ip6_saddr:
    case field::ct_reply_ip6_daddr: return false;  // lowered into words by the compiler
    case field::ct_original_ip6_saddr_w0:
    case field::ct_original_ip6_saddr_w1:
    case field::ct_original_ip6_saddr_w2:
    case field::ct_original_ip6_saddr_w3:
    case field::ct_original_ip6_daddr_w0:
    case field::ct_original_ip6_daddr_w1:
    case field::ct_original_ip6_daddr_w2:
    case field::ct_original_ip6_daddr_w3:
    case field::ct_reply_ip6_saddr_w0:
    case field::ct_reply_ip6_saddr_w1:
    case field::ct_reply_ip6_saddr_w2:
    case field::ct_reply_ip6_saddr_w3:
    case field::ct_reply_ip6_daddr_w0:
    case field::ct_reply_ip6_daddr_w1:
    case field::ct_reply_ip6_daddr_w2:
    case field::ct_reply_ip6_daddr_w3: return ct_addr6_word(rs, f, m, out);
    case field::ip6_saddr_w0:
    case field::ip6_saddr_w1:
    case field::ip6_saddr_w2:
    case field::ip6_saddr_w3:
    case field::ip6_daddr_w0:
    case field::ip6_daddr_w1:
    case field::ip6_daddr_w2:
    case field::ip6_daddr_w3: {
      if (!v6()) return false;
      // Source then destination, four words each, from byte 8 of the fixed header (in the
      // first segment: stage_parse checked it), as the fields are ordered.
      const auto word = static_cast<uint32_t>(f) - static_cast<uint32_t>(field::ip6_saddr_w0);
      uint32_t be;
      std::memcpy(&be, rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off + 8 + 4 * word),
                  sizeof be);
      *out = rte_be_to_cpu_32(be);
      return true;
    }
    case field::ether_saddr:
    case field::ether_daddr:
    case field::ether_type:
    case field::vlan_id:
    case field::meta_ibrname:
    case field::meta_obrname: return link_field(f, mb, m, out);
  }
  (void)mb;
  return false;
}

// Reads the `width` fields of a key into `out`; false when the packet lacks one. One and two
// fields, the usual keys, are unrolled: the loop cost more than the loads.
[[gnu::always_inline]] inline bool load_fields(const compiled_ruleset& rs, const field* f,
                                               size_t width, const rte_mbuf* mb, const pkt_meta* m,
                                               uint64_t* out) {
  if (width == 1) return load_field(rs, f[0], mb, m, &out[0]);
  if (width == 2)
    return load_field(rs, f[0], mb, m, &out[0]) && load_field(rs, f[1], mb, m, &out[1]);
  for (size_t i = 0; i < width; ++i)
    if (!load_field(rs, f[i], mb, m, &out[i])) return false;
  return true;
}

// Out of line, the two lookups of concatenated keys: rarer than plain matches, which should
// not pay for their code.
// A match: 1 in the set, 0 not, -1 the packet lacks a field (matches neither == nor !=, as
// nft's NFT_BREAK).
[[gnu::noinline]] int concat_in(const compiled_ruleset& rs, uint32_t lookup, const rte_mbuf* mb,
                                const pkt_meta* m) {
  const concat_lookup& cl = rs.concat_lookups[lookup];
  uint64_t key[k_max_key_words];
  if (!load_fields(rs, cl.fields, cl.width, mb, m, key)) return -1;
  if (cl.width == 2 && cl.set != k_none)  // the usual `addr . port`, packed without a loop
    return rs.sets[cl.set]->contains(key[0] << cl.shift[0] | key[1] << cl.shift[1]) ? 1 : 0;
  return concat_contains(rs, cl, key);
}

// A map statement: the element's data, nullptr if the packet lacks a field or no element
// holds the key.
[[gnu::noinline]] const range_map::entry* concat_find(const compiled_ruleset& rs, uint32_t lookup,
                                                      const rte_mbuf* mb, const pkt_meta* m) {
  const concat_lookup& cl = rs.concat_lookups[lookup];
  uint64_t key[k_max_key_words];
  if (!load_fields(rs, cl.fields, cl.width, mb, m, key)) return nullptr;
  return concat_map_find(rs, cl, key);
}

// jhash KEY mod N ...: false if the packet lacks one of KEY's fields (nft: NFT_BREAK).
[[gnu::noinline]] bool hash_of(const compiled_ruleset& rs, const hash_state& h, const rte_mbuf* mb,
                               const pkt_meta* m, uint64_t* out) {
  if (h.symmetric) {
    // symhash: the ports of TCP and UDP (0 for other protocols), as the flow dissector.
    const bool ports =
        (m->l4.proto == IPPROTO_TCP || m->l4.proto == IPPROTO_UDP) && m->l4_invalid == L4_OK;
    uint32_t src = m->src, dst = m->dst;
    if (m->flags & PKT_F_IPV6) [[unlikely]] {
      // An IPv6 packet's addresses, each folded to 32 bits as the flow dissector's
      // ipv6_addr_hash does (the words xored): the hash stays symmetric.
      const auto* ip = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off);
      src = dst = 0;
      for (unsigned i = 0; i < 4; ++i) {
        uint32_t s, d;
        std::memcpy(&s, ip + 8 + 4 * i, 4);
        std::memcpy(&d, ip + 24 + 4 * i, 4);
        src ^= s;
        dst ^= d;
      }
    }
    *out = h.of_flow(src, dst, ports ? m->sport : 0, ports ? m->dport : 0, m->l4.proto);
    return true;
  }
  uint64_t values[k_max_key_words];
  for (size_t i = 0; i < h.width; ++i)
    if (!load_field(rs, h.fields[i], mb, m, &values[i])) return false;
  *out = h.of(values);
  return true;
}

// A live set's key for this packet; false if the packet lacks one of its fields.
bool live_key(const compiled_ruleset& rs, const live_lookup& ll, const rte_mbuf* mb,
              const pkt_meta* m, dyn_key* k) {
  uint64_t a, b;
  if (ll.width == 1) {  // the usual keys, without the parts array
    if (!load_field(rs, ll.fields[0], mb, m, &a)) return false;
    *k = {(a & ll.mask[0]) << 32, 0};
    return true;
  }
  if (ll.width == 2) {
    if (!load_field(rs, ll.fields[0], mb, m, &a) || !load_field(rs, ll.fields[1], mb, m, &b))
      return false;
    *k = {(a & ll.mask[0]) << 32 | (b & ll.mask[1]), 0};
    return true;
  }
  uint64_t parts[k_max_key_words] = {};
  if (!load_fields(rs, ll.fields, ll.width, mb, m, parts)) return false;
  for (size_t i = 0; i < 4; ++i) parts[i] &= ll.mask[i];
  *k = dyn_key::of(parts);
  return true;
}

// The keys of one packet's live-set lookups in its base chain (cchain::live_prefetch),
// computed when their slots were prefetched, so that the lookups do not compute them again.
struct live_keys {
  const cchain* chain = nullptr;
  dyn_key keys[k_max_prefetch];
  uint32_t homes[k_max_prefetch];  // the keys' dyn_table::home()
  uint8_t have = 0;   // bit j: keys[j] holds the packet's key for chain->live_prefetch[j]
  uint8_t lacks = 0;  // bit j: the packet lacks one of that lookup's fields
};

// The key of `lookup` for this packet and its home in `table`, from `lk` when it has them;
// false if the packet lacks a field.
bool key_for(const compiled_ruleset& rs, uint32_t lookup, const dyn_table& table,
             const rte_mbuf* mb, const pkt_meta* m, const live_keys* lk, dyn_key* k,
             uint32_t* home) {
  if (lk != nullptr) {
    for (size_t j = 0; j < lk->chain->live_prefetch.size(); ++j) {
      if (lk->chain->live_prefetch[j].lookup != lookup) continue;
      if (lk->lacks >> j & 1) return false;
      if (lk->have >> j & 1) {
        *k = lk->keys[j];
        *home = lk->homes[j];
        return true;
      }
    }
  }
  if (!live_key(rs, rs.live_lookups[lookup], mb, m, k)) return false;
  *home = table.home(*k);
  return true;
}

// `KEY @live_set`: 1 in the set, 0 not, -1 the packet lacks a field.
[[gnu::noinline]] int live_in(const compiled_ruleset& rs, uint32_t lookup, const rte_mbuf* mb,
                              const pkt_meta* m, uint32_t now_ms, const live_keys* lk) {
  const dyn_table& table = *rs.live_sets[rs.live_lookups[lookup].set].table;
  dyn_key k;
  uint32_t home;
  if (!key_for(rs, lookup, table, mb, m, lk, &k, &home)) return -1;
  return table.contains(k, home, now_ms) ? 1 : 0;
}

// Counted sets' elements go when their count is 0 (Linux: the set's gc asks nft_connlimit's
// gc): each worker's statement walks this many of its lists per millisecond, from a cursor,
// and frees an element that no worker's list counts and none has added to for k_idle_ms.
constexpr uint32_t k_count_gc_slots = 64;
constexpr uint32_t k_count_gc_walks = 8;
constexpr uint32_t k_count_idle_ms = 1000;

void collect_counted_set(worker_ctx& w, const live_set& ls) {
  ct::ct_count_lists& lists = *ls.counts;
  ct::ct_count_worker& cw = lists.of(w.ct.id);
  if (cw.gc_ms == w.now_ms) return;
  cw.gc_ms = w.now_ms;
  dyn_table& table = *ls.table;
  const uint32_t mask = table.n_slots() - 1;
  uint32_t walks = 0;
  for (uint32_t k = 0; k < k_count_gc_slots && walks < k_count_gc_walks; ++k) {
    const uint32_t i = cw.gc_cursor;
    cw.gc_cursor = (i + 1) & mask;
    const uint32_t state = table.live_state(i);
    const ct::ct_count_list& l = cw.lists[i];
    if (state == 0 && l.head == ct::k_ct_count_nil) continue;
    walks++;
    if (ct::ct_count_collect(w.ct, lists, i, state, w.now_ms) != 0 || state == 0) continue;
    if (lists.total(i) == 0 && static_cast<int32_t>(w.now_ms - lists.touched_ms(i)) >=
                                   static_cast<int32_t>(k_count_idle_ms))
      table.remove_at(i, state);
  }
}

// `add @s { KEY ct count [over] N }`: the element's count (nft_connlimit on the element), in
// the set's lists for the element's slot. False ends the rule.
[[gnu::noinline]] bool count_element(worker_ctx& w, const compiled_ruleset& rs, const cstmt& s,
                                     const live_set& ls, const dyn_slot* slot, const pkt_meta* m) {
  const uint32_t i = ls.table->index_of(slot);
  const uint32_t owner = ls.table->live_state(i);
  if (owner == 0) return false;  // freed since the add: as if the set were full
  ct::ct_count_lists& lists = *ls.counts;
  ct::ct_count_own(w.ct, lists, i, owner);
  const uint32_t n = ct::ct_count_eval(w.ct, lists, m->ct, w.now_ms, i);
  collect_counted_set(w, ls);
  const auto& cc = rs.ct_counts[s.ct_count];
  return (n > cc.limit) == cc.over;  // nft_connlimit: no match when (count > limit) ^ over
}

// add|update|delete @set { KEY ... } and meter (nft_dynset_eval): false ends the rule (the
// packet lacks a field, the set is full, or the element's limit or count does not match).
[[gnu::noinline]] bool update_live_set(worker_ctx& w, compiled_ruleset& rs, const cstmt& s,
                                       const rte_mbuf* mb, const pkt_meta* m, const live_keys* lk) {
  const live_set& ls = rs.live_sets[rs.live_lookups[s.live].set];
  dyn_key k;
  uint32_t home;
  if (!key_for(rs, s.live, *ls.table, mb, m, lk, &k, &home)) return false;
  const auto op = static_cast<set_op>(s.value);
  if (s.kind == stmt_kind::dynset && op == set_op::delete_) {
    ls.table->remove(k, w.now_ms);
    return true;
  }
  const uint32_t timeout = s.elem_timeout_ms != 0 ? s.elem_timeout_ms : ls.timeout_ms;
  dyn_slot* slot = nullptr;
  if (ls.table->add(k, home, timeout, op == set_op::update, w.now_ms, &slot) ==
      dyn_table::outcome::full) {
    w.counters.add(dp_counter::set_full);
    return false;
  }
  if (s.ct_count != k_none) return count_element(w, rs, s, ls, slot, m);
  if (s.meter == k_none) return true;
  const elem_limit& l = rs.elem_limits[s.meter];
  const bool ok = gcra_conforming(slot->aux, w.now_ns, l.interval_ns, l.tolerance_ns);
  compiled_ruleset::limit_counter& c = rs.lcounter(w.id, rs.n_limiters + s.meter);
  (ok ? c.within : c.over).add(1);
  return l.over ? !ok : ok;
}

// What each accounting field reads: which directions, and which count.
enum class acct_count : uint8_t { bytes, packets, avgpkt };
struct acct_read {
  bool original, reply;
  acct_count count;
};
acct_read acct_read_of(field f) {
  switch (f) {
    case field::ct_bytes: return {true, true, acct_count::bytes};
    case field::ct_packets: return {true, true, acct_count::packets};
    case field::ct_avgpkt: return {true, true, acct_count::avgpkt};
    case field::ct_original_bytes: return {true, false, acct_count::bytes};
    case field::ct_original_packets: return {true, false, acct_count::packets};
    case field::ct_original_avgpkt: return {true, false, acct_count::avgpkt};
    case field::ct_reply_bytes: return {false, true, acct_count::bytes};
    case field::ct_reply_packets: return {false, true, acct_count::packets};
    default:
      return {false, true, acct_count::avgpkt};  // ct_reply_avgpkt (callers check is_ct_acct_field)
  }
}

// ct [original|reply] bytes|packets|avgpkt (nft_ct_get_eval): one direction's count or both
// summed; avgpkt is bytes / packets, 0 without packets. A flow without accounting reads 0, a
// packet without a connection matches nothing.
bool acct_value(const compiled_ruleset& rs, field f, const pkt_meta* m, uint64_t* v) {
  if (m->ct == nullptr) return false;
  const ct::ct_acct* a = rs.ct_table != nullptr ? ct::ct_acct_of(*rs.ct_table, m->ct) : nullptr;
  const acct_read r = acct_read_of(f);
  uint64_t packets = 0, bytes = 0;
  for (unsigned d = 0; a != nullptr && d < 2; d++) {
    if (!(d == 0 ? r.original : r.reply)) continue;
    packets += a->packets[d].load(std::memory_order_relaxed);
    bytes += a->bytes[d].load(std::memory_order_relaxed);
  }
  switch (r.count) {
    case acct_count::bytes: *v = bytes; break;
    case acct_count::packets: *v = packets; break;
    case acct_count::avgpkt: *v = packets != 0 ? bytes / packets : 0; break;
  }
  return true;
}

// The values load_field does not read from the packet or its entry, made per evaluation, out
// of the fast path (false: the packet has none):
// - numgen: the next number (a match advances the counter, as a statement does);
// - jhash: the hash of the key's fields;
// - ct expiration: the time the entry has left by the worker's clock (Linux's nf_ct_expires,
//   in ms); an unconfirmed entry's is 0, as Linux's, its timeout still being relative;
// - ct bytes, packets and avgpkt: the entry's accounting (acct_value).
[[gnu::noinline, gnu::cold]] bool made_value(const compiled_ruleset& rs, const cmatch& cm,
                                             const rte_mbuf* mb, const pkt_meta* m, uint32_t now_ms,
                                             uint64_t* v) {
  switch (cm.f) {
    case field::numgen: *v = rs.numgens[cm.gen]->next(); return true;
    case field::jhash: return hash_of(rs, rs.hashes[cm.gen], mb, m, v);
    case field::ct_expiration: {
      if (m->ct == nullptr) return false;
      const int32_t left =
          static_cast<int32_t>(m->ct->expires_ms.load(std::memory_order_relaxed) - now_ms);
      *v = m->ct->pos == ct::k_no_pos || left < 0 ? 0 : static_cast<uint64_t>(left);
      return true;
    }
    case field::ct_original_saddr:
    case field::ct_original_daddr:
    case field::ct_reply_saddr:
    case field::ct_reply_daddr: {
      // nft_ct_get_eval: the tuple of that direction, the reply one as NAT made it. An IPv6
      // flow's are 16-byte addresses, never an IPv4 one (nft's typed comparison fails).
      if (m->ct == nullptr || m->ct->orig.family != ct::k_family_ipv4) return false;
      const bool reply = cm.f == field::ct_reply_saddr || cm.f == field::ct_reply_daddr;
      const ct::ct_tuple t = !reply                   ? m->ct->orig
                             : rs.ct_table != nullptr ? ct::ct_reply_tuple(*rs.ct_table, m->ct)
                                                      : ct::invert(m->ct->orig);
      const bool src = cm.f == field::ct_original_saddr || cm.f == field::ct_reply_saddr;
      *v = rte_be_to_cpu_32(src ? t.src : t.dst);
      return true;
    }
    default:
      if (is_ct_acct_field(cm.f)) return acct_value(rs, cm.f, m, v);
      return false;
  }
}

[[gnu::always_inline]] inline bool eval_match(const compiled_ruleset& rs, const cmatch& cm,
                                              const rte_mbuf* mb, const pkt_meta* m,
                                              uint32_t now_ms, const live_keys* lk) {
  if (cm.live) [[unlikely]] {
    const int in = live_in(rs, cm.set, mb, m, now_ms, lk);
    return in >= 0 && (cm.op == cmp_op::ne ? in == 0 : in == 1);
  }
  if (cm.concat) [[unlikely]] {
    const int in = concat_in(rs, cm.set, mb, m);
    return in >= 0 && (cm.op == cmp_op::ne ? in == 0 : in == 1);
  }
  uint64_t v;
  if (!load_field(rs, cm.f, mb, m, &v) && !made_value(rs, cm, mb, m, now_ms, &v)) return false;
  auto in = [&]() __attribute__((always_inline)) {
    return cm.set != k_none ? rs.sets[cm.set]->contains(v) : (v >= cm.lo && v <= cm.hi);
  };
  switch (cm.op) {
    case cmp_op::eq: return in();
    case cmp_op::ne: return !in();
    case cmp_op::lt: return v < cm.lo;
    case cmp_op::gt: return v > cm.lo;
    case cmp_op::le: return v <= cm.lo;
    case cmp_op::ge: return v >= cm.lo;
    case cmp_op::bits_any: return (v & cm.mask) != 0;
    case cmp_op::bits_none: return (v & cm.mask) == 0;
    case cmp_op::masked_eq: return (v & cm.mask) == cm.value;
    case cmp_op::masked_ne: return (v & cm.mask) != cm.value;
  }
  return false;
}

// `rt mtu` for TCP (Linux's get_tcpmss in nft_rt.c): the smaller of the output port's MTU
// and that of the route back to the source, less the IPv4 and TCP headers.
uint16_t rt_mss(const worker_ctx& w, const rte_mbuf* mb, const pkt_meta* m) {
  const std::vector<port_info>& ports = w.gw->ports;
  uint32_t mtu = m->out_port < ports.size() ? ports[m->out_port].mtu : 0xffff;
  const bool v6 = m->flags & PKT_F_IPV6;
  const route_nh back =
      v6 ? w.gw->routes6->lookup(ip6_src(mb, m)) : w.gw->routes->lookup(rte_be_to_cpu_32(m->src));
  if (back.kind == route_kind::forward && back.port < ports.size())
    mtu = std::min<uint32_t>(mtu, ports[back.port].mtu);
  const uint32_t headers = (v6 ? 40 : sizeof(rte_ipv4_hdr)) + sizeof(rte_tcp_hdr);
  return mtu <= headers || mtu > 0xffff ? 536 : static_cast<uint16_t>(mtu - headers);
}

// tcp option maxseg size set: lowers the MSS option to `to` (k_mss_rt_mtu: the route's), as
// Linux's nft_exthdr does: never raises it (a larger MSS can stall the connection), and does
// nothing to a packet without the option. The TCP checksum is updated for the two bytes.
[[gnu::noinline]] void clamp_mss(worker_ctx& w, rte_mbuf* mb, const pkt_meta* m, uint64_t to) {
  uint32_t at;
  uint16_t old;
  if (!mss_option(mb, m, &at, &old)) return;
  const uint16_t want = to == k_mss_rt_mtu ? rt_mss(w, mb, m) : static_cast<uint16_t>(to);
  if (old <= want) return;
  uint8_t* p = rte_pktmbuf_mtod_offset(mb, uint8_t*, at);
  p[0] = static_cast<uint8_t>(want >> 8);
  p[1] = static_cast<uint8_t>(want);
  // RFC 1624: HC' = ~(~HC + ~m + m'), in one's complement.
  auto* th = rte_pktmbuf_mtod_offset(mb, rte_tcp_hdr*, m->l4_off);
  uint32_t sum = static_cast<uint16_t>(~rte_be_to_cpu_16(th->cksum));
  sum += static_cast<uint16_t>(~old);
  sum += want;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  th->cksum = rte_cpu_to_be_16(static_cast<uint16_t>(~sum));
  w.counters.add(dp_counter::mss_clamped);
}

// The quoted packet (`len` bytes: its IPv4 header and what follows) put back as its sender
// sent it (`sent`), with its checksums updated: what the NAT hooks do to an ICMP error's quote
// (nf_nat_icmp_reply_translation).
void restore_quote(uint8_t* quote, uint16_t len, const ct::ct_tuple& sent) {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(quote);
  const uint32_t ihl = (quote[0] & 0xf) * 4u;
  if (len < ihl) return;
  const bool icmp = sent.proto == IPPROTO_ICMP;  // the echo id at both ends
  ipv4_manip(ip, quote + ihl, len - ihl, manip_kind::src, sent.src, sent.sport);
  ipv4_manip(ip, quote + ihl, len - ihl, manip_kind::dst, sent.dst, icmp ? sent.sport : sent.dport);
}

// The RST or RST/ACK that answers a TCP segment (nf_reject_ip_tcphdr_put and its IPv6 twin):
// an ACK's acknowledgment is the RST's sequence; otherwise the RST acknowledges the segment.
struct reset_numbers {
  uint32_t seq = 0, ack = 0;
  uint8_t flags = TCPF_RST;
};
reset_numbers reset_for(const rte_mbuf* orig, const pkt_meta* m) {
  const auto* th = rte_pktmbuf_mtod_offset(orig, const rte_tcp_hdr*, m->l4_off);
  reset_numbers r;
  if (m->l4.tcp_flags & TCPF_ACK) {
    r.seq = rte_be_to_cpu_32(th->recv_ack);
    return r;
  }
  const uint32_t seg = m->l4.payload_len + ((m->l4.tcp_flags & TCPF_SYN) ? 1 : 0) +
                       ((m->l4.tcp_flags & TCPF_FIN) ? 1 : 0);
  r.ack = rte_be_to_cpu_32(th->sent_seq) + seg;
  r.flags = TCPF_RST | TCPF_ACK;
  return r;
}

// A frame the gateway built into `r` (`len` bytes, 0: it did not fit): its length set and its
// metadata cleared but for the network header's place after Ethernet. nullptr, with `r` freed,
// when nothing was built.
pkt_meta* built_frame(rte_mbuf* r, size_t len) {
  if (len == 0) {
    rte_pktmbuf_free(r);
    return nullptr;
  }
  r->data_len = r->pkt_len = static_cast<uint32_t>(len);
  pkt_meta* rm = meta_of(r);
  *rm = pkt_meta{};
  rm->l3_off = sizeof(rte_ether_hdr);
  return rm;
}

// nf_send_reset6: a RST from the segment's destination to its source, through LOCAL_OUT and
// POST_ROUTING. Never about a RST, a segment that failed its checks, or to or from a multicast
// address.
void send_reset6(worker_ctx& w, const rte_mbuf* orig, const pkt_meta* m) {
  if (m->l4_invalid != L4_OK || (m->l4.tcp_flags & TCPF_RST)) return;
  ipv6_addr from = ip6_dst(orig, m), to = ip6_src(orig, m);
  uint16_t sport = m->dport, dport = m->sport;  // network order
  // A new translated connection's packet is answered as its sender sent it (Linux attaches the
  // connection to the answer, whose NAT hooks translate it). An established one's needs nothing
  // here: its answer is found as the connection's reply at LOCAL_OUT and translated at
  // POST_ROUTING; this one's connection is not confirmed, so nothing would find it.
  ct::ct_tuple sent;
  ct::ct_addr6 sent6;
  if (m->ct != nullptr && m->ct->pos == ct::k_no_pos &&
      ct::nat_sent_tuple6(w.ct, m->ct, m->ct_dir, &sent, &sent6)) {
    from = sent6.dst;
    to = sent6.src;
    sport = sent.dport;
    dport = sent.sport;
  }
  if (from.b[0] == 0xff || to.b[0] == 0xff) return;
  if (!hooked_out6_has_room(w)) return;
  rte_mbuf* r = rte_pktmbuf_alloc(w.gw->mbuf_pool);
  if (r == nullptr) {
    w.counters.add(dp_counter::drop_no_mbuf);
    return;
  }
  const reset_numbers n = reset_for(orig, m);
  pkt_spec6 s;
  std::memcpy(s.src, from.b, 16);
  std::memcpy(s.dst, to.b, 16);
  s.proto = IPPROTO_TCP;
  s.sport = rte_be_to_cpu_16(sport);
  s.dport = rte_be_to_cpu_16(dport);
  s.seq = n.seq;
  s.ack = n.ack;
  s.tcp_flags = n.flags;
  s.window = 0;
  pkt_meta* rm =
      built_frame(r, build_frame6(s, rte_pktmbuf_mtod(r, uint8_t*), rte_pktmbuf_tailroom(r)));
  if (rm == nullptr) return;
  rm->l4_off = static_cast<uint16_t>(sizeof(rte_ether_hdr) + 40);
  rm->l4_len = sizeof(rte_tcp_hdr);
  rm->l4.proto = IPPROTO_TCP;
  rm->l4.tcp_flags = n.flags;
  rm->sport = rte_cpu_to_be_16(s.sport);
  rm->dport = rte_cpu_to_be_16(s.dport);
  rm->flags = PKT_F_LOCAL_OUT | PKT_F_IPV6;
  rm->in_port = m->in_port;
  queue_hooked_out6(w, r);
  w.counters.add(dp_counter::reject_sent);
}

// Builds a TCP RST or ICMP unreachable answering `orig` and queues it for
// output (route, neighbor, TX) at the end of the burst.
void send_reject(worker_ctx& w, const rte_mbuf* orig, const pkt_meta* m, reject_kind kind) {
  if (kind == reject_kind::tcp_reset && m->l4.proto != IPPROTO_TCP)
    kind = reject_kind::icmp_port_unreachable;
  if (m->flags & PKT_F_IPV6) {
    if (kind == reject_kind::tcp_reset) return send_reset6(w, orig, m);
    // nf_send_unreach6: ICMPv6, through icmpv6_send's rules.
    static constexpr uint8_t code[] = {icmp6::port_unreach, icmp6::addr_unreach, icmp6::no_route,
                                       icmp6::adm_prohibited};
    // A new translated connection's packet is answered as its sender sent it (send_reset6).
    ct::ct_tuple sent;
    ct::ct_addr6 sent6;
    icmp6_as_sent as;
    const bool nat = m->ct != nullptr && m->ct->pos == ct::k_no_pos &&
                     ct::nat_sent_tuple6(w.ct, m->ct, m->ct_dir, &sent, &sent6);
    if (nat) {
      as.src = sent6.src;
      as.dst = sent6.dst;
      as.sport = sent.sport;
      as.dport = ct::is_icmp_like(sent.proto) ? sent.sport : sent.dport;
      // From the address the sender addressed when NAT would translate the answer's source
      // (a reply of a destination-translated connection), else as icmp6_send picks it.
      const uint8_t answer_dir = m->ct_dir == static_cast<uint8_t>(ct::ct_dir::original)
                                     ? static_cast<uint8_t>(ct::ct_dir::reply)
                                     : static_cast<uint8_t>(ct::ct_dir::original);
      as.answer_src = ct::nat_rewrites(m->ct->status.load(std::memory_order_relaxed),
                                       ct::nat_manip::src, answer_dir)
                          ? sent6.dst
                          : error_source(*w.gw, m->in_port, ip6_dst(orig, m), sent6.src);
    }
    if (send_icmp6_error(w, orig, icmp6::dest_unreach, code[static_cast<int>(kind)], 0,
                         nat ? &as : nullptr))
      w.counters.add(dp_counter::reject_sent);
    return;
  }
  if (kind == reject_kind::tcp_reset && (m->l4.tcp_flags & TCPF_RST)) return;  // never answer a RST
  if (m->l4.proto == IPPROTO_ICMP && m->l4.icmp_type != icmp::echo &&
      m->l4.icmp_type != icmp::timestamp)
    return;  // no ICMP about ICMP errors
  if (!local_out_has_room(w)) return;
  rte_mbuf* r = rte_pktmbuf_alloc(w.gw->mbuf_pool);
  if (r == nullptr) {
    w.counters.add(dp_counter::drop_no_mbuf);
    return;
  }
  const auto* oip = rte_pktmbuf_mtod_offset(orig, const rte_ipv4_hdr*, m->l3_off);
  // A packet of a translated connection is answered as its sender sent it: Linux attaches the
  // connection to the answer (nf_ct_attach), and the NAT hooks it then passes translate it
  // back as RELATED, so a client rejected past a dnat hears from the public address.
  ct::ct_tuple sent;
  const bool nat = m->ct != nullptr && ct::nat_sent_tuple(w.ct, m->ct, m->ct_dir, &sent);
  pkt_spec s;
  s.src = rte_be_to_cpu_32(m->dst);
  s.dst = rte_be_to_cpu_32(m->src);
  if (nat) {
    const uint8_t answer_dir = m->ct_dir == static_cast<uint8_t>(ct::ct_dir::original)
                                   ? static_cast<uint8_t>(ct::ct_dir::reply)
                                   : static_cast<uint8_t>(ct::ct_dir::original);
    // The answer's source is translated at postrouting when its direction's source is.
    if (kind == reject_kind::tcp_reset ||
        ct::nat_rewrites(m->ct->status.load(std::memory_order_relaxed), ct::nat_manip::src,
                         answer_dir))
      s.src = rte_be_to_cpu_32(sent.dst);
    s.dst = rte_be_to_cpu_32(sent.src);
  }
  size_t len;
  uint8_t* buf = rte_pktmbuf_mtod(r, uint8_t*);
  if (kind == reject_kind::tcp_reset) {
    const reset_numbers n = reset_for(orig, m);
    s.proto = IPPROTO_TCP;
    s.sport = rte_be_to_cpu_16(nat ? sent.dport : m->dport);
    s.dport = rte_be_to_cpu_16(nat ? sent.sport : m->sport);
    s.window = 0;
    s.seq = n.seq;
    s.ack = n.ack;
    s.tcp_flags = n.flags;
    len = build_frame(s, buf, rte_pktmbuf_tailroom(r));
  } else {
    // By reject_kind: port, host, net, admin, (tcp-reset: unused).
    static constexpr uint8_t codes[] = {icmp::port_unreach, icmp::host_unreach, icmp::net_unreach,
                                        icmp::pkt_filtered, icmp::port_unreach};
    // ICMP error: destination unreachable, the original IP header plus 8 bytes as payload.
    uint16_t quote = static_cast<uint16_t>(
        std::min<uint32_t>(m->l4_off - m->l3_off + 8, rte_be_to_cpu_16(oip->total_length)));
    s.proto = IPPROTO_ICMP;
    s.icmp_type = icmp::dest_unreach;
    s.icmp_code = codes[static_cast<int>(kind)];
    s.payload_len = quote;
    len = build_frame(s, buf, rte_pktmbuf_tailroom(r));
    if (len != 0) {
      uint8_t* icmp = buf + sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr);
      std::memcpy(icmp + 8, oip, quote);
      if (nat) restore_quote(icmp + 8, quote, sent);
      icmp[2] = icmp[3] = 0;
      uint16_t ck = static_cast<uint16_t>(~rte_raw_cksum(icmp, 8u + quote));
      std::memcpy(icmp + 2, &ck, 2);
    }
  }
  pkt_meta* rm = built_frame(r, len);
  if (rm == nullptr) return;
  rm->src = rte_cpu_to_be_32(s.src);
  rm->dst = rte_cpu_to_be_32(s.dst);
  if (!queue_local_out(w, r)) {
    rte_pktmbuf_free(r);
    return;
  }
  w.counters.add(dp_counter::reject_sent);
}

// The packet of a `log` statement in a chain of base hook `hp`, copied for the control
// thread: the bytes its line is made of, no parsing here.
void log_packet(worker_ctx& w, const compiled_ruleset& rs, uint32_t log, hook hp,
                const rte_mbuf* mb, const pkt_meta* m) {
  const compiled_ruleset::log_spec& spec = rs.logs[log];
  nft_log_record rec;
  std::strncpy(rec.prefix, spec.prefix.c_str(), sizeof(rec.prefix) - 1);
  rec.level = spec.level;
  rec.flags = spec.flags;
  rec.hook = static_cast<uint8_t>(hp);
  rec.v6 = m->flags & PKT_F_IPV6;
  rec.local = m->flags & PKT_F_LOCAL_OUT;
  rec.in_port = m->in_port;
  rec.out_port = m->out_port;
  rec.mark = m->mark;
  rec.not_ip = m->l2_flags & L2F_NOT_IP;
  rec.has_vid = m->l2_flags & L2F_VLAN_ID;
  rec.vid = m->vlan;
  // A frame that is not IP has no L4 offsets: all of it past the link header.
  rec.l3_len = rec.not_ip ? static_cast<uint16_t>(rte_pktmbuf_pkt_len(mb) - m->l3_off)
                          : static_cast<uint16_t>(m->l4_off - m->l3_off + m->l4_len);
  // From the first segment, where stage_parse found the headers.
  const uint8_t* frame = rte_pktmbuf_mtod(mb, const uint8_t*);
  const uint32_t in_segment = rte_pktmbuf_data_len(mb) - m->l3_off;
  rec.copied = static_cast<uint16_t>(std::min<uint32_t>({k_log_copy, in_segment, rec.l3_len}));
  std::memcpy(rec.net, frame + m->l3_off, rec.copied);
  if (m->l3_off >= sizeof(rec.mac)) {
    // The addresses from the frame's start, and the EtherType in front of the network header
    // (a tagged bridged frame's inner one, as Linux's header is once the tag is stripped).
    std::memcpy(rec.mac, frame, 12);
    std::memcpy(rec.mac + 12, frame + m->l3_off - 2, 2);
  }
  if (!w.logs->push(rec)) w.counters.add(dp_counter::log_suppressed);
}

// The verdict a rule ends with, for trace lines (accept when it has none:
// the rule lets the packet continue).
verdict rule_verdict(const compiled_ruleset& rs, const crule& r) {
  for (uint32_t k = 0; k < r.n_stmts; k++) {
    stmt_kind kind = rs.stmts[r.first_stmt + k].kind;
    if (kind == stmt_kind::drop || kind == stmt_kind::reject) return verdict::drop;
  }
  return verdict::accept;
}

// Trace records (slow path: only packets marked PKT_F_TRACE).
void trace_start(worker_ctx& w, rte_mbuf* mb, pkt_meta* m) {
  if (m->flags & PKT_F_TRACE) return;
  m->flags |= PKT_F_TRACE;
  m->trace_id = (static_cast<uint32_t>(w.id) << 24) | (++w.trace_seq & 0xffffff);
  trace_record r;
  r.kind = trace_kind::packet;
  r.in_port = m->in_port;
  r.src = m->src;
  r.dst = m->dst;
  if (m->flags & PKT_F_IPV6) {
    // Source then destination, from byte 8 of the fixed header.
    r.v6 = true;
    const auto* ip = rte_pktmbuf_mtod_offset(mb, const uint8_t*, m->l3_off);
    std::memcpy(r.src6, ip + 8, 16);
    std::memcpy(r.dst6, ip + 24, 16);
  }
  r.sport = m->sport;
  r.dport = m->dport;
  r.proto = m->l4.proto;
  r.tcp_flags = m->l4.tcp_flags;
  r.ct_info = m->ct_info;
  trace_event(w, mb, r);
}

void trace_rule(worker_ctx& w, rte_mbuf* mb, const compiled_ruleset& rs, trace_kind kind,
                uint32_t chain, uint32_t rule, verdict v) {
  trace_record r;
  r.kind = kind;
  r.group = rs.group;
  r.chain = chain;
  r.rule = rule;
  r.verdict = static_cast<uint8_t>(v);
  trace_event(w, mb, r);
}

// The verdict of `chain` for one packet.
verdict eval_packet(worker_ctx& w, compiled_ruleset& rs, uint32_t base, rte_mbuf* mb,
                    const live_keys* lk) {
  pkt_meta* m = meta_of(mb);
  struct frame {
    uint32_t chain, rule;
  } stack[k_max_depth];
  int sp = 0;
  uint32_t chain = base, ri = 0;
  for (;;) {
    const cchain& c = rs.chains[chain];
    for (; ri < c.n_rules; ri++) {
      const crule& r = rs.rules[c.first_rule + ri];
      if (r.run != k_none) {
        // Indexed run: go straight to the next rule that lists this packet's
        // value (a packet without the field can match none of them).
        const rule_run& run = rs.runs[r.run];
        uint64_t v;
        uint32_t next =
            load_field(rs, run.f, mb, m, &v) ? run.next_candidate(v, c.first_rule + ri) : run.end;
        if (next != c.first_rule + ri) {
          ri = next - c.first_rule - 1;  // the loop's ri++ lands on `next`
          continue;
        }
      }
      bool hit = true;
      for (uint32_t k = 0; k < r.n_matches && hit; k++)
        hit = eval_match(rs, rs.matches[r.first_match + k], mb, m, w.now_ms, lk);
      if (!hit) continue;
      if (m->flags & PKT_F_TRACE) [[unlikely]]
        trace_rule(w, mb, rs, trace_kind::rule, chain, c.first_rule + ri, rule_verdict(rs, r));
      for (uint32_t k = 0; k < r.n_stmts; k++) {
        const cstmt& s = rs.stmts[r.first_stmt + k];
        stmt_kind kind = s.kind;
        uint32_t target = s.target;
        uint64_t value = s.value;
        if (s.has_from) [[unlikely]] {
          // vmap, or a mark set from a field (or numgen) or a map: the key, looked up. A
          // packet without the field, or a key the map lacks, ends the rule (NFT_BREAK).
          uint64_t key;
          if (s.concat != k_none) {
            const range_map::entry* e = concat_find(rs, s.concat, mb, m);
            if (e == nullptr) goto next_rule;
            value = e->value;
            if (kind == stmt_kind::vmap) {
              kind = e->verdict;
              target = e->target;
            }
          } else {
            if (s.numgen != k_none) {
              key = rs.numgens[s.numgen]->next();
            } else if (s.hash != k_none) {
              if (!hash_of(rs, rs.hashes[s.hash], mb, m, &key)) goto next_rule;
            } else if (!load_field(rs, s.from, mb, m, &key)) {
              goto next_rule;
            }
            value = key;
            if (s.map != k_none) {
              const range_map::entry* e = rs.maps[s.map]->find(key);
              if (e == nullptr) goto next_rule;
              value = e->value;
              if (kind == stmt_kind::vmap) {
                kind = e->verdict;
                target = e->target;
              }
            }
          }
        }
        switch (kind) {
          case stmt_kind::counter: {
            // An object map's value is the counter's index.
            rule_counter& ctr =
                rs.counter(w.id, s.has_from ? static_cast<uint32_t>(value) : s.counter);
            ctr.packets.add(1);
            ctr.bytes.add(rte_pktmbuf_pkt_len(mb) - m->l3_off);
            break;
          }
          case stmt_kind::limit: {
            limiter& l = rs.limiters[s.limit];
            bool ok = l.conforming(w.now_ns);
            (ok ? rs.lcounter(w.id, s.limit).within : rs.lcounter(w.id, s.limit).over).add(1);
            if (l.over ? ok : !ok) goto next_rule;  // a limit that does not match ends the rule
            break;
          }
          case stmt_kind::meter:
          case stmt_kind::dynset:
            if (!update_live_set(w, rs, s, mb, m, lk)) goto next_rule;
            break;
          case stmt_kind::tcp_mss_set: clamp_mss(w, mb, m, value); break;
          case stmt_kind::quota: {
            // nft_quota: every packet reaching it consumes; `until` matches while the total
            // stays below the quota, `over` once it has reached it.
            quota_state& q = rs.quotas[s.has_from ? value : s.quota];
            const uint64_t len = rte_pktmbuf_pkt_len(mb) - m->l3_off;
            const bool used_up =
                q.consumed.fetch_add(len, std::memory_order_relaxed) + len >= q.bytes;
            if (used_up != q.over) goto next_rule;
            break;
          }
          case stmt_kind::synproxy: {
            synproxy_options o;
            o.mss = static_cast<uint16_t>(s.value);
            o.wscale = static_cast<uint8_t>(s.value >> 16);
            o.timestamp = (s.value >> 24) & 1;
            o.sack_perm = (s.value >> 25) & 1;
            switch (synproxy_stmt(w, mb, m, o)) {
              case synproxy_action::none: break;
              case synproxy_action::stolen: return verdict::stolen;
              case synproxy_action::drop: return verdict::drop;
              case synproxy_action::accept: return verdict::accept;
            }
            break;
          }
          case stmt_kind::log: log_packet(w, rs, s.log, rs.chains[base].hook_point, mb, m); break;
          case stmt_kind::notrack: m->flags |= PKT_F_NOTRACK; break;
          case stmt_kind::meta_mark_set: m->mark = static_cast<uint32_t>(value); break;
          case stmt_kind::ct_mark_set:
            if (m->ct != nullptr)
              m->ct->mark.store(static_cast<uint32_t>(value), std::memory_order_relaxed);
            break;
          case stmt_kind::ct_zone_set:
            // Only a packet conntrack has not seen yet: a tracked one keeps its
            // connection's zone (nft_ct_set_zone_eval).
            if (m->ct == nullptr) m->zone = static_cast<uint16_t>(value);
            break;
          case stmt_kind::meta_nftrace_set:
            if (s.value != 0) trace_start(w, mb, m);
            break;
          case stmt_kind::ct_timeout_set:
            ct::ct_set_timeout_policy(w.ct, m->ct, rs.ct_timeouts[s.value].l4proto,
                                      rs.ct_timeout_refs[s.value], w.now_ms);
            break;
          case stmt_kind::ct_count: {
            // nft_connlimit: no match when (count > limit) ^ over.
            const auto& cc = rs.ct_counts[s.ct_count];
            const uint32_t n = ct::ct_count_eval(w.ct, *cc.lists, m->ct, w.now_ms);
            if ((n > cc.limit) != cc.over) goto next_rule;
            break;
          }
          case stmt_kind::accept: return verdict::accept;
          case stmt_kind::drop: return verdict::drop;
          case stmt_kind::reject: send_reject(w, mb, m, s.reject); return verdict::drop;
          case stmt_kind::jump:
            if (sp == k_max_depth) return verdict::drop;  // nft refuses such rulesets; be safe
            stack[sp++] = {chain, ri + 1};
            [[fallthrough]];
          case stmt_kind::goto_:
            chain = target;
            ri = 0;
            goto next_chain;
          case stmt_kind::return_: goto chain_end;
          case stmt_kind::vmap: break;  // resolved above
          case stmt_kind::nat:
            // nft_nat_inet_eval: an inet table's statement for the other family leaves the
            // verdict as it was, and the next rule runs.
            if (rs.nats[s.nat].has_addr && rs.nats[s.nat].v6 != ((m->flags & PKT_F_IPV6) != 0))
                [[unlikely]]
              goto next_rule;
            return nft_nat_stmt(w, rs, s.nat, mb, s.has_from ? &value : nullptr);
        }
      }
    next_rule:;
    }
  chain_end:
    if (sp == 0) {
      verdict pv = rs.chains[base].policy_drop ? verdict::drop : verdict::accept;
      if (m->flags & PKT_F_TRACE) [[unlikely]]
        trace_rule(w, mb, rs, trace_kind::policy, base, 0, pv);
      return pv;
    }
    chain = stack[sp - 1].chain;
    ri = stack[sp - 1].rule;
    sp--;
    continue;
  next_chain:;
  }
}

// Whether a prefetch's guards (the matches in front of its lookup) pass for the packet, as far
// as can be told ahead: numgen advances a counter and live lookups change nothing yet, so
// both are taken as passing.
inline bool guards_pass(const compiled_ruleset& rs, const cchain::prefetch& p, rte_mbuf* mb,
                        const pkt_meta* m, uint32_t now_ms) {
  for (uint32_t g = 0; g < p.n_guards; ++g) {
    const cmatch& cm = rs.matches[p.first_guard + g];
    if (!cm.live && cm.f != field::numgen && !eval_match(rs, cm, mb, m, now_ms, nullptr))
      return false;
  }
  return true;
}

// Starts loading the slots packet `mb`'s keys hash to in the chain's live sets, for the
// lookups whose guards pass (a set of a million elements is a cache miss per lookup
// otherwise). The keys go to `lk` for the lookups themselves. Only a hint: a guard that
// reads what an earlier rule changes may be judged wrong here; the lookup then computes its key.
[[gnu::noinline]] void prefetch_live(const compiled_ruleset& rs, const cchain& c, rte_mbuf* mb,
                                     uint32_t now_ms, live_keys* lk) {
  const pkt_meta* m = meta_of(mb);
  lk->chain = &c;
  lk->have = lk->lacks = 0;
  for (size_t j = 0; j < c.live_prefetch.size(); ++j) {
    const cchain::prefetch& p = c.live_prefetch[j];
    if (!guards_pass(rs, p, mb, m, now_ms)) continue;
    const live_lookup& ll = rs.live_lookups[p.lookup];
    if (!live_key(rs, ll, mb, m, &lk->keys[j])) {
      lk->lacks |= static_cast<uint8_t>(1u << j);
      continue;
    }
    lk->have |= static_cast<uint8_t>(1u << j);
    const dyn_table& table = *rs.live_sets[ll.set].table;
    lk->homes[j] = table.home(lk->keys[j]);
    rte_prefetch0(table.slot_at(lk->homes[j]));
  }
}

// Packets whose live-set slots are prefetched before the first of them is evaluated. The
// whole group, not a few packets ahead: a chain's rules take tens of cycles per packet, far
// less than a miss to DRAM, so a short distance left most of the miss exposed (ct_new_dynset
// in docs/design/dynamic-sets.md).
constexpr uint16_t k_prefetch_group = 32;

}  // namespace

verdict nft_eval_chain(worker_ctx& w, nft::compiled_ruleset& rs, uint32_t chain, rte_mbuf* mb) {
  return eval_packet(w, rs, chain, mb, nullptr);
}

uint16_t nft_chain_hook(const hook_entry& self, worker_ctx& w, rte_mbuf** pkts, uint16_t n,
                        verdict* v) {
  const auto* ref = static_cast<const nft_chain_ref*>(self.priv);
  const cchain& c = ref->rs->chains[ref->chain];
  uint16_t rejected = 0;
  if (c.live_prefetch.empty()) [[likely]] {
    for (uint16_t i = 0; i < n; i++) {
      v[i] = eval_packet(w, *ref->rs, ref->chain, pkts[i], nullptr);
      rejected += v[i] != verdict::accept;
    }
    return rejected;
  }
  live_keys keys[k_prefetch_group];
  for (uint16_t first = 0; first < n; first += k_prefetch_group) {
    const uint16_t end = std::min<uint16_t>(n, first + k_prefetch_group);
    for (uint16_t i = first; i < end; i++)
      prefetch_live(*ref->rs, c, pkts[i], w.now_ms, &keys[i - first]);
    for (uint16_t i = first; i < end; i++) {
      v[i] = eval_packet(w, *ref->rs, ref->chain, pkts[i], &keys[i - first]);
      rejected += v[i] != verdict::accept;
    }
  }
  return rejected;
}

}  // namespace ctgate
