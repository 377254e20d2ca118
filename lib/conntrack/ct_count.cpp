#include "conntrack/ct_count.h"

#include <algorithm>

#include "conntrack/conntrack.h"
#include "conntrack/flow_table.h"

namespace ctgate::ct {

ct_count_lists::ct_count_lists(uint16_t n_workers, uint32_t per_worker)
    : n_workers_(n_workers), lists_(std::make_unique<ct_count_list[]>(n_workers)) {
  for (uint16_t i = 0; i < n_workers; i++) {
    lists_[i].cap = per_worker;
    lists_[i].conns = std::make_unique<ct_count_conn[]>(per_worker);
  }
}

uint32_t ct_count_lists::total() const {
  uint64_t n = 0;
  for (uint16_t i = 0; i < n_workers_; i++) n += lists_[i].size.load(std::memory_order_relaxed);
  return static_cast<uint32_t>(std::min<uint64_t>(n, UINT32_MAX));
}

uint32_t ct_count_capacity(uint32_t limit) {
  constexpr uint32_t k_min = 64, k_max = 1u << 16;
  const uint64_t want = 2ull * limit + 16;
  return static_cast<uint32_t>(std::clamp<uint64_t>(want, k_min, k_max));
}

namespace {

// Whether `u` is on the worker's unconfirmed list as the entry of `key`: only then may it be
// read (a freed unconfirmed entry goes back to the shared pool, where another worker may be
// writing it).
bool still_unconfirmed(const ct_worker& w, const ct_entry* u, const flow_key& key) {
  for (uint16_t i = 0; i < w.n_unconfirmed; i++)
    if (w.unconfirmed[i] == u) return make_key(u->orig) == key;
  return false;
}

// Whether the connection `c` remembers is still open (Linux's find_or_evict, then
// already_closed): its entry is unconfirmed in this burst, or live and not expired in the
// table and, for TCP, not in TIME_WAIT or CLOSE. A remembered unconfirmed entry not in the
// table after its burst was dropped before confirmation: it no longer counts, as Linux
// forgets a tuple its own CPU added and the table does not have.
bool still_open(const ct_worker& w, ct_count_conn& c, uint32_t now_ms) {
  const flow_table& table = *w.rt->table;
  if (c.pos == k_no_pos) {
    if (still_unconfirmed(w, c.unconfirmed, c.key)) return true;
    const int32_t pos = table.lookup(c.key);
    if (pos < 0) return false;
    c.pos = static_cast<uint32_t>(pos);
    c.live = table.at(c.pos)->live.load(std::memory_order_acquire);
    c.unconfirmed = nullptr;
  }
  const ct_entry& e = *table.at(c.pos);
  const uint32_t live = e.live.load(std::memory_order_acquire);
  if (live != c.live || !is_live(live) || ct_expired(e, now_ms)) return false;
  return e.orig.proto != IPPROTO_TCP || !tcp_finished(e.load_track().l4state);
}

// Walks the worker's list oldest first, forgetting closed connections, and stops at an open
// one with `key` (null: none), as Linux's scan of a list does. Returns whether it stopped
// there. The list stays in the order connections came.
bool walk(const ct_worker& w, ct_count_list& l, const flow_key* key, uint32_t now_ms) {
  const uint32_t n = l.size.load(std::memory_order_relaxed);
  uint32_t kept = 0, i = 0;
  bool found = false;
  for (; i < n; i++) {
    if (!still_open(w, l.conns[i], now_ms)) continue;
    if (kept != i) l.conns[kept] = l.conns[i];
    kept++;
    if (key != nullptr && l.conns[kept - 1].key == *key) {
      found = true;
      i++;
      break;
    }
  }
  for (; i < n; i++) l.conns[kept++] = l.conns[i];
  l.size.store(kept, std::memory_order_relaxed);
  return found;
}

void note_collected(ct_count_list& l, uint32_t now_ms) {
  l.collected = true;
  l.gc_ms = now_ms;
  l.gc_size = l.size.load(std::memory_order_relaxed);
}

// A whole walk, at most once per millisecond of the worker clock (Linux: once per jiffy).
void collect(const ct_worker& w, ct_count_list& l, uint32_t now_ms) {
  if (l.collected && l.gc_ms == now_ms) return;
  walk(w, l, nullptr, now_ms);
  note_collected(l, now_ms);
}

// Linux skips the walk before an add while the list was walked this jiffy and has not grown
// by more than CONNCOUNT_GC_MAX_COLLECT since.
constexpr uint32_t k_grow_before_walk = 8;

bool walked_lately(const ct_count_list& l, uint32_t now_ms) {
  return l.collected && l.gc_ms == now_ms &&
         l.size.load(std::memory_order_relaxed) - l.gc_size < k_grow_before_walk;
}

// Appends a connection; false when the list is full.
bool remember(ct_worker& w, ct_count_list& l, const ct_count_conn& c) {
  const uint32_t n = l.size.load(std::memory_order_relaxed);
  if (n == l.cap) {
    w.counters.add(ct_counter::count_list_full);
    return false;
  }
  l.conns[n] = c;
  l.size.store(n + 1, std::memory_order_relaxed);
  return true;
}

}  // namespace

// Linux's nf_conncount_add_skb and nft_connlimit_do_eval, case by case on the packet's
// connection.
uint32_t ct_count_eval(ct_worker& w, ct_count_lists& lists, const ct_entry* e, uint32_t now_ms) {
  ct_count_list& l = lists.of(w.id);
  if (e == nullptr) {
    // Untracked: Linux adds the packet's tuple, which no entry backs; it counts for this
    // packet only (the next walk forgets it).
    collect(w, l, now_ms);
    return lists.total() + 1;
  }
  const uint16_t status = e->status.load(std::memory_order_relaxed);
  if (e->pos != k_no_pos && (status & CT_STATUS_ASSURED)) {
    // An assured connection adds nothing; its packets only collect the list.
    collect(w, l, now_ms);
    return lists.total();
  }
  const flow_key key = make_key(e->orig);
  bool full = false;
  if (e->pos != k_no_pos) {
    // Confirmed, not assured yet (setup, retransmissions): walk up to its own place in the
    // list, and add it if it is not there (a connection older than the rule).
    if (!walk(w, l, &key, now_ms)) {
      note_collected(l, now_ms);
      full = !remember(w, l, {key, nullptr, e->pos, e->live.load(std::memory_order_acquire)});
    }
  } else if (walked_lately(l, now_ms)) {
    // A new connection, the list walked this millisecond: add without a walk, unless a
    // packet earlier in this burst added it already (the pool reuses entries: the key
    // tells this flow's from an earlier one's).
    const uint32_t n = l.size.load(std::memory_order_relaxed);
    bool seen = false;
    for (uint32_t i = n; i-- > 0 && !seen;)
      seen = l.conns[i].unconfirmed == e && l.conns[i].key == key;
    if (!seen) full = !remember(w, l, {key, e, k_no_pos, 0});
  } else if (!walk(w, l, &key, now_ms)) {
    note_collected(l, now_ms);
    full = !remember(w, l, {key, e, k_no_pos, 0});
  }
  // A full list fails closed: the count reads as the largest there is (over any limit).
  return full ? UINT32_MAX : lists.total();
}

}  // namespace ctgate::ct
