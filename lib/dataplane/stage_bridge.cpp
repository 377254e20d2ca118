// Switching: a burst from a bridge member, learned and forwarded by the bridge's FDB in the
// frame's VLAN, as Linux's bridge with vlan_filtering (br_handle_frame, br_allowed_ingress,
// br_fdb_update, br_forward, br_flood). docs/design/bridge.md.
#include <rte_byteorder.h>
#include <rte_ether.h>

#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/stages.h"

namespace ctgate {

namespace {

constexpr uint16_t k_mac_bytes = 12;  // destination and source
constexpr uint16_t k_vlan_tag = 4;

bool is_link_local_group(const uint8_t* dst) {
  // 01:80:c2:00:00:00-0f: 802.1D reserved (STP, pause, LACP, LLDP, 802.1X); Linux's bridge
  // never forwards them (its group_fwd_mask is 0).
  static constexpr uint8_t k_prefix[5] = {0x01, 0x80, 0xc2, 0x00, 0x00};
  return std::memcmp(dst, k_prefix, 5) == 0 && (dst[5] & 0xf0) == 0;
}

bool is_zero_mac(const uint8_t* m) { return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0; }

// The frame's VLAN form: its L2 header length (12 + [4] + 2).
uint16_t l2_len(bool tagged) { return k_mac_bytes + (tagged ? k_vlan_tag : 0) + 2; }

// Rewrites a frame this worker alone holds between the two forms, in place. Returns false
// (frame unchanged) when there is no headroom for a tag.
bool retag_in_place(rte_mbuf* m, bool tagged, bool want_tag, uint16_t vid) {
  if (tagged == want_tag) return true;
  if (want_tag) {
    auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, k_vlan_tag));
    if (f == nullptr) return false;
    std::memmove(f, f + k_vlan_tag, k_mac_bytes);
    const rte_be16_t tpid = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN), tci = rte_cpu_to_be_16(vid);
    std::memcpy(f + k_mac_bytes, &tpid, 2);
    std::memcpy(f + k_mac_bytes + 2, &tci, 2);
    return true;
  }
  auto* f = rte_pktmbuf_mtod(m, uint8_t*);
  std::memmove(f + k_vlan_tag, f, k_mac_bytes);
  rte_pktmbuf_adj(m, k_vlan_tag);
  return true;
}

// The other form of a flooded frame, with no copy of its payload: a new header in its own mbuf,
// chained to an indirect mbuf of the frame past its L2 header (DPDK's multicast recipe). Null
// if the pool is empty.
rte_mbuf* other_form(worker_ctx& w, rte_mbuf* m, bool tagged, uint16_t vid) {
  rte_mempool* pool = w.gw->mbuf_pool;
  rte_mbuf* hdr = rte_pktmbuf_alloc(pool);
  if (hdr == nullptr) return nullptr;
  rte_mbuf* body = rte_pktmbuf_clone(m, pool);
  if (body == nullptr) {
    rte_pktmbuf_free(hdr);
    return nullptr;
  }
  const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint16_t new_len = l2_len(!tagged);
  auto* h = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(hdr, new_len));
  std::memcpy(h, f, k_mac_bytes);
  if (!tagged) {
    const rte_be16_t tpid = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN), tci = rte_cpu_to_be_16(vid);
    std::memcpy(h + k_mac_bytes, &tpid, 2);
    std::memcpy(h + k_mac_bytes + 2, &tci, 2);
  }
  std::memcpy(h + new_len - 2, f + l2_len(tagged) - 2, 2);  // the inner EtherType
  rte_pktmbuf_adj(body, l2_len(tagged));
  hdr->next = body;
  hdr->nb_segs = static_cast<uint16_t>(1 + body->nb_segs);
  hdr->pkt_len = hdr->data_len + body->pkt_len;
  pkt_meta* hm = meta_of(hdr);
  hm->ct = nullptr;
  hm->in_port = meta_of(m)->in_port;
  return hdr;
}

// One more reference per extra port a frame leaves by, on every segment: each TX frees the
// chain segment by segment (rte_pktmbuf_free), so a segment whose count was not raised would
// be freed under the ports still to send it.
void add_references(rte_mbuf* m, uint16_t extra) {
  if (extra == 0) return;
  for (rte_mbuf* seg = m; seg != nullptr; seg = seg->next)
    rte_mbuf_refcnt_update(seg, static_cast<int16_t>(extra));
}

// Per-burst tallies, added to the worker's counters once.
struct bridge_tally {
  uint16_t bridged = 0, flooded = 0, learned = 0, moved = 0, not_learned = 0, sent = 0;
  uint16_t port_sent[k_max_ports] = {};
  void send(worker_ctx& w, uint16_t port, rte_mbuf* m) {
    port_sent[port]++;
    sent++;
    stage_tx_frame(w, port, m);
  }
};

// Sends `m` (in the form `tagged`) to every member other than `in_port` that carries `vid`:
// as it is to those whose form it has, as one shared other_form to the rest.
void flood(worker_ctx& w, const bridge_info& br, rte_mbuf* m, uint16_t in_port, bool tagged,
           uint16_t vid, bridge_tally* t) {
  uint16_t same[k_max_ports], other[k_max_ports];
  uint16_t n_same = 0, n_other = 0;
  for (uint16_t p : br.members) {
    const port_info& out = w.gw->ports[p];
    if (p == in_port || !w.gw->port_vlans[p].has(vid)) continue;
    if ((vid != out.pvid) == tagged)
      same[n_same++] = p;
    else
      other[n_other++] = p;
  }
  if (n_same + n_other == 0) {
    pkt_drop(w, m, dp_counter::drop_bridge_no_egress);
    return;
  }
  t->flooded++;
  if (n_other != 0) {
    rte_mbuf* o = other_form(w, m, tagged, vid);
    if (o == nullptr) {
      w.counters.add(dp_counter::drop_no_mbuf, n_other);
    } else {
      add_references(o, static_cast<uint16_t>(n_other - 1));
      for (uint16_t i = 0; i < n_other; i++) t->send(w, other[i], o);
    }
  }
  if (n_same == 0) {
    rte_pktmbuf_free(m);  // other_form's indirect mbuf holds the data it needs
    return;
  }
  add_references(m, static_cast<uint16_t>(n_same - 1));
  for (uint16_t i = 0; i < n_same; i++) t->send(w, same[i], m);
}

}  // namespace

namespace {

// What the first pass learns about a frame it keeps.
struct bridge_frame {
  fdb::lookup_key src, dst;
  uint16_t vid = 0;
  bool tagged = false;
  bool group = false;  // to a broadcast or multicast address: flooded, never looked up
};

// The first pass over one frame: drops what a bridge never forwards (counted), finds the
// frame's VLAN (br_allowed_ingress: the tag's VID if it has one, else, untagged or priority-
// tagged with VID 0, which is stripped, the port's PVID), and makes its FDB keys.
bool admit(worker_ctx& w, const port_info& in, const vlan_set& carried, const fdb& table,
           rte_mbuf* m, bridge_frame* f) {
  pkt_meta* meta = meta_of(m);
  meta->ct = nullptr;  // never parsed: pkt_drop must find no conntrack entry
  meta->flags = 0;
  if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_runt);
    return false;
  }
  const uint8_t* h = rte_pktmbuf_mtod(m, const uint8_t*);
  if ((h[6] & 1) || is_zero_mac(h + 6)) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_bridge_bad_source);
    return false;
  }
  if (is_link_local_group(h)) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_bridge_link_local);
    return false;
  }
  uint16_t ether_type;
  std::memcpy(&ether_type, h + k_mac_bytes, 2);
  f->tagged = ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) &&
              rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + k_vlan_tag;
  f->vid = 0;
  if (f->tagged) {
    rte_be16_t tci;
    std::memcpy(&tci, h + k_mac_bytes + 2, 2);
    f->vid = rte_be_to_cpu_16(tci) & 0xfff;
    if (f->vid == 0) {
      retag_in_place(m, true, false, 0);
      f->tagged = false;
      h = rte_pktmbuf_mtod(m, const uint8_t*);
    }
  }
  if (f->vid == 0) f->vid = in.pvid;
  if (f->vid == 0 || !carried.has(f->vid)) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_bridge_vlan);
    return false;
  }
  f->group = h[0] & 1;
  f->src = table.make_key(f->vid, h + 6);
  table.prefetch(f->src);
  if (!f->group) {
    f->dst = table.make_key(f->vid, h);
    table.prefetch(f->dst);
  }
  return true;
}

}  // namespace

uint16_t stage_bridge(worker_ctx& w, rte_mbuf** pkts, uint16_t n) {
  if (n == 0) return 0;
  gateway& gw = *w.gw;
  // A burst comes from one port (process_burst).
  const uint16_t in_port = meta_of(pkts[0])->in_port;
  const port_info& in = gw.ports[in_port];
  const bridge_info& br = gw.bridges[static_cast<size_t>(in.bridge)];
  fdb& table = *br.table;
  const uint32_t now_s = w.now_ms / 1000;
  // First pass: admit, key, and prefetch every frame's FDB buckets, so that the second pass's
  // lookups find them in cache (rte_hash's bulk lookup does the same).
  bridge_frame frames[k_max_burst];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    if (admit(w, in, gw.port_vlans[in_port], table, pkts[i], &frames[kept])) pkts[kept++] = pkts[i];
  }
  bridge_tally t;
  for (uint16_t i = 0; i < kept; i++) {
    rte_mbuf* m = pkts[i];
    const bridge_frame& f = frames[i];
    switch (table.learn(f.src, in_port, now_s)) {
      case fdb_learn::known: break;
      case fdb_learn::learned: t.learned++; break;
      case fdb_learn::moved: t.moved++; break;
      case fdb_learn::full:
      case fdb_learn::limited:
      case fdb_learn::fixed: t.not_learned++; break;
    }
    const int to = f.group ? -1 : table.lookup(f.dst);
    if (to < 0) {
      flood(w, br, m, in_port, f.tagged, f.vid, &t);
      continue;
    }
    const uint16_t out_port = static_cast<uint16_t>(to);
    if (out_port == in_port) {
      pkt_drop(w, m, dp_counter::drop_bridge_same_port);
      continue;
    }
    const port_info& out = gw.ports[out_port];
    // A received frame has the headroom for a tag (RTE_PKTMBUF_HEADROOM): retag_in_place
    // fails only on one built without.
    if (!gw.port_vlans[out_port].has(f.vid) ||
        !retag_in_place(m, f.tagged, f.vid != out.pvid, f.vid)) [[unlikely]] {
      pkt_drop(w, m, dp_counter::drop_bridge_egress_vlan);
      continue;
    }
    t.bridged++;
    t.send(w, out_port, m);
  }
  w.counters.add(dp_counter::bridged, t.bridged);
  w.counters.add(dp_counter::bridge_flooded, t.flooded);
  w.counters.add(dp_counter::fdb_learned, t.learned);
  w.counters.add(dp_counter::fdb_moved, t.moved);
  w.counters.add(dp_counter::fdb_not_learned, t.not_learned);
  w.counters.add(dp_counter::tx, t.sent);
  for (uint16_t p : br.members)
    if (t.port_sent[p] != 0) w.port_tx[p].add(t.port_sent[p]);
  // Nothing is handed on: the bridge has no interface of its own yet.
  return 0;
}

}  // namespace ctgate
