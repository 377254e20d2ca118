#include "dataplane/icmp_error.h"

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_random.h>

#include <algorithm>
#include <cstring>

#include "conntrack/proto.h"
#include "dataplane/gateway.h"
#include "dataplane/worker.h"
#include "packet/build.h"

namespace ctgate {

namespace {

constexpr uint32_t k_burst_factor = 6;    // Linux's XRLIM_BURST_FACTOR
constexpr uint16_t k_max_icmp_len = 576;  // an error never exceeds this (RFC 1812)
constexpr uint8_t k_tos_mask = 0x1e;      // IPTOS_TOS_MASK
constexpr uint8_t k_prec_control = 0xc0;  // IPTOS_PREC_INTERNETCONTROL
constexpr uint32_t k_refill_min_ms = 20;  // HZ / 50

bool multicast_or_broadcast(uint32_t addr_be) {
  const uint32_t a = rte_be_to_cpu_32(addr_be);
  return (a >> 28) == 0xe || a == 0xffffffffu;
}

// Whether Linux's __icmp_send would answer this packet at all.
bool may_answer(const pkt_meta& m, const uint8_t* ip) {
  if (m.flags & PKT_F_L2_MULTICAST) return false;  // pkt_type != PACKET_HOST
  if (m.flags & PKT_F_LOCAL_OUT) return false;     // ours: the sender is us
  if (multicast_or_broadcast(m.dst) || multicast_or_broadcast(m.src) || m.src == 0) return false;
  uint16_t frag;
  std::memcpy(&frag, ip + 6, 2);
  if (rte_be_to_cpu_16(frag) & RTE_IPV4_HDR_OFFSET_MASK) return false;  // only fragment 0
  // Never an error about an error. A first fragment of ICMP carries the type
  // too; an ICMP packet whose type is unreadable is treated as an error.
  if (ip[9] == IPPROTO_ICMP) {
    const size_t ihl = static_cast<size_t>(ip[0] & 0xf) * 4;
    if (m.l4_len < 1 || m.l4_off != m.l3_off + ihl) return false;
    if (ct::icmp_is_error(ip[ihl]) || ip[ihl] > icmp::address_reply) return false;
  }
  return true;
}

bool rate_limited_type(const gateway& gw, uint8_t type, uint8_t code) {
  if (type >= 32 || !((gw.cfg.icmp.ratemask >> type) & 1)) return false;
  return !(type == icmp::dest_unreach && code == icmp::frag_needed);  // never throttle PMTUD
}

}  // namespace

bool icmp_peer_allow(icmp_peer& p, uint32_t addr_be, uint32_t now_ms, uint32_t ratelimit_ms) {
  if (p.addr != addr_be) {
    // A new peer: its last message was long ago, so a full burst is allowed.
    p.addr = addr_be;
    p.last_ms = now_ms - 60000;
    p.tokens_ms = 0;
  }
  uint64_t tokens = uint64_t{p.tokens_ms} + (now_ms - p.last_ms);
  p.last_ms = now_ms;
  const uint64_t cap = uint64_t{k_burst_factor} * ratelimit_ms;
  if (tokens > cap) tokens = cap;
  bool ok = false;
  if (tokens >= ratelimit_ms) {
    tokens -= ratelimit_ms;
    ok = true;
  }
  p.tokens_ms = static_cast<uint32_t>(tokens);
  return ok;
}

bool icmp_global_allow(icmp_global_bucket& b, uint32_t now_ms, uint32_t per_sec, uint32_t burst,
                       uint32_t random3) {
  uint64_t old = b.state.load(std::memory_order_relaxed);
  for (;;) {
    const auto stamp = static_cast<uint32_t>(old >> 32);
    auto credit = static_cast<uint32_t>(old);
    const uint32_t delta = std::min<uint32_t>(now_ms - stamp, 1000);
    uint32_t new_stamp = stamp;
    if (delta >= k_refill_min_ms) {
      const uint32_t incr = static_cast<uint32_t>(uint64_t{per_sec} * delta / 1000);
      if (incr != 0) new_stamp = now_ms;
      credit = std::min<uint32_t>(credit + incr, burst);
    }
    if (credit == 0 && new_stamp == stamp) return false;
    const bool ok = credit != 0;
    // One credit on average, randomised as Linux does.
    if (ok) credit = credit > random3 ? credit - random3 : 0;
    const uint64_t next = (uint64_t{new_stamp} << 32) | credit;
    if (b.state.compare_exchange_weak(old, next, std::memory_order_relaxed)) return ok;
  }
}

void send_icmp_error(worker_ctx& w, const rte_mbuf* orig, uint8_t type, uint8_t code,
                     uint32_t info) {
  const gateway& gw = *w.gw;
  const pkt_meta& m = *meta_of(const_cast<rte_mbuf*>(orig));
  const auto* ip = rte_pktmbuf_mtod_offset(orig, const uint8_t*, m.l3_off);
  if (!may_answer(m, ip)) {
    w.counters.add(dp_counter::icmp_error_not_allowed);
    return;
  }
  if (rate_limited_type(gw, type, code)) {
    icmp_peer& peer = w.icmp_peers[rte_be_to_cpu_32(m.src) % k_icmp_peers];
    if (!icmp_peer_allow(peer, m.src, w.now_ms, gw.cfg.icmp.ratelimit_ms) ||
        !icmp_global_allow(w.gw->icmp_global, w.now_ms, gw.cfg.icmp.msgs_per_sec,
                           gw.cfg.icmp.msgs_burst, static_cast<uint32_t>(rte_rand() % 3))) {
      w.counters.add(dp_counter::icmp_error_ratelimited);
      return;
    }
  }
  if (!hooked_out_has_room(w)) return;
  rte_mbuf* r = rte_pktmbuf_alloc(gw.mbuf_pool);
  if (r == nullptr) {
    w.counters.add(dp_counter::drop_no_mbuf);
    return;
  }
  // The datagram as received, up to what fits in 576 bytes with our headers.
  uint16_t total;
  std::memcpy(&total, ip + 2, 2);
  const uint16_t quote = static_cast<uint16_t>(
      std::min<uint32_t>(rte_be_to_cpu_16(total), k_max_icmp_len - sizeof(rte_ipv4_hdr) - 8));
  pkt_spec s;
  s.src = gw.ports[m.in_port].addr;
  s.dst = rte_be_to_cpu_32(m.src);
  s.proto = IPPROTO_ICMP;
  s.icmp_type = type;
  s.icmp_code = code;
  s.icmp_id = static_cast<uint16_t>(info >> 16);
  s.icmp_seq = static_cast<uint16_t>(info);
  s.payload_len = quote;
  uint8_t* buf = rte_pktmbuf_mtod(r, uint8_t*);
  const size_t len = build_frame(s, buf, rte_pktmbuf_tailroom(r));
  if (len == 0) {
    rte_pktmbuf_free(r);
    w.counters.add(dp_counter::drop_no_mbuf);
    return;
  }
  auto* eip = reinterpret_cast<rte_ipv4_hdr*>(buf + sizeof(rte_ether_hdr));
  eip->type_of_service = static_cast<uint8_t>((ip[1] & k_tos_mask) | k_prec_control);
  eip->hdr_checksum = 0;
  eip->hdr_checksum = rte_ipv4_cksum(eip);
  uint8_t* icmph = reinterpret_cast<uint8_t*>(eip + 1);
  std::memcpy(icmph + 8, ip, quote);
  icmph[2] = icmph[3] = 0;
  const uint16_t ck = static_cast<uint16_t>(~rte_raw_cksum(icmph, 8u + quote));
  std::memcpy(icmph + 2, &ck, 2);
  r->data_len = r->pkt_len = static_cast<uint32_t>(len);
  pkt_meta* rm = meta_of(r);
  *rm = pkt_meta{};
  rm->l3_off = sizeof(rte_ether_hdr);
  rm->l4_off = static_cast<uint16_t>(sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr));
  rm->l4_len = static_cast<uint16_t>(8 + quote);
  rm->src = rte_cpu_to_be_32(s.src);
  rm->dst = rte_cpu_to_be_32(s.dst);
  rm->l4.proto = IPPROTO_ICMP;
  rm->l4.icmp_type = type;
  rm->l4.icmp_code = code;
  rm->l4.payload_len = quote;
  rm->flags = PKT_F_LOCAL_OUT;
  rm->in_port = m.in_port;
  queue_hooked_out(w, r);
  w.counters.add(dp_counter::icmp_error_sent);
}

}  // namespace ctgate
