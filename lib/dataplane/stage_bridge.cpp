// Switching: a burst from a bridge member, learned and forwarded by the bridge's FDB in the
// frame's VLAN, as Linux's bridge with vlan_filtering (br_handle_frame, br_allowed_ingress,
// br_fdb_update, br_forward, br_flood). docs/design/bridge.md.
#include <rte_byteorder.h>
#include <rte_ether.h>

#include <algorithm>
#include <cstring>

#include "dataplane/gateway.h"
#include "dataplane/rx_checksum.h"
#include "dataplane/stages.h"
#include "packet/parse.h"

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

// Writes an 802.1Q tag of VLAN `vid` after the MAC addresses at `f`.
void write_tag(uint8_t* f, uint16_t vid) {
  const rte_be16_t tpid = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN), tci = rte_cpu_to_be_16(vid);
  std::memcpy(f + k_mac_bytes, &tpid, 2);
  std::memcpy(f + k_mac_bytes + 2, &tci, 2);
}

// Rewrites a frame this worker alone holds between the two forms, in place. Returns false
// (frame unchanged) when there is no headroom for a tag.
bool retag_in_place(rte_mbuf* m, bool tagged, bool want_tag, uint16_t vid) {
  if (tagged == want_tag) return true;
  if (want_tag) {
    auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, k_vlan_tag));
    if (f == nullptr) return false;
    std::memmove(f, f + k_vlan_tag, k_mac_bytes);
    write_tag(f, vid);
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
  if (!tagged) write_tag(h, vid);
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

// Whether a flood in VLAN `vid` from `in_port` leaves by member `p`.
bool floods_to(const worker_ctx& w, uint16_t p, uint16_t in_port, uint16_t vid) {
  return p != in_port && w.gw->port_vlans[p].has(vid);
}

// Sends `m` (in the form `tagged`) to every member other than `in_port` that carries `vid`
// and is in `allowed` (a bit per port): as it is to those whose form it has, as one shared
// other_form to the rest.
// A frame with no port to leave by is dropped, counted, unless a copy went up to a bridge
// interface (`went_up`): then it has gone where it could.
void flood(worker_ctx& w, const bridge_info& br, rte_mbuf* m, uint16_t in_port, bool tagged,
           uint16_t vid, bridge_tally* t, uint32_t allowed = ~0u, bool went_up = false) {
  static_assert(k_max_ports <= 32, "a port bit in `allowed`");
  uint16_t same[k_max_ports], other[k_max_ports];
  uint16_t n_same = 0, n_other = 0;
  for (uint16_t p : br.members) {
    const port_info& out = w.gw->ports[p];
    if (!floods_to(w, p, in_port, vid) || !((allowed >> p) & 1)) continue;
    if ((vid != out.pvid) == tagged)
      same[n_same++] = p;
    else
      other[n_other++] = p;
  }
  if (n_same + n_other == 0) {
    if (went_up) {
      ct::ct_release(w.ct, meta_of(m));  // the bridge's entry, unconfirmed: no port took it
      rte_pktmbuf_free(m);
    } else {
      pkt_drop(w, m, dp_counter::drop_bridge_no_egress);
    }
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

// Learns a frame's source (Linux's br_fdb_update), tallied.
[[gnu::always_inline]] inline void learn_source(fdb& table, const fdb::lookup_key& src,
                                                uint16_t in_port, uint32_t now_s, bridge_tally* t) {
  switch (table.learn(src, in_port, now_s)) {
    case fdb_learn::known: break;
    case fdb_learn::learned: t->learned++; break;
    case fdb_learn::moved: t->moved++; break;
    case fdb_learn::full:
    case fdb_learn::limited:
    case fdb_learn::fixed: t->not_learned++; break;
  }
}

// Sends a frame to its one known port in that port's form of VLAN `vid`, or drops it, counted.
[[gnu::always_inline]] inline void forward_known(worker_ctx& w, rte_mbuf* m, uint16_t out_port,
                                                 bool tagged, uint16_t vid, bridge_tally* t) {
  // A received frame has the headroom for a tag (RTE_PKTMBUF_HEADROOM): retag_in_place fails
  // only on one built without.
  if (!retag_in_place(m, tagged, vid != w.gw->ports[out_port].pvid, vid)) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_bridge_egress_vlan);
    return;
  }
  t->bridged++;
  t->send(w, out_port, m);
}

// The bridge's interface in VLAN `vid` (its port index), or k_max_ports if it has none there.
uint16_t iface_in(const bridge_info& br, uint16_t vid) {
  for (const vlan_subif& s : br.ifaces)
    if (s.vid == vid) return s.port;
  return k_max_ports;
}

// What goes up to bridge interface `itf`, if anything (Linux's br_handle_frame_finish: a frame
// to the bridge's own address is passed up, not forwarded; a group frame is passed up and
// flooded): the frame itself (`*up` = m; it is not switched), a copy of a group frame for the
// interface, its conntrack entry left to the original (`*up` = the copy), or nothing.
void frame_up(worker_ctx& w, rte_mbuf* m, bool group, uint16_t itf, rte_mbuf** up) {
  *up = nullptr;
  if (itf == k_max_ports) return;
  if (!group) {
    if (std::memcmp(rte_pktmbuf_mtod(m, const uint8_t*), w.gw->ports[itf].mac.b, 6) == 0) *up = m;
    return;
  }
  rte_mbuf* c = rte_pktmbuf_copy(m, w.gw->mbuf_pool, 0, UINT32_MAX);
  if (c == nullptr) [[unlikely]] {
    w.counters.add(dp_counter::drop_no_mbuf);
    return;
  }
  pkt_meta* cm = meta_of(c);
  *cm = *meta_of(m);
  cm->ct = nullptr;
  cm->ct_info = CTINFO_UNTRACKED;
  *up = c;
}

// A frame going up: untagged, received by the interface (stage_parse reads it afresh).
void hand_up(rte_mbuf* m, bool tagged, uint16_t itf, rte_mbuf** up, uint16_t* n_up) {
  retag_in_place(m, tagged, false, 0);  // untagging needs no room
  meta_of(m)->in_port = itf;
  up[(*n_up)++] = m;
}

// Where a frame goes (Linux's br_handle_frame_finish and should_deliver): a port, or
// k_out_port_flood; -1 when it goes nowhere (dropped here, counted).
[[gnu::always_inline]] inline int egress_of(worker_ctx& w, const fdb& table, rte_mbuf* m,
                                            const bridge_frame& f, uint16_t in_port) {
  const int to = f.group ? -1 : table.lookup(f.dst);
  if (to < 0) return k_out_port_flood;
  if (to == in_port) {
    pkt_drop(w, m, dp_counter::drop_bridge_same_port);
    return -1;
  }
  if (!w.gw->port_vlans[to].has(f.vid)) [[unlikely]] {
    pkt_drop(w, m, dp_counter::drop_bridge_egress_vlan);
    return -1;
  }
  return to;
}

// A frame parse_frame did not take as IPv4 or IPv6 (another ethertype, or an IP header that
// does not parse): no L4 view and L2F_NOT_IP, so that no IP match applies to it; its L3 header
// starts at `l3_off`. It keeps only `kept_flags` of its PKT_F_* flags.
void mark_not_ip(pkt_meta* meta, uint16_t l3_off, uint8_t kept_flags) {
  meta->flags &= kept_flags;
  meta->l4 = l4_info{};
  meta->l3_off = l3_off;
  meta->l2_flags |= L2F_NOT_IP;
}

// The L3 view of a switched frame, for the bridge family's hooks: stage_parse's metadata (past
// the tag, if any), with what the bridge knows in l2_flags and vlan. A frame that is not IPv4
// or IPv6, or whose IP header does not parse, is L2F_NOT_IP: nf_conntrack_bridge passes what
// it cannot parse as IP untracked, and no IP match applies to it.
void parse_bridged(const port_info& in, rte_mbuf* m, const bridge_frame& f) {
  pkt_meta* meta = meta_of(m);
  const uint16_t in_port = meta->in_port;
  const uint16_t skip = f.tagged ? k_vlan_tag : 0;
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  const parse_result r =
      parse_frame(frame + skip, rte_pktmbuf_data_len(m) - skip, /*check_ip_csum=*/true, meta);
  meta->l3_off = static_cast<uint16_t>(meta->l3_off + skip);
  meta->l4_off = static_cast<uint16_t>(meta->l4_off + skip);
  meta->in_port = in_port;
  meta->out_port = k_out_port_flood;  // not known before prerouting: no oifname matches there
  meta->zone = in.zone;
  meta->vlan = f.vid;
  meta->l2_flags = static_cast<uint8_t>(L2F_BRIDGED | (f.tagged ? L2F_TAGGED | L2F_VLAN_ID : 0));
  if (r != parse_result::ipv4 && r != parse_result::ipv6)
    mark_not_ip(meta, static_cast<uint16_t>(RTE_ETHER_HDR_LEN + skip), 0);
  if (f.group) meta->flags |= PKT_F_L2_MULTICAST;
}

// A switched frame's checksum its sender left to offload: filled in as a routed packet's is
// (stage_parse), since the port it leaves by may not fill it in, and the bridge's hooks may
// track or rewrite it.
[[gnu::noinline]] void fill_switched(worker_ctx& w, rte_mbuf* m, bool tagged) {
  pkt_meta meta{};
  const uint16_t skip = tagged ? k_vlan_tag : 0;
  const parse_result r = parse_frame(rte_pktmbuf_mtod(m, const uint8_t*) + skip,
                                     rte_pktmbuf_data_len(m) - skip, /*check_ip_csum=*/true, &meta);
  meta.l3_off = static_cast<uint16_t>(meta.l3_off + skip);
  meta.l4_off = static_cast<uint16_t>(meta.l4_off + skip);
  w.counters.add(fill_outcome(r == parse_result::ipv4 || r == parse_result::ipv6
                                  ? fill_partial_l4_checksum(m, meta)
                                  : partial_fill::not_filled));
}

// The tag a frame has at forward, output and postrouting: the one it leaves `port` with, as
// Linux's __br_forward tags or untags it (br_handle_vlan) before NF_BR_FORWARD and
// NF_BR_LOCAL_OUT.
void tag_for_egress(const worker_ctx& w, pkt_meta* meta, uint16_t port) {
  if (meta->vlan != w.gw->ports[port].pvid)
    meta->l2_flags |= L2F_VLAN_ID;
  else
    meta->l2_flags &= static_cast<uint8_t>(~L2F_VLAN_ID);
}

// A flood through FORWARD (`first`; OUTPUT for what a bridge interface sends) and POST_ROUTING
// once per port it would leave by, each time with that port as its output and, at
// POST_ROUTING, no input port (br_forward_finish's hook has no input device), then sent to the
// ports whose chains accepted it. Linux's br_flood clones the frame per port before the hooks,
// so each port's chains start from the frame as it came: what one port's set (meta mark,
// nftrace) is undone for the next. Conntrack confirms the frame's connection at the first
// accepting POST_ROUTING; the later ones find it confirmed.
void flood_hooked(worker_ctx& w, const bridge_info& br, rte_mbuf* m, uint16_t in_port,
                  bridge_tally* t, bool went_up, hook_point first = hook_point::forward) {
  pkt_meta* meta = meta_of(m);
  const uint16_t came_by = meta->in_port;
  const uint32_t mark = meta->mark;
  const uint8_t flags = meta->flags;
  uint32_t candidates = 0, allowed = 0;
  for (uint16_t p : br.members) {
    if (!floods_to(w, p, in_port, meta->vlan)) continue;
    candidates |= 1u << p;
    meta->in_port = came_by;
    meta->out_port = p;
    meta->mark = mark;
    meta->flags = flags;
    tag_for_egress(w, meta, p);
    if (bridge_hook_verdict(w, first, m) != verdict::accept) continue;
    meta->in_port = k_out_port_flood;
    if (bridge_hook_verdict(w, hook_point::postrouting, m) == verdict::accept) allowed |= 1u << p;
  }
  meta->in_port = came_by;
  meta->out_port = k_out_port_flood;
  meta->mark = mark;
  meta->flags = flags;
  if (candidates != 0 && allowed == 0) {
    pkt_drop(w, m, dp_counter::drop_hook);
    return;
  }
  flood(w, br, m, in_port, meta->l2_flags & L2F_TAGGED, meta->vlan, t, allowed, went_up);
}

// Switching through the bridge family's hooks (a bridge table's chains, conntrack), as Linux's
// br_handle_frame runs NF_BR_PRE_ROUTING before it learns, and br_forward NF_BR_FORWARD and
// NF_BR_POST_ROUTING before it sends (a flood once per output port: flood_hooked). Hooks may
// drop frames, so what the first pass learned rides in each frame's metadata from here on.
// Frames for a bridge interface (L2F_TO_HOST, untracked here: the IP path tracks them) meet
// the bridge's INPUT hook and are returned in `up` (*n_up).
[[gnu::noinline]] void bridge_hooked(worker_ctx& w, const bridge_info& br, rte_mbuf** pkts,
                                     uint16_t n, const bridge_frame* frames, bridge_tally* t,
                                     rte_mbuf** up, uint16_t* n_up) {
  const uint16_t in_port = meta_of(pkts[0])->in_port;
  const port_info& in = w.gw->ports[in_port];
  fdb& table = *br.table;
  for (uint16_t i = 0; i < n; i++) parse_bridged(in, pkts[i], frames[i]);
  if (!br.ifaces.empty()) [[unlikely]]
    for (uint16_t i = 0; i < n; i++) {
      const uint16_t itf = frames[i].group ? k_max_ports : iface_in(br, frames[i].vid);
      if (itf != k_max_ports &&
          std::memcmp(rte_pktmbuf_mtod(pkts[i], const uint8_t*), w.gw->ports[itf].mac.b, 6) == 0)
        meta_of(pkts[i])->l2_flags |= L2F_TO_HOST;
    }
  const uint16_t admitted = n;
  n = stage_hook_bridge(w, hook_point::prerouting, pkts, n);
  const uint32_t now_s = w.now_ms / 1000;
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    pkt_meta* meta = meta_of(m);
    // Prerouting dropped nothing (the usual case): the first pass's keys are still the
    // frames'. Otherwise they are made again from what the metadata kept.
    bridge_frame f;
    if (n == admitted) {
      f = frames[i];
    } else {
      const uint8_t* h = rte_pktmbuf_mtod(m, const uint8_t*);
      f.vid = meta->vlan;
      f.tagged = meta->l2_flags & L2F_TAGGED;
      f.group = h[0] & 1;
      f.src = table.make_key(f.vid, h + 6);
      if (!f.group) f.dst = table.make_key(f.vid, h);
    }
    learn_source(table, f.src, in_port, now_s, t);
    if (!br.ifaces.empty()) [[unlikely]] {
      if (meta->l2_flags & L2F_TO_HOST) {  // found to be the interface's before prerouting
        up[(*n_up)++] = m;
        continue;
      }
      rte_mbuf* u = nullptr;
      if (f.group) frame_up(w, m, true, iface_in(br, f.vid), &u);
      if (u != nullptr) {
        up[(*n_up)++] = u;
        meta->l2_flags |= L2F_WENT_UP;
      }
    }
    const int to = egress_of(w, table, m, f, in_port);
    if (to < 0) continue;
    meta->out_port = static_cast<uint16_t>(to);
    pkts[kept++] = m;
  }
  if (*n_up != 0) [[unlikely]] {
    rte_mbuf* in_up[k_max_burst];
    std::copy(up, up + *n_up, in_up);
    for (uint16_t i = 0; i < *n_up; i++) {  // a VLAN's interface takes it tagged (br0.10)
      pkt_meta* um = meta_of(in_up[i]);
      if (iface_in(br, um->vlan) == br.self_iface)
        um->l2_flags &= static_cast<uint8_t>(~L2F_VLAN_ID);
      else
        um->l2_flags |= L2F_VLAN_ID;
    }
    const uint16_t n_in = stage_hook_bridge(w, hook_point::input, in_up, *n_up);
    *n_up = 0;
    for (uint16_t i = 0; i < n_in; i++) {
      const pkt_meta* um = meta_of(in_up[i]);
      hand_up(in_up[i], um->l2_flags & L2F_TAGGED, iface_in(br, um->vlan), up, n_up);
    }
  }
  // Known destinations as one burst; floods after them, frame by frame, port by port.
  rte_mbuf* floods[k_max_burst];
  uint16_t n_known = 0, n_floods = 0;
  for (uint16_t i = 0; i < kept; i++) {
    pkt_meta* meta = meta_of(pkts[i]);
    if (meta->out_port == k_out_port_flood) {
      floods[n_floods++] = pkts[i];
    } else {
      tag_for_egress(w, meta, meta->out_port);
      pkts[n_known++] = pkts[i];
    }
  }
  n = stage_hook_bridge(w, hook_point::forward, pkts, n_known);
  // POST_ROUTING has no input port (br_forward_finish passes no input device); what follows
  // reads the ports from the tally and the output port.
  for (uint16_t i = 0; i < n; i++) meta_of(pkts[i])->in_port = k_out_port_flood;
  n = stage_hook_bridge(w, hook_point::postrouting, pkts, n);
  for (uint16_t i = 0; i < n; i++) {
    const pkt_meta* meta = meta_of(pkts[i]);
    forward_known(w, pkts[i], meta->out_port, meta->l2_flags & L2F_TAGGED, meta->vlan, t);
  }
  for (uint16_t i = 0; i < n_floods; i++)
    flood_hooked(w, br, floods[i], in_port, t, meta_of(floods[i])->l2_flags & L2F_WENT_UP);
}

// Switching with no bridge-family hooks: learn, then up to an interface (`Ifaces`: the bridge
// has some; a bridge without pays nothing for them), forward or flood.
template <bool Ifaces>
void switch_frames(worker_ctx& w, const bridge_info& br, uint16_t in_port, rte_mbuf** pkts,
                   uint16_t n, const bridge_frame* frames, bridge_tally* t, rte_mbuf** up,
                   uint16_t* n_up) {
  fdb& table = *br.table;
  const uint32_t now_s = w.now_ms / 1000;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const bridge_frame& f = frames[i];
    learn_source(table, f.src, in_port, now_s, t);
    rte_mbuf* u = nullptr;
    if constexpr (Ifaces) {
      const uint16_t itf = iface_in(br, f.vid);
      frame_up(w, m, f.group, itf, &u);
      if (u != nullptr) hand_up(u, f.tagged, itf, up, n_up);
      if (u == m) continue;
    }
    const int to = egress_of(w, table, m, f, in_port);
    if (to == k_out_port_flood)
      flood(w, br, m, in_port, f.tagged, f.vid, t, ~0u, u != nullptr);
    else if (to >= 0)
      forward_known(w, m, static_cast<uint16_t>(to), f.tagged, f.vid, t);
  }
}

// The L3 view of a frame a bridge interface sends, for the bridge family's hooks: parsed afresh
// (what made it may have left its metadata partial: an ARP request's is empty), keeping what the
// IP path decided (its connection, mark, zone). It has no input port, as Linux's NF_BR_LOCAL_OUT
// and the POST_ROUTING after it have no input device: `iifname` and `meta ibrname` match
// nothing, `!=` a name matches. It is the host's own (`meta pkttype host`), whatever its
// destination, as a frame br_dev_xmit sends. A packet that waited for its neighbour or was
// fragmented has lost its entry (neigh_queue, fragment_batch) but keeps its state: `ct state`
// reads it, `ct mark` and the like find no connection.
void parse_sent(rte_mbuf* m, uint16_t vid) {
  pkt_meta* meta = meta_of(m);
  const pkt_meta kept = *meta;
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  const parse_result r = parse_frame(frame, rte_pktmbuf_data_len(m), /*check_ip_csum=*/false, meta);
  meta->flags = static_cast<uint8_t>(meta->flags | (kept.flags & (PKT_F_TRACE | PKT_F_LOCAL_OUT)));
  meta->ct = kept.ct;
  meta->ct_info = kept.ct_info;
  meta->ct_dir = kept.ct_dir;
  meta->zone = kept.zone;
  meta->mark = kept.mark;
  meta->trace_id = kept.trace_id;
  meta->in_port = k_out_port_flood;
  meta->out_port = k_out_port_flood;
  meta->vlan = vid;
  meta->l2_flags = L2F_BRIDGED | L2F_SENT;
  if (r != parse_result::ipv4 && r != parse_result::ipv6)
    mark_not_ip(meta, RTE_ETHER_HDR_LEN, PKT_F_TRACE | PKT_F_LOCAL_OUT);
}

// What a bridge interface sends, through the bridge family's OUTPUT and POST_ROUTING (Linux's
// br_dev_xmit: __br_forward runs NF_BR_LOCAL_OUT, br_forward_finish NF_BR_POST_ROUTING), to
// its known port `to` or, flooded (`to` < 0), once per port it would leave by.
[[gnu::noinline]] void output_hooked(worker_ctx& w, const bridge_info& br, rte_mbuf* m, int to,
                                     uint16_t vid, bridge_tally* t) {
  parse_sent(m, vid);
  if (to < 0) {
    flood_hooked(w, br, m, k_max_ports, t, false, hook_point::output);
    return;
  }
  meta_of(m)->out_port = static_cast<uint16_t>(to);
  tag_for_egress(w, meta_of(m), static_cast<uint16_t>(to));
  if (stage_hook_bridge(w, hook_point::output, &m, 1) == 1 &&
      stage_hook_bridge(w, hook_point::postrouting, &m, 1) == 1)
    forward_known(w, m, static_cast<uint16_t>(to), false, vid, t);
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
  // First pass: admit, key, and prefetch every frame's FDB buckets, so that the second pass's
  // lookups find them in cache (rte_hash's bulk lookup does the same).
  bridge_frame frames[k_max_burst];
  uint16_t kept = 0;
  uint64_t ol_flags_seen = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    ol_flags_seen |= pkts[i]->ol_flags;
    if (admit(w, in, gw.port_vlans[in_port], table, pkts[i], &frames[kept])) pkts[kept++] = pkts[i];
  }
  if (may_hold_partial_l4_checksum(ol_flags_seen)) [[unlikely]]
    for (uint16_t i = 0; i < kept; i++)
      if (has_partial_l4_checksum(pkts[i])) fill_switched(w, pkts[i], frames[i].tagged);
  bridge_tally t;
  rte_mbuf* up[k_max_burst];
  uint16_t n_up = 0;
  const hook_snapshot::chain* chains = w.hooks->chains;
  if (((chains[static_cast<int>(hook_point::prerouting)].families |
        chains[static_cast<int>(hook_point::input)].families |
        chains[static_cast<int>(hook_point::forward)].families |
        chains[static_cast<int>(hook_point::postrouting)].families) &
       HOOK_FAM_BRIDGE) != 0) [[unlikely]] {
    if (kept != 0) bridge_hooked(w, br, pkts, kept, frames, &t, up, &n_up);
  } else {
    if (br.ifaces.empty())
      switch_frames<false>(w, br, in_port, pkts, kept, frames, &t, up, &n_up);
    else
      switch_frames<true>(w, br, in_port, pkts, kept, frames, &t, up, &n_up);
  }
  w.counters.add(dp_counter::bridged, t.bridged);
  w.counters.add(dp_counter::bridge_flooded, t.flooded);
  w.counters.add(dp_counter::fdb_learned, t.learned);
  w.counters.add(dp_counter::fdb_moved, t.moved);
  w.counters.add(dp_counter::fdb_not_learned, t.not_learned);
  w.counters.add(dp_counter::tx, t.sent);
  w.counters.add(dp_counter::bridge_up, n_up);
  for (uint16_t p : br.members)
    if (t.port_sent[p] != 0) w.port_tx[p].add(t.port_sent[p]);
  // Handed on: what goes up to the bridge's interfaces, each frame received by its interface.
  std::copy(up, up + n_up, pkts);
  return n_up;
}

void bridge_output(worker_ctx& w, const port_info& itf, rte_mbuf* m) {
  const bridge_info& br = w.gw->bridges[static_cast<size_t>(itf.iface_of)];
  const uint16_t vid = itf.vlan;
  const uint8_t* h = rte_pktmbuf_mtod(m, const uint8_t*);
  bridge_tally t;
  int to = (h[0] & 1) ? -1 : br.table->lookup(vid, h);
  // Unknown, a group address, or learned where the VLAN no longer is: flooded.
  if (to >= 0 && !w.gw->port_vlans[static_cast<size_t>(to)].has(vid)) to = -1;
  const hook_snapshot::chain* chains = w.hooks->chains;
  if (((chains[static_cast<int>(hook_point::output)].families |
        chains[static_cast<int>(hook_point::postrouting)].families) &
       HOOK_FAM_BRIDGE) != 0) [[unlikely]]
    output_hooked(w, br, m, to, vid, &t);
  else if (to >= 0)
    forward_known(w, m, static_cast<uint16_t>(to), false, vid, &t);
  else
    flood(w, br, m, k_max_ports, false, vid, &t);
  w.counters.add(dp_counter::bridged, t.bridged);
  w.counters.add(dp_counter::bridge_flooded, t.flooded);
  w.counters.add(dp_counter::tx, t.sent);
  for (uint16_t p : br.members)
    if (t.port_sent[p] != 0) w.port_tx[p].add(t.port_sent[p]);
}

}  // namespace ctgate
